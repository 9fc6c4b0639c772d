"""After the invitations: attendance, signed opinions that never change, adoption feedback and its public
page, and ratings within the policy's parts and window."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from experts_service.consultation import engagements as records
from experts_service.consultation.models import Opinion, OpinionImmutable
from experts_service.core.audit import AuditEntry
from experts_service.core.clock import display_zone, today
from experts_service.core.errors import AuditedRefusal, Conflict, Forbidden, ValidationFailed
from experts_service.extensions import db
from tests.api.helpers import API, assert_error
from tests.conftest import api_token
from tests.consultation.helpers import pool_with_accounts, seated_panel

FULL_OPINION = {"necessity": "城市更新势在必行。", "legality": "符合上位法。", "feasibility": "资金来源需进一步明确。",
                "risks": "拆迁补偿争议。", "suggestions": "分期实施，先行试点。", "conclusion": "agree_with_changes",
                "dissent": ""}
GOOD_RATING = {"quality": 28, "professionalism": 22, "punctuality": 15, "discipline": 14, "confidentiality": 15}


@pytest.fixture
def served(factory, app):
    """A confirmed 5-seat meeting, every member accepted, the clock on the meeting day."""
    panelled = pool_with_accounts(factory)
    request, engagements = seated_panel(panelled)
    app.config["CLOCK_NOW"] = datetime.combine(request.meeting_date, time(15), tzinfo=display_zone()
                                               ).astimezone(timezone.utc)
    yield panelled, request, engagements
    app.config.pop("CLOCK_NOW", None)


def audit_actions(action: str) -> list[AuditEntry]:
    return list(db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == action)).scalars())


def submit(panelled, engagement, data=FULL_OPINION) -> Opinion:
    opinion = records.save_opinion(panelled.user_of(engagement.expert_id), engagement, dict(data), submit=True)
    db.session.commit()
    return opinion


def test_attendance_on_time_late_absent_and_its_rules(served):
    panelled, request, engagements = served
    department = panelled.department_user
    records.record_attendance(department, engagements[0], {"attendance": "on_time"})
    late = records.record_attendance(department, engagements[1], {"attendance": "late", "minutes_late": 20})
    records.record_attendance(department, engagements[2], {"attendance": "absent"})
    db.session.commit()
    assert late.minutes_late == 20
    with pytest.raises(ValidationFailed):
        records.record_attendance(department, engagements[3], {"attendance": "late"})
    with pytest.raises(Forbidden):
        records.record_attendance(panelled.user_of(engagements[3].expert_id), engagements[3],
                                  {"attendance": "on_time"})
    db.session.rollback()
    # An absent expert has no opinion to give.
    with pytest.raises(Conflict):
        records.save_opinion(panelled.user_of(engagements[2].expert_id), engagements[2], dict(FULL_OPINION))


def test_a_submitted_opinion_is_signed_and_its_hash_checks_out(served):
    panelled, request, engagements = served
    with pytest.raises(ValidationFailed) as incomplete:
        records.save_opinion(panelled.user_of(engagements[0].expert_id), engagements[0],
                             {"necessity": "有必要"}, submit=True)
    assert {"legality", "conclusion"} <= set(incomplete.value.fields)
    db.session.rollback()
    opinion = submit(panelled, engagements[0])
    assert opinion.submitted_at is not None and len(opinion.content_hash) == 64
    assert records.signature_holds(opinion)
    opinion.risks = "改动"  # in memory only: the signature no longer matches what it covers
    assert not records.signature_holds(opinion)
    db.session.rollback()


def test_a_signed_opinion_cannot_change_through_operations_orm_or_sql(served):
    panelled, request, engagements = served
    opinion = submit(panelled, engagements[0])
    expert = panelled.user_of(engagements[0].expert_id)
    for attempt in (lambda: records.save_opinion(expert, engagements[0], {"risks": "改写"}),
                    lambda: records.save_opinion(expert, engagements[0], dict(FULL_OPINION), submit=True),
                    lambda: records.delete_opinion(expert, opinion)):
        with pytest.raises(AuditedRefusal) as refused:
            attempt()
        assert refused.value.action == "opinion.change_refused"
        db.session.rollback()
    opinion = db.session.get(Opinion, opinion.id)
    opinion.risks = "绕过业务层直接改写"
    with pytest.raises(OpinionImmutable):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE opinions SET risks = 'SQL 改写' WHERE id = :id"), {"id": opinion.id})
    with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM opinions WHERE id = :id"), {"id": opinion.id})
    stored = db.session.get(Opinion, opinion.id)
    db.session.refresh(stored)
    assert stored.risks == FULL_OPINION["risks"] and records.signature_holds(stored)


def test_through_the_api_the_attempt_is_refused_and_audited(served, live_server, http):
    panelled, request, engagements = served
    engagement = engagements[0]
    expert = api_token(live_server, panelled.user_of(engagement.expert_id).username)
    draft = http.put(f"{API}/engagements/{engagement.id}/opinion", json={"necessity": "草稿"}, headers=expert)
    assert draft.status_code == 200 and draft.json()["submitted_at"] is None
    submitted = http.post(f"{API}/engagements/{engagement.id}/opinion/submission", json=FULL_OPINION,
                          headers=expert)
    assert submitted.status_code == 201, submitted.text
    body = submitted.json()
    assert body["signature_holds"] is True and body["content_hash"]
    refused = http.put(f"{API}/engagements/{engagement.id}/opinion", json={"risks": "改写"}, headers=expert)
    assert_error(refused, 409, "conflict", {"opinion"})
    assert_error(http.delete(f"{API}/opinions/{body['id']}", headers=expert), 409, "conflict", {"opinion"})
    db.session.rollback()
    entries = audit_actions("opinion.change_refused")
    assert [e.summary["attempted"] for e in entries] == ["edit", "delete"]
    assert all(e.object_id == str(body["id"]) for e in entries)
    assert db.session.get(Opinion, body["id"]).risks == FULL_OPINION["risks"]
    # A draft is the expert's own; the submitted opinion is readable by the department.
    department = api_token(live_server, panelled.department_user.username)
    assert http.get(f"{API}/opinions/{body['id']}", headers=department).json()["conclusion"] == "agree_with_changes"


def test_adoption_feedback_needs_a_reason_unless_adopted_and_only_open_items_are_public(served, live_server, http):
    panelled, request, engagements = served
    opinion = submit(panelled, engagements[0])
    department = panelled.department_user
    with pytest.raises(ValidationFailed):
        records.record_adoption(department, opinion, {"decision": "not_adopted", "reason": ""})
    db.session.rollback()
    feedback = records.record_adoption(department, opinion, {"decision": "partly_adopted", "reason": "资金另行安排"})
    db.session.commit()
    assert feedback.published_at is not None
    public = http.get(f"{API}/public/adoption-feedback").json()
    assert [(p["item_title"], p["decision"], p["reason"]) for p in public] == [
        (request.item.title, "部分采纳", "资金另行安排")]
    # The same for a confidential item: recorded, never public.
    request.item.confidential = True
    db.session.commit()
    second = submit(panelled, engagements[1])
    records.record_adoption(department, second, {"decision": "adopted"})
    db.session.commit()
    assert len(http.get(f"{API}/public/adoption-feedback").json()) == 0
    with pytest.raises(Forbidden):
        records.record_adoption(panelled.world.office, second, {"decision": "adopted"})


def test_ratings_within_the_parts_once_and_overdue_ones_are_listed(served, app):
    panelled, request, engagements = served
    department = panelled.department_user
    with pytest.raises(ValidationFailed) as out_of_range:
        records.rate(department, engagements[0], {**GOOD_RATING, "quality": 31})
    assert set(out_of_range.value.fields) == {"quality"}
    db.session.rollback()
    rating = records.rate(department, engagements[0], dict(GOOD_RATING, comment="意见扎实"))
    db.session.commit()
    assert rating.total == sum(GOOD_RATING.values()) and rating.due_on > request.meeting_date
    with pytest.raises(Conflict):
        records.rate(department, engagements[0], dict(GOOD_RATING))
    db.session.rollback()
    assert records.overdue_ratings(day=request.meeting_date + timedelta(days=1)) == []
    overdue = records.overdue_ratings(day=rating.due_on + timedelta(days=1))
    assert [e.id for e in overdue] == [e.id for e in engagements[1:]]
    assert today() == request.meeting_date


def test_the_request_completes_when_every_seated_member_is_dealt_with(served):
    panelled, request, engagements = served
    department = panelled.department_user
    absent, *present = engagements
    records.record_attendance(department, absent, {"attendance": "absent"})
    for engagement in present:
        records.record_attendance(department, engagement, {"attendance": "on_time"})
    db.session.commit()
    for engagement in present[:-1]:
        submit(panelled, engagement)
    assert request.status.value == "confirmed", "one opinion is still missing"
    submit(panelled, present[-1])
    assert request.status.value == "completed"
    assert len(audit_actions("panel_request.complete")) == 1
    # Ratings and adoption feedback go on after completion.
    records.rate(department, present[0], dict(GOOD_RATING))
    db.session.commit()


def test_a_signature_holds_when_the_clock_is_pinned_in_local_time(served, app):
    """The signed time is hashed as UTC, the form the database hands back, whatever zone pinned the clock."""
    panelled, request, engagements = served
    app.config["CLOCK_NOW"] = datetime.combine(request.meeting_date, time(16), tzinfo=display_zone())
    opinion = submit(panelled, engagements[0])
    db.session.expire_all()
    assert records.signature_holds(db.session.get(Opinion, opinion.id))
