"""Pages: the panel report (printable, and as a Word file) and the background materials of a panel request.

The materials' forms live in templates/consultation/_materials.html, shown on the request page and on the
materials page alike; each form says which page to return to (`back`: "request" or "materials", never a URL).
"""
from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from experts_service.consultation import materials, report
from experts_service.core.auth import requires
from experts_service.core.errors import ServiceError
from experts_service.core.forms import CsrfOnlyForm
from experts_service.core.transaction import commit
from experts_service.extensions import csrf

blueprint = Blueprint("panel_documents", __name__)

EXPIRED = "页面已过期，请刷新后重试"


# ---------------------------------------------------------------- the report


@blueprint.get("/panel-requests/<id:request_id>/report")
@requires("report.read")
def report_page(request_id: int):
    return render_template("consultation/report.html", report=report.get_report(current_user, request_id))


@blueprint.get("/panel-requests/<id:request_id>/report.docx")
@requires("report.read")
def report_docx(request_id: int):
    """The Word file; each download is audited with the opinions (and their hashes) it held."""
    built = report.get_report(current_user, request_id)
    content = report.docx_bytes(built)
    report.record_download(current_user, built)
    commit()
    return send_file(io.BytesIO(content), mimetype=report.DOCX_MIMETYPE, as_attachment=True,
                     download_name=built.filename)


# ---------------------------------------------------------------- materials


def _message(error: ServiceError) -> str:
    if error.message == error.default_message:
        for key, messages in error.fields.items():
            if key != "rules" and messages:
                return str(messages[0])
    return error.message


def _back(request_id: int):
    if request.form.get("back") == "materials":
        return redirect(url_for("panel_documents.materials_page", request_id=request_id))
    return redirect(url_for("panels.panel_request", request_id=request_id, _anchor="materials"))


def _render_materials(panel_request, errors: dict | None = None, status: int = 200):
    return render_template("consultation/materials.html", req=panel_request, errors=errors or {},
                           materials=materials.page_context(current_user, panel_request, standalone=True)), status


@blueprint.get("/panel-requests/<id:request_id>/materials")
@requires("material.read")
def materials_page(request_id: int):
    return _render_materials(materials.get_request(current_user, request_id))


@blueprint.post("/panel-requests/<id:request_id>/materials")
@csrf.exempt  # checked below, once the materials' larger body limit is in force
@requires("material.write")
def upload_material(request_id: int):
    panel_request = materials.get_request(current_user, request_id, "material.write")
    materials.allow_material_upload()
    try:
        upload = request.files.get("file")
        valid_form = CsrfOnlyForm().validate_on_submit()
    except RequestEntityTooLarge:
        return _render_materials(panel_request, {"file": [materials.too_large_message()]}, 413)
    if not valid_form:
        return _render_materials(panel_request, {"_schema": [EXPIRED]}, 400)
    try:
        material = materials.upload(current_user, panel_request, upload.filename if upload else None,
                                    upload.read() if upload else b"")
        commit()
    except ServiceError as error:
        return _render_materials(panel_request, {"_schema": [_message(error)], **error.fields}, error.status)
    flash(f"已上传《{material.filename}》；点击“发送材料”后专家方可查看", "success")
    return _back(request_id)


@blueprint.post("/panel-requests/<id:request_id>/materials/sending")
@requires("material.write")
def send_materials(request_id: int):
    panel_request = materials.get_request(current_user, request_id, "material.write")
    if not CsrfOnlyForm().validate_on_submit():
        flash(EXPIRED, "danger")
        return _back(request_id)
    try:
        sending = materials.send(current_user, panel_request)
        commit()
    except ServiceError as error:
        flash(_message(error), "danger")
        return _back(request_id)
    flash(f"已向 {len(sending.notified_expert_ids)} 位受邀专家发送 {len(sending.materials)} 份材料", "success")
    for warning in sending.warnings:
        flash(warning, "warning")
    return _back(request_id)


@blueprint.post("/materials/<id:material_id>/delete")
@requires("material.write")
def delete_material(material_id: int):
    material = materials.get_material(current_user, material_id, "material.write")
    request_id, filename = material.panel_request_id, material.filename
    if not CsrfOnlyForm().validate_on_submit():
        flash(EXPIRED, "danger")
        return _back(request_id)
    try:
        materials.delete(current_user, material)
        commit()
    except ServiceError as error:
        flash(_message(error), "danger")
        return _back(request_id)
    flash(f"已删除《{filename}》", "success")
    return _back(request_id)


@blueprint.get("/materials/<id:material_id>")
@requires("material.read")
def material(material_id: int):
    """The file, as an attachment; each download is audited."""
    record = materials.get_material(current_user, material_id)
    materials.record_download(current_user, record)
    response = materials.send_file_of(record)
    commit()
    return response
