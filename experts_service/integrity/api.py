"""JSON API for integrity records (诚信记录), their evidence, appeals and the sanctions derived from them.

Manual records and extra evidence are multipart uploads (field `file`); everything else is JSON.
"""
from __future__ import annotations

from flask_login import current_user
from werkzeug.datastructures import CombinedMultiDict

from experts_service.core.auth import requires
from experts_service.core.routing import UPLOAD_ENDPOINTS, ApiBlueprint, SafeJsonParser
from experts_service.core.transaction import commit
from experts_service.experts.operations import get_expert
from experts_service.integrity import operations
from experts_service.integrity.schemas import (
    AppealDecisionSchema,
    AppealInputSchema,
    AppealListQuerySchema,
    AppealOutSchema,
    AppealQueueSchema,
    EventListQuerySchema,
    EventOutSchema,
    EventPageSchema,
    EvidenceOutSchema,
    EvidenceUploadSchema,
    RecordEventSchema,
    SanctionOutSchema,
    WithdrawInputSchema,
)
from experts_service.lifecycle import documents


class _MultipartParser(SafeJsonParser):
    """`files` reads the whole multipart body, text fields too: one schema documents and checks it all
    (`unknown=None` then lets the strict schema refuse fields it does not know, as for JSON bodies)."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class Blueprint(ApiBlueprint):
    ARGUMENTS_PARSER = _MultipartParser()


integrity = Blueprint("integrity_api", __name__, url_prefix="", description="诚信记录、申诉与诚信处理")
blueprints = (integrity,)

# A download's body in the document: the file's bytes (the view returns a Response, so nothing is dumped).
BINARY_FILE = {"type": "string", "format": "binary"}


def _uploads(files) -> list[tuple[str | None, bytes]]:
    return [(upload.filename, upload.read()) for upload in files]


@integrity.route("/integrity-events")
@requires("integrity.read")
@integrity.arguments(EventListQuerySchema, location="query")
@integrity.response(200, EventPageSchema)
def list_events(query):
    """Every integrity record for the talent office and the auditor, newest first; an expert's own for an
    expert. Filters: `status`, `kind`."""
    page = operations.list_events(current_user, **query)
    return {"items": page.items, "meta": page.meta}


@integrity.route("/integrity-events/<id:event_id>")
@requires("integrity.read")
@integrity.response(200, EventOutSchema)
def get_event(event_id: int):
    """One record with its evidence, its appeal and the decision; an expert reads only their own."""
    return operations.get_event(current_user, event_id)


@integrity.route("/experts/<id:expert_id>/integrity-events")
@requires("integrity.read")
@integrity.response(200, EventOutSchema(many=True))
def expert_events(expert_id: int):
    """One expert's records, newest first, whatever their status."""
    expert = get_expert(current_user, expert_id, "integrity.read")
    return operations.events_of(current_user, expert)


@integrity.route("/experts/<id:expert_id>/integrity-events", methods=["POST"])
@requires("integrity.record")
@integrity.arguments(RecordEventSchema, location="files", unknown=None)
@integrity.response(201, EventOutSchema)
def record_event(data, expert_id: int):
    """The talent office records an event (multipart: `kind`, `occurred_on`, `description`, optional
    `panel_request_id`, and at least one evidence file as `file`). Severity, points and any sanction follow
    from the rules; the expert is notified and may appeal within the appeal window."""
    expert = get_expert(current_user, expert_id, "integrity.record")
    files = data.pop("file")
    event = operations.record_event(current_user, expert, data, _uploads(files))
    commit()
    return event


UPLOAD_ENDPOINTS.add("integrity_api.record_event")


@integrity.route("/experts/<id:expert_id>/sanctions")
@requires("integrity.read")
@integrity.response(200, SanctionOutSchema(many=True))
def expert_sanctions(expert_id: int):
    """The expert's warnings, suspensions and dismissals, newest first, each with its explanation and the
    events that triggered it (revoked ones included, with the reason)."""
    expert = get_expert(current_user, expert_id, "integrity.read")
    return operations.sanctions_of(current_user, expert)


@integrity.route("/integrity-events/<id:event_id>/evidence", methods=["POST"])
@requires("integrity.record")
@integrity.arguments(EvidenceUploadSchema, location="files", unknown=None)
@integrity.response(201, EvidenceOutSchema)
def add_evidence(files, event_id: int):
    """Add one more evidence file (multipart field `file`) to a standing record; 409 otherwise."""
    event = operations.get_event(current_user, event_id, "integrity.record")
    upload = files["file"]
    evidence = operations.add_evidence(current_user, event, upload.filename, upload.read())
    commit()
    return evidence


UPLOAD_ENDPOINTS.add("integrity_api.add_evidence")


@integrity.route("/integrity-evidence/<id:evidence_id>")
@requires("integrity.read")
@integrity.response(200, BINARY_FILE, content_type="application/pdf", description="the file's bytes")
# The other types evidence is accepted in (documents.SIGNATURES); one 200 response with three media types.
@integrity.alt_response(200, schema=BINARY_FILE, content_type="image/png", description="the file's bytes",
                        success=True)
@integrity.alt_response(200, schema=BINARY_FILE, content_type="image/jpeg", description="the file's bytes",
                        success=True)
def download_evidence(evidence_id: int):
    """An evidence file, to the talent office, auditors and the expert the record is about."""
    return documents.send(operations.get_evidence(current_user, evidence_id))


@integrity.route("/integrity-events/<id:event_id>/withdrawal", methods=["POST"])
@requires("integrity.record")
@integrity.arguments(WithdrawInputSchema)
@integrity.response(200, EventOutSchema)
def withdraw(data, event_id: int):
    """The talent office withdraws a manual record entered by mistake (with a reason); everything derived
    from it is recomputed. Workflow records follow their source instead (409)."""
    event = operations.get_event(current_user, event_id, "integrity.record")
    operations.withdraw_event(current_user, event, data["reason"])
    commit()
    return event


@integrity.route("/integrity-events/<id:event_id>/appeal", methods=["POST"])
@requires("integrity.appeal")
@integrity.arguments(AppealInputSchema)
@integrity.response(201, AppealOutSchema)
def file_appeal(data, event_id: int):
    """The expert appeals their own standing record, once, before `appeal_until`; 409 otherwise."""
    event = operations.get_event(current_user, event_id, "integrity.appeal")
    appeal = operations.file_appeal(current_user, event, data["reason"])
    commit()
    return appeal


@integrity.route("/integrity-appeals")
@requires("integrity.decide")
@integrity.arguments(AppealListQuerySchema, location="query")
@integrity.response(200, AppealQueueSchema(many=True))
def list_appeals(query):
    """The talent office's appeal queue, oldest first (`status`: pending by default, or all)."""
    status = None if query["status"] == "all" else query["status"]
    return operations.list_appeals(current_user, status)


@integrity.route("/integrity-appeals/<id:appeal_id>/decision", methods=["POST"])
@requires("integrity.decide")
@integrity.arguments(AppealDecisionSchema)
@integrity.response(200, AppealQueueSchema)
def decide_appeal(data, appeal_id: int):
    """Upheld: the record is revoked and its sanctions recomputed away. Rejected: it stands, final.
    409 if already decided."""
    appeal = operations.get_appeal(current_user, appeal_id)
    operations.decide_appeal(current_user, appeal, data["upheld"], data["reason"])
    commit()
    return appeal
