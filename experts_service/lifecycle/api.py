"""JSON API for the expert lifecycle. A refused step answers 409
`illegal_transition` (see boundary.py); the public endpoints need no sign-in."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user
from flask_smorest.fields import Upload

from experts_service.core.auth import requires
from experts_service.core.routing import UPLOAD_ENDPOINTS
from experts_service.core.routing import ApiBlueprint as Blueprint
from experts_service.core.schemas import StrictSchema
from experts_service.core.transaction import commit
from experts_service.experts.operations import get_expert
from experts_service.lifecycle import documents, operations
from experts_service.lifecycle.models import ExitReason
from experts_service.lifecycle.schemas import (
    ApplicationInputSchema,
    ApplicationListQuerySchema,
    ApplicationOutSchema,
    ApplicationPageSchema,
    CalendarInputSchema,
    CalendarOutSchema,
    ChangeDecisionSchema,
    ChangeQuerySchema,
    ChangeRequestInputSchema,
    ChangeRequestOutSchema,
    ConflictInputSchema,
    ConflictOutSchema,
    DecisionSchema,
    DocumentOutSchema,
    ExpertActionSchema,
    ExpertStateSchema,
    ObjectionInputSchema,
    ObjectionOutSchema,
    ObjectionResolutionSchema,
    OverrideSchema,
    PeriodInputSchema,
    PeriodOutSchema,
    PublicNoticeSchema,
    RenewalDecisionSchema,
    RenewalOutSchema,
    RenewalQuerySchema,
    ResignationSchema,
    ReviewerInputSchema,
    StatusChangeOutSchema,
    TierChangeSchema,
    VoteInputSchema,
    VoteOutSchema,
)

applications = Blueprint("applications_api", __name__, url_prefix="/applications", description="入库申请与评审")
public = Blueprint("public_notices_api", __name__, url_prefix="/notices", description="公示与异议（无需登录）")
lifecycle = Blueprint("lifecycle_api", __name__, url_prefix="", description="在库专家：聘任、续聘、暂停、退出与自助服务")
blueprints = (applications, public, lifecycle)


class UploadSchema(StrictSchema):
    file = Upload(required=True)


# A download's body in the document: the file's bytes (the views return a Response, so nothing is dumped).
BINARY_FILE = {"type": "string", "format": "binary"}


class ObjectionReceiptSchema(ma.Schema):
    id = ma.fields.Integer()
    message = ma.fields.String()


class ReviewerOutSchema(ma.Schema):
    domain_id = ma.fields.Integer()
    expert_id = ma.fields.Integer()


@applications.route("")
class ApplicationCollection(MethodView):
    @requires("application.read")
    @applications.arguments(ApplicationListQuerySchema, location="query")
    @applications.response(200, ApplicationPageSchema)
    def get(self, query):
        """Applications; a department sees those it recommended, an expert their own."""
        page = operations.list_applications(current_user, **query)
        return {"items": page.items, "meta": page.meta}

    @requires("application.create")
    @applications.arguments(ApplicationInputSchema)
    @applications.response(201, ApplicationOutSchema)
    def post(self, data):
        """Submit an application (单位推荐 by a department, any channel by the talent office); checks run at once."""
        application = operations.submit_application(current_user, data)
        commit()
        return application


@applications.route("/<id:application_id>")
@requires("application.read")
@applications.response(200, ApplicationOutSchema)
def get_application(application_id: int):
    """One application with its checks, documents, votes and objections; review-group members may read it."""
    return operations.get_application(current_user, application_id)


@applications.route("/<id:application_id>/documents", methods=["POST"])
@requires("application.create")
@applications.arguments(UploadSchema, location="files")
@applications.response(201, DocumentOutSchema)
def upload_document(files, application_id: int):
    """Attach a supporting document (PDF, JPG or PNG, checked by content), multipart field `file`."""
    application = operations.get_application(current_user, application_id, "application.create")
    upload = files["file"]
    document = operations.add_document(current_user, application, upload.filename, upload.read())
    commit()
    return document


UPLOAD_ENDPOINTS.add("applications_api.upload_document")


@applications.route("/<id:application_id>/override", methods=["POST"])
@requires("application.review")
@applications.arguments(OverrideSchema)
@applications.response(200, ApplicationOutSchema)
def override(data, application_id: int):
    """Accept failed checks that allow it (age exception, title), with a written reason."""
    application = operations.get_application(current_user, application_id, "application.review")
    operations.override_checks(current_user, application, data["reason"])
    commit()
    return application


@applications.route("/<id:application_id>/decisions", methods=["POST"])
@requires("application.review")
@applications.arguments(DecisionSchema)
@applications.response(200, ApplicationOutSchema)
def decide(data, application_id: int):
    """One vetting step: qualify (资格初审), conclude_review (专业评审), approve (审定, starts 公示),
    appoint (聘任, needs tier_id), reject or withdraw (need a reason). Illegal steps: 409 illegal_transition."""
    application = operations.get_application(current_user, application_id, "application.review")
    operations.decide(current_user, application, data)
    commit()
    return application


@applications.route("/<id:application_id>/votes", methods=["POST"])
@requires("application.vote")
@applications.arguments(VoteInputSchema)
@applications.response(201, VoteOutSchema)
def vote(data, application_id: int):
    """A member of the domain's review group votes once with a comment; a conflicted reviewer gets 409."""
    application = operations.get_application(current_user, application_id, "application.vote")
    record = operations.cast_vote(current_user, application, data["vote"], data["comment"])
    commit()
    return record


@lifecycle.route("/documents/<id:document_id>")
@requires("document.read")
@lifecycle.response(200, BINARY_FILE, content_type="application/pdf", description="the file's bytes")
# The other types a document is accepted in (documents.SIGNATURES); one 200 response with three media types.
@lifecycle.alt_response(200, schema=BINARY_FILE, content_type="image/png", description="the file's bytes",
                        success=True)
@lifecycle.alt_response(200, schema=BINARY_FILE, content_type="image/jpeg", description="the file's bytes",
                        success=True)
def download_document(document_id: int):
    """A supporting document, to the talent office, auditors and the applicant themself."""
    document = operations.get_document(current_user, document_id)
    return documents.send(document)


@public.route("")
@public.response(200, PublicNoticeSchema(many=True))
def notices():
    """Candidates in public notice now (name, employer, title, domain and the period)."""
    return operations.public_notices()


@public.route("/<id:application_id>/objections", methods=["POST"])
@public.arguments(ObjectionInputSchema)
@public.response(201, ObjectionReceiptSchema, description="异议已受理")
def object_to(data, application_id: int):
    """Lodge an objection during the notice; a name and a contact (phone or e-mail) are required."""
    application = operations.public_notice(application_id)
    objection = operations.lodge_objection(application, data)
    commit()
    return {"id": objection.id, "message": "异议已受理，我们将核实处理"}, 201


@lifecycle.route("/objections/<id:objection_id>/resolution", methods=["POST"])
@requires("application.review")
@lifecycle.arguments(ObjectionResolutionSchema)
@lifecycle.response(200, ObjectionOutSchema)
def resolve(data, objection_id: int):
    """Upheld rejects the application; dismissed lets it go on to appointment."""
    objection = operations.resolve_objection(current_user, objection_id, data["outcome"], data["resolution"])
    commit()
    return objection


# ---------------------------------------------------------------- pooled experts


@lifecycle.route("/experts/<id:expert_id>/status", methods=["POST"])
@requires("lifecycle.manage")
@lifecycle.arguments(ExpertActionSchema)
@lifecycle.response(200, ExpertStateSchema)
def change_status(data, expert_id: int):
    """suspend, reinstate or exit (with exit_reason; integrity exits bar re-application)."""
    expert = get_expert(current_user, expert_id, "lifecycle.manage")
    if data["action"] == "suspend":
        operations.suspend(current_user, expert, data["reason"], data.get("until"))
    elif data["action"] == "reinstate":
        operations.reinstate(current_user, expert, data["reason"])
    else:
        operations.exit_expert(current_user, expert, ExitReason(data["exit_reason"]), data["reason"])
    commit()
    return expert


@lifecycle.route("/experts/<id:expert_id>/resignation", methods=["POST"])
@requires("expert.self_service")
@lifecycle.arguments(ResignationSchema)
@lifecycle.response(200, ExpertStateSchema)
def resign(data, expert_id: int):
    """The expert leaves the pool (archived, not deleted)."""
    expert = get_expert(current_user, expert_id, "expert.self_service")
    operations.resign(current_user, expert, data["reason"])
    commit()
    return expert


@lifecycle.route("/experts/<id:expert_id>/tier", methods=["POST"])
@requires("lifecycle.manage")
@lifecycle.arguments(TierChangeSchema)
@lifecycle.response(200, ExpertStateSchema)
def change_tier(data, expert_id: int):
    """Promotion or demotion, with a reason."""
    expert = get_expert(current_user, expert_id, "lifecycle.manage")
    operations.change_tier(current_user, expert, data["tier_id"], data["reason"])
    commit()
    return expert


@lifecycle.route("/experts/<id:expert_id>/history")
@requires("expert.read")
@lifecycle.response(200, StatusChangeOutSchema(many=True))
def expert_history(expert_id: int):
    """The expert's status history (application steps, suspension, tier changes, renewal, exit), oldest first."""
    expert = get_expert(current_user, expert_id)
    return operations.history(current_user, expert)


@lifecycle.route("/experts/<id:expert_id>/unavailable-periods", methods=["POST"])
@requires("expert.self_service")
@lifecycle.arguments(PeriodInputSchema)
@lifecycle.response(201, PeriodOutSchema)
def add_period(data, expert_id: int):
    """The expert declares a period they cannot serve; refused (422) if it ends before it starts."""
    expert = get_expert(current_user, expert_id, "expert.self_service")
    period = operations.add_unavailable_period(current_user, expert, data)
    commit()
    return period


@lifecycle.route("/unavailable-periods/<id:period_id>", methods=["DELETE"])
@requires("expert.self_service")
@lifecycle.response(204)
def remove_period(period_id: int):
    """The expert removes one of their own unavailable periods (audited)."""
    operations.remove_unavailable_period(current_user, period_id)
    commit()


@lifecycle.route("/experts/<id:expert_id>/conflict-declarations", methods=["POST"])
@requires("expert.self_service")
@lifecycle.arguments(ConflictInputSchema)
@lifecycle.response(201, ConflictOutSchema)
def declare_conflict(data, expert_id: int):
    """The expert declares a conflict of interest with a registered organisation or a named person."""
    expert = get_expert(current_user, expert_id, "expert.self_service")
    declaration = operations.declare_conflict(current_user, expert, data)
    commit()
    return declaration


@lifecycle.route("/conflict-declarations/<id:declaration_id>", methods=["DELETE"])
@requires("expert.self_service")
@lifecycle.response(204)
def withdraw_conflict(declaration_id: int):
    """The expert withdraws one of their own conflict declarations (audited)."""
    operations.withdraw_conflict(current_user, declaration_id)
    commit()


@lifecycle.route("/experts/<id:expert_id>/change-requests", methods=["POST"])
@requires("expert.self_service")
@lifecycle.arguments(ChangeRequestInputSchema)
@lifecycle.response(201, ChangeRequestOutSchema)
def request_change(data, expert_id: int):
    """Employer, title or domain changes wait for the talent office's confirmation."""
    expert = get_expert(current_user, expert_id, "expert.self_service")
    request = operations.request_profile_change(current_user, expert, data)
    commit()
    return request


@lifecycle.route("/change-requests")
@requires("lifecycle.read")
@lifecycle.arguments(ChangeQuerySchema, location="query")
@lifecycle.response(200, ChangeRequestOutSchema(many=True))
def list_changes(query):
    """Profile change requests, oldest first (`status`, default pending)."""
    return operations.change_requests(current_user, query["status"])


@lifecycle.route("/change-requests/<id:change_id>/decision", methods=["POST"])
@requires("lifecycle.manage")
@lifecycle.arguments(ChangeDecisionSchema)
@lifecycle.response(200, ChangeRequestOutSchema)
def decide_change(data, change_id: int):
    """Confirm (applies the change) or decline (needs a reason); 409 if already decided."""
    request = operations.decide_change(current_user, change_id, data["confirm"], data["reason"])
    commit()
    return request


@lifecycle.route("/renewals")
@requires("lifecycle.read")
@lifecycle.arguments(RenewalQuerySchema, location="query")
@lifecycle.response(200, RenewalOutSchema(many=True))
def renewals(query):
    """The talent office's queue of renewal reviews (opened by run-daily before each term ends)."""
    return operations.renewal_queue(current_user, query["status"])


@lifecycle.route("/renewals/<id:renewal_id>/decision", methods=["POST"])
@requires("lifecycle.manage")
@lifecycle.arguments(RenewalDecisionSchema)
@lifecycle.response(200, RenewalOutSchema)
def decide_renewal(data, renewal_id: int):
    """Renew (a new term from the old term's end) or not (the expert exits at term end)."""
    review = operations.decide_renewal(current_user, renewal_id, data["renew"], data["reason"], data.get("tier_id"))
    commit()
    return review


@lifecycle.route("/review-groups/<id:domain_id>/members", methods=["POST"])
@requires("lifecycle.manage")
@lifecycle.arguments(ReviewerInputSchema)
@lifecycle.response(201, ReviewerOutSchema, description="已加入评审组")
def add_reviewer(data, domain_id: int):
    """Add a pooled (active) expert to the domain's review group; 409 if already a member."""
    operations.add_reviewer(current_user, domain_id, data["expert_id"])
    commit()
    return {"domain_id": domain_id, "expert_id": data["expert_id"]}, 201


@lifecycle.route("/review-groups/<id:domain_id>/members/<id:expert_id>", methods=["DELETE"])
@requires("lifecycle.manage")
@lifecycle.response(204)
def remove_reviewer(domain_id: int, expert_id: int):
    """Take an expert off the domain's review group; 404 if not a member."""
    operations.remove_reviewer(current_user, domain_id, expert_id)
    commit()


@lifecycle.route("/calendar-overrides")
class CalendarCollection(MethodView):
    @requires("calendar.read")
    @lifecycle.response(200, CalendarOutSchema(many=True))
    def get(self):
        """Local days off and extra working days, on top of the national calendar."""
        return operations.calendar_overrides(current_user)

    @requires("calendar.manage")
    @lifecycle.arguments(CalendarInputSchema)
    @lifecycle.response(201, CalendarOutSchema)
    def post(self, data):
        """Mark a day as a local day off or an extra working day; 409 if the day already has one."""
        override = operations.set_calendar_override(current_user, data)
        commit()
        return override


@lifecycle.route("/calendar-overrides/<id:override_id>", methods=["DELETE"])
@requires("calendar.manage")
@lifecycle.response(204)
def remove_calendar_override(override_id: int):
    """Remove a day's local setting; the national calendar applies again."""
    operations.remove_calendar_override(current_user, override_id)
    commit()
