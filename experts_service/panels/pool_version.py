"""A counter that moves with every committed change to what the matcher reads.

`facts.gather` keeps the request-independent facts of the whole pool in
memory between requests (reading them costs most of a second at 100,000
experts). That copy is only as good as the test of whether it is current, so
every transaction that changes a table the facts come from also increments
one row, `match_pool_state.version`, in the same transaction: a `before_flush`
hook for changes through the ORM and a `do_orm_execute` hook for bulk
statements, so no code path can forget it. A reader compares the committed
version with the one its copy was read at.

Why a counter on one row, not an append-only log: on PostgreSQL the row lock
makes the writers of pool facts take their versions in commit order, so a
reader can never have seen a later version while an earlier one is still to
commit. Such writes are rare (an expert's record, an organisation, the
taxonomy, an engagement), so the short wait costs nothing.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from experts_service.core.db import Base

# The one row.
STATE_ID = 1
# session.info key: this transaction changed pool facts and has not committed yet.
CHANGED_IN_TRANSACTION = "match_pool_changed"


class MatchPoolState(Base):
    __tablename__ = "match_pool_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)


def tracked_tables() -> frozenset[str]:
    """The tables `facts` reads the pool from."""
    from experts_service.experts.models import (
        ConflictDeclaration,
        Expert,
        UnavailablePeriod,
        expert_secondary_domains,
    )
    from experts_service.panels.models import EmploymentRecord, Engagement
    from experts_service.reference.models import Domain, Organisation, Tier

    return frozenset(model.__tablename__ for model in (
        Expert, ConflictDeclaration, UnavailablePeriod, EmploymentRecord, Engagement, Organisation, Domain, Tier,
    )) | {expert_secondary_domains.name}


def _changes_pool(session: Session, tables: frozenset[str]) -> bool:
    for obj in session.new | session.deleted:
        if getattr(obj, "__tablename__", None) in tables:
            return True
    # Dirty only means touched; a collection change (secondary domains) counts as a change of the expert.
    return any(getattr(obj, "__tablename__", None) in tables and session.is_modified(obj) for obj in session.dirty)


def _bump(session: Session) -> None:
    session.info[CHANGED_IN_TRANSACTION] = True
    state = MatchPoolState.__table__
    moved = session.execute(sa.update(state).where(state.c.id == STATE_ID).values(version=state.c.version + 1))
    if moved.rowcount == 0:
        # The migration makes the row; a database emptied table by table (the PostgreSQL tests) has lost it.
        session.execute(sa.insert(state).values(id=STATE_ID, version=1))


def install(session_class) -> None:
    """Hook the counter into every session of the app."""
    tables: frozenset[str] | None = None

    def tracked() -> frozenset[str]:
        nonlocal tables
        if tables is None:
            tables = tracked_tables()
        return tables

    @sa.event.listens_for(session_class, "before_flush")
    def _note(session: Session, _context, _instances) -> None:
        if _changes_pool(session, tracked()):
            session.info["match_pool_flush_changes"] = True

    @sa.event.listens_for(session_class, "after_flush_postexec")
    def _write(session: Session, _context) -> None:
        if session.info.pop("match_pool_flush_changes", False):
            _bump(session)

    @sa.event.listens_for(session_class, "do_orm_execute")
    def _bulk(orm_execute_state) -> None:
        if not (orm_execute_state.is_insert or orm_execute_state.is_update or orm_execute_state.is_delete):
            return
        table = getattr(orm_execute_state.statement, "table", None)
        if table is not None and table.name in tracked():
            _bump(orm_execute_state.session)

    @sa.event.listens_for(session_class, "after_commit")
    @sa.event.listens_for(session_class, "after_rollback")
    def _settled(session: Session) -> None:
        session.info.pop(CHANGED_IN_TRANSACTION, None)
        session.info.pop("match_pool_flush_changes", None)


def committed_version(session: Session) -> int | None:
    """The version of the committed pool, or None when it cannot be trusted for a cached copy.

    None when this session's own transaction has changed the pool (its
    uncommitted state must not be remembered: it may yet roll back) or the
    row is missing (a schema made without the migration).
    """
    state = MatchPoolState.__table__
    version = session.execute(sa.select(state.c.version).where(state.c.id == STATE_ID)).scalar_one_or_none()
    if session.info.get(CHANGED_IN_TRANSACTION):
        return None
    return version
