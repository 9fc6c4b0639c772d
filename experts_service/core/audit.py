"""Append-only, hash-chained audit log.

Each entry's hash covers its own content and the previous entry's hash, so
changing, removing or inserting a row anywhere breaks the chain from there
on; `flask audit verify` walks the chain and names the first broken entry.
The database also refuses UPDATE and DELETE on the table (triggers below),
so tampering needs deliberate DDL, which the chain still catches.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import DDL, event
from sqlalchemy.orm import Mapped, mapped_column

from experts_service.core.db import Base, utcnow
from experts_service.extensions import db

GENESIS_HASH = "0" * 64
# Arbitrary constant naming the PostgreSQL advisory lock that serialises appends.
AUDIT_CHAIN_LOCK_ID = 0x41554449  # "AUDI"
SYSTEM_ACTOR = "system"


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(index=True)
    actor_label: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(80), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(60))
    object_id: Mapped[str | None] = mapped_column(sa.String(60))
    summary: Mapped[dict] = mapped_column(sa.JSON)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    __table_args__ = (sa.Index("ix_audit_entries_object", "object_type", "object_id"),)

    def payload(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "created_at": self.created_at.isoformat(timespec="microseconds"),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "summary": self.summary,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        canonical = json.dumps(self.payload(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# Database-level append-only guard. The same statements are applied by the
# migration; these listeners cover schemas made with create_all.
SQLITE_GUARD = [
    "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
    "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
    "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries "
    "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
]
POSTGRES_GUARD = [
    "CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_entries is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries "
    "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
]
SQLITE_GUARD_DROP = [
    "DROP TRIGGER IF EXISTS audit_entries_no_update",
    "DROP TRIGGER IF EXISTS audit_entries_no_delete",
]
POSTGRES_GUARD_DROP = [
    "DROP TRIGGER IF EXISTS audit_entries_no_change ON audit_entries",
    "DROP FUNCTION IF EXISTS audit_entries_append_only()",
]

for _statement in SQLITE_GUARD:
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in POSTGRES_GUARD:
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


def actor_label(actor) -> str:
    if actor is None:
        return SYSTEM_ACTOR
    return f"{actor.username}({actor.role.value})"


def record(actor, action: str, obj_type: str, obj_id: Any = None, **summary: Any) -> AuditEntry:
    """Append one entry in the caller's transaction (flushed, not committed).

    `summary` must hold no personal data in clear: pass masked values.
    """
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends so two transactions never chain onto the same tail.
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": AUDIT_CHAIN_LOCK_ID})
    tail = session.execute(
        sa.select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    entry = AuditEntry(
        seq=(tail.seq + 1) if tail else 1,
        created_at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_label=actor_label(actor),
        action=action,
        object_type=obj_type,
        object_id=None if obj_id is None else str(obj_id),
        summary=_jsonable(summary),
        prev_hash=tail.entry_hash if tail else GENESIS_HASH,
    )
    entry.entry_hash = entry.compute_hash()
    session.add(entry)
    session.flush()
    return entry


def record_refusal(actor, refusal) -> AuditEntry:
    """Roll back the refused transaction, then append and commit the refusal's entry on its own
    (`errors.AuditedRefusal`): what was attempted stays on record, nothing of it is written."""
    db.session.rollback()
    entry = record(actor, refusal.action, refusal.obj_type, refusal.obj_id, refused=refusal.message,
                   **refusal.summary)
    db.session.commit()
    return entry


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so the hashed form equals what the database returns."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify() -> VerifyResult:
    """Walk the whole chain in order, streaming (the log grows without bound)."""
    result = db.session.execute(sa.select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000))
    try:
        return verify_entries(result.scalars())
    finally:
        result.close()


def verify_entries(entries: Iterable[AuditEntry]) -> VerifyResult:
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in entries:
        if entry.seq != expected_seq:
            return VerifyResult(checked, entry.seq, entry.id, f"序号不连续：应为 {expected_seq}，实为 {entry.seq}（有记录被删除或插入）")
        if entry.prev_hash != expected_prev:
            return VerifyResult(checked, entry.seq, entry.id, "前序哈希与上一条记录不符")
        if entry.compute_hash() != entry.entry_hash:
            return VerifyResult(checked, entry.seq, entry.id, "记录内容与其哈希不符（内容被修改）")
        expected_prev = entry.entry_hash
        expected_seq += 1
        checked += 1
    return VerifyResult(checked)
