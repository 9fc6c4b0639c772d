"""The request/command boundary: one commit, integrity races turned into 409s."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from experts_service.core.errors import Conflict
from experts_service.extensions import db


def commit(*, keep_loaded: bool = False) -> None:
    """Commit the request's transaction.

    `keep_loaded`: the session's objects keep the values just written instead
    of being read back when next touched. For answering with an immutable
    record (a recommendation of 100,000 experts is about 0.4 MB of JSON,
    7 ms to read back), whose written values are what the database holds.
    """
    session = db.session()
    expire_on_commit = session.expire_on_commit
    session.expire_on_commit = not keep_loaded and expire_on_commit
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request won a unique constraint (e.g. the same ID
        # number twice); the checks in the operation ran before it committed.
        session.rollback()
        raise Conflict("与同时提交的其他记录冲突，请刷新后重试") from None
    finally:
        session.expire_on_commit = expire_on_commit
