"""An expert sees and changes only their own record; uploaded documents reach
only the talent office, auditors and the applicant themself."""
from __future__ import annotations

from datetime import date

import requests

from experts_service.core.auth import Role
from experts_service.experts.models import Expert
from experts_service.extensions import db
from experts_service.lifecycle import operations
from experts_service.lifecycle.models import ApplicationDocument, ProfileChangeRequest
from tests.api.helpers import API, assert_error, database_state, fresh_session
from tests.conftest import api_token, login
from tests.lifecycle.helpers import PDF, PNG, Intake, set_today


def test_expert_sees_and_changes_only_their_own_record(app, http, factory, live_server):
    mine, theirs = factory.expert(name="本人"), factory.expert(name="他人")
    user = factory.user(Role.EXPERT, expert_id=mine.id)
    auth = api_token(live_server, user.username)

    assert http.get(f"{API}/experts/{mine.id}", headers=auth).status_code == 200
    assert http.get(f"{API}/experts/{mine.id}/history", headers=auth).status_code == 200
    own_period = http.post(f"{API}/experts/{mine.id}/unavailable-periods", headers=auth,
                           json={"starts_on": "2027-03-01", "ends_on": "2027-03-10", "reason": "出国"})
    assert own_period.status_code == 201, own_period.text
    assert http.patch(f"{API}/experts/{mine.id}", json={"bio": "新的简介"}, headers=auth).status_code == 200
    # Employer, title and domains go to the talent office instead of changing the record.
    direct = http.patch(f"{API}/experts/{mine.id}", json={"title_name": "研究员"}, headers=auth)
    assert_error(direct, 403, "forbidden")
    requested = http.post(f"{API}/experts/{mine.id}/change-requests", json={"title_name": "研究员"}, headers=auth)
    assert requested.status_code == 201, requested.text
    fresh_session()
    assert db.session.get(Expert, mine.id).title_name == "教授"

    before = database_state()
    for method, path, body in (
        ("GET", f"/experts/{theirs.id}", None),
        ("GET", f"/experts/{theirs.id}/history", None),
        ("PATCH", f"/experts/{theirs.id}", {"bio": "改别人的简介"}),
        ("POST", f"/experts/{theirs.id}/unavailable-periods", {"starts_on": "2027-03-01", "ends_on": "2027-03-02"}),
        ("POST", f"/experts/{theirs.id}/conflict-declarations",
         {"kind": "person", "person_name": "张三", "relationship_note": "配偶"}),
        ("POST", f"/experts/{theirs.id}/change-requests", {"title_name": "研究员"}),
        ("POST", f"/experts/{theirs.id}/resignation", {"reason": "替人辞聘"}),
        ("POST", f"/experts/{theirs.id}/personal-data", None),
        ("GET", "/experts", None),
        ("GET", "/change-requests", None),
    ):
        response = http.request(method, f"{API}{path}", json=body, headers=auth)
        assert_error(response, 403, "forbidden")
    assert database_state() == before
    fresh_session()
    assert db.session.query(ProfileChangeRequest).count() == 1

    # The pages agree.
    client = app.test_client()
    login(client, user.username)
    assert client.get(f"/experts/{mine.id}/lifecycle").status_code == 200
    assert client.get(f"/experts/{theirs.id}").status_code == 403
    assert client.get(f"/experts/{theirs.id}/lifecycle").status_code == 403


def test_documents_reach_only_those_allowed(app, http, factory, live_server):
    set_today(app, date(2026, 11, 2))
    intake = Intake(factory, app)
    application = intake.submit(name="林申请")
    document = operations.add_document(intake.office, application, "学位证书.pdf", PDF)
    db.session.commit()
    applicant_user = factory.user(Role.EXPERT, expert_id=application.expert_id)
    other_expert = factory.user(Role.EXPERT)
    auditor = factory.user(Role.AUDITOR)
    department = factory.user(Role.DEPARTMENT)
    url = f"{API}/documents/{document.id}"

    for user in (intake.office, auditor, applicant_user):
        response = http.get(url, headers=api_token(live_server, user.username))
        assert response.status_code == 200 and response.content == PDF, (user.role, response.text[:200])
        assert response.headers["Content-Type"] == "application/pdf"
    assert_error(http.get(url, headers=api_token(live_server, other_expert.username)), 403, "forbidden")
    assert_error(http.get(url, headers=api_token(live_server, department.username)), 403, "forbidden")
    assert_error(requests.get(f"{live_server}{url}", timeout=10), 401, "unauthenticated")
    # A reviewer of the domain votes on the application but does not get its documents.
    assert_error(http.get(url, headers=api_token(live_server, intake.reviewers[0][1].username)), 403, "forbidden")

    # Pages: the same rule; anonymous users are sent to sign in, never given the file.
    anonymous = app.test_client().get(f"/documents/{document.id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"] and PDF not in anonymous.data
    client = app.test_client()
    login(client, other_expert.username)
    assert client.get(f"/documents/{document.id}").status_code == 403
    own = app.test_client()
    login(own, applicant_user.username)
    with own.get(f"/documents/{document.id}") as response:
        assert response.data == PDF
    # Stored outside the static tree under a random name, never under the uploaded name.
    stored = db.session.get(ApplicationDocument, document.id).stored_name
    assert "学位证书" not in stored and len(stored) == 48


def test_uploads_are_checked_by_content_and_size(app, http, factory, live_server):
    set_today(app, date(2026, 11, 2))
    intake = Intake(factory, app)
    application = intake.submit()
    auth = api_token(live_server, intake.office.username)
    path = f"{API}/applications/{application.id}/documents"
    cases = (
        (("证书.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"), "仅接受 PDF、JPG 或 PNG 文件"),
        (("照片.pdf", PNG, "application/pdf"), "文件扩展名与文件内容不符"),
        (("空.pdf", b"", "application/pdf"), "文件为空"),
        (("大.pdf", b"%PDF-" + b"0" * 1_800_000, "application/pdf"), "文件不能超过"),
    )
    for upload, message in cases:
        before = database_state()
        error = assert_error(http.post(path, files={"file": upload}, headers=auth), 422, "validation_error",
                             fields={"file"})
        assert message in error["fields"]["file"][0]
        assert database_state() == before
    too_big = http.post(path, files={"file": ("巨.pdf", b"%PDF-" + b"0" * 3_000_000, "application/pdf")},
                        headers=auth)
    assert_error(too_big, 413, "payload_too_large")
    ok = http.post(path, files={"file": ("照片.png", PNG, "image/png")}, headers=auth)
    assert ok.status_code == 201 and ok.json()["content_type"] == "image/png"
