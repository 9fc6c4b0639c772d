"""The request/command boundary: one commit, integrity races turned into 409s."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from experts_service.core.errors import Conflict
from experts_service.extensions import db


def commit() -> None:
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent request won a unique constraint (e.g. the same ID
        # number twice); the checks in the operation ran before it committed.
        db.session.rollback()
        raise Conflict("与同时提交的其他记录冲突，请刷新后重试") from None
