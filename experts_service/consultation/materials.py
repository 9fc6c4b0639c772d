"""Background materials (背景材料) the department sends its panel (DOMAIN.md step 6: materials at least
`materials_preferred_days` before the consultation where possible, a warning when later).

Files are kept in the database as uploaded (`PanelMaterial.content`) with their sha256. As for the
lifecycle's documents (lifecycle.documents), the type is decided by the file's first bytes (and for Word and
Excel 2007+ files by the parts inside them), never by the browser's claim, and the name's ending must agree.
The size limit is the app config's `MATERIAL_MAX_BYTES` (default below).

Sending: `PanelRequest.materials_sent_at` is the time of the latest sending. A material uploaded at or before
it has gone to the panel: invited experts may download it and it can no longer be deleted. One uploaded later
waits for the next sending ("发送材料" again), which moves `materials_sent_at` on; sending with nothing new
is refused. So the lead-time warning (operations.materials_warnings) speaks of the day the panel had every
material. Each sending notifies every expert holding a live (pending or accepted) invitation.

Experts read the materials of a request only while they hold a live invitation on it, and only sent ones.
Every upload, deletion, sending and download is one audit entry.
"""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

import sqlalchemy as sa
from flask import current_app, request as http_request, send_file

from experts_service.core import audit
from experts_service.core.auth import Role, authorize, can
from experts_service.core.clock import now
from experts_service.core.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from experts_service.consultation.models import Invitation, InvitationStatus, PanelMaterial
from experts_service.consultation.operations import lock_panel_request, materials_warnings
from experts_service.extensions import db
from experts_service.lifecycle.documents import MAX_NAME_LENGTH, SIGNATURES, CheckedFile
from experts_service.notifications.operations import notify, users_of_expert
from experts_service.panels.models import ConsultationMode, PanelRequest, PanelRequestStatus
from experts_service.policy import current_policy

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# Room for the multipart envelope around the file (as for roster uploads).
UPLOAD_ENVELOPE_BYTES = 64 * 1024
# Requests that still take materials; a cancelled or completed one does not.
OPEN_STATUSES = (PanelRequestStatus.SUBMITTED, PanelRequestStatus.RECOMMENDED, PanelRequestStatus.CONFIRMED)
LIVE_INVITATIONS = (InvitationStatus.PENDING, InvitationStatus.ACCEPTED)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Word and Excel 2007+: a zip holding these parts.
OFFICE_PARTS = {".docx": ("word/document.xml", DOCX), ".xlsx": ("xl/workbook.xml", XLSX)}
# Word 97-2003 and Excel 97-2003 share one container format; the ending tells which.
LEGACY_OFFICE = {".doc": "application/msword", ".xls": "application/vnd.ms-excel"}
TEXT_ENDINGS = (".txt",)
TEXT_ENCODINGS = (("utf-8-sig", "utf-8"), ("gb18030", "gb18030"))
# What a plain-text file may hold besides printable characters.
TEXT_CONTROLS = {"\t", "\n", "\r", "\f"}
KNOWN_ENDINGS = (*{ending for _m, _t, endings in SIGNATURES for ending in endings}, *OFFICE_PARTS,
                 *LEGACY_OFFICE, *TEXT_ENDINGS)
ACCEPTED_LABEL = "PDF、Word（.doc/.docx）、Excel（.xls/.xlsx）、JPG/PNG 图片或纯文本（.txt）"
ACCEPT_ATTRIBUTE = ",".join(sorted(KNOWN_ENDINGS))


# ---------------------------------------------------------------- limits and checks


def max_bytes() -> int:
    return int(current_app.config.get("MATERIAL_MAX_BYTES") or DEFAULT_MAX_BYTES)


def size_label(limit: int | None = None) -> str:
    limit = max_bytes() if limit is None else limit
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    return f"{max(limit // 1024, 1)} KB"


def allow_material_upload() -> None:
    """Raise this request's body limit from MAX_CONTENT_LENGTH to the materials' before the body is parsed."""
    http_request.max_content_length = max_bytes() + UPLOAD_ENVELOPE_BYTES


def too_large_message() -> str:
    return f"文件不能超过 {size_label()}"


def _refuse(message: str) -> NoReturn:
    raise ValidationFailed(fields={"file": [message]})


def _office_file(name: str, ending: str, data: bytes) -> CheckedFile:
    part, content_type = OFFICE_PARTS[ending]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())  # the central directory only: nothing is unpacked
    except (zipfile.BadZipFile, ValueError, OSError):
        _refuse("文件已损坏，或不是有效的 Word/Excel 文件")
    if "[Content_Types].xml" not in names or part not in names:
        _refuse("文件扩展名与文件内容不符")
    return CheckedFile(name, content_type, data)


def _text_file(name: str, data: bytes) -> CheckedFile:
    for encoding, label in TEXT_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(ch < " " and ch not in TEXT_CONTROLS or ch == "\x7f" for ch in text):
            break  # decodes, but binary: control characters are no text
        return CheckedFile(name, f"text/plain; charset={label}", data)
    _refuse("文本文件须为 UTF-8 或 GB18030（GBK）编码的纯文本")


def check_material(filename: str | None, data: bytes, limit: int | None = None) -> CheckedFile:
    """Name, emptiness, size and type (by content); raises ValidationFailed on the `file` field."""
    limit = max_bytes() if limit is None else limit
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    if not name:
        _refuse("请选择要上传的文件")
    if len(name) > MAX_NAME_LENGTH:
        _refuse(f"文件名不超过 {MAX_NAME_LENGTH} 字")
    if not data:
        _refuse("文件为空")
    if len(data) > limit:
        _refuse(f"文件不能超过 {size_label(limit)}")
    ending = os.path.splitext(name)[1].lower()
    for magic, content_type, endings in SIGNATURES:
        if data.startswith(magic):
            if ending not in endings:
                _refuse("文件扩展名与文件内容不符")
            return CheckedFile(name, content_type, data)
    if data.startswith(ZIP_MAGIC) and ending in OFFICE_PARTS:
        return _office_file(name, ending, data)
    if data.startswith(OLE2_MAGIC) and ending in LEGACY_OFFICE:
        return CheckedFile(name, LEGACY_OFFICE[ending], data)
    if ending in TEXT_ENDINGS:
        return _text_file(name, data)
    if ending in KNOWN_ENDINGS:
        _refuse("文件扩展名与文件内容不符")
    _refuse(f"仅接受 {ACCEPTED_LABEL} 文件")


# ---------------------------------------------------------------- who may read


def live_invitation(expert_id: int | None, request_id: int) -> Invitation | None:
    if expert_id is None:
        return None
    return db.session.execute(
        sa.select(Invitation).where(Invitation.panel_request_id == request_id, Invitation.expert_id == expert_id,
                                    Invitation.status.in_(LIVE_INVITATIONS)).order_by(Invitation.id.desc()).limit(1)
    ).scalar_one_or_none()


def _is_expert(actor) -> bool:
    return getattr(actor, "is_authenticated", False) and actor.role is Role.EXPERT


def authorize_read(actor, panel_request: PanelRequest) -> None:
    """The department (own), the talent office and auditors; an expert while invited onto this panel."""
    if not _is_expert(actor):
        authorize(actor, "material.read", panel_request)
        return
    authorize(actor, "material.read")
    invitation = live_invitation(actor.expert_id, panel_request.id)
    if invitation is None:
        raise Forbidden("无权查看：您未受邀参加该论证，不能查看其材料")
    authorize(actor, "material.read", invitation)


def can_read(actor, panel_request: PanelRequest) -> bool:
    try:
        authorize_read(actor, panel_request)
    except (Forbidden, NotAuthenticated):
        return False
    return True


def get_request(actor, request_id: int, permission: str = "material.read") -> PanelRequest:
    panel_request = db.session.get(PanelRequest, request_id)
    if panel_request is None:
        authorize(actor, permission)
        raise NotFound("论证申请不存在")
    if permission == "material.read":
        authorize_read(actor, panel_request)
    else:
        authorize(actor, permission, panel_request)
    return panel_request


def is_sent(material: PanelMaterial, panel_request: PanelRequest | None = None) -> bool:
    sent_at = (panel_request or material.panel_request).materials_sent_at
    return sent_at is not None and material.uploaded_at <= sent_at


def _all_of(panel_request: PanelRequest) -> list[PanelMaterial]:
    return list(db.session.execute(
        sa.select(PanelMaterial).where(PanelMaterial.panel_request_id == panel_request.id)
        .order_by(PanelMaterial.uploaded_at, PanelMaterial.id)
    ).scalars())


def list_materials(actor, panel_request: PanelRequest) -> list[PanelMaterial]:
    """Every material for the department, the office and auditors; the sent ones for an invited expert."""
    authorize_read(actor, panel_request)
    materials = _all_of(panel_request)
    if _is_expert(actor):
        return [m for m in materials if is_sent(m, panel_request)]
    return materials


def get_material(actor, material_id: int, permission: str = "material.read") -> PanelMaterial:
    material = db.session.get(PanelMaterial, material_id)
    if material is None:
        authorize(actor, permission)
        raise NotFound("材料不存在")
    if permission == "material.read":
        authorize_read(actor, material.panel_request)
        if _is_expert(actor) and not is_sent(material):
            raise NotFound("材料不存在")  # not sent yet: the panel does not know of it
    else:
        authorize(actor, permission, material)
    return material


# ---------------------------------------------------------------- upload, delete, send, download


def upload(actor, panel_request: PanelRequest, filename: str | None, data: bytes) -> PanelMaterial:
    authorize(actor, "material.write", panel_request)
    checked = check_material(filename, data)
    lock_panel_request(panel_request.id)
    db.session.refresh(panel_request)
    if panel_request.status not in OPEN_STATUSES:
        raise Conflict(f"申请状态为“{panel_request.status.label}”，不能再上传材料")
    uploaded_at = now()
    if panel_request.materials_sent_at is not None and uploaded_at <= panel_request.materials_sent_at:
        # A pinned clock (CLOCK_NOW) must not make a new upload look sent.
        uploaded_at = panel_request.materials_sent_at + timedelta(microseconds=1)
    material = PanelMaterial(
        panel_request_id=panel_request.id, filename=checked.original_name, content_type=checked.content_type,
        size=len(checked.data), sha256=checked.sha256, content=checked.data,
        uploaded_by_id=getattr(actor, "id", None), uploaded_at=uploaded_at,
    )
    db.session.add(material)
    db.session.flush()
    audit.record(actor, "material.upload", "panel_material", material.id, panel_request_id=panel_request.id,
                 filename=material.filename, content_type=material.content_type, size=material.size,
                 sha256=material.sha256)
    return material


def delete(actor, material: PanelMaterial) -> None:
    """Only a material not yet sent: what the panel received stays as it was."""
    authorize(actor, "material.write", material)
    panel_request = material.panel_request
    lock_panel_request(panel_request.id)
    db.session.refresh(panel_request)
    if is_sent(material, panel_request):
        raise Conflict("材料已发送给专家，不能删除", fields={"material": ["已发送"]})
    audit.record(actor, "material.delete", "panel_material", material.id, panel_request_id=panel_request.id,
                 filename=material.filename, sha256=material.sha256)
    db.session.delete(material)
    db.session.flush()


@dataclass(frozen=True)
class Sending:
    request: PanelRequest
    materials: list[PanelMaterial]
    notified_expert_ids: list[int]
    warnings: list[str]
    first: bool

    @property
    def sent_at(self) -> datetime:
        return self.request.materials_sent_at


def send(actor, panel_request: PanelRequest) -> Sending:
    """发送材料: every material not yet sent goes to the experts holding a live invitation, who are notified."""
    authorize(actor, "material.write", panel_request)
    lock_panel_request(panel_request.id)
    db.session.refresh(panel_request)
    if panel_request.status is not PanelRequestStatus.CONFIRMED:
        raise Conflict(f"申请状态为“{panel_request.status.label}”，专家组确认后才能发送材料",
                       fields={"status": [panel_request.status.label]})
    materials = [m for m in _all_of(panel_request) if not is_sent(m, panel_request)]
    if not materials:
        raise Conflict("没有待发送的材料，请先上传" if panel_request.materials_sent_at is None
                       else "材料均已发送；新上传的材料才需要再次发送", fields={"materials": ["没有待发送的材料"]})
    first = panel_request.materials_sent_at is None
    # Never before the newest material (a pinned clock), so each one counts as sent.
    panel_request.materials_sent_at = max(now(), max(m.uploaded_at for m in materials))
    invitations = db.session.execute(
        sa.select(Invitation).where(Invitation.panel_request_id == panel_request.id,
                                    Invitation.status.in_(LIVE_INVITATIONS)).order_by(Invitation.id)
    ).scalars().all()
    expert_ids = list(dict.fromkeys(i.expert_id for i in invitations))
    item = panel_request.item
    names = "、".join(f"《{m.filename}》" for m in materials)
    notify([user for expert_id in expert_ids for user in users_of_expert(expert_id)], "materials.sent",
           f"论证材料{'' if first else '（补充）'}：{item.title}",
           f"{item.organisation.name}发送了{len(materials)}份{'' if first else '补充'}论证材料：{names}。"
           f"请在{_when(panel_request)}前阅读。",
           link=f"/panel-requests/{panel_request.id}/materials", confidential=item.confidential)
    db.session.flush()
    warnings = materials_warnings(panel_request, current_policy())
    audit.record(actor, "material.send", "panel_request", panel_request.id, first=first,
                 materials=[{"id": m.id, "filename": m.filename, "sha256": m.sha256} for m in materials],
                 notified_experts=expert_ids, warnings=warnings)
    return Sending(panel_request, materials, expert_ids, warnings, first)


def _when(panel_request: PanelRequest) -> str:
    if panel_request.mode is ConsultationMode.MEETING:
        return f"{panel_request.meeting_date:%Y-%m-%d} 论证会"
    return f"{panel_request.deadline:%Y-%m-%d} 意见截止"


def record_download(actor, material: PanelMaterial) -> None:
    """Who read which material: one audit entry per download (committed by the caller)."""
    audit.record(actor, "material.download", "panel_material", material.id,
                 panel_request_id=material.panel_request_id, filename=material.filename, sha256=material.sha256)


def send_file_of(material: PanelMaterial):
    """The stored bytes as an attachment, typed by the checked content (as lifecycle.documents.send)."""
    return send_file(io.BytesIO(material.content), mimetype=material.content_type, as_attachment=True,
                     download_name=material.filename)


# ---------------------------------------------------------------- the page section


@dataclass(frozen=True)
class MaterialRow:
    material: PanelMaterial
    sent: bool


def page_context(actor, panel_request: PanelRequest, *, standalone: bool = False) -> dict | None:
    """What templates/consultation/_materials.html needs; None when the actor may not see the materials.

    `standalone`: the materials page itself (it shows the lead-time warning, which the request page's
    panel section already shows).
    """
    if not can_read(actor, panel_request):
        return None
    expert = _is_expert(actor)
    rows = [MaterialRow(m, is_sent(m, panel_request)) for m in _all_of(panel_request)]
    if expert:
        rows = [row for row in rows if row.sent]
    writable = can(actor, "material.write", panel_request) and panel_request.status in OPEN_STATUSES
    unsent = sum(1 for row in rows if not row.sent)
    policy = current_policy()
    return {
        "request_id": panel_request.id,
        "rows": rows,
        "sent_at": panel_request.materials_sent_at,
        "unsent": unsent,
        "can_upload": writable,
        "can_send": writable and panel_request.status is PanelRequestStatus.CONFIRMED and unsent > 0,
        "confirmed": panel_request.status is PanelRequestStatus.CONFIRMED,
        "warnings": (materials_warnings(panel_request, policy)
                     if standalone and not expert and panel_request.status in OPEN_STATUSES else []),
        "preferred_days": policy.materials_preferred_days,
        "accepted": ACCEPTED_LABEL,
        "accept_attribute": ACCEPT_ATTRIBUTE,
        "max_size": size_label(),
        "back": "materials" if standalone else "request",
        "for_expert": expert,
    }
