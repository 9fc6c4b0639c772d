"""JSON API: confirming a panel, the invitations as they are answered."""
from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user

from experts_service.consultation import engagements as records
from experts_service.consultation import operations
from experts_service.consultation.schemas import (
    AdoptionInputSchema,
    AdoptionOutSchema,
    AttendanceInputSchema,
    AttendanceOutSchema,
    EngagementRefSchema,
    OpinionInputSchema,
    OpinionOutSchema,
    PublicFeedbackSchema,
    RatingInputSchema,
    RatingOutSchema,
    ConfirmationInputSchema,
    ConfirmationOutSchema,
    DeclineInputSchema,
    InvitationOutSchema,
    SeatSummarySchema,
)
from experts_service.core.auth import requires
from experts_service.core.routing import ApiBlueprint as Blueprint
from experts_service.core.transaction import commit
from experts_service.panels.operations import get_panel_request

panels = Blueprint("panel_invitations_api", __name__, url_prefix="/panel-requests", description="专家组确认与邀请")
invitations = Blueprint("invitations_api", __name__, url_prefix="/invitations", description="论证邀请")
blueprints = (panels, invitations)


def _summary(request, **extra) -> dict:
    return {"panel_request_id": request.id, "status": request.status.value, **operations.seat_summary(request),
            **extra}


@panels.route("/<id:request_id>/confirmation", methods=["POST"])
@requires("panel.confirm")
@panels.arguments(ConfirmationInputSchema)
@panels.response(201, ConfirmationOutSchema)
def confirm(data, request_id: int):
    """Confirm the panel of the latest compliant record: every member is invited (materials lead time warned)."""
    request = get_panel_request(current_user, request_id, "panel.confirm")
    confirmation = operations.confirm_panel(current_user, request, data["recommendation_id"])
    commit()
    return _summary(request, warnings=confirmation.warnings)


@panels.route("/<id:request_id>/invitations")
@requires("invitation.read_panel")
@panels.response(200, SeatSummarySchema)
def panel_invitations(request_id: int):
    """The panel as it fills: seats, accepted, waiting, open, and every invitation with its answer."""
    request = get_panel_request(current_user, request_id, "invitation.read_panel")
    return _summary(request)


@invitations.route("/mine")
@requires("invitation.answer")
@invitations.response(200, InvitationOutSchema(many=True))
def mine():
    """The signed-in expert's invitations, newest first."""
    return operations.my_invitations(current_user)


@invitations.route("/<id:invitation_id>")
class InvitationItem(MethodView):
    @requires("invitation.read")
    @invitations.response(200, InvitationOutSchema)
    def get(self, invitation_id: int):
        """One invitation with its answer; 404 if it does not exist."""
        return operations.get_invitation(current_user, invitation_id)


@invitations.route("/<id:invitation_id>/accept", methods=["POST"])
@requires("invitation.answer")
@invitations.response(200, InvitationOutSchema)
def accept(invitation_id: int):
    """Accept: refused (409) when the panel is full, the deadline passed, or another meeting overlaps."""
    invitation = operations.get_invitation(current_user, invitation_id, "invitation.answer")
    operations.accept(current_user, invitation)
    commit()
    return invitation


@invitations.route("/<id:invitation_id>/decline", methods=["POST"])
@requires("invitation.answer")
@invitations.arguments(DeclineInputSchema)
@invitations.response(200, InvitationOutSchema)
def decline(data, invitation_id: int):
    """Decline with a reason: the next alternate that keeps every rule is invited."""
    invitation = operations.get_invitation(current_user, invitation_id, "invitation.answer")
    operations.decline(current_user, invitation, data["reason"])
    commit()
    return invitation


engagements = Blueprint("engagements_api", __name__, url_prefix="/engagements",
                        description="出席、书面意见与评价")
opinions = Blueprint("opinions_api", __name__, url_prefix="/opinions", description="书面意见与采纳反馈")
public_feedback = Blueprint("public_feedback_api", __name__, url_prefix="/public",
                            description="公开信息（无需登录）")
blueprints = (*blueprints, engagements, opinions, public_feedback)


@engagements.route("/<id:engagement_id>/attendance", methods=["PUT"])
@requires("attendance.record")
@engagements.arguments(AttendanceInputSchema)
@engagements.response(200, AttendanceOutSchema)
def put_attendance(data, engagement_id: int):
    """On time / late (minutes) / absent, on or after the meeting day; corrections are audited."""
    engagement = records.get_engagement(current_user, engagement_id, "attendance.record")
    record = records.record_attendance(current_user, engagement, data)
    commit()
    return record


@engagements.route("/<id:engagement_id>/opinion", methods=["PUT"])
@requires("opinion.write")
@engagements.arguments(OpinionInputSchema)
@engagements.response(200, OpinionOutSchema)
def put_opinion(data, engagement_id: int):
    """Save the expert's draft; refused (409, audited) once the opinion is submitted and signed."""
    engagement = records.get_engagement(current_user, engagement_id, "opinion.write")
    opinion = records.save_opinion(current_user, engagement, data)
    commit()
    return opinion


@engagements.route("/<id:engagement_id>/opinion/submission", methods=["POST"])
@requires("opinion.write")
@engagements.arguments(OpinionInputSchema)
@engagements.response(201, OpinionOutSchema)
def submit_opinion(data, engagement_id: int):
    """Submit: every part filled in; signed with its content hash and time, immutable from then on."""
    engagement = records.get_engagement(current_user, engagement_id, "opinion.write")
    opinion = records.save_opinion(current_user, engagement, data, submit=True)
    commit()
    return opinion


@engagements.route("/<id:engagement_id>/rating", methods=["POST"])
@requires("rating.record")
@engagements.arguments(RatingInputSchema)
@engagements.response(201, RatingOutSchema)
def post_rating(data, engagement_id: int):
    """The department rates the engaged expert once: five parts within the policy's maxima."""
    engagement = records.get_engagement(current_user, engagement_id, "rating.record")
    rating = records.rate(current_user, engagement, data)
    commit()
    return rating


@engagements.route("/overdue-ratings")
@requires("rating.record")
@engagements.response(200, EngagementRefSchema(many=True))
def overdue_ratings():
    """The signed-in department's engagements whose rating window has passed unrated."""
    return records.overdue_ratings(records.own_organisation_scope(current_user))


@opinions.route("/<id:opinion_id>")
class OpinionItem(MethodView):
    @requires("opinion.read")
    @opinions.response(200, OpinionOutSchema)
    def get(self, opinion_id: int):
        """One written opinion; a draft is visible only to its own expert (404 to anyone else)."""
        return records.get_opinion(current_user, opinion_id)

    @requires("opinion.write")
    @opinions.response(204)
    def delete(self, opinion_id: int):
        """Discard a draft; a signed opinion is never deleted (409, audited)."""
        opinion = records.get_opinion(current_user, opinion_id)
        records.delete_opinion(current_user, opinion)
        commit()


@opinions.route("/<id:opinion_id>/adoption", methods=["PUT"])
@requires("adoption.record")
@opinions.arguments(AdoptionInputSchema)
@opinions.response(200, AdoptionOutSchema)
def put_adoption(data, opinion_id: int):
    """采纳 / 部分采纳 / 未采纳 (a reason unless adopted); published at once for a non-confidential item."""
    opinion = records.get_opinion(current_user, opinion_id)
    feedback = records.record_adoption(current_user, opinion, data)
    commit()
    return feedback


@public_feedback.route("/adoption-feedback")
@public_feedback.response(200, PublicFeedbackSchema(many=True))
def list_public_feedback():
    """Adoption feedback of non-confidential items, newest first; open to anyone."""
    return records.published_feedback()
