"""JSON API: the panel report of a request, and its background materials.

A download is audited, so it is a POST (as `POST /experts/<id>/personal-data` is): in this API a GET never
writes, the audit log included.
"""
from __future__ import annotations

from functools import wraps

from flask.views import MethodView
from flask_login import current_user
from flask_smorest.fields import Upload

from experts_service.consultation import materials, report
from experts_service.consultation.schemas import MaterialOutSchema, MaterialSendingSchema, PanelReportSchema
from experts_service.core.auth import requires
from experts_service.core.routing import UPLOAD_ENDPOINTS
from experts_service.core.routing import ApiBlueprint as Blueprint
from experts_service.core.schemas import StrictSchema
from experts_service.core.transaction import commit

panel_documents = Blueprint("panel_documents_api", __name__, url_prefix="/panel-requests",
                            description="论证报告与背景材料")
materials_api = Blueprint("materials_api", __name__, url_prefix="/materials", description="背景材料")
blueprints = (panel_documents, materials_api)


class MaterialUploadSchema(StrictSchema):
    file = Upload(required=True, metadata={"description": f"{materials.ACCEPTED_LABEL}；大小上限为配置项 "
                                                          "MATERIAL_MAX_BYTES（默认 10 MB）"})


def _material_upload_limit(view):
    # Before the arguments are parsed: the materials' limit, not MAX_CONTENT_LENGTH.
    @wraps(view)
    def wrapped(*args, **kwargs):
        materials.allow_material_upload()
        return view(*args, **kwargs)

    return wrapped


@panel_documents.route("/<id:request_id>/report")
@requires("report.read")
@panel_documents.response(200, PanelReportSchema)
def get_report(request_id: int):
    """论证报告: the item, the panel and how each came, attendance, every submitted opinion in full with its
    content hash, dissent entry by entry, adoption feedback and the count of conclusions."""
    return report.get_report(current_user, request_id)


@panel_documents.route("/<id:request_id>/materials")
class MaterialCollection(MethodView):
    @requires("material.read")
    @panel_documents.response(200, MaterialOutSchema(many=True))
    def get(self, request_id: int):
        """The request's materials; an invited expert sees the sent ones only."""
        panel_request = materials.get_request(current_user, request_id)
        return materials.list_materials(current_user, panel_request)

    @requires("material.write")
    @_material_upload_limit
    @panel_documents.arguments(MaterialUploadSchema, location="files")
    @panel_documents.response(201, MaterialOutSchema)
    def post(self, files, request_id: int):
        """Upload a material (multipart field `file`): type checked by content, sha256 kept. Sent with the next
        sending."""
        panel_request = materials.get_request(current_user, request_id, "material.write")
        upload = files["file"]
        material = materials.upload(current_user, panel_request, upload.filename, upload.read())
        commit()
        return material


UPLOAD_ENDPOINTS.add("panel_documents_api.MaterialCollection")


@panel_documents.route("/<id:request_id>/materials/sending", methods=["POST"])
@requires("material.write")
@panel_documents.response(200, MaterialSendingSchema)
def send_materials(request_id: int):
    """发送材料: every material not yet sent goes to the invited experts, who are notified; `warnings` says when
    this is later than the preferred lead time. 409 when nothing is waiting or the panel is not confirmed."""
    panel_request = materials.get_request(current_user, request_id, "material.write")
    sending = materials.send(current_user, panel_request)
    commit()
    return sending


@materials_api.route("/<id:material_id>", methods=["DELETE"])
@requires("material.write")
@materials_api.response(204)
def delete_material(material_id: int):
    """Delete a material not yet sent (409 once sent)."""
    material = materials.get_material(current_user, material_id, "material.write")
    materials.delete(current_user, material)
    commit()


@materials_api.route("/<id:material_id>/download", methods=["POST"])
@requires("material.read")
@materials_api.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream",
                        description="the file's bytes, as an attachment, with its own content type")
def download_material(material_id: int):
    """The material's bytes (audited). An expert reads only sent materials of a panel they are invited to."""
    material = materials.get_material(current_user, material_id)
    materials.record_download(current_user, material)
    response = materials.send_file_of(material)
    commit()
    return response
