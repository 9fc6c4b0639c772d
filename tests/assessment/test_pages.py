"""The annual assessment pages through the Flask test client: the office opens the year, the expert
submits a self-assessment, the office adjusts a result, computes again and approves (with a confirmation
step); the approved year is frozen. Bad numbers give field messages, never a 500; each role sees only
what it may."""
from __future__ import annotations

import pytest

from experts_service.assessment.models import AssessmentCycle, AssessmentResult, CycleStatus, Grade, Outcome
from experts_service.core.auth import Role
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from tests.assessment.cycle_world import YEAR, cycle_world
from tests.conftest import csrf_token_from, login
from tests.lifecycle.helpers import database_dump
from tests.page_helpers import field_errors, flashes, form_data, page_of


def _client(app, user):
    client = app.test_client()
    assert login(client, user.username).status_code == 302
    return client


def _token(client, path: str = "/taxonomy") -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def _result(cycle_id: int, expert_id: int) -> AssessmentResult:
    db.session.expire_all()
    return db.session.execute(db.select(AssessmentResult).where(
        AssessmentResult.cycle_id == cycle_id, AssessmentResult.expert_id == expert_id)).scalar_one()


@pytest.fixture
def year(app, factory):
    return cycle_world(app, factory)


def test_open_self_assess_adjust_approve_and_the_year_is_frozen(app, year):
    office = _client(app, year.office)

    # Open the year on the list page; bad years come back under the field.
    token = _token(office, "/assessment")
    before = database_dump()
    for typed, message in (("", "请填写年度"), ("二〇二七", "年度须为整数"), ("1999", "年度须在 2000—2100 之间"),
                           ("2028", "不能开启尚未开始的年度（今年是 2027 年）")):
        response = office.post("/assessment", data={"csrf_token": token, "year": typed})
        assert response.status_code == 422, typed
        assert field_errors(page_of(response)) == {"year": [message]}, typed
    assert database_dump() == before
    response = office.post("/assessment", data={"csrf_token": token, "year": str(YEAR)})
    assert response.status_code == 302 and response.headers["Location"] == f"/assessment/{YEAR}"
    page = page_of(office.get(f"/assessment/{YEAR}"))
    assert ("success", "2027 年度考核已开启：4 位专家纳入考核（试算结果），已通知专家提交自评") in flashes(page)
    cycle = db.session.execute(db.select(AssessmentCycle)).scalar_one()
    rows = {row.get("data-expert-id"): row for row in page.by_id("results-table").find("tbody").find_all("tr")}
    assert len(rows) == 4
    bing = rows[str(year.experts["丙"].id)]
    assert "63.75" in bing.clean_text and "基本合格" in bing.clean_text and "书面提醒" in bing.clean_text
    assert "诚信得分：100 − 15 = 85" in bing.find("details").clean_text
    assert "一票否决" in rows[str(year.experts["丁"].id)].clean_text
    again = office.post("/assessment", data={"csrf_token": token, "year": str(YEAR)})
    assert again.status_code == 302
    assert ("danger", "2027 年度考核已经开启") in flashes(page_of(office.get("/assessment")))

    # 甲 assesses themself: bad scores and a missing summary first.
    jia = _client(app, year.users["甲"])
    mine = page_of(jia.get("/my/assessment"))
    form = mine.by_id("self-form")
    assert form_data(form)["year"] == [str(YEAR)]
    token = csrf_token_from(jia.get("/my/assessment").get_data(as_text=True))
    for score, summary, expected in (("九十", "小结", {"score": ["自评分须为 0—100 的整数"]}),
                                     ("101", "小结", {"score": ["自评分须为 0—100 的整数"]}),
                                     ("85.5", "小结", {"score": ["自评分须为 0—100 的整数"]}),
                                     ("", " ", {"score": ["请填写自评分"], "summary": ["请填写年度工作小结"]})):
        response = jia.post("/my/assessment", data={"csrf_token": token, "year": str(YEAR), "score": score,
                                                    "summary": summary})
        assert response.status_code == 422, score
        assert field_errors(page_of(response)) == expected, score
    response = jia.post("/my/assessment", data={"csrf_token": token, "year": str(YEAR), "score": "80",
                                                "summary": "全年参与课题研究，按时提交意见。"})
    assert response.status_code == 302
    mine = page_of(jia.get("/my/assessment"))
    assert ("success", "2027 年度自评已保存，审定前可修改") in flashes(mine)
    assert mine.by_id("provisional-total").clean_text == "95.00"
    assert mine.by_id("provisional-grade").clean_text == "优秀"
    assert "自评：80 分" in mine.by_id("provisional-explanation").clean_text
    assert form_data(mine.by_id("self-form"))["summary"] == ["全年参与课题研究，按时提交意见。"]

    # The office adjusts 乙 on the result page: bad numbers, then a good one, then clears it.
    yi = _result(cycle.id, year.experts["乙"].id)
    path = f"/assessment/{YEAR}/results/{yi.id}"
    detail = page_of(office.get(path))
    assert "本年度无部门评价" in detail.by_id("explanation-lines").clean_text
    token = csrf_token_from(office.get(path).get_data(as_text=True))
    for total, reason, expected in (("abc", "理由", {"total": ["调整后得分须为 0—100 的数"]}),
                                    ("120", "理由", {"total": ["调整后得分须为 0—100 的数"]}),
                                    ("NaN", "理由", {"total": ["调整后得分须为 0—100 的数"]}),
                                    ("", "", {"total": ["请填写调整后得分（0—100）"], "reason": ["请写明调整理由"]})):
        response = office.post(f"{path}/adjust", data={"csrf_token": token, "action": "adjust", "total": total,
                                                       "reason": reason})
        assert response.status_code == 422, total
        assert field_errors(page_of(response)) == expected, total
    response = office.post(f"{path}/adjust", data={"csrf_token": token, "action": "adjust", "total": "90.5",
                                                   "reason": "承担市委专项课题，成效突出"})
    assert response.status_code == 302
    assert ("success", "已调整为 90.50 分（优秀）") in flashes(page_of(office.get(path)))
    assert _result(cycle.id, year.experts["乙"].id).adjusted_total == 90.5
    response = office.post(f"{path}/adjust", data={"csrf_token": token, "action": "clear", "total": "90.5",
                                                   "reason": "经复核，按计算得分"})
    assert response.status_code == 302
    assert _result(cycle.id, year.experts["乙"].id).adjusted_total is None

    # Compute again, then approve: the first post shows what will happen, the second approves.
    assert office.post(f"/assessment/{YEAR}/compute", data={"csrf_token": token}).status_code == 302
    assert ("success", "已按当前记录重新计算 4 位专家的考核结果") in flashes(page_of(office.get(f"/assessment/{YEAR}")))
    confirm = office.post(f"/assessment/{YEAR}/approve", data={"csrf_token": token, "note": "经局务会审定"})
    assert confirm.status_code == 200
    preview = page_of(confirm)
    assert "专家丁" in preview.by_id("preview-dismissal").clean_text
    assert "专家丙" in preview.by_id("preview-reminder").clean_text
    db.session.expire_all()
    assert db.session.get(AssessmentCycle, cycle.id).status is CycleStatus.OPEN  # nothing applied yet
    response = office.post(f"/assessment/{YEAR}/approve", data=form_data(preview.by_id("approve-confirm-form")))
    assert response.status_code == 302
    frozen = page_of(office.get(f"/assessment/{YEAR}"))
    assert ("success", "2027 年度考核已审定：解聘 1 人，书面提醒 1 人，符合晋升条件 0 人；已通知每位专家") in flashes(frozen)
    assert "审定意见：经局务会审定" in frozen.by_id("frozen-notice").clean_text
    assert frozen.by_id("compute-form") is None and frozen.by_id("approve-form") is None
    assert "专家丁" in frozen.by_id("outcome-dismissal").clean_text
    assert "专家丙" in frozen.by_id("outcome-reminder").clean_text
    assert db.session.get(Expert, year.experts["丁"].id).status is ExpertStatus.EXITED
    assert page_of(office.get(path)).by_id("adjust-form") is None

    # Frozen: every change is refused with a flash, nothing changes.
    before = database_dump()
    for post in (f"{path}/adjust", f"/assessment/{YEAR}/compute", f"/assessment/{YEAR}/approve"):
        response = office.post(post, data={"csrf_token": token, "action": "adjust", "total": "60",
                                           "reason": "审定后再调整", "confirmed": "yes"})
        assert response.status_code == 302, post
        [(kind, message)] = flashes(page_of(office.get(response.headers["Location"])))
        assert kind == "danger" and "年度考核已于" in message and "审定，结果不再变动" in message, post
    response = jia.post("/my/assessment", data={"csrf_token": csrf_token_from(jia.get("/my/assessment").get_data(
        as_text=True)), "year": str(YEAR), "score": "100", "summary": "改一下"})
    assert response.status_code == 302
    assert database_dump() == before

    # The expert sees the approved result among the past ones, with its explanation.
    mine = page_of(jia.get("/my/assessment"))
    assert mine.by_id("no-open-cycle") is not None and mine.by_id("self-form") is None
    row = mine.by_id("past-table").find("tr", data_year=str(YEAR))
    assert "95.00" in row.clean_text and "优秀" in row.clean_text and "等次：优秀" in row.find("details").clean_text
    jia_result = _result(cycle.id, year.experts["甲"].id)
    assert (jia_result.grade, jia_result.outcome) == (Grade.EXCELLENT, Outcome.NONE)


def test_who_sees_what_and_bad_ids(app, year, factory):
    from experts_service.assessment import operations

    cycle = operations.open_cycle(year.office, YEAR)
    db.session.commit()
    own = next(r for r in cycle.results if r.expert_id == year.experts["甲"].id)
    other = next(r for r in cycle.results if r.expert_id == year.experts["乙"].id)

    jia = _client(app, year.users["甲"])
    assert jia.get("/assessment").headers["Location"] == "/my/assessment"
    assert jia.get(f"/assessment/{YEAR}").headers["Location"] == "/my/assessment"
    own_page = page_of(jia.get(f"/assessment/{YEAR}/results/{own.id}"))
    assert own_page.by_id("explanation-lines") is not None and own_page.by_id("adjust-form") is None
    assert jia.get(f"/assessment/{YEAR}/results/{other.id}").status_code == 403
    token = _token(jia)
    assert jia.post(f"/assessment/{YEAR}/results/{own.id}/adjust",
                    data={"csrf_token": token, "total": "100", "reason": "自己改"}).status_code == 403
    assert jia.post(f"/assessment/{YEAR}/compute", data={"csrf_token": token}).status_code == 403

    department = _client(app, factory.user(Role.DEPARTMENT))
    for path in ("/assessment", f"/assessment/{YEAR}", f"/assessment/{YEAR}/results/{own.id}", "/my/assessment"):
        assert department.get(path).status_code == 403, path

    auditor = _client(app, factory.user(Role.AUDITOR))
    page = page_of(auditor.get(f"/assessment/{YEAR}"))
    assert page.by_id("results-table") is not None
    assert page.by_id("compute-form") is None and page.by_id("approve-form") is None
    assert page_of(auditor.get("/assessment")).by_id("open-form") is None

    office = _client(app, year.office)
    assert office.get("/assessment/2019").status_code == 404
    assert office.get(f"/assessment/{YEAR - 1}/results/{own.id}").status_code == 404
    assert office.get(f"/assessment/{YEAR}/results/999999").status_code == 404
    assert office.get("/assessment/abc").status_code == 404
    assert office.get("/assessment/99999999999999999999").status_code == 404
    assert office.get(f"/assessment/99999999999999999999/results/{own.id}").status_code == 404
    # A year the form was not shown for: 404, not another year's record.
    token = _token(office)
    assert jia.post("/my/assessment", data={"csrf_token": _token(jia), "year": "2019", "score": "80",
                                            "summary": "小结"}).status_code == 404
    assert office.post(f"/assessment/{YEAR}/approve", data={"csrf_token": token, "note": "x" * 1001}).status_code == 422
