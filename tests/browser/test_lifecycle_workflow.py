"""The expert lifecycle through the real pages in headless Chromium: a
personal application with a document, 资格初审, the review group's votes,
审定, the public notice with an objection, appointment; and a second
application, entered by the talent office, rejected in the review."""
from __future__ import annotations

import re
from datetime import date

import pytest

from experts_service.experts.models import Expert, ExpertStatus
from experts_service.extensions import db
from experts_service.lifecycle.models import Application, Stage
from experts_service.search_bridge import text_relevance
from tests.browser.conftest import flash_texts
from tests.conftest import valid_id_number
from tests.lifecycle.helpers import PDF, Intake, set_today

pytestmark = pytest.mark.browser


def decide(page, application_id: int, action: str, reason: str = "", tier: str | None = None) -> None:
    page.goto(f"/applications/{application_id}")
    page.select_option("#d-action", value=action)
    if tier:
        page.select_option("#d-tier", label=tier)
    if reason:
        page.fill("#d-reason", reason)
    page.click("#decision-submit")
    page.wait_for_url(f"**/applications/{application_id}")


def vote_all(as_user, intake, application_id: int, votes) -> None:
    for (expert, user), vote in zip(intake.reviewers, votes, strict=True):
        page = as_user(user.username)
        page.goto(f"/applications/{application_id}")
        page.check(f"#vote-{vote}")
        page.fill("#vote-comment", f"{expert.name}：{'同意入库' if vote == 'approve' else '研究积累不足'}")
        page.click("#vote-submit")
        page.wait_for_url(f"**/applications/{application_id}")
        assert "已提交评审意见" in flash_texts(page)


def test_application_to_active_expert_and_another_to_rejection(app, factory, as_user):
    set_today(app, date(2026, 11, 2))
    factory.organisation("江南大学", aliases=["江大"])
    intake = Intake(factory, app)
    id_number = valid_id_number(birth=date(1976, 5, 20), sequence=77)

    # -- 个人申报 on the public page, with a supporting document
    public = as_user()
    public.goto("/apply")
    public.fill("#a-name", "陈思远")
    public.fill("#a-id-number", id_number)
    public.fill("#a-mobile", "13912345678")
    public.select_option("#a-political", label="民盟盟员")
    public.fill("#a-employer", "江大")
    public.fill("#a-position", "教授")
    public.select_option("#a-title-level", label="正高")
    public.fill("#a-title-name", "教授")
    public.fill("#a-years", "22")
    public.select_option("#a-primary-domain", label="城乡规划")
    public.fill("#a-keywords", "海绵城市，韧性规划")
    public.fill("#a-bio", "长期研究海绵城市建设与城市韧性规划。")
    public.set_input_files("#a-documents", files=[{"name": "职称证书.pdf", "mimeType": "application/pdf",
                                                   "buffer": PDF}])
    public.click("#application-submit")
    public.wait_for_selector("#applied")
    application_id = int(public.inner_text("#application-number"))
    assert id_number not in public.content()

    # -- the talent office: 资格初审
    office = as_user(intake.office.username)
    office.click("#main-nav a:text-is('入库申请')")
    office.click(f"#applications-table tr[data-application-id='{application_id}'] a")
    office.wait_for_url(f"**/applications/{application_id}")
    assert office.inner_text("#application-stage") == "资格初审"
    assert office.locator("#checks .status-exited").count() == 0
    assert "职称证书.pdf" in office.inner_text("#documents")
    assert id_number not in office.content() and "139****5678" in office.inner_text("#applicant")
    decide(office, application_id, "qualify", "资格条件符合")
    assert "资格初审已通过" in flash_texts(office)
    # Appointing now is refused, with the reason on the page.
    office.goto(f"/applications/{application_id}")
    assert office.locator("#d-action option[value=appoint]").count() == 0

    # -- 专业评审 by the review group of 城乡规划, then 审定
    vote_all(as_user, intake, application_id, ("approve", "approve", "reject"))
    decide(office, application_id, "conclude_review")
    assert "专业评审已结束" in flash_texts(office)
    decide(office, application_id, "approve", "审定通过")
    assert "审定通过，已进入公示" in flash_texts(office)
    assert office.inner_text("#notice-period").startswith("2026-11-02 至 2026-11-06")

    # -- 公示: anyone objects, with contact details
    public.goto("/notices")
    public.click(f"#notices-table tr[data-application-id='{application_id}'] a")
    public.fill("#o-name", "李群众")
    public.fill("#o-contact", "13800001111")
    public.fill("#o-content", "其论文存在署名争议，请核实。")
    public.click("#objection-submit")
    public.wait_for_selector("#objection-lodged")

    # -- appointment: refused during the notice, and while the objection is open
    decide(office, application_id, "appoint", tier="核心专家")
    assert any("期满后方可聘任" in text for text in flash_texts(office))
    set_today(app, date(2026, 11, 9))
    decide(office, application_id, "appoint", tier="核心专家")
    assert any("1 件公示异议未处理" in text for text in flash_texts(office))
    assert "138****1111" in office.inner_text("#objections-table") and "13800001111" not in office.content()
    row = office.locator("#objections-table .objection-resolve")
    row.locator("select[name=outcome]").select_option("dismissed")
    row.locator("input[name=resolution]").fill("经核实署名无争议")
    row.locator("button").click()
    office.wait_for_url(f"**/applications/{application_id}")
    decide(office, application_id, "appoint", "聘为核心专家", tier="核心专家")
    assert "已聘任" in flash_texts(office)
    assert office.inner_text("#application-stage") == "已聘任"

    db.session.expire_all()
    expert = db.session.get(Application, application_id).expert
    office.goto(f"/experts/{expert.id}")
    assert office.inner_text("#expert-status") == "在库"
    assert re.fullmatch(r"JCZX-2026-\d{5}", office.inner_text("#expert-appointment .mono").strip())
    assert expert.status is ExpertStatus.ACTIVE and expert.id in text_relevance("海绵城市")
    public.goto("/notices")
    assert public.locator("#no-notices").count() == 1

    # -- a second application, entered by the talent office, rejected in the review
    set_today(app, date(2026, 11, 10))
    office.click("#main-nav a:text-is('入库申请')")
    office.click("#new-application-link")
    office.select_option("#a-channel", label="定向邀请")
    office.fill("#a-name", "周不过")
    office.fill("#a-id-number", valid_id_number(birth=date(1980, 2, 2), sequence=78))
    office.select_option("#a-political", label="群众")
    office.fill("#a-employer", "江南大学")
    office.select_option("#a-title-level", label="中级")
    office.fill("#a-years", "9")
    office.select_option("#a-primary-domain", label="城乡规划")
    office.click("#application-submit")
    office.wait_for_url(re.compile(r"/applications/\d+$"))
    second_id = int(office.url.rsplit("/", 1)[1])
    decide(office, second_id, "qualify")
    vote_all(as_user, intake, second_id, ("reject", "reject", "approve"))
    decide(office, second_id, "conclude_review", "研究积累不足")
    assert "专业评审未通过，申请未获通过" in flash_texts(office)
    assert office.inner_text("#application-stage") == "未通过"
    assert "同意 1 票 / 有效 3 票" in office.inner_text("#outcome-reason")
    db.session.expire_all()
    rejected = db.session.get(Application, second_id)
    assert rejected.stage is Stage.REJECTED and rejected.expert.status is ExpertStatus.REJECTED
    assert db.session.get(Expert, rejected.expert_id).current_appointment is None
