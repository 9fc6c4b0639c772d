"""The matcher over the real database: each hard filter on real records (the
organisation tree and aliases, cooling-off, the calendar-year cap, declared
conflicts, relatives), rotation in the ranking, real full-text relevance
through the search bridge, and the employment history kept on a job change."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from experts_service.core.clock import today
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.experts.operations import update_expert
from experts_service.extensions import db
from experts_service.panels.models import EmploymentRecord, EngagementStatus, PanelRequestStatus
from tests.panels.helpers import (
    World,
    declare_organisation_conflict,
    declare_relatives,
    engage,
    formerly_employed,
    panel_of,
    unavailable,
)


@pytest.fixture
def world(factory):
    return World(factory)


def dropped(record, reason: str) -> list[int]:
    return record.filtered["experts"][reason]


def candidate_ids(record) -> set[int]:
    return {c["expert_id"] for c in record.candidates}


def test_each_hard_filter_drops_the_expert_under_its_reason(world, factory):
    day = today() + timedelta(days=20)
    stakeholder_university = factory.organisation("江海大学")
    college = factory.organisation("江海大学经济学院", parent_id=stakeholder_university.id)
    subordinate = factory.organisation("市价格监测中心", type_="public_institution", parent_id=world.department.id)
    other = factory.organisation("江海财经大学")

    suspended = world.expert("暂停者")
    suspended.status = ExpertStatus.SUSPENDED
    exited = world.expert("退出者")
    exited.status = ExpertStatus.EXITED
    db.session.commit()
    away = world.expert("出差者")
    unavailable(away, day - timedelta(days=2), day)
    busy = world.expert("忙碌者")
    engage(busy, other, day.replace(month=1, day=2), times=10)
    insider = world.expert("部门下属单位职工", employer=subordinate)
    at_college = world.expert("学院教师", employer=college)
    former = world.expert("原部门职工")
    formerly_employed(former, world.department, ended_on=day - timedelta(days=365 * 2))
    declared = world.expert("申报冲突者")
    declare_organisation_conflict(declared, stakeholder_university)
    avoided = world.expert("被回避者")
    fine = world.expert("合格者")

    item = world.item(stakeholder_ids=[stakeholder_university.id])
    request = world.request(item, meeting_date=day, avoid=[{"expert_id": avoided.id, "reason": "参与过起草"}])
    record = world.run(request)

    assert dropped(record, "not_active") == [suspended.id, exited.id]
    assert dropped(record, "unavailable") == [away.id]
    assert dropped(record, "yearly_cap") == [busy.id]
    # A 下属事业单位 is the department itself; a college is its university (the stakeholder).
    assert sorted(dropped(record, "employment")) == sorted([insider.id, at_college.id, former.id])
    assert dropped(record, "declared_conflict") == [declared.id]
    assert dropped(record, "avoid_list") == [avoided.id]
    assert candidate_ids(record) == {fine.id}
    assert record.filtered["counts"] == {"not_active": 2, "unavailable": 1, "yearly_cap": 1, "employment": 3,
                                         "declared_conflict": 1, "avoid_list": 1}


def test_boundaries_of_the_time_windows(world, factory):
    day = today() + timedelta(days=20)
    other = factory.organisation("江海财经大学")
    cooled = world.expert("回避期已满")
    formerly_employed(cooled, world.department,
                      ended_on=day.replace(year=day.year - 3) - timedelta(days=1))
    still_cooling = world.expert("回避期内")
    formerly_employed(still_cooling, world.department, ended_on=day.replace(year=day.year - 3))
    second_post = world.expert("兼职者")
    formerly_employed(second_post, world.department, ended_on=None)
    last_year = world.expert("去年忙碌")
    engage(last_year, other, date(day.year - 1, 12, 31), times=10)
    cancelled = world.expert("取消的不算")
    engage(cancelled, other, day, status=EngagementStatus.CANCELLED, times=10)
    nine = world.expert("九次")
    engage(nine, other, date(day.year, 1, 1), times=9)
    unavailable_before = world.expert("之前不可参加")
    unavailable(unavailable_before, day - timedelta(days=9), day - timedelta(days=1))

    record = world.run(world.request(world.item(), meeting_date=day))
    assert dropped(record, "employment") == sorted([still_cooling.id, second_post.id])
    assert candidate_ids(record) == {cooled.id, last_year.id, cancelled.id, nine.id, unavailable_before.id}


def test_an_alias_is_the_same_organisation(world, factory):
    stakeholder = factory.organisation("江海城市建设投资集团有限公司", type_="enterprise", aliases=["江海城投"])
    staff = world.expert("城投职工", employer=stakeholder)
    world.expert("其他专家")
    # The item names the stakeholder by its alias (the page resolves names the same way).
    from experts_service.reference.operations import find_organisation_by_name

    assert find_organisation_by_name("江海 城投").id == stakeholder.id
    record = world.run(world.request(world.item(stakeholder_ids=[find_organisation_by_name("江海城投").id])))
    assert dropped(record, "employment") == [staff.id]


def test_commissioned_institution_staff_do_not_review_its_study(world, factory):
    institution = factory.organisation("江海华信工程咨询有限公司", type_="enterprise")
    staff = world.expert("受托机构职工", employer=institution)
    for name in ("赵一", "钱二", "孙三"):
        world.expert(name, tier="core")
    request = world.request(world.item(), mode="commissioned", seats=3, meeting_date=None, meeting_place=None,
                            deadline=today() + timedelta(days=30), institution_id=institution.id)
    record = world.run(request)
    assert dropped(record, "employment") == [staff.id]
    assert record.result["compliant"]


def test_relatives_never_sit_on_one_panel(world):
    experts = [world.expert(name, tier="core") for name in ("赵一", "钱二", "孙三", "李四", "周五", "吴六", "郑七")]
    # Declared by the second of the pair only: the rule binds both.
    declare_relatives(experts[1], experts[0])
    record = world.run(world.request(world.item()))
    panel = panel_of(record)
    assert not {experts[0].id, experts[1].id} <= set(panel)
    assert record.result["compliant"]


def test_same_system_officials_are_capped(world, factory):
    """Government staff of the department's 系统 (another bureau of it) take at most 1/3 of the seats."""
    bureaus = [factory.organisation(f"{district}发展和改革局", type_="government", system="发展改革")
               for district in ("江城区", "海港区", "新湖区")]
    other_system = factory.organisation("市财政局", type_="government", system="财政")
    # Core experts rank first, so without the cap all three officials would sit.
    officials = [world.expert(f"发改干部{suffix}", employer=bureau, tier="core") for suffix, bureau in zip("甲乙丙", bureaus)]
    finance = world.expert("财政干部", employer=other_system, tier="core")
    others = [world.expert(name) for name in ("赵一", "钱二", "孙三", "李四")]
    record = world.run(world.request(world.item()))
    panel = panel_of(record)
    assert record.result["compliant"]
    # At most 1/3 of 5 seats: one official of the 发展改革 system.
    assert len(set(panel) & {o.id for o in officials}) == 1
    same_system = [c for c in record.candidates if c["same_system_government"]]
    assert {c["expert_id"] for c in same_system} == {o.id for o in officials}
    assert finance.id in candidate_ids(record) and {o.id for o in others} <= candidate_ids(record)


def test_rotation_lowers_the_rank_and_the_workload_is_shown(world, factory):
    day = today() + timedelta(days=20)
    other_department = factory.organisation("市财政局", type_="government", system="财政")
    fresh = world.expert("新面孔")
    regular_here = world.expert("本部门常客")
    regular_elsewhere = world.expert("他部门常客")
    engage(regular_here, world.department, day - timedelta(days=40), times=2)
    engage(regular_elsewhere, other_department, day - timedelta(days=40), times=2)
    record = world.run(world.request(world.item(), meeting_date=day))
    order = [c["expert_id"] for c in record.candidates]
    assert order == [fresh.id, regular_elsewhere.id, regular_here.id]
    workloads = {c["expert_id"]: c["workload"] for c in record.candidates}
    assert workloads[regular_here.id] == {"year": workloads[regular_here.id]["year"], "lookback": 2,
                                          "same_department": 2}
    assert workloads[regular_elsewhere.id]["same_department"] == 0


def test_text_relevance_from_the_search_index_ranks_and_explains(world):
    """The real bridge: Whoosh index of the profiles, jieba segmentation, highlighted snippets."""
    planner = world.expert("规划专家", keywords=["国土空间规划", "城市更新"], bio="长期研究城市更新与老旧小区改造。")
    lawyer = world.expert("法律专家", primary="合法性审查", secondary=(), keywords=["行政复议"], bio="研究行政法。")
    item = world.item(title="城市更新条例", description="推进老旧小区改造", keywords=["城市更新"])
    from experts_service.panels import operations

    record = operations.run_recommendation(world.office, world.request(item), "recommend")
    db.session.commit()
    assert record.inputs["text_relevance"]["available"]
    first, second = record.candidates
    assert first["expert_id"] == planner.id and second["expert_id"] == lawyer.id
    assert first["parts"]["text"] == 1.0 and "城市更新" in first["text"]["matched_terms"]
    assert any("<mark>" in snippet for snippet in first["text"]["highlights"].values())


def test_text_relevance_failure_does_not_stop_a_recommendation(world):
    for name in ("赵一", "钱二", "孙三", "李四", "周五"):
        world.expert(name, tier="core")

    def broken(*args, **kwargs):
        raise OSError("index unavailable")

    record = world.run(world.request(world.item()), relevance=broken)
    assert record.inputs["text_relevance"]["available"] is False
    assert record.result["compliant"] and record.panel_request.status is PanelRequestStatus.RECOMMENDED


def test_a_change_of_employer_keeps_the_former_one(world, factory):
    """Former employers feed the cooling-off rule; a job change records one without anyone remembering to."""
    expert = world.expert("调动者", employer=world.department)
    university = factory.organisation("江海大学")
    update_expert(world.office, expert, {"employer_id": university.id})
    db.session.commit()
    [former] = db.session.execute(sa.select(EmploymentRecord).where(EmploymentRecord.expert_id == expert.id)).scalars()
    assert former.organisation_id == world.department.id and former.ended_on == today()
    record = world.run(world.request(world.item()))
    assert dropped(record, "employment") == [expert.id]
    # A change of something else records nothing.
    update_expert(world.office, db.session.get(Expert, expert.id), {"bio": "新的简介"})
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(EmploymentRecord.id))) == 1
