"""Every /api/v1 route the app serves is in the generated OpenAPI document (core/api_docs, /api/v1/openapi.json):
under its path, with each of its methods, a summary or description, a success response and that response's
schema, and its path parameters.

The routes are read from the app's url_map, not from a hand-kept table, so a route added without
documentation fails here. Gaps that existed when this test was written are listed in KNOWN_GAPS, to be
fixed by the modules that own them; a fixed gap must be taken off the list (the second test says so).
"""
from __future__ import annotations

import re

import pytest
from flask.views import MethodView

from experts_service.core.routing import ApiBlueprint

DOCUMENT = "/api/v1/openapi.json"
# Success statuses that carry no body.
EMPTY_STATUSES = {"204", "304"}

# Gaps in other modules' API files, reported rather than fixed here: (method, rule, problem).
KNOWN_GAPS: set[tuple[str, str, str]] = set()  # every gap found when this test was written is closed


def openapi_path(rule: str) -> str:
    """Flask's /experts/<id:expert_id> is OpenAPI's /experts/{expert_id}."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def api_routes(app) -> set[tuple[str, str]]:
    """(method, rule) of every /api/v1 route but the document itself."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.rule != DOCUMENT
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = document["components"][kind][name]
    return node


def gaps(app, document: dict) -> set[tuple[str, str, str]]:
    """What the document leaves out about the app's routes."""
    found = set()
    routes = api_routes(app)
    for method, rule in sorted(routes):
        path_item = document["paths"].get(openapi_path(rule))
        if path_item is None:
            found.add((method, rule, "path missing"))
            continue
        operation = path_item.get(method.lower())
        if operation is None:
            found.add((method, rule, "method missing"))
            continue
        if not (operation.get("summary") or "").strip() and not (operation.get("description") or "").strip():
            found.add((method, rule, "no summary or description"))
        responses = {status: _resolve(document, response) for status, response in operation["responses"].items()}
        successes = {status: response for status, response in responses.items() if status.startswith("2")}
        if not successes:
            found.add((method, rule, "no success response"))
        for status, response in successes.items():
            if status in EMPTY_STATUSES:
                continue
            content = response.get("content") or {}
            if not content or not all("schema" in media for media in content.values()):
                found.add((method, rule, "no response schema"))
        parameters = [_resolve(document, parameter)
                      for parameter in (*path_item.get("parameters", ()), *operation.get("parameters", ()))]
        documented = {p["name"] for p in parameters if p.get("in") == "path"}
        for name in re.findall(r"<(?:\w+:)?(\w+)>", rule):
            if name not in documented:
                found.add((method, rule, f"path parameter {name} undocumented"))
    # Nothing documented that the app does not serve.
    served = {(method, openapi_path(rule)) for method, rule in routes}
    for path, path_item in document["paths"].items():
        for method in path_item:
            if method in {"get", "put", "post", "patch", "delete"} and (method.upper(), path) not in served:
                found.add((method.upper(), path, "documented but not served"))
    return found


def read_document(app) -> dict:
    response = app.test_client().get(DOCUMENT)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def test_every_api_route_is_documented(app):
    new = gaps(app, read_document(app)) - KNOWN_GAPS
    assert new == set(), "API routes the OpenAPI document leaves out:\n" + "\n".join(
        f"  {method} {rule}: {problem}" for method, rule, problem in sorted(new))


def test_known_gaps_are_still_gaps(app):
    fixed = KNOWN_GAPS - gaps(app, read_document(app))
    assert fixed == set(), "documented now; take these off KNOWN_GAPS:\n" + "\n".join(
        f"  {method} {rule}: {problem}" for method, rule, problem in sorted(fixed))


def test_the_todo_route_is_fully_documented(app):
    document = read_document(app)
    assert not [gap for gap in gaps(app, document) if gap[1] == "/api/v1/todo"]
    operation = document["paths"]["/api/v1/todo"]["get"]
    schema = _resolve(document, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"role", "count", "overdue", "items"} <= set(schema["properties"])


@pytest.fixture
def app_with_undocumented_routes(app):
    """The app plus one API route without a docstring or response schema, and one Flask route smorest never saw."""
    hidden = ApiBlueprint("undocumented_api", __name__, url_prefix="/undocumented", description="测试")

    @hidden.route("/<id:thing_id>")
    class Thing(MethodView):
        def get(self, thing_id: int):
            return {"id": thing_id}

    app.extensions["smorest_api"].register_blueprint(hidden, url_prefix="/api/v1/undocumented")
    app.add_url_rule("/api/v1/bypass", "bypass", lambda: {"ok": True}, methods=["POST"])
    return app


def test_an_undocumented_route_fails(app_with_undocumented_routes):
    found = gaps(app_with_undocumented_routes, read_document(app_with_undocumented_routes)) - KNOWN_GAPS
    assert ("GET", "/api/v1/undocumented/<id:thing_id>", "no summary or description") in found
    assert ("GET", "/api/v1/undocumented/<id:thing_id>", "no success response") in found
    assert ("POST", "/api/v1/bypass", "path missing") in found
