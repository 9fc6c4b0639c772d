"""Every API operation tried as each role and as an anonymous user.

Expected statuses come from core.auth.PERMISSIONS (the source of truth),
not from a second hand-written table: 401 without sign-in, 403 when the
role has no scope for the permission, the operation's success status
otherwise. A refused call must leave the database exactly as it was.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from experts_service.core.auth import PERMISSIONS, Role
from tests.api.helpers import assert_error, database_state
from tests.api.operation_table import (
    CONSULTATION_OPERATIONS,
    INTEGRITY_OPERATIONS,
    LIFECYCLE_OPERATIONS,
    NOTIFICATION_OPERATIONS,
    OPERATIONS,
    PUBLIC,
    SIGNED_IN,
    Subjects,
)
from tests.consultation.subjects import consultation_subjects
from tests.integrity.subjects import integrity_subjects
from tests.lifecycle.subjects import lifecycle_subjects
from tests.notifications.subjects import notification_subjects

ROLES: tuple[Role | None, ...] = (*Role, None)
ERROR_CODES = {401: "unauthenticated", 403: "forbidden"}


def _role_name(role: Role | None) -> str:
    return role.value if role else "anonymous"


MATRIX = [
    pytest.param(operation, role, id=f"{operation.label} as {_role_name(role)}")
    for operation in OPERATIONS
    for role in ROLES
]


@pytest.mark.parametrize(("operation", "role"), MATRIX)
def test_operation_as_role(operation, role, http, factory, sign_in):
    own_organisation = factory.organisation(type_="government")
    own_expert = factory.expert()
    if role is None:
        # Anonymous callers send no credentials; POST /auth/token still needs a real account to sign in to.
        username, auth = factory.user(Role.TALENT_OFFICE).username, {}
    else:
        scope_link = {Role.DEPARTMENT: {"organisation_id": own_organisation.id},
                      Role.EXPERT: {"expert_id": own_expert.id}}.get(role, {})
        user, auth = sign_in(role, **scope_link)
        username = user.username
    panel_ids = ("<id:item_id>", "<id:request_id>", "<id:recommendation_id>")
    panels = panel_subjects(factory, own_organisation) if any(i in operation.rule for i in panel_ids) else {}
    subjects = Subjects(
        expert_id=own_expert.id,
        organisation_id=own_organisation.id,
        username=username,
        new_expert_payload=factory.expert_payload(name="李娜"),
        lifecycle=(lifecycle_subjects(factory, own_organisation, own_expert) if operation in LIFECYCLE_OPERATIONS
                   else consultation_subjects(factory, own_organisation, own_expert)
                   if operation in CONSULTATION_OPERATIONS
                   else notification_subjects(factory, username) if operation in NOTIFICATION_OPERATIONS
                   else integrity_subjects(factory, own_expert) if operation in INTEGRITY_OPERATIONS else {}),
        **panels,
    )
    body = operation.body(subjects) if operation.body else None
    url = operation.url(subjects)
    files = operation.files() if operation.files else None
    before = database_state()

    response = http.request(operation.method, url, json=body, files=files, headers=auth)

    expected = operation.expected_status(role)
    after = database_state()
    if expected >= 400:
        assert_error(response, expected, ERROR_CODES[expected], fields=set())
        assert after == before, "a refused call changed the database"
        return
    assert response.status_code == expected, response.text[:600]
    if expected == 204:
        assert response.content == b""
    elif not operation.json_response:
        assert response.content
    else:
        assert isinstance(response.json(), (dict, list))
    if operation.method == "GET":
        assert after == before, "a read changed the database"
    else:
        # Every successful write (PII views included) is audited.
        assert after.audit_entries > before.audit_entries


def panel_subjects(factory, organisation) -> dict:
    """An item of `organisation`, a written-consultation request and a compliant recommendation with an alternate."""
    from experts_service.extensions import db
    from experts_service.panels import operations
    from tests.panels.helpers import World, no_text

    world = World(factory, department=organisation)
    for name in ("赵一", "钱二", "孙三", "李四"):
        world.expert(name)
    item = world.item()
    request = world.request(item, mode="written", seats=3, min_senior_members=0, meeting_date=None,
                            meeting_place=None, deadline=date.today() + timedelta(days=30))
    record = operations.run_recommendation(world.office, request, "recommend", relevance=no_text)
    db.session.commit()
    assert record.result["compliant"] and record.result["alternates"], record.result
    return {"item_id": item.id, "request_id": request.id, "recommendation_id": record.id,
            "recommendation_member_id": record.result["panel"][0]}


def _api_routes(app) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.rule != "/api/v1/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_matrix_names_every_api_route_and_nothing_else(app):
    table = {(operation.rule, operation.method) for operation in OPERATIONS}
    routes = _api_routes(app)
    assert routes - table == set(), "API routes without a row in tests/api/operation_table.py"
    assert table - routes == set(), "rows in tests/api/operation_table.py for routes that do not exist"


def _view_for(app, rule_text: str, method: str):
    rule = next(rule for rule in app.url_map.iter_rules() if rule.rule == rule_text and method in rule.methods)
    view = app.view_functions[rule.endpoint]
    view_class = getattr(view, "view_class", None)
    return getattr(view_class, method.lower()) if view_class else view


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_route_gate_declares_the_tables_permission(app, operation):
    """The matrix derives expectations from a permission; the endpoint must gate on that same one."""
    declared = getattr(_view_for(app, operation.rule, operation.method), "required_permission", None)
    if operation.permission in (PUBLIC, SIGNED_IN):
        assert declared is None
    else:
        assert operation.permission in PERMISSIONS
        assert declared == operation.permission
