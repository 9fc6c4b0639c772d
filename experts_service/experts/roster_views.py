"""Roster pages: template download, upload with a dry-run report, confirmed import, export.

Between the dry run and the confirmation the upload waits under instance/,
encrypted like any stored personal data, named by a random token that only
this user's session holds; it is removed once imported or after a day.
"""
from __future__ import annotations

import base64
import io
import os
import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_file, session
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from experts_service.core.auth import can, requires
from experts_service.core.crypto import decrypt_pii, encrypt_pii
from experts_service.core.forms import CsrfOnlyForm, load_or_errors
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
from experts_service.experts.schemas import ExpertListQuerySchema
from experts_service.extensions import csrf

blueprint = Blueprint("roster", __name__, url_prefix="/experts/roster")

STAGING_DIR = "roster-uploads"
STAGED_SECONDS = 24 * 3600
SESSION_KEY = "roster_upload"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
ALLOWED_SUFFIX = ".xlsx"


def _folder() -> Path:
    folder = Path(current_app.instance_path) / STAGING_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _stage(data: bytes) -> str:
    folder = _folder()
    cutoff = time.time() - STAGED_SECONDS
    for old in folder.glob("*.enc"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)  # abandoned dry runs
    token = secrets.token_urlsafe(24)
    fd = os.open(folder / f"{token}.enc", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(encrypt_pii(base64.b64encode(data).decode("ascii")))
    return token


def _staged_path(token: str | None) -> Path | None:
    if not token or not TOKEN_PATTERN.fullmatch(token) or token != session.get(SESSION_KEY):
        return None
    path = _folder() / f"{token}.enc"
    return path if path.exists() else None


def _page(status: int = 200, **context):
    context.setdefault("report", None)
    context.setdefault("file_error", None)
    return render_template(
        # formdata=None: the form only renders a token, and must not re-read a refused request body.
        "experts/roster.html", form=CsrfOnlyForm(formdata=None), can_import=can(current_user, "expert.import"),
        can_export_full=can(current_user, "expert.reveal_pii"), max_rows=current_app.config["ROSTER_MAX_ROWS"],
        max_megabytes=current_app.config["ROSTER_MAX_BYTES"] / (1024 * 1024), **context,
    ), status


@blueprint.get("")
@requires("expert.export")
def index():
    return _page()


@blueprint.get("/template")
@requires("expert.import")
def template():
    return send_file(io.BytesIO(roster_template(current_user)), mimetype=XLSX_MIMETYPE,
                     as_attachment=True, download_name="专家名册导入模板.xlsx")


@blueprint.post("/check")
@csrf.exempt  # checked below, once the larger upload limit is in force
@requires("expert.import")
def check():
    """Upload and dry run: report every bad row, write nothing but the staged file."""
    max_bytes = current_app.config["ROSTER_MAX_BYTES"]
    allow_roster_upload()
    try:
        upload = request.files.get("file")
        valid_form = CsrfOnlyForm().validate_on_submit()
    except RequestEntityTooLarge:
        return _page(413, file_error=f"文件过大：上限为 {max_bytes // (1024 * 1024) or 1} MB，请分批导入")
    if not valid_form:
        return _page(400, file_error="页面已过期，请刷新后重新上传")
    strict = request.form.get("strict") == "on"
    if upload is None or not upload.filename:
        return _page(422, file_error="请选择要上传的 Excel 文件", strict=strict)
    if not upload.filename.lower().endswith(ALLOWED_SUFFIX):
        return _page(422, file_error="仅支持 .xlsx 格式（Excel 2007 及以上）；旧版 .xls 请在 Excel 中另存为 .xlsx", strict=strict)
    try:
        rows = read_upload(upload.stream)
    except RosterFileError as error:
        return _page(422, file_error=str(error), strict=strict)
    report = import_roster(current_user, rows, dry_run=True, strict=strict)
    upload.stream.seek(0)
    token = _stage(upload.stream.read()) if report.importable else None
    session[SESSION_KEY] = token
    return _page(report=report, token=token, strict=strict)


@blueprint.post("/import")
@requires("expert.import")
def confirm():
    """Import the staged upload: every good row, or in strict mode all or nothing."""
    if not CsrfOnlyForm().validate_on_submit():
        return _page(400, file_error="页面已过期，请重新上传")
    path = _staged_path(request.form.get("token"))
    if path is None:
        return _page(400, file_error="待导入的文件已失效或已导入，请重新上传")
    strict = request.form.get("strict") == "on"
    try:
        rows = read_upload(io.BytesIO(base64.b64decode(decrypt_pii(path.read_text()))))
    except RosterFileError as error:  # the file passed the dry run; this would be a changed setting
        return _page(422, file_error=str(error), strict=strict)
    report = import_roster(current_user, rows, dry_run=False, strict=strict)
    commit()
    path.unlink(missing_ok=True)
    session.pop(SESSION_KEY, None)
    return _page(report=report, strict=strict)


@blueprint.post("/export")
@requires("expert.export")
def export():
    """The list's experts (its filters, every page) as .xlsx; POST because it is audited."""
    if not CsrfOnlyForm().validate_on_submit():
        return _page(400, file_error="页面已过期，请刷新后重试")
    raw = {key: value for key, value in request.form.items()
           if value != "" and key in ExpertListQuerySchema().fields and key not in ("page", "per_page")}
    query, errors = load_or_errors(ExpertListQuerySchema(), raw)
    if errors:
        query = ExpertListQuerySchema().load({})
    content, _count = export_roster(current_user, ExpertFilters(**query), full_pii=request.form.get("full_pii") == "on")
    commit()
    return send_file(io.BytesIO(content), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name="专家名册.xlsx")
