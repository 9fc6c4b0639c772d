"""The lifecycle pages: Chinese errors without half-written records, masked
personal data, refusals shown on the page and audited."""
from __future__ import annotations

import io
from datetime import date

from experts_service.extensions import db
from experts_service.lifecycle.models import Application, Stage
from tests.conftest import csrf_token_from, login, valid_id_number
from tests.lifecycle.helpers import (
    PDF,
    Intake,
    audit_actions_after,
    database_dump,
    last_seq,
    set_today,
)


def _form(factory, **overrides) -> dict:
    employer = factory.organisation()
    form = {"name": "陈思远", "id_number": valid_id_number(birth=date(1976, 5, 20), sequence=91),
            "mobile": "13912345678", "political_affiliation": "cdl", "employer_name": employer.name,
            "title_level": "senior", "title_name": "教授", "years_in_field": "20",
            "primary_domain_id": str(factory.domain_id("城乡规划")), "keywords": "海绵城市，韧性规划",
            "bio": "简介", "statement": "申报"}
    form.update(overrides)
    return form


def test_public_application_with_bad_input_shows_chinese_errors_and_writes_nothing(app, client, factory):
    set_today(app, date(2026, 11, 2))
    token = csrf_token_from(client.get("/apply").get_data(as_text=True))
    good = _form(factory)
    form = {**good, "id_number": "330102197605200011", "years_in_field": "很多", "employer_name": "不存在的单位"}
    before, seq = database_dump(), last_seq()
    response = client.post("/apply", data={**form, "csrf_token": token,
                                           "documents": (io.BytesIO(b"not a pdf"), "证书.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "身份证号校验码错误" in page and "须为整数" in page and "请填写已登记的单位名称" in page
    assert "330102197605200011" not in page
    assert database_dump() == before and audit_actions_after(seq) == []

    # A bad document after good fields: still nothing written.
    response = client.post("/apply", data={**good, "csrf_token": token,
                                           "documents": (io.BytesIO(b"not a pdf"), "证书.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "仅接受 PDF、JPG 或 PNG 文件" in response.get_data(as_text=True)
    assert database_dump() == before

    response = client.post("/apply", data={**good, "csrf_token": token,
                                           "documents": (io.BytesIO(PDF), "证书.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and "申报已提交" in response.get_data(as_text=True)
    application = db.session.execute(db.select(Application)).scalar_one()
    assert application.channel.value == "self" and len(application.documents) == 1
    assert good["id_number"] not in response.get_data(as_text=True)


def test_refused_step_on_the_page_is_flashed_and_audited(app, client, factory):
    set_today(app, date(2026, 11, 2))
    intake = Intake(factory, app)
    application = intake.submit(id_number=valid_id_number(birth=date(1976, 5, 20), sequence=92), mobile="13912345678")
    login(client, intake.office.username)
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "139****5678" in page and "13912345678" not in page
    assert application.expert.id_number_masked in page
    token = csrf_token_from(page)
    before, seq = database_dump(), last_seq()
    response = client.post(f"/applications/{application.id}/decide", follow_redirects=True,
                           data={"csrf_token": token, "action": "appoint", "tier_id": factory.tier_id("core")})
    assert "不能聘任：申请当前处于「资格初审」阶段，须先经审定并完成公示" in response.get_data(as_text=True)
    assert database_dump() == before and audit_actions_after(seq) == ["lifecycle.refused"]
    response = client.post(f"/applications/{application.id}/decide", follow_redirects=True,
                           data={"csrf_token": token, "action": "reject", "reason": ""})
    assert "请填写原因" in response.get_data(as_text=True)
    assert database_dump() == before
    client.post(f"/applications/{application.id}/decide", data={"csrf_token": token, "action": "qualify"})
    db.session.expire_all()
    assert db.session.get(Application, application.id).stage is Stage.EXPERT_REVIEW


def test_objection_form_needs_contact_details(app, client, factory):
    set_today(app, date(2026, 11, 2))
    intake = Intake(factory, app)
    application = intake.to_notice(intake.submit())
    page = client.get(f"/notices/{application.id}").get_data(as_text=True)
    token = csrf_token_from(page)
    before = database_dump()
    response = client.post(f"/notices/{application.id}", data={"csrf_token": token, "name": "李群众",
                                                                 "contact": "随便", "content": "有异议"})
    assert response.status_code == 422
    assert "请填写手机号、固定电话（区号-号码）或电子邮箱" in response.get_data(as_text=True)
    assert database_dump() == before
    response = client.post(f"/notices/{application.id}", data={"csrf_token": token, "name": "李群众",
                                                                 "contact": "li@example.cn", "content": "有异议"})
    assert response.status_code == 200 and "异议已受理" in response.get_data(as_text=True)
    db.session.expire_all()
    objection = db.session.get(Application, application.id).objections[0]
    assert objection.contact_masked == "l***@example.cn" and "li@example.cn" not in objection.contact_enc
    assert client.get("/notices/999999").status_code == 404
