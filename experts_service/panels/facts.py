"""Reads the database into the plain data `matcher` works on.

A recommendation reads the whole pool, so this is one set-based query per
kind of fact (no per-expert queries) that selects columns, not ORM entities:
at 100,000 experts, making and populating ORM objects was nine tenths of
the time (bench/facts.py measures it on SQLite and PostgreSQL).
"""
from __future__ import annotations

import bisect
import dataclasses
import gc
import itertools
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from datetime import date

import sqlalchemy as sa
from flask import current_app

from experts_service.experts.models import (
    ConflictDeclaration,
    ConflictKind,
    Expert,
    PoliticalAffiliation,
    UnavailablePeriod,
    expert_secondary_domains,
)
from experts_service.core.clock import today
from experts_service.extensions import db
from experts_service.panels.matcher import DomainTarget, Employment, FilterContext, Profile, RankContext
from experts_service.panels import pool_version
from experts_service.panels.models import COUNTING_ENGAGEMENT_STATUSES, EmploymentRecord, Engagement, PanelRequest
from experts_service.reference.models import Domain, Organisation, OrganisationType, Tier


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for candidate_day in range(day.day, 0, -1):  # 31 March minus one month is 28/29 February
        try:
            return date(year, month, candidate_day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _Organisations:
    """The organisation table as the matcher sees it: each id's root, and the employer facts of a profile."""

    roots: dict[int, int]
    names: dict[int, str]
    types: dict[int, OrganisationType]
    systems: dict[int, str | None]


def _tree_roots(parents: dict[int, int | None]) -> dict[int, int]:
    roots: dict[int, int] = {}
    for start in parents:
        path = []
        node = start
        while node not in roots and parents.get(node) is not None and node not in path:
            path.append(node)
            node = parents[node]
        root = roots.get(node, node)
        for visited in (*path, node):
            roots[visited] = root
    return roots


def organisation_roots() -> dict[int, int]:
    """Every organisation id -> the id of the top of its tree (a college -> its university)."""
    organisations = Organisation.__table__.c
    parents = dict(db.session.execute(sa.select(organisations.id, organisations.parent_id)).all())
    return _tree_roots(parents)


def _organisations() -> _Organisations:
    """One read of the organisation table (a few thousand rows) for the roots and the employers."""
    organisations = Organisation.__table__.c
    parents, names, types, systems = {}, {}, {}, {}
    for organisation_id, parent_id, name, type_, system in db.session.execute(sa.select(
        organisations.id, organisations.parent_id, organisations.name, organisations.type, organisations.system,
    )).all():
        parents[organisation_id] = parent_id
        names[organisation_id] = name
        types[organisation_id] = type_
        systems[organisation_id] = system
    return _Organisations(_tree_roots(parents), names, types, systems)


def domain_matches(domain_id: int, children: dict[int, list[int]]) -> frozenset[int]:
    """A first-level domain is matched by itself and its children; a second-level one by itself."""
    return frozenset({domain_id, *children.get(domain_id, [])})


@dataclass(frozen=True)
class MatchData:
    filter_context: FilterContext
    rank_context: RankContext
    pool: Pool
    windows: Windows
    department_id: int
    department_root_id: int
    department_system: str | None
    conflict_organisation_ids: list[int]
    lookback_since: date
    consultation_date: date

    @cached_property
    def profiles(self) -> list[Profile]:
        """Every expert's profile for this request (id order): made when first read, a walk of the whole pool."""
        return self.pool.profiles(self.windows, self.department_root_id, self.department_system)

    @cached_property
    def request_profiles(self):
        """The same profiles by expert id, each made when read (panels/columns.py)."""
        from experts_service.panels.columns import RequestProfiles

        return RequestProfiles(self.pool, self.windows, self.department_root_id, self.department_system)

    @property
    def pool_size(self) -> int:
        return len(self.pool.base)


@dataclass(frozen=True)
class Windows:
    """The dates a request's facts are read for."""

    day: date
    cooling_since: date
    lookback_since: date

    @property
    def engagements_since(self) -> date:
        return min(date(self.day.year, 1, 1), self.lookback_since)


def windows_for(day: date, policy) -> Windows:
    return Windows(day, years_before(day, policy.employment_cooling_years),
                   months_before(day, policy.rotation_lookback_months))


def gather(request: PanelRequest, policy) -> MatchData:
    """Everything the matcher needs for one panel request under `policy`."""
    item = request.item
    windows = windows_for(request.consultation_date, policy)
    pool = pooled(windows, policy)
    roots = pool.organisations.roots
    department = item.organisation
    department_root = roots[department.id]
    conflict_ids = [department.id, *(o.id for o in item.stakeholders)]
    if request.institution_id is not None:
        # The commissioned institution's own staff cannot review its study.
        conflict_ids.append(request.institution_id)
    conflict_roots = frozenset(roots[i] for i in conflict_ids)

    filter_context = FilterContext(
        consultation_date=windows.day,
        conflict_root_ids=conflict_roots,
        avoid_ids=frozenset(entry.expert_id for entry in request.avoid_entries),
        yearly_cap=policy.yearly_engagement_cap,
        cooling_since=windows.cooling_since,
    )

    names = {domain_id: name for domain_id, name, _parent in pool.domains}
    children: dict[int, list[int]] = defaultdict(list)
    for domain_id, _name, parent_id in pool.domains:
        if parent_id is not None:
            children[parent_id].append(domain_id)
    targets: dict[int, DomainTarget] = {}
    for d in request.required_domains:
        targets[d.id] = DomainTarget(d.id, d.name, domain_matches(d.id, children), required=True)
    for d in item.domains:
        targets.setdefault(d.id, DomainTarget(d.id, d.name, domain_matches(d.id, children), required=False))
    ranks = [rank for rank, _name, _senior in pool.tiers.values()] or [1]
    rank_context = RankContext(tuple(targets.values()), min(ranks), max(ranks), names)

    return MatchData(filter_context, rank_context, pool, windows, department.id, department_root, department.system,
                     conflict_ids, windows.lookback_since, windows.day)


# ---------------------------------------------------------------- the pool, read once


@dataclass(frozen=True)
class Pool:
    """The pool's facts as far as they do not depend on the request, from one read.

    Time-bound facts are held from `since` on (periods ending, jobs ending,
    engagements dated on or after it), so the pool serves every request whose
    windows start there or later (`covers`). `profiles` makes the request's
    profiles: each expert's base profile (no period, past job or engagement,
    not of the department's system) is shared, and only the experts a
    request's windows or department touch get a profile of their own.
    """

    since: Windows
    organisations: _Organisations
    domains: tuple[tuple[int, str, int | None], ...]
    tiers: dict[int, tuple[int, str, bool]]
    base: list[Profile]
    position: dict[int, int]
    # expert id -> (start, end) in period id order; -> (organisation root, ended_on) in job id order
    periods: dict[int, list[tuple[date, date]]]
    jobs: dict[int, list[tuple[int, date | None]]]
    # Counting engagements by day: day ordinals (sorted), their experts, their organisations' roots.
    engagement_days: list[int]
    engagement_experts: list[int]
    engagement_roots: list[int]
    # employer's 系统 -> ids of the experts employed by a government body of it
    government_staff: dict[str, list[int]]

    @cached_property
    def columns(self):
        """The pool as arrays (panels/columns.py), made once per pool."""
        from experts_service.panels.columns import PoolColumns

        return PoolColumns.from_pool(self)

    def covers(self, windows: Windows) -> bool:
        return (self.since.day <= windows.day and self.since.cooling_since <= windows.cooling_since
                and self.since.engagements_since <= windows.engagements_since)

    def profiles(self, windows: Windows, department_root: int, department_system: str | None) -> list[Profile]:
        """The profiles of every expert (id order) for a request with these windows and department."""
        if not self.covers(windows):
            raise ValueError("the pool was read for later windows")
        with _cyclic_collector_paused():
            return self._profiles(windows, department_root, department_system)

    def _profiles(self, windows: Windows, department_root: int, department_system: str | None) -> list[Profile]:
        day, cooling_since = windows.day, windows.cooling_since
        changes: dict[int, dict] = defaultdict(dict)
        for expert_id, periods in self.periods.items():
            now = periods_on(periods, day)
            if now:
                changes[expert_id]["unavailable"] = now
        for expert_id, jobs in self.jobs.items():
            held = jobs_held(jobs, cooling_since)
            if held:
                changes[expert_id]["past_employments"] = held
        for expert_id in self.government_staff.get(department_system, ()) if department_system is not None else ():
            changes[expert_id]["same_system_government"] = True
        days = self.engagement_days
        year_first = bisect.bisect_left(days, date(day.year, 1, 1).toordinal())
        year_last = bisect.bisect_right(days, date(day.year, 12, 31).toordinal())
        lookback_first = bisect.bisect_left(days, windows.lookback_since.toordinal())
        lookback_last = bisect.bisect_right(days, day.toordinal())
        in_year = Counter(self.engagement_experts[year_first:year_last])
        in_lookback = Counter(self.engagement_experts[lookback_first:lookback_last])
        same_department = Counter(itertools.compress(
            self.engagement_experts[lookback_first:lookback_last],
            map(department_root.__eq__, self.engagement_roots[lookback_first:lookback_last])))
        for expert_id in in_year.keys() | in_lookback.keys():
            change = changes[expert_id]
            change["engagements_in_year"] = in_year.get(expert_id, 0)
            change["engagements_in_lookback"] = in_lookback.get(expert_id, 0)
            change["same_department_in_lookback"] = same_department.get(expert_id, 0)
        profiles = list(self.base)
        position, changed = self.position, _changed_profile_maker()
        for expert_id, change in changes.items():
            index = position.get(expert_id)
            if index is not None:
                profiles[index] = changed(profiles[index], change)
        return profiles


def periods_on(periods: list[tuple[date, date]], day: date) -> tuple[tuple[date, date], ...]:
    """The unavailable periods that include `day` (Profile.unavailable)."""
    return tuple(period for period in periods if period[0] <= day <= period[1])


def jobs_held(jobs: list[tuple[int, date | None]], cooling_since: date) -> tuple[Employment, ...]:
    """The jobs held now or ended on or after `cooling_since` (Profile.past_employments)."""
    return tuple(Employment(root, ended_on) for root, ended_on in jobs if ended_on is None or ended_on >= cooling_since)


def read_pool(since: Windows, expert_ids: list[int] | None = None) -> Pool:
    """One query per kind of fact, columns only (no ORM entities); `expert_ids` limits it to those experts."""
    with _cyclic_collector_paused():
        return _read_pool(since, expert_ids)


def _read_pool(since: Windows, expert_ids: list[int] | None) -> Pool:
    organisations = _organisations()
    roots = organisations.roots

    def scoped(statement, column):
        return statement if expert_ids is None else statement.where(column.in_(expert_ids))

    periods_of: dict[int, list[tuple[date, date]]] = defaultdict(list)
    periods = UnavailablePeriod.__table__.c
    for expert_id, start, end in db.session.execute(scoped(
        sa.select(periods.expert_id, periods.starts_on, periods.ends_on)
        .where(periods.ends_on >= since.day).order_by(periods.id),
        periods.expert_id,
    )).all():
        periods_of[expert_id].append((start, end))

    jobs_of: dict[int, list[tuple[int, date | None]]] = defaultdict(list)
    jobs = EmploymentRecord.__table__.c
    for expert_id, organisation_id, ended_on in db.session.execute(scoped(
        sa.select(jobs.expert_id, jobs.organisation_id, jobs.ended_on)
        .where(sa.or_(jobs.ended_on.is_(None), jobs.ended_on >= since.cooling_since)).order_by(jobs.id),
        jobs.expert_id,
    )).all():
        jobs_of[expert_id].append((roots[organisation_id], ended_on))

    conflict_roots: dict[int, set[int]] = defaultdict(set)
    relatives: dict[int, set[int]] = defaultdict(set)
    declarations = ConflictDeclaration.__table__.c
    statement = sa.select(declarations.expert_id, sa.type_coerce(declarations.kind, sa.String),
                          declarations.organisation_id, declarations.related_expert_id)
    if expert_ids is not None:
        # A person conflict binds both of the two, whoever declared it.
        statement = statement.where(sa.or_(declarations.expert_id.in_(expert_ids),
                                           declarations.related_expert_id.in_(expert_ids)))
    for expert_id, kind, organisation_id, related_id in db.session.execute(statement).all():
        if kind == ConflictKind.ORGANISATION.value and organisation_id is not None:
            conflict_roots[expert_id].add(roots[organisation_id])
        elif kind == ConflictKind.PERSON.value and related_id is not None:
            relatives[expert_id].add(related_id)
            relatives[related_id].add(expert_id)

    engagements = Engagement.__table__.c
    engagement_rows = db.session.execute(scoped(
        sa.select(engagements.engaged_on, engagements.expert_id, engagements.organisation_id)
        .where(engagements.status.in_(COUNTING_ENGAGEMENT_STATUSES),
               engagements.engaged_on >= since.engagements_since),
        engagements.expert_id,
    )).all()
    dated = sorted((engaged_on.toordinal(), expert_id, roots[organisation_id])
                   for engaged_on, expert_id, organisation_id in engagement_rows)

    # The primary domain is taken out per expert below: joining experts for it costs more than it saves.
    secondary = expert_secondary_domains.c
    secondary_ids: dict[int, list[int]] = defaultdict(list)
    for expert_id, domain_id in db.session.execute(scoped(
        sa.select(secondary.expert_id, secondary.domain_id), secondary.expert_id,
    )).all():
        secondary_ids[expert_id].append(domain_id)

    # Per organisation and per tier once, not per expert.
    employers = {organisation_id: (root, organisations.names[organisation_id]) for organisation_id, root
                 in roots.items()}
    government_system = {organisation_id: system for organisation_id, system in organisations.systems.items()
                         if system is not None and organisations.types[organisation_id] is OrganisationType.GOVERNMENT}
    tiers = Tier.__table__.c
    tier_facts = {tier_id: (rank, name, bool(is_senior)) for tier_id, rank, name, is_senior
                  in db.session.execute(sa.select(tiers.id, tiers.rank, tiers.name, tiers.is_senior))}
    domain_columns = Domain.__table__.c
    domains = tuple(tuple(row) for row in db.session.execute(
        sa.select(domain_columns.id, domain_columns.name, domain_columns.parent_id).order_by(domain_columns.id)))
    no_tier = (None, "", False)
    empty: frozenset[int] = frozenset()
    cpc = PoliticalAffiliation.CPC.value

    experts = Expert.__table__.c
    rows = db.session.execute(scoped(
        # Enum columns as their stored strings: Profile keeps the value, so no enum per row.
        sa.select(experts.id, experts.name, sa.type_coerce(experts.status, sa.String), experts.employer_id,
                  experts.primary_domain_id, experts.tier_id, sa.type_coerce(experts.political_affiliation, sa.String),
                  experts.is_npc_deputy, experts.is_cppcc_member).order_by(experts.id),
        experts.id,
    )).all()
    profile = _profile_constructor()
    base: list[Profile] = []
    append = base.append
    government_staff: dict[str, list[int]] = defaultdict(list)
    for expert_id, name, status, employer_id, primary_domain_id, tier_id, affiliation, npc, cppcc in rows:
        employer_root_id, employer_name = employers[employer_id]
        system = government_system.get(employer_id)
        if system is not None:
            government_staff[system].append(expert_id)
        tier_rank, tier_name, senior = tier_facts.get(tier_id, no_tier)
        domains_of = secondary_ids.get(expert_id)
        if domains_of is None:
            secondary_domain_ids = empty
        else:
            secondary_domain_ids = frozenset(domains_of)
            if primary_domain_id in secondary_domain_ids:
                secondary_domain_ids = secondary_domain_ids - {primary_domain_id}
        declared = conflict_roots.get(expert_id)
        related = relatives.get(expert_id)
        append(profile(
            expert_id, name, status, employer_id, employer_root_id, employer_name, False, primary_domain_id,
            secondary_domain_ids, tier_rank, tier_name, senior, affiliation != cpc or npc or cppcc,
            (), 0, 0, 0, (), empty if declared is None else frozenset(declared),
            empty if related is None else frozenset(related),
        ))
    return Pool(
        since=since, organisations=organisations, domains=domains, tiers=tier_facts, base=base,
        position={p.expert_id: index for index, p in enumerate(base)},
        periods=dict(periods_of), jobs=dict(jobs_of),
        engagement_days=[row[0] for row in dated], engagement_experts=[row[1] for row in dated],
        engagement_roots=[row[2] for row in dated], government_staff=dict(government_staff),
    )


class _PoolCache:
    """The last pool read, with the committed pool version it was read at (see pool_version)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple | None = None
        self.pool: Pool | None = None


# How far before the day a cached pool reaches, so that it serves requests for past days too.
POOL_REACH_MONTHS = 12


def pooled(windows: Windows, policy) -> Pool:
    """The pool for a request: the cached one while it is current and reaches the windows, else read.

    The committed version is read before the facts: a change committed in
    between is then in the facts read and newer than the version stored with
    them, so the next request reads again (never the other way round).
    """
    version = pool_version.committed_version(db.session)
    if version is None:  # this transaction changed the pool: read it as it is, remember nothing
        return read_pool(windows)
    cache = current_app.extensions.setdefault("match_pool_cache", _PoolCache())
    key = (version, policy.employment_cooling_years, policy.rotation_lookback_months)
    with cache.lock:
        if cache.key == key and cache.pool is not None and cache.pool.covers(windows):
            return cache.pool
        reach = windows_for(min(windows.day, months_before(today(), POOL_REACH_MONTHS)), policy)
        # The pool replaced must be collectable again once it is dropped (see _keep_out_of_collector).
        gc.unfreeze()
        pool = read_pool(reach)
        cache.key, cache.pool = key, None
        _keep_out_of_collector()
        cache.pool = pool
        return pool


def _keep_out_of_collector() -> None:
    """Move what the process holds now, the kept pool above all, out of the cyclic collector's reach.

    The kept pool is hundreds of thousands of long-lived objects; every
    full collection walked them all (about 280 ms at 100,000 experts, every
    fourth request). One collection now frees the cyclic garbage of the pool
    replaced, then gc.freeze() leaves the survivors to reference counting
    alone until the next pool is read (which unfreezes them first).
    """
    gc.collect()
    gc.freeze()


@contextmanager
def _cyclic_collector_paused():
    """No cyclic garbage collection while a pool's profiles are built.

    Nothing built here forms a cycle, yet the allocations trigger full
    collections that walk the whole, growing heap: at 100,000 experts
    they cost as much as the reading itself. Reference counting still frees
    everything; the collector resumes afterwards (unless it was already off,
    or another thread turned it off and will turn it back on).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# The Profile fields in their declared order, as _profiles passes them.
_PROFILE_FIELDS = (
    "expert_id", "name", "status", "employer_id", "employer_root_id", "employer_name", "same_system_government",
    "primary_domain_id", "secondary_domain_ids", "tier_rank", "tier_name", "senior", "representative",
    "unavailable", "engagements_in_year", "engagements_in_lookback", "same_department_in_lookback",
    "past_employments", "conflict_organisation_root_ids", "relative_ids",
)


def _profile_constructor():
    """Profile(*values), or an equivalent that fills the instance in one step.

    A frozen dataclass's __init__ sets each of the 20 fields through
    object.__setattr__: about 4 µs a profile, 0.4 s of a 100,000-expert pool.
    Setting the instance __dict__ at once gives the same object (fields,
    equality, hash, repr) in a quarter of the time. Only while Profile is a
    plain dataclass with exactly these fields (no __post_init__, no slots);
    otherwise the real constructor.
    """
    plain = (tuple(f.name for f in dataclasses.fields(Profile)) == _PROFILE_FIELDS
             and not hasattr(Profile, "__post_init__") and "__slots__" not in vars(Profile))
    if not plain:
        return lambda *values: Profile(**dict(zip(_PROFILE_FIELDS, values)))
    return _filled_profile


def _filled_profile(expert_id, name, status, employer_id, employer_root_id, employer_name, same_system_government,
                    primary_domain_id, secondary_domain_ids, tier_rank, tier_name, senior, representative,
                    unavailable, engagements_in_year, engagements_in_lookback, same_department_in_lookback,
                    past_employments, conflict_organisation_root_ids, relative_ids) -> Profile:
    profile = _new_instance(Profile)
    _set_attribute(profile, "__dict__", {
        "expert_id": expert_id, "name": name, "status": status, "employer_id": employer_id,
        "employer_root_id": employer_root_id, "employer_name": employer_name,
        "same_system_government": same_system_government, "primary_domain_id": primary_domain_id,
        "secondary_domain_ids": secondary_domain_ids, "tier_rank": tier_rank, "tier_name": tier_name,
        "senior": senior, "representative": representative, "unavailable": unavailable,
        "engagements_in_year": engagements_in_year, "engagements_in_lookback": engagements_in_lookback,
        "same_department_in_lookback": same_department_in_lookback, "past_employments": past_employments,
        "conflict_organisation_root_ids": conflict_organisation_root_ids, "relative_ids": relative_ids,
    })
    return profile


def _changed_profile_maker():
    """(profile, {field: value}) -> the profile with those fields changed, by the fast path where it is sound."""
    if _profile_constructor() is not _filled_profile:
        return lambda profile, change: dataclasses.replace(profile, **change)
    return _changed_profile


def changed_profile(profile: Profile, change: dict) -> Profile:
    """The profile with the fields of `change` changed."""
    return _changed_profile_maker()(profile, change)


def _changed_profile(profile: Profile, change: dict) -> Profile:
    changed = _new_instance(Profile)
    values = profile.__dict__.copy()
    values.update(change)
    _set_attribute(changed, "__dict__", values)
    return changed


_new_instance = object.__new__
_set_attribute = object.__setattr__


def current_profiles(data: MatchData, expert_ids: list[int]) -> list[Profile]:
    """Fresh profiles of a few experts under the same request context (for re-checking a replacement)."""
    windows = Windows(data.consultation_date, data.filter_context.cooling_since, data.lookback_since)
    return read_pool(windows, list(expert_ids)).profiles(windows, data.department_root_id, data.department_system)
