"""Integrity records: what the workflow and the talent office record, the
expert's appeal, and the sanctions the ladder derives from what stands.

Every change to an expert's standing events ends in `recompute`, which runs
the ladder over the events that stand now and reconciles the stored
sanctions and the expert's status with it. Nothing is adjusted by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from experts_service.core import audit
from experts_service.core.auth import Role, authorize
from experts_service.core.clock import display_zone, now, today
from experts_service.core.errors import Conflict, NotFound, ValidationFailed
from experts_service.core.paging import Page
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.integrity import ladder
from experts_service.integrity.models import (
    MANUAL_KINDS,
    AppealStatus,
    EventKind,
    EventSource,
    EventStatus,
    IntegrityAppeal,
    IntegrityEvent,
    IntegrityEvidence,
    Sanction,
    SanctionKind,
    SanctionStatus,
    Severity,
)
from experts_service.lifecycle import documents
from experts_service.policy import current_policy

MAX_DESCRIPTION = 2000
MAX_REASON = 1000
EVENT_LINK = "/integrity/events/{id}"
OWN_RECORDS_LINK = "/my/integrity"
APPEALS_LINK = "/integrity/appeals"


def _text(value: str | None, field_name: str, label: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(fields={field_name: [f"请填写{label}"]})
    if len(text) > limit:
        raise ValidationFailed(fields={field_name: [f"{label}不超过 {limit} 字"]})
    return text


def _local_day(moment) -> date:
    return moment.astimezone(display_zone()).date()


def lock_expert_row(expert_id: int) -> None:
    """One change to an expert's integrity at a time, taken before the first audit entry of the transaction
    (the audit chain's lock comes after row locks everywhere, so the two never wait on each other).

    PostgreSQL: a row lock. SQLite: a write, which takes the database's single write lock at once, so
    nothing read afterwards can be stale.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(Expert.id).where(Expert.id == expert_id).with_for_update())
    else:
        db.session.execute(sa.text("UPDATE experts SET id = id WHERE id = :id"), {"id": expert_id})


# ---------------------------------------------------------------- recomputation


@dataclass
class Recomputed:
    # Events new in this transaction: their notice goes out with the full numbers, once.
    created: set[int] = field(default_factory=set)
    rescored: list[int] = field(default_factory=list)
    imposed: list[Sanction] = field(default_factory=list)
    revoked: list[Sanction] = field(default_factory=list)
    status_change: str | None = None


def standing_events(expert_id: int) -> list[IntegrityEvent]:
    return list(db.session.execute(sa.select(IntegrityEvent).where(
        IntegrityEvent.expert_id == expert_id, IntegrityEvent.status == EventStatus.STANDING,
    ).order_by(IntegrityEvent.occurred_on, IntegrityEvent.id)).scalars())


def _fact(event: IntegrityEvent) -> ladder.EventFact:
    return ladder.EventFact(event.id, event.kind, event.occurred_on, _local_day(event.created_at), event.appeal_until)


def sanctions_of_expert(expert_id: int) -> list[Sanction]:
    return list(db.session.execute(
        sa.select(Sanction).where(Sanction.expert_id == expert_id).order_by(Sanction.starts_on, Sanction.id)
    ).scalars())


def _status_on(step: ladder.Step, day: date) -> SanctionStatus:
    if step.kind is SanctionKind.DISMISSAL:
        return SanctionStatus.PENDING
    if step.kind is SanctionKind.SUSPENSION:
        if day < step.starts_on:
            return SanctionStatus.PENDING
        if day >= step.ends_on:
            return SanctionStatus.ENDED
    return SanctionStatus.IN_FORCE


def recompute(actor, expert: Expert, cause: str, *, created: set[int] | None = None) -> Recomputed:
    """Derive everything again from the events that stand, and make the stored state match."""
    lock_expert_row(expert.id)
    policy = current_policy()
    day = today()
    events = standing_events(expert.id)
    derivation = ladder.derive([_fact(e) for e in events], policy)
    report = Recomputed(created=created or set())
    for event in events:
        scored = derivation.scores[event.id]
        if (event.severity, event.points) != (scored.severity, scored.points):
            audit.record(actor, "integrity.event.rescore", "integrity_event", event.id, cause=cause,
                         before=[event.severity.value, event.points], after=[scored.severity.value, scored.points])
            heavier = scored.points > event.points and event.id not in report.created
            event.severity, event.points = scored.severity, scored.points
            report.rescored.append(event.id)
            if heavier:
                # A heavier record is a new decision for the expert: a fresh appeal window, and word of it.
                event.appeal_until = max(event.appeal_until, _appeal_until(day))
                _tell_recorded(event, f"记录已重新认定（{cause}）")
    stored = {s.ladder_key: s for s in sanctions_of_expert(expert.id)
              if s.ladder_key is not None and s.status is not SanctionStatus.REVOKED}
    wanted = {step.key: step for step in derivation.steps}
    for key, sanction in stored.items():
        if key not in wanted:
            sanction.status = SanctionStatus.REVOKED
            sanction.status_reason = f"所依据的诚信记录已不再有效：{cause}"[:500]
            audit.record(actor, "sanction.revoke", "sanction", sanction.id, expert_id=expert.id, cause=cause)
            report.revoked.append(sanction)
    by_id = {e.id: e for e in events}
    for key, step in wanted.items():
        if key in stored:
            _follow(actor, stored[key], step, [by_id[i] for i in step.event_ids], day)
            continue
        sanction = Sanction(expert_id=expert.id, kind=step.kind, status=_status_on(step, day), ladder_key=key,
                            starts_on=step.starts_on, ends_on=step.ends_on, explanation=step.explanation,
                            created_by_id=getattr(actor, "id", None),
                            events=[by_id[i] for i in step.event_ids])
        db.session.add(sanction)
        db.session.flush()
        audit.record(actor, "sanction.impose", "sanction", sanction.id, expert_id=expert.id, kind=step.kind.value,
                     starts_on=step.starts_on, ends_on=step.ends_on, event_ids=list(step.event_ids),
                     status=sanction.status.value)
        report.imposed.append(sanction)
    db.session.flush()
    report.status_change = enforce_status(expert)
    _execute_due_dismissals(expert, day)
    _tell_about(expert, report)
    _refresh_open_assessment(expert)
    return report


def _follow(actor, sanction: Sanction, step: ladder.Step, events: list[IntegrityEvent], day: date) -> None:
    """The same step derived again with other dates or words (an earlier event fell away, the rules changed):
    the stored one follows it, its status read again from the new dates."""
    if (sanction.starts_on, sanction.ends_on, sanction.explanation) == (step.starts_on, step.ends_on, step.explanation):
        return
    before = [sanction.starts_on, sanction.ends_on]
    sanction.starts_on, sanction.ends_on, sanction.explanation = step.starts_on, step.ends_on, step.explanation
    sanction.events = events
    ended_early = sanction.status is SanctionStatus.ENDED and sanction.status_reason is not None
    if sanction.kind is SanctionKind.SUSPENSION and not ended_early:
        sanction.status = _status_on(step, day)
    audit.record(actor, "sanction.update", "sanction", sanction.id, expert_id=sanction.expert_id, before=before,
                 after=[step.starts_on, step.ends_on], status=sanction.status.value)


def dismissal_pending(expert_id: int) -> Sanction | None:
    return db.session.execute(sa.select(Sanction).where(
        Sanction.expert_id == expert_id, Sanction.kind == SanctionKind.DISMISSAL,
        Sanction.status == SanctionStatus.PENDING).limit(1)).scalar_one_or_none()


def _holding(sanctions: list[Sanction]) -> list[Sanction]:
    """What keeps an expert suspended: a suspension in force, or a dismissal waiting out its appeal."""
    return [s for s in sanctions if (s.kind is SanctionKind.SUSPENSION and s.status is SanctionStatus.IN_FORCE)
            or (s.kind is SanctionKind.DISMISSAL and s.status is SanctionStatus.PENDING)]


def enforce_status(expert: Expert) -> str | None:
    """Suspend while a sanction holds; reinstate when none does and the suspension was a sanction's."""
    from experts_service.lifecycle.operations import last_suspension, reinstate_now, suspend_now

    holding = _holding(sanctions_of_expert(expert.id))
    if expert.status is ExpertStatus.ACTIVE and holding:
        ends = [s.ends_on for s in holding]
        until = None if None in ends else max(ends)
        suspend_now(None, expert, "；".join(s.explanation for s in holding)[:500], until=until,
                    sanction_ids=[s.id for s in holding])
        return "suspended"
    if expert.status is ExpertStatus.SUSPENDED and not holding:
        last = last_suspension(expert)
        if last is not None and last.details.get("sanction_ids"):
            reinstate_now(None, expert, "暂停事由已消除（暂停期满或所依据记录已撤销），自动恢复资格",
                          sanction_ids=last.details["sanction_ids"])
            return "reinstated"
    return None


def _dismissal_due(sanction: Sanction, day: date) -> bool:
    for event in sanction.events:
        appeal = event.appeals[0] if event.appeals else None
        if appeal is not None and appeal.status is AppealStatus.PENDING:
            return False
        if appeal is None and event.appeal_until >= day:
            return False
    return True


def _execute_due_dismissals(expert: Expert, day: date) -> int:
    from experts_service.lifecycle.models import ExitReason
    from experts_service.lifecycle.operations import _exit

    done = 0
    for sanction in sanctions_of_expert(expert.id):
        if sanction.kind is not SanctionKind.DISMISSAL or sanction.status is not SanctionStatus.PENDING:
            continue
        if not _dismissal_due(sanction, day):
            continue
        sanction.status = SanctionStatus.EXECUTED
        if expert.status in (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED):
            _exit(None, expert, ExitReason.INTEGRITY, sanction.explanation[:500], "exit")
        else:
            sanction.status_reason = f"专家已处于“{expert.status.label}”状态，补记再申请禁止期"
            _ban_after_exit(expert, day)
        audit.record(None, "sanction.execute", "sanction", sanction.id, expert_id=expert.id)
        done += 1
    db.session.flush()
    return done


def _ban_after_exit(expert: Expert, day: date) -> None:
    """Left the pool another way while the dismissal waited (term end, age): the ban follows all the same."""
    from experts_service.lifecycle.models import ExpertExit
    from experts_service.lifecycle.operations import _add_years

    last = db.session.execute(sa.select(ExpertExit).where(ExpertExit.expert_id == expert.id)
                              .order_by(ExpertExit.id.desc()).limit(1)).scalar_one_or_none()
    if last is None:
        return
    ban_until = _add_years(day, current_policy().reapply_ban_years_integrity)
    if last.ban_until is None or last.ban_until < ban_until:
        before = last.ban_until
        last.ban_until = ban_until
        audit.record(None, "expert.ban", "expert", expert.id, exit_id=last.id, before=before, ban_until=ban_until)


def _tell_about(expert: Expert, report: Recomputed) -> None:
    from experts_service.notifications.operations import notify, users_of_expert, users_with_role

    for sanction in report.imposed:
        if sanction.status is SanctionStatus.ENDED:
            continue  # already over by the time it was derived: recorded, nothing to tell
        until = f"，至 {sanction.ends_on.isoformat()}" if sanction.ends_on else ""
        notify(users_of_expert(expert.id), "integrity.sanction", f"诚信处理：{sanction.kind.label}{until}",
               sanction.explanation, link=OWN_RECORDS_LINK)
        if sanction.kind is not SanctionKind.WARNING:
            notify(users_with_role(Role.TALENT_OFFICE), "integrity.sanction",
                   f"{expert.name}：{sanction.kind.label}{until}", sanction.explanation,
                   link=f"/experts/{expert.id}/integrity")
    for sanction in report.revoked:
        notify(users_of_expert(expert.id), "integrity.sanction", f"诚信处理已撤销：{sanction.kind.label}",
               sanction.status_reason or "", link=OWN_RECORDS_LINK)


def _refresh_open_assessment(expert: Expert) -> None:
    from experts_service.assessment.operations import refresh_expert

    refresh_expert(expert)


# ---------------------------------------------------------------- events from the workflow


def _appeal_until(day: date) -> date:
    return day + timedelta(days=current_policy().appeal_window_days)


def sync_workflow_event(expert: Expert, source: str, kind: EventKind | None, *, occurred_on: date | None = None,
                        description: str = "", panel_request_id: int | None = None) -> IntegrityEvent | None:
    """The event a workflow record (`source`, e.g. "attendance:12") implies, kept in step with the record;
    None: it implies none any more.

    The kind is part of the event's key: a record that changes from late to absent withdraws the one event
    and records the other, which the expert is told of and may appeal afresh. A revoked event (its appeal
    upheld) stays revoked whatever the record says later.
    """
    lock_expert_row(expert.id)
    mine = db.session.execute(sa.select(IntegrityEvent).where(
        IntegrityEvent.source_key.like(f"{source}:%"))).scalars().all()
    wanted_key = f"{source}:{kind.value}" if kind is not None else None
    changed = []
    for other in mine:
        if other.source_key != wanted_key and other.status is EventStatus.STANDING:
            other.status, other.status_reason = EventStatus.WITHDRAWN, "来源记录已更正，不再构成该项失信"
            audit.record(None, "integrity.event.withdraw", "integrity_event", other.id, source_key=other.source_key)
            changed.append(f"来源记录已更正（{other.kind.label}，{other.occurred_on.isoformat()}）")
    event = next((e for e in mine if e.source_key == wanted_key), None)
    created = set()
    if kind is not None and (event is None or event.status is EventStatus.WITHDRAWN):
        if event is None:
            # created_at from the service clock: the ladder dates sanctions from the day an event was recorded.
            event = IntegrityEvent(expert_id=expert.id, source=EventSource.WORKFLOW, source_key=wanted_key,
                                   created_at=now(), kind=kind, severity=Severity.MINOR, points=0,
                                   appeal_until=_appeal_until(today()))
            db.session.add(event)
        elif not event.appeals:
            event.appeal_until = max(event.appeal_until, _appeal_until(today()))
        event.occurred_on, event.description, event.panel_request_id = occurred_on, description, panel_request_id
        event.status, event.status_reason = EventStatus.STANDING, None
        db.session.flush()
        created.add(event.id)
        audit.record(None, "integrity.event.record", "integrity_event", event.id, expert_id=expert.id,
                     kind=kind.value, occurred_on=occurred_on, source_key=wanted_key)
        changed.append(f"新增诚信记录（{kind.label}，{occurred_on.isoformat()}）")
    if not changed:
        return event
    recompute(None, expert, "；".join(changed), created=created)
    if created:
        _tell_recorded(event)
    return event


def _tell_recorded(event: IntegrityEvent, heading: str = "新的诚信记录") -> None:
    from experts_service.notifications.operations import notify, users_of_expert

    costs = f"扣 {event.points} 分" if event.points else "不扣分"
    notify(users_of_expert(event.expert_id), "integrity.event",
           f"{heading}：{event.kind.label}（{event.severity.label}，{costs}）",
           f"{event.description}\n如有异议，可于 {event.appeal_until.isoformat()} 前提出申诉。",
           link=EVENT_LINK.format(id=event.id))


def attendance_recorded(record, request) -> None:
    """Late and absent come from the department's attendance record; a correction follows it."""
    from experts_service.consultation.models import Attendance

    engagement = record.engagement
    title = request.item.title
    kind, words = None, ""
    if record.attendance is Attendance.LATE:
        kind, words = EventKind.LATE, f"参加“{title}”论证会迟到 {record.minutes_late} 分钟"
    elif record.attendance is Attendance.ABSENT:
        kind, words = EventKind.ABSENT, f"未出席“{title}”论证会"
    if record.note:
        words += f"（出席记录备注：{record.note}）"
    sync_workflow_event(engagement.expert, f"attendance:{record.id}", kind, occurred_on=request.meeting_date,
                        description=words, panel_request_id=request.id)


def opinion_submitted(opinion, request) -> None:
    """An opinion signed after the consultation day (the meeting, or the written deadline) is late."""
    submitted_on = _local_day(opinion.submitted_at)
    due = request.consultation_date
    if submitted_on <= due:
        return
    sync_workflow_event(opinion.expert, f"opinion:{opinion.id}", EventKind.LATE_OPINION, occurred_on=submitted_on,
                        description=f"“{request.item.title}”书面意见应于 {due.isoformat()} 前提交，"
                                    f"实际于 {submitted_on.isoformat()} 提交",
                        panel_request_id=request.id)


def invitation_expired(invitation) -> None:
    """No answer by the deadline counts as a refusal without cause (a decline with a reason does not)."""
    request = invitation.panel_request
    sync_workflow_event(invitation.expert, f"invitation:{invitation.id}", EventKind.REFUSAL,
                        occurred_on=_local_day(invitation.respond_by),
                        description=f"“{request.item.title}”论证邀请逾期未答复（答复期限 "
                                    f"{invitation.respond_by.astimezone(display_zone()):%Y-%m-%d %H:%M}），视为拒绝",
                        panel_request_id=request.id)


# ---------------------------------------------------------------- events recorded by hand


def _store_evidence(actor, event: IntegrityEvent, files: list[tuple[str | None, bytes]]) -> list[IntegrityEvidence]:
    checked = [documents.check_file(name, data) for name, data in files]
    stored = []
    for item in checked:
        evidence = IntegrityEvidence(event=event, uploaded_at=now(), uploaded_by_id=getattr(actor, "id", None),
                                     **documents.stored_columns(item))
        db.session.add(evidence)
        stored.append(evidence)
    db.session.flush()
    for evidence in stored:
        audit.record(actor, "integrity.evidence.add", "integrity_event", event.id, evidence_id=evidence.id,
                     name=evidence.original_name, sha256=evidence.sha256)
    return stored


def record_event(actor, expert: Expert, data: dict[str, Any], files: list[tuple[str | None, bytes]]) -> IntegrityEvent:
    """The talent office records an event with its evidence (at least one file)."""
    authorize(actor, "integrity.record", expert)
    lock_expert_row(expert.id)
    errors: dict[str, list[str]] = {}
    try:
        kind = EventKind(data.get("kind"))
        if kind not in MANUAL_KINDS:
            raise ValueError
    except ValueError:
        kind = None
        errors["kind"] = ["请选择失信情形"]
    occurred_on = data.get("occurred_on")
    if not isinstance(occurred_on, date):
        errors["occurred_on"] = ["请填写发生日期"]
    elif occurred_on > today():
        errors["occurred_on"] = ["发生日期不能晚于今天"]
    description = (data.get("description") or "").strip()
    if not description:
        errors["description"] = ["请写明事实"]
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = [f"事实描述不超过 {MAX_DESCRIPTION} 字"]
    if not files:
        errors["file"] = ["请上传至少一份证据材料"]
    panel_request_id = data.get("panel_request_id")
    if panel_request_id is not None:
        from experts_service.panels.models import PanelRequest

        from experts_service.consultation.models import Invitation

        if not isinstance(panel_request_id, int) or isinstance(panel_request_id, bool) \
                or db.session.get(PanelRequest, panel_request_id) is None:
            errors["panel_request_id"] = ["未找到该论证申请"]
        elif db.session.execute(sa.select(Invitation.id).where(
                Invitation.panel_request_id == panel_request_id, Invitation.expert_id == expert.id).limit(1)
        ).first() is None:
            # The expert will read the item's title on the record: only a panel they were asked onto.
            errors["panel_request_id"] = ["该专家未受邀参加此论证"]
    if errors:
        raise ValidationFailed(fields=errors)
    if expert.status not in (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED):
        raise Conflict(f"专家当前状态为“{expert.status.label}”，不能登记诚信记录")
    event = IntegrityEvent(expert_id=expert.id, kind=kind, source=EventSource.MANUAL, occurred_on=occurred_on,
                           created_at=now(),
                           description=description, panel_request_id=panel_request_id,
                           appeal_until=_appeal_until(today()), severity=Severity.MINOR, points=0,
                           recorded_by_id=actor.id, status=EventStatus.STANDING)
    db.session.add(event)
    db.session.flush()
    _store_evidence(actor, event, files)
    audit.record(actor, "integrity.event.record", "integrity_event", event.id, expert_id=expert.id,
                 kind=kind.value, occurred_on=occurred_on, evidence=len(files))
    recompute(actor, expert, f"登记诚信记录（{kind.label}，{occurred_on.isoformat()}）", created={event.id})
    _tell_recorded(event)
    return event


def add_evidence(actor, event: IntegrityEvent, filename: str | None, data: bytes) -> IntegrityEvidence:
    authorize(actor, "integrity.record", event)
    if event.status is not EventStatus.STANDING:
        raise Conflict(f"该记录{event.status.label}，不能再补充证据")
    return _store_evidence(actor, event, [(filename, data)])[0]


def withdraw_event(actor, event: IntegrityEvent, reason: str) -> IntegrityEvent:
    """The office takes back a record it entered by mistake. Workflow records follow their source instead."""
    authorize(actor, "integrity.record", event)
    text = _text(reason, "reason", "撤回原因", 500)
    if event.source is not EventSource.MANUAL:
        raise Conflict("系统自动记录的失信随来源记录更正，或经申诉撤销，不能直接撤回")
    lock_expert_row(event.expert_id)
    db.session.refresh(event)
    if event.status is not EventStatus.STANDING:
        raise Conflict(f"该记录{event.status.label}")
    event.status, event.status_reason = EventStatus.WITHDRAWN, text
    db.session.flush()
    audit.record(actor, "integrity.event.withdraw", "integrity_event", event.id, reason=text)
    recompute(actor, event.expert, f"人才工作部门撤回记录：{text}")
    return event


# ---------------------------------------------------------------- appeals


def appealable(event: IntegrityEvent) -> bool:
    """What file_appeal accepts, for showing (or not) the form: standing, not appealed, within the window."""
    return event.status is EventStatus.STANDING and not event.appeals and today() <= event.appeal_until


def file_appeal(actor, event: IntegrityEvent, reason: str) -> IntegrityAppeal:
    authorize(actor, "integrity.appeal", event)
    text = _text(reason, "reason", "申诉理由", MAX_REASON)
    # Two appeals sent at once: the second waits here and then finds the first.
    lock_expert_row(event.expert_id)
    db.session.refresh(event)
    if event.status is not EventStatus.STANDING:
        raise Conflict(f"该记录{event.status.label}，无需申诉")
    earlier = db.session.execute(sa.select(IntegrityAppeal).where(IntegrityAppeal.event_id == event.id)
                                 ).scalar_one_or_none()
    if earlier is not None:
        raise Conflict(f"已于 {earlier.filed_at.astimezone(display_zone()):%Y-%m-%d} 提出申诉，每条记录只能申诉一次")
    if today() > event.appeal_until:
        raise Conflict(f"申诉期已于 {event.appeal_until.isoformat()} 届满")
    appeal = IntegrityAppeal(event=event, reason=text, filed_by_id=actor.id, status=AppealStatus.PENDING,
                             filed_at=now())
    db.session.add(appeal)
    db.session.flush()
    audit.record(actor, "integrity.appeal.file", "integrity_appeal", appeal.id, event_id=event.id)
    from experts_service.notifications.operations import notify, users_with_role

    notify(users_with_role(Role.TALENT_OFFICE), "integrity.appeal", f"{event.expert.name}对诚信记录提出申诉",
           f"{event.kind.label}（{event.occurred_on.isoformat()}）：{text}", link=APPEALS_LINK)
    return appeal


def decide_appeal(actor, appeal: IntegrityAppeal, upheld: bool, reason: str) -> IntegrityAppeal:
    """Upheld: the event is revoked and everything depending on it recomputed. Rejected: it stands, final."""
    authorize(actor, "integrity.decide", appeal)
    text = _text(reason, "reason", "处理意见", MAX_REASON)
    lock_expert_row(appeal.event.expert_id)
    db.session.refresh(appeal)
    if appeal.status is not AppealStatus.PENDING:
        raise Conflict(f"该申诉已处理：{appeal.status.label}")
    appeal.status = AppealStatus.UPHELD if upheld else AppealStatus.REJECTED
    appeal.decision_reason, appeal.decided_at, appeal.decided_by_id = text, now(), actor.id
    event = appeal.event
    if upheld:
        event.status, event.status_reason = EventStatus.REVOKED, f"申诉成立：{text}"[:500]
    db.session.flush()
    audit.record(actor, "integrity.appeal.decide", "integrity_appeal", appeal.id, event_id=event.id,
                 outcome=appeal.status.value, reason=text)
    recompute(actor, event.expert, f"申诉{'成立' if upheld else '不成立'}（{event.kind.label}，"
                                   f"{event.occurred_on.isoformat()}）")
    from experts_service.notifications.operations import notify, users_of_expert

    notify(users_of_expert(event.expert_id), "integrity.appeal", f"申诉处理结果：{appeal.status.label}", text,
           link=EVENT_LINK.format(id=event.id))
    return appeal


# ---------------------------------------------------------------- suspensions by hand, the daily run


def record_manual_suspension(actor, expert: Expert, reason: str, until: date) -> Sanction:
    sanction = Sanction(expert_id=expert.id, kind=SanctionKind.SUSPENSION, status=SanctionStatus.IN_FORCE,
                        starts_on=today(), ends_on=until, explanation=reason, created_by_id=getattr(actor, "id", None))
    db.session.add(sanction)
    db.session.flush()
    audit.record(actor, "sanction.impose", "sanction", sanction.id, expert_id=expert.id, kind="suspension",
                 starts_on=sanction.starts_on, ends_on=until, manual=True)
    return sanction


def end_suspensions_early(actor, expert: Expert, reason: str) -> list[Sanction]:
    """A manual reinstatement ends what holds the expert (kept as ended early, not revoked)."""
    ended = []
    for sanction in _holding(sanctions_of_expert(expert.id)):
        if sanction.kind is SanctionKind.SUSPENSION:
            sanction.status = SanctionStatus.ENDED
            sanction.status_reason = f"人才工作部门提前恢复资格：{reason}"[:500]
            audit.record(actor, "sanction.end_early", "sanction", sanction.id, expert_id=expert.id, reason=reason)
            ended.append(sanction)
    return ended


@dataclass
class DailyIntegrity:
    suspensions_started: int = 0
    suspensions_ended: int = 0
    reinstated: int = 0
    dismissed: int = 0

    def add(self, other: DailyIntegrity) -> None:
        for key, value in other.__dict__.items():
            setattr(self, key, getattr(self, key) + value)


def due_expert_ids(day: date) -> list[int]:
    """Experts with a suspension to start or end by `day`, or a dismissal waiting to be carried out."""
    suspension_due = sa.and_(Sanction.kind == SanctionKind.SUSPENSION, sa.or_(
        sa.and_(Sanction.status == SanctionStatus.PENDING, Sanction.starts_on <= day),
        sa.and_(Sanction.status.in_((SanctionStatus.PENDING, SanctionStatus.IN_FORCE)), Sanction.ends_on <= day)))
    dismissal_waiting = sa.and_(Sanction.kind == SanctionKind.DISMISSAL, Sanction.status == SanctionStatus.PENDING)
    return list(db.session.execute(sa.select(Sanction.expert_id).where(sa.or_(suspension_due, dismissal_waiting))
                                   .distinct().order_by(Sanction.expert_id)).scalars())


def run_daily_for(expert_id: int, day: date) -> DailyIntegrity:
    """One expert's sanctions on `day`: suspensions start and end on their dates, a dismissal whose appeal
    time is over is carried out. The expert's lock first, then the records, then the audit entries."""
    lock_expert_row(expert_id)
    report = DailyIntegrity()
    for sanction in db.session.execute(sa.select(Sanction).where(
            Sanction.expert_id == expert_id, Sanction.kind == SanctionKind.SUSPENSION,
            Sanction.status.in_((SanctionStatus.PENDING, SanctionStatus.IN_FORCE)))).scalars().all():
        db.session.refresh(sanction)
        before = sanction.status
        if sanction.ends_on <= day:
            sanction.status = SanctionStatus.ENDED
            report.suspensions_ended += 1
        elif before is SanctionStatus.PENDING and sanction.starts_on <= day:
            sanction.status = SanctionStatus.IN_FORCE
            report.suspensions_started += 1
        if sanction.status is not before:
            audit.record(None, "sanction.status", "sanction", sanction.id, expert_id=expert_id,
                         before=before.value, after=sanction.status.value)
    db.session.flush()
    expert = db.session.get(Expert, expert_id)
    report.reinstated += enforce_status(expert) == "reinstated"
    report.dismissed += _execute_due_dismissals(expert, day)
    return report


def run_daily(day: date | None = None) -> DailyIntegrity:
    """Every expert due on `day`, in one transaction (tests, small runs; the command commits per expert)."""
    day = day or today()
    report = DailyIntegrity()
    for expert_id in due_expert_ids(day):
        report.add(run_daily_for(expert_id, day))
    return report


# ---------------------------------------------------------------- reading


def get_event(actor, event_id: int, permission: str = "integrity.read") -> IntegrityEvent:
    event = db.session.get(IntegrityEvent, event_id)
    if event is None:
        raise NotFound("未找到该诚信记录")
    authorize(actor, permission, event)
    return event


def get_appeal(actor, appeal_id: int, permission: str = "integrity.decide") -> IntegrityAppeal:
    appeal = db.session.get(IntegrityAppeal, appeal_id)
    if appeal is None:
        raise NotFound("未找到该申诉")
    authorize(actor, permission, appeal)
    return appeal


def get_evidence(actor, evidence_id: int) -> IntegrityEvidence:
    evidence = db.session.get(IntegrityEvidence, evidence_id)
    if evidence is None:
        raise NotFound("未找到该证据材料")
    authorize(actor, "integrity.read", evidence)
    return evidence


def events_of(actor, expert: Expert) -> list[IntegrityEvent]:
    authorize(actor, "integrity.read", expert)
    return list(db.session.execute(sa.select(IntegrityEvent).where(IntegrityEvent.expert_id == expert.id)
                                   .order_by(IntegrityEvent.occurred_on.desc(), IntegrityEvent.id.desc())).scalars())


def sanctions_of(actor, expert: Expert) -> list[Sanction]:
    authorize(actor, "integrity.read", expert)
    return list(reversed(sanctions_of_expert(expert.id)))


def list_events(actor, *, status: str | None = None, kind: str | None = None, page: int = 1,
                per_page: int = 20) -> Page:
    """Every record for the talent office and the auditor; an expert's own only for an expert."""
    authorize(actor, "integrity.read")
    query = sa.select(IntegrityEvent)
    if actor.role is Role.EXPERT:
        query = query.where(IntegrityEvent.expert_id == actor.expert_id)
    errors = {}
    for name, value, enum_cls, column in (("status", status, EventStatus, IntegrityEvent.status),
                                          ("kind", kind, EventKind, IntegrityEvent.kind)):
        if value:
            try:
                query = query.where(column == enum_cls(value))
            except ValueError:
                errors[name] = ["取值无效"]
    if errors:
        raise ValidationFailed(fields=errors)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(query.order_by(IntegrityEvent.created_at.desc(), IntegrityEvent.id.desc())
                               .limit(per_page).offset((page - 1) * per_page)).scalars()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def list_appeals(actor, status: str | None = "pending") -> list[IntegrityAppeal]:
    authorize(actor, "integrity.decide")
    query = sa.select(IntegrityAppeal).order_by(IntegrityAppeal.filed_at, IntegrityAppeal.id)
    if status:
        try:
            query = query.where(IntegrityAppeal.status == AppealStatus(status))
        except ValueError:
            raise ValidationFailed(fields={"status": ["取值无效"]}) from None
    return list(db.session.execute(query).scalars())


def integrity_score(expert_id: int, year: int) -> tuple[int, list[IntegrityEvent]]:
    """100 less the points of the events of that year that stand (never below zero)."""
    events = [e for e in standing_events(expert_id) if e.occurred_on.year == year]
    return max(0, 100 - sum(e.points for e in events)), events
