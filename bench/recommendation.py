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
ALTERNATES_LIMIT = 10              # panels/operations.py
CONSULTATION_DATE = date(2026, 12, 1)

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


# The two paths recommend() times: the service's, and its definition.
COLUMNS = "columns"
PROFILES = "profiles"


@dataclass(frozen=True)
class Prepared:
    department_root: int
    system: str
    filter_context: object
    rank_context: object
    rules: object


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
        from experts_service.panels import facts
        from experts_service.policy import Policy

        # The request windows under the policy defaults (no app: Policy's own defaults).
        self.windows = facts.windows_for(CONSULTATION_DATE, Policy(0, {}))
        cooling_since = self.windows.cooling_since
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
        self.pool = self._kept_pool()

    def _root_id(self, name: str) -> int:
        if name not in self.roots:
            self.roots[name] = len(self.roots) + 1
            self.bureau_of_root[self.roots[name]] = bureau_of(name)
        return self.roots[name]

    def _kept_pool(self):
        """The facts as panels/facts.read_pool keeps them between requests (facts.Pool).

        Engagements become dated rows requested by the city's bureaus (so the
        same-department count depends on the request, as in the service): the
        year's fall in 2026 before the consultation day, the others in the
        rotation window's December 2025.
        """
        from experts_service.panels import facts

        matcher = self.matcher
        windows = self.windows
        rng = random.Random(f"{self.seed}:kept-pool")
        bureaus = sorted({b for group in GOVERNMENT_BUREAUS.values() for b in group} | set(DEFAULT_GOVERNMENT_BUREAUS))
        requesters = [self._root_id(f"{DEPARTMENT_CITY}{bureau}") for bureau in bureaus]
        year_days = (CONSULTATION_DATE - date(CONSULTATION_DATE.year, 1, 1)).days
        base, periods, jobs, engagements = [], {}, {}, []
        government_staff: dict[str, list[int]] = {}
        for facts_of in self.facts:
            expert_id = facts_of["expert_id"]
            base.append(matcher.Profile(**{
                **facts_of, "unavailable": (), "past_employments": (), "engagements_in_year": 0,
                "engagements_in_lookback": 0, "same_department_in_lookback": 0, "same_system_government": False}))
            if facts_of["unavailable"]:
                periods[expert_id] = list(facts_of["unavailable"])
            if facts_of["past_employments"]:
                jobs[expert_id] = [(job.organisation_root_id, job.ended_on) for job in facts_of["past_employments"]]
            bureau = self.bureau_of_root.get(facts_of["employer_id"])
            if bureau is not None:
                government_staff.setdefault(bureau, []).append(expert_id)
            for number in range(facts_of["engagements_in_lookback"]):
                if number < facts_of["engagements_in_year"]:
                    day = date(CONSULTATION_DATE.year, 1, 1) + timedelta(days=rng.randrange(year_days))
                else:
                    day = date(CONSULTATION_DATE.year - 1, 12, 1) + timedelta(days=rng.randrange(31))
                engagements.append((day.toordinal(), expert_id, rng.choice(requesters)))
        engagements.sort()
        return facts.Pool(
            since=windows, organisations=None, domains=(), tiers={}, base=base,
            position={p.expert_id: index for index, p in enumerate(base)}, periods=periods, jobs=jobs,
            engagement_days=[e[0] for e in engagements], engagement_experts=[e[1] for e in engagements],
            engagement_roots=[e[2] for e in engagements], government_staff=government_staff,
        )

    def request(self, item: dict) -> Prepared:
        """The request facts.gather would make for one decision item (department, conflicts, targets, rules)."""
        matcher = self.matcher
        rng = random.Random(f"{self.seed}:request:{item['query_id']}")
        bureaus = GOVERNMENT_BUREAUS.get(item["category"], DEFAULT_GOVERNMENT_BUREAUS)
        bureau = rng.choice(bureaus)
        department_root = self._root_id(f"{DEPARTMENT_CITY}{bureau}")
        stakeholder_root = rng.choice(self.root_ids)
        filter_context = matcher.FilterContext(
            consultation_date=CONSULTATION_DATE,
            conflict_root_ids=frozenset({department_root, stakeholder_root}),
            avoid_ids=frozenset(),
            yearly_cap=YEARLY_ENGAGEMENT_CAP,
            cooling_since=self.windows.cooling_since,
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
        return Prepared(department_root, bureau, filter_context, rank_context, rules)

    def recommend(self, item: dict, relevance, prepared: Prepared | None = None,
                  path: str = COLUMNS) -> tuple[Timing, dict]:
        """One run from the kept pool; `relevance(text, keywords, domains, limit)` returns search hits, best first.

        COLUMNS is what operations.run_recommendation does (panels/columns.py);
        PROFILES is its definition, the path before it: every expert's profile
        for the request (Pool.profiles), then matcher.apply_filters and rank.
        Both start from the kept pool, so both include making the request's
        facts, and both must give the same panel.
        """
        from experts_service.panels import columns

        matcher = self.matcher
        prepared = prepared or self.request(item)
        timing = Timing()
        started = time.perf_counter()
        if path == COLUMNS:
            outcome = columns.apply_filters(
                columns.RequestProfiles(self.pool, self.windows, prepared.department_root, prepared.system),
                prepared.filter_context)
            qualified_ids = outcome.qualified_ids
        else:
            profiles = self.pool.profiles(self.windows, prepared.department_root, prepared.system)
            outcome = matcher.apply_filters(profiles, prepared.filter_context, prepared.rank_context.targets)
            qualified_ids = [p.expert_id for p in outcome.qualified]
        filtered_record = outcome.as_record()
        timing.filters = time.perf_counter() - started

        started = time.perf_counter()
        # As operations._text_evidence + search_bridge.text_relevance: the target domains'
        # names, and the whole pool as limit (it applies before the candidate filter).
        allowed = set(qualified_ids)
        domain_names = [target.name for target in prepared.rank_context.targets]
        hits = relevance(item["text"], item["keywords"], domain_names, len(self.pool.base)) if qualified_ids else []
        evidence = {hit.expert_id: matcher.TextEvidence(float(hit.score), tuple(hit.matched_terms),
                                                        hit.highlights)
                    for hit in hits if hit.expert_id in allowed}
        timing.text = time.perf_counter() - started

        started = time.perf_counter()
        if path == COLUMNS:
            ranked = columns.rank(outcome, evidence, prepared.rank_context)
        else:
            ranked = matcher.rank(outcome.qualified, evidence, prepared.rank_context, outcome.groups)
        timing.rank = time.perf_counter() - started

        started = time.perf_counter()
        # As operations.run_recommendation: the members in rank order, made as compose reads them.
        members = ranked.members()
        composition = matcher.compose(members, prepared.rules, alternates_limit=ALTERNATES_LIMIT)
        composition.as_record()
        timing.compose = time.perf_counter() - started
        shape = {"qualified": len(qualified_ids), "text_hits": len(evidence), "compliant": composition.compliant,
                 "dropped": filtered_record["dropped"], "panel": list(composition.panel)}
        return timing, shape
