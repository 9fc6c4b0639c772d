"""Every page tried as each role and as an anonymous visitor.

The expectations are written out here, independently of the permission
table, so a change to who may see what has to be made in both places.
"""
import pytest

from experts_service.extensions import db
from tests.conftest import csrf_token_from, login

ROLES = ("admin", "talent_office", "department", "expert", "auditor")

# path template -> {role: expected status}; "own"/"other" expand below.
GET_PAGES = {
    "/experts": {"talent_office": 200, "auditor": 200},
    "/experts/new": {"talent_office": 200},
    "/experts/mine": {"expert": 302, "talent_office": 404, "auditor": 404},
    "/experts/{own_expert}": {"talent_office": 200, "auditor": 200, "expert": 200},
    "/experts/{other_expert}": {"talent_office": 200, "auditor": 200},
    "/experts/{own_expert}/edit": {"talent_office": 200, "expert": 200},
    "/experts/{other_expert}/edit": {"talent_office": 200},
    "/organisations": {"admin": 200, "talent_office": 200},
    "/organisations/new": {"admin": 200, "talent_office": 200},
    "/organisations/mine": {"department": 302, "admin": 404, "talent_office": 404, "auditor": 404},
    "/organisations/{own_org}": {"admin": 200, "talent_office": 200, "auditor": 200, "department": 200},
    "/organisations/{own_child_org}": {"admin": 200, "talent_office": 200, "auditor": 200, "department": 200},
    "/organisations/{other_org}": {"admin": 200, "talent_office": 200, "auditor": 200},
    "/organisations/{own_org}/edit": {"admin": 200, "talent_office": 200, "department": 200},
    "/organisations/{other_org}/edit": {"admin": 200, "talent_office": 200},
    "/taxonomy": {role: 200 for role in ROLES},
    "/account/password": {role: 200 for role in ROLES},
    "/admin/users": {"admin": 200},
    "/admin/users/new": {"admin": 200},
    "/admin/policy": {"admin": 200, "talent_office": 200, "auditor": 200},
    "/admin/audit": {"admin": 200, "auditor": 200},
}
POST_ACTIONS = {
    "/experts/{own_expert}/reveal": {"talent_office": 200, "auditor": 200, "expert": 200},
    "/experts/{other_expert}/reveal": {"talent_office": 200, "auditor": 200},
    "/admin/audit/verify": {"admin": 200, "auditor": 200},
    "/admin/users/{own_user}/unlock": {"admin": 302},
}


@pytest.fixture
def world(factory):
    """Two departments (one with a child unit) and two experts, one with a login."""
    own_org = factory.organisation("市发展和改革委员会", type_="government", system="发展改革")
    own_child = factory.organisation("市价格监测中心", type_="public_institution", parent_id=own_org.id)
    other_org = factory.organisation("市财政局", type_="government", system="财政")
    own_expert = factory.expert(name="王芳")
    other_expert = factory.expert(name="刘洋")
    return {"own_org": own_org.id, "own_child_org": own_child.id, "other_org": other_org.id,
            "own_expert": own_expert.id, "other_expert": other_expert.id}


def _sign_in(client, factory, world, role):
    extra = {}
    if role == "department":
        extra["organisation_id"] = world["own_org"]
    if role == "expert":
        extra["expert_id"] = world["own_expert"]
    user = factory.user(role, **extra)
    assert login(client, user.username).status_code == 302
    return user


def _cases(table) -> list:
    return [
        pytest.param(path, role, allowed.get(role, 403), id=f"{path}-{role}")
        for path, allowed in table.items()
        for role in (*ROLES, "anonymous")
    ]


@pytest.mark.parametrize("path, role, expected", _cases(GET_PAGES))
def test_get_page(client, factory, world, path, role, expected):
    user = None if role == "anonymous" else _sign_in(client, factory, world, role)
    url = path.format(**world, own_user=getattr(user, "id", 1))
    response = client.get(url)
    if role == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
        return
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    if expected == 403:
        assert "无权" in response.get_data(as_text=True)


@pytest.mark.parametrize("path, role, expected", _cases(POST_ACTIONS))
def test_post_action(client, factory, world, path, role, expected):
    user = None if role == "anonymous" else _sign_in(client, factory, world, role)
    url = path.format(**world, own_user=getattr(user, "id", 1))
    token = csrf_token_from(client.get("/login" if user is None else "/taxonomy").get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token})
    if role == "anonymous":
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
        return
    assert response.status_code == expected, response.get_data(as_text=True)[:300]


def test_every_page_route_is_in_the_matrix(app):
    """A new page without a row here fails, so nobody forgets its role checks."""
    known = {p.split("/{")[0] for p in (*GET_PAGES, *POST_ACTIONS)}
    public = {"/login", "/logout", "/", "/static/<path:filename>"}
    for rule in app.url_map.iter_rules():
        path = rule.rule
        if path.startswith("/api/") or path in public:
            continue
        stem = path.split("/<")[0]
        assert stem in known, f"page {path} has no role expectations"


def test_department_cannot_change_another_departments_record(client, factory, world):
    from experts_service.reference.models import Organisation

    _sign_in(client, factory, world, "department")
    token = csrf_token_from(client.get("/taxonomy").get_data(as_text=True))
    response = client.post(f"/organisations/{world['other_org']}/edit",
                           data={"csrf_token": token, "contact_name": "冒名", "contact_phone": "12345"})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Organisation, world["other_org"]).contact_name is None
    own = client.post(f"/organisations/{world['own_org']}/edit",
                      data={"csrf_token": token, "contact_name": "李科长", "contact_phone": "0571-88888888"})
    assert own.status_code == 302
    db.session.expire_all()
    assert db.session.get(Organisation, world["own_org"]).contact_name == "李科长"
