"""One expert's record through the real pages in headless Chromium:
entered and edited by the talent office, then its full ID viewed by the
auditor, who finds that view in the audit log.
"""
import re
from datetime import date

import pytest
import sqlalchemy as sa

from experts_service.core.audit import AuditEntry
from experts_service.core.idcard import mask_id_number
from experts_service.experts.models import Expert
from experts_service.extensions import db
from tests.browser.conftest import flash_texts, sign_in
from tests.conftest import TEST_PASSWORD, valid_id_number

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/experts-service-expert-list.png"  # outside the repository on purpose


def nav(page, label: str) -> None:
    page.click(f"#main-nav a:text-is('{label}')")
    page.wait_for_load_state()


def test_enter_edit_reveal_and_audit(page, factory):
    factory.organisation("江南大学", aliases=["江大"])
    for name in ("张伟", "李娜", "单磊", "曾强"):  # a list worth looking at in the screenshot
        factory.expert(name=name)
    officer = factory.user("talent_office")
    auditor = factory.user("auditor")
    id_number = valid_id_number(birth=date(1972, 3, 8), sequence=88)
    masked = mask_id_number(id_number)

    # -- the talent office enters the expert
    sign_in(page, officer.username, TEST_PASSWORD)
    nav(page, "新增专家")
    page.fill("#e-name", "陈静")
    page.fill("#e-id-number", id_number)
    page.fill("#e-mobile", "13912345678")
    page.select_option("#e-political", label="民盟盟员")
    page.fill("#e-employer", "江大")
    page.fill("#e-position", "教授")
    page.select_option("#e-title-level", label="正高")
    page.fill("#e-title-name", "教授")
    page.fill("#e-years", "25")
    page.select_option("#e-tier", label="核心专家")
    page.select_option("#e-primary-domain", label="城乡规划")
    page.check("#e-secondary-domains label.check:has-text('交通运输') input")
    page.fill("#e-keywords", "国土空间规划，城市更新")
    page.fill("#e-bio", "长期从事城市规划研究。")
    page.fill("#e-achievements-publication", "城市更新的理论与实践")
    page.click("#expert-form-submit")
    page.wait_for_url(re.compile(r"/experts/\d+$"))
    expert_id = int(page.url.rsplit("/", 1)[1])
    assert "已将 陈静 录入专家库" in flash_texts(page)
    assert page.inner_text("#expert-name").startswith("陈静")
    assert page.inner_text("#pii-id-number").strip() == masked
    assert page.inner_text("#pii-mobile").strip() == "139****5678"
    assert id_number not in page.content()

    # -- edits the title
    page.click("#edit-expert-link")
    page.wait_for_url(f"**/experts/{expert_id}/edit")
    assert page.input_value("#e-title-name") == "教授"
    page.select_option("#e-title-level", label="副高")
    page.fill("#e-title-name", "副研究员")
    page.click("#expert-form-submit")
    page.wait_for_url(f"**/experts/{expert_id}")
    assert "已保存" in flash_texts(page)
    assert "副高（副研究员）" in page.inner_text("#expert-work")
    db.session.expire_all()
    stored = db.session.get(Expert, expert_id)
    assert (stored.title_level.value, stored.title_name, stored.version_id) == ("associate", "副研究员", 2)
    assert stored.tier.name == "核心专家"
    assert sorted(d.name for d in stored.all_domains) == sorted(["城乡规划", "交通运输"])

    page.click("#logout-button")
    page.wait_for_url("**/login")

    # -- the auditor finds the expert and views the full ID number
    sign_in(page, auditor.username, TEST_PASSWORD)
    nav(page, "专家库")
    page.fill("#f-q", "cj")
    page.press("#f-q", "Enter")
    page.wait_for_load_state()
    assert [n.strip() for n in page.locator("#experts-table tbody td.cell-name a").all_inner_texts()] == ["陈静"]
    page.click("#experts-table tbody td.cell-name a:text-is('陈静')")
    page.wait_for_url(f"**/experts/{expert_id}")
    assert page.inner_text("#pii-id-number").strip() == masked
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#reveal-button")
    page.wait_for_selector("#pii-revealed-note")
    assert page.inner_text("#pii-id-number").strip() == id_number
    assert page.inner_text("#pii-mobile").strip() == "13912345678"

    # -- and sees that view in the audit log, under their own name
    nav(page, "审计日志")
    page.fill("#a-action", "expert.pii_viewed")
    page.press("#a-action", "Enter")
    page.wait_for_load_state()
    rows = page.locator("#audit-table tbody tr")
    assert rows.count() == 1
    cells = [c.strip() for c in rows.first.locator("td").all_inner_texts()]
    assert cells[2] == f"{auditor.username}(auditor)"
    assert cells[3] == "expert.pii_viewed"
    assert cells[4] == f"expert#{expert_id}"
    assert id_number not in page.content()

    # A look at the list as users see it (checked by eye, not by pixels).
    nav(page, "专家库")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert page.locator("#experts-table tbody tr").count() == 5


def test_saving_an_untouched_form_in_the_browser_changes_nothing(page, factory):
    # Browsers submit a textarea's line breaks as CRLF; a bio stored with LF
    # (from the API or an import) is still the same text.
    expert = factory.expert(name="张伟", bio="长期从事城市规划研究。\n主持多项国家课题。")
    version = expert.version_id
    officer = factory.user("talent_office")
    sign_in(page, officer.username, TEST_PASSWORD)
    page.goto(f"/experts/{expert.id}/edit")
    page.click("#expert-form-submit")
    page.wait_for_url(f"**/experts/{expert.id}")
    db.session.expire_all()
    changes = [e.summary for e in db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "expert.update")).scalars()]
    assert changes == []
    stored = db.session.get(Expert, expert.id)
    assert (stored.bio, stored.version_id) == ("长期从事城市规划研究。\n主持多项国家课题。", version)
    assert flash_texts(page) == ["没有任何改动"]
