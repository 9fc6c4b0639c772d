"""The audit log is append-only and its hash chain names the first tampered row."""
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from experts_service.core import audit
from experts_service.core.audit import AuditEntry
from experts_service.extensions import db


def _entries(count: int) -> list[int]:
    ids = [audit.record(None, "test.event", "thing", n, note=f"第{n}条").id for n in range(count)]
    db.session.commit()
    return ids


def test_chain_of_fresh_database_verifies(app, runner):
    _entries(5)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "审计日志完整" in result.output
    assert audit.verify().checked == db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))


def test_database_refuses_update_and_delete(app):
    entry_id = _entries(2)[0]
    with pytest.raises(DatabaseError):
        db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == entry_id).values(action="x"))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(DatabaseError):
        db.session.execute(sa.delete(AuditEntry).where(AuditEntry.id == entry_id))
        db.session.flush()
    db.session.rollback()
    assert audit.verify().ok


def test_verify_names_the_edited_row(app, runner, unguarded_audit_log):
    ids = _entries(6)
    target = db.session.get(AuditEntry, ids[3])
    target_seq = target.seq
    db.session.execute(
        sa.update(AuditEntry).where(AuditEntry.id == ids[3]).values(summary={"note": "改过的内容"})
    )
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"序号 {target_seq}（id {ids[3]}）" in result.output
    assert "内容被修改" in result.output


def test_verify_detects_a_deleted_row(app, runner, unguarded_audit_log):
    ids = _entries(5)
    removed_seq = db.session.get(AuditEntry, ids[2]).seq
    db.session.execute(sa.delete(AuditEntry).where(AuditEntry.id == ids[2]))
    db.session.commit()
    result = audit.verify()
    assert not result.ok
    assert result.broken_seq == removed_seq + 1
    assert "序号不连续" in result.reason


def test_verify_detects_a_rehashed_row(app, unguarded_audit_log):
    """Recomputing the edited row's own hash still breaks the link to the next row."""
    ids = _entries(4)
    entry = db.session.get(AuditEntry, ids[1])
    entry.summary = {"note": "伪造"}
    forged_hash = entry.compute_hash()
    db.session.expire(entry)
    db.session.execute(
        sa.update(AuditEntry).where(AuditEntry.id == ids[1]).values(summary={"note": "伪造"}, entry_hash=forged_hash)
    )
    db.session.commit()
    result = audit.verify()
    assert result.broken_id == ids[2]
    assert "前序哈希" in result.reason
