"""panels/columns.py against its definition: matcher.apply_filters and
matcher.rank over Pool.profiles. Random pools with every kind of fact, and
the database pool of test_facts, must give the same qualified experts, the
same drop reasons, the same ranking (scores, parts, order, explanations)
and the same composition facts, value for value and type for type."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experts_service.panels import columns, facts, matcher
from experts_service.panels.matcher import DomainTarget, FilterContext, Profile, RankContext, TextEvidence
from experts_service.policy import Policy, current_policy
from tests.panels.test_facts import pool as database_pool, typed  # noqa: F401 - database_pool is a fixture

EQUIVALENCE = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DAY = date(2026, 6, 15)
ROOTS = range(1, 7)
DOMAINS = (1, 2, 3, 7)
SYSTEMS = ("发展改革", "财政")
# The policy defaults of DOMAIN.md (the pure tests run outside an app).
DEFAULT_POLICY = Policy(0, {})
NAMES = {1: "城乡建设", 2: "住房保障", 3: "城市治理", 7: "生态环境"}


def days_around(day: date, before: int, after: int):
    return st.integers(-before, after).map(lambda offset: day + timedelta(days=offset))


@st.composite
def kept_pools(draw):
    """A facts.Pool as read_pool makes one, with every kind of fact near the windows' edges."""
    windows = facts.windows_for(DAY, DEFAULT_POLICY)
    ids = sorted(draw(st.sets(st.integers(1, 60), max_size=30)))
    base = []
    for expert_id in ids:
        primary = draw(st.sampled_from(DOMAINS))
        tier = draw(st.sampled_from([None, 1, 2, 3]))
        base.append(Profile(
            expert_id=expert_id, name=f"专家{expert_id}",
            status=draw(st.sampled_from(["active", "active", "active", "suspended", "applicant"])),
            employer_id=100 + expert_id, employer_root_id=draw(st.sampled_from(ROOTS)), employer_name="单位",
            same_system_government=False, primary_domain_id=primary,
            secondary_domain_ids=frozenset(draw(st.sets(st.sampled_from(DOMAINS), max_size=2))) - {primary},
            tier_rank=tier, tier_name="" if tier is None else f"层级{tier}", senior=tier in (1, 2),
            representative=draw(st.booleans()),
            conflict_organisation_root_ids=frozenset(draw(st.sets(st.sampled_from(ROOTS), max_size=2)))
            if draw(st.integers(0, 4)) == 0 else frozenset(),
            relative_ids=frozenset(draw(st.sets(st.sampled_from(ids), max_size=2))) - {expert_id} if ids else frozenset(),
        ))
    # Some facts name experts outside the pool (read for a scoped pool, or since deleted).
    someone = st.integers(1, 65)
    periods: dict[int, list] = {}
    for expert_id in draw(st.lists(someone, max_size=8)):
        start = draw(days_around(DAY, 5, 5))
        periods.setdefault(expert_id, []).append((start, start + timedelta(days=draw(st.integers(0, 4)))))
    jobs: dict[int, list] = {}
    for expert_id in draw(st.lists(someone, max_size=8)):
        ended_on = draw(st.none() | days_around(windows.cooling_since, 3, 3))
        jobs.setdefault(expert_id, []).append((draw(st.sampled_from(ROOTS)), ended_on))
    engagements = sorted(
        (draw(days_around(windows.engagements_since, 0, 400)).toordinal(), draw(someone), draw(st.sampled_from(ROOTS)))
        for _ in range(draw(st.integers(0, 40))))
    government_staff = {system: sorted(draw(st.sets(st.sampled_from(ids), max_size=4))) if ids else []
                        for system in SYSTEMS}
    return facts.Pool(
        since=windows, organisations=None, domains=(), tiers={}, base=base,
        position={p.expert_id: index for index, p in enumerate(base)},
        periods=periods, jobs=jobs,
        engagement_days=[e[0] for e in engagements], engagement_experts=[e[1] for e in engagements],
        engagement_roots=[e[2] for e in engagements], government_staff=government_staff,
    )


@st.composite
def requests(draw):
    windows = facts.windows_for(DAY, DEFAULT_POLICY)
    department_root = draw(st.sampled_from(ROOTS))
    context = FilterContext(
        consultation_date=windows.day,
        conflict_root_ids=frozenset({department_root, *draw(st.sets(st.sampled_from(ROOTS), max_size=2))}),
        avoid_ids=frozenset(draw(st.sets(st.integers(1, 65), max_size=3))),
        yearly_cap=draw(st.integers(1, 4)),
        cooling_since=windows.cooling_since,
    )
    chosen = draw(st.lists(st.tuples(st.sampled_from(DOMAINS), st.booleans()), max_size=3, unique_by=lambda t: t[0]))
    # A first-level target matched by a child too, as facts.domain_matches gives.
    targets = tuple(DomainTarget(d, NAMES[d], frozenset({d, 3}) if d == 1 else frozenset({d}), required)
                    for d, required in chosen)
    best, worst = draw(st.sampled_from([(1, 3), (1, 1), (2, 3)]))
    rank_context = RankContext(targets, best, worst, NAMES)
    # Scores with many digits, some equal, so rounding and ties are both exercised.
    scores = st.floats(0, 1, allow_nan=False) | st.sampled_from([0.1234565, 0.5, 1 / 3, 0.0])
    text = {expert_id: TextEvidence(score, ("词",), {"bio": "<b>词</b>"})
            for expert_id, score in draw(st.dictionaries(st.integers(1, 65), scores, max_size=12)).items()}
    return windows, department_root, draw(st.sampled_from([None, *SYSTEMS])), context, rank_context, text


def assert_same(pool: facts.Pool, windows, department_root, system, context, rank_context, text) -> None:
    profiles = pool.profiles(windows, department_root, system)
    expected = matcher.apply_filters(profiles, context, rank_context.targets)
    request_profiles = columns.RequestProfiles(pool, windows, department_root, system)
    outcome = columns.apply_filters(request_profiles, context)

    assert typed([request_profiles[p.expert_id] for p in profiles]) == typed(profiles)
    assert outcome.qualified_ids == [p.expert_id for p in expected.qualified]
    assert outcome.dropped == expected.dropped
    assert outcome.all_reasons == expected.all_reasons
    assert outcome.as_record() == expected.as_record()

    expected_ranking = matcher.rank(expected.qualified, text, rank_context, expected.groups)
    ranking = columns.rank(outcome, text, rank_context)
    assert len(ranking) == len(expected_ranking)
    assert typed(list(ranking)) == typed(list(expected_ranking))
    assert typed(list(ranking.members())) == typed(list(expected_ranking.members()))
    assert ranking.members().covered == expected_ranking.members().covered


@EQUIVALENCE
@given(pool=kept_pools(), request=requests())
def test_columns_give_what_the_profiles_give(pool, request):
    assert_same(pool, *request)


def test_columns_on_the_database_pool(database_pool):
    data = facts.gather(database_pool, current_policy())
    ids = [p.expert_id for p in data.profiles]
    text = {ids[0]: TextEvidence(0.75, ("住房",)), ids[3]: TextEvidence(0.2500005, ("规划",))}
    assert_same(data.pool, data.windows, data.department_root_id, data.department_system,
                data.filter_context, data.rank_context, text)
    outcome = columns.apply_filters(data.request_profiles, data.filter_context)
    # The fixture drops experts for several reasons, so the comparison above looked at them.
    assert sum(1 for ids in outcome.dropped.values() if ids) >= 3


def test_a_pool_read_for_later_windows_is_refused(database_pool):
    data = facts.gather(database_pool, current_policy())
    earlier = facts.windows_for(data.pool.since.day - timedelta(days=1), current_policy())
    with pytest.raises(ValueError, match="later windows"):
        columns.RequestProfiles(data.pool, earlier, data.department_root_id, data.department_system)


def test_rounding_is_pythons_where_numpys_differs():
    # Halfway cases where numpy's multiply-round-divide lands one digit up.
    values = [1.1937075, 1.7771975, 0.25, 1 / 3, 1.1937075]
    rounded = columns._python_rounded(np.array(values))
    assert rounded.tolist() == [round(v, matcher.SCORE_DIGITS) for v in values]
    assert float(np.round(1.1937075, matcher.SCORE_DIGITS)) != round(1.1937075, matcher.SCORE_DIGITS)
    assert columns._python_rounded(np.zeros(0)).tolist() == []
