"""Integrity through the real pages in headless Chromium: the talent office records a second serious event
with its evidence (the expert is suspended), the expert finds it under 我的诚信 and appeals, the office
upholds the appeal in its queue, and the record and the suspension are gone."""
from __future__ import annotations

from datetime import date

import pytest

from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.integrity import operations
from experts_service.integrity.models import EventStatus, IntegrityEvent
from tests.browser.conftest import flash_texts
from tests.consultation.helpers import pool_with_accounts
from tests.lifecycle.helpers import PDF, PNG, set_today

pytestmark = pytest.mark.browser


def accept_dialogs(page):
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def test_expert_appeals_and_the_office_upholds_in_the_pages(app, factory, as_user):
    set_today(app, date(2027, 2, 1))
    panelled = pool_with_accounts(factory, size=1)
    expert = panelled.experts[0]
    office_user = panelled.world.office
    operations.record_event(office_user, expert, {"kind": "perfunctory_opinion", "occurred_on": date(2027, 1, 29),
                                                  "description": "书面意见仅一句“同意”。"}, [("意见原件.pdf", PDF)])
    db.session.commit()
    set_today(app, date(2027, 3, 1))

    # The office records an absence on the expert's integrity page, with a photo of the sign-in sheet.
    office = accept_dialogs(as_user(office_user.username))
    office.click("#main-nav a:text-is('诚信记录')")
    office.wait_for_selector("#events-table")
    office.click(f"#events-table a:text-is('{expert.name}')")
    office.wait_for_url(f"**/experts/{expert.id}/integrity")
    office.select_option("#r-kind", label="无故缺席")
    office.fill("#r-occurred-on", "2027-02-27")
    office.fill("#r-description", "未请假缺席“城市更新条例（草案）”论证会。")
    office.set_input_files("#r-files", files=[{"name": "签到表.png", "mimeType": "image/png", "buffer": PNG}])
    office.click("#record-submit")
    office.wait_for_selector("#event-facts")
    assert "已登记诚信记录：无故缺席（较重失信，扣 15 分），已通知专家" in flash_texts(office)
    assert "签到表.png" in office.inner_text("#evidence-list")
    db.session.expire_all()
    event = db.session.execute(db.select(IntegrityEvent).where(IntegrityEvent.kind == "absent")).scalar_one()
    assert db.session.get(Expert, expert.id).status is ExpertStatus.SUSPENDED

    # The expert finds it under 我的诚信, with the suspension it brought, and appeals.
    own = accept_dialogs(as_user(panelled.user_of(expert.id).username))
    own.click("#main-nav a:text-is('我的诚信')")
    own.wait_for_selector("#events-table")
    row = own.locator(f"#events-table tr[data-event-id='{event.id}']")
    assert "较重失信" in row.inner_text() and "2027-03-16" in row.inner_text()
    assert "暂停资格" in own.inner_text("#sanctions-table")
    own.fill(f"#appeal-reason-{event.id}", "当日突发急病住院，已电话向会务组请假，附诊断证明。")
    own.click(f"#appeal-submit-{event.id}")
    own.wait_for_selector(".flash")
    assert "申诉已提交，人才工作部门处理后将通知您" in flash_texts(own)
    assert own.locator(f"#appeal-form-{event.id}").count() == 0
    assert "待处理" in own.locator(f"#events-table tr[data-event-id='{event.id}']").inner_text()

    # The office opens the queue from the list and upholds it.
    office.click("#main-nav a:text-is('诚信记录')")
    office.click("#appeals-link")
    office.wait_for_url("**/integrity/appeals")
    section = office.locator("section.appeal").first
    assert expert.name in section.inner_text() and "当日突发急病住院" in section.inner_text()
    section.locator("input[value=upheld]").check()
    section.locator("textarea[name=reason]").fill("诊断证明属实，缺席有正当理由。")
    section.locator("button[type=submit]").click()
    office.wait_for_selector(".flash")
    assert "申诉成立：该记录已撤销，相关诚信处理已重新计算" in flash_texts(office)
    assert office.locator("#no-appeals").count() == 1

    # The expert sees the outcome: the record revoked, the suspension revoked, back in the pool.
    own.goto(f"/integrity/events/{event.id}")
    assert own.inner_text("#event-status") == "申诉成立已撤销"
    assert own.inner_text("#appeal-decision") == "诊断证明属实，缺席有正当理由。"
    own.goto("/my/integrity")
    suspension_row = own.locator("#sanctions-table tr[data-kind='suspension']")
    assert "已撤销" in suspension_row.inner_text()
    db.session.expire_all()
    assert db.session.get(IntegrityEvent, event.id).status is EventStatus.REVOKED
    assert db.session.get(Expert, expert.id).status is ExpertStatus.ACTIVE
