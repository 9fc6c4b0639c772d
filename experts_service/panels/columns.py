"""The matcher's hard filters and ranking order over the kept pool, as columns.

`matcher.apply_filters` and `matcher.rank` over `facts.Pool.profiles(...)`
define the result. At 100,000 experts that definition walks the whole pool
in Python for every request: a new profile for each expert with an
engagement, a period or a past job in the request's windows, then a sweep
over every profile. Here the pool's request-independent facts are arrays
(`PoolColumns`, made once per kept pool); a request counts engagements,
applies the filters and scores the qualified experts with a few array
operations; and `Profile`s are made only for what is read: the head of the
ranking order (panel, alternates, stored candidates).

The results are those of the definition, value for value
(tests/panels/test_columns.py checks it over random pools). Scores come
from the same float operations in the same order, and every rounding uses
Python's `round`, applied once per distinct value, because numpy's rounding
differs from it in the last digit for some values.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np

from experts_service.panels import matcher
from experts_service.panels.matcher import (
    DOMAIN_MATCH_PRIMARY,
    DOMAIN_MATCH_SECONDARY,
    FILTER_REASONS,
    ROTATION_PER_ENGAGEMENT,
    ROTATION_PER_SAME_DEPARTMENT,
    SCORE_DIGITS,
    STATUS_ACTIVE,
    WEIGHT_DOMAIN,
    WEIGHT_ROTATION,
    WEIGHT_TEXT,
    WEIGHT_TIER,
    FilterContext,
    Profile,
    RankContext,
    RankedMembers,
    TextEvidence,
)

# Column stand-ins for None: a job still held ends after every day; an expert without a tier.
_STILL_HELD = np.iinfo(np.int64).max
_NO_TIER = -1
_ROUNDING_SCALE = 10.0 ** SCORE_DIGITS
# Below 2**30 (scores under 1,000; ours are within ±10) scaling errs by at most 2**-23 ≈ 1.2e-7,
# so a scaled value farther than 1e-6 from a half rounds to the same integer as its exact value.
_HALF_TOLERANCE = 1e-6
_EXACT_SCALED = 2.0 ** 30
_REASON_CODES = tuple(code for code, _label in FILTER_REASONS)


def _ints(values, count: int = -1) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64, count=count)


def _id_array(ids) -> np.ndarray:
    return _ints(sorted(ids))


@dataclass(frozen=True, eq=False)
class PoolColumns:
    """A kept pool's facts as arrays; an expert is its position in `Pool.base` (id order)."""

    ids: np.ndarray
    active: np.ndarray
    employer_root: np.ndarray
    primary_domain: np.ndarray
    tier_rank: np.ndarray  # _NO_TIER for none
    # One row per (expert position, value) for the set-valued facts and the time-bound ones.
    secondary_position: np.ndarray
    secondary_domain: np.ndarray
    conflict_position: np.ndarray
    conflict_root: np.ndarray
    period_position: np.ndarray
    period_start: np.ndarray  # day ordinals
    period_end: np.ndarray
    job_position: np.ndarray
    job_root: np.ndarray
    job_end: np.ndarray  # day ordinal, _STILL_HELD while held
    engagement_day: np.ndarray  # sorted
    engagement_position: np.ndarray
    engagement_root: np.ndarray
    government_positions: Mapping[str, np.ndarray]

    @classmethod
    def from_pool(cls, pool) -> PoolColumns:
        base, position = pool.base, pool.position
        size = len(base)

        def pairs(items) -> tuple[np.ndarray, np.ndarray]:
            at, values = [], []
            for index, many in items:
                for value in many:
                    at.append(index)
                    values.append(value)
            return _ints(at), _ints(values)

        def known(by_expert: Mapping[int, list]):
            # Facts of experts outside the pool are never read by its profiles either.
            return ((position[expert_id], rows) for expert_id, rows in by_expert.items() if expert_id in position)

        secondary_position, secondary_domain = pairs(enumerate(p.secondary_domain_ids for p in base))
        conflict_position, conflict_root = pairs(enumerate(p.conflict_organisation_root_ids for p in base))
        periods = [(index, start.toordinal(), end.toordinal())
                   for index, rows in known(pool.periods) for start, end in rows]
        jobs = [(index, root, _STILL_HELD if ended_on is None else ended_on.toordinal())
                for index, rows in known(pool.jobs) for root, ended_on in rows]
        engaged = [(day, position[expert_id], root) for day, expert_id, root
                   in zip(pool.engagement_days, pool.engagement_experts, pool.engagement_roots) if expert_id in position]

        def column(rows: list[tuple], index: int) -> np.ndarray:
            return _ints((row[index] for row in rows), len(rows))

        return cls(
            ids=_ints((p.expert_id for p in base), size),
            active=np.fromiter((p.status == STATUS_ACTIVE for p in base), dtype=bool, count=size),
            employer_root=_ints((p.employer_root_id for p in base), size),
            primary_domain=_ints((p.primary_domain_id for p in base), size),
            tier_rank=_ints((_NO_TIER if p.tier_rank is None else p.tier_rank for p in base), size),
            secondary_position=secondary_position, secondary_domain=secondary_domain,
            conflict_position=conflict_position, conflict_root=conflict_root,
            period_position=column(periods, 0), period_start=column(periods, 1), period_end=column(periods, 2),
            job_position=column(jobs, 0), job_root=column(jobs, 1), job_end=column(jobs, 2),
            engagement_day=column(engaged, 0), engagement_position=column(engaged, 1),
            engagement_root=column(engaged, 2),
            government_positions={system: _ints(sorted(position[i] for i in ids if i in position))
                                  for system, ids in pool.government_staff.items()},
        )

    def __len__(self) -> int:
        return len(self.ids)

    def secondary_hits(self, domain_ids: np.ndarray) -> np.ndarray:
        """Per expert: whether a secondary domain is one of `domain_ids`."""
        hit = np.zeros(len(self), dtype=bool)
        hit[self.secondary_position[np.isin(self.secondary_domain, domain_ids)]] = True
        return hit


@dataclass(frozen=True)
class EngagementCounts:
    """Per expert position, as Profile counts them for a request."""

    in_year: np.ndarray
    in_lookback: np.ndarray
    same_department: np.ndarray


def count_engagements(columns: PoolColumns, windows, department_root: int) -> EngagementCounts:
    days, size = columns.engagement_day, len(columns)
    day = windows.day
    year_first = np.searchsorted(days, date(day.year, 1, 1).toordinal(), side="left")
    year_last = np.searchsorted(days, date(day.year, 12, 31).toordinal(), side="right")
    lookback_first = np.searchsorted(days, windows.lookback_since.toordinal(), side="left")
    lookback_last = np.searchsorted(days, day.toordinal(), side="right")
    in_lookback = columns.engagement_position[lookback_first:lookback_last]
    with_department = columns.engagement_root[lookback_first:lookback_last] == department_root
    return EngagementCounts(
        in_year=np.bincount(columns.engagement_position[year_first:year_last], minlength=size),
        in_lookback=np.bincount(in_lookback, minlength=size),
        same_department=np.bincount(in_lookback[with_department], minlength=size),
    )


class RequestProfiles(Mapping):
    """The request's profile of each expert, by id, made when read: equal to the ones `Pool.profiles` makes."""

    def __init__(self, pool, windows, department_root: int, department_system: str | None):
        if not pool.covers(windows):
            raise ValueError("the pool was read for later windows")
        self.pool = pool
        self.columns = pool.columns
        self.windows = windows
        self.department_system = department_system
        self.counts = count_engagements(self.columns, windows, department_root)

    def __getitem__(self, expert_id: int) -> Profile:
        return self.at(self.pool.position[expert_id])

    def __contains__(self, expert_id) -> bool:
        return expert_id in self.pool.position

    def __iter__(self):
        return (p.expert_id for p in self.pool.base)

    def __len__(self) -> int:
        return len(self.pool.base)

    @cached_property
    def _same_system(self) -> np.ndarray:
        same = np.zeros(len(self.columns), dtype=bool)
        if self.department_system is not None:
            same[self.columns.government_positions.get(self.department_system, _ints(()))] = True
        return same

    def at(self, position: int) -> Profile:
        """The profile of the expert at `position`: its base profile with the request's facts."""
        facts = _facts()
        base = self.pool.base[position]
        expert_id = base.expert_id
        change: dict = {}
        periods = self.pool.periods.get(expert_id)
        if periods:
            now = facts.periods_on(periods, self.windows.day)
            if now:
                change["unavailable"] = now
        jobs = self.pool.jobs.get(expert_id)
        if jobs:
            held = facts.jobs_held(jobs, self.windows.cooling_since)
            if held:
                change["past_employments"] = held
        if self._same_system[position]:
            change["same_system_government"] = True
        in_year, in_lookback = int(self.counts.in_year[position]), int(self.counts.in_lookback[position])
        if in_year or in_lookback:
            change["engagements_in_year"] = in_year
            change["engagements_in_lookback"] = in_lookback
            change["same_department_in_lookback"] = int(self.counts.same_department[position])
        return facts.changed_profile(base, change) if change else base


class ColumnOutcome:
    """`matcher.FilterOutcome` of a request, the qualified experts kept as positions."""

    def __init__(self, profiles: RequestProfiles, context: FilterContext):
        self.profiles = profiles
        self.columns = columns = profiles.columns
        self.counts = profiles.counts
        reasons = _filter_reasons(columns, self.counts, context)
        dropping = reasons.any(axis=0)
        self.qualified_positions = np.flatnonzero(~dropping)
        self.qualified_id_array = columns.ids[self.qualified_positions]
        self.dropped, self._dropped_ids, self._masks, self._codes_of = _dropped(columns.ids, reasons, dropping)

    @cached_property
    def qualified_ids(self) -> list[int]:
        return self.qualified_id_array.tolist()

    @cached_property
    def all_reasons(self) -> dict[int, list[str]]:
        """Every reason that drops each dropped expert, in id order (FilterOutcome.all_reasons)."""
        return {expert_id: list(self._codes_of[mask]) for expert_id, mask in zip(self._dropped_ids, self._masks)}

    def as_record(self) -> dict:
        # matcher.stored_reasons(self.all_reasons) made straight from the masks: the ids are in order already,
        # and experts dropped for the same reasons share one list (tens of thousands at 100,000 experts).
        reasons = dict(zip(map(str, self._dropped_ids), map(self._codes_of.__getitem__, self._masks)))
        return matcher.filter_record(self.dropped, reasons, len(self.qualified_positions))


def _facts():
    # facts imports this module for Pool.columns; imported when first used, not at load.
    from experts_service.panels import facts

    return facts


def _filter_reasons(columns: PoolColumns, counts: EngagementCounts, context: FilterContext) -> np.ndarray:
    """(reason, expert position) -> whether that hard filter drops the expert (FILTER_REASONS order)."""
    reasons = np.zeros((len(_REASON_CODES), len(columns)), dtype=bool)
    roots = _id_array(context.conflict_root_ids)
    day = context.consultation_date.toordinal()
    reasons[0] = ~columns.active
    on_day = (columns.period_start <= day) & (day <= columns.period_end)
    reasons[1, columns.period_position[on_day]] = True
    reasons[2] = counts.in_year >= context.yearly_cap
    reasons[3] = np.isin(columns.employer_root, roots)
    counting = (columns.job_end >= context.cooling_since.toordinal()) & np.isin(columns.job_root, roots)
    reasons[3, columns.job_position[counting]] = True
    reasons[4, columns.conflict_position[np.isin(columns.conflict_root, roots)]] = True
    avoid = _id_array(context.avoid_ids)
    at = np.searchsorted(columns.ids, avoid)
    in_pool = at < len(columns)
    at, avoid = at[in_pool], avoid[in_pool]
    reasons[5, at[columns.ids[at] == avoid]] = True
    return reasons


def _dropped(ids: np.ndarray, reasons: np.ndarray, dropping: np.ndarray
             ) -> tuple[dict[str, list[int]], list[int], list[int], dict[int, list[str]]]:
    """FilterOutcome.dropped (each under its first reason), and for all_reasons the dropped ids in id
    order, each one's reasons as a bit mask, and the reason codes of each mask."""
    positions = np.flatnonzero(dropping)
    applying = reasons[:, positions]
    dropped_ids = ids[positions]
    first = applying.argmax(axis=0)
    dropped = {code: dropped_ids[first == index].tolist() for index, code in enumerate(_REASON_CODES)}
    masks = (applying * (1 << np.arange(len(_REASON_CODES)))[:, None]).sum(axis=0)
    codes_of = {mask: [code for index, code in enumerate(_REASON_CODES) if mask >> index & 1]
                for mask in np.unique(masks).tolist()}
    return dropped, dropped_ids.tolist(), masks.tolist(), codes_of


def apply_filters(profiles: RequestProfiles, context: FilterContext) -> ColumnOutcome:
    """`matcher.apply_filters(pool.profiles(windows, department_root, department_system), context)`, as columns."""
    return ColumnOutcome(profiles, context)


def _python_rounded(values: np.ndarray) -> np.ndarray:
    """round(value, SCORE_DIGITS) of each value, as matcher rounds.

    numpy scales by 10**SCORE_DIGITS, rounds to an integer and divides back:
    the same double as Python's correctly rounded result unless the scaled
    value lies within floating error of a half, where the two may differ
    (1.1937075). Those few, and any value too large for the argument, are
    rounded by Python.
    """
    values = np.asarray(values, dtype=np.float64)
    rounded = np.round(values, SCORE_DIGITS)
    scaled = values * _ROUNDING_SCALE
    unsure = (np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < _HALF_TOLERANCE) | (np.abs(scaled) > _EXACT_SCALED)
    for index in np.flatnonzero(unsure).tolist():
        rounded[index] = round(float(values[index]), SCORE_DIGITS)
    return rounded


def _matches(target) -> np.ndarray:
    return _id_array(target.matches)


class ColumnRanking(matcher._Lazy):
    """`matcher.rank` of a ColumnOutcome's qualified experts: the same order and the same Ranked items.

    Every qualified expert's score is computed at once (a few array
    operations); the experts with text evidence are then scored one by one
    as `matcher.ranked_one` does. Profiles and Ranked items are made as read.
    """

    def __init__(self, outcome: ColumnOutcome, text: Mapping[int, TextEvidence], context: RankContext):
        columns, qualified = outcome.columns, outcome.qualified_positions
        self._outcome = outcome
        self._text = text
        self._context = context
        self._size = len(qualified)
        primary = columns.primary_domain[qualified]
        domain_total = np.zeros(len(qualified), dtype=np.float64)
        for target in context.targets:
            matches = _matches(target)
            secondary = columns.secondary_hits(matches)[qualified]
            domain_total += np.where(np.isin(primary, matches), DOMAIN_MATCH_PRIMARY,
                                     np.where(secondary, DOMAIN_MATCH_SECONDARY, 0.0))
        domain_part = _python_rounded(domain_total / len(context.targets) if context.targets else domain_total)
        tier_part = self._tier_parts(columns.tier_rank[qualified])
        rotation_raw = np.minimum(1.0, ROTATION_PER_ENGAGEMENT * outcome.counts.in_lookback[qualified]
                                  + ROTATION_PER_SAME_DEPARTMENT * outcome.counts.same_department[qualified])
        rotation_part = _python_rounded(rotation_raw)
        # matcher._combine with no text part: the same operations in the same order.
        scores = _python_rounded(WEIGHT_TEXT * 0.0 + WEIGHT_DOMAIN * domain_part + WEIGHT_TIER * tier_part
                                 - WEIGHT_ROTATION * rotation_part)
        ids = outcome.qualified_id_array
        if text:
            text_ids = _ints(text.keys(), len(text))
            at = np.searchsorted(ids, text_ids)
            inside = at < len(ids)
            at, text_ids = at[inside], text_ids[inside]
            found = ids[at] == text_ids
            for index, expert_id in zip(at[found].tolist(), text_ids[found].tolist()):
                evidence = text[expert_id]
                scores[index] = matcher._combine(
                    matcher._round(evidence.score if evidence else 0.0), float(domain_part[index]),
                    float(tier_part[index]), float(rotation_part[index]))
        # Higher score first, then lower id: matcher.order_key.
        self._order = qualified[np.lexsort((ids, -scores))]
        self._profiles: dict[int, Profile] = {}
        self._ranked: list[matcher.Ranked] = []
        self._members: RankedMembers | None = None

    def _tier_parts(self, ranks: np.ndarray) -> np.ndarray:
        """matcher's rounded tier score of each rank, computed once per rank present (a few tiers)."""
        if not len(ranks):
            return np.zeros(0)
        context = self._context
        low = int(ranks.min())
        present = np.zeros(int(ranks.max()) - low + 1, dtype=bool)
        present[ranks - low] = True
        parts = np.zeros(len(present), dtype=np.float64)
        for offset in np.flatnonzero(present).tolist():
            rank = offset + low
            parts[offset] = matcher._round(matcher.tier_score(None if rank == _NO_TIER else rank,
                                                              context.best_tier_rank, context.worst_tier_rank))
        return parts[ranks - low]

    def profile(self, index: int) -> Profile:
        if not 0 <= index < self._size:
            raise IndexError(index)
        made = self._profiles.get(index)
        if made is None:
            made = self._profiles[index] = self._outcome.profiles.at(int(self._order[index]))
        return made

    def _item(self, index: int) -> matcher.Ranked:
        while len(self._ranked) <= index:
            profile = self.profile(len(self._ranked))
            self._ranked.append(matcher.ranked_one(profile, self._text.get(profile.expert_id), self._context))
        return self._ranked[index]

    def members(self) -> RankedMembers:
        if self._members is None:
            self._members = RankedMembers(self, self._context.targets, self._covered)
        return self._members

    def _covered(self) -> frozenset[int]:
        columns, qualified = self._outcome.columns, self._outcome.qualified_positions
        covered = set()
        for target in self._context.targets:
            if target.required and target.domain_id not in covered:
                matches = _matches(target)
                if np.isin(columns.primary_domain[qualified], matches).any() or \
                        columns.secondary_hits(matches)[qualified].any():
                    covered.add(target.domain_id)
        return frozenset(covered)


def rank(outcome: ColumnOutcome, text: Mapping[int, TextEvidence], context: RankContext) -> ColumnRanking:
    """`matcher.rank(outcome.qualified, text, context)`, as columns."""
    return ColumnRanking(outcome, text, context)
