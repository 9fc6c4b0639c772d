"""The annual assessment: open a cycle, take self-assessments, compute,
adjust with a reason, approve (which applies the outcomes and freezes it).

The score of DOMAIN.md: department ratings (60 %) + integrity from 100 after
deductions (30 %) + self-assessment (10 %), weights from the policy; any
veto item gives 不合格. Readings made here, stated once:
- the ratings part is the mean of the year's ratings (each engagement
  counts once); an expert with no rated engagement in the year is scored on
  the other two parts with their weights scaled up to 100, and the report
  lists them among the never engaged, so the office sees who was not used;
- a self-assessment not submitted scores 0 for its part;
- the total is rounded half up to two decimals before it is graded.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from experts_service.assessment.models import (
    AssessmentCycle,
    AssessmentResult,
    CycleStatus,
    Grade,
    Outcome,
    SelfAssessment,
)
from experts_service.core import audit
from experts_service.core.auth import Role, authorize
from experts_service.core.clock import now, today
from experts_service.core.errors import Conflict, NotFound, ValidationFailed
from experts_service.experts.models import Appointment, Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.policy import current_policy

HUNDRED = Decimal(100)
CENT = Decimal("0.01")
MAX_SUMMARY = 3000
MAX_REASON = 1000
POOLED = (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED)
# The years a cycle may have (the table's CHECK constraint holds the same range).
MIN_YEAR, MAX_YEAR = 2000, 2100


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _authorize_manage(actor) -> None:
    # The command line runs as the system (actor None); every web and API caller is checked.
    if actor is not None:
        authorize(actor, "assessment.manage")


# ---------------------------------------------------------------- who is assessed


def population(year: int) -> list[Expert]:
    """Experts appointed for some part of the year and not gone before it began."""
    from experts_service.lifecycle.models import ExpertExit

    start, end = date(year, 1, 1), date(year, 12, 31)
    appointed = sa.select(Appointment.expert_id).where(Appointment.term_start <= end, Appointment.term_end >= start)
    left_before = sa.select(ExpertExit.expert_id).where(ExpertExit.exited_on < start)
    experts = db.session.execute(sa.select(Expert).where(
        Expert.id.in_(appointed),
        sa.or_(Expert.status.in_(POOLED),
               sa.and_(Expert.status == ExpertStatus.EXITED, Expert.id.not_in(left_before))),
    ).order_by(Expert.id)).scalars().all()
    return list(experts)


# ---------------------------------------------------------------- the numbers


@dataclass(frozen=True)
class YearFacts:
    engagements: int
    ratings: list[int]


def year_facts(expert_id: int, year: int) -> YearFacts:
    from experts_service.consultation.models import EngagementRating
    from experts_service.panels.models import COUNTING_ENGAGEMENT_STATUSES, Engagement

    in_year = sa.and_(Engagement.expert_id == expert_id, Engagement.status.in_(COUNTING_ENGAGEMENT_STATUSES),
                      Engagement.engaged_on >= date(year, 1, 1), Engagement.engaged_on <= date(year, 12, 31))
    engagements = db.session.execute(sa.select(sa.func.count()).select_from(Engagement).where(in_year)).scalar_one()
    ratings = db.session.execute(sa.select(EngagementRating.total).join(
        Engagement, EngagementRating.engagement_id == Engagement.id).where(in_year)
        .order_by(EngagementRating.id)).scalars().all()
    return YearFacts(engagements, list(ratings))


def grade_of(total: Decimal, veto: bool, policy) -> Grade:
    if veto:
        return Grade.FAIL
    if total >= policy.grade_excellent_min:
        return Grade.EXCELLENT
    if total >= policy.grade_pass_min:
        return Grade.PASS
    if total >= policy.grade_basic_min:
        return Grade.BASIC
    return Grade.FAIL


def _previous_grade(expert_id: int, year: int) -> Grade | None:
    return db.session.execute(sa.select(AssessmentResult.grade).join(AssessmentCycle).where(
        AssessmentCycle.year == year - 1, AssessmentCycle.status == CycleStatus.APPROVED,
        AssessmentResult.expert_id == expert_id)).scalar_one_or_none()


def _has_higher_tier(expert: Expert) -> bool:
    from experts_service.reference.models import Tier

    if expert.tier is None:
        return False
    return db.session.execute(sa.select(Tier.id).where(Tier.rank < expert.tier.rank).limit(1)).first() is not None


def _outcome(expert: Expert, year: int, grade: Grade, facts: YearFacts, policy, words: list[str]) -> Outcome:
    if expert.status is ExpertStatus.EXITED:
        words.append("已退出专家库：记录等次，不再处理")
        return Outcome.ALREADY_EXITED
    if grade is Grade.FAIL:
        words.append("不合格：解聘并退出专家库")
        return Outcome.DISMISSAL
    if grade is Grade.BASIC:
        if _previous_grade(expert.id, year) is Grade.BASIC:
            words.append(f"{year - 1}、{year} 年连续两年基本合格：解聘并退出专家库")
            return Outcome.DISMISSAL
        words.append("基本合格：书面提醒")
        return Outcome.REMINDER
    if grade is Grade.EXCELLENT:
        before = year_facts(expert.id, year - 1)
        count = facts.engagements + before.engagements
        ratings = facts.ratings + before.ratings
        lowest = min(ratings) if ratings else None
        if count >= policy.promotion_min_engagements and lowest is not None \
                and lowest >= policy.promotion_min_rating and _has_higher_tier(expert):
            words.append(f"优秀，{year - 1}—{year} 年参与论证 {count} 次、每次评价不低于 "
                         f"{policy.promotion_min_rating} 分（最低 {lowest} 分）：可晋升一个层次")
            return Outcome.PROMOTION_ELIGIBLE
    return Outcome.NONE


def _score(expert: Expert, cycle: AssessmentCycle, policy) -> dict[str, Any]:
    from experts_service.integrity.models import Severity
    from experts_service.integrity.operations import integrity_score

    year = cycle.year
    facts = year_facts(expert.id, year)
    integrity, events = integrity_score(expert.id, year)
    own = db.session.execute(sa.select(SelfAssessment).where(
        SelfAssessment.cycle_id == cycle.id, SelfAssessment.expert_id == expert.id)).scalar_one_or_none()
    words = []
    rating = _round(Decimal(sum(facts.ratings)) / len(facts.ratings)) if facts.ratings else None
    self_score = Decimal(own.score) if own else None
    w_rating, w_integrity, w_self = (Decimal(policy.weight_ratings_percent), Decimal(policy.weight_integrity_percent),
                                     Decimal(policy.weight_self_percent))
    self_part = self_score if self_score is not None else Decimal(0)
    if rating is not None:
        words.append(f"部门评价：{len(facts.ratings)} 次评价平均 {rating} 分（参与论证 {facts.engagements} 次）")
        total = (rating * w_rating + Decimal(integrity) * w_integrity + self_part * w_self) / HUNDRED
        words.append(f"综合得分 = {rating}×{w_rating}% + {integrity}×{w_integrity}% + {self_part}×{w_self}%")
    else:
        words.append(f"本年度无部门评价（参与论证 {facts.engagements} 次）：按诚信与自评两项折算")
        rest = w_integrity + w_self
        total = (Decimal(integrity) * w_integrity + self_part * w_self) / rest if rest else Decimal(integrity)
        words.append(f"综合得分 = ({integrity}×{w_integrity} + {self_part}×{w_self}) ÷ {rest}")
    deductions = [e for e in events if e.points]
    if deductions:
        listed = "；".join(f"{e.occurred_on.isoformat()} {e.kind.label} −{e.points}" for e in deductions)
        lost = sum(e.points for e in deductions)
        words.append(f"诚信得分：100 − {lost} = {integrity}（{listed}）" if lost <= 100 else
                     f"诚信得分：扣分 {lost} 超过 100，按 0 分计（{listed}）")
    else:
        words.append("诚信得分：100（本年度无扣分记录）")
    words.append(f"自评：{own.score} 分" if own else "未提交自评，自评按 0 分计")
    veto_events = [e for e in events if e.severity is Severity.GRAVE]
    if veto_events:
        words.append("一票否决：" + "；".join(f"{e.occurred_on.isoformat()} {e.kind.label}" for e in veto_events))
    return {"engagements": facts.engagements, "ratings_count": len(facts.ratings), "rating_score": rating,
            "integrity_score": Decimal(integrity), "self_score": self_score, "computed_total": _round(total),
            "veto": bool(veto_events), "event_ids": [e.id for e in events], "words": words, "facts": facts}


def _apply(result: AssessmentResult, expert: Expert, cycle: AssessmentCycle, policy) -> None:
    # A new result must not be flushed half-filled by the queries that compute it.
    with db.session.no_autoflush:
        _fill(result, expert, cycle, policy)


def _fill(result: AssessmentResult, expert: Expert, cycle: AssessmentCycle, policy) -> None:
    scored = _score(expert, cycle, policy)
    words = scored.pop("words")
    facts = scored.pop("facts")
    for key, value in scored.items():
        setattr(result, key, value)
    result.domain_id, result.tier_id = expert.primary_domain_id, expert.tier_id
    if result.adjusted_total is not None:
        words.append(f"人才工作部门调整为 {result.adjusted_total} 分：{result.adjust_reason}")
    result.grade = grade_of(result.final_total, result.veto, policy)
    words.append(f"等次：{result.grade.label}")
    result.outcome = _outcome(expert, cycle.year, result.grade, facts, policy, words)
    result.explanation = words


def _require_open(cycle: AssessmentCycle) -> None:
    if cycle.status is not CycleStatus.OPEN:
        raise Conflict(f"{cycle.year} 年度考核已于 {cycle.approved_at:%Y-%m-%d} 审定，结果不再变动")


def _lock_experts(expert_ids: list[int]) -> None:
    if expert_ids and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(Expert.id).where(Expert.id.in_(expert_ids)).order_by(Expert.id)
                           .with_for_update())


def _lock(cycle: AssessmentCycle) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(AssessmentCycle.id).where(AssessmentCycle.id == cycle.id).with_for_update())
    else:
        db.session.execute(sa.text("UPDATE assessment_cycles SET id = id WHERE id = :id"), {"id": cycle.id})
    db.session.refresh(cycle)


def compute(actor, cycle: AssessmentCycle) -> list[AssessmentResult]:
    """Every result again from the records as they are now; adjustments are kept. Same records, same numbers."""
    _authorize_manage(actor)
    _lock(cycle)
    _require_open(cycle)
    policy = current_policy()
    existing = {r.expert_id: r for r in cycle.results}
    results = []
    for expert in population(cycle.year):
        result = existing.pop(expert.id, None)
        if result is None:
            result = AssessmentResult(cycle=cycle, expert_id=expert.id)
            db.session.add(result)
        _apply(result, expert, cycle, policy)
        results.append(result)
    for stale in existing.values():  # no longer in the population (appointment corrected): not graded
        cycle.results.remove(stale)
        db.session.delete(stale)
    cycle.policy_version = policy.version
    cycle.computed_at = now()
    db.session.flush()
    audit.record(actor, "assessment.compute", "assessment_cycle", cycle.year, experts=len(results),
                 policy_version=policy.version,
                 grades={g.value: sum(r.grade is g for r in results) for g in Grade})
    return results


def refresh_expert(expert: Expert) -> None:
    """After an integrity change: the open cycle's result for this expert follows (approved ones never do)."""
    for cycle in db.session.execute(sa.select(AssessmentCycle).where(
            AssessmentCycle.status == CycleStatus.OPEN)).scalars():
        result = next((r for r in cycle.results if r.expert_id == expert.id), None)
        if result is None:
            continue
        _lock(cycle)
        if cycle.status is not CycleStatus.OPEN:
            continue  # approved meanwhile: frozen
        before = (result.computed_total, result.grade)
        _apply(result, expert, cycle, current_policy())
        if (result.computed_total, result.grade) != before:
            audit.record(None, "assessment.refresh", "assessment_result", result.id, year=cycle.year,
                         expert_id=expert.id, before=[str(before[0]), before[1].value],
                         after=[str(result.computed_total), result.grade.value])
    db.session.flush()


def open_cycle(actor, year: int) -> AssessmentCycle:
    _authorize_manage(actor)
    if not isinstance(year, int) or isinstance(year, bool):
        raise ValidationFailed(fields={"year": ["请填写年度"]})
    current = today().year
    if year > current:
        raise ValidationFailed(fields={"year": [f"不能开启尚未开始的年度（今年是 {current} 年）"]})
    if year < MIN_YEAR:
        raise ValidationFailed(fields={"year": ["年度无效"]})
    if db.session.execute(sa.select(AssessmentCycle.id).where(AssessmentCycle.year == year)).first():
        raise Conflict(f"{year} 年度考核已经开启")
    still_open = db.session.execute(sa.select(AssessmentCycle.year).where(
        AssessmentCycle.status == CycleStatus.OPEN)).scalars().first()
    if still_open is not None:
        raise Conflict(f"{still_open} 年度考核尚未审定，请先完成")
    cycle = AssessmentCycle(year=year, status=CycleStatus.OPEN, opened_by_id=getattr(actor, "id", None))
    db.session.add(cycle)
    db.session.flush()
    audit.record(actor, "assessment.open", "assessment_cycle", year)
    results = compute(actor, cycle)
    from experts_service.notifications.operations import notify, users_of_expert

    for result in results:
        if result.outcome is not Outcome.ALREADY_EXITED:
            notify(users_of_expert(result.expert_id), "assessment.open", f"{year} 年度考核已开启，请提交自评",
                   f"请登录系统填写 {year} 年度自评（0—100 分并附工作小结）。", link="/my/assessment")
    return cycle


def get_cycle(actor, year: int) -> AssessmentCycle:
    authorize(actor, "assessment.read")
    if not MIN_YEAR <= year <= MAX_YEAR:  # also keeps a 20-digit number away from the database
        raise NotFound(f"{year} 年度考核尚未开启")
    cycle = db.session.execute(sa.select(AssessmentCycle).where(AssessmentCycle.year == year)).scalar_one_or_none()
    if cycle is None:
        raise NotFound(f"{year} 年度考核尚未开启")
    return cycle


def cycles(actor) -> list[AssessmentCycle]:
    authorize(actor, "assessment.read")
    return list(db.session.execute(sa.select(AssessmentCycle).order_by(AssessmentCycle.year.desc())).scalars())


def results_of(actor, cycle: AssessmentCycle) -> list[AssessmentResult]:
    """All results for the office and the auditor; an expert's own for an expert."""
    authorize(actor, "assessment.read")
    query = sa.select(AssessmentResult).where(AssessmentResult.cycle_id == cycle.id).options(
        selectinload(AssessmentResult.expert))  # the pages name every expert: one query, not one per row
    if actor.role is Role.EXPERT:
        query = query.where(AssessmentResult.expert_id == actor.expert_id)
    return sorted(db.session.execute(query).scalars(), key=lambda r: (-r.final_total, r.expert_id))


def get_result(actor, result_id: int, permission: str = "assessment.read") -> AssessmentResult:
    result = db.session.get(AssessmentResult, result_id)
    if result is None:
        raise NotFound("未找到该考核结果")
    authorize(actor, permission, result)
    return result


def own_results(actor) -> list[AssessmentResult]:
    authorize(actor, "assessment.self_assess")
    return list(db.session.execute(sa.select(AssessmentResult).join(AssessmentCycle).where(
        AssessmentResult.expert_id == actor.expert_id).order_by(AssessmentCycle.year.desc())).scalars())


def self_assessment_of(cycle: AssessmentCycle, expert_id: int) -> SelfAssessment | None:
    return db.session.execute(sa.select(SelfAssessment).where(
        SelfAssessment.cycle_id == cycle.id, SelfAssessment.expert_id == expert_id)).scalar_one_or_none()


def submit_self_assessment(actor, cycle: AssessmentCycle, data: dict[str, Any]) -> SelfAssessment:
    """The expert's own score and summary; may be revised until approval."""
    authorize(actor, "assessment.self_assess")
    expert = db.session.get(Expert, actor.expert_id)
    authorize(actor, "assessment.self_assess", expert)
    errors: dict[str, list[str]] = {}
    score = data.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
        errors["score"] = ["自评分须为 0—100 的整数"]
    summary = (data.get("summary") or "").strip()
    if not summary:
        errors["summary"] = ["请填写年度工作小结"]
    elif len(summary) > MAX_SUMMARY:
        errors["summary"] = [f"工作小结不超过 {MAX_SUMMARY} 字"]
    if errors:
        raise ValidationFailed(fields=errors)
    _lock(cycle)
    _require_open(cycle)
    result = next((r for r in cycle.results if r.expert_id == expert.id), None)
    if result is None:
        raise Conflict(f"您不在 {cycle.year} 年度考核范围内")
    own = self_assessment_of(cycle, expert.id)
    before = None if own is None else own.score
    if own is None:
        own = SelfAssessment(cycle_id=cycle.id, expert_id=expert.id)
        db.session.add(own)
    own.score, own.summary, own.submitted_by_id = score, summary, actor.id
    db.session.flush()
    audit.record(actor, "assessment.self_assess", "assessment_cycle", cycle.year, expert_id=expert.id,
                 score=score, before=before)
    _apply(result, expert, cycle, current_policy())
    db.session.flush()
    return own


def adjust(actor, result: AssessmentResult, total: Any, reason: str | None) -> AssessmentResult:
    """The office sets the total with a written reason (None clears the adjustment). A veto still fails."""
    _authorize_manage(actor)
    cycle = result.cycle
    _lock(cycle)
    _require_open(cycle)
    text = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    value = None
    if total is not None:
        try:
            value = _round(Decimal(str(total)))
            if not Decimal(0) <= value <= HUNDRED:
                raise ValueError
        except (ArithmeticError, ValueError):
            errors["total"] = ["调整后得分须为 0—100 的数"]
    if not text:
        errors["reason"] = ["请写明调整理由"]
    elif len(text) > MAX_REASON:
        errors["reason"] = [f"调整理由不超过 {MAX_REASON} 字"]
    if errors:
        raise ValidationFailed(fields=errors)
    before = [str(result.adjusted_total) if result.adjusted_total is not None else None, result.grade.value]
    result.adjusted_total = value
    result.adjust_reason = text if value is not None else None
    result.adjusted_by_id = getattr(actor, "id", None) if value is not None else None
    _apply(result, result.expert, cycle, current_policy())
    db.session.flush()
    audit.record(actor, "assessment.adjust", "assessment_result", result.id, year=cycle.year,
                 expert_id=result.expert_id, before=before,
                 after=[str(value) if value is not None else None, result.grade.value], reason=text)
    return result


def _refuse_while_records_open(cycle: AssessmentCycle) -> None:
    """Results become final only when every record they rest on is: no appeal of that year's records
    waiting, and no appeal window still open (a veto's dismissal could not be undone)."""
    from experts_service.integrity.models import AppealStatus, EventStatus, IntegrityAppeal, IntegrityEvent

    appeal = sa.select(IntegrityAppeal.id).where(IntegrityAppeal.event_id == IntegrityEvent.id)
    waiting_appeal = appeal.where(IntegrityAppeal.status == AppealStatus.PENDING).exists()
    open_window = sa.and_(~appeal.exists(), IntegrityEvent.appeal_until >= today())
    row = db.session.execute(sa.select(sa.func.count(), sa.func.max(IntegrityEvent.appeal_until)).where(
        IntegrityEvent.status == EventStatus.STANDING, IntegrityEvent.occurred_on >= date(cycle.year, 1, 1),
        IntegrityEvent.occurred_on <= date(cycle.year, 12, 31), sa.or_(waiting_appeal, open_window))).one()
    if row[0]:
        raise Conflict(f"尚有 {row[0]} 条 {cycle.year} 年度诚信记录在申诉期内或申诉未处理"
                       f"（申诉期最迟于 {row[1].isoformat()} 届满），请待其办结后再审定")


def _close_pending_dismissals(actor, expert: Expert) -> None:
    from experts_service.integrity.models import Sanction, SanctionKind, SanctionStatus

    for sanction in db.session.execute(sa.select(Sanction).where(
            Sanction.expert_id == expert.id, Sanction.kind == SanctionKind.DISMISSAL,
            Sanction.status == SanctionStatus.PENDING)).scalars():
        sanction.status = SanctionStatus.EXECUTED
        sanction.status_reason = "年度考核审定时一并解聘"
        audit.record(actor, "sanction.execute", "sanction", sanction.id, expert_id=expert.id, by="assessment")


@dataclass
class Approval:
    cycle: AssessmentCycle
    dismissed: list[AssessmentResult]
    reminded: list[AssessmentResult]
    promotable: list[AssessmentResult]


def approve(actor, cycle: AssessmentCycle, note: str = "") -> Approval:
    """Recompute once more, then apply: dismissals exit, reminders go out, promotion eligibility is listed,
    every expert is told. From here on the cycle is frozen."""
    authorize(actor, "assessment.manage")
    text = (note or "").strip()
    if len(text) > MAX_REASON:
        raise ValidationFailed(fields={"note": [f"审定意见不超过 {MAX_REASON} 字"]})
    # The experts before the cycle, as an integrity change takes them (expert, then cycle): never crossed.
    _lock_experts([e.id for e in population(cycle.year)])
    _lock(cycle)
    _require_open(cycle)
    _refuse_while_records_open(cycle)
    results = compute(actor, cycle)
    from experts_service.lifecycle.models import ExitReason
    from experts_service.lifecycle.operations import _exit
    from experts_service.notifications.operations import notify, users_of_expert, users_with_role

    outcome = Approval(cycle, [], [], [])
    for result in results:
        expert = result.expert
        if result.outcome is Outcome.DISMISSAL and expert.status in POOLED:
            # A veto is a grave integrity violation: that exit carries the re-application ban.
            reason = ExitReason.INTEGRITY if result.veto else ExitReason.ASSESSMENT_FAILED
            _exit(actor, expert, reason, "；".join(result.explanation[-2:])[:500], "exit")
            if result.veto:
                _close_pending_dismissals(actor, expert)
            outcome.dismissed.append(result)
        elif result.outcome is Outcome.REMINDER:
            outcome.reminded.append(result)
        elif result.outcome is Outcome.PROMOTION_ELIGIBLE:
            outcome.promotable.append(result)
        if result.outcome is not Outcome.ALREADY_EXITED:
            extra = {Outcome.REMINDER: "根据考核办法，现予书面提醒；连续两年基本合格的将予解聘。",
                     Outcome.DISMISSAL: "根据考核办法，予以解聘并退出专家库。",
                     Outcome.PROMOTION_ELIGIBLE: "您已符合晋升一个层次的条件，人才工作部门将另行办理。"}.get(
                result.outcome, "")
            notify(users_of_expert(expert.id), f"assessment.{result.outcome.value}",
                   f"{cycle.year} 年度考核结果：{result.grade.label}（{result.final_total} 分）",
                   "\n".join([*result.explanation, extra]).strip(), link="/my/assessment")
    cycle.status = CycleStatus.APPROVED
    cycle.approved_at, cycle.approved_by_id, cycle.approval_note = now(), actor.id, text or None
    db.session.flush()
    audit.record(actor, "assessment.approve", "assessment_cycle", cycle.year, note=text,
                 dismissed=[r.expert_id for r in outcome.dismissed], reminded=[r.expert_id for r in outcome.reminded],
                 promotable=[r.expert_id for r in outcome.promotable])
    if outcome.promotable:
        names = "、".join(r.expert.name for r in outcome.promotable)
        notify(users_with_role(Role.TALENT_OFFICE), "assessment.promotable",
               f"{cycle.year} 年度考核：{len(outcome.promotable)} 人符合晋升条件", names,
               link=f"/assessment/{cycle.year}")
    return outcome
