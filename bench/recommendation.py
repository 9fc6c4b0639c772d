"""The full recommendation on plain data: the matcher
(experts_service/panels/matcher.py) over the synthetic pool, with our text
relevance, the way panels/operations.run_recommendation does it minus the
database:

    apply_filters -> text relevance (search with the item's text, keywords
    and target domain names, limit = pool size, then kept to the qualified
    experts, as operations._text_evidence asks search_bridge.text_relevance)
    -> rank -> members -> compose (+ the filter and composition records).

What the database gives the matcher (status, tier, party, workload, past
employers, declared conflicts, relatives) is drawn here per expert,
deterministically, with plausible shares; the request (department, required
domain, seats) is derived from each decision item with the policy's default
numbers.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from bench.generate import DEFAULT_GOVERNMENT_BUREAUS, DOMAINS, GOVERNMENT_BUREAUS

MATCHER_MODULE = "experts_service.panels.matcher"

# Policy defaults (experts_service/policy.py) the recommendation runs under.
SEATS = 5                          # meeting_min_seats
MAX_EXPERTS_PER_EMPLOYER = 1       # max_experts_per_employer
MAX_SAME_SYSTEM_SHARE = Fraction(1, 3)
MIN_SENIOR_MEMBERS = 1             # min_senior_tier_members
YEARLY_ENGAGEMENT_CAP = 10         # yearly_engagement_cap
EMPLOYMENT_COOLING_YEARS = 3       # employment_cooling_years
ALTERNATES_LIMIT = 10              # panels/operations.py
CONSULTATION_DATE = date(2026, 12, 1)
DAYS_PER_YEAR = 365

# Shares of the facts the database would hold.
ACTIVE_SHARE = 0.95
UNAVAILABLE_SHARE = 0.03
TIER_WEIGHTS = {1: 0.05, 2: 0.2, 3: 0.75}  # chief, core, general
SENIOR_TIER_RANKS = frozenset({1, 2})
TIER_NAMES = {1: "首席专家", 2: "核心专家", 3: "库员专家"}
REPRESENTATIVE_SHARE = 0.4
ENGAGEMENTS_IN_YEAR_WEIGHTS = (50, 20, 12, 8, 4, 2, 1, 1, 0.5, 0.5, 0.5)  # 0..10 engagements
SAME_DEPARTMENT_SHARE = 0.05
PAST_EMPLOYMENT_SHARE = 0.05
DECLARED_CONFLICT_SHARE = 0.01
RELATIVE_PAIR_SHARE = 0.005
DEPARTMENT_CITY = "江海市"

_UNIVERSITY_ROOT = re.compile(r"^(.+?大学)")
_GOVERNMENT = re.compile(r"^(.+?市)(.+(局|委员会))$")


def available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(MATCHER_MODULE) is not None
    except ModuleNotFoundError:
        return False


def employer_root(employer: str) -> str:
    """A college's root is its university (employer cap and conflicts count the whole tree)."""
    match = _UNIVERSITY_ROOT.match(employer)
    return match.group(1) if match else employer


def bureau_of(employer: str) -> str | None:
    """The 系统 of a government employer: its bureau (住房和城乡建设局), any city."""
    match = _GOVERNMENT.match(employer)
    return match.group(2) if match else None


@dataclass
class Timing:
    filters: float = 0.0
    text: float = 0.0
    rank: float = 0.0
    compose: float = 0.0

    @property
    def total(self) -> float:
        return self.filters + self.text + self.rank + self.compose


class RecommendationBench:
    def __init__(self, profiles: list[dict], seed: int):
        from experts_service.panels import matcher

        self.matcher = matcher
        self.seed = seed
        self.roots: dict[str, int] = {}
        self.bureau_of_root: dict[int, str | None] = {}
        rng = random.Random(f"{seed}:matcher-facts")
        for profile in profiles:
            self._root_id(profile["employer"])
        root_ids = sorted(self.roots.values())
        cooling_since = CONSULTATION_DATE - timedelta(days=EMPLOYMENT_COOLING_YEARS * DAYS_PER_YEAR)
        relatives: dict[int, set[int]] = {}
        for _ in range(round(len(profiles) * RELATIVE_PAIR_SHARE)):
            a, b = rng.randint(1, len(profiles)), rng.randint(1, len(profiles))
            if a != b:
                relatives.setdefault(a, set()).add(b)
                relatives.setdefault(b, set()).add(a)
        self.facts = []  # per expert: everything but the request-dependent same-system flag
        for profile in profiles:
            tier = rng.choices(list(TIER_WEIGHTS), weights=list(TIER_WEIGHTS.values()))[0]
            in_year = rng.choices(range(len(ENGAGEMENTS_IN_YEAR_WEIGHTS)), weights=ENGAGEMENTS_IN_YEAR_WEIGHTS)[0]
            self.facts.append({
                "expert_id": profile["expert_id"],
                "name": profile["name"],
                "status": "active" if rng.random() < ACTIVE_SHARE else rng.choice(("suspended", "exited")),
                "employer_id": self._root_id(profile["employer"]),
                "employer_root_id": self._root_id(employer_root(profile["employer"])),
                "employer_name": profile["employer"],
                "primary_domain_id": profile["domain_ids"][0],
                "secondary_domain_ids": frozenset(profile["domain_ids"][1:]),
                "tier_rank": tier,
                "tier_name": TIER_NAMES[tier],
                "senior": tier in SENIOR_TIER_RANKS,
                "representative": rng.random() < REPRESENTATIVE_SHARE,
                "unavailable": ((CONSULTATION_DATE, CONSULTATION_DATE),) if rng.random() < UNAVAILABLE_SHARE else (),
                "engagements_in_year": in_year,
                "engagements_in_lookback": in_year + rng.randint(0, 2),
                "same_department_in_lookback": int(rng.random() < SAME_DEPARTMENT_SHARE),
                "past_employments": (matcher.Employment(rng.choice(root_ids), cooling_since + timedelta(days=1)),)
                if rng.random() < PAST_EMPLOYMENT_SHARE else (),
                "conflict_organisation_root_ids": frozenset({rng.choice(root_ids)})
                if rng.random() < DECLARED_CONFLICT_SHARE else frozenset(),
                "relative_ids": frozenset(relatives.get(profile["expert_id"], ())),
            })
        self.root_ids = root_ids
        self.cooling_since = cooling_since

    def _root_id(self, name: str) -> int:
        if name not in self.roots:
            self.roots[name] = len(self.roots) + 1
            self.bureau_of_root[self.roots[name]] = bureau_of(name)
        return self.roots[name]

    def request(self, item: dict):
        """(profiles, FilterContext, RankContext, Rules) for one decision item."""
        matcher = self.matcher
        rng = random.Random(f"{self.seed}:request:{item['query_id']}")
        bureaus = GOVERNMENT_BUREAUS.get(item["category"], DEFAULT_GOVERNMENT_BUREAUS)
        bureau = rng.choice(bureaus)
        department_root = self._root_id(f"{DEPARTMENT_CITY}{bureau}")
        stakeholder_root = rng.choice(self.root_ids)
        profiles = [matcher.Profile(**facts,
                                    same_system_government=self.bureau_of_root.get(facts["employer_id"]) == bureau)
                    for facts in self.facts]
        filter_context = matcher.FilterContext(
            consultation_date=CONSULTATION_DATE,
            conflict_root_ids=frozenset({department_root, stakeholder_root}),
            avoid_ids=frozenset(),
            yearly_cap=YEARLY_ENGAGEMENT_CAP,
            cooling_since=self.cooling_since,
        )
        domain_names = {domain_id: name for name, (domain_id, _parent) in DOMAINS.items()}
        # The item's first domain is required of the panel; the others only count in the ranking.
        targets = tuple(
            matcher.DomainTarget(DOMAINS[name][0], name, frozenset({DOMAINS[name][0]}), required=(position == 0))
            for position, name in enumerate(item["domains"]))
        rank_context = matcher.RankContext(targets, min(TIER_WEIGHTS), max(TIER_WEIGHTS), domain_names)
        required = tuple(t.domain_id for t in targets if t.required)
        rules = matcher.Rules(seats=SEATS, max_per_employer=MAX_EXPERTS_PER_EMPLOYER,
                              max_same_system_share=MAX_SAME_SYSTEM_SHARE, required_domains=required,
                              min_senior=MIN_SENIOR_MEMBERS, domain_names={d: domain_names[d] for d in required})
        return profiles, filter_context, rank_context, rules

    def recommend(self, item: dict, relevance, prepared=None) -> tuple[Timing, dict]:
        """One run; `relevance(text, keywords, domains, limit)` returns search hits, best first.
        Building the request's plain data stands for facts.gather (the database) and is not timed."""
        matcher = self.matcher
        profiles, filter_context, rank_context, rules = prepared or self.request(item)
        timing = Timing()
        started = time.perf_counter()
        # As operations.run_recommendation: the qualified experts grouped for ranking in the same sweep.
        outcome = matcher.apply_filters(profiles, filter_context, rank_context.targets)
        qualified_ids = [p.expert_id for p in outcome.qualified]
        filtered_record = outcome.as_record()
        timing.filters = time.perf_counter() - started

        started = time.perf_counter()
        # As operations._text_evidence + search_bridge.text_relevance: the target domains'
        # names, and the whole pool as limit (it applies before the candidate filter).
        allowed = set(qualified_ids)
        domain_names = [target.name for target in rank_context.targets]
        hits = relevance(item["text"], item["keywords"], domain_names, len(profiles)) if qualified_ids else []
        evidence = {hit.expert_id: matcher.TextEvidence(float(hit.score), tuple(hit.matched_terms),
                                                        hit.highlights)
                    for hit in hits if hit.expert_id in allowed}
        timing.text = time.perf_counter() - started

        started = time.perf_counter()
        ranked = matcher.rank(outcome.qualified, evidence, rank_context, outcome.groups)
        timing.rank = time.perf_counter() - started

        started = time.perf_counter()
        # As operations.run_recommendation: the members in rank order, made as compose reads them.
        members = ranked.members()
        composition = matcher.compose(members, rules, alternates_limit=ALTERNATES_LIMIT)
        composition.as_record()
        timing.compose = time.perf_counter() - started
        shape = {"qualified": len(qualified_ids), "text_hits": len(evidence), "compliant": composition.compliant,
                 "dropped": filtered_record["dropped"]}
        return timing, shape
