"""Every operation of the JSON API, with the permission that governs it.

The role-matrix test derives each role's expected status from
core.auth.PERMISSIONS through this table, and checks that the table and the
app's url_map name exactly the same (rule, method) pairs, so an endpoint
added without a row here fails the suite.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable

from experts_service.core.auth import PERMISSIONS, Role
from tests.conftest import TEST_PASSWORD

# Pseudo-permissions for the two endpoints outside the PERMISSIONS table.
PUBLIC = "public"  # no sign-in needed: the sign-in endpoint itself
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


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # exactly as in app.url_map
    permission: str
    success_status: int
    body: Callable[[Subjects], dict] | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.rule.removeprefix('/api/v1')}"

    def url(self, subjects: Subjects) -> str:
        ids = {"expert_id": subjects.expert_id, "organisation_id": subjects.organisation_id,
               "item_id": subjects.item_id, "request_id": subjects.request_id,
               "recommendation_id": subjects.recommendation_id}
        return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(ids[match.group(1)]), self.rule)

    def expected_status(self, role: Role | None) -> int:
        if self.permission == PUBLIC:
            return self.success_status
        if role is None:
            return 401
        if self.permission == SIGNED_IN or role in PERMISSIONS[self.permission]:
            return self.success_status
        return 403


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/v1/experts", "expert.list", 200),
    Operation("POST", "/api/v1/experts", "expert.create", 201, lambda s: s.new_expert_payload),
    Operation("GET", "/api/v1/experts/<id:expert_id>", "expert.read", 200),
    Operation("PATCH", "/api/v1/experts/<id:expert_id>", "expert.update", 200,
              lambda s: {"bio": "矩阵测试写入的简介。"}),
    Operation("POST", "/api/v1/experts/<id:expert_id>/personal-data", "expert.reveal_pii", 200),
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
)
