"""The sanction ladder of DOMAIN.md as a pure function of the standing events.

Nothing here reads the database: `derive(facts, policy)` takes the events
that still stand and returns each event's severity and points and every
step of the ladder (warnings, suspensions, dismissals) with the events that
triggered it. The operations store the result and reconcile what was stored
before, so an upheld appeal changes everything that depended on the event
by running this again, not by patching numbers.

Readings of DOMAIN.md that it leaves open, made here once:
- the first refusal without cause in a calendar year is recorded at no cost
  (severity NOTE); each further one in that year is serious;
- a serious-equivalent ("unit") is a serious event, or `minors_per_serious`
  minors within the integrity window (the unit dates from the last of them);
- units are taken in the order they became known, so a record entered late
  never rewrites a suspension already served; their dates decide the windows;
- a unit within the window after a suspension's end (or during it) brings
  the repeat suspension, which starts after every suspension still to run;
- a unit that does not (yet) bring a suspension brings a written warning;
- a sanction starts on the day it could first be known: the later of the
  event's date and the day it was recorded.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date

from experts_service.integrity.models import KIND_SEVERITY, EventKind, SanctionKind, Severity


def add_months(day: date, months: int) -> date:
    """Same day of month, clamped to the month's end (31 Aug + 6 months = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class EventFact:
    id: int
    kind: EventKind
    occurred_on: date
    recorded_on: date
    appeal_until: date


@dataclass(frozen=True)
class Scored:
    severity: Severity
    points: int
    why: str


@dataclass(frozen=True)
class Step:
    kind: SanctionKind
    starts_on: date
    ends_on: date | None
    event_ids: tuple[int, ...]
    explanation: str

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{','.join(str(i) for i in sorted(self.event_ids))}"


@dataclass
class Derivation:
    scores: dict[int, Scored] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class _Unit:
    on: date
    known_on: date
    event_ids: tuple[int, ...]
    words: str


def _ordered(facts) -> list[EventFact]:
    return sorted(facts, key=lambda fact: (fact.occurred_on, fact.id))


def score(facts, policy) -> dict[int, Scored]:
    points = {Severity.NOTE: 0, Severity.MINOR: policy.minor_event_points,
              Severity.SERIOUS: policy.serious_event_points, Severity.GRAVE: 0}
    refusals_in_year: dict[int, int] = {}
    scores = {}
    for fact in _ordered(facts):
        severity = KIND_SEVERITY[fact.kind]
        why = f"{severity.label}，扣 {points[severity]} 分"
        if fact.kind is EventKind.REFUSAL:
            count = refusals_in_year[fact.occurred_on.year] = refusals_in_year.get(fact.occurred_on.year, 0) + 1
            if count == 1:
                severity, why = Severity.NOTE, f"{fact.occurred_on.year} 年首次无正当理由拒绝，予以提醒，不扣分"
            else:
                why = f"{fact.occurred_on.year} 年第 {count} 次无正当理由拒绝，按较重失信扣 {points[Severity.SERIOUS]} 分"
        elif severity is Severity.GRAVE:
            why = "严重失信，年度考核一票否决"
        scores[fact.id] = Scored(severity, points[severity], why)
    return scores


def _units(facts, scores, policy) -> list[_Unit]:
    units, minors = [], []
    for fact in _ordered(facts):
        severity = scores[fact.id].severity
        if severity is Severity.SERIOUS:
            units.append(_Unit(fact.occurred_on, max(fact.occurred_on, fact.recorded_on), (fact.id,),
                               f"较重失信（{fact.kind.label}，{fact.occurred_on.isoformat()}）"))
        elif severity is Severity.MINOR:
            minors = [m for m in minors
                      if add_months(m.occurred_on, policy.integrity_window_months) > fact.occurred_on]
            minors.append(fact)
            if len(minors) >= policy.minors_per_serious:
                dates = "、".join(m.occurred_on.isoformat() for m in minors)
                units.append(_Unit(fact.occurred_on, max(max(m.recorded_on for m in minors), fact.occurred_on),
                                   tuple(m.id for m in minors),
                                   f"{policy.integrity_window_months} 个月内一般失信 {len(minors)} 次（{dates}），"
                                   f"折算为一次较重失信"))
                minors = []
    return sorted(units, key=lambda unit: (unit.on, unit.event_ids))


def _within(first: date, second: date, months: int) -> bool:
    earlier, later = sorted((first, second))
    return add_months(earlier, months) > later


def derive(facts, policy) -> Derivation:
    facts = list(facts)
    result = Derivation(scores=score(facts, policy))
    window = policy.integrity_window_months
    suspensions: list[Step] = []
    pending: list[_Unit] = []
    # In the order they became known: a record entered late never rewrites a suspension already served.
    for unit in sorted(_units(facts, result.scores, policy), key=lambda u: (u.known_on, u.on, u.event_ids)):
        previous = next((s for s in reversed(suspensions)
                         if s.starts_on <= unit.on < add_months(s.ends_on, window)), None)
        if previous is not None:
            # After every suspension still to run, so two never overlap.
            starts = max(unit.known_on, max(s.ends_on for s in suspensions))
            step = Step(SanctionKind.SUSPENSION, starts, add_months(starts, policy.repeat_suspension_months),
                        unit.event_ids,
                        f"{unit.words}，发生在前次暂停（{previous.starts_on.isoformat()} 至 "
                        f"{previous.ends_on.isoformat()}）期间或期满后 {window} 个月内，"
                        f"再次暂停资格 {policy.repeat_suspension_months} 个月")
            suspensions.append(step)
            result.steps.append(step)
            pending = []
            continue
        pending = [p for p in pending if _within(p.on, unit.on, window)]
        pending.append(unit)
        if len(pending) >= policy.serious_events_for_suspension:
            starts = max(unit.known_on, max((s.ends_on for s in suspensions), default=unit.known_on))
            words = "；".join(p.words for p in pending)
            step = Step(SanctionKind.SUSPENSION, starts, add_months(starts, policy.suspension_months),
                        tuple(i for p in pending for i in p.event_ids),
                        f"{window} 个月内较重失信 {len(pending)} 次：{words}；暂停资格 {policy.suspension_months} 个月")
            suspensions.append(step)
            result.steps.append(step)
            pending = []
        else:
            result.steps.append(Step(SanctionKind.WARNING, unit.known_on, None, unit.event_ids,
                                     f"{unit.words}，予以书面警告；{window} 个月内累计较重失信 "
                                     f"{policy.serious_events_for_suspension} 次将暂停资格"))
    for fact in _ordered(facts):
        if result.scores[fact.id].severity is Severity.GRAVE:
            result.steps.append(Step(
                SanctionKind.DISMISSAL, max(fact.occurred_on, fact.recorded_on), None, (fact.id,),
                f"严重失信（{fact.kind.label}，{fact.occurred_on.isoformat()}）：解聘并退出专家库，"
                f"{policy.reapply_ban_years_integrity} 年内不得再申请；申诉期至 {fact.appeal_until.isoformat()}，"
                f"期间暂停资格"))
    return result
