"""The integrity pages end to end through the Flask test client (real database, real uploads):
the talent office records an event with evidence, the expert sees it and appeals, the office upholds and
the event and its sanction are gone. Bad input gives Chinese field messages and writes nothing; each role
sees only what it may."""
from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa

from experts_service.core.auth import Role
from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.integrity import operations
from experts_service.integrity.models import (
    AppealStatus,
    EventKind,
    EventStatus,
    IntegrityEvent,
    Sanction,
    SanctionKind,
    SanctionStatus,
    Severity,
)
from experts_service.notifications.models import Notification
from tests.conftest import csrf_token_from, login
from tests.consultation.helpers import pool_with_accounts
from tests.lifecycle.helpers import PDF, PNG, database_dump, set_today
from tests.page_helpers import field_errors, flashes, form_data, page_of


def _client(app, user):
    client = app.test_client()
    assert login(client, user.username).status_code == 302
    return client


def _token(client, path: str = "/taxonomy") -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def _serious(office, expert, day: date, text: str = "书面意见仅一句“同意”，未作任何分析。"):
    event = operations.record_event(office, expert, {"kind": "perfunctory_opinion", "occurred_on": day,
                                                     "description": text}, [("意见原件.pdf", PDF)])
    db.session.commit()
    return event


@pytest.fixture
def pool(app, factory):
    set_today(app, date(2027, 3, 1))
    return pool_with_accounts(factory, size=2)


def test_record_on_the_page_appeal_and_uphold_revokes_the_event_and_its_suspension(app, pool):
    world, expert = pool.world, pool.experts[0]
    # A first serious event a month ago: a written warning.
    set_today(app, date(2027, 2, 1))
    first = _serious(world.office, expert, date(2027, 1, 30))
    set_today(app, date(2027, 3, 1))

    # The office records a second one on the expert's page, with two evidence files (PNG and PDF).
    office = _client(app, world.office)
    page = office.get(f"/experts/{expert.id}/integrity")
    assert page.status_code == 200
    form = page_of(page).by_id("record-form")
    assert form.get("enctype") == "multipart/form-data"
    labels = [option.clean_text for option in form.find("select").find_all("option")]
    assert "无故缺席" in labels and "收受利益" in labels and "逾期提交书面意见" not in labels
    response = office.post(f"/experts/{expert.id}/integrity", content_type="multipart/form-data", data={
        "csrf_token": csrf_token_from(page.get_data(as_text=True)), "kind": "absent", "occurred_on": "2027-02-27",
        "description": "未请假缺席“城市更新条例（草案）”论证会。",
        "file": [(io.BytesIO(PNG), "签到表.png"), (io.BytesIO(PDF), "会议通知.pdf")]})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    db.session.expire_all()
    event = db.session.execute(sa.select(IntegrityEvent).where(IntegrityEvent.id != first.id)).scalar_one()
    assert response.headers["Location"] == f"/integrity/events/{event.id}"
    assert (event.kind, event.severity, event.points) == (EventKind.ABSENT, Severity.SERIOUS, 15)
    assert [e.original_name for e in event.evidence] == ["签到表.png", "会议通知.pdf"]
    suspension = db.session.execute(sa.select(Sanction).where(Sanction.kind == SanctionKind.SUSPENSION)).scalar_one()
    assert suspension.status is SanctionStatus.IN_FORCE
    assert db.session.get(Expert, expert.id).status is ExpertStatus.SUSPENDED
    detail = page_of(office.get(response.headers["Location"]))
    assert ("success", "已登记诚信记录：无故缺席（较重失信，扣 15 分），已通知专家") in flashes(detail)
    assert detail.by_id("evidence-list").clean_text.count("KB") == 2
    assert detail.by_id("withdraw-form") is not None and detail.by_id("evidence-form") is not None

    # The expert sees it, with its evidence, the suspension and why, and appeals on their own page.
    own = _client(app, pool.user_of(expert.id))
    download = own.get(f"/integrity/evidence/{event.evidence[0].id}")
    assert download.status_code == 200 and download.data == PNG and download.mimetype == "image/png"
    mine = own.get("/my/integrity")
    assert mine.status_code == 200
    tree = page_of(mine)
    row = tree.find("tr", data_event_id=str(event.id))
    assert "较重失信" in row.clean_text and "−15" in row.clean_text and "2027-03-16" in row.clean_text
    sanction_row = tree.find("tr", data_sanction_id=str(suspension.id))
    assert "暂停资格" in sanction_row.clean_text and "较重失信 2 次" in sanction_row.clean_text
    assert "执行中" in sanction_row.clean_text
    appeal_form = tree.by_id(f"appeal-form-{event.id}")
    data = form_data(appeal_form)
    data["reason"] = ["当日突发急病住院，已向会务组电话请假，附诊断证明。"]
    response = own.post(appeal_form.get("action"), data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/my/integrity"
    after = page_of(own.get("/my/integrity"))
    assert ("success", "申诉已提交，人才工作部门处理后将通知您") in flashes(after)
    assert after.by_id(f"appeal-form-{event.id}") is None
    db.session.expire_all()
    assert "待处理" in after.find("tr", data_event_id=str(event.id)).clean_text
    told = db.session.execute(sa.select(Notification.link).where(
        Notification.user_id == world.office.id, Notification.kind == "integrity.appeal")).scalars().all()
    assert told == ["/integrity/appeals"]

    # The office upholds it in the queue: the event is revoked, the suspension gone, the expert back.
    queue = page_of(office.get("/integrity/appeals"))
    decide = queue.find("form", id=f"decide-form-{event.appeals[0].id}")
    data = form_data(decide)
    data.update(outcome=["upheld"], reason=["诊断证明属实，缺席有正当理由。"])
    response = office.post(decide.get("action"), data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/integrity/appeals"
    assert ("success", "申诉成立：该记录已撤销，相关诚信处理已重新计算") in flashes(page_of(office.get("/integrity/appeals")))
    db.session.expire_all()
    event = db.session.get(IntegrityEvent, event.id)
    assert event.status is EventStatus.REVOKED and event.appeals[0].status is AppealStatus.UPHELD
    assert db.session.get(Sanction, suspension.id).status is SanctionStatus.REVOKED
    assert db.session.get(Expert, expert.id).status is ExpertStatus.ACTIVE
    warning = db.session.execute(sa.select(Sanction).where(Sanction.kind == SanctionKind.WARNING)).scalar_one()
    assert warning.status is SanctionStatus.IN_FORCE  # the first event still stands

    # The expert reads the outcome on the record's page.
    detail = page_of(own.get(f"/integrity/events/{event.id}"))
    assert detail.by_id("event-status").clean_text == "申诉成立已撤销"
    assert detail.by_id("appeal-decision").clean_text == "诊断证明属实，缺席有正当理由。"
    steps = [li.clean_text.split(" · ", 1)[1] for li in detail.by_id("history-list").find_all("li")]
    assert {"上传证据材料：签到表.png", "上传证据材料：会议通知.pdf"} <= set(steps)
    assert [step for step in steps if not step.startswith("上传证据材料")] == [
        "人才工作部门登记（测试人才工作部门）：无故缺席",
        "专家提出申诉：当日突发急病住院，已向会务组电话请假，附诊断证明。",
        "申诉成立：诊断证明属实，缺席有正当理由。"]
    revoked_row = page_of(own.get("/my/integrity")).find("tr", data_sanction_id=str(suspension.id))
    assert "已撤销" in revoked_row.clean_text


def test_bad_input_on_the_record_form_shows_chinese_field_messages_and_writes_nothing(app, pool):
    world, expert = pool.world, pool.experts[0]
    office = _client(app, world.office)
    token = _token(office, f"/experts/{expert.id}/integrity")
    before = database_dump()

    def post(**fields):
        files = fields.pop("files", [])
        data = {"csrf_token": token, "kind": "perfunctory_opinion", "occurred_on": "2027-02-20",
                "description": "敷衍应付。", **fields, "file": [(io.BytesIO(body), name) for name, body in files]}
        response = office.post(f"/experts/{expert.id}/integrity", data=data, content_type="multipart/form-data")
        assert response.status_code == 422, response.get_data(as_text=True)[:500]
        page = page_of(response)
        assert page.by_id("record-form") is not None and page.by_id("form-errors") is not None
        return field_errors(page)

    assert post(kind="", occurred_on="2027-13-45", description="  ", panel_request_id="第三次") == {
        "kind": ["请选择失信情形"], "occurred_on": ["日期格式应为 YYYY-MM-DD"], "description": ["请写明事实"],
        "panel_request_id": ["须为整数"]}
    assert post(kind="late_opinion", panel_request_id="99999999999") == {
        "kind": ["请选择失信情形"], "panel_request_id": ["编号无效"]}
    assert post() == {"file": ["请上传至少一份证据材料"]}
    assert post(occurred_on="2027-03-02", files=[("证据.pdf", PDF)]) == {"occurred_on": ["发生日期不能晚于今天"]}
    assert post(panel_request_id="4242", files=[("证据.pdf", PDF)]) == {"panel_request_id": ["未找到该论证申请"]}
    assert post(files=[("证据.pdf", b"GIF89a not a pdf")]) == {"file": ["仅接受 PDF、JPG 或 PNG 文件"]}
    assert post(files=[("证据.png", PDF)]) == {"file": ["文件扩展名与文件内容不符"]}
    # What was typed comes back (files have to be chosen again).
    response = office.post(f"/experts/{expert.id}/integrity", content_type="multipart/form-data",
                           data={"csrf_token": token, "kind": "absent", "occurred_on": "2027-02-20",
                                 "description": "未到会。"})
    values = form_data(page_of(response).by_id("record-form"))
    assert values["kind"] == ["absent"] and values["occurred_on"] == ["2027-02-20"] and values["description"] == [
        "未到会。"]
    assert database_dump() == before


def test_appeal_refusals_are_shown_and_change_nothing(app, pool):
    world, expert = pool.world, pool.experts[0]
    event = _serious(world.office, expert, date(2027, 2, 25))
    own = _client(app, pool.user_of(expert.id))
    token = _token(own, "/my/integrity")

    # No reason: the own page again, the message under that event's form.
    before = database_dump()
    response = own.post(f"/integrity/events/{event.id}/appeal", data={"csrf_token": token, "reason": "  "})
    assert response.status_code == 422
    page = page_of(response)
    assert field_errors(page.by_id(f"appeal-form-{event.id}")) == {"reason": ["请填写申诉理由"]}
    # From the record's page, the record's page again.
    response = own.post(f"/integrity/events/{event.id}/appeal", data={"csrf_token": token, "back": "event"})
    assert response.status_code == 422 and field_errors(page_of(response).by_id("appeal-form")) == {
        "reason": ["请填写申诉理由"]}
    assert database_dump() == before

    # After the window: no form, and a post is refused with the date.
    set_today(app, date(2027, 3, 17))
    assert page_of(own.get("/my/integrity")).by_id(f"appeal-form-{event.id}") is None
    response = own.post(f"/integrity/events/{event.id}/appeal", data={"csrf_token": token, "reason": "迟到的申诉"})
    assert response.status_code == 302
    assert ("danger", "申诉期已于 2027-03-16 届满") in flashes(page_of(own.get("/my/integrity")))

    # Once appealed, a second appeal is refused.
    set_today(app, date(2027, 3, 10))
    assert own.post(f"/integrity/events/{event.id}/appeal",
                    data={"csrf_token": token, "reason": "第一次申诉"}).status_code == 302
    response = own.post(f"/integrity/events/{event.id}/appeal", data={"csrf_token": token, "reason": "再申诉一次"})
    assert response.status_code == 302
    [message] = [m for c, m in flashes(page_of(own.get("/my/integrity"))) if c == "danger"]
    assert "每条记录只能申诉一次" in message
    db.session.expire_all()
    assert len(db.session.get(IntegrityEvent, event.id).appeals) == 1


def test_deciding_needs_an_outcome_and_a_reason_and_a_rejection_is_final(app, pool):
    world, expert = pool.world, pool.experts[0]
    event = _serious(world.office, expert, date(2027, 2, 25))
    appeal = operations.file_appeal(pool.user_of(expert.id), event, "我提交了详细意见。")
    db.session.commit()
    office = _client(app, world.office)
    token = _token(office, "/integrity/appeals")
    before = database_dump()
    response = office.post(f"/integrity/appeals/{appeal.id}/decide", data={"csrf_token": token, "outcome": "maybe"})
    assert response.status_code == 422
    assert field_errors(page_of(response).by_id(f"decide-form-{appeal.id}")) == {
        "upheld": ["请选择申诉是否成立"], "reason": ["请填写处理意见"]}
    assert database_dump() == before

    # Rejected from the record's page: it stands, the warning too, and the form is gone.
    response = office.post(f"/integrity/appeals/{appeal.id}/decide",
                           data={"csrf_token": token, "outcome": "rejected", "reason": "意见原件足以证明。",
                                 "back": "event"})
    assert response.status_code == 302 and response.headers["Location"] == f"/integrity/events/{event.id}"
    detail = page_of(office.get(f"/integrity/events/{event.id}"))
    assert ("success", "申诉不成立：记录维持，已通知专家") in flashes(detail)
    assert detail.by_id("decide-form") is None and detail.by_id("appeal-status").clean_text == "申诉不成立"
    db.session.expire_all()
    assert db.session.get(IntegrityEvent, event.id).status is EventStatus.STANDING
    response = office.post(f"/integrity/appeals/{appeal.id}/decide",
                           data={"csrf_token": token, "outcome": "upheld", "reason": "改判"})
    assert response.status_code == 302
    assert ("danger", "该申诉已处理：申诉不成立") in flashes(page_of(office.get("/integrity/appeals")))
    rejected = page_of(office.get("/integrity/appeals?status=rejected"))
    assert rejected.find("section", data_appeal_id=str(appeal.id)) is not None
    assert page_of(office.get("/integrity/appeals")).by_id("no-appeals") is not None


def test_the_office_withdraws_a_mistaken_record_and_adds_evidence(app, pool):
    world, expert = pool.world, pool.experts[0]
    first = _serious(world.office, expert, date(2027, 2, 1))
    second = _serious(world.office, expert, date(2027, 2, 20), "登记错了专家。")
    assert db.session.get(Expert, expert.id).status is ExpertStatus.SUSPENDED
    office = _client(app, world.office)
    token = _token(office, f"/integrity/events/{second.id}")

    response = office.post(f"/integrity/events/{first.id}/evidence", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (io.BytesIO(b"plain text"), "说明.txt")})
    assert response.status_code == 422
    assert field_errors(page_of(response).by_id("evidence-form")) == {"file": ["仅接受 PDF、JPG 或 PNG 文件"]}
    response = office.post(f"/integrity/events/{first.id}/evidence", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (io.BytesIO(PNG), "现场照片.png")})
    assert response.status_code == 302
    db.session.expire_all()
    assert [e.original_name for e in db.session.get(IntegrityEvent, first.id).evidence] == ["意见原件.pdf", "现场照片.png"]
    history = page_of(office.get(f"/integrity/events/{first.id}")).by_id("history-list").clean_text
    assert "上传证据材料：现场照片.png" in history

    response = office.post(f"/integrity/events/{second.id}/withdraw", data={"csrf_token": token, "reason": ""})
    assert response.status_code == 422
    assert field_errors(page_of(response).by_id("withdraw-form")) == {"reason": ["请填写撤回原因"]}
    response = office.post(f"/integrity/events/{second.id}/withdraw",
                           data={"csrf_token": token, "reason": "登记时选错了专家"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(IntegrityEvent, second.id).status is EventStatus.WITHDRAWN
    assert db.session.get(Expert, expert.id).status is ExpertStatus.ACTIVE
    detail = page_of(office.get(f"/integrity/events/{second.id}"))
    assert detail.by_id("withdraw-form") is None and detail.by_id("evidence-form") is None
    assert "登记时选错了专家" in detail.by_id("status-reason").clean_text
    # Withdrawn once: a second post is refused by the rules, with a message.
    office.post(f"/integrity/events/{second.id}/withdraw", data={"csrf_token": token, "reason": "再撤一次"})
    assert ("danger", "该记录已撤回") in flashes(page_of(office.get(f"/integrity/events/{second.id}")))


def test_the_list_filters_and_pages_and_survives_a_bad_query(app, pool):
    world, expert = pool.world, pool.experts[0]
    kept = _serious(world.office, expert, date(2027, 2, 1))
    dropped = _serious(world.office, pool.experts[1], date(2027, 2, 2))
    operations.withdraw_event(world.office, dropped, "登记有误")
    db.session.commit()
    auditor = _client(app, pool.world.factory.user(Role.AUDITOR))

    def ids(query: str) -> list[int]:
        response = auditor.get(f"/integrity/events{query}")
        assert response.status_code == 200
        table = page_of(response).by_id("events-table")
        return [int(row.get("data-event-id")) for row in table.find("tbody").find_all("tr")] if table else []

    assert ids("") == [dropped.id, kept.id]
    assert ids("?status=standing") == [kept.id]
    assert ids("?status=withdrawn&kind=perfunctory_opinion") == [dropped.id]
    assert ids("?kind=absent") == []
    page = page_of(auditor.get("/integrity/events?status=nonsense&page=-3"))
    assert ("warning", "筛选条件无效，已显示全部记录") in flashes(page)
    assert page.by_id("events-total").clean_text == "2"
    # The auditor reads, records nothing and decides nothing.
    assert page.by_id("appeals-link") is None
    expert_page = page_of(auditor.get(f"/experts/{expert.id}/integrity"))
    assert expert_page.by_id("record-form") is None and expert_page.by_id("sanctions-table") is not None
    assert page_of(auditor.get(f"/integrity/events/{kept.id}")).by_id("withdraw-form") is None


def test_who_sees_what(app, pool, factory):
    world = pool.world
    mine, theirs = pool.experts
    own_event = _serious(world.office, mine, date(2027, 2, 1))
    their_event = _serious(world.office, theirs, date(2027, 2, 2))
    expert = _client(app, pool.user_of(mine.id))
    for path in (f"/integrity/events/{their_event.id}", f"/integrity/evidence/{their_event.evidence[0].id}",
                 f"/experts/{theirs.id}/integrity"):
        response = expert.get(path)
        assert response.status_code == 403 and "无权" in response.get_data(as_text=True), path
    assert expert.get(f"/integrity/events/{own_event.id}").status_code == 200
    assert expert.get(f"/experts/{mine.id}/integrity").headers["Location"] == "/my/integrity"
    assert expert.get("/integrity/events").headers["Location"] == "/my/integrity"
    mine_page = page_of(expert.get("/my/integrity"))
    assert [row.get("data-event-id") for row in mine_page.by_id("events-table").find("tbody").find_all(
        "tr", data_status="standing")] == [str(own_event.id)]
    token = _token(expert, "/my/integrity")
    assert expert.post(f"/integrity/events/{their_event.id}/appeal",
                       data={"csrf_token": token, "reason": "冒名申诉"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(IntegrityEvent, their_event.id).appeals == []

    department = _client(app, pool.department_user)
    for path in ("/my/integrity", "/integrity/events", f"/integrity/events/{own_event.id}", "/integrity/appeals",
                 f"/experts/{mine.id}/integrity", f"/integrity/evidence/{own_event.evidence[0].id}"):
        assert department.get(path).status_code == 403, path

    office = _client(app, world.office)
    for path in ("/integrity/events/999999", "/integrity/evidence/999999", "/experts/999999/integrity",
                 "/integrity/events/99999999999"):
        assert office.get(path).status_code == 404, path
    token = _token(office)
    assert office.post("/integrity/appeals/999999/decide", data={"csrf_token": token}).status_code == 404
