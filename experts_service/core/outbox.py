"""The search outbox: index changes recorded in the same transaction as the data.

Whoosh is derived data. Every change to what an expert's index document
holds adds an outbox row in the transaction that makes the change (a
`before_flush` hook, so no code path can forget it); after the commit the
rows are applied to the index. A rollback discards the rows with the data,
so the index never runs ahead of the database; a crash after the commit
leaves rows that the next drain applies.
"""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from experts_service.core.db import Base, enum_column, utcnow


class OutboxOp(str, enum.Enum):
    UPSERT = "upsert"
    DELETE = "delete"


class SearchOutbox(Base):
    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(index=True)
    op: Mapped[OutboxOp] = mapped_column(enum_column(OutboxOp, "outbox_op"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _expert_ids_touched(session: Session) -> tuple[set[int], set[int]]:
    """Experts whose index document changes with this flush: (upserts, deletes)."""
    from experts_service.experts.models import Expert
    from experts_service.reference.models import Organisation

    upserts: set[int] = set()
    deletes: set[int] = set()
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Expert) and (obj in session.new or session.is_modified(obj)):
            upserts.add(obj)  # ids may not exist yet; resolved after flush
        elif isinstance(obj, Organisation) and obj.id is not None and session.is_modified(obj):
            # The employer's name is indexed with each of its experts.
            upserts.update(
                session.execute(sa.select(Expert.id).where(Expert.employer_id == obj.id)).scalars()
            )
    for obj in session.deleted:
        if isinstance(obj, Expert) and obj.id is not None:
            deletes.add(obj.id)
    return upserts, deletes


def install(session_class) -> None:
    """Hook the outbox into every session of the app."""

    @sa.event.listens_for(session_class, "before_flush")
    def _collect(session: Session, _context, _instances) -> None:
        upserts, deletes = _expert_ids_touched(session)
        pending = session.info.setdefault("outbox_pending", set())
        pending.update(upserts)
        session.info.setdefault("outbox_deletes", set()).update(deletes)

    @sa.event.listens_for(session_class, "after_flush_postexec")
    def _write(session: Session, _context) -> None:
        pending = session.info.pop("outbox_pending", set())
        deletes = session.info.pop("outbox_deletes", set())
        rows = []
        for item in pending:
            expert_id = item if isinstance(item, int) else item.id
            if expert_id is not None:
                rows.append({"expert_id": expert_id, "op": OutboxOp.UPSERT})
        rows.extend({"expert_id": expert_id, "op": OutboxOp.DELETE} for expert_id in deletes)
        if rows:
            session.execute(sa.insert(SearchOutbox), rows)
            session.info["outbox_dirty"] = True
