"""One decision item end to end through the real pages in headless Chromium: the department files the
item and asks for a 5-seat 论证会, the talent office recommends, the department confirms, two experts
decline and are replaced, the meeting happens with one expert late and one absent, the others submit
signed opinions, the department feeds back on adoption (published) and rates every member. Each step is
checked to be seen by the right role only."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from experts_service.consultation import engagements as records
from experts_service.consultation.models import Invitation, InvitationStatus
from experts_service.core.clock import display_zone, today
from experts_service.extensions import db
from experts_service.panels.models import PanelRequest, Recommendation
from tests.browser.conftest import flash_texts
from tests.consultation.helpers import SENIOR, pool_with_accounts

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/experts-service-panel.png"  # outside the repository on purpose
ITEM_TITLE = "老旧小区改造三年行动方案"
OPINION = {"necessity": "改造需求迫切，居民意愿强烈。", "legality": "符合城市更新相关法规。",
           "feasibility": "资金测算基本可行。", "risks": "施工扰民与补偿争议。", "suggestions": "分批实施，先行试点。"}
RATING = {"quality": "27", "professionalism": "23", "punctuality": "14", "discipline": "15", "confidentiality": "15"}


def invitations(request_id: int) -> list[Invitation]:
    db.session.rollback()  # a fresh read: the pages wrote in their own transactions
    return list(db.session.execute(sa.select(Invitation).where(Invitation.panel_request_id == request_id)
                                   .order_by(Invitation.id)).scalars())


def accept_dialogs(page):
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def member_row(page, expert_id: int):
    return page.locator(f"#member-table tr[data-expert-id='{expert_id}']")


def test_a_meeting_from_request_to_ratings(app, factory, as_user):
    panelled = pool_with_accounts(factory)
    department = accept_dialogs(as_user(panelled.department_user.username))
    office = as_user(panelled.world.office.username)
    meeting_day = today() + timedelta(days=10)

    # -- the department files the item and requests a 5-seat meeting
    department.goto("/items/new")
    department.fill("#i-title", ITEM_TITLE)
    department.fill("#i-description", "对建成于 2000 年以前的老旧小区实施综合改造，推进城市更新。")
    department.select_option("#i-category", "major_economic")
    department.check("#i-domains label.check:has-text('城乡规划') input")
    department.fill("#i-keywords", "城市更新，老旧小区")
    department.click("#item-form-submit")
    department.wait_for_url(re.compile(r"/items/\d+$"))
    department.click("#new-request-link")
    department.select_option("#r-mode", "meeting")
    department.fill("#r-seats", "5")
    department.fill("#r-meeting-date", meeting_day.isoformat())
    department.fill("#r-meeting-time", "09:00")
    department.fill("#r-meeting-end-time", "12:00")
    department.fill("#r-meeting-place", "市政府 301 会议室")
    department.click("#request-form-submit")
    department.wait_for_url(re.compile(r"/panel-requests/\d+$"))
    request_id = int(department.url.rsplit("/", 1)[1])
    request_page = f"/panel-requests/{request_id}"
    assert department.locator("#run-recommend").count() == 0, "the department does not pick its own experts"

    # -- the talent office recommends
    office.goto(request_page)
    office.click("#run-recommend")
    office.wait_for_url(re.compile(r"/recommendations/\d+$"))
    db.session.rollback()
    record = db.session.execute(sa.select(Recommendation).where(Recommendation.panel_request_id == request_id)
                                ).scalar_one()
    assert record.compliant, record.result
    panel = list(record.result["panel"])
    assert len(panel) == 5

    # -- the department confirms: five invitations go out
    department.goto(request_page)
    department.click("#confirm-panel")
    department.wait_for_load_state()
    assert any("向 5 位专家发出邀请" in text for text in flash_texts(department))
    sent = invitations(request_id)
    assert [i.expert_id for i in sent] == panel

    # Two general-tier members decline (a core member's seat could only go to another core expert).
    core = {expert.id for expert in panelled.experts[:SENIOR]}
    decliners = [i for i in sent if i.expert_id not in core][:2]

    # -- an expert sees only their own invitation and nothing of the request page
    first_decliner = as_user(panelled.user_of(decliners[0].expert_id).username)
    first_decliner.click("#main-nav a:text-is('论证邀请')")
    listed = first_decliner.locator("#my-invitations tbody tr")
    assert listed.count() == 1 and listed.get_attribute("data-invitation-id") == str(decliners[0].id)
    first_decliner.goto(request_page)
    assert "无权" in first_decliner.content() and ITEM_TITLE not in first_decliner.content()

    # -- two experts decline with a reason; each seat goes to the next alternate
    for invitation, reason in ((decliners[0], "同期赴外地调研"), (decliners[1], "与申请部门存在课题合作，主动回避")):
        expert = (first_decliner if invitation is decliners[0]
                  else as_user(panelled.user_of(invitation.expert_id).username))
        expert.goto(f"/my/invitations/{invitation.id}")
        expert.fill("#d-reason", reason)
        expert.click("#decline")
        expert.wait_for_load_state()
        assert expert.locator("#invitation-status").inner_text() == "已谢绝"
    now_sent = invitations(request_id)
    replacements = [i for i in now_sent if i.replaces_id is not None]
    assert [i.replaces_id for i in replacements] == [decliners[0].id, decliners[1].id]
    assert not {i.expert_id for i in replacements} & set(panel)
    department.goto(request_page)
    assert department.locator("#seat-summary").get_attribute("data-pending") == "5"
    assert "同期赴外地调研" in department.locator("#invitation-table").inner_text()

    # -- the three remaining members and the two stand-ins accept
    for invitation in now_sent:
        if invitation.status is not InvitationStatus.PENDING:
            continue
        expert = as_user(panelled.user_of(invitation.expert_id).username)
        expert.goto(f"/my/invitations/{invitation.id}")
        expert.click("#accept")
        expert.wait_for_load_state()
        assert expert.locator("#invitation-status").inner_text() == "已接受"
    department.goto(request_page)
    assert department.locator("#seat-summary").get_attribute("data-accepted") == "5"
    assert "已满员" in department.locator("#seat-summary").inner_text()

    # -- the meeting day: one member late, one absent, the rest on time
    app.config["CLOCK_NOW"] = datetime.combine(meeting_day, time(14), tzinfo=display_zone()).astimezone(timezone.utc)
    try:
        seated = [i for i in invitations(request_id) if i.status is InvitationStatus.ACCEPTED]
        late, absent, *on_time = seated
        department.goto(request_page)
        for invitation in seated:
            row = member_row(department, invitation.expert_id)
            choice = "late" if invitation is late else "absent" if invitation is absent else "on_time"
            row.locator("select[name=attendance]").select_option(choice)
            if invitation is late:
                row.locator("input[name=minutes_late]").fill("20")
            row.locator(".attendance-form button").click()
            department.wait_for_load_state()
        assert member_row(department, late.expert_id).locator("[data-attendance]").inner_text() == "迟到 20 分钟"
        assert member_row(department, absent.expert_id).locator("[data-attendance]").get_attribute(
            "data-attendance") == "absent"

        # -- the members present write and submit their opinions; one dissents
        for invitation in (late, *on_time):
            expert = accept_dialogs(as_user(panelled.user_of(invitation.expert_id).username))
            expert.goto(f"/my/invitations/{invitation.id}")
            expert.click("#write-opinion")
            for key, text in OPINION.items():
                expert.fill(f"#o-{key}", text)
            dissenting = invitation is on_time[-1]
            expert.check(f"input[name=conclusion][value={'disagree' if dissenting else 'agree'}]")
            if dissenting:
                expert.fill("#o-dissent", "资金来源不落实，不同意按现方案实施。")
            expert.click("#opinion-submit")
            expert.wait_for_load_state()
            db.session.rollback()
            opinion = records.opinion_of(db.session.get(Invitation, invitation.id).engagement)
            assert opinion.submitted and records.signature_holds(opinion)
            assert expert.locator("#opinion-hash").inner_text() == opinion.content_hash
            assert expert.locator("#opinion-form").count() == 0, "a signed opinion offers no form"
        # The absent member has no opinion to give: the page refuses with a reason.
        absent_expert = as_user(panelled.user_of(absent.expert_id).username)
        absent_expert.goto(f"/engagements/{absent.engagement_id}/opinion")
        for key, text in OPINION.items():
            absent_expert.fill(f"#o-{key}", text)
        absent_expert.check("input[name=conclusion][value=agree]")
        absent_expert.click("#opinion-save")
        absent_expert.wait_for_load_state()
        assert "缺席" in absent_expert.locator("#form-errors").inner_text()

        # -- adoption feedback for each opinion, published on the public page
        department.goto(request_page)
        links = department.locator("#member-table a.opinion-link")
        assert links.count() == 4
        opinion_pages = [links.nth(n).get_attribute("href") for n in range(4)]
        dissents = []
        for n, path in enumerate(opinion_pages):
            department.goto(path)
            dissents += department.locator("#opinion-dissent").all_inner_texts()
            decision = "adopted" if n < 2 else "partly_adopted"
            department.check(f"input[name=decision][value={decision}]")
            if decision != "adopted":
                department.fill("#a-reason", "资金安排另行研究")
            department.click("#adoption-submit")
            department.wait_for_load_state()
            assert "已公开" in " ".join(flash_texts(department))
        assert dissents == ["资金来源不落实，不同意按现方案实施。"], "the dissent is kept on its own opinion"
        public = as_user()
        public.goto("/public/adoption-feedback")
        table = public.locator("#public-feedback").inner_text()
        assert table.count(ITEM_TITLE) == 4 and "资金安排另行研究" in table
        for invitation in seated:
            assert invitation.expert.name not in public.content()

        # -- the panel report gathers the signed opinions with their hashes
        department.goto(request_page)
        department.click("#report-link")
        department.wait_for_url(re.compile(r"/report$"))
        report_text = department.content()
        db.session.rollback()
        signed = [o for o in records.submitted_opinions(db.session.get(PanelRequest, request_id))]
        assert len(signed) == 4 and all(o.content_hash in report_text for o in signed)
        expert_page = as_user(panelled.user_of(on_time[0].expert_id).username)
        expert_page.goto(f"{request_page}/report")
        assert "无权" in expert_page.content() and signed[0].content_hash not in expert_page.content()

        # -- the department rates every member (the absent one too)
        for invitation in seated:
            department.goto(request_page)
            row = member_row(department, invitation.expert_id)
            row.locator(".rating-details summary").click()
            for part, value in RATING.items():
                row.locator(f"input[name={part}]").fill("0" if invitation is absent and part == "punctuality"
                                                        else value)
            row.locator(".rating-form button").click()
            department.wait_for_load_state()
        department.goto(request_page)
        department.screenshot(path=SCREENSHOT, full_page=True)
        totals = department.locator("#member-table .rating-total").all_inner_texts()
        assert sorted(totals) == sorted(["94"] * 4 + ["80"])

        # -- who sees what: the auditor reads it all but acts on nothing; another department sees nothing
        auditor = as_user(factory.user("auditor").username)
        auditor.goto(request_page)
        assert auditor.locator("#member-table").count() == 1
        assert auditor.locator(".attendance-form, .rating-form, #confirm-panel").count() == 0
        other_department = as_user(factory.user("department").username)
        other_department.goto(request_page)
        assert ITEM_TITLE not in other_department.content()
        other_department.goto(opinion_pages[0])
        assert OPINION["necessity"] not in other_department.content()
    finally:
        app.config.pop("CLOCK_NOW", None)
    db.session.rollback()
    # Every seated member dealt with (attendance, and an opinion unless absent): the request is complete.
    assert db.session.get(PanelRequest, request_id).status.value == "completed"
