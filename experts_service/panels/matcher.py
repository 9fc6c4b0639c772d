"""The matcher's rules as pure functions: plain data in, plain data out.

Three steps (docs/DOMAIN.md, consultation workflow 2-4):

1. `apply_filters`: the hard filters. Every dropped expert is counted under
   the first reason in FILTER_REASONS order that applies (so the counts add
   up to the number dropped); every reason that applies is kept per expert.
2. `rank`: text relevance, domain match, tier and rotation combined into one
   score; ties go to the lower expert id so the order is total.
3. `compose`: the panel. The lexicographically first panel in the given
   order (rank order, or a draw's order) that meets every composition rule,
   found by a depth-first search that tries "include" before "skip" and
   prunes with necessary conditions. If no compliant panel exists, the
   rules that cannot be met together are found by relaxing the fewest
   rules (in RELAXATION_PRIORITY order), and the best panel under that
   relaxation is returned as the nearest panel, marked not compliant.

At 100,000 experts most of the pool never gets near a panel, so only what
is read gets built: `apply_filters` (given the targets) also sorts the
qualified experts into ranking groups in the same sweep, `rank` scores each
group once and returns the order as a `Ranking` that sorts groups in as it
is read, `Ranking.members()` makes the composition facts likewise, and the
search and the alternates read the order from its head. The results are
exactly those of scoring, sorting and searching the whole pool; the tests
check each shortcut against that definition.

Nothing here touches the database or Flask; `facts.py` loads the data and
`operations.py` stores the result.
"""
from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from operator import attrgetter

# Bump when filters, ranking or composition change, text relevance
# (search/query.py) included: stored records name it.
# v2: achievements scored one by one in text relevance.
MATCHER_VERSION = "matcher-v2"

# ---------------------------------------------------------------- ranking weights
# An engineering choice, not a rule of DOMAIN.md, so they live here rather
# than in the policy; every record stores them (inputs.weights) so it stays
# self-describing after they change. Text relevance leads because it reads
# the whole profile; domain match is coarser; tier only breaks near-ties
# ("higher tier slightly preferred"); rotation can outweigh a good domain
# match, because the same few faces on every panel is what auditors flag.
WEIGHT_TEXT = 0.50
WEIGHT_DOMAIN = 0.30
WEIGHT_TIER = 0.10
WEIGHT_ROTATION = 0.35
# Domain match of one target domain: the expert's primary domain counts
# fully, a secondary domain partly (secondary fields are self-declared and broad).
DOMAIN_MATCH_PRIMARY = 1.0
DOMAIN_MATCH_SECONDARY = 0.6
# Rotation penalty (0..1): each engagement in the lookback window adds a
# little; each one with the same requesting department adds much more.
ROTATION_PER_ENGAGEMENT = 0.08
ROTATION_PER_SAME_DEPARTMENT = 0.30
# Scores are stored rounded, and the order is computed from the rounded
# values, so a stored record re-sorts to exactly the same order.
SCORE_DIGITS = 6

# Depth-first search budget per search (nodes visited). Real pools meet it
# in about as many nodes as candidates; adversarial ones stop here and the
# result says the search was cut short instead of hanging.
SEARCH_NODE_BUDGET = 50_000


def weights() -> dict[str, float]:
    return {
        "text": WEIGHT_TEXT, "domain": WEIGHT_DOMAIN, "tier": WEIGHT_TIER, "rotation": WEIGHT_ROTATION,
        "domain_primary": DOMAIN_MATCH_PRIMARY, "domain_secondary": DOMAIN_MATCH_SECONDARY,
        "rotation_per_engagement": ROTATION_PER_ENGAGEMENT,
        "rotation_per_same_department": ROTATION_PER_SAME_DEPARTMENT,
    }


# ---------------------------------------------------------------- filters

STATUS_ACTIVE = "active"

FILTER_REASONS: tuple[tuple[str, str], ...] = (
    ("not_active", "不在库（暂停、退出或尚未聘任）"),
    ("unavailable", "论证日期不可参加"),
    ("yearly_cap", "本年度参与次数已达上限"),
    ("employment", "现在或回避期内曾在申请部门、利害关系单位或受托机构任职"),
    ("declared_conflict", "已申报与申请部门、利害关系单位或受托机构存在利益冲突"),
    ("avoid_list", "申请部门要求回避"),
)
FILTER_LABELS = dict(FILTER_REASONS)

_EXPERT_ID = attrgetter("expert_id")


@dataclass(frozen=True)
class Employment:
    organisation_root_id: int
    ended_on: date | None  # None: still employed there


@dataclass(frozen=True)
class Profile:
    """What the filters, ranking and composition need to know of one expert."""

    expert_id: int
    name: str
    status: str
    employer_id: int
    employer_root_id: int
    employer_name: str
    # Employer is a government body of the requesting department's 系统.
    same_system_government: bool
    primary_domain_id: int
    secondary_domain_ids: frozenset[int]
    tier_rank: int | None
    tier_name: str
    senior: bool
    # Non-CPC, or a 人大代表 / 政协委员 (代表性).
    representative: bool
    unavailable: tuple[tuple[date, date], ...] = ()
    engagements_in_year: int = 0
    engagements_in_lookback: int = 0
    same_department_in_lookback: int = 0
    past_employments: tuple[Employment, ...] = ()
    conflict_organisation_root_ids: frozenset[int] = frozenset()
    relative_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class FilterContext:
    consultation_date: date
    # Roots of the requesting department, the stakeholders and (commissioned mode) the institution.
    conflict_root_ids: frozenset[int]
    avoid_ids: frozenset[int]
    yearly_cap: int
    # Employment that ended on or after this day still counts.
    cooling_since: date


def filter_reasons(profile: Profile, context: FilterContext) -> list[str]:
    """Every hard-filter reason that applies to one expert, in FILTER_REASONS order."""
    reasons = []
    if profile.status != STATUS_ACTIVE:
        reasons.append("not_active")
    if profile.unavailable and _unavailable_on(profile, context.consultation_date):
        reasons.append("unavailable")
    if profile.engagements_in_year >= context.yearly_cap:
        reasons.append("yearly_cap")
    if _employed_at(profile, context.conflict_root_ids, context.cooling_since):
        reasons.append("employment")
    if _declared_conflict(profile, context.conflict_root_ids):
        reasons.append("declared_conflict")
    if profile.expert_id in context.avoid_ids:
        reasons.append("avoid_list")
    return reasons


def _unavailable_on(profile: Profile, day: date) -> bool:
    # Loops rather than any(generator): these run for every expert with a period or past job.
    for start, end in profile.unavailable:
        if start <= day <= end:
            return True
    return False


def _employed_at(profile: Profile, roots: frozenset[int], since: date) -> bool:
    """Employed by one of `roots` now, or in a job that ended on or after `since`."""
    if profile.employer_root_id in roots:
        return True
    for job in profile.past_employments:
        if (job.ended_on is None or job.ended_on >= since) and job.organisation_root_id in roots:
            return True
    return False


def _declared_conflict(profile: Profile, roots: frozenset[int]) -> bool:
    return bool(profile.conflict_organisation_root_ids) and not roots.isdisjoint(profile.conflict_organisation_root_ids)


@dataclass(frozen=True)
class FilterOutcome:
    qualified: list[Profile]
    # reason code -> expert ids, each dropped expert under its first reason only
    dropped: dict[str, list[int]]
    # expert id -> every reason that applies
    all_reasons: dict[int, list[str]]
    # The qualified experts in their ranking groups, when apply_filters was given the targets.
    groups: RankGroups | None = field(default=None, compare=False, repr=False)

    def as_record(self) -> dict:
        return filter_record(self.dropped, stored_reasons(self.all_reasons), len(self.qualified))


def stored_reasons(all_reasons: Mapping[int, list[str]]) -> dict[str, list[str]]:
    """all_reasons as a record stores it: in id order, the ids as text (JSON object keys)."""
    return {str(expert_id): reasons for expert_id, reasons in sorted(all_reasons.items())}


def filter_record(dropped: Mapping[str, list[int]], reasons: dict[str, list[str]], qualified: int) -> dict:
    """What a recommendation record stores of the filters: counts, who was dropped and why (`stored_reasons`)."""
    return {
        "counts": {code: len(dropped[code]) for code, _ in FILTER_REASONS},
        "labels": FILTER_LABELS,
        "experts": {code: dropped[code] for code, _ in FILTER_REASONS},
        "all_reasons": reasons,
        "qualified": qualified,
        "dropped": sum(len(ids) for ids in dropped.values()),
    }


# Profiles per step when filtering and grouping in one sweep: few enough that a
# step's profiles are still in the CPU cache when they are grouped (a fresh
# pool of 100,000 is far larger than the cache, and reading it is most of the cost).
SWEEP_STEP = 2048


def apply_filters(profiles: Iterable[Profile], context: FilterContext,
                  targets: Sequence[DomainTarget] | None = None) -> FilterOutcome:
    """The hard filters, over the profiles in id order.

    With `targets` (the ranking's), the qualified experts are also sorted into
    their ranking groups in the same sweep (`FilterOutcome.groups`, for `rank`),
    so the pool is read once.
    """
    profiles = profiles if isinstance(profiles, list) else list(profiles)
    outcome = _sweep(profiles, context, targets)
    if outcome is None:  # not in id order: sort (a stable sort keeps equal ids as given)
        outcome = _sweep(sorted(profiles, key=_EXPERT_ID), context, targets)
    return outcome


def _sweep(profiles: list[Profile], context: FilterContext,
           targets: Sequence[DomainTarget] | None) -> FilterOutcome | None:
    """apply_filters over profiles already in id order; None if they turn out not to be."""
    qualified: list[Profile] = []
    dropped: dict[str, list[int]] = {code: [] for code, _ in FILTER_REASONS}
    all_reasons: dict[int, list[str]] = {}
    groups = None if targets is None else RankGroups(targets)
    day, cap, since = context.consultation_date, context.yearly_cap, context.cooling_since
    roots, avoid = context.conflict_root_ids, context.avoid_ids
    keep = qualified.append
    last = profiles[0].expert_id if profiles else None
    step = SWEEP_STEP if groups is not None else max(1, len(profiles))
    for begin in range(0, len(profiles), step):
        first_new = len(qualified)
        for profile in profiles[begin:begin + step]:
            expert_id = profile.expert_id
            if expert_id < last:
                return None
            last = expert_id
            # filter_reasons() == [] in line: most of the pool has no period, past job or
            # declared conflict to look into, so a few attribute reads decide.
            if (profile.status == STATUS_ACTIVE and profile.engagements_in_year < cap
                    and profile.employer_root_id not in roots and expert_id not in avoid
                    and not (profile.unavailable and _unavailable_on(profile, day))
                    and not (profile.past_employments and _employed_at(profile, roots, since))
                    and not (profile.conflict_organisation_root_ids and _declared_conflict(profile, roots))):
                keep(profile)
                continue
            reasons = filter_reasons(profile, context)
            if reasons:
                dropped[reasons[0]].append(expert_id)
                all_reasons[expert_id] = reasons
            else:
                keep(profile)
        if groups is not None:
            groups.add(qualified[first_new:])
    return FilterOutcome(qualified, dropped, all_reasons, groups)


# ---------------------------------------------------------------- ranking


@dataclass(frozen=True)
class TextEvidence:
    """Relevance of one profile to the item's text (from the search bridge)."""

    score: float
    matched_terms: tuple[str, ...] = ()
    highlights: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DomainTarget:
    """A domain the item or request names; `matches` holds it and, for a first-level domain, its children."""

    domain_id: int
    name: str
    matches: frozenset[int]
    required: bool


@dataclass(frozen=True)
class RankContext:
    targets: tuple[DomainTarget, ...]
    # Tier ranks present in the taxonomy (1 is highest).
    best_tier_rank: int
    worst_tier_rank: int
    domain_names: Mapping[int, str] = field(default_factory=dict)


def _round(value: float) -> float:
    return round(value, SCORE_DIGITS)


def domain_match(profile: Profile, targets: Sequence[DomainTarget],
                 names: Mapping[int, str]) -> tuple[float, list[dict]]:
    """Average match over the target domains, and which domain of the expert matched each."""
    if not targets:
        return 0.0, []
    total = 0.0
    overlap = []
    for target in targets:
        if profile.primary_domain_id in target.matches:
            total += DOMAIN_MATCH_PRIMARY
            overlap.append({"target": target.name, "target_id": target.domain_id, "how": "primary",
                            "matched_by": names.get(profile.primary_domain_id, ""), "required": target.required})
            continue
        hit = sorted(profile.secondary_domain_ids & target.matches)
        if hit:
            total += DOMAIN_MATCH_SECONDARY
            overlap.append({"target": target.name, "target_id": target.domain_id, "how": "secondary",
                            "matched_by": names.get(hit[0], ""), "required": target.required})
    return total / len(targets), overlap


def tier_score(rank: int | None, best: int, worst: int) -> float:
    if rank is None:
        return 0.0
    if worst <= best:
        return 1.0
    return (worst - rank) / (worst - best)


def rotation_penalty(profile: Profile) -> float:
    raw = (ROTATION_PER_ENGAGEMENT * profile.engagements_in_lookback
           + ROTATION_PER_SAME_DEPARTMENT * profile.same_department_in_lookback)
    return min(1.0, raw)


def covers(profile: Profile, targets: Sequence[DomainTarget]) -> list[int]:
    """Required target domains this expert covers (primary or secondary)."""
    domains = {profile.primary_domain_id} | profile.secondary_domain_ids
    return [t.domain_id for t in targets if t.required and domains & t.matches]


@dataclass(frozen=True)
class Ranked:
    profile: Profile
    score: float
    parts: dict[str, float]
    text: TextEvidence | None
    overlap: list[dict]


def _combine(text_part: float, domain_part: float, tier_part: float, rotation_part: float) -> float:
    """The score from the rounded parts: the one formula every path below uses."""
    return _round(WEIGHT_TEXT * text_part + WEIGHT_DOMAIN * domain_part + WEIGHT_TIER * tier_part
                  - WEIGHT_ROTATION * rotation_part)


def ranked_one(profile: Profile, evidence: TextEvidence | None, context: RankContext) -> Ranked:
    """One expert's score, its parts and the explanation stored with it."""
    text_part = evidence.score if evidence else 0.0
    domain_part, overlap = domain_match(profile, context.targets, context.domain_names)
    tier_part = tier_score(profile.tier_rank, context.best_tier_rank, context.worst_tier_rank)
    rotation_part = rotation_penalty(profile)
    parts = {"text": _round(text_part), "domain": _round(domain_part), "tier": _round(tier_part),
             "rotation_penalty": _round(rotation_part)}
    score = _combine(parts["text"], parts["domain"], parts["tier"], parts["rotation_penalty"])
    return Ranked(profile, score, parts, evidence, overlap)


def member_of(profile: Profile, targets: Sequence[DomainTarget]) -> Member:
    """The composition facts of one expert for these target domains."""
    return Member(
        expert_id=profile.expert_id,
        employer_root_id=profile.employer_root_id,
        same_system=profile.same_system_government,
        covers=frozenset(covers(profile, targets)),
        senior=profile.senior,
        representative=profile.representative,
        relatives=profile.relative_ids,
    )


class _Lazy(Sequence):
    """A sequence whose items are made when first read (`_item`), in order."""

    _size: int

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._item(k) for k in range(*index.indices(self._size))]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(index)
        return self._item(index)

    def __iter__(self):
        for k in range(self._size):
            yield self._item(k)

    def _item(self, index: int):
        raise NotImplementedError


def _targeted(targets: Sequence[DomainTarget]) -> frozenset[int]:
    return frozenset().union(*(t.matches for t in targets))


class RankGroups:
    """Qualified experts sorted by what their score depends on, text evidence aside.

    Those without a domain match are grouped by (tier rank, engagements in
    lookback, same department in lookback), those with one by (primary
    domain, secondary domains) and the same three.
    """

    def __init__(self, targets: Sequence[DomainTarget]):
        self.targeted = _targeted(targets)
        self.matched: dict[tuple, list[Profile]] = {}
        self.unmatched: dict[tuple, list[Profile]] = {}

    def add(self, profiles: Iterable[Profile]) -> None:
        # The one pass over the whole pool: kept to a few attribute reads per expert.
        targeted, matched, unmatched = self.targeted, self.matched, self.unmatched
        for profile in profiles:
            if profile.primary_domain_id in targeted or (
                    profile.secondary_domain_ids and not targeted.isdisjoint(profile.secondary_domain_ids)):
                key = (profile.primary_domain_id, profile.secondary_domain_ids, profile.tier_rank,
                       profile.engagements_in_lookback, profile.same_department_in_lookback)
                group = matched.get(key)
                if group is None:
                    matched[key] = [profile]
                else:
                    group.append(profile)
                continue
            key = (profile.tier_rank, profile.engagements_in_lookback, profile.same_department_in_lookback)
            group = unmatched.get(key)
            if group is None:
                unmatched[key] = [profile]
            else:
                group.append(profile)


class Ranking(_Lazy):
    """The qualified experts in rank order, worked out only as far as it is read.

    A recommendation reads the head of the order (panel, alternates, stored
    candidates), so the pool is not scored one by one: an expert without text
    evidence scores the same as any other with the same domain match, tier and
    rotation facts, so each such group is scored once, and its members (in id
    order) are sorted into the order only when a reader gets to that score.
    Experts with text evidence are scored one by one. Expert ids are unique
    (they are the experts' keys), so score and id order the pool totally.
    """

    def __init__(self, qualified: Iterable[Profile], text: Mapping[int, TextEvidence], context: RankContext,
                 groups: RankGroups | None = None):
        if groups is None or groups.targeted != _targeted(context.targets):
            # Id order (stable, so no order among equal ids changes) lets experts be found by id.
            profiles = sorted(qualified, key=_EXPERT_ID)
            groups = RankGroups(context.targets)
            groups.add(profiles)
        else:
            profiles = qualified if isinstance(qualified, list) else list(qualified)
        self._size = len(profiles)
        self._text = text
        self._context = context
        self._rank_groups = groups
        self._order: list[Profile] = []  # the profiles in rank order, as far as worked out
        self._ranked: list[Ranked] = []
        self._members: RankedMembers | None = None
        domain_parts: dict[tuple, float] = {}
        tier_parts: dict[int | None, float] = {}

        def domain_part(profile: Profile) -> float:
            facts = (profile.primary_domain_id, profile.secondary_domain_ids)
            part = domain_parts.get(facts)
            if part is None:
                part = domain_parts[facts] = _round(domain_match(profile, context.targets, context.domain_names)[0])
            return part

        def shared_parts(profile: Profile, domain: float) -> tuple[float, float, float]:
            tier = tier_parts.get(profile.tier_rank)
            if tier is None:
                tier = tier_parts[profile.tier_rank] = _round(
                    tier_score(profile.tier_rank, context.best_tier_rank, context.worst_tier_rank))
            return domain, tier, _round(rotation_penalty(profile))

        # (domain part, tier rank, engagements in lookback, same department in lookback) -> profiles
        # score -> the groups with that score, and the experts with text evidence scoring that
        self._groups: dict[float, list[list[Profile]]] = {}
        self._with_text: dict[float, list[Profile]] = {}
        for members in groups.unmatched.values():
            self._groups.setdefault(_combine(0.0, *shared_parts(members[0], 0.0)), []).append(members)
        for members in groups.matched.values():
            score = _combine(0.0, *shared_parts(members[0], domain_part(members[0])))
            self._groups.setdefault(score, []).append(members)
        for expert_id in text:
            index = bisect.bisect_left(profiles, expert_id, key=_EXPERT_ID)
            if index == len(profiles) or profiles[index].expert_id != expert_id:
                continue  # not qualified
            profile, evidence = profiles[index], text[expert_id]
            score = _combine(_round(evidence.score if evidence else 0.0), *shared_parts(profile, domain_part(profile)))
            self._with_text.setdefault(score, []).append(profile)
        self._scores = sorted(self._groups.keys() | self._with_text.keys(), reverse=True)
        self._next_score = 0

    def _work_out(self, index: int) -> None:
        """Sort score levels into the order until it reaches `index`."""
        while len(self._order) <= index:
            score = self._scores[self._next_score]
            self._next_score += 1
            level = self._with_text.pop(score, [])
            for members in self._groups.pop(score, ()):
                # An expert with text evidence is in a group too, but scored on its own.
                level.extend([p for p in members if p.expert_id not in self._text] if self._text else members)
            self._order.extend(sorted(level, key=_EXPERT_ID))

    def profile(self, index: int) -> Profile:
        if index >= len(self._order):
            self._work_out(index)
        return self._order[index]

    def _item(self, index: int) -> Ranked:
        while len(self._ranked) <= index:
            profile = self.profile(len(self._ranked))
            self._ranked.append(ranked_one(profile, self._text.get(profile.expert_id), self._context))
        return self._ranked[index]

    def members(self) -> RankedMembers:
        """The composition facts (`member_of` for the ranking's targets) in rank order, also made as read."""
        if self._members is None:
            self._members = RankedMembers(self, self._context.targets, self._covered_by_groups)
        return self._members

    def _covered_by_groups(self) -> frozenset[int]:
        # Only an expert with a domain match covers a target, and its group shares the domains.
        return frozenset(d for members in self._rank_groups.matched.values()
                         for d in covers(members[0], self._context.targets))


class RankedMembers(_Lazy):
    """`member_of` of a ranking's profiles in rank order, made as read.

    `ranking` gives `profile(index)` and its length; `covered` says which
    required target domains some member covers, without making the members.
    """

    def __init__(self, ranking, targets: Sequence[DomainTarget], covered: Callable[[], frozenset[int]]):
        self._size = len(ranking)
        self._ranking = ranking
        self._targets = targets
        self._members: list[Member] = []
        self._covered_source = covered
        self._covered: frozenset[int] | None = None

    @property
    def covered(self) -> frozenset[int]:
        """The required target domains any member covers (the union of their `covers`), without making them."""
        if self._covered is None:
            self._covered = self._covered_source()
        return self._covered

    def _item(self, index: int) -> Member:
        while len(self._members) <= index:
            self._members.append(member_of(self._ranking.profile(len(self._members)), self._targets))
        return self._members[index]


def rank(qualified: Iterable[Profile], text: Mapping[int, TextEvidence], context: RankContext,
         groups: RankGroups | None = None) -> Ranking:
    """The qualified experts by score (see `ranked_one`), higher first, then lower id.

    `groups`: FilterOutcome.groups of the outcome `qualified` comes from (so in
    id order), the experts already grouped: the pool is not read again.
    """
    return Ranking(qualified, text, context, groups)


def order_key(score: float, expert_id: int) -> tuple[float, int]:
    """The ranking order: higher score first, then lower id."""
    return (-score, expert_id)


# ---------------------------------------------------------------- composition

# Rule codes of the composition report, in display order.
RULE_SEATS = "seats"
RULE_EMPLOYER = "employer"
RULE_SAME_SYSTEM = "same_system"
RULE_DOMAINS = "domains"
RULE_SENIOR = "senior"
RULE_RELATIVES = "relatives"
RULE_REPRESENTATIVE = "representative"

RULE_LABELS = {
    RULE_SEATS: "人数达到申请席位",
    RULE_EMPLOYER: "同一单位专家不超过上限",
    RULE_SAME_SYSTEM: "与申请部门同系统的政府人员不超过比例上限",
    RULE_DOMAINS: "覆盖申请要求的全部领域",
    RULE_SENIOR: "首席或核心专家达到最少人数",
    RULE_RELATIVES: "有亲属关系的专家不同时入选",
    RULE_REPRESENTATIVE: "含非中共党员或人大代表、政协委员（代表性，尽量满足）",
}
HARD_RULES = (RULE_SEATS, RULE_EMPLOYER, RULE_SAME_SYSTEM, RULE_DOMAINS, RULE_SENIOR, RULE_RELATIVES)
# When no compliant panel exists, the fewest rules are relaxed; among equally
# small sets the one earliest in this order. A short panel comes last, so the
# report names the rule that really binds (a same-system cap that leaves too
# few others, a domain nobody covers) rather than just "too few seats". The
# relatives rule is never relaxed: a short panel is offered instead.
RELAXATION_PRIORITY = (RULE_SENIOR, RULE_DOMAINS, RULE_SAME_SYSTEM, RULE_EMPLOYER, RULE_SEATS)


@dataclass(frozen=True)
class Member:
    """The composition facts of one candidate (stored in the record, so a draw can be re-run)."""

    expert_id: int
    employer_root_id: int
    same_system: bool
    covers: frozenset[int]
    senior: bool
    representative: bool
    relatives: frozenset[int] = frozenset()

    def as_record(self) -> dict:
        return {"employer_root_id": self.employer_root_id, "same_system": self.same_system,
                "covers": sorted(self.covers), "senior": self.senior, "representative": self.representative,
                "relatives": sorted(self.relatives)}

    @classmethod
    def from_record(cls, expert_id: int, data: Mapping) -> Member:
        return cls(expert_id, data["employer_root_id"], data["same_system"], frozenset(data["covers"]),
                   data["senior"], data["representative"], frozenset(data["relatives"]))


@dataclass(frozen=True)
class Rules:
    seats: int
    max_per_employer: int
    max_same_system_share: Fraction
    required_domains: tuple[int, ...]
    min_senior: int
    domain_names: Mapping[int, str] = field(default_factory=dict)

    @property
    def max_same_system(self) -> int:
        """Largest count within the share of seats (floor)."""
        return int(self.max_same_system_share * self.seats)

    def as_record(self) -> dict:
        return {"seats": self.seats, "max_per_employer": self.max_per_employer,
                "max_same_system_share": str(self.max_same_system_share), "max_same_system": self.max_same_system,
                "required_domains": list(self.required_domains), "min_senior": self.min_senior,
                "domain_names": {str(k): v for k, v in self.domain_names.items()}}

    @classmethod
    def from_record(cls, data: Mapping) -> Rules:
        return cls(data["seats"], data["max_per_employer"], Fraction(data["max_same_system_share"]),
                   tuple(data["required_domains"]), data["min_senior"],
                   {int(k): v for k, v in data.get("domain_names", {}).items()})


def check_panel(panel: Sequence[Member], rules: Rules) -> dict[str, dict]:
    """Every rule against a finished panel: {code: {"met": bool, "detail": str}}."""
    report: dict[str, dict] = {}
    size = len(panel)
    report[RULE_SEATS] = {"met": size == rules.seats, "detail": f"{size} / {rules.seats} 人"}
    per_employer: dict[int, int] = {}
    for member in panel:
        per_employer[member.employer_root_id] = per_employer.get(member.employer_root_id, 0) + 1
    crowded = sorted(root for root, n in per_employer.items() if n > rules.max_per_employer)
    report[RULE_EMPLOYER] = {"met": not crowded, "detail": f"每单位至多 {rules.max_per_employer} 人"
                             + (f"；超出的单位：{len(crowded)} 个" if crowded else "")}
    same_system = sum(1 for m in panel if m.same_system)
    report[RULE_SAME_SYSTEM] = {"met": same_system <= rules.max_same_system,
                                "detail": f"{same_system} 人（上限 {rules.max_same_system} 人，"
                                          f"即席位的 {rules.max_same_system_share}）"}
    covered = set().union(*(m.covers for m in panel)) if panel else set()
    missing = [d for d in rules.required_domains if d not in covered]
    report[RULE_DOMAINS] = {"met": not missing, "missing": missing,
                            "detail": "已全部覆盖" if not missing else
                            "未覆盖：" + "、".join(rules.domain_names.get(d, str(d)) for d in missing)}
    seniors = sum(1 for m in panel if m.senior)
    report[RULE_SENIOR] = {"met": seniors >= rules.min_senior, "detail": f"{seniors} 人（至少 {rules.min_senior} 人）"}
    ids = {m.expert_id for m in panel}
    pairs = sorted({tuple(sorted((m.expert_id, r))) for m in panel for r in m.relatives if r in ids})
    report[RULE_RELATIVES] = {"met": not pairs, "detail": "无" if not pairs else f"{len(pairs)} 对亲属同时入选",
                              "pairs": [list(p) for p in pairs]}
    representatives = sum(1 for m in panel if m.representative)
    report[RULE_REPRESENTATIVE] = {"met": representatives > 0, "soft": True, "detail": f"{representatives} 人"}
    return report


def is_compliant(panel: Sequence[Member], rules: Rules) -> bool:
    """Whether every hard rule is met: check_panel's verdict, without writing its report."""
    return _meets_hard_rules(panel, rules, rules.max_same_system)


def _meets_hard_rules(panel: Sequence[Member], rules: Rules, max_same_system: int) -> bool:
    if len(panel) != rules.seats:
        return False
    ids = {m.expert_id for m in panel}
    per_employer: dict[int, int] = {}
    same_system = seniors = 0
    covered: set[int] = set()
    for m in panel:
        count = per_employer.get(m.employer_root_id, 0) + 1
        if count > rules.max_per_employer or not ids.isdisjoint(m.relatives):
            return False
        per_employer[m.employer_root_id] = count
        same_system += 1 if m.same_system else 0
        seniors += 1 if m.senior else 0
        covered.update(m.covers)
    return (same_system <= max_same_system and seniors >= rules.min_senior
            and all(d in covered for d in rules.required_domains))


# The search reads its order from the head: the suffix facts behind its bounds
# are taken over a window of the first members, grown only when a bound fails
# there, so a search over a large pool that succeeds early reads little of it.
SEARCH_FIRST_WINDOW = 64
SEARCH_WINDOW_GROWTH = 2


class _Search:
    """Lexicographically first panel of `size` in `order` meeting the active rules."""

    def __init__(self, order: Sequence[Member], rules: Rules, size: int, relaxed: frozenset[str],
                 need_representative: bool, budget: int):
        self.order = order
        self.rules = rules
        self.size = size
        self.employer_cap = None if RULE_EMPLOYER in relaxed else rules.max_per_employer
        self.system_cap = None if RULE_SAME_SYSTEM in relaxed else rules.max_same_system
        self.required = () if RULE_DOMAINS in relaxed else tuple(dict.fromkeys(rules.required_domains))
        self.required_set = frozenset(self.required)
        self.min_senior = 0 if RULE_SENIOR in relaxed else rules.min_senior
        self.need_representative = need_representative
        self.budget = budget
        self.nodes = 0
        self.truncated = False
        self.n = len(order)
        # Required domains nobody in the order covers, when the order knows without being read.
        self.covered_nowhere = (frozenset(self.required) - order.covered if isinstance(order, RankedMembers)
                                else frozenset())
        self.window = 0
        self._take(min(self.n, SEARCH_FIRST_WINDOW))

    def _take(self, window: int) -> None:
        """Suffix facts of the first `window` members, for the necessary-condition bounds.

        Each fact counts what lies ahead of a position (or, max_cover, the
        best there is), so over a window it is never more than over the whole
        order: a bound that holds on the window holds on the order. One that
        fails is checked again on a larger window, up to the whole order.
        """
        members = self.order[:window]
        self.suffix_senior = [0] * (window + 1)
        self.suffix_representative = [0] * (window + 1)
        self.suffix_system = [0] * (window + 1)
        self.suffix_employers = [0] * (window + 1)
        self.last_cover = {d: -1 for d in self.required}
        self.last_employer: dict[int, int] = {}
        seen: set[int] = set()
        for i in range(window - 1, -1, -1):
            m = members[i]
            self.suffix_senior[i] = self.suffix_senior[i + 1] + m.senior
            self.suffix_representative[i] = self.suffix_representative[i + 1] + m.representative
            self.suffix_system[i] = self.suffix_system[i + 1] + m.same_system
            seen.add(m.employer_root_id)
            self.suffix_employers[i] = len(seen)
            self.last_employer.setdefault(m.employer_root_id, i)
            for d in m.covers:
                if d in self.last_cover and self.last_cover[d] < i:
                    self.last_cover[d] = i
        self.max_cover = max((len(m.covers & self.required_set) for m in members), default=0)
        self.window = window

    def run(self) -> list[int] | None:
        """The chosen positions in the order, or None."""
        return self._extend(0, [], {}, 0, 0, 0, frozenset())

    def _feasible(self, i: int, chosen: list[int], per_employer: dict[int, int], system: int, seniors: int,
                  reps: int, covered: frozenset[int]) -> bool:
        """Necessary conditions for completing the panel from position i < n on.

        Each bound only weakens as i grows, so once it fails at i it fails
        at every later position too (the caller stops there).
        """
        r = self.size - len(chosen)
        if self.n - i < r or self.min_senior - seniors > r or not self.covered_nowhere.issubset(covered):
            return False  # whatever lies ahead
        if i >= self.window:
            self._take(min(self.n, max(self.window * SEARCH_WINDOW_GROWTH, i + 1)))
        while not self._bounds_hold(i, r, per_employer, system, seniors, reps, covered):
            if self.window == self.n:
                return False
            self._take(min(self.n, self.window * SEARCH_WINDOW_GROWTH))
        return True

    def _complete(self, seniors: int, reps: int, covered: frozenset[int]) -> bool:
        """The bounds at the end of the order, once every seat is taken."""
        if self.min_senior > seniors or (self.need_representative and reps == 0):
            return False
        return all(d in covered for d in self.required)

    def _bounds_hold(self, i: int, r: int, per_employer: dict[int, int], system: int, seniors: int, reps: int,
                     covered: frozenset[int]) -> bool:
        """The bounds over the window (i < window, r > 0)."""
        if self.min_senior - seniors > min(r, self.suffix_senior[i]):
            return False
        if self.need_representative and reps == 0 and self.suffix_representative[i] == 0:
            return False
        uncovered = [d for d in self.required if d not in covered]
        if uncovered:
            if any(self.last_cover[d] < i for d in uncovered):
                return False
            if self.max_cover == 0 or -(-len(uncovered) // self.max_cover) > r:
                return False
        if self.system_cap is not None:
            others = self.window - i - self.suffix_system[i]
            if others + min(self.system_cap - system, self.suffix_system[i]) < r:
                return False
        if self.employer_cap is not None:
            # Each employer still ahead can add at most what its cap leaves.
            used_ahead = sum(min(count, self.employer_cap) for root, count in per_employer.items()
                             if self.last_employer.get(root, -1) >= i)
            if self.suffix_employers[i] * self.employer_cap - used_ahead < r:
                return False
        return True

    def _admissible(self, m: Member, chosen: list[int], per_employer: dict[int, int], system: int) -> bool:
        if self.employer_cap is not None and per_employer.get(m.employer_root_id, 0) >= self.employer_cap:
            return False
        if self.system_cap is not None and m.same_system and system >= self.system_cap:
            return False
        return not any(self.order[k].expert_id in m.relatives or m.expert_id in self.order[k].relatives
                       for k in chosen)

    def _extend(self, start, chosen, per_employer, system, seniors, reps, covered) -> list[int] | None:
        """Try each next member from `start` on, best first; recursion depth is the panel size."""
        if len(chosen) == self.size:
            return list(chosen) if self._complete(seniors, reps, covered) else None
        for i in range(start, self.n):
            self.nodes += 1
            if self.nodes > self.budget:
                self.truncated = True
                return None
            if not self._feasible(i, chosen, per_employer, system, seniors, reps, covered):
                return None
            m = self.order[i]
            if not self._admissible(m, chosen, per_employer, system):
                continue
            chosen.append(i)
            per_employer[m.employer_root_id] = per_employer.get(m.employer_root_id, 0) + 1
            found = self._extend(i + 1, chosen, per_employer, system + m.same_system, seniors + m.senior,
                                 reps + m.representative, covered | (m.covers & self.required_set))
            per_employer[m.employer_root_id] -= 1
            if per_employer[m.employer_root_id] == 0:
                del per_employer[m.employer_root_id]
            chosen.pop()
            if found is not None or self.truncated:
                return found
        return None


def _search(order: Sequence[Member], rules: Rules, size: int, relaxed: frozenset[str], need_representative: bool,
            budget: int) -> tuple[list[int] | None, bool]:
    """The chosen positions in `order` (or None), and whether the budget cut the search short."""
    search = _Search(order, rules, size, relaxed, need_representative, budget)
    return search.run(), search.truncated


@dataclass(frozen=True)
class Failure:
    code: str
    message: str

    def as_record(self) -> dict:
        return {"code": self.code, "label": RULE_LABELS.get(self.code, self.code), "message": self.message}


@dataclass(frozen=True)
class Composition:
    panel: list[int]
    compliant: bool
    report: dict[str, dict]
    failures: list[Failure]
    # Ordered alternates, each with the members it can replace.
    alternates: list[dict]
    # member id -> the first alternate that can replace it keeping every rule (None: none can)
    first_replacement: dict[int, int | None]
    search_truncated: bool = False

    def as_record(self) -> dict:
        return {
            "panel": self.panel,
            "compliant": self.compliant,
            "report": [{"code": code, "label": RULE_LABELS[code], **self.report[code]} for code in RULE_LABELS],
            "failures": [f.as_record() for f in self.failures],
            "alternates": self.alternates,
            "first_replacement": {str(k): v for k, v in self.first_replacement.items()},
            "search_truncated": self.search_truncated,
        }


def _failure_message(code: str, rules: Rules, order: Sequence[Member], nearest: Sequence[Member]) -> str:
    if code == RULE_SEATS:
        return (f"合格候选人只能组成 {len(nearest)} 人的合规专家组，达不到申请的 {rules.seats} 个席位"
                f"（合格候选人共 {len(order)} 名）")
    if code == RULE_DOMAINS:
        everywhere = order.covered if isinstance(order, RankedMembers) else set().union(*(m.covers for m in order))
        nobody = [d for d in rules.required_domains if d not in everywhere]
        if nobody:
            return "没有合格候选人覆盖领域：" + "、".join(rules.domain_names.get(d, str(d)) for d in nobody)
        return "在其他规则下无法同时覆盖全部要求领域"
    if code == RULE_SENIOR:
        available = sum(1 for m in order if m.senior)
        return f"需要至少 {rules.min_senior} 名首席或核心专家，合格候选人中可用 {available} 名"
    if code == RULE_SAME_SYSTEM:
        others = sum(1 for m in order if not m.same_system)
        return (f"同系统政府人员至多 {rules.max_same_system} 人，其余合格候选人只有 {others} 名，"
                f"凑不满 {rules.seats} 个席位")
    if code == RULE_EMPLOYER:
        employers = len({m.employer_root_id for m in order})
        return (f"每个单位至多 {rules.max_per_employer} 人，合格候选人只来自 {employers} 个单位，"
                f"凑不满 {rules.seats} 个席位")
    return RULE_LABELS.get(code, code)


def alternates_for(panel_ids: Sequence[int], order: Sequence[Member], rules: Rules, *,
                   exclude: Iterable[int] = (), limit: int) -> tuple[list[dict], dict[int, int | None]]:
    """Candidates after the panel (in `order`) that can replace a member keeping every hard rule.

    Returns the first `limit` such candidates plus, for each member, the
    first one that can replace it (added even when beyond `limit`). The
    order is read from its head only as far as that takes.
    """
    wanted = set(panel_ids)
    found: dict[int, Member] = {}
    for m in order:
        if m.expert_id in wanted:
            found[m.expert_id] = m
            if len(found) == len(wanted):
                break
    panel = [found[i] for i in panel_ids]
    skip = set(panel_ids) | set(exclude)
    max_same_system = rules.max_same_system
    first: dict[int, int | None] = {i: None for i in panel_ids}
    # A member's replacement should keep 代表性 where the panel has it; the first that
    # keeps only the hard rules is the fallback.
    fallback: dict[int, int | None] = {i: None for i in panel_ids}
    wants_representative = any(m.representative for m in panel)
    listed: list[dict] = []
    read: dict[int, tuple[int, Member]] = {}  # candidate id -> (position in order, member)
    for index, candidate in enumerate(order):
        if candidate.expert_id in skip:
            continue
        read[candidate.expert_id] = (index, candidate)
        can_replace = []
        newly_first = []
        for position, member in enumerate(panel):
            proposed = panel[:position] + [candidate] + panel[position + 1:]
            if not _meets_hard_rules(proposed, rules, max_same_system):
                continue
            can_replace.append(member.expert_id)
            if fallback[member.expert_id] is None:
                fallback[member.expert_id] = candidate.expert_id
            keeps = not wants_representative or any(m.representative for m in proposed)
            if keeps and first[member.expert_id] is None:
                first[member.expert_id] = candidate.expert_id
                newly_first.append(member.expert_id)
        if not can_replace:
            continue
        if len(listed) < limit or newly_first:
            listed.append({"expert_id": candidate.expert_id, "replaces": can_replace})
        if len(listed) >= limit and all(v is not None for v in first.values()):
            break
    for member_id, candidate_id in first.items():
        if candidate_id is None and fallback[member_id] is not None:
            first[member_id] = fallback[member_id]
            if all(entry["expert_id"] != fallback[member_id] for entry in listed):
                listed.append({"expert_id": fallback[member_id], "replaces": []})
    # Keep the listing in order (a fallback may have been appended late) and complete each "replaces".
    listed.sort(key=lambda entry: read[entry["expert_id"]][0])
    for entry in listed:
        if not entry["replaces"]:
            candidate = read[entry["expert_id"]][1]
            entry["replaces"] = [m.expert_id for k, m in enumerate(panel)
                                 if _meets_hard_rules(panel[:k] + [candidate] + panel[k + 1:], rules,
                                                      max_same_system)]
    return listed, first


def compose(order: Sequence[Member], rules: Rules, *, alternates_limit: int,
            budget: int = SEARCH_NODE_BUDGET) -> Composition:
    """The panel for `order` (best first) under `rules`; see the module docstring.

    `order` may be made as it is read (RankedMembers): the search and the
    alternates read it from the head, so a large pool is not built whole.
    """
    if not isinstance(order, Sequence):
        order = list(order)
    truncated = False
    for need_representative in (True, False):
        positions, cut = _search(order, rules, rules.seats, frozenset(), need_representative, budget)
        truncated |= cut
        if positions is not None:
            members = [order[k] for k in positions]
            panel = [m.expert_id for m in members]
            report = check_panel(members, rules)
            alternates, first = alternates_for(panel, order, rules, limit=alternates_limit)
            return Composition(panel, True, report, [], alternates, first, truncated)
    # No compliant panel: relax the fewest rules, in priority order.
    for count in range(1, len(RELAXATION_PRIORITY) + 1):
        for relaxed in itertools.combinations(RELAXATION_PRIORITY, count):
            relaxed_set = frozenset(relaxed)
            sizes = range(rules.seats - 1, -1, -1) if RULE_SEATS in relaxed_set else (rules.seats,)
            for size in sizes:
                positions = None
                for need_representative in (True, False):
                    positions, cut = _search(order, rules, size, relaxed_set, need_representative, budget)
                    truncated |= cut
                    if positions is not None:
                        break
                if positions is not None:
                    members = [order[k] for k in positions]
                    report = check_panel(members, rules)
                    failing = [code for code in HARD_RULES if not report[code]["met"]]
                    failures = [Failure(code, _failure_message(code, rules, order, members)) for code in failing]
                    return Composition([m.expert_id for m in members], False, report, failures, [], {}, truncated)
    # Unreachable in practice: relaxing every relaxable rule admits the empty panel.
    report = check_panel([], rules)
    return Composition([], False, report, [Failure(RULE_SEATS, _failure_message(RULE_SEATS, rules, order, []))],
                       [], {}, truncated)


def replacement_problems(panel: Sequence[Member], rules: Rules) -> list[Failure]:
    """The hard rules a proposed panel breaks (empty: compliant)."""
    report = check_panel(panel, rules)
    return [Failure(code, f"{RULE_LABELS[code]}：{report[code]['detail']}") for code in HARD_RULES
            if not report[code]["met"]]

