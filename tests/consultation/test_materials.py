"""Background materials (背景材料): the department uploads (type by content, size limit, sha256), sends them to
the invited experts (notified, lead-time warning when late), and those experts alone download; every upload,
deletion, sending and download is audited."""
from __future__ import annotations

import hashlib
import io

import openpyxl
import pytest
import sqlalchemy as sa
from docx import Document

from experts_service.consultation import materials, operations
from experts_service.consultation.models import Invitation, InvitationStatus, PanelMaterial
from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from experts_service.extensions import db
from experts_service.notifications.models import Notification
from experts_service.panels.models import PanelRequest
from tests.api.helpers import API, assert_error
from tests.conftest import TEST_PASSWORD, api_token, csrf_token_from, login
from tests.consultation.helpers import pool_with_accounts, recommended_request

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _docx() -> bytes:
    document = Document()
    document.add_paragraph("城市更新条例（草案）起草说明")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(["项目", "投资（万元）"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _audit(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.seq)).scalars())


def _inbox(user, kind: str = "materials.sent") -> list[Notification]:
    return list(db.session.execute(sa.select(Notification).where(
        Notification.user_id == user.id, Notification.kind == kind).order_by(Notification.id)).scalars())


def _invitations(request) -> list[Invitation]:
    return list(db.session.execute(sa.select(Invitation).where(Invitation.panel_request_id == request.id)
                                   .order_by(Invitation.id)).scalars())


def confirmed_panel(factory, days_ahead: int = 20):
    panelled = pool_with_accounts(factory)
    request, record = recommended_request(panelled, days_ahead=days_ahead)
    operations.confirm_panel(panelled.department_user, request, record.id)
    db.session.commit()
    return panelled, request


@pytest.fixture
def confirmed(factory):
    """A confirmed 5-seat panel 20 days ahead: one member accepted, one declined (and replaced), the rest pending."""
    panelled, request = confirmed_panel(factory)
    invitations = _invitations(request)
    operations.accept(panelled.user_of(invitations[0].expert_id), invitations[0])
    db.session.commit()
    operations.decline(panelled.user_of(invitations[-1].expert_id), invitations[-1], "当日另有安排")
    db.session.commit()
    return panelled, request


def _page_upload(client, request_id: int, name: str, data: bytes, back: str = "materials"):
    token = csrf_token_from(client.get(f"/panel-requests/{request_id}/materials").get_data(as_text=True))
    return client.post(f"/panel-requests/{request_id}/materials", content_type="multipart/form-data",
                       data={"csrf_token": token, "back": back, "file": (io.BytesIO(data), name)})


def test_the_department_uploads_on_the_page_and_the_hash_is_kept(confirmed, client):
    panelled, request = confirmed
    assert login(client, panelled.department_user.username).status_code == 302
    response = _page_upload(client, request.id, "起草说明.pdf", PDF)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/panel-requests/{request.id}/materials")
    db.session.rollback()
    [material] = db.session.execute(sa.select(PanelMaterial)).scalars().all()
    assert (material.filename, material.content_type, material.size) == ("起草说明.pdf", "application/pdf", len(PDF))
    assert material.sha256 == hashlib.sha256(PDF).hexdigest() and material.content == PDF
    assert not materials.is_sent(material)
    page = client.get(f"/panel-requests/{request.id}/materials").get_data(as_text=True)
    assert "起草说明.pdf" in page and "待发送" in page and 'id="send-materials"' in page
    [entry] = _audit("material.upload")
    assert entry.actor_id == panelled.department_user.id and entry.summary["sha256"] == material.sha256
    # From the request page's form, back to the request page.
    again = _page_upload(client, request.id, "附表.xlsx", _xlsx(), back="request")
    assert again.status_code == 302 and f"/panel-requests/{request.id}#materials" in again.headers["Location"]


@pytest.mark.parametrize(("name", "data", "content_type"), [
    ("起草说明.docx", _docx(), materials.DOCX),
    ("测算表.xlsx", _xlsx(), materials.XLSX),
    ("旧版说明.doc", materials.OLE2_MAGIC + b"\x00" * 64, "application/msword"),
    ("现场照片.png", PNG, "image/png"),
    ("说明.txt", "一、总体要求\n二、主要内容\n".encode(), "text/plain; charset=utf-8"),
    ("说明GBK.txt", "一、总体要求".encode("gbk"), "text/plain; charset=gb18030"),
])
def test_word_excel_images_and_plain_text_are_accepted_by_content(confirmed, name, data, content_type):
    panelled, request = confirmed
    material = materials.upload(panelled.department_user, request, name, data)
    db.session.commit()
    assert material.content_type == content_type


@pytest.mark.parametrize(("name", "data", "message"), [
    ("程序.exe", b"MZ\x90\x00" + b"\x00" * 60, "仅接受"),
    ("照片.pdf", PNG, "文件扩展名与文件内容不符"),
    ("伪装.docx", PDF, "文件扩展名与文件内容不符"),
    ("表格.docx", _xlsx(), "文件扩展名与文件内容不符"),
    ("损坏.xlsx", b"PK\x03\x04" + b"\x00" * 40, "文件已损坏"),
    ("二进制.txt", b"\x00\x01\x02\x03binary", "纯文本"),
    ("空文件.pdf", b"", "文件为空"),
    ("", PDF, "请选择要上传的文件"),
])
def test_a_wrong_type_or_an_empty_file_is_refused_with_a_clear_message(confirmed, name, data, message):
    panelled, request = confirmed
    with pytest.raises(ValidationFailed) as refused:
        materials.upload(panelled.department_user, request, name, data)
    assert message in refused.value.fields["file"][0]
    db.session.rollback()
    assert db.session.execute(sa.select(PanelMaterial)).first() is None


def test_refusals_on_the_page_and_in_the_api_say_why_and_write_nothing(confirmed, app, client, live_server, http):
    panelled, request = confirmed
    app.config["MATERIAL_MAX_BYTES"] = 4096
    assert login(client, panelled.department_user.username).status_code == 302
    wrong = _page_upload(client, request.id, "程序.exe", b"MZ" + b"\x00" * 100)
    assert wrong.status_code == 422 and "仅接受" in wrong.get_data(as_text=True)
    too_big = _page_upload(client, request.id, "大文件.pdf", PDF + b"\x00" * 5000)
    assert too_big.status_code == 422 and "文件不能超过 4 KB" in too_big.get_data(as_text=True)
    # Beyond the limit and its envelope, the body is not even read: still a clear page.
    huge = _page_upload(client, request.id, "巨大.pdf", PDF + b"\x00" * 200_000)
    assert huge.status_code == 413 and "文件不能超过 4 KB" in huge.get_data(as_text=True)
    empty = _page_upload(client, request.id, "空.pdf", b"")
    assert empty.status_code == 422 and "文件为空" in empty.get_data(as_text=True)

    headers = api_token(live_server, panelled.department_user.username)
    url = f"{API}/panel-requests/{request.id}/materials"
    error = assert_error(http.post(url, files={"file": ("程序.exe", b"MZ" + b"\x00" * 10)}, headers=headers),
                         422, "validation_error", {"file"})
    assert "仅接受" in error["fields"]["file"][0]
    error = assert_error(http.post(url, files={"file": ("大文件.pdf", PDF + b"\x00" * 5000)}, headers=headers),
                         422, "validation_error", {"file"})
    assert "4 KB" in error["fields"]["file"][0]
    assert_error(http.post(url, files={"file": ("空.pdf", b"")}, headers=headers), 422, "validation_error", {"file"})
    assert_error(http.post(url, files={"file": ("巨大.pdf", PDF + b"\x00" * 200_000)}, headers=headers),
                 413, "payload_too_large")
    assert_error(http.post(url, headers=headers), 422, "validation_error", {"file"})
    db.session.rollback()
    assert db.session.execute(sa.select(PanelMaterial)).first() is None
    assert _audit("material.upload") == []
    ok = http.post(url, files={"file": ("起草说明.pdf", PDF, "application/pdf")}, headers=headers)
    assert ok.status_code == 201, ok.text
    assert ok.json()["sha256"] == hashlib.sha256(PDF).hexdigest() and ok.json()["sent"] is False


def test_sending_sets_the_time_notifies_the_invited_experts_and_later_uploads_go_on_a_second_sending(
        confirmed, live_server, http):
    panelled, request = confirmed
    department = panelled.department_user
    invitations = _invitations(request)
    live = [i for i in invitations if i.status in (InvitationStatus.PENDING, InvitationStatus.ACCEPTED)]
    declined = [i for i in invitations if i.status is InvitationStatus.DECLINED]
    assert len(live) == 5 and len(declined) == 1
    with pytest.raises(Conflict):
        materials.send(department, request)  # nothing uploaded yet
    db.session.rollback()
    first = materials.upload(department, request, "起草说明.pdf", PDF)
    db.session.commit()

    headers = api_token(live_server, department.username)
    sent = http.post(f"{API}/panel-requests/{request.id}/materials/sending", headers=headers)
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["first"] is True and body["warnings"] == [] and [m["id"] for m in body["materials"]] == [first.id]
    assert sorted(body["notified_expert_ids"]) == sorted(i.expert_id for i in live)
    db.session.rollback()
    request = db.session.get(PanelRequest, request.id)
    first_sent_at = request.materials_sent_at
    assert first_sent_at is not None and materials.is_sent(db.session.get(PanelMaterial, first.id))
    for invitation in live:
        [note] = _inbox(panelled.user_of(invitation.expert_id))
        assert note.link == f"/panel-requests/{request.id}/materials" and "起草说明.pdf" in note.body
    assert _inbox(panelled.user_of(declined[0].expert_id)) == []
    [entry] = _audit("material.send")
    assert entry.actor_id == department.id and entry.summary["first"] is True
    assert [m["id"] for m in entry.summary["materials"]] == [first.id]

    # Nothing new: refused. A sent material stays as sent.
    assert_error(http.post(f"{API}/panel-requests/{request.id}/materials/sending", headers=headers), 409, "conflict")
    assert_error(http.delete(f"{API}/materials/{first.id}", headers=headers), 409, "conflict")
    # A later upload waits for a second sending, which sends it alone.
    extra = http.post(f"{API}/panel-requests/{request.id}/materials",
                      files={"file": ("补充说明.txt", "补充材料".encode())}, headers=headers).json()
    assert extra["sent"] is False
    again = http.post(f"{API}/panel-requests/{request.id}/materials/sending", headers=headers).json()
    assert again["first"] is False and [m["id"] for m in again["materials"]] == [extra["id"]]
    db.session.rollback()
    assert db.session.get(PanelRequest, request.id).materials_sent_at > first_sent_at
    assert [n.subject.startswith("论证材料（补充）") for n in _inbox(panelled.user_of(live[0].expert_id))] == [
        False, True]
    listed = http.get(f"{API}/panel-requests/{request.id}/materials", headers=headers).json()
    assert [(m["filename"], m["sent"]) for m in listed] == [("起草说明.pdf", True), ("补充说明.txt", True)]


def test_an_unsent_material_can_be_deleted_and_the_deletion_is_audited(confirmed, live_server, http):
    panelled, request = confirmed
    material = materials.upload(panelled.department_user, request, "草稿.pdf", PDF)
    db.session.commit()
    material_id, sha256 = material.id, material.sha256
    headers = api_token(live_server, panelled.department_user.username)
    assert http.delete(f"{API}/materials/{material_id}", headers=headers).status_code == 204
    db.session.expunge_all()
    assert db.session.get(PanelMaterial, material_id) is None
    [entry] = _audit("material.delete")
    assert entry.object_id == str(material_id) and entry.summary["sha256"] == sha256


def test_sending_later_than_the_preferred_lead_time_warns(factory, client):
    panelled, request = confirmed_panel(factory, days_ahead=4)
    department = panelled.department_user
    materials.upload(department, request, "起草说明.pdf", PDF)
    db.session.commit()
    sending = materials.send(department, request)
    db.session.commit()
    assert len(sending.warnings) == 1 and "7 天" in sending.warnings[0] and "前 4 天" in sending.warnings[0]
    assert _audit("material.send")[0].summary["warnings"] == sending.warnings
    # The page says so too, after a second sending from the page.
    assert login(client, department.username).status_code == 302
    _page_upload(client, request.id, "补充.pdf", PDF)
    token = csrf_token_from(client.get(f"/panel-requests/{request.id}/materials").get_data(as_text=True))
    response = client.post(f"/panel-requests/{request.id}/materials/sending",
                           data={"csrf_token": token, "back": "materials"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "晚于建议的 7 天" in html and "已向 5 位受邀专家发送 1 份材料" in html


def test_an_invited_expert_downloads_sent_materials_and_each_download_is_audited(confirmed, client, live_server, http):
    panelled, request = confirmed
    department = panelled.department_user
    material = materials.upload(department, request, "起草说明.pdf", PDF)
    db.session.commit()
    invited = panelled.user_of(next(i for i in _invitations(request) if i.status is InvitationStatus.PENDING).expert_id)
    # Before the sending the expert does not see it.
    assert materials.list_materials(invited, request) == []
    with pytest.raises(NotFound):
        materials.get_material(invited, material.id)
    materials.send(department, request)
    db.session.commit()

    assert login(client, invited.username).status_code == 302
    page = client.get(f"/panel-requests/{request.id}/materials")
    assert page.status_code == 200 and "起草说明.pdf" in page.get_data(as_text=True)
    download = client.get(f"/materials/{material.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    headers = api_token(live_server, invited.username)
    api_download = http.post(f"{API}/materials/{material.id}/download", headers=headers)
    assert api_download.status_code == 200 and api_download.content == PDF
    entries = _audit("material.download")
    assert [(e.actor_id, e.object_id) for e in entries] == [(invited.id, str(material.id))] * 2
    assert entries[0].summary["sha256"] == material.sha256


def test_experts_not_invited_and_other_departments_are_refused(confirmed, factory, client, live_server, http):
    panelled, request = confirmed
    department = panelled.department_user
    material = materials.upload(department, request, "起草说明.pdf", PDF)
    db.session.commit()
    materials.send(department, request)
    db.session.commit()
    invited_ids = {i.expert_id for i in _invitations(request)}
    outsider = panelled.user_of(next(e.id for e in panelled.experts if e.id not in invited_ids))
    declined = panelled.user_of(next(i.expert_id for i in _invitations(request)
                                     if i.status is InvitationStatus.DECLINED))
    other_department = factory.user(Role.DEPARTMENT)
    for user in (outsider, declined, other_department):
        with pytest.raises(Forbidden):
            materials.get_material(user, material.id)
        browser = client.application.test_client()
        assert login(browser, user.username).status_code == 302
        for path in (f"/panel-requests/{request.id}/materials", f"/materials/{material.id}"):
            refused = browser.get(path)
            assert refused.status_code == 403 and "无权" in refused.get_data(as_text=True), path
        headers = api_token(live_server, user.username)
        assert_error(http.get(f"{API}/panel-requests/{request.id}/materials", headers=headers), 403, "forbidden")
        assert_error(http.post(f"{API}/materials/{material.id}/download", headers=headers), 403, "forbidden")
    # Only the department writes: not the talent office, not another department.
    for user in (panelled.world.office, other_department):
        headers = api_token(live_server, user.username)
        assert_error(http.post(f"{API}/panel-requests/{request.id}/materials", files={"file": ("a.pdf", PDF)},
                               headers=headers), 403, "forbidden")
    assert _audit("material.download") == []
    # The talent office and auditors read the materials (and the office's download is audited too).
    office = api_token(live_server, panelled.world.office.username)
    assert http.post(f"{API}/materials/{material.id}/download", headers=office).content == PDF
    assert [e.actor_id for e in _audit("material.download")] == [panelled.world.office.id]


def test_a_file_above_the_general_request_limit_but_within_the_materials_limit_is_accepted(
        confirmed, app, live_server, http):
    # Over real HTTP: the test client spools a large body to a temporary file it never closes.
    panelled, request = confirmed
    large = PDF + b"\x00" * (app.config["MAX_CONTENT_LENGTH"] + 1024 * 1024)
    assert len(large) < materials.max_bytes()
    username = panelled.department_user.username
    login_page = http.get("/login").text
    http.post("/login", data={"username": username, "password": TEST_PASSWORD,
                              "csrf_token": csrf_token_from(login_page)})
    token = csrf_token_from(http.get(f"/panel-requests/{request.id}/materials").text)
    page = http.post(f"/panel-requests/{request.id}/materials", data={"csrf_token": token, "back": "materials"},
                     files={"file": ("总体规划.pdf", large)}, allow_redirects=False)
    assert page.status_code == 302, page.text[:300]
    headers = api_token(live_server, username)
    uploaded = http.post(f"{API}/panel-requests/{request.id}/materials", files={"file": ("附图.pdf", large)},
                         headers=headers)
    assert uploaded.status_code == 201, uploaded.text
    db.session.rollback()
    assert [m.size for m in db.session.execute(sa.select(PanelMaterial)).scalars()] == [len(large)] * 2
