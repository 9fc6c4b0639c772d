"""Supporting documents on disk under instance/documents/.

The type is decided by the file's first bytes, not by its name or the
browser's claim; the stored name is random, so a name in a request can
never reach another file. Files are written before the row is flushed: a
rolled-back request may leave an orphan file, never a row without its file.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from experts_service.core.errors import ValidationFailed

# Below the request limit (MAX_CONTENT_LENGTH, 2 MiB) so the form's other fields still fit.
MAX_DOCUMENT_BYTES = 1_800_000
MAX_NAME_LENGTH = 200
# Magic bytes -> (content type, accepted file name endings).
SIGNATURES = (
    (b"%PDF-", "application/pdf", (".pdf",)),
    (b"\x89PNG\r\n\x1a\n", "image/png", (".png",)),
    (b"\xff\xd8\xff", "image/jpeg", (".jpg", ".jpeg")),
)
ACCEPTED_LABEL = "PDF、JPG 或 PNG"


@dataclass(frozen=True)
class CheckedFile:
    original_name: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def check_file(filename: str | None, data: bytes) -> CheckedFile:
    """Type and size; raises ValidationFailed on the `file` field."""
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    if not name:
        raise ValidationFailed(fields={"file": ["请选择要上传的文件"]})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed(fields={"file": [f"文件名不超过 {MAX_NAME_LENGTH} 字"]})
    if not data:
        raise ValidationFailed(fields={"file": ["文件为空"]})
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed(fields={"file": [f"文件不能超过 {MAX_DOCUMENT_BYTES // 1000} KB"]})
    for magic, content_type, endings in SIGNATURES:
        if data.startswith(magic):
            if not name.lower().endswith(endings):
                raise ValidationFailed(fields={"file": ["文件扩展名与文件内容不符"]})
            return CheckedFile(name, content_type, data)
    raise ValidationFailed(fields={"file": [f"仅接受 {ACCEPTED_LABEL} 文件"]})


def stored_columns(checked: CheckedFile) -> dict:
    """What every stored-file row keeps of an upload; writes the bytes under a new random name."""
    return {"original_name": checked.original_name, "stored_name": store(checked),
            "content_type": checked.content_type, "size_bytes": len(checked.data), "sha256": checked.sha256}


def storage_dir() -> Path:
    path = Path(current_app.instance_path) / "documents"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def store(checked: CheckedFile) -> str:
    """Write the bytes under a new random name; returns that name."""
    stored_name = secrets.token_hex(24)
    target = storage_dir() / stored_name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(checked.data)
    return stored_name


def path_of(stored_name: str) -> Path:
    return storage_dir() / stored_name


def send(document):
    """The file as a download; read whole (they are small) so no handle outlives the response."""
    from io import BytesIO

    from flask import send_file

    data = path_of(document.stored_name).read_bytes()
    return send_file(BytesIO(data), mimetype=document.content_type, as_attachment=True,
                     download_name=document.original_name)
