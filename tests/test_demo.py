"""`flask demo` loads a consistent data set once and prints a login per role.

The consultation scenarios (experts_service/demo.py, "The consultation workflow") go through the real
operations as the right actors, on a clock pinned step by step; these tests read back what they left.
"""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from experts_service.accounts.models import User
from experts_service.consultation.engagements import (
    attendance_of,
    opinion_of,
    overdue_ratings,
    published_feedback,
    rating_of,
    signature_holds,
    submitted_opinions,
)
from experts_service.consultation.models import (
    AdoptionDecision,
    AdoptionFeedback,
    Attendance,
    AttendanceRecord,
    EngagementRating,
    Invitation,
    InvitationStatus,
    Opinion,
    OpinionConclusion,
)
from experts_service.consultation.todo import todo_for
from experts_service.core import audit
from experts_service.core.auth import Role
from experts_service.core.crypto import decrypt_pii
from experts_service.core.idcard import parse_id_number
from experts_service.experts.models import Expert
from experts_service.extensions import db
from experts_service.panels.models import (
    ConsultationMode,
    DecisionItem,
    Engagement,
    PanelRequest,
    PanelRequestStatus,
    Recommendation,
    RecommendationKind,
)
from tests.conftest import login

ZONE = ZoneInfo("Asia/Shanghai")
# A Monday morning: the scenarios' dates follow from it (the past meeting is on Wednesday 2026-10-21).
PINNED = datetime(2026, 11, 23, 10, 0, tzinfo=ZONE)
DEMO_EXPERTS = 60
CONSULTATION_TABLES = (DecisionItem, PanelRequest, Recommendation, Invitation, Engagement, AttendanceRecord, Opinion,
                       AdoptionFeedback, EngagementRating, User)


def _counts() -> dict[str, int]:
    counts = {model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
              for model in CONSULTATION_TABLES}
    counts["audit"] = db.session.scalar(sa.select(sa.func.count(audit.AuditEntry.id)))
    return counts


def _user(username: str) -> User:
    return db.session.execute(sa.select(User).where(User.username == username)).scalar_one()


def _request(title_part: str) -> PanelRequest:
    return db.session.execute(
        sa.select(PanelRequest).join(DecisionItem).where(DecisionItem.title.contains(title_part))).scalar_one()


def _local_day(moment: datetime):
    return moment.astimezone(ZONE).date()


def _invitations(request: PanelRequest) -> list[Invitation]:
    return list(db.session.execute(
        sa.select(Invitation).where(Invitation.panel_request_id == request.id).order_by(Invitation.id)).scalars())


@pytest.fixture
def demo(app):
    from experts_service.demo import load_demo

    app.config["CLOCK_NOW"] = PINNED
    loaded = load_demo(expert_count=DEMO_EXPERTS)
    db.session.commit()
    return loaded


def test_demo_loads_once_and_every_role_can_sign_in(app, runner):
    from experts_service.demo import DEMO_PASSWORD, demo_logins

    first = runner.invoke(args=["demo", "--experts", "60"])
    assert first.exit_code == 0, first.output
    assert "已载入演示数据：专家 60 名" in first.output
    for _label, username in demo_logins():
        assert username in first.output
    assert DEMO_PASSWORD in first.output

    roles = set(db.session.execute(sa.select(User.role)).scalars())
    assert roles == set(Role)
    experts = db.session.execute(sa.select(Expert)).scalars().all()
    assert len(experts) == 60
    for expert in experts:
        facts = parse_id_number(decrypt_pii(expert.id_number_enc))
        assert facts.birth_date == expert.birth_date

    before = _counts()
    assert before["decision_items"] == 5 and before["opinions"] == 7
    second = runner.invoke(args=["demo", "--experts", "60"])
    assert second.exit_code == 0 and "演示数据已存在" in second.output
    assert _counts() == before
    assert audit.verify().ok

    for _label, username in demo_logins():
        assert login(app.test_client(), username, DEMO_PASSWORD).status_code == 302, username


def test_a_second_load_changes_nothing(app, demo):
    from experts_service.demo import load_demo

    assert demo["decision_items"] == 5 and demo["panel_requests"] == 5
    before = _counts()
    assert demo["invitations"] == before["invitations"]
    assert demo["opinions"] == before["opinions"] == 7
    assert demo["adoption_feedback"] == before["adoption_feedback"] == 7
    assert demo["ratings"] == before["engagement_ratings"] == 7
    assert load_demo(expert_count=DEMO_EXPERTS) is None
    db.session.commit()
    assert _counts() == before
    # The scenarios pinned the clock step by step and put the test's own pin back.
    assert app.config["CLOCK_NOW"] == PINNED


def test_the_completed_meeting_went_through_every_step(demo):
    request = _request("城市更新条例")
    assert request.mode is ConsultationMode.MEETING and request.status is PanelRequestStatus.COMPLETED
    meeting = request.meeting_date
    assert meeting.weekday() == 2 and meeting.month == PINNED.month - 1
    invitations = _invitations(request)
    accepted = [i for i in invitations if i.status is InvitationStatus.ACCEPTED]
    declined = [i for i in invitations if i.status is InvitationStatus.DECLINED]
    assert len(accepted) == request.seats == 5 and len(declined) == 2
    # Each decline pulled an alternate, who accepted.
    stand_ins = {i.replaces_id: i for i in invitations if i.replaces_id is not None}
    assert set(stand_ins) == {i.id for i in declined}
    assert all(stand_ins[i.id].status is InvitationStatus.ACCEPTED and i.decline_reason for i in declined)

    # Times: confirmed two weeks before, answered the next day, opinions on the day, feedback two days later.
    assert _local_day(request.confirmed_at) == meeting - timedelta(days=14)
    assert {_local_day(i.responded_at) for i in invitations} == {meeting - timedelta(days=13)}
    engagements = [i.engagement for i in accepted]
    attendance = [attendance_of(e).attendance for e in engagements]
    assert sorted(a.value for a in attendance) == ["absent", "late", "on_time", "on_time", "on_time"]
    late = next(attendance_of(e) for e in engagements if attendance_of(e).attendance is Attendance.LATE)
    assert late.minutes_late == 20

    opinions = submitted_opinions(request)
    assert len(opinions) == 4 and all(signature_holds(o) for o in opinions)
    assert {_local_day(o.submitted_at) for o in opinions} == {meeting}
    absent = next(e for e in engagements if attendance_of(e).attendance is Attendance.ABSENT)
    assert opinion_of(absent) is None
    dissenting = [o for o in opinions if o.conclusion is OpinionConclusion.DISAGREE]
    assert len(dissenting) == 1 and dissenting[0].dissent

    feedback = [o.adoption for o in opinions]
    partly = [f for f in feedback if f.decision is AdoptionDecision.PARTLY_ADOPTED]
    assert len(partly) == 1 and partly[0].reason and partly[0].opinion is dissenting[0]
    assert {_local_day(f.published_at) for f in feedback} == {meeting + timedelta(days=2)}

    # Rated but one: that one is overdue on the department's list.
    unrated = [e for e in engagements if rating_of(e) is None]
    assert len(unrated) == 1
    department = _user("zjj")
    assert overdue_ratings([department.organisation_id]) == unrated
    ratings = [entry for section in todo_for(department) if section.section.kind == "rating_to_give"
               for entry in section.entries]
    assert [(r.engagement_id, r.overdue) for r in ratings] == [(unrated[0].id, True)]


def test_public_feedback_leaves_out_the_confidential_item(app, demo):
    confidential = _request("专项债券")
    assert confidential.item.confidential and confidential.status is PanelRequestStatus.COMPLETED
    assert confidential.mode is ConsultationMode.WRITTEN
    secret = submitted_opinions(confidential)
    assert len(secret) == 3 and all(signature_holds(o) for o in secret)
    assert all(o.adoption is not None and o.adoption.published_at is None for o in secret)

    public = published_feedback()
    assert {f.opinion.panel_request_id for f in public} == {_request("城市更新条例").id}
    page = app.test_client().get("/public/adoption-feedback").get_data(as_text=True)
    assert "城市更新条例" in page and "部分采纳" in page
    assert confidential.item.title not in page


def test_every_role_finds_work_waiting(demo):
    from experts_service.demo import EXPERT_LOGIN_NAME

    expert_login = _user("zhuanjia")
    assert expert_login.expert.name == EXPERT_LOGIN_NAME
    expert_todo = {section.section.kind: section.entries for section in todo_for(expert_login)}
    # The meeting next week: the demo expert's invitation waits, some of the panel has answered.
    [waiting] = expert_todo["invitation_to_answer"]
    upcoming = db.session.get(PanelRequest, waiting.panel_request_id)
    assert upcoming.mode is ConsultationMode.MEETING and upcoming.status is PanelRequestStatus.CONFIRMED
    assert 2 <= (upcoming.meeting_date - PINNED.date()).days <= 9
    statuses = [i.status for i in _invitations(upcoming)]
    assert InvitationStatus.ACCEPTED in statuses and InvitationStatus.DECLINED in statuses
    assert statuses.count(InvitationStatus.PENDING) >= 2
    # The written consultation under way: the demo expert accepted and has an opinion to write.
    [to_write] = expert_todo["opinion_to_write"]
    written = db.session.get(PanelRequest, to_write.panel_request_id)
    assert written.mode is ConsultationMode.WRITTEN and written.deadline > PINNED.date()

    department = _user("zjj")
    department_todo = {section.section.kind: section.entries for section in todo_for(department)}
    [to_confirm] = department_todo["panel_to_confirm"]
    recommended = db.session.get(PanelRequest, to_confirm.panel_request_id)
    assert recommended.mode is ConsultationMode.WRITTEN and recommended.status is PanelRequestStatus.RECOMMENDED
    assert not to_confirm.overdue

    office = {section.section.kind for section in todo_for(_user("rencai"))}
    assert "ratings_overdue" in office


def test_each_step_is_taken_by_the_right_actor(demo):
    entries = db.session.execute(sa.select(audit.AuditEntry).where(audit.AuditEntry.action.in_((
        "item.create", "panel_request.create", "recommendation.create", "panel.confirm", "invitation.accept",
        "invitation.decline", "attendance.record", "opinion.submit", "adoption.record", "rating.record",
    )))).scalars().all()
    roles = {}
    for entry in entries:
        user = db.session.get(User, entry.actor_id)
        assert user is not None, entry.action
        roles.setdefault(entry.action, set()).add(user.role)
        if user.role is Role.EXPERT:
            assert entry.summary.get("expert_id", user.expert_id) == user.expert_id
    assert roles == {
        "item.create": {Role.DEPARTMENT}, "panel_request.create": {Role.DEPARTMENT},
        "recommendation.create": {Role.TALENT_OFFICE}, "panel.confirm": {Role.DEPARTMENT},
        "invitation.accept": {Role.EXPERT}, "invitation.decline": {Role.EXPERT},
        "attendance.record": {Role.DEPARTMENT}, "opinion.submit": {Role.EXPERT},
        "adoption.record": {Role.DEPARTMENT}, "rating.record": {Role.DEPARTMENT},
    }
    # An opinion is signed by its own expert's account.
    for opinion in db.session.execute(sa.select(Opinion)).scalars():
        signer = next(e for e in entries if e.action == "opinion.submit" and e.object_id == str(opinion.id))
        assert db.session.get(User, signer.actor_id).expert_id == opinion.expert_id
    assert audit.verify().ok


def test_at_the_default_size_the_talent_office_picks_the_demo_expert_by_the_rules(app):
    """With 320 experts the demo expert ties with others of their field and loses the tie-break (expert id):
    the talent office replaces a member with them, every rule checked again, and says why."""
    from experts_service.demo import DEFAULT_EXPERT_COUNT, load_demo

    app.config["CLOCK_NOW"] = PINNED
    loaded = load_demo()
    db.session.commit()
    assert loaded["experts"] == DEFAULT_EXPERT_COUNT and "scenarios_stopped" not in loaded
    expert_login = _user("zhuanjia")
    kinds = {section.section.kind: len(section.entries) for section in todo_for(expert_login)}
    assert kinds == {"invitation_to_answer": 1, "opinion_to_write": 1}
    replacements = db.session.execute(
        sa.select(Recommendation).where(Recommendation.kind == RecommendationKind.REPLACEMENT)).scalars().all()
    # Only a decline (by the system) or the talent office's pick replaces a member; the pick says why.
    for record in replacements:
        if record.result["replacement"]["added"] == expert_login.expert_id:
            assert record.compliant and expert_login.expert.name in record.result["replacement"]["reason"]
            assert db.session.get(User, record.created_by_id).role is Role.TALENT_OFFICE
    completed = _request("城市更新条例")
    assert completed.status is PanelRequestStatus.COMPLETED
    assert len(submitted_opinions(completed)) == 4
    assert audit.verify().ok
