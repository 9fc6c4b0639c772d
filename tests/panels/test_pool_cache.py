"""The pool facts.gather keeps between requests: reused while nothing it
reads has changed, read again after any committed change to it (through the
ORM or a bulk statement), never remembered from a transaction that has not
committed, and always equal to a plain ORM reading of the database."""
from __future__ import annotations

import gc
import weakref
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from experts_service.core.clock import today
from experts_service.experts.models import ConflictDeclaration, Expert, ExpertStatus, expert_secondary_domains
from experts_service.extensions import db
from experts_service.panels import facts, pool_version
from experts_service.panels.models import EmploymentRecord, Engagement, EngagementStatus, PanelRequest
from experts_service.policy import current_policy
from experts_service.reference.models import Domain, Organisation, Tier
from tests.panels.helpers import declare_organisation_conflict, engage, formerly_employed, unavailable
from tests.panels.test_facts import orm_profiles, pool, typed  # noqa: F401 - pool is the fixture


def gathered(request: PanelRequest) -> facts.MatchData:
    return facts.gather(db.session.get(PanelRequest, request.id), current_policy())


def assert_current(data: facts.MatchData) -> None:
    """The gathered profiles are what the database holds now, by the plain ORM reading."""
    expected = orm_profiles(data.consultation_date, facts.organisation_roots(), data.department_root_id,
                            data.department_system, data.filter_context.cooling_since, data.lookback_since)
    assert typed(data.profiles) == typed(expected)


def cached_pool():
    cache = current_app.extensions.get("match_pool_cache")
    return None if cache is None else cache.pool


def version() -> int:
    return db.session.execute(sa.select(pool_version.MatchPoolState.version)).scalar_one()


def test_the_pool_is_reused_while_nothing_changes(pool):
    first = gathered(pool)
    kept = cached_pool()
    assert kept is not None
    db.session.commit()
    second = gathered(pool)
    assert cached_pool() is kept
    assert typed(second.profiles) == typed(first.profiles)
    assert_current(second)


def _suspend(request):
    expert = db.session.execute(sa.select(Expert).where(Expert.name == "普通专家")).scalar_one()
    expert.status = ExpertStatus.SUSPENDED


def _new_period(request):
    expert = db.session.execute(sa.select(Expert).where(Expert.name == "首席专家")).scalar_one()
    unavailable(expert, request.consultation_date, request.consultation_date)


def _engagement(request):
    expert = db.session.execute(sa.select(Expert).where(Expert.name == "申请人")).scalar_one()
    engage(expert, request.item.organisation, request.consultation_date - timedelta(days=3), times=2)


def _cancelled_engagement(request):
    engagement = db.session.execute(sa.select(Engagement).order_by(Engagement.id).limit(1)).scalar_one()
    engagement.status = EngagementStatus.CANCELLED


def _conflict(request):
    expert = db.session.execute(sa.select(Expert).where(Expert.name == "普通专家")).scalar_one()
    declare_organisation_conflict(expert, request.item.organisation)


def _withdrawn_conflict(request):
    db.session.delete(db.session.execute(sa.select(ConflictDeclaration).limit(1)).scalar_one())


def _former_job(request):
    expert = db.session.execute(sa.select(Expert).where(Expert.name == "申请人")).scalar_one()
    formerly_employed(expert, request.item.organisation, ended_on=today() - timedelta(days=10))


def _job_end_moved(request):
    job = db.session.execute(sa.select(EmploymentRecord).where(EmploymentRecord.ended_on.is_not(None))
                             .order_by(EmploymentRecord.id).limit(1)).scalar_one()
    job.ended_on = job.ended_on.replace(year=job.ended_on.year - 10)


def _employer_moved_under_department(request):
    college = db.session.execute(sa.select(Organisation).where(Organisation.name == "江海大学经济学院")).scalar_one()
    college.parent_id = request.item.organisation_id


def _secondary_domain(request):
    expert = db.session.execute(sa.select(Expert).where(Expert.name == "财政干部")).scalar_one()
    expert.secondary_domains.append(db.session.execute(sa.select(Domain).where(Domain.name == "住房保障")).scalar_one())


def _tier_no_longer_senior(request):
    for tier in db.session.execute(sa.select(Tier)).scalars():
        tier.is_senior = False


def _bulk_update(request):
    db.session.execute(sa.update(Expert).where(Expert.name == "下属单位职工").values(status=ExpertStatus.EXITED))


def _bulk_secondary_insert(request):
    expert_id = db.session.execute(sa.select(Expert.id).where(Expert.name == "人大代表")).scalar_one()
    domain_id = db.session.execute(sa.select(Domain.id).where(Domain.name == "城市治理")).scalar_one()
    db.session.execute(sa.insert(expert_secondary_domains).values(expert_id=expert_id, domain_id=domain_id))


CHANGES = [_suspend, _new_period, _engagement, _cancelled_engagement, _conflict, _withdrawn_conflict, _former_job,
           _job_end_moved, _employer_moved_under_department, _secondary_domain, _tier_no_longer_senior, _bulk_update,
           _bulk_secondary_insert]


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__.strip("_") for c in CHANGES])
def test_a_committed_change_is_seen_by_the_next_gather(pool, change):
    before = gathered(pool)
    stale = cached_pool()
    counted = version()
    db.session.commit()
    change(pool)
    db.session.commit()
    assert version() > counted
    after = gathered(pool)
    assert cached_pool() is not stale
    assert typed(after.profiles) != typed(before.profiles)  # the change reached a fact the matcher reads
    assert_current(after)


def test_a_change_not_yet_committed_is_read_but_never_kept(pool):
    gathered(pool)
    kept = cached_pool()
    db.session.commit()
    _suspend(pool)
    inside = gathered(pool)  # the transaction sees its own change ...
    assert {p.name: p.status for p in inside.profiles}["普通专家"] == ExpertStatus.SUSPENDED.value
    assert cached_pool() is kept  # ... and the cache does not keep it
    db.session.rollback()
    after = gathered(pool)
    assert {p.name: p.status for p in after.profiles}["普通专家"] == ExpertStatus.ACTIVE.value
    assert_current(after)


def test_a_rollback_leaves_the_version_where_it_was(pool):
    counted = version()
    db.session.commit()
    _suspend(pool)
    db.session.flush()
    assert version() == counted + 1
    db.session.rollback()
    assert version() == counted


def test_changes_elsewhere_do_not_move_the_version(pool):
    counted = version()
    db.session.commit()
    request = db.session.get(PanelRequest, pool.id)
    request.note = "补充说明"
    db.session.commit()
    assert version() == counted


def test_a_day_before_the_cached_reach_is_read_afresh(pool):
    gathered(pool)
    kept = cached_pool()
    db.session.commit()
    request = db.session.get(PanelRequest, pool.id)
    long_ago = today() - timedelta(days=3 * 365)
    request.meeting_date = long_ago
    db.session.commit()
    data = gathered(request)
    assert data.consultation_date == long_ago
    assert not kept.covers(facts.windows_for(long_ago, current_policy()))
    assert_current(data)


def _tracked_ids() -> set[int]:
    # gc.get_objects() lists the collector's generations, not the frozen (permanent) one.
    return {id(obj) for obj in gc.get_objects()}


def test_the_kept_pool_is_left_out_of_full_collections_and_freed_when_replaced(pool):
    gathered(pool)
    kept = cached_pool()
    assert gc.get_freeze_count() > 0
    tracked = _tracked_ids()
    assert id(kept) not in tracked and id(kept.base) not in tracked and id(kept.position) not in tracked
    replaced = weakref.ref(kept)
    del kept
    _suspend(pool)
    db.session.commit()
    gathered(pool)
    # The pool replaced was unfrozen before the new read, so nothing keeps it: no pool per change is leaked.
    assert replaced() is None
    assert id(cached_pool()) not in _tracked_ids()
