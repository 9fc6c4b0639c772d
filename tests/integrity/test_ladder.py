"""The sanction ladder as a pure function: severities, serious-equivalents, warnings, suspensions, dismissals."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from experts_service.integrity.ladder import EventFact, add_months, derive
from experts_service.integrity.models import EventKind, SanctionKind, Severity
from experts_service.policy import Policy

POLICY = Policy(1, {})


def fact(n: int, kind: str, day: date, recorded: date | None = None) -> EventFact:
    recorded = recorded or day
    return EventFact(n, EventKind(kind), day, recorded, recorded + timedelta(days=15))


def steps(facts) -> list[tuple]:
    return [(s.kind, s.starts_on, s.ends_on, s.event_ids) for s in derive(facts, POLICY).steps]


@pytest.mark.parametrize("day, months, expected", [
    (date(2025, 8, 31), 6, date(2026, 2, 28)),
    (date(2027, 8, 31), 6, date(2028, 2, 29)),
    (date(2025, 1, 15), 12, date(2026, 1, 15)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)),
])
def test_add_months_clamps_to_the_month_end(day, months, expected):
    assert add_months(day, months) == expected


def test_first_refusal_of_a_year_is_free_the_next_serious_and_the_count_restarts_each_year():
    scores = derive([fact(1, "refusal", date(2025, 3, 1)), fact(2, "refusal", date(2025, 9, 1)),
                     fact(3, "refusal", date(2026, 1, 5))], POLICY).scores
    assert [(scores[i].severity, scores[i].points) for i in (1, 2, 3)] == [
        (Severity.NOTE, 0), (Severity.SERIOUS, 15), (Severity.NOTE, 0)]


def test_three_minors_within_twelve_months_are_one_serious_and_bring_a_warning():
    facts = [fact(1, "late", date(2025, 1, 1)), fact(2, "late_opinion", date(2025, 6, 1)),
             fact(3, "late", date(2025, 12, 31))]
    assert steps(facts) == [(SanctionKind.WARNING, date(2025, 12, 31), None, (1, 2, 3))]
    # Spread over more than twelve months they are three minors, nothing more.
    spread = [fact(1, "late", date(2025, 1, 1)), fact(2, "late", date(2025, 6, 1)), fact(3, "late", date(2026, 1, 1))]
    assert steps(spread) == []


def test_two_serious_within_the_window_suspend_six_months_from_the_day_the_second_was_recorded():
    facts = [fact(1, "absent", date(2025, 2, 1)), fact(2, "perfunctory_opinion", date(2025, 9, 1), date(2025, 9, 4))]
    assert steps(facts) == [
        (SanctionKind.WARNING, date(2025, 2, 1), None, (1,)),
        (SanctionKind.SUSPENSION, date(2025, 9, 4), date(2026, 3, 4), (1, 2)),
    ]
    apart = [fact(1, "absent", date(2025, 2, 1)), fact(2, "absent", date(2026, 2, 1))]
    assert [s[0] for s in steps(apart)] == [SanctionKind.WARNING, SanctionKind.WARNING]


def test_three_minors_and_a_serious_make_a_suspension():
    facts = [fact(1, "late", date(2025, 1, 1)), fact(2, "late", date(2025, 2, 1)), fact(3, "late", date(2025, 3, 1)),
             fact(4, "absent", date(2025, 4, 1))]
    assert steps(facts)[-1] == (SanctionKind.SUSPENSION, date(2025, 4, 1), date(2025, 10, 1), (1, 2, 3, 4))


def test_during_a_suspension_a_further_serious_one_chains_the_longer_suspension_after_it():
    facts = [fact(1, "absent", date(2025, 1, 1)), fact(2, "absent", date(2025, 2, 1)),
             fact(3, "perfunctory_opinion", date(2025, 5, 1))]
    assert steps(facts)[-1] == (SanctionKind.SUSPENSION, date(2025, 8, 1), date(2026, 8, 1), (3,))


def test_grave_events_bring_a_dismissal_each_and_cost_no_points_but_veto():
    derivation = derive([fact(1, "leaked_material", date(2025, 5, 1))], POLICY)
    assert derivation.scores[1].severity is Severity.GRAVE
    assert [(s.kind, s.event_ids) for s in derivation.steps] == [(SanctionKind.DISMISSAL, (1,))]
    assert "申诉期至 2025-05-16" in derivation.steps[0].explanation


def test_the_policy_numbers_drive_the_ladder():
    stricter = Policy(2, {"serious_events_for_suspension": 1, "suspension_months": 3, "serious_event_points": 20})
    derivation = derive([fact(1, "absent", date(2025, 1, 10))], stricter)
    assert derivation.scores[1].points == 20
    assert [(s.kind, s.ends_on) for s in derivation.steps] == [(SanctionKind.SUSPENSION, date(2025, 4, 10))]


kinds = st.sampled_from([k.value for k in EventKind])
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))


@given(st.lists(st.tuples(kinds, days), max_size=12))
def test_derivation_does_not_depend_on_the_order_events_arrive_in(events):
    facts = [fact(n, kind, day) for n, (kind, day) in enumerate(events, 1)]
    forward, backward = derive(facts, POLICY), derive(list(reversed(facts)), POLICY)
    assert forward.scores == backward.scores
    assert [s.key for s in forward.steps] == [s.key for s in backward.steps]
    # Every event that costs points belongs to no more than one suspension.
    in_suspensions = [i for s in forward.steps if s.kind is SanctionKind.SUSPENSION for i in s.event_ids]
    assert len(in_suspensions) == len(set(in_suspensions))


def test_two_more_during_one_suspension_follow_each_other_rather_than_overlap():
    facts = [fact(1, "absent", date(2025, 1, 1)), fact(2, "absent", date(2025, 2, 1)),
             fact(3, "absent", date(2025, 3, 1)), fact(4, "absent", date(2025, 4, 1))]
    suspensions = [s[1:3] for s in steps(facts) if s[0] is SanctionKind.SUSPENSION]
    assert suspensions == [(date(2025, 2, 1), date(2025, 8, 1)), (date(2025, 8, 1), date(2026, 8, 1)),
                           (date(2026, 8, 1), date(2027, 8, 1))]


def test_a_record_entered_late_does_not_rewrite_the_suspension_already_served():
    served = [fact(1, "absent", date(2025, 1, 1)), fact(3, "absent", date(2025, 3, 1))]
    late_entry = fact(2, "absent", date(2025, 2, 1), recorded=date(2025, 6, 1))
    before = [s for s in steps(served) if s[0] is SanctionKind.SUSPENSION]
    after = steps([*served, late_entry])
    assert before == [(SanctionKind.SUSPENSION, date(2025, 3, 1), date(2025, 9, 1), (1, 3))]
    assert [s for s in after if s[0] is SanctionKind.SUSPENSION] == before
    # It happened before that suspension began: a warning of its own.
    assert (SanctionKind.WARNING, date(2025, 6, 1), None, (2,)) in after
