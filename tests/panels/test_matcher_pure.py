"""The matcher's pure functions, with no database: property-based tests over
random pools and requests, checked against an independent brute force.

The checker here is written apart from matcher.check_panel on purpose: a bug
shared by the code and its own checker would otherwise pass.
"""
from __future__ import annotations

import itertools
from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from experts_service.panels import matcher
from experts_service.panels.matcher import (
    FILTER_REASONS,
    DomainTarget,
    Employment,
    FilterContext,
    Member,
    Profile,
    RankContext,
    Rules,
    TextEvidence,
    apply_filters,
    compose,
    rank,
)

PURE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Generating whole profiles costs more than checking them: fewer, still varied, examples.
PURE_PROFILES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOMAINS = (1, 2, 3, 4)


# ---------------------------------------------------------------- an independent checker


def hard_rule_breaks(panel: list[Member], rules: Rules) -> set[str]:
    broken = set()
    if len(panel) != rules.seats:
        broken.add("seats")
    employers: dict[int, int] = {}
    for m in panel:
        employers[m.employer_root_id] = employers.get(m.employer_root_id, 0) + 1
    if any(n > rules.max_per_employer for n in employers.values()):
        broken.add("employer")
    # same-system government staff <= share x seats, compared exactly
    if Fraction(sum(m.same_system for m in panel)) > rules.max_same_system_share * rules.seats:
        broken.add("same_system")
    covered = set()
    for m in panel:
        covered |= m.covers
    if not set(rules.required_domains) <= covered:
        broken.add("domains")
    if sum(m.senior for m in panel) < rules.min_senior:
        broken.add("senior")
    ids = {m.expert_id for m in panel}
    if any(r in ids for m in panel for r in m.relatives) or any(
            m.expert_id in other.relatives for m in panel for other in panel):
        broken.add("relatives")
    return broken


def brute_force(order: list[Member], rules: Rules) -> list[int] | None:
    """The lexicographically first compliant panel (in `order` positions), preferring one with 代表性."""
    best = None
    for positions in itertools.combinations(range(len(order)), rules.seats):
        panel = [order[p] for p in positions]
        if hard_rule_breaks(panel, rules):
            continue
        if any(m.representative for m in panel):
            return [m.expert_id for m in panel]
        if best is None:
            best = [m.expert_id for m in panel]
    return best


# ---------------------------------------------------------------- strategies


@st.composite
def pools(draw, max_size: int = 10):
    size = draw(st.integers(0, max_size))
    members = []
    for expert_id in range(1, size + 1):
        members.append(Member(
            expert_id=expert_id,
            employer_root_id=draw(st.integers(1, max(1, size // 2 + 1))),
            same_system=draw(st.booleans()),
            covers=frozenset(draw(st.sets(st.sampled_from(DOMAINS), max_size=2))),
            senior=draw(st.booleans()),
            representative=draw(st.booleans()),
        ))
    # Relatives: a few symmetric pairs, declared on one side only (the rule binds both).
    pairs = draw(st.lists(st.tuples(st.integers(1, max(1, size)), st.integers(1, max(1, size))), max_size=3))
    relatives: dict[int, set[int]] = {}
    for a, b in pairs:
        if a != b and a <= size and b <= size:
            relatives.setdefault(a, set()).add(b)
    members = [Member(m.expert_id, m.employer_root_id, m.same_system, m.covers, m.senior, m.representative,
                      frozenset(relatives.get(m.expert_id, ()))) for m in members]
    order = draw(st.permutations(members))
    return list(order)


@st.composite
def rule_sets(draw):
    seats = draw(st.integers(1, 5))
    return Rules(
        seats=seats,
        max_per_employer=draw(st.integers(1, 2)),
        max_same_system_share=draw(st.sampled_from([Fraction(0), Fraction(1, 3), Fraction(1, 2), Fraction(1)])),
        required_domains=tuple(sorted(draw(st.sets(st.sampled_from(DOMAINS), max_size=3)))),
        min_senior=draw(st.integers(0, min(3, seats))),
        domain_names={d: f"领域{d}" for d in DOMAINS},
    )


# ---------------------------------------------------------------- composition properties


@PURE
@given(order=pools(), rules=rule_sets())
def test_compose_never_breaks_a_rule_and_finds_the_first_compliant_panel(order, rules):
    composition = compose(order, rules, alternates_limit=5)
    by_id = {m.expert_id: m for m in order}
    panel = [by_id[i] for i in composition.panel]
    assert len(set(composition.panel)) == len(composition.panel), "an expert twice on one panel"
    expected = brute_force(order, rules)
    if expected is not None:
        assert composition.compliant
        assert hard_rule_breaks(panel, rules) == set()
        # Deterministic and rank-respecting: exactly the brute force's choice.
        assert composition.panel == expected
        assert composition.failures == []
    else:
        assert not composition.compliant
        assert composition.failures, "an impossible request must name the rule that fails"
        named = {f.code for f in composition.failures}
        # What it names is exactly what the nearest panel breaks ...
        assert named == hard_rule_breaks(panel, rules)
        # ... and the nearest panel never seats relatives together.
        assert "relatives" not in named
        assert all(f.message for f in composition.failures)


@PURE
@given(order=pools(), rules=rule_sets())
def test_nearest_panel_breaks_the_fewest_rules(order, rules):
    composition = compose(order, rules, alternates_limit=5)
    assume(not composition.compliant)
    broken = len(composition.failures)
    # No panel of any size up to seats breaks fewer rules (the relatives rule never broken).
    for size in range(rules.seats + 1):
        for combo in itertools.combinations(order, size):
            breaks = hard_rule_breaks(list(combo), rules)
            if "relatives" in breaks:
                continue
            assert len(breaks) >= broken, (combo, breaks, composition.failures)


@PURE_PROFILES
@given(order=pools(), rules=rule_sets())
def test_alternates_replace_members_keeping_every_rule(order, rules):
    composition = compose(order, rules, alternates_limit=3)
    assume(composition.compliant)
    by_id = {m.expert_id: m for m in order}
    panel = [by_id[i] for i in composition.panel]
    positions = {m.expert_id: k for k, m in enumerate(order)}
    listed = [a["expert_id"] for a in composition.alternates]
    assert listed == sorted(listed, key=positions.__getitem__), "alternates out of order"
    assert not set(listed) & set(composition.panel)
    for alternate in composition.alternates:
        candidate = by_id[alternate["expert_id"]]
        for k, member in enumerate(panel):
            proposed = panel[:k] + [candidate] + panel[k + 1:]
            assert (member.expert_id in alternate["replaces"]) == (not hard_rule_breaks(proposed, rules))
    for member_id, first in composition.first_replacement.items():
        k = composition.panel.index(member_id)
        suitable = [c for c in order if c.expert_id not in composition.panel
                    and not hard_rule_breaks(panel[:k] + [c] + panel[k + 1:], rules)]
        if not suitable:
            assert first is None
            continue
        keeping = [c for c in suitable
                   if not any(m.representative for m in panel)
                   or any(m.representative for m in panel[:k] + [c] + panel[k + 1:])]
        assert first == (keeping or suitable)[0].expert_id


def members(*specs) -> list[Member]:
    """(employer, same_system, covers, senior, representative) per expert, ids 1..n."""
    return [Member(i, e, s, frozenset(c), sen, rep) for i, (e, s, c, sen, rep) in enumerate(specs, start=1)]


def rules(seats=5, **overrides) -> Rules:
    base = dict(seats=seats, max_per_employer=1, max_same_system_share=Fraction(1, 3), required_domains=(),
                min_senior=1, domain_names={1: "城乡规划", 2: "财政预算", 3: "公共卫生"})
    base.update(overrides)
    return Rules(**base)


def test_a_required_domain_nobody_covers_is_named():
    pool = members(*[(i, False, {1}, i == 1, True) for i in range(1, 8)])
    composition = compose(pool, rules(required_domains=(1, 2)), alternates_limit=3)
    assert not composition.compliant
    [failure] = composition.failures
    assert failure.code == "domains"
    assert "财政预算" in failure.message and "没有合格候选人覆盖" in failure.message
    # The nearest panel is full size and breaks only that rule.
    assert len(composition.panel) == 5


def test_too_few_qualified_candidates_is_named():
    pool = members(*[(i, False, set(), True, True) for i in range(1, 4)])
    composition = compose(pool, rules(seats=5), alternates_limit=3)
    assert [f.code for f in composition.failures] == ["seats"]
    assert "3 人" in composition.failures[0].message and "5 个席位" in composition.failures[0].message
    assert composition.panel == [1, 2, 3]


def test_an_impossible_same_system_cap_is_named_not_just_a_short_panel():
    # 5 seats, at most 1 same-system official; only 3 candidates are not officials of that system.
    pool = members(*[(i, i > 3, set(), True, True) for i in range(1, 9)])
    composition = compose(pool, rules(seats=5), alternates_limit=3)
    assert [f.code for f in composition.failures] == ["same_system"]
    assert "同系统政府人员至多 1 人" in composition.failures[0].message
    assert len(composition.panel) == 5 and not composition.compliant


def test_employer_cap_counts_the_whole_organisation_tree():
    # Members carry the root of their employer: two colleges of one university share root 7.
    pool = members((7, False, set(), True, True), (7, False, set(), True, True), (8, False, set(), False, True),
                   (9, False, set(), False, True))
    composition = compose(pool, rules(seats=3), alternates_limit=3)
    assert composition.panel == [1, 3, 4]


def test_relatives_never_sit_together_and_the_next_candidate_is_taken():
    pool = members(*[(i, False, set(), True, True) for i in range(1, 7)])
    pool[0] = Member(1, 1, False, frozenset(), True, True, frozenset({2}))
    composition = compose(pool, rules(seats=3), alternates_limit=3)
    assert composition.panel == [1, 3, 4]
    # Declared by one of the two, it binds both ways.
    pool[0] = Member(1, 1, False, frozenset(), True, True)
    pool[1] = Member(2, 2, False, frozenset(), True, True, frozenset({1}))
    assert compose(pool, rules(seats=3), alternates_limit=3).panel == [1, 3, 4]


def test_representativeness_is_preferred_and_reported():
    pool = members(*[(i, False, set(), True, i == 6) for i in range(1, 8)])
    composition = compose(pool, rules(seats=3), alternates_limit=3)
    assert composition.panel == [1, 2, 6]
    assert composition.report["representative"]["met"]
    nobody = members(*[(i, False, set(), True, False) for i in range(1, 8)])
    composition = compose(nobody, rules(seats=3), alternates_limit=3)
    assert composition.compliant and composition.panel == [1, 2, 3]
    assert not composition.report["representative"]["met"]


def test_large_pool_is_fast_and_compliant():
    pool = [Member(i, i % 400, i % 9 == 0, frozenset({i % 5}), i % 6 == 0, i % 4 == 0) for i in range(1, 5001)]
    r = rules(seats=9, required_domains=(0, 1, 2, 3, 4), min_senior=3)
    composition = compose(pool, r, alternates_limit=10)
    assert composition.compliant and not composition.search_truncated
    assert hard_rule_breaks([pool[i - 1] for i in composition.panel], r) == set()


# ---------------------------------------------------------------- hard filters

DAY = date(2027, 5, 10)


def profile(expert_id=1, **overrides) -> Profile:
    base = dict(expert_id=expert_id, name="张伟", status="active", employer_id=10, employer_root_id=10,
                employer_name="江海大学", same_system_government=False, primary_domain_id=1,
                secondary_domain_ids=frozenset(), tier_rank=3, tier_name="库员专家", senior=False, representative=False)
    base.update(overrides)
    return Profile(**base)


def context(**overrides) -> FilterContext:
    base = dict(consultation_date=DAY, conflict_root_ids=frozenset({100, 200}), avoid_ids=frozenset({99}),
                yearly_cap=10, cooling_since=DAY.replace(year=DAY.year - 3))
    base.update(overrides)
    return FilterContext(**base)


@pytest.mark.parametrize("overrides, reason", [
    ({"status": "suspended"}, "not_active"),
    ({"status": "exited"}, "not_active"),
    ({"unavailable": ((DAY, DAY),)}, "unavailable"),
    ({"unavailable": ((DAY - timedelta(days=3), DAY + timedelta(days=3)),)}, "unavailable"),
    ({"engagements_in_year": 10}, "yearly_cap"),
    ({"employer_root_id": 100}, "employment"),
    ({"past_employments": (Employment(200, None),)}, "employment"),
    ({"past_employments": (Employment(200, DAY.replace(year=DAY.year - 3)),)}, "employment"),
    ({"conflict_organisation_root_ids": frozenset({200})}, "declared_conflict"),
    ({"expert_id": 99}, "avoid_list"),
])
def test_each_filter_drops_under_its_reason(overrides, reason):
    outcome = apply_filters([profile(**overrides)], context())
    assert outcome.qualified == []
    assert outcome.dropped[reason] == [overrides.get("expert_id", 1)]


@pytest.mark.parametrize("overrides", [
    {"unavailable": ((DAY + timedelta(days=1), DAY + timedelta(days=9)),)},
    {"engagements_in_year": 9},
    {"past_employments": (Employment(200, DAY.replace(year=DAY.year - 3) - timedelta(days=1)),)},
    {"conflict_organisation_root_ids": frozenset({300})},
], ids=["unavailable-other-days", "below-cap", "employment-ended-before-cooling", "conflict-elsewhere"])
def test_boundaries_that_still_qualify(overrides):
    assert apply_filters([profile(**overrides)], context()).qualified != []


@st.composite
def profiles(draw):
    n = draw(st.integers(0, 15))
    out = []
    for expert_id in range(1, n + 1):
        out.append(profile(
            expert_id,
            status=draw(st.sampled_from(["active", "active", "active", "suspended", "exited"])),
            employer_root_id=draw(st.sampled_from([10, 11, 100, 200, 300])),
            unavailable=tuple(draw(st.lists(
                st.tuples(st.just(DAY - timedelta(days=1)),
                          st.sampled_from([DAY - timedelta(days=1), DAY, DAY + timedelta(days=5)])),
                max_size=1))),
            engagements_in_year=draw(st.integers(0, 12)),
            past_employments=tuple(draw(st.lists(st.builds(
                Employment, st.sampled_from([100, 200, 300]),
                st.one_of(st.none(), st.dates(date(2020, 1, 1), date(2027, 12, 31)))), max_size=2))),
            conflict_organisation_root_ids=frozenset(draw(st.sets(st.sampled_from([100, 200, 300]), max_size=2))),
        ))
    return out


@PURE_PROFILES
@given(pool=profiles(), avoid=st.sets(st.integers(1, 15), max_size=3))
def test_no_qualified_candidate_breaks_a_hard_filter(pool, avoid):
    ctx = context(avoid_ids=frozenset(avoid))
    outcome = apply_filters(pool, ctx)
    for p in outcome.qualified:
        assert p.status == "active"
        assert not any(start <= DAY <= end for start, end in p.unavailable)
        assert p.engagements_in_year < ctx.yearly_cap
        assert p.employer_root_id not in ctx.conflict_root_ids
        assert not any(job.organisation_root_id in ctx.conflict_root_ids
                       and (job.ended_on is None or job.ended_on >= ctx.cooling_since) for job in p.past_employments)
        assert not p.conflict_organisation_root_ids & ctx.conflict_root_ids
        assert p.expert_id not in ctx.avoid_ids
    # Every expert is either qualified or counted under exactly one reason.
    dropped = [i for ids in outcome.dropped.values() for i in ids]
    assert sorted(dropped + [p.expert_id for p in outcome.qualified]) == sorted(p.expert_id for p in pool)
    record = outcome.as_record()
    assert sum(record["counts"].values()) == record["dropped"] == len(dropped)
    assert set(record["counts"]) == {code for code, _ in FILTER_REASONS}


# ---------------------------------------------------------------- ranking


def rank_context(*targets) -> RankContext:
    return RankContext(tuple(targets), best_tier_rank=1, worst_tier_rank=3,
                       domain_names={1: "城乡建设", 2: "城乡规划", 3: "城市治理"})


def test_a_first_level_domain_is_matched_by_its_children():
    target = DomainTarget(1, "城乡建设", frozenset({1, 2}), required=True)
    expert = profile(primary_domain_id=2)
    [ranked] = rank([expert], {}, rank_context(target))
    assert ranked.parts["domain"] == matcher.DOMAIN_MATCH_PRIMARY
    assert ranked.overlap[0]["matched_by"] == "城乡规划"
    assert matcher.covers(expert, [target]) == [1]
    # A second-level target is not matched by a sibling.
    sibling = DomainTarget(2, "城乡规划", frozenset({2}), required=True)
    assert matcher.covers(profile(primary_domain_id=3), [sibling]) == []


def test_rotation_lowers_rank_above_all_with_the_same_department():
    quiet = profile(1)
    busy_elsewhere = profile(2, engagements_in_lookback=2)
    busy_here = profile(3, engagements_in_lookback=2, same_department_in_lookback=2)
    order = [r.profile.expert_id for r in rank([busy_here, busy_elsewhere, quiet], {}, rank_context())]
    assert order == [1, 2, 3]


def test_text_relevance_leads_and_tier_breaks_near_ties():
    relevant = profile(1, tier_rank=3)
    chief = profile(2, tier_rank=1)
    text = {1: TextEvidence(1.0, ("城市更新",), {"个人简介": "<mark>城市更新</mark>"})}
    order = [r.profile.expert_id for r in rank([chief, relevant], text, rank_context())]
    assert order == [1, 2]
    near_tie = rank([profile(5, tier_rank=3), profile(6, tier_rank=1)], {}, rank_context())
    assert [r.profile.expert_id for r in near_tie] == [6, 5]


@PURE
@given(scores=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), st.integers(0, 3)), max_size=20))
def test_ranking_is_a_total_order_reproducible_from_stored_scores(scores):
    pool = [profile(i + 1, engagements_in_lookback=a, same_department_in_lookback=b)
            for i, (_, a, b) in enumerate(scores)]
    text = {i + 1: TextEvidence(s) for i, (s, _, _) in enumerate(scores)}
    ranked = rank(pool, text, rank_context())
    stored = [(r.score, r.profile.expert_id) for r in ranked]
    assert stored == sorted(stored, key=lambda pair: matcher.order_key(*pair))


# ---------------------------------------------------------------- the fast paths against their plain definitions
# apply_filters, rank and the search take shortcuts at 100,000 experts (docs in
# matcher.py); each is checked here against the definition it must equal.


@PURE_PROFILES
@given(pool=profiles(), avoid=st.sets(st.integers(1, 15), max_size=3), shuffle=st.randoms(use_true_random=False))
def test_filters_equal_filter_reasons_per_expert_in_id_order(pool, avoid, shuffle):
    ctx = context(avoid_ids=frozenset(avoid))
    dropped = {code: [] for code, _ in FILTER_REASONS}
    all_reasons, qualified = {}, []
    for p in sorted(pool, key=lambda p: p.expert_id):
        reasons = matcher.filter_reasons(p, ctx)
        if reasons:
            dropped[reasons[0]].append(p.expert_id)
            all_reasons[p.expert_id] = reasons
        else:
            qualified.append(p.expert_id)
    shuffled = list(pool)
    shuffle.shuffle(shuffled)
    targets = (DomainTarget(1, "城乡建设", frozenset({1}), True),)
    for given_pool, grouped_for in ((pool, None), (shuffled, None), (shuffled, targets)):
        outcome = apply_filters(given_pool, ctx, grouped_for)
        assert [p.expert_id for p in outcome.qualified] == qualified
        assert outcome.dropped == dropped and list(outcome.all_reasons.items()) == list(all_reasons.items())


@st.composite
def ranking_pools(draw):
    n = draw(st.integers(0, 40))
    ids = draw(st.permutations(range(1, n + 1)))
    return [profile(
        expert_id,
        primary_domain_id=draw(st.sampled_from([1, 2, 3, 7])),
        secondary_domain_ids=frozenset(draw(st.sets(st.sampled_from([1, 2, 3, 7]), max_size=2))),
        tier_rank=draw(st.sampled_from([None, 1, 2, 3])),
        engagements_in_lookback=draw(st.integers(0, 3)),
        same_department_in_lookback=draw(st.integers(0, 1)),
    ) for expert_id in ids]


@PURE_PROFILES
@given(pool=ranking_pools(), scored=st.dictionaries(st.integers(1, 45), st.floats(0, 1), max_size=12),
       target_sets=st.sampled_from([(), ((1, True),), ((2, True), (3, False)), ((1, False), (7, True))]))
def test_ranking_equals_scoring_every_expert_and_sorting(pool, scored, target_sets):
    targets = tuple(DomainTarget(d, f"领域{d}", frozenset({d}), required) for d, required in target_sets)
    ctx = rank_context(*targets)
    text = {i: TextEvidence(s, ("词",)) for i, s in scored.items()}
    expected = sorted((matcher.ranked_one(p, text.get(p.expert_id), ctx) for p in pool),
                      key=lambda r: matcher.order_key(r.score, r.profile.expert_id))
    grouped = apply_filters(pool, context(conflict_root_ids=frozenset(), avoid_ids=frozenset()), targets)
    for ranking in (rank(pool, text, ctx), rank(grouped.qualified, text, ctx, grouped.groups)):
        assert len(ranking) == len(expected)
        assert list(ranking) == expected
        assert list(ranking.members()) == [matcher.member_of(r.profile, targets) for r in expected]


@PURE
@given(order=pools(), rules=rule_sets())
def test_is_compliant_is_check_panels_verdict(order, rules):
    for size in range(min(len(order), rules.seats + 1) + 1):
        panel = order[:size]
        report = matcher.check_panel(panel, rules)
        assert matcher.is_compliant(panel, rules) == all(report[code]["met"] for code in matcher.HARD_RULES)


@pytest.mark.parametrize("window", [1, 2, 3])
@PURE
@given(order=pools(), rules=rule_sets())
def test_a_search_over_a_small_window_finds_what_one_over_the_whole_order_does(window, order, rules):
    whole = compose(order, rules, alternates_limit=3)
    original = matcher.SEARCH_FIRST_WINDOW
    matcher.SEARCH_FIRST_WINDOW = window
    try:
        windowed = compose(order, rules, alternates_limit=3)
    finally:
        matcher.SEARCH_FIRST_WINDOW = original
    assert windowed == whole


def test_a_domain_covered_only_deep_in_a_large_pool_is_still_found():
    # The search window has to grow to the one candidate who covers the domain.
    pool = [Member(i, i, False, frozenset({2}) if i == 4000 else frozenset(), i % 3 == 0, True)
            for i in range(1, 5001)]
    composition = compose(pool, rules(seats=5, required_domains=(2,), min_senior=1), alternates_limit=3)
    assert composition.compliant and composition.panel == [1, 2, 3, 4, 4000]
