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

Nothing here touches the database or Flask; `facts.py` loads the data and
`operations.py` stores the result.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

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
    day = context.consultation_date
    if any(start <= day <= end for start, end in profile.unavailable):
        reasons.append("unavailable")
    if profile.engagements_in_year >= context.yearly_cap:
        reasons.append("yearly_cap")
    employed_roots = {profile.employer_root_id} | {
        job.organisation_root_id for job in profile.past_employments
        if job.ended_on is None or job.ended_on >= context.cooling_since
    }
    if employed_roots & context.conflict_root_ids:
        reasons.append("employment")
    if profile.conflict_organisation_root_ids & context.conflict_root_ids:
        reasons.append("declared_conflict")
    if profile.expert_id in context.avoid_ids:
        reasons.append("avoid_list")
    return reasons


@dataclass(frozen=True)
class FilterOutcome:
    qualified: list[Profile]
    # reason code -> expert ids, each dropped expert under its first reason only
    dropped: dict[str, list[int]]
    # expert id -> every reason that applies
    all_reasons: dict[int, list[str]]

    def as_record(self) -> dict:
        return {
            "counts": {code: len(self.dropped[code]) for code, _ in FILTER_REASONS},
            "labels": FILTER_LABELS,
            "experts": {code: self.dropped[code] for code, _ in FILTER_REASONS},
            "all_reasons": {str(expert_id): reasons for expert_id, reasons in sorted(self.all_reasons.items())},
            "qualified": len(self.qualified),
            "dropped": sum(len(ids) for ids in self.dropped.values()),
        }


def apply_filters(profiles: Iterable[Profile], context: FilterContext) -> FilterOutcome:
    qualified: list[Profile] = []
    dropped: dict[str, list[int]] = {code: [] for code, _ in FILTER_REASONS}
    all_reasons: dict[int, list[str]] = {}
    for profile in sorted(profiles, key=lambda p: p.expert_id):
        reasons = filter_reasons(profile, context)
        if reasons:
            dropped[reasons[0]].append(profile.expert_id)
            all_reasons[profile.expert_id] = reasons
        else:
            qualified.append(profile)
    return FilterOutcome(qualified, dropped, all_reasons)


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


def rank(qualified: Iterable[Profile], text: Mapping[int, TextEvidence], context: RankContext) -> list[Ranked]:
    ranked = []
    for profile in qualified:
        evidence = text.get(profile.expert_id)
        text_part = evidence.score if evidence else 0.0
        domain_part, overlap = domain_match(profile, context.targets, context.domain_names)
        tier_part = tier_score(profile.tier_rank, context.best_tier_rank, context.worst_tier_rank)
        rotation_part = rotation_penalty(profile)
        parts = {"text": _round(text_part), "domain": _round(domain_part), "tier": _round(tier_part),
                 "rotation_penalty": _round(rotation_part)}
        score = _round(WEIGHT_TEXT * parts["text"] + WEIGHT_DOMAIN * parts["domain"] + WEIGHT_TIER * parts["tier"]
                       - WEIGHT_ROTATION * parts["rotation_penalty"])
        ranked.append(Ranked(profile, score, parts, evidence, overlap))
    ranked.sort(key=lambda r: (-r.score, r.profile.expert_id))
    return ranked


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
    report = check_panel(panel, rules)
    return all(report[code]["met"] for code in HARD_RULES)


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
        self.min_senior = 0 if RULE_SENIOR in relaxed else rules.min_senior
        self.need_representative = need_representative
        self.budget = budget
        self.nodes = 0
        self.truncated = False
        n = len(order)
        # Suffix facts for the necessary-condition bounds.
        self.suffix_senior = [0] * (n + 1)
        self.suffix_representative = [0] * (n + 1)
        self.suffix_system = [0] * (n + 1)
        self.suffix_employers = [0] * (n + 1)
        self.last_cover = {d: -1 for d in self.required}
        self.last_employer: dict[int, int] = {}
        seen: set[int] = set()
        for i in range(n - 1, -1, -1):
            m = order[i]
            self.suffix_senior[i] = self.suffix_senior[i + 1] + m.senior
            self.suffix_representative[i] = self.suffix_representative[i + 1] + m.representative
            self.suffix_system[i] = self.suffix_system[i + 1] + m.same_system
            seen.add(m.employer_root_id)
            self.suffix_employers[i] = len(seen)
            self.last_employer.setdefault(m.employer_root_id, i)
            for d in m.covers:
                if d in self.last_cover and self.last_cover[d] < i:
                    self.last_cover[d] = i
        self.max_cover = max((len(m.covers & set(self.required)) for m in order), default=0)

    def run(self) -> list[int] | None:
        return self._extend(0, [], {}, 0, 0, 0, frozenset())

    def _feasible(self, i: int, chosen: list[int], per_employer: dict[int, int], system: int, seniors: int,
                  reps: int, covered: frozenset[int]) -> bool:
        """Necessary conditions for completing the panel from position i on.

        Each bound only weakens as i grows, so once it fails at i it fails
        at every later position too (the caller stops there).
        """
        r = self.size - len(chosen)
        n = len(self.order)
        if n - i < r:
            return False
        if self.min_senior - seniors > min(r, self.suffix_senior[i]):
            return False
        if self.need_representative and reps == 0 and (r == 0 or self.suffix_representative[i] == 0):
            return False
        uncovered = [d for d in self.required if d not in covered]
        if uncovered:
            if any(self.last_cover[d] < i for d in uncovered):
                return False
            if self.max_cover == 0 or -(-len(uncovered) // self.max_cover) > r:
                return False
        if r == 0:
            return True
        if self.system_cap is not None:
            if (n - i - self.suffix_system[i]) + min(self.system_cap - system, self.suffix_system[i]) < r:
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
            if self._feasible(len(self.order), chosen, per_employer, system, seniors, reps, covered):
                return [self.order[k].expert_id for k in chosen]
            return None
        required = frozenset(self.required)
        for i in range(start, len(self.order)):
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
                                 reps + m.representative, covered | (m.covers & required))
            per_employer[m.employer_root_id] -= 1
            if per_employer[m.employer_root_id] == 0:
                del per_employer[m.employer_root_id]
            chosen.pop()
            if found is not None or self.truncated:
                return found
        return None


def _search(order: Sequence[Member], rules: Rules, size: int, relaxed: frozenset[str], need_representative: bool,
            budget: int) -> tuple[list[int] | None, bool]:
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
        everywhere = set().union(*(m.covers for m in order)) if order else set()
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
    first one that can replace it (added even when beyond `limit`).
    """
    by_id = {m.expert_id: m for m in order}
    panel = [by_id[i] for i in panel_ids]
    skip = set(panel_ids) | set(exclude)
    first: dict[int, int | None] = {i: None for i in panel_ids}
    # A member's replacement should keep 代表性 where the panel has it; the first that
    # keeps only the hard rules is the fallback.
    fallback: dict[int, int | None] = {i: None for i in panel_ids}
    wants_representative = any(m.representative for m in panel)
    listed: list[dict] = []
    for candidate in order:
        if candidate.expert_id in skip:
            continue
        can_replace = []
        newly_first = []
        for position, member in enumerate(panel):
            proposed = panel[:position] + [candidate] + panel[position + 1:]
            if not is_compliant(proposed, rules):
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
    position_of = {m.expert_id: k for k, m in enumerate(order)}
    listed.sort(key=lambda entry: position_of[entry["expert_id"]])
    for entry in listed:
        if not entry["replaces"]:
            candidate = by_id[entry["expert_id"]]
            entry["replaces"] = [m.expert_id for k, m in enumerate(panel)
                                 if is_compliant(panel[:k] + [candidate] + panel[k + 1:], rules)]
    return listed, first


def compose(order: Sequence[Member], rules: Rules, *, alternates_limit: int,
            budget: int = SEARCH_NODE_BUDGET) -> Composition:
    """The panel for `order` (best first) under `rules`; see the module docstring."""
    order = list(order)
    by_id = {m.expert_id: m for m in order}
    truncated = False
    for need_representative in (True, False):
        panel, cut = _search(order, rules, rules.seats, frozenset(), need_representative, budget)
        truncated |= cut
        if panel is not None:
            members = [by_id[i] for i in panel]
            report = check_panel(members, rules)
            alternates, first = alternates_for(panel, order, rules, limit=alternates_limit)
            return Composition(panel, True, report, [], alternates, first, truncated)
    # No compliant panel: relax the fewest rules, in priority order.
    for count in range(1, len(RELAXATION_PRIORITY) + 1):
        for relaxed in itertools.combinations(RELAXATION_PRIORITY, count):
            relaxed_set = frozenset(relaxed)
            sizes = range(rules.seats - 1, -1, -1) if RULE_SEATS in relaxed_set else (rules.seats,)
            for size in sizes:
                panel = None
                for need_representative in (True, False):
                    panel, cut = _search(order, rules, size, relaxed_set, need_representative, budget)
                    truncated |= cut
                    if panel is not None:
                        break
                if panel is not None:
                    members = [by_id[i] for i in panel]
                    report = check_panel(members, rules)
                    failing = [code for code in HARD_RULES if not report[code]["met"]]
                    failures = [Failure(code, _failure_message(code, rules, order, members)) for code in failing]
                    return Composition(panel, False, report, failures, [], {}, truncated)
    # Unreachable in practice: relaxing every relaxable rule admits the empty panel.
    report = check_panel([], rules)
    return Composition([], False, report, [Failure(RULE_SEATS, _failure_message(RULE_SEATS, rules, order, []))],
                       [], {}, truncated)


def replacement_problems(panel: Sequence[Member], rules: Rules) -> list[Failure]:
    """The hard rules a proposed panel breaks (empty: compliant)."""
    report = check_panel(panel, rules)
    return [Failure(code, f"{RULE_LABELS[code]}：{report[code]['detail']}") for code in HARD_RULES
            if not report[code]["met"]]

