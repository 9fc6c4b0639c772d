"""What is waiting on whom: the signed-in user's to-do list (待办事项), and the chase of overdue ratings (催评).

The to-do list is read by role: a department sees what its own organisation
subtree has to do on its panels, an expert their own invitations and
opinions, the talent office what only it can unblock. Each section is one
query (aggregated in SQL, no query per row), so the navigation badge can
count the entries on every page.

The chase tells the requesting department of each engagement whose rating
window has passed (DOMAIN.md step 9: "missing ratings are chased"), at most
once per panel and chase interval, and the talent office once an engagement
is overdue by more than the escalation rule. Which chases went out is read
back from the notifications themselves (same kind and link), so the chase
needs no table of its own.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Iterable

import sqlalchemy as sa
from flask import current_app, g, has_app_context, url_for

from experts_service.accounts.models import User
from experts_service.consultation.engagements import SERVING_STATUSES, overdue_ratings
from experts_service.consultation.models import (
    AdoptionFeedback,
    Attendance,
    AttendanceRecord,
    EngagementRating,
    Invitation,
    InvitationStatus,
    Opinion,
)
from experts_service.core import audit
from experts_service.core.auth import Role, can
from experts_service.core.auth_scope import organisation_subtree_ids
from experts_service.core.clock import display_zone, now, today
from experts_service.experts.models import Expert
from experts_service.extensions import db
from experts_service.lifecycle.workdays import _national_workday, _overrides, add_working_days
from experts_service.notifications.models import Notification
from experts_service.notifications.operations import notify, users_of_organisation, users_with_role
from experts_service.panels.models import (
    ConsultationMode,
    DecisionItem,
    Engagement,
    EngagementStatus,
    PanelRequest,
    PanelRequestStatus,
    Recommendation,
)
from experts_service.policy import current_policy
from experts_service.reference.models import Organisation

# ---------------------------------------------------------------- the sections


@dataclass(frozen=True)
class Section:
    kind: str
    label: str
    role: Role
    # Checked as well as the role: a section shows only to who may do what it asks.
    permission: str
    # What the entries' day is (the page's column heading).
    due_label: str


SECTIONS: tuple[Section, ...] = (
    Section("panel_to_confirm", "待确认的专家组", Role.DEPARTMENT, "panel.confirm", "最晚确认日"),
    Section("seats_open", "谢绝后仍有空缺的专家组", Role.DEPARTMENT, "invitation.read_panel", "论证日期"),
    Section("attendance_to_record", "待记录出席情况", Role.DEPARTMENT, "attendance.record", "会议日期"),
    Section("adoption_to_record", "待反馈采纳情况的意见", Role.DEPARTMENT, "adoption.record", "期限"),
    Section("rating_to_give", "待评价的专家", Role.DEPARTMENT, "rating.record", "评价截止"),
    Section("invitation_to_answer", "待答复的论证邀请", Role.EXPERT, "invitation.answer", "答复截止"),
    Section("opinion_to_write", "待撰写或提交的书面意见", Role.EXPERT, "opinion.write", "意见期限"),
    Section("request_to_recommend", "待产生人选的论证申请", Role.TALENT_OFFICE, "recommendation.run", "最晚确认日"),
    Section("vacancy_to_fill", "无可递补专家的空缺", Role.TALENT_OFFICE, "recommendation.replace", "论证日期"),
    Section("ratings_overdue", "各部门逾期未评价", Role.TALENT_OFFICE, "panel_request.read", "评价截止"),
)
SECTIONS_BY_KIND = {section.kind: section for section in SECTIONS}
# Roles with a to-do list (the navigation entry shows to these).
TODO_ROLES = tuple(dict.fromkeys(section.role for section in SECTIONS))


@dataclass(frozen=True)
class TodoEntry:
    """One thing to do, with what the page, the API and the link need (plain values, no lazy loads)."""

    kind: str
    panel_request_id: int
    item_title: str
    department: str
    text: str
    due_on: date | None = None
    due_at: datetime | None = None
    overdue: bool = False
    expert_name: str | None = None
    count: int | None = None
    engagement_id: int | None = None
    invitation_id: int | None = None
    opinion_id: int | None = None

    @property
    def section(self) -> Section:
        return SECTIONS_BY_KIND[self.kind]

    @property
    def link(self) -> str:
        return link_of(self)


@dataclass
class SectionEntries:
    section: Section
    entries: list[TodoEntry] = field(default_factory=list)


# Where each entry is done: (endpoint, its id argument, the request page's anchor when the endpoint is missing).
# The consultation pages are being built: until an endpoint exists the entry links to the panel request page.
_TARGETS = {
    "panel_to_confirm": (None, None, "panel-confirm"),
    "seats_open": (None, None, "panel-members"),
    "attendance_to_record": (None, None, "panel-members"),
    "adoption_to_record": ("consultation.opinion", "opinion_id", "panel-members"),
    "rating_to_give": (None, None, "panel-members"),
    "invitation_to_answer": ("consultation.invitation", "invitation_id", None),
    "opinion_to_write": ("consultation.write_opinion", "engagement_id", None),
    "request_to_recommend": (None, None, "run-panel"),
    "vacancy_to_fill": (None, None, "panel-members"),
    "ratings_overdue": (None, None, "panel-members"),
}


def link_of(entry: TodoEntry) -> str:
    endpoint, argument, anchor = _TARGETS[entry.kind]
    if endpoint is not None and endpoint in current_app.view_functions:
        return url_for(endpoint, **{argument: getattr(entry, argument)})
    return url_for("panels.panel_request", request_id=entry.panel_request_id, _anchor=anchor)


# ---------------------------------------------------------------- working days, read once


class WorkingCalendar:
    """Working days of a span of dates with the local overrides read in one query.

    lifecycle.workdays reads the overrides on every call; a list of a
    hundred engagements would be a hundred queries. Past the span it falls
    back to the one-call version.
    """

    def __init__(self, first: date, last: date):
        self.first, self.last = first, last
        self._overrides = _overrides(first, last) if first <= last else {}
        self._memo: dict[tuple[date, int], date] = {}

    @classmethod
    def around(cls, days: Iterable[date], *counts: int) -> WorkingCalendar:
        days = list(days)
        if not days:
            return cls(date.max, date.min)
        # As generous as add_working_days: the longest national holiday run is about 9 days.
        return cls(min(days), max(days) + timedelta(days=sum(counts) * 3 + 31))

    def nth_working_day(self, start: date, count: int) -> date:
        """The `count`-th working day on or after `start` (add_working_days' last day)."""
        key = (start, count)
        if key not in self._memo:
            self._memo[key] = self._count(start, count)
        return self._memo[key]

    def _count(self, start: date, count: int) -> date:
        day, found = start, 0
        while self.first <= day <= self.last:
            if self._overrides.get(day, _national_workday(day)):
                found += 1
                if found == count:
                    return day
            day += timedelta(days=1)
        return add_working_days(start, count)[1]

    def rating_due_on(self, engaged_on: date, policy) -> date:
        """engagements.rating_due_on for a consultation day."""
        return self.nth_working_day(engaged_on + timedelta(days=1), policy.rating_window_working_days)

    def escalation_after(self, due_on: date, policy) -> date:
        """The last day before the talent office is told: the rule's number of working days after the due day."""
        return self.nth_working_day(due_on + timedelta(days=1), policy.rating_escalation_days)


# ---------------------------------------------------------------- the to-do list


def todo_for(actor, day: date | None = None) -> list[SectionEntries]:
    """The actor's to-do list, section by section (empty sections left out); overdue entries first in each."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return []
    day = day or today()
    policy = current_policy()
    scope = _scope(actor)
    found = []
    for section in SECTIONS:
        if section.role is not actor.role or not can(actor, section.permission):
            continue
        entries = _BUILDERS[section.kind](actor, scope, day, policy)
        if entries:
            entries.sort(key=_order)
            found.append(SectionEntries(section, entries))
    return found


def _order(entry: TodoEntry) -> tuple:
    """Overdue first, then by the day (or time) it is due, then stably by the records named."""
    return (not entry.overdue, entry.due_on or date.max, entry.due_at.timestamp() if entry.due_at else float("inf"),
            entry.panel_request_id, entry.engagement_id or 0, entry.invitation_id or 0, entry.opinion_id or 0)


def entries_of(sections: list[SectionEntries]) -> list[TodoEntry]:
    return [entry for section in sections for entry in section.entries]


def todo_count(actor) -> int:
    """The navigation badge: how many entries the actor's list has (once per request)."""
    if actor is None or not getattr(actor, "is_authenticated", False) or actor.role not in TODO_ROLES:
        return 0
    counts = g.setdefault("todo_counts", {}) if has_app_context() else {}
    if actor.id not in counts:
        counts[actor.id] = len(entries_of(todo_for(actor)))
    return counts[actor.id]


def _scope(actor) -> frozenset[int] | None:
    """A department's organisation subtree; None: every organisation (the talent office), or not used."""
    if actor.role is Role.DEPARTMENT:
        return organisation_subtree_ids(actor.organisation_id)
    return None


def _in_scope(column, scope: frozenset[int] | None):
    return sa.true() if scope is None else column.in_(sorted(scope))


_CONSULTATION_DAY = sa.func.coalesce(PanelRequest.meeting_date, PanelRequest.deadline)
# What every entry names: the request, its mode and day, the item and the requesting department.
_REQUEST_COLUMNS = (PanelRequest.id.label("request_id"), PanelRequest.mode, PanelRequest.meeting_date,
                    PanelRequest.meeting_time, PanelRequest.meeting_end_time, PanelRequest.deadline,
                    DecisionItem.title, DecisionItem.confidential, Organisation.name.label("department"))


def _requests(*columns):
    return (sa.select(*_REQUEST_COLUMNS, *columns)
            .join(DecisionItem, PanelRequest.item_id == DecisionItem.id)
            .join(Organisation, DecisionItem.organisation_id == Organisation.id))


def _day_of(row) -> date:
    return row.meeting_date if row.mode is ConsultationMode.MEETING else row.deadline


def _day_words(row) -> str:
    return f"会议 {row.meeting_date:%Y-%m-%d}" if row.mode is ConsultationMode.MEETING else \
        f"意见截止 {row.deadline:%Y-%m-%d}"


def _entry(kind: str, row, text: str, **extra) -> TodoEntry:
    return TodoEntry(kind=kind, panel_request_id=row.request_id, item_title=row.title, department=row.department,
                     text=text, **extra)


def _invite_by(row, policy) -> date:
    """The last day invitations can still go out in time (the hard minimum before the consultation)."""
    return _day_of(row) - timedelta(days=policy.invitation_min_days)


# Department ------------------------------------------------------------------


def _panels_to_confirm(actor, scope, day, policy) -> list[TodoEntry]:
    """Recommended requests whose latest record is compliant (only the latest can be confirmed)."""
    latest = (sa.select(Recommendation.panel_request_id, sa.func.max(Recommendation.id).label("id"))
              .group_by(Recommendation.panel_request_id).subquery())
    rows = db.session.execute(
        _requests(Recommendation.id.label("recommendation_id"))
        .join(latest, latest.c.panel_request_id == PanelRequest.id)
        .join(Recommendation, Recommendation.id == latest.c.id)
        .where(PanelRequest.status == PanelRequestStatus.RECOMMENDED,
               Recommendation.result["compliant"].as_boolean().is_(True),
               _in_scope(DecisionItem.organisation_id, scope))
    ).all()
    entries = []
    for row in rows:
        by = _invite_by(row, policy)
        late = day > by
        text = (f"推荐记录 {row.recommendation_id} 符合全部规则，请确认专家组并发出邀请（{_day_words(row)}）"
                if not late else f"已来不及在{_day_words(row)}前 {policy.invitation_min_days} 天发出邀请，"
                                 f"请调整日期后再确认")
        entries.append(_entry("panel_to_confirm", row, text, due_on=by, overdue=late))
    return entries


def _open_seats(scope, day):
    """Confirmed requests, consultation still ahead, with fewer accepted and waiting invitations than seats."""
    taken = (sa.select(Invitation.panel_request_id, sa.func.count(Invitation.id).label("taken"))
             .where(Invitation.status.in_((InvitationStatus.ACCEPTED, InvitationStatus.PENDING)))
             .group_by(Invitation.panel_request_id).subquery())
    open_seats = PanelRequest.seats - sa.func.coalesce(taken.c.taken, 0)
    return db.session.execute(
        _requests(PanelRequest.seats, open_seats.label("open"))
        .outerjoin(taken, taken.c.panel_request_id == PanelRequest.id)
        .where(PanelRequest.status == PanelRequestStatus.CONFIRMED, open_seats > 0, _CONSULTATION_DAY >= day,
               _in_scope(DecisionItem.organisation_id, scope))
    ).all()


def _seats_open(actor, scope, day, policy) -> list[TodoEntry]:
    return [_entry("seats_open", row, f"专家组 {row.seats} 人尚缺 {row.open} 人，暂无符合规则的递补专家，"
                                      f"请与人才工作部门协调（{_day_words(row)}）",
                   due_on=_day_of(row), count=row.open)
            for row in _open_seats(scope, day)]


def _meeting_over(row, at: datetime) -> bool:
    """A meeting is over at its end time, else its start; without times, at the end of its day."""
    zone = display_zone()
    ends = row.meeting_end_time or row.meeting_time
    over = (datetime.combine(row.meeting_date, ends, tzinfo=zone) if ends is not None
            else datetime.combine(row.meeting_date + timedelta(days=1), time(0), tzinfo=zone))
    return at >= over


def _attendance_to_record(actor, scope, day, policy) -> list[TodoEntry]:
    rows = db.session.execute(
        _requests(sa.func.count(Engagement.id).label("missing"))
        .join(Engagement, Engagement.panel_request_id == PanelRequest.id)
        .outerjoin(AttendanceRecord, AttendanceRecord.engagement_id == Engagement.id)
        .where(AttendanceRecord.id.is_(None), Engagement.status != EngagementStatus.CANCELLED,
               PanelRequest.mode == ConsultationMode.MEETING, PanelRequest.status.in_(SERVING_STATUSES),
               PanelRequest.meeting_date <= day, _in_scope(Engagement.organisation_id, scope))
        .group_by(*_REQUEST_COLUMNS)
    ).all()
    at = now()
    return [_entry("attendance_to_record", row, f"{row.meeting_date:%Y-%m-%d} 的论证会已结束，"
                                                f"{row.missing} 位专家的出席情况尚未记录",
                   due_on=row.meeting_date, count=row.missing)
            for row in rows if _meeting_over(row, at)]


def _adoption_to_record(actor, scope, day, policy) -> list[TodoEntry]:
    rows = db.session.execute(
        _requests(Opinion.id.label("opinion_id"), Opinion.submitted_at, Expert.name.label("expert_name"))
        .join(Opinion, Opinion.panel_request_id == PanelRequest.id)
        .join(Expert, Opinion.expert_id == Expert.id)
        .outerjoin(AdoptionFeedback, AdoptionFeedback.opinion_id == Opinion.id)
        .where(Opinion.submitted_at.is_not(None), AdoptionFeedback.id.is_(None),
               PanelRequest.status != PanelRequestStatus.CANCELLED, _in_scope(DecisionItem.organisation_id, scope))
    ).all()
    return [_entry("adoption_to_record", row, f"{row.expert_name}的书面意见已于 {_local(row.submitted_at):%Y-%m-%d} "
                                              f"提交，请反馈采纳情况",
                   expert_name=row.expert_name, opinion_id=row.opinion_id)
            for row in rows]


def _unrated(scope, day):
    """Engagements of a serving panel, consultation held, not rated (the rows overdue_ratings reads)."""
    return db.session.execute(
        _requests(Engagement.id.label("engagement_id"), Engagement.engaged_on, Expert.name.label("expert_name"))
        .join(Engagement, Engagement.panel_request_id == PanelRequest.id)
        .join(Expert, Engagement.expert_id == Expert.id)
        .outerjoin(EngagementRating, EngagementRating.engagement_id == Engagement.id)
        .where(EngagementRating.id.is_(None), Engagement.status != EngagementStatus.CANCELLED,
               Engagement.engaged_on <= day, PanelRequest.status.in_(SERVING_STATUSES),
               _in_scope(Engagement.organisation_id, scope))
    ).all()


def _rating_to_give(actor, scope, day, policy) -> list[TodoEntry]:
    rows = _unrated(scope, day)
    calendar = WorkingCalendar.around((row.engaged_on for row in rows), policy.rating_window_working_days)
    entries = []
    for row in rows:
        due = calendar.rating_due_on(row.engaged_on, policy)
        late = due < day
        text = (f"请尽快为{row.expert_name}评价（应于 {due:%Y-%m-%d} 前完成）" if late
                else f"请为{row.expert_name}评价（{due:%Y-%m-%d} 前完成）")
        entries.append(_entry("rating_to_give", row, text, due_on=due, overdue=late, expert_name=row.expert_name,
                              engagement_id=row.engagement_id))
    return entries


# Expert ----------------------------------------------------------------------


def _invitation_to_answer(actor, scope, day, policy) -> list[TodoEntry]:
    rows = db.session.execute(
        _requests(Invitation.id.label("invitation_id"), Invitation.respond_by)
        .join(Invitation, Invitation.panel_request_id == PanelRequest.id)
        .where(Invitation.expert_id == actor.expert_id, Invitation.status == InvitationStatus.PENDING,
               Invitation.respond_by >= now(), PanelRequest.status == PanelRequestStatus.CONFIRMED)
    ).all()
    return [_entry("invitation_to_answer", row,
                   f"{row.department}邀请您参加{row.mode.label}（{_day_words(row)}），请于 "
                   f"{_local(row.respond_by):%Y-%m-%d %H:%M} 前答复",
                   due_at=_local(row.respond_by), invitation_id=row.invitation_id)
            for row in rows]


def _local(value: datetime) -> datetime:
    return value.astimezone(display_zone())


def _opinion_to_write(actor, scope, day, policy) -> list[TodoEntry]:
    rows = db.session.execute(
        _requests(Engagement.id.label("engagement_id"), Opinion.id.label("draft_id"))
        .join(Engagement, Engagement.panel_request_id == PanelRequest.id)
        .outerjoin(Opinion, Opinion.engagement_id == Engagement.id)
        .outerjoin(AttendanceRecord, AttendanceRecord.engagement_id == Engagement.id)
        .where(Engagement.expert_id == actor.expert_id, Engagement.status != EngagementStatus.CANCELLED,
               PanelRequest.status.in_(SERVING_STATUSES), Opinion.submitted_at.is_(None),
               # An expert recorded absent has no opinion to give.
               sa.or_(AttendanceRecord.id.is_(None), AttendanceRecord.attendance != Attendance.ABSENT))
    ).all()
    entries = []
    for row in rows:
        due = _day_of(row)
        verb = "继续填写并提交" if row.draft_id is not None else "撰写并提交"
        when = "会议日期" if row.mode is ConsultationMode.MEETING else "截止日期"
        entries.append(_entry("opinion_to_write", row, f"请{verb}书面意见（{when} {due:%Y-%m-%d}）", due_on=due,
                              overdue=day > due, engagement_id=row.engagement_id,
                              opinion_id=row.draft_id))
    return entries


# Talent office ---------------------------------------------------------------


def _request_to_recommend(actor, scope, day, policy) -> list[TodoEntry]:
    any_record = sa.exists().where(Recommendation.panel_request_id == PanelRequest.id)
    rows = db.session.execute(
        _requests(PanelRequest.seats, PanelRequest.selection_method)
        .where(PanelRequest.status == PanelRequestStatus.SUBMITTED, ~any_record)
    ).all()
    entries = []
    for row in rows:
        by = _invite_by(row, policy)
        entries.append(_entry("request_to_recommend", row,
                              f"{row.department}申请 {row.seats} 位专家（{row.mode.label}，{_day_words(row)}），"
                              f"请以“{row.selection_method.label}”方式产生人选",
                              due_on=by, overdue=day > by, count=row.seats))
    return entries


def _vacancy_to_fill(actor, scope, day, policy) -> list[TodoEntry]:
    return [_entry("vacancy_to_fill", row, f"{row.department}的专家组尚缺 {row.open} 人，无符合全部规则的递补专家，"
                                           f"请重新安排（{_day_words(row)}）",
                   due_on=_day_of(row), count=row.open)
            for row in _open_seats(None, day)]


def _ratings_overdue(actor, scope, day, policy) -> list[TodoEntry]:
    """Overdue ratings across departments, one entry per panel."""
    rows = _unrated(None, day)
    calendar = WorkingCalendar.around((row.engaged_on for row in rows), policy.rating_window_working_days)
    by_request: dict[int, list] = defaultdict(list)
    for row in rows:
        due = calendar.rating_due_on(row.engaged_on, policy)
        if due < day:
            by_request[row.request_id].append((row, due))
    entries = []
    for overdue in by_request.values():
        row, due = min(overdue, key=lambda pair: pair[1])
        names = "、".join(r.expert_name for r, _ in overdue)
        entries.append(_entry("ratings_overdue", row, f"{row.department}尚未评价 {len(overdue)} 位专家：{names}"
                                                      f"（应于 {due:%Y-%m-%d} 前完成）",
                              due_on=due, overdue=True, count=len(overdue)))
    return entries


_BUILDERS = {
    "panel_to_confirm": _panels_to_confirm,
    "seats_open": _seats_open,
    "attendance_to_record": _attendance_to_record,
    "adoption_to_record": _adoption_to_record,
    "rating_to_give": _rating_to_give,
    "invitation_to_answer": _invitation_to_answer,
    "opinion_to_write": _opinion_to_write,
    "request_to_recommend": _request_to_recommend,
    "vacancy_to_fill": _vacancy_to_fill,
    "ratings_overdue": _ratings_overdue,
}


# ---------------------------------------------------------------- the chase (催评)

CHASE_KIND = "rating.chase"
ESCALATION_KIND = "rating.escalated"


@dataclass(frozen=True)
class Overdue:
    """An overdue rating as plain values, so a department's commit never reloads the others' rows."""

    engagement_id: int
    panel_request_id: int
    engaged_on: date


@dataclass
class ChaseOutcome:
    organisation_id: int
    overdue: int = 0
    # Panel requests the department was told about, and those already told within the interval.
    chased: list[int] = field(default_factory=list)
    recently_chased: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    recipients: int = 0
    # Told nobody: the department has no active account.
    unreachable: bool = False


def overdue_by_department(day: date | None = None) -> dict[int, list[Overdue]]:
    """Every overdue rating (engagements.overdue_ratings), by the requesting department."""
    grouped: dict[int, list[Overdue]] = defaultdict(list)
    for engagement in overdue_ratings(None, day):
        grouped[engagement.organisation_id].append(
            Overdue(engagement.id, engagement.panel_request_id, engagement.engaged_on))
    return dict(grouped)


def chase_link(panel_request_id: int) -> str:
    """Where the chase points: the panel on the request page, where the department rates (the dedupe key too)."""
    return f"/panel-requests/{panel_request_id}#panel-members"


def _chase_window_start(day: date, policy) -> datetime:
    """The interval counts local calendar days: chased on day D, again from day D + interval.

    Counting from the local midnight, not the hour of the last run, so a daily job a few minutes early
    is not pushed back a whole day.
    """
    first = day - timedelta(days=policy.rating_chase_interval_days - 1)
    return datetime.combine(first, time(0), tzinfo=display_zone())


def _links_sent(kind: str, links: Iterable[str], since: datetime | None) -> set[str]:
    query = sa.select(Notification.link).where(Notification.kind == kind, Notification.link.in_(sorted(links)))
    if since is not None:
        query = query.where(Notification.created_at >= since)
    return set(db.session.execute(query.distinct()).scalars())


def _lock_organisation(organisation_id: int) -> None:
    """Two chases of one department at once would both read "not told yet": serialise them on its row."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(Organisation.id).where(Organisation.id == organisation_id).with_for_update())
    else:
        db.session.execute(sa.text("UPDATE organisations SET id = id WHERE id = :id"), {"id": organisation_id})


def _notify_dated(users: list[User], kind: str, subject: str, body: str, link: str, confidential: bool) -> int:
    made = notify(users, kind, subject, body, link=link, confidential=confidential)
    for notification in made:
        # Dated by the service's clock, which the interval is counted on (an operator may replay a day).
        notification.created_at = now()
    db.session.flush()
    return len(made)


def chase_department(organisation_id: int, overdue: list[Overdue], day: date | None = None) -> ChaseOutcome:
    """Tell one department of its overdue ratings, one message per panel; escalate the long overdue.

    Flushes, never commits: the command commits once per department.
    """
    day = day or today()
    policy = current_policy()
    _lock_organisation(organisation_id)
    # Read before this transaction: drop what was rated since.
    rated = set(db.session.execute(sa.select(EngagementRating.engagement_id).where(
        EngagementRating.engagement_id.in_(sorted(ref.engagement_id for ref in overdue)))).scalars())
    overdue = [ref for ref in overdue if ref.engagement_id not in rated]
    outcome = ChaseOutcome(organisation_id, overdue=len(overdue))
    if not overdue:
        return outcome
    by_request: dict[int, list[Overdue]] = defaultdict(list)
    for ref in overdue:
        by_request[ref.panel_request_id].append(ref)
    links = {request_id: chase_link(request_id) for request_id in by_request}
    told = _links_sent(CHASE_KIND, links.values(), _chase_window_start(day, policy))
    escalated_before = _links_sent(ESCALATION_KIND, links.values(), None)
    requests = {row.request_id: row for row in db.session.execute(
        _requests().where(PanelRequest.id.in_(sorted(by_request))))}
    names = dict(db.session.execute(
        sa.select(Engagement.id, Expert.name).join(Expert, Engagement.expert_id == Expert.id)
        .where(Engagement.id.in_(sorted(ref.engagement_id for ref in overdue)))).all())
    department_users = [user for user in users_of_organisation(organisation_id) if user.active]
    office_users = None
    calendar = WorkingCalendar.around((ref.engaged_on for ref in overdue), policy.rating_window_working_days,
                                      policy.rating_escalation_days)
    for request_id, refs in sorted(by_request.items()):
        row, link = requests[request_id], links[request_id]
        due = min(calendar.rating_due_on(ref.engaged_on, policy) for ref in refs)
        experts = "、".join(names[ref.engagement_id] for ref in sorted(refs, key=lambda r: r.engagement_id))
        if link in told:
            outcome.recently_chased.append(request_id)
        elif department_users:
            outcome.recipients += _notify_dated(
                department_users, CHASE_KIND, f"评价逾期：{row.title}",
                f"您单位“{row.title}”（{_day_words(row)}）的专家评价应于 {due:%Y-%m-%d} 前完成，"
                f"以下 {len(refs)} 位专家尚未评价：{experts}。请尽快评价。", link, row.confidential)
            outcome.chased.append(request_id)
        if link not in escalated_before and day > calendar.escalation_after(due, policy):
            office_users = users_with_role(Role.TALENT_OFFICE) if office_users is None else office_users
            if _notify_dated(office_users, ESCALATION_KIND, f"评价逾期超过 {policy.rating_escalation_days} 个工作日："
                             f"{row.title}",
                             f"{row.department}“{row.title}”（{_day_words(row)}）的专家评价应于 {due:%Y-%m-%d} "
                             f"前完成，逾期已超过 {policy.rating_escalation_days} 个工作日，{len(refs)} 位专家尚未评价："
                             f"{experts}。请督促。", link, row.confidential):
                outcome.escalated.append(request_id)
    outcome.unreachable = not department_users
    if outcome.chased or outcome.escalated:
        audit.record(None, "rating.chase", "organisation", organisation_id,
                     chased=outcome.chased, escalated=outcome.escalated,
                     engagements=sorted(ref.engagement_id for ref in overdue
                                        if ref.panel_request_id in {*outcome.chased, *outcome.escalated}),
                     recipients=outcome.recipients, interval_days=policy.rating_chase_interval_days,
                     escalation_days=policy.rating_escalation_days)
    return outcome
