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
    "/experts/roster": {"talent_office": 200, "auditor": 200},
    "/experts/roster/template": {"talent_office": 200},
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
    # Decision items, panel requests, recommendations (issue 4).
    "/items": {"talent_office": 200, "auditor": 200, "department": 200},
    "/items/new": {"talent_office": 200, "department": 200},
    "/items/{own_item}": {"talent_office": 200, "auditor": 200, "department": 200},
    "/items/{other_item}": {"talent_office": 200, "auditor": 200},
    "/items/{own_item}/edit": {"talent_office": 200, "department": 200},
    "/items/{other_item}/edit": {"talent_office": 200},
    "/items/{own_item}/requests/new": {"talent_office": 200, "department": 200},
    "/items/{other_item}/requests/new": {"talent_office": 200},
    "/panel-requests/{own_request}": {"talent_office": 200, "auditor": 200, "department": 200},
    "/panel-requests/{other_request}": {"talent_office": 200, "auditor": 200},
    "/recommendations/{own_recommendation}": {"talent_office": 200, "auditor": 200, "department": 200},
    "/recommendations/{other_recommendation}": {"talent_office": 200, "auditor": 200},
    # The draw proof is public: anyone, signed in or not.
    "/draws/{own_draw}": {role: 200 for role in (*ROLES, "anonymous")},
    # Expert lifecycle (issue 5): the application form and the notices are public.
    "/apply": {role: 200 for role in (*ROLES, "anonymous")},
    "/notices": {role: 200 for role in (*ROLES, "anonymous")},
    "/applications": {"talent_office": 200, "auditor": 200, "department": 200, "expert": 200},
    "/applications/new": {"talent_office": 200, "department": 200},
    "/applications/{own_application}": {"talent_office": 200, "auditor": 200, "department": 200, "expert": 200},
    "/documents/{own_document}": {"talent_office": 200, "auditor": 200, "expert": 200},
    "/experts/{own_expert}/lifecycle": {"talent_office": 200, "auditor": 200, "expert": 200},
    "/experts/{other_expert}/lifecycle": {"talent_office": 200, "auditor": 200},
    "/lifecycle/renewals": {"talent_office": 200, "auditor": 200},
    "/lifecycle/review-groups": {"talent_office": 200, "auditor": 200},
    "/admin/calendar": {"admin": 200, "talent_office": 200, "auditor": 200},
    # Notifications (issue 6): everyone's own inbox; the mail queue for the office and the administrator.
    "/notifications": {role: 200 for role in ROLES},
    "/mail-queue": {"admin": 200, "talent_office": 200},
    "/admin/users/{own_user}/edit": {"admin": 200},
    # The to-do list (consultation.todo): every signed-in user; roles without one see that they have none.
    "/todo": {role: 200 for role in ROLES},
    # Consultation (issue 6): the expert's invitations and opinion form; a signed opinion for those who
    # read opinions; the adoption feedback is public.
    "/my/invitations": {"expert": 200},
    "/my/invitations/{c_invitation}": {"expert": 200},
    "/engagements/{c_fresh_engagement}/opinion": {"expert": 200},
    "/opinions/{c_signed_opinion}": {"expert": 200, "department": 200, "talent_office": 200, "auditor": 200},
    "/public/adoption-feedback": {role: 200 for role in (*ROLES, "anonymous")},
    # The panel report and background materials: an invited expert reads the sent materials only.
    "/panel-requests/{c_confirmed_request}/report": {"department": 200, "talent_office": 200, "auditor": 200},
    "/panel-requests/{other_request}/report": {"talent_office": 200, "auditor": 200},
    "/panel-requests/{c_confirmed_request}/report.docx": {"department": 200, "talent_office": 200, "auditor": 200},
    "/panel-requests/{c_confirmed_request}/materials": {"department": 200, "talent_office": 200, "auditor": 200,
                                                        "expert": 200},
    "/panel-requests/{other_request}/materials": {"talent_office": 200, "auditor": 200},
    "/materials/{c_sent_material}": {"department": 200, "talent_office": 200, "auditor": 200, "expert": 200},
    "/materials/{c_unsent_material}": {"department": 200, "talent_office": 200, "auditor": 200, "expert": 404},
    # Statistics (issue 7): the dashboard is the talent office's own; the reports are for it and the auditor.
    "/dashboard": {"talent_office": 200},
    "/dashboard.xlsx": {"talent_office": 200},
    "/reports": {"talent_office": 200, "auditor": 200},
    "/reports/assessment/{report_year}": {"talent_office": 200, "auditor": 200},
    "/reports/assessment/{report_year}.xlsx": {"talent_office": 200, "auditor": 200},
    # Integrity and the annual assessment (issue 7): the expert's own pages; the office's and auditor's lists
    # (an expert is sent to their own page); departments see none of it.
    "/my/integrity": {"expert": 200},
    "/integrity/events": {"talent_office": 200, "auditor": 200, "expert": 302},
    "/integrity/events/{i_event}": {"talent_office": 200, "auditor": 200, "expert": 200},
    "/integrity/events/{i_other_event}": {"talent_office": 200, "auditor": 200},
    "/integrity/evidence/{i_evidence}": {"talent_office": 200, "auditor": 200, "expert": 200},
    "/integrity/appeals": {"talent_office": 200},
    "/experts/{own_expert}/integrity": {"talent_office": 200, "auditor": 200, "expert": 302},
    "/experts/{other_expert}/integrity": {"talent_office": 200, "auditor": 200},
    "/assessment": {"talent_office": 200, "auditor": 200, "expert": 302},
    "/assessment/{a_year}": {"talent_office": 200, "auditor": 200, "expert": 302},
    "/assessment/{a_year}/results/{a_result}": {"talent_office": 200, "auditor": 200, "expert": 200},
    "/my/assessment": {"expert": 200},
}
POST_ACTIONS = {
    "/experts/{own_expert}/reveal": {"talent_office": 200, "auditor": 200, "expert": 200},
    "/experts/{other_expert}/reveal": {"talent_office": 200, "auditor": 200},
    # Without a file the upload is refused on the page; without a staged upload, so is the import.
    "/experts/roster/check": {"talent_office": 422},
    "/experts/roster/import": {"talent_office": 400},
    "/experts/roster/export": {"talent_office": 200, "auditor": 200},
    "/admin/audit/verify": {"admin": 200, "auditor": 200},
    "/admin/users/{own_user}/unlock": {"admin": 302},
    # Without a method the run is refused with a message on the request page.
    "/panel-requests/{own_request}/run": {"talent_office": 302},
    "/recommendations/{own_recommendation}/replace": {"talent_office": 422},
    # Lifecycle actions without their fields: refused with a message on the page they came from.
    "/applications/{own_application}/decide": {"talent_office": 302},
    "/objections/{own_objection}/resolve": {"talent_office": 302},
    "/lifecycle/changes/{own_change}/decide": {"talent_office": 302},
    "/experts/{own_expert}/lifecycle/resign": {"talent_office": 302, "expert": 302},
    "/experts/{other_expert}/lifecycle/resign": {"talent_office": 302},
    "/notifications/read-all": {role: 302 for role in ROLES},
    # Consultation actions without their fields: refused with a message (a redirect back, or the form again).
    "/panel-requests/{c_recommended_request}/confirm": {"department": 302, "talent_office": 302},
    "/engagements/{c_engagement}/attendance": {"department": 302, "talent_office": 302},
    "/engagements/{c_engagement}/rating": {"department": 302},
    "/opinions/{c_signed_opinion}/adoption": {"department": 422},
    "/my/invitations/{c_invitation}/decline": {"expert": 422},
    # These two succeed with no fields: the seat is taken; an empty draft is saved.
    "/my/invitations/{c_invitation}/accept": {"expert": 302},
    "/engagements/{c_fresh_engagement}/opinion": {"expert": 302},
    # Materials: an upload without a file is refused on the page; sending and deleting return to the page.
    "/panel-requests/{c_confirmed_request}/materials": {"department": 422},
    "/panel-requests/{c_materials_request}/materials/sending": {"department": 302},
    "/materials/{c_unsent_material}/delete": {"department": 302},
    # Integrity and assessment forms without their fields: the page again with field messages (422); computing
    # needs none; the first 审定 post shows the confirmation step; a self-assessment without its year goes back.
    "/integrity/events/{i_event}/appeal": {"expert": 422},
    "/integrity/events/{i_event}/evidence": {"talent_office": 422},
    "/integrity/events/{i_event}/withdraw": {"talent_office": 422},
    "/integrity/appeals/{i_appeal}/decide": {"talent_office": 422},
    "/experts/{own_expert}/integrity": {"talent_office": 422},
    "/assessment": {"talent_office": 422},
    "/assessment/{a_year}/compute": {"talent_office": 302},
    "/assessment/{a_year}/results/{a_result}/adjust": {"talent_office": 422},
    "/assessment/{a_year}/approve": {"talent_office": 200},
    "/my/assessment": {"expert": 302},
}
PANEL_KEYS = ("own_item", "other_item", "own_request", "other_request", "own_recommendation",
              "other_recommendation", "own_draw")


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


def _panel_worlds(factory, world):
    from experts_service.extensions import db as database
    from experts_service.reference.models import Organisation
    from tests.panels.helpers import World

    return (World(factory, department=database.session.get(Organisation, world["own_org"])),
            World(factory, department=database.session.get(Organisation, world["other_org"])))


def _written(**extra) -> dict:
    from datetime import timedelta

    from experts_service.core.clock import today

    return {"mode": "written", "seats": 3, "min_senior_members": 0, "meeting_date": None, "meeting_place": None,
            "deadline": today() + timedelta(days=30), **extra}


@pytest.fixture
def panel_world(factory, world):
    """Items of the own and the other department, a request and a recommendation for each (no experts needed)."""
    own, other = _panel_worlds(factory, world)
    own_item, other_item = own.item(), other.item(title="财政预算改革方案")
    own_request, other_request = own.request(own_item, **_written()), other.request(other_item, **_written())
    return {"own_item": own_item.id, "other_item": other_item.id, "own_request": own_request.id,
            "other_request": other_request.id, "own_recommendation": own.run(own_request).id,
            "other_recommendation": other.run(other_request).id}


@pytest.fixture
def draw_world(factory, world):
    """A draw of the own department (3 seats need a pool of 3 x 3 qualified experts)."""
    own, _ = _panel_worlds(factory, world)
    for suffix in "甲乙丙丁戊己庚辛壬":
        own.expert(f"专家{suffix}")
    request = own.request(own.item(), **_written(selection_method="random_draw"))
    return {"own_draw": own.run(request, "random_draw").id}


LIFECYCLE_KEYS = ("own_application", "own_document", "own_objection", "own_change")


@pytest.fixture
def lifecycle_world(world):
    """A past application of the own expert, recommended by the own department, with a document and an objection."""
    from tests.lifecycle.subjects import page_subjects

    return page_subjects(world)


def _consultation_world(factory, world, path) -> dict:
    """The consultation records a path names (c_ keys), built for the own department and own expert."""
    from experts_service.experts.models import Expert
    from experts_service.reference.models import Organisation
    from tests.consultation.subjects import consultation_subjects

    subjects = consultation_subjects(factory, db.session.get(Organisation, world["own_org"]),
                                     db.session.get(Expert, world["own_expert"]))
    named = {key[2:]: subjects[key[2:]] for key in CONSULTATION_KEYS if "{" + key + "}" in path}
    db.session.commit()
    return {**world, **{f"c_{key}": value for key, value in named.items()}}


CONSULTATION_KEYS = ("c_invitation", "c_fresh_engagement", "c_signed_opinion", "c_recommended_request",
                     "c_engagement", "c_confirmed_request", "c_sent_material", "c_unsent_material",
                     "c_materials_request")


def _report_year() -> int:
    """A year with an assessment cycle (no results needed: the matrix tests the role gate)."""
    from experts_service.assessment.models import AssessmentCycle, CycleStatus

    db.session.add(AssessmentCycle(year=2024, status=CycleStatus.OPEN))
    db.session.commit()
    return 2024


INTEGRITY_KEYS = ("i_event", "i_other_event", "i_evidence", "i_appeal", "a_year", "a_result")


def _integrity_world(factory, world) -> dict:
    from experts_service.experts.models import Expert
    from tests.integrity.subjects import page_subjects

    return {**world, **page_subjects(factory, db.session.get(Expert, world["own_expert"]),
                                     db.session.get(Expert, world["other_expert"]))}


def _with_panels(request, world, path):
    if "{report_year}" in path:
        return {**world, "report_year": _report_year()}
    if any("{" + key + "}" in path for key in INTEGRITY_KEYS):
        return _integrity_world(request.getfixturevalue("factory"), world)
    if any("{" + key + "}" in path for key in CONSULTATION_KEYS):
        return _consultation_world(request.getfixturevalue("factory"), world, path)
    if any("{" + key + "}" in path for key in LIFECYCLE_KEYS):
        return {**world, **request.getfixturevalue("lifecycle_world")}
    if "{own_draw}" in path:
        return {**world, **request.getfixturevalue("draw_world")}
    if any("{" + key + "}" in path for key in PANEL_KEYS):
        return {**world, **request.getfixturevalue("panel_world")}
    return world


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
def test_get_page(request, client, factory, world, path, role, expected):
    world = _with_panels(request, world, path)
    user = None if role == "anonymous" else _sign_in(client, factory, world, role)
    url = path.format(**world, own_user=getattr(user, "id", 1))
    response = client.get(url)
    if role == "anonymous" and "anonymous" in GET_PAGES[path]:  # a public page
        assert response.status_code == expected
        return
    if role == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
        return
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    if expected == 403:
        assert "无权" in response.get_data(as_text=True)


@pytest.mark.parametrize("path, role, expected", _cases(POST_ACTIONS))
def test_post_action(request, client, factory, world, path, role, expected):
    world = _with_panels(request, world, path)
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
