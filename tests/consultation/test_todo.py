"""待办事项: each role's to-do list, scoped to its own department (subtree), the page and the API alike."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from experts_service.consultation import engagements as records
from experts_service.consultation import operations
from experts_service.consultation import todo
from experts_service.consultation.models import Invitation, InvitationStatus
from experts_service.core.auth import Role
from experts_service.core.clock import display_zone
from experts_service.core.templating import NAVIGATION
from experts_service.extensions import db
from experts_service.panels.models import Engagement
from experts_service.policy import update_policy
from tests.conftest import login
from tests.consultation.helpers import pool_with_accounts, recommended_request
from tests.consultation.test_engagements import FULL_OPINION
from tests.page_helpers import page_of
from tests.panels.helpers import World


def set_clock(app, day, hour: int = 15) -> None:
    app.config["CLOCK_NOW"] = datetime.combine(day, time(hour), tzinfo=display_zone()).astimezone(timezone.utc)


def pending_of(request) -> list[Invitation]:
    return list(db.session.execute(sa.select(Invitation).where(
        Invitation.panel_request_id == request.id, Invitation.status == InvitationStatus.PENDING)
        .order_by(Invitation.id)).scalars())


class Landscape:
    """The department's panels in every state, a child unit's, another department's, and the office's queue."""

    def __init__(self, factory, app):
        self.app = app
        self.panelled = panelled = pool_with_accounts(factory)
        world = panelled.world
        self.department = world.department
        self.office = world.office
        self.admin = factory.user(Role.ADMIN)
        # Long answer windows: the experts' invitations are still open on the later days of the test.
        update_policy(self.admin, {"invitation_response_hours": 720}, "测试：延长答复期限")
        db.session.commit()
        # Every panel is recommended before anyone is booked, so the pool ranks alike for each.
        self.to_confirm, _ = recommended_request(panelled, days_ahead=20)
        self.served, served_record = recommended_request(panelled, days_ahead=10, meeting_time=time(9),
                                                         meeting_end_time=time(12))
        self.short, short_record = recommended_request(panelled, days_ahead=25)
        self.child = factory.organisation("市价格监督检查局", type_="government", system="发展改革",
                                          parent_id=self.department.id)
        child_world = World(factory, department=self.child)
        self.child_request = child_world.request(child_world.item(title="价格监测办法"))
        assert child_world.run(self.child_request).compliant
        other_world = World(factory, department_name="市财政局", system="财政")
        self.other_department = other_world.department
        self.other_request = other_world.request(other_world.item(title="财政预算改革方案"))
        assert other_world.run(self.other_request).compliant
        self.waiting = world.request(world.item(title="养老服务条例"))  # no recommendation yet
        department_user = panelled.department_user
        # The served meeting: confirmed, every member accepted.
        operations.confirm_panel(department_user, self.served, served_record.id)
        db.session.commit()
        for invitation in pending_of(self.served):
            operations.accept(panelled.user_of(invitation.expert_id), invitation)
            db.session.commit()
        self.engagements = db.session.execute(sa.select(Engagement).where(
            Engagement.panel_request_id == self.served.id).order_by(Engagement.id)).scalars().all()
        # The short panel: declines until no alternate keeps every rule, so a seat stays open.
        operations.confirm_panel(department_user, self.short, short_record.id)
        db.session.commit()
        self.decliners = []
        for _ in range(10):
            if operations.seat_summary(self.short)["open"]:
                break
            leaving = pending_of(self.short)[0]
            self.decliners.append(leaving.expert_id)
            operations.decline(panelled.user_of(leaving.expert_id), leaving, "另有公务安排")
            db.session.commit()
        self.open_seats = operations.seat_summary(self.short)["open"]
        assert self.open_seats >= 1
        # The meeting day, afternoon: the meeting is over; one opinion is in.
        self.meeting_day()
        first = self.engagements[0]
        records.save_opinion(panelled.user_of(first.expert_id), first, dict(FULL_OPINION), submit=True)
        db.session.commit()
        self.due = records.rating_due_on(self.engagements[0])

    def meeting_day(self, hour: int = 15) -> None:
        set_clock(self.app, self.served.meeting_date, hour)

    def after_due(self) -> None:
        set_clock(self.app, self.due + timedelta(days=1), 10)

    def user(self, role, **extra):
        return self.panelled.world.factory.user(role, **extra)


@pytest.fixture
def land(factory, app):
    landscape = Landscape(factory, app)
    yield landscape
    app.config.pop("CLOCK_NOW", None)


def kinds(sections) -> dict[str, list[todo.TodoEntry]]:
    return {group.section.kind: group.entries for group in sections}


def request_ids(entries) -> set[int]:
    return {entry.panel_request_id for entry in entries}


def test_every_section_has_a_builder_and_a_link_target():
    assert set(todo._BUILDERS) == set(todo.SECTIONS_BY_KIND) == set(todo._TARGETS)
    navigation = next(item for item in NAVIGATION if item.endpoint == "todo.index")
    assert set(navigation.roles) == {role.value for role in todo.TODO_ROLES}


def test_the_department_sees_its_work_on_its_own_panels(land, app):
    found = kinds(todo.todo_for(land.panelled.department_user))
    assert list(found) == ["panel_to_confirm", "seats_open", "attendance_to_record", "adoption_to_record",
                           "rating_to_give"]
    # The child unit's request is the department's too (its organisation subtree); another department's is not.
    assert request_ids(found["panel_to_confirm"]) == {land.to_confirm.id, land.child_request.id}
    [seats] = found["seats_open"]
    assert seats.panel_request_id == land.short.id and seats.count == land.open_seats
    [attendance] = found["attendance_to_record"]
    assert attendance.panel_request_id == land.served.id and attendance.count == land.served.seats
    [adoption] = found["adoption_to_record"]
    assert adoption.opinion_id is not None and adoption.engagement_id is None
    ratings = found["rating_to_give"]
    assert [entry.engagement_id for entry in ratings] == [e.id for e in land.engagements]
    assert all(entry.due_on == land.due and not entry.overdue for entry in ratings)
    everything = todo.entries_of(todo.todo_for(land.panelled.department_user))
    assert land.other_request.id not in request_ids(everything) and land.waiting.id not in request_ids(everything)


def test_a_meeting_still_in_progress_has_no_attendance_to_record(land):
    land.meeting_day(hour=10)  # 09:00-12:00
    assert "attendance_to_record" not in kinds(todo.todo_for(land.panelled.department_user))


def test_overdue_ratings_come_first_and_are_flagged(land):
    land.after_due()
    ratings = kinds(todo.todo_for(land.panelled.department_user))["rating_to_give"]
    assert ratings and all(entry.overdue for entry in ratings)
    assert "请尽快" in ratings[0].text and f"{land.due:%Y-%m-%d}" in ratings[0].text
    # The same rows as the ratings the chase reads.
    overdue = records.overdue_ratings(records.own_organisation_scope(land.panelled.department_user))
    assert [entry.engagement_id for entry in ratings] == [e.id for e in overdue]


def test_a_child_unit_and_another_department_see_only_their_own(land):
    child_user = land.user(Role.DEPARTMENT, organisation_id=land.child.id)
    child = todo.entries_of(todo.todo_for(child_user))
    assert request_ids(child) == {land.child_request.id}
    other_user = land.user(Role.DEPARTMENT, organisation_id=land.other_department.id)
    other = todo.entries_of(todo.todo_for(other_user))
    assert request_ids(other) == {land.other_request.id}
    assert {entry.kind for entry in other} == {"panel_to_confirm"}


def test_an_expert_sees_their_invitations_and_opinions_only(land):
    panelled = land.panelled
    writer = land.engagements[1]
    found = kinds(todo.todo_for(panelled.user_of(writer.expert_id)))
    [opinion] = [entry for entry in found["opinion_to_write"] if entry.panel_request_id == land.served.id]
    assert opinion.engagement_id == writer.id and opinion.due_on == land.served.meeting_date
    # The expert who submitted has nothing left to write for that panel.
    submitted = kinds(todo.todo_for(panelled.user_of(land.engagements[0].expert_id)))
    assert land.served.id not in request_ids(submitted.get("opinion_to_write", []))
    invited = pending_of(land.short)
    assert invited
    for invitation in invited:
        entries = kinds(todo.todo_for(panelled.user_of(invitation.expert_id)))["invitation_to_answer"]
        assert [entry.invitation_id for entry in entries] == [invitation.id]
        assert entries[0].due_at == invitation.respond_by
    # Someone who declined has no open invitation on that panel.
    decliner = kinds(todo.todo_for(panelled.user_of(land.decliners[0])))
    assert land.short.id not in request_ids(decliner.get("invitation_to_answer", []))


def test_the_talent_office_sees_what_only_it_can_unblock(land):
    found = kinds(todo.todo_for(land.office))
    assert [entry.panel_request_id for entry in found["request_to_recommend"]] == [land.waiting.id]
    [vacancy] = found["vacancy_to_fill"]
    assert vacancy.panel_request_id == land.short.id and vacancy.count == land.open_seats
    assert "ratings_overdue" not in found
    land.after_due()
    [overdue] = kinds(todo.todo_for(land.office))["ratings_overdue"]
    assert overdue.panel_request_id == land.served.id and overdue.count == land.served.seats
    assert overdue.department == land.department.name and overdue.overdue


def test_roles_without_a_list_get_none(land):
    for role in (Role.ADMIN, Role.AUDITOR):
        assert todo.todo_for(land.user(role)) == []


def test_the_list_takes_a_fixed_number_of_queries(land):
    statements = []

    def count(*_args):
        statements.append(1)

    land.after_due()
    user = land.panelled.department_user
    todo.todo_for(user)  # the subtree and the policy are cached per request
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        entries = todo.entries_of(todo.todo_for(user))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(entries) >= 9
    # One query a section and the calendar's overrides once, however many rows.
    assert len(statements) <= len(todo.SECTIONS) + 1


def sign_in(app, user):
    client = app.test_client()
    assert login(client, user.username).status_code == 302
    return client


def page_rows(client):
    response = client.get("/todo")
    assert response.status_code == 200
    page = page_of(response)
    return page, [(row.get("data-kind"), int(row.get("data-panel-request-id")), row.get("data-link"))
                  for row in page.find_all("tr", cls="todo-entry")]


def api_rows(client) -> tuple[dict, list]:
    response = client.get("/api/v1/todo")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    body = response.get_json()
    return body, [(item["kind"], item["panel_request_id"], item["link"]) for item in body["items"]]


@pytest.mark.parametrize("who", ["department", "expert", "office"])
def test_the_page_and_the_api_list_the_same_entries_in_chinese(land, app, who):
    land.after_due()
    user = {"department": land.panelled.department_user, "office": land.office,
            "expert": land.panelled.user_of(land.engagements[1].expert_id)}[who]
    client = sign_in(app, user)
    page, rows = page_rows(client)
    body, items = api_rows(client)
    assert rows == items and body["count"] == len(rows) > 0
    assert body["role"] == user.role.value
    text = page.clean_text
    assert "待办事项" in text and f"共 {len(rows)} 项" in text
    assert "None" not in text and "null" not in text
    for group in todo.todo_for(user):
        section = page.by_id(f"todo-{group.section.kind}")
        assert group.section.label in section.clean_text
    overdue_rows = page.find_all("tr", cls="todo-entry", data_overdue="true")
    assert len(overdue_rows) == body["overdue"] == sum(item["overdue"] for item in body["items"])
    assert all("已逾期" in row.clean_text for row in overdue_rows)
    # The navigation entry carries the count.
    badge = page.by_id("todo-badge")
    assert badge is not None and badge.clean_text == str(len(rows))
    nav = page.find("a", data_endpoint="todo.index")
    assert nav.clean_text.startswith("待办")


def test_every_entry_links_to_where_it_is_done(land, app):
    land.after_due()
    department = sign_in(app, land.panelled.department_user)
    _, rows = page_rows(department)
    for kind, request_id, link in rows:
        assert link.startswith(f"/panel-requests/{request_id}") or link.startswith("/opinions/"), (kind, link)
        assert department.get(link.split("#")[0]).status_code == 200, link
    writer = land.panelled.user_of(land.engagements[1].expert_id)
    expert = sign_in(app, writer)
    _, rows = page_rows(expert)
    assert rows
    for kind, request_id, link in rows:
        if kind == "opinion_to_write" and "consultation.write_opinion" in app.view_functions:
            assert link.startswith("/engagements/")
        if kind == "invitation_to_answer" and "consultation.invitation" in app.view_functions:
            assert link.startswith("/my/invitations/")
        assert expert.get(link.split("#")[0]).status_code == 200, link


def test_without_anything_to_do_the_page_says_so(app, factory):
    client = sign_in(app, factory.user(Role.DEPARTMENT))
    page, rows = page_rows(client)
    assert rows == [] and page.by_id("todo-empty") is not None
    assert page.by_id("todo-badge") is None
    body, items = api_rows(client)
    assert body == {"role": "department", "count": 0, "overdue": 0, "items": []}
    admin = sign_in(app, factory.user(Role.ADMIN))
    page, rows = page_rows(admin)
    assert page.by_id("todo-no-list") is not None
    assert page.find("a", data_endpoint="todo.index") is None  # no navigation entry for the administrator


def test_signed_out_the_page_asks_to_sign_in_and_the_api_refuses(client):
    response = client.get("/todo")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    refused = client.get("/api/v1/todo")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthenticated"
