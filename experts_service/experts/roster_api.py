"""JSON API for the Excel roster: template, import (dry run by default), export."""
from __future__ import annotations

import io
from functools import wraps

from flask import send_file
from flask_login import current_user
from flask_smorest.fields import Upload

from experts_service.core.auth import requires
from experts_service.core.errors import ValidationFailed
from experts_service.core.routing import UPLOAD_ENDPOINTS
from experts_service.core.routing import ApiBlueprint as Blueprint
from experts_service.core.schemas import StrictSchema
from experts_service.core.transaction import commit
from experts_service.experts.operations import ExpertFilters
from experts_service.experts.roster_excel import XLSX_MIMETYPE, RosterFileError
from experts_service.experts.roster_import import (
    allow_roster_upload,
    export_roster,
    import_roster,
    read_upload,
    roster_template,
)
from experts_service.experts.schemas import (
    RosterExportSchema,
    RosterImportOptionsSchema,
    RosterReportSchema,
)

blueprint = Blueprint("roster_api", __name__, url_prefix="/experts/roster", description="专家名册（Excel）导入与导出")


# A download's body in the document: the file's bytes (the views return a Response, so nothing is dumped).
BINARY_FILE = {"type": "string", "format": "binary"}


class RosterUploadSchema(StrictSchema):
    file = Upload(required=True, metadata={"description": ".xlsx 文件，按导入模板填写"})


def _roster_upload_limit(view):
    # Before the arguments are parsed: the roster's limit, not MAX_CONTENT_LENGTH.
    @wraps(view)
    def wrapped(*args, **kwargs):
        allow_roster_upload()
        return view(*args, **kwargs)

    return wrapped


@blueprint.route("/template")
@requires("expert.import")
@blueprint.response(200, BINARY_FILE, content_type=XLSX_MIMETYPE, description="导入模板（.xlsx）")
def template():
    """The import template: the columns, drop-down lists and a sheet of allowed values."""
    return send_file(io.BytesIO(roster_template(current_user)), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name="专家名册导入模板.xlsx")


@blueprint.route("/imports", methods=["POST"])
@requires("expert.import")
@_roster_upload_limit
@blueprint.arguments(RosterUploadSchema, location="files")
@blueprint.arguments(RosterImportOptionsSchema, location="form")
@blueprint.response(200, RosterReportSchema)
def import_file(files, options):
    """Check every row of a roster (multipart field `file`) and report bad rows by number; with
    `dry_run=false` import the good rows, or with `strict=true` nothing when any row is bad."""
    try:
        rows = read_upload(files["file"].stream)
    except RosterFileError as error:
        raise ValidationFailed(str(error), fields={"file": [str(error)]}) from None
    report = import_roster(current_user, rows, dry_run=options["dry_run"], strict=options["strict"])
    if not options["dry_run"]:
        commit()
    return report


UPLOAD_ENDPOINTS.add("roster_api.import_file")


@blueprint.route("/export", methods=["POST"])
@requires("expert.export")
@blueprint.arguments(RosterExportSchema)
@blueprint.response(200, BINARY_FILE, content_type=XLSX_MIMETYPE, description="专家名册（.xlsx）")
def export(data):
    """The experts matching the list's filters, every page, as .xlsx; ID numbers and mobiles masked
    unless `full_pii` (needs the right to see them; audited). POST because every export is audited."""
    full_pii = data.pop("full_pii")
    data.pop("page", None)
    data.pop("per_page", None)
    content, _count = export_roster(current_user, ExpertFilters(**data), full_pii=full_pii)
    commit()
    return send_file(io.BytesIO(content), mimetype=XLSX_MIMETYPE, as_attachment=True, download_name="专家名册.xlsx")
