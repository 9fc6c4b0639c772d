"""The consultation pages through real requests: confirmation, answers, attendance, the signed opinion
(refused and audited when changed), adoption feedback and its public page, ratings."""
from __future__ import annotations

from datetime import datetime, time, timezone

import pytest
import sqlalchemy as sa

from experts_service.consultation import engagements as records
from experts_service.consultation.models import AdoptionFeedback, AttendanceRecord, Invitation, Opinion
from experts_service.core.audit import AuditEntry
from experts_service.core.clock import display_zone
from experts_service.extensions import db
from experts_service.panels.models import Engagement, PanelRequestStatus
from tests.conftest import csrf_token_from, login
from tests.consultation.helpers import pool_with_accounts, recommended_request
from tests.consultation.test_engagements import FULL_OPINION, GOOD_RATING


class Browser:
    """One signed-in user's test client; posts carry the CSRF token of the page they come from."""

    def __init__(self, app, user):
        self.client = app.test_client()
        assert login(self.client, user.username).status_code == 302

    def get(self, path: str):
        return self.client.get(path)

    def post(self, page: str, action: str, data: dict | None = None):
        token = csrf_token_from(self.client.get(page).get_data(as_text=True))
        return self.client.post(action, data={"csrf_token": token, **(data or {})})


def invitations_of(request) -> list[Invitation]:
    db.session.expire_all()
    return list(db.session.execute(sa.select(Invitation).where(Invitation.panel_request_id == request.id)
                                   .order_by(Invitation.id)).scalars())


@pytest.fixture
def recommended(factory):
    panelled = pool_with_accounts(factory)
    request, record = recommended_request(panelled, days_ahead=10, meeting_time=time(9), meeting_end_time=time(12))
    return panelled, request, record


def confirm_by_page(app, panelled, request, record):
    department = Browser(app, panelled.department_user)
    page = f"/panel-requests/{request.id}"
    assert "确认专家组并发出邀请" in department.get(page).get_data(as_text=True)
    response = department.post(page, f"/panel-requests/{request.id}/confirm", {"recommendation_id": str(record.id)})
    assert response.status_code == 302
    return department


def test_the_department_confirms_and_sees_the_panel_fill(app, recommended):
    panelled, request, record = recommended
    department = confirm_by_page(app, panelled, request, record)
    db.session.expire_all()
    assert request.status is PanelRequestStatus.CONFIRMED
    invited = invitations_of(request)
    assert [i.expert_id for i in invited] == record.result["panel"]
    first, second = invited[0], invited[1]

    expert = Browser(app, panelled.user_of(first.expert_id))
    listing = expert.get("/my/invitations").get_data(as_text=True)
    assert f'data-invitation-id="{first.id}"' in listing and f'data-invitation-id="{second.id}"' not in listing
    page = f"/my/invitations/{first.id}"
    assert expert.post(page, f"{page}/accept").status_code == 302

    decliner = Browser(app, panelled.user_of(second.expert_id))
    page = f"/my/invitations/{second.id}"
    empty = decliner.post(page, f"{page}/decline", {"reason": "  "})
    assert empty.status_code == 422 and "请填写谢绝理由" in empty.get_data(as_text=True)
    assert decliner.post(page, f"{page}/decline", {"reason": "同期出差"}).status_code == 302

    after = invitations_of(request)
    replacement = after[-1]
    assert replacement.replaces_id == second.id and replacement.expert_id not in record.result["panel"]
    shown = department.get(f"/panel-requests/{request.id}").get_data(as_text=True)
    assert 'data-accepted="1"' in shown and "同期出差" in shown and f"递补{second.expert.name}" in shown
    assert "attendance-form" not in shown and "rating-form" not in shown, "no forms before the meeting day"
    # Another expert cannot open or answer someone else's invitation.
    stranger = Browser(app, panelled.user_of(replacement.expert_id))
    assert stranger.get(f"/my/invitations/{first.id}").status_code in (403, 404)


def test_the_confirm_button_is_the_departments_not_the_experts(app, recommended):
    panelled, request, record = recommended
    expert = Browser(app, panelled.user_of(record.result["panel"][0]))
    assert expert.get(f"/panel-requests/{request.id}").status_code in (403, 404)
    assert expert.client.post(f"/panel-requests/{request.id}/confirm",
                              data={"recommendation_id": str(record.id)}).status_code in (400, 403)
    db.session.expire_all()
    assert request.status is PanelRequestStatus.RECOMMENDED


@pytest.fixture
def meeting_day(app, recommended):
    """Confirmed by page, every member accepted, the clock on the meeting's afternoon."""
    panelled, request, record = recommended
    department = confirm_by_page(app, panelled, request, record)
    for invitation in invitations_of(request):
        expert = Browser(app, panelled.user_of(invitation.expert_id))
        page = f"/my/invitations/{invitation.id}"
        assert expert.post(page, f"{page}/accept").status_code == 302
    app.config["CLOCK_NOW"] = datetime.combine(request.meeting_date, time(15), tzinfo=display_zone()
                                               ).astimezone(timezone.utc)
    engagements = db.session.execute(sa.select(Engagement).where(Engagement.panel_request_id == request.id)
                                     .order_by(Engagement.id)).scalars().all()
    yield panelled, request, department, engagements
    app.config.pop("CLOCK_NOW", None)


def test_attendance_opinion_adoption_and_rating_through_the_pages(app, meeting_day):
    panelled, request, department, engagements = meeting_day
    page = f"/panel-requests/{request.id}"
    on_time, late = engagements[0], engagements[1]
    assert department.post(page, f"/engagements/{on_time.id}/attendance", {"attendance": "on_time"}).status_code == 302
    missing_minutes = department.post(page, f"/engagements/{late.id}/attendance", {"attendance": "late"})
    assert missing_minutes.status_code == 302
    assert "迟到须填写迟到分钟数" in department.get(page).get_data(as_text=True)
    assert records.attendance_of(late) is None
    department.post(page, f"/engagements/{late.id}/attendance", {"attendance": "late", "minutes_late": "25"})
    db.session.expire_all()
    assert records.attendance_of(late).minutes_late == 25
    shown = department.get(page).get_data(as_text=True)
    assert 'data-attendance="late"' in shown and "25 分钟" in shown

    writer = Browser(app, panelled.user_of(on_time.expert_id))
    form = f"/engagements/{on_time.id}/opinion"
    incomplete = writer.post(form, form, {"necessity": "有必要", "action": "submit"})
    assert incomplete.status_code == 422 and "请填写合法性" in incomplete.get_data(as_text=True)
    assert records.opinion_of(on_time) is None  # the refused submission wrote nothing
    assert writer.post(form, form, {"necessity": "有必要", "action": "draft"}).status_code == 302
    assert "有必要" in writer.get(form).get_data(as_text=True)
    # A draft is the expert's own: the department sees no opinion yet.
    draft = records.opinion_of(on_time)
    assert department.get(f"/opinions/{draft.id}").status_code == 404
    assert writer.post(form, form, {**FULL_OPINION, "action": "submit"}).status_code == 302
    db.session.expire_all()
    opinion = records.opinion_of(on_time)
    signed = writer.get(form).get_data(as_text=True)
    assert opinion.content_hash in signed and "内容与签名一致" in signed and 'id="opinion-form"' not in signed

    # The signed opinion cannot be changed through the page: refused, unchanged, audited.
    token = csrf_token_from(signed)
    refused = writer.client.post(form, data={"csrf_token": token, **FULL_OPINION, "necessity": "改过的",
                                             "action": "draft"})
    assert refused.status_code == 409 and "不能修改" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Opinion, opinion.id).necessity == FULL_OPINION["necessity"]
    assert records.signature_holds(db.session.get(Opinion, opinion.id))
    entries = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "opinion.change_refused",
                                                             AuditEntry.object_id == str(opinion.id))).scalars().all()
    assert len(entries) == 1
    # Invalid input changes nothing about that: still refused and audited.
    bogus = writer.client.post(form, data={"csrf_token": token, **FULL_OPINION, "conclusion": "bogus",
                                           "action": "submit"})
    assert bogus.status_code == 409
    assert len(db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "opinion.change_refused")
                                  ).scalars().all()) == 2

    # Adoption feedback: a reason is required unless adopted; published for a non-confidential item.
    view = f"/opinions/{opinion.id}"
    assert opinion.content_hash in department.get(view).get_data(as_text=True)
    no_reason = department.post(view, f"{view}/adoption", {"decision": "partly_adopted"})
    assert no_reason.status_code == 422 and "须说明理由" in no_reason.get_data(as_text=True)
    assert db.session.execute(sa.select(AdoptionFeedback)).first() is None
    assert department.post(view, f"{view}/adoption", {"decision": "partly_adopted", "reason": "资金安排另议"}
                           ).status_code == 302
    public = app.test_client().get("/public/adoption-feedback").get_data(as_text=True)
    assert "资金安排另议" in public and request.item.title in public
    assert opinion.expert.name not in public and FULL_OPINION["risks"] not in public

    # Rating: each part within its maximum; once.
    too_high = department.post(page, f"/engagements/{on_time.id}/rating", {**GOOD_RATING, "quality": "31"})
    assert too_high.status_code == 302 and records.rating_of(on_time) is None
    assert department.post(page, f"/engagements/{on_time.id}/rating", GOOD_RATING).status_code == 302
    db.session.expire_all()
    assert records.rating_of(on_time).total == sum(GOOD_RATING.values())
    assert f"<strong class=\"rating-total\">{sum(GOOD_RATING.values())}</strong>" in department.get(page).get_data(
        as_text=True)


def test_a_confidential_items_feedback_stays_off_the_public_page(app, factory):
    panelled = pool_with_accounts(factory)
    request, record = recommended_request(panelled, days_ahead=10, meeting_time=time(9), meeting_end_time=time(12))
    request.item.confidential = True
    db.session.commit()
    confirm_by_page(app, panelled, request, record)
    invitation = invitations_of(request)[0]
    expert = Browser(app, panelled.user_of(invitation.expert_id))
    assert expert.post(f"/my/invitations/{invitation.id}", f"/my/invitations/{invitation.id}/accept"
                       ).status_code == 302
    app.config["CLOCK_NOW"] = datetime.combine(request.meeting_date, time(15), tzinfo=display_zone()
                                               ).astimezone(timezone.utc)
    try:
        engagement = invitations_of(request)[0].engagement
        form = f"/engagements/{engagement.id}/opinion"
        submitted = expert.post(form, form, {**FULL_OPINION, "action": "submit"})
        assert submitted.status_code == 302, submitted.get_data(as_text=True)
        opinion = records.opinion_of(engagement)
        department = Browser(app, panelled.department_user)
        view = f"/opinions/{opinion.id}"
        assert "涉密事项不公开" in department.get(view).get_data(as_text=True)
        assert department.post(view, f"{view}/adoption", {"decision": "adopted"}).status_code == 302
        db.session.expire_all()
        assert db.session.get(Opinion, opinion.id).adoption.published_at is None
        public = app.test_client().get("/public/adoption-feedback").get_data(as_text=True)
        assert request.item.title not in public and "暂无公开的采纳情况" in public
        # A department of another organisation sees nothing of it.
        other = Browser(app, factory.user("department"))
        assert other.get(view).status_code in (403, 404)
        assert other.get(f"/panel-requests/{request.id}").status_code in (403, 404)
    finally:
        app.config.pop("CLOCK_NOW", None)
    assert db.session.execute(sa.select(sa.func.count()).select_from(AttendanceRecord)).scalar_one() == 0
