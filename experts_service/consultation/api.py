"""JSON API: confirming a panel, the invitations as they are answered."""
from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user

from experts_service.consultation import operations
from experts_service.consultation.schemas import (
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
    operations.list_invitations(current_user, request)
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
