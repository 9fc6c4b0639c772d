"""The panel report (论证报告): every signed opinion in full with its hash, dissent entry by entry, attendance
and adoption, on the printable page, in the Word file and through the API; only for those who may read it."""
from __future__ import annotations

import io
from datetime import datetime, time, timezone
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from docx import Document

from experts_service.consultation import engagements as records
from experts_service.consultation import operations, report
from experts_service.consultation.models import Invitation, InvitationStatus
from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.core.clock import display_zone
from experts_service.core.errors import Forbidden
from experts_service.extensions import db
from experts_service.panels.models import Engagement
from tests.api.helpers import API, assert_error
from tests.conftest import api_token, login
from tests.consultation.helpers import SENIOR, pool_with_accounts, recommended_request

BASE = {"necessity": "老旧小区改造势在必行。", "legality": "符合城乡规划法。", "feasibility": "资金来源基本落实。",
        "risks": "拆迁补偿可能引发争议。", "suggestions": "分期实施，先行试点。"}
AGREE = {**BASE, "conclusion": "agree", "dissent": ""}
WITH_CHANGES = {**BASE, "suggestions": "补偿标准应听证后确定。", "conclusion": "agree_with_changes",
                "dissent": "第十二条的补偿标准偏低，保留意见。"}
DISAGREE = {**BASE, "feasibility": "财政承受能力不足。", "conclusion": "disagree",
            "dissent": "现阶段不宜出台，建议暂缓。"}


def _audit(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.seq)).scalars())


@pytest.fixture
def held(factory, app):
    """A 5-seat meeting held today: one member declined and was replaced; on time, late, absent; three
    opinions (agree, agree with changes, disagree), one member silent; feedback on two opinions."""
    panelled = pool_with_accounts(factory)
    request, record = recommended_request(panelled, days_ahead=10, meeting_time=time(9), meeting_end_time=time(12))
    operations.confirm_panel(panelled.department_user, request, record.id)
    db.session.commit()
    seniors = {e.id for e in panelled.experts[:SENIOR]}
    invitations = db.session.execute(sa.select(Invitation).where(Invitation.panel_request_id == request.id)
                                     .order_by(Invitation.id)).scalars().all()
    leaving = next(i for i in invitations if i.expert_id not in seniors)
    operations.decline(panelled.user_of(leaving.expert_id), leaving, "当日另有教学任务")
    db.session.commit()
    for invitation in db.session.execute(sa.select(Invitation).where(
            Invitation.panel_request_id == request.id, Invitation.status == InvitationStatus.PENDING)
            .order_by(Invitation.id)).scalars().all():
        operations.accept(panelled.user_of(invitation.expert_id), invitation)
        db.session.commit()
    app.config["CLOCK_NOW"] = datetime.combine(request.meeting_date, time(15), tzinfo=display_zone()
                                               ).astimezone(timezone.utc)
    engagements = db.session.execute(sa.select(Engagement).where(Engagement.panel_request_id == request.id)
                                     .order_by(Engagement.id)).scalars().all()
    assert len(engagements) == 5
    department = panelled.department_user
    attendances = ({"attendance": "on_time"}, {"attendance": "late", "minutes_late": 20}, {"attendance": "absent"},
                   {"attendance": "on_time"}, {"attendance": "on_time"})
    for engagement, attendance in zip(engagements, attendances):
        records.record_attendance(department, engagement, attendance)
    db.session.commit()
    opinions = {}
    for engagement, data in zip((engagements[0], engagements[1], engagements[3]), (AGREE, WITH_CHANGES, DISAGREE)):
        opinions[data["conclusion"]] = records.save_opinion(panelled.user_of(engagement.expert_id), engagement,
                                                            dict(data), submit=True)
        db.session.commit()
    records.record_adoption(department, opinions["agree"], {"decision": "adopted"})
    records.record_adoption(department, opinions["agree_with_changes"],
                            {"decision": "partly_adopted", "reason": "补偿标准将另行听证"})
    db.session.commit()
    yield {"panelled": panelled, "request": request, "engagements": engagements, "opinions": opinions,
           "replaced": leaving}
    app.config.pop("CLOCK_NOW", None)


def _names(held) -> dict[int, str]:
    return {e.id: e.name for e in held["panelled"].experts}


def test_the_report_holds_each_signed_opinion_dissent_apart_attendance_and_adoption(held):
    panelled, request, engagements, opinions = held["panelled"], held["request"], held["engagements"], held["opinions"]
    built = report.get_report(panelled.department_user, request.id)
    names = _names(held)

    assert [m.expert_id for m in built.members] == [e.expert_id for e in engagements]
    assert [m.attendance_label for m in built.members] == ["准时", "迟到 20 分钟", "缺席", "准时", "准时"]
    # The stand-in for the declined member came as a replacement; the others from the recommendation.
    stand_in = db.session.execute(sa.select(Invitation).where(
        Invitation.replaces_id == held["replaced"].id)).scalar_one()
    origins = {m.expert_id: m.origin for m in built.members}
    assert origins.pop(stand_in.expert_id) == "replacement"
    assert set(origins.values()) == {"recommended"}

    assert [o.id for o in built.opinions] == [opinions[c].id for c in ("agree", "agree_with_changes", "disagree")]
    for entry in built.opinions:
        stored = opinions[entry.conclusion]
        assert entry.content_hash == stored.content_hash and len(entry.content_hash) == 64
        assert entry.signature_holds and entry.submitted_at == stored.submitted_at
        assert {s.key: s.text for s in entry.sections} == {key: getattr(stored, key) for key in BASE}
    # Dissent: the two dissenting opinions, each its own entry with its own text, never merged.
    assert [(d.opinion_id, d.conclusion, d.text) for d in built.dissents] == [
        (opinions["agree_with_changes"].id, "agree_with_changes", WITH_CHANGES["dissent"]),
        (opinions["disagree"].id, "disagree", DISAGREE["dissent"])]
    assert {c.key: c.count for c in built.summary.conclusions} == {"agree": 1, "agree_with_changes": 1, "disagree": 1}
    # The absent member gave no opinion and is not "missing"; the silent one is.
    assert built.summary.missing == (names[engagements[4].expert_id],)
    adoption = {o.conclusion: (o.adoption.decision, o.adoption.reason) if o.adoption else None for o in built.opinions}
    assert adoption == {"agree": ("adopted", ""), "agree_with_changes": ("partly_adopted", "补偿标准将另行听证"),
                        "disagree": None}


def test_the_printable_page_shows_every_hash_name_attendance_and_dissent(held, client):
    panelled, request, opinions = held["panelled"], held["request"], held["opinions"]
    assert login(client, panelled.department_user.username).status_code == 302
    page = client.get(f"/panel-requests/{request.id}/report")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="report"' in html and "论证报告" in html
    for opinion in opinions.values():
        assert opinion.content_hash in html
    for engagement in held["engagements"]:
        assert _names(held)[engagement.expert_id] in html
    assert "迟到 20 分钟" in html and "缺席" in html
    assert WITH_CHANGES["dissent"] in html and DISAGREE["dissent"] in html
    assert html.count('class="dissent"') == 2
    assert "补偿标准将另行听证" in html
    assert f'/panel-requests/{request.id}/report.docx' in html


def _docx_text(content: bytes) -> str:
    document = Document(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def test_the_word_file_opens_and_holds_the_same_hashes_and_names_and_its_download_is_audited(held, client):
    panelled, request, opinions = held["panelled"], held["request"], held["opinions"]
    assert login(client, panelled.department_user.username).status_code == 302
    response = client.get(f"/panel-requests/{request.id}/report.docx")
    assert response.status_code == 200
    assert response.mimetype == report.DOCX_MIMETYPE
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(f'论证报告-{request.id}.docx')}" in disposition

    text = _docx_text(response.data)
    assert request.item.title in text and "专家论证报告" in text
    for opinion in opinions.values():
        assert opinion.content_hash in text
    for engagement in held["engagements"]:
        assert _names(held)[engagement.expert_id] in text
    for part in ("迟到 20 分钟", "缺席", WITH_CHANGES["dissent"], DISAGREE["dissent"], "补偿标准将另行听证",
                 BASE["necessity"], DISAGREE["feasibility"], "生成时间"):
        assert part in text, part
    assert Document(io.BytesIO(response.data)).core_properties.title.endswith("专家论证报告")

    [entry] = _audit("report.download")
    assert entry.actor_id == panelled.department_user.id
    assert (entry.object_type, entry.object_id) == ("panel_request", str(request.id))
    assert sorted(o["content_hash"] for o in entry.summary["opinions"]) == sorted(
        o.content_hash for o in opinions.values())


def test_the_api_report_matches_and_is_documented(held, live_server, http):
    panelled, request, opinions = held["panelled"], held["request"], held["opinions"]
    headers = api_token(live_server, panelled.department_user.username)
    response = http.get(f"{API}/panel-requests/{request.id}/report", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request"]["id"] == request.id and body["item"]["title"] == request.item.title
    assert {o["id"]: o["content_hash"] for o in body["opinions"]} == {o.id: o.content_hash for o in opinions.values()}
    assert all(o["signature_holds"] for o in body["opinions"])
    assert [d["conclusion"] for d in body["dissents"]] == ["agree_with_changes", "disagree"]
    assert [m["attendance"] for m in body["members"]] == ["on_time", "late", "absent", "on_time", "on_time"]
    assert body["members"][1]["minutes_late"] == 20
    assert {c["key"]: c["count"] for c in body["summary"]["conclusions"]} == {
        "agree": 1, "agree_with_changes": 1, "disagree": 1}
    spec = http.get(f"{API}/openapi.json").json()
    assert "PanelReport" in spec["components"]["schemas"]
    assert "200" in spec["paths"]["/api/v1/panel-requests/{request_id}/report"]["get"]["responses"]


def test_another_department_and_experts_are_refused_and_nothing_is_audited(held, factory, client, live_server, http):
    panelled, request = held["panelled"], held["request"]
    other = factory.user(Role.DEPARTMENT)  # a department of another organisation
    member = panelled.user_of(held["engagements"][0].expert_id)  # an expert on this very panel
    with pytest.raises(Forbidden):
        report.get_report(other, request.id)
    for user in (other, member):
        browser = client.application.test_client()
        assert login(browser, user.username).status_code == 302
        for path in (f"/panel-requests/{request.id}/report", f"/panel-requests/{request.id}/report.docx"):
            refused = browser.get(path)
            assert refused.status_code == 403 and "无权" in refused.get_data(as_text=True)
        assert_error(http.get(f"{API}/panel-requests/{request.id}/report",
                              headers=api_token(live_server, user.username)), 403, "forbidden")
    assert _audit("report.download") == []
    office = api_token(live_server, panelled.world.office.username)
    assert http.get(f"{API}/panel-requests/{request.id}/report", headers=office).status_code == 200
    assert_error(http.get(f"{API}/panel-requests/999999/report", headers=office), 404, "not_found")
