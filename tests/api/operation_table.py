"""Every operation of the JSON API, with the permission that governs it.

The role-matrix test derives each role's expected status from
core.auth.PERMISSIONS through this table, and checks that the table and the
app's url_map name exactly the same (rule, method) pairs, so an endpoint
added without a row here fails the suite.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable

from experts_service.core.auth import PERMISSIONS, Role
from tests.conftest import TEST_PASSWORD

# Pseudo-permissions for the endpoints outside the PERMISSIONS table.
PUBLIC = "public"  # no sign-in needed: the sign-in endpoint, public notices and objections
SIGNED_IN = "signed_in"  # any signed-in user, whatever the role


@dataclass(frozen=True)
class Subjects:
    """The records an operation acts on. The department user belongs to
    `organisation_id` and the expert user is `expert_id`, so OWN scope is
    satisfied and the matrix tests the role gate alone (scope has its own tests)."""

    expert_id: int
    organisation_id: int
    username: str  # whose credentials POST /auth/token sends
    new_expert_payload: dict
    # A decision item of `organisation_id`, a panel request under it and a compliant recommendation for it.
    item_id: int = 0
    request_id: int = 0
    recommendation_id: int = 0
    recommendation_member_id: int = 0
    # Lifecycle records by role in the test (see tests/lifecycle/subjects.py).
    lifecycle: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # exactly as in app.url_map
    permission: str
    success_status: int
    body: Callable[[Subjects], dict] | None = None
    # Path ids other than the shared ones (e.g. an application in a given stage).
    path_ids: Callable[[Subjects], dict] | None = None
    json_response: bool = True
    files: Callable[[], dict] | None = None  # a multipart upload instead of a JSON body

    @property
    def label(self) -> str:
        return f"{self.method} {self.rule.removeprefix('/api/v1')}"

    def url(self, subjects: Subjects) -> str:
        ids = {"expert_id": subjects.expert_id, "organisation_id": subjects.organisation_id,
               "item_id": subjects.item_id, "request_id": subjects.request_id,
               "recommendation_id": subjects.recommendation_id,
               **(self.path_ids(subjects) if self.path_ids else {})}
        return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(ids[match.group(1)]), self.rule)

    def expected_status(self, role: Role | None) -> int:
        if self.permission == PUBLIC:
            return self.success_status
        if role is None:
            return 401
        if self.permission == SIGNED_IN or role in PERMISSIONS[self.permission]:
            return self.success_status
        return 403


def _app(key: str) -> Callable[[Subjects], dict]:
    return lambda s: {"application_id": s.lifecycle[key]}


def _ids(**keys: str) -> Callable[[Subjects], dict]:
    return lambda s: {name: s.lifecycle[key] for name, key in keys.items()}


LIFECYCLE_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/v1/applications", "application.read", 200),
    Operation("POST", "/api/v1/applications", "application.create", 201, lambda s: s.lifecycle["new_application"]),
    Operation("GET", "/api/v1/applications/<id:application_id>", "application.read", 200, path_ids=_app("owned")),
    Operation("POST", "/api/v1/applications/<id:application_id>/documents", "application.create", 201,
              path_ids=_app("open"), files=lambda: {"file": ("证书.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}),
    Operation("POST", "/api/v1/applications/<id:application_id>/override", "application.review", 200,
              lambda s: {"reason": "矩阵测试：特殊人才"}, path_ids=_app("failed")),
    Operation("POST", "/api/v1/applications/<id:application_id>/decisions", "application.review", 200,
              lambda s: {"action": "qualify"}, path_ids=_app("open")),
    Operation("POST", "/api/v1/applications/<id:application_id>/votes", "application.vote", 201,
              lambda s: {"vote": "approve", "comment": "矩阵测试：同意"}, path_ids=_app("voting")),
    Operation("GET", "/api/v1/notices", PUBLIC, 200),
    Operation("POST", "/api/v1/notices/<id:application_id>/objections", PUBLIC, 201,
              lambda s: {"name": "李群众", "contact": "13800001111", "content": "矩阵测试异议"}, path_ids=_app("noticed")),
    Operation("GET", "/api/v1/documents/<id:document_id>", "document.read", 200, path_ids=_ids(document_id="document"),
              json_response=False),
    Operation("POST", "/api/v1/objections/<id:objection_id>/resolution", "application.review", 200,
              lambda s: {"outcome": "dismissed", "resolution": "矩阵测试：不成立"}, path_ids=_ids(objection_id="objection")),
    Operation("POST", "/api/v1/experts/<id:expert_id>/status", "lifecycle.manage", 200,
              lambda s: {"action": "suspend", "reason": "矩阵测试"}),
    Operation("POST", "/api/v1/experts/<id:expert_id>/resignation", "expert.self_service", 200,
              lambda s: {"reason": "矩阵测试：工作调动"}),
    Operation("POST", "/api/v1/experts/<id:expert_id>/tier", "lifecycle.manage", 200,
              lambda s: {"tier_id": s.lifecycle["core_tier"], "reason": "矩阵测试：晋级"}),
    Operation("GET", "/api/v1/experts/<id:expert_id>/history", "expert.read", 200),
    Operation("POST", "/api/v1/experts/<id:expert_id>/unavailable-periods", "expert.self_service", 201,
              lambda s: {"starts_on": "2030-01-01", "ends_on": "2030-01-31", "reason": "出国访学"}),
    Operation("DELETE", "/api/v1/unavailable-periods/<id:period_id>", "expert.self_service", 204,
              path_ids=_ids(period_id="period")),
    Operation("POST", "/api/v1/experts/<id:expert_id>/conflict-declarations", "expert.self_service", 201,
              lambda s: {"kind": "organisation", "organisation_id": s.organisation_id, "relationship_note": "承担课题"}),
    Operation("DELETE", "/api/v1/conflict-declarations/<id:declaration_id>", "expert.self_service", 204,
              path_ids=_ids(declaration_id="declaration")),
    Operation("POST", "/api/v1/experts/<id:expert_id>/change-requests", "expert.self_service", 201,
              lambda s: {"title_name": "研究员"}),
    Operation("GET", "/api/v1/change-requests", "lifecycle.read", 200),
    Operation("POST", "/api/v1/change-requests/<id:change_id>/decision", "lifecycle.manage", 200,
              lambda s: {"confirm": True}, path_ids=_ids(change_id="change")),
    Operation("GET", "/api/v1/renewals", "lifecycle.read", 200),
    Operation("POST", "/api/v1/renewals/<id:renewal_id>/decision", "lifecycle.manage", 200,
              lambda s: {"renew": False, "reason": "矩阵测试"}, path_ids=_ids(renewal_id="renewal")),
    Operation("POST", "/api/v1/review-groups/<id:domain_id>/members", "lifecycle.manage", 201,
              lambda s: {"expert_id": s.expert_id}, path_ids=_ids(domain_id="other_domain")),
    Operation("DELETE", "/api/v1/review-groups/<id:domain_id>/members/<id:expert_id>", "lifecycle.manage", 204,
              path_ids=_ids(domain_id="group_domain")),
    Operation("GET", "/api/v1/calendar-overrides", "calendar.read", 200),
    Operation("POST", "/api/v1/calendar-overrides", "calendar.manage", 201,
              lambda s: {"day": "2030-05-06", "is_workday": False, "note": "本市调休"}),
    Operation("DELETE", "/api/v1/calendar-overrides/<id:override_id>", "calendar.manage", 204,
              path_ids=_ids(override_id="override")),
)

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _roster_with_a_bad_row() -> bytes:
    import io

    import openpyxl

    from experts_service.experts.roster_excel import COLUMNS

    workbook = openpyxl.Workbook()
    workbook.active.append([column.header for column in COLUMNS])
    workbook.active.append(["矩阵测试"])  # a name and nothing else
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _c(**keys: str) -> Callable[[Subjects], dict]:
    """Path ids from the consultation subjects (tests/consultation/subjects.py)."""
    return lambda s: {name: s.lifecycle[key] for name, key in keys.items()}


_OPINION = {"necessity": "矩阵", "legality": "矩阵", "feasibility": "矩阵", "risks": "矩阵", "suggestions": "矩阵",
            "conclusion": "agree"}
_RATING = {"quality": 30, "professionalism": 25, "punctuality": 15, "discipline": 15, "confidentiality": 15}

CONSULTATION_OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/api/v1/panel-requests/<id:request_id>/confirmation", "panel.confirm", 201,
              lambda s: {"recommendation_id": s.lifecycle["recommended_record"]},
              path_ids=_c(request_id="recommended_request")),
    Operation("GET", "/api/v1/panel-requests/<id:request_id>/invitations", "invitation.read_panel", 200,
              path_ids=_c(request_id="confirmed_request")),
    Operation("GET", "/api/v1/invitations/mine", "invitation.answer", 200),
    Operation("GET", "/api/v1/invitations/<id:invitation_id>", "invitation.read", 200,
              path_ids=_c(invitation_id="invitation")),
    Operation("POST", "/api/v1/invitations/<id:invitation_id>/accept", "invitation.answer", 200,
              path_ids=_c(invitation_id="invitation")),
    Operation("POST", "/api/v1/invitations/<id:invitation_id>/decline", "invitation.answer", 200,
              lambda s: {"reason": "矩阵测试：另有安排"}, path_ids=_c(invitation_id="invitation")),
    Operation("PUT", "/api/v1/engagements/<id:engagement_id>/attendance", "attendance.record", 200,
              lambda s: {"attendance": "on_time"}, path_ids=_c(engagement_id="engagement")),
    Operation("PUT", "/api/v1/engagements/<id:engagement_id>/opinion", "opinion.write", 200,
              lambda s: {"necessity": "草稿"}, path_ids=_c(engagement_id="fresh_engagement")),
    Operation("POST", "/api/v1/engagements/<id:engagement_id>/opinion/submission", "opinion.write", 201,
              lambda s: dict(_OPINION), path_ids=_c(engagement_id="fresh_engagement")),
    Operation("POST", "/api/v1/engagements/<id:engagement_id>/rating", "rating.record", 201,
              lambda s: dict(_RATING), path_ids=_c(engagement_id="engagement")),
    Operation("GET", "/api/v1/engagements/overdue-ratings", "rating.record", 200),
    Operation("GET", "/api/v1/opinions/<id:opinion_id>", "opinion.read", 200,
              path_ids=_c(opinion_id="signed_opinion")),
    Operation("DELETE", "/api/v1/opinions/<id:opinion_id>", "opinion.write", 204,
              path_ids=_c(opinion_id="draft_opinion"), json_response=False),
    Operation("PUT", "/api/v1/opinions/<id:opinion_id>/adoption", "adoption.record", 200,
              lambda s: {"decision": "adopted"}, path_ids=_c(opinion_id="signed_opinion")),
    Operation("GET", "/api/v1/public/adoption-feedback", PUBLIC, 200),
    # The panel report and the background materials (consultation.report_api); a download is an audited POST.
    Operation("GET", "/api/v1/panel-requests/<id:request_id>/report", "report.read", 200,
              path_ids=_c(request_id="confirmed_request")),
    Operation("GET", "/api/v1/panel-requests/<id:request_id>/materials", "material.read", 200,
              path_ids=_c(request_id="confirmed_request")),
    Operation("POST", "/api/v1/panel-requests/<id:request_id>/materials", "material.write", 201,
              path_ids=_c(request_id="confirmed_request"),
              files=lambda: {"file": ("背景材料.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}),
    Operation("POST", "/api/v1/panel-requests/<id:request_id>/materials/sending", "material.write", 200,
              path_ids=_c(request_id="materials_request")),
    Operation("DELETE", "/api/v1/materials/<id:material_id>", "material.write", 204,
              path_ids=_c(material_id="unsent_material"), json_response=False),
    Operation("POST", "/api/v1/materials/<id:material_id>/download", "material.read", 200,
              path_ids=_c(material_id="sent_material"), json_response=False),
)


def _n(**keys: str) -> Callable[[Subjects], dict]:
    """Path ids from the notification subjects (tests/notifications/subjects.py)."""
    return lambda s: {name: s.lifecycle[key] for name, key in keys.items()}


# Notifications (issue 6) and users' addresses.
NOTIFICATION_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/v1/notifications", "notification.read", 200),
    Operation("POST", "/api/v1/notifications/<id:notification_id>/read", "notification.update", 200,
              path_ids=_n(notification_id="notification")),
    Operation("POST", "/api/v1/notifications/read-all", "notification.update", 200),
    Operation("GET", "/api/v1/mail-messages", "mail.read", 200),
    Operation("POST", "/api/v1/mail-messages/<id:message_id>/retry", "mail.retry", 200,
              path_ids=_n(message_id="mail_message")),
    Operation("GET", "/api/v1/users/<id:user_id>", "user.manage", 200, path_ids=_n(user_id="user")),
    Operation("PATCH", "/api/v1/users/<id:user_id>", "user.manage", 200, lambda s: {"email": "matrix@example.cn"},
              path_ids=_n(user_id="user")),
)


def _i(**keys: str) -> Callable[[Subjects], dict]:
    """Path ids from the integrity and assessment subjects (tests/integrity/subjects.py)."""
    return lambda s: {name: s.lifecycle[key] for name, key in keys.items()}


_EVIDENCE_PDF = ("证据.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")

# Integrity records, appeals and sanctions; the annual assessment (issue 7).
INTEGRITY_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/v1/integrity-events", "integrity.read", 200),
    Operation("GET", "/api/v1/integrity-events/<id:event_id>", "integrity.read", 200, path_ids=_i(event_id="event")),
    Operation("GET", "/api/v1/experts/<id:expert_id>/integrity-events", "integrity.read", 200),
    Operation("POST", "/api/v1/experts/<id:expert_id>/integrity-events", "integrity.record", 201,
              files=lambda: {"kind": (None, "late"), "occurred_on": (None, date.today().isoformat()),
                             "description": (None, "矩阵测试：迟到 15 分钟"), "file": _EVIDENCE_PDF}),
    Operation("GET", "/api/v1/experts/<id:expert_id>/sanctions", "integrity.read", 200),
    Operation("POST", "/api/v1/integrity-events/<id:event_id>/evidence", "integrity.record", 201,
              path_ids=_i(event_id="event"), files=lambda: {"file": _EVIDENCE_PDF}),
    Operation("GET", "/api/v1/integrity-evidence/<id:evidence_id>", "integrity.read", 200,
              path_ids=_i(evidence_id="evidence"), json_response=False),
    Operation("POST", "/api/v1/integrity-events/<id:event_id>/withdrawal", "integrity.record", 200,
              lambda s: {"reason": "矩阵测试：登记有误"}, path_ids=_i(event_id="event")),
    Operation("POST", "/api/v1/integrity-events/<id:event_id>/appeal", "integrity.appeal", 201,
              lambda s: {"reason": "矩阵测试：当日交通管制"}, path_ids=_i(event_id="event")),
    Operation("GET", "/api/v1/integrity-appeals", "integrity.decide", 200),
    Operation("POST", "/api/v1/integrity-appeals/<id:appeal_id>/decision", "integrity.decide", 200,
              lambda s: {"upheld": True, "reason": "矩阵测试：情况属实"}, path_ids=_i(appeal_id="appeal")),
    Operation("GET", "/api/v1/assessment-cycles", "assessment.read", 200),
    Operation("POST", "/api/v1/assessment-cycles", "assessment.manage", 201,
              lambda s: {"year": date.today().year}),
    Operation("GET", "/api/v1/assessment-cycles/<int:year>", "assessment.read", 200, path_ids=_i(year="year")),
    Operation("POST", "/api/v1/assessment-cycles/<int:year>/computation", "assessment.manage", 200,
              path_ids=_i(year="year")),
    Operation("PUT", "/api/v1/assessment-cycles/<int:year>/self-assessment", "assessment.self_assess", 200,
              lambda s: {"score": 85, "summary": "矩阵测试：全年参与论证"}, path_ids=_i(year="year")),
    Operation("POST", "/api/v1/assessment-cycles/<int:year>/approval", "assessment.manage", 200,
              lambda s: {"note": "矩阵测试"}, path_ids=_i(year="year")),
    Operation("GET", "/api/v1/assessment-results/mine", "assessment.self_assess", 200),
    Operation("GET", "/api/v1/assessment-results/<id:result_id>", "assessment.read", 200,
              path_ids=_i(result_id="result")),
    Operation("POST", "/api/v1/assessment-results/<id:result_id>/adjustment", "assessment.manage", 200,
              lambda s: {"total": 80, "reason": "矩阵测试：调整"}, path_ids=_i(result_id="result")),
)

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/v1/experts", "expert.list", 200),
    Operation("POST", "/api/v1/experts", "expert.create", 201, lambda s: s.new_expert_payload),
    Operation("GET", "/api/v1/experts/<id:expert_id>", "expert.read", 200),
    Operation("PATCH", "/api/v1/experts/<id:expert_id>", "expert.update", 200,
              lambda s: {"bio": "矩阵测试写入的简介。"}),
    Operation("POST", "/api/v1/experts/<id:expert_id>/personal-data", "expert.reveal_pii", 200),
    # The Excel roster: an import (not a dry run) of a file whose one row is refused, audited with its counts.
    Operation("GET", "/api/v1/experts/roster/template", "expert.import", 200, json_response=False),
    Operation("POST", "/api/v1/experts/roster/imports", "expert.import", 200,
              files=lambda: {"file": ("名册.xlsx", _roster_with_a_bad_row(), _XLSX), "dry_run": (None, "false")}),
    Operation("POST", "/api/v1/experts/roster/export", "expert.export", 200, lambda s: {"q": "李"},
              json_response=False),
    Operation("GET", "/api/v1/organisations", "organisation.list", 200),
    Operation("POST", "/api/v1/organisations", "organisation.create", 201,
              lambda s: {"name": "矩阵测试大学", "type": "university"}),
    Operation("GET", "/api/v1/organisations/<id:organisation_id>", "organisation.read", 200),
    # A contact field, so the department's own-organisation edit is allowed.
    Operation("PATCH", "/api/v1/organisations/<id:organisation_id>", "organisation.update", 200,
              lambda s: {"contact_name": "王联络"}),
    Operation("GET", "/api/v1/domains", "domain.list", 200),
    Operation("POST", "/api/v1/domains", "domain.manage", 201, lambda s: {"code": "T01", "name": "矩阵测试领域"}),
    Operation("GET", "/api/v1/tiers", "tier.list", 200),
    Operation("POST", "/api/v1/tiers", "tier.manage", 201, lambda s: {"code": "special", "name": "特聘专家", "rank": 9}),
    Operation("GET", "/api/v1/auth/me", SIGNED_IN, 200),
    Operation("POST", "/api/v1/auth/token", PUBLIC, 201,
              lambda s: {"username": s.username, "password": TEST_PASSWORD}),
    Operation("DELETE", "/api/v1/auth/token", SIGNED_IN, 204),
    # Decision items, panel requests and matching (issue 4).
    Operation("GET", "/api/v1/decision-items", "item.read", 200),
    Operation("POST", "/api/v1/decision-items", "item.create", 201,
              lambda s: {"title": "矩阵测试事项", "category": "livelihood", "organisation_id": s.organisation_id}),
    Operation("GET", "/api/v1/decision-items/<id:item_id>", "item.read", 200),
    Operation("PATCH", "/api/v1/decision-items/<id:item_id>", "item.update", 200,
              lambda s: {"title": "矩阵测试事项（修改）"}),
    Operation("GET", "/api/v1/decision-items/<id:item_id>/panel-requests", "panel_request.read", 200),
    Operation("POST", "/api/v1/decision-items/<id:item_id>/panel-requests", "panel_request.create", 201,
              lambda s: {"mode": "written", "seats": 3, "min_senior_members": 0, "selection_method": "recommend",
                         "deadline": (date.today() + timedelta(days=30)).isoformat()}),
    Operation("GET", "/api/v1/panel-requests/<id:request_id>", "panel_request.read", 200),
    Operation("GET", "/api/v1/panel-requests/<id:request_id>/recommendations", "recommendation.read", 200),
    Operation("POST", "/api/v1/panel-requests/<id:request_id>/recommendations", "recommendation.run", 201,
              lambda s: {"method": "recommend"}),
    Operation("GET", "/api/v1/recommendations/<id:recommendation_id>", "recommendation.read", 200),
    Operation("POST", "/api/v1/recommendations/<id:recommendation_id>/replacements", "recommendation.replace", 201,
              lambda s: {"remove_expert_id": s.recommendation_member_id, "reason": "矩阵测试：时间冲突"}),
    # Expert lifecycle (issue 5).
    *LIFECYCLE_OPERATIONS,
    *CONSULTATION_OPERATIONS,
    *NOTIFICATION_OPERATIONS,
    *INTEGRITY_OPERATIONS,
    # The signed-in user's to-do list (consultation.todo): every role, empty for those without one.
    Operation("GET", "/api/v1/todo", SIGNED_IN, 200),
)
