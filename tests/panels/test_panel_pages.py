"""The panel pages through the test client: a department files an item and a
request, the talent office generates a recommendation (real full-text
relevance) or a draw, reads the explanations and replaces a member."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from experts_service.core.audit import AuditEntry
from experts_service.core.auth import Role
from experts_service.core.clock import today
from experts_service.extensions import db
from experts_service.panels.models import AvoidEntry, DecisionItem, PanelRequest, Recommendation, RecommendationKind
from tests.conftest import csrf_token_from, login
from tests.page_helpers import field_errors, flashes, form_data, page_of
from tests.panels.helpers import World


def counts() -> dict[str, int]:
    db.session.expire_all()
    return {model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (DecisionItem, PanelRequest, AvoidEntry, Recommendation, AuditEntry)}


@pytest.fixture
def world(factory):
    return World(factory)


@pytest.fixture
def sign_in(client, factory, world):
    def _sign_in(role: Role):
        extra = {"organisation_id": world.department.id} if role is Role.DEPARTMENT else {}
        user = factory.user(role, **extra)
        assert login(client, user.username).status_code == 302
        return user

    return _sign_in


def submit(client, url: str, form_id: str, **changes):
    """The form as the browser would send it, with some fields changed (lists for multi-valued fields)."""
    page = page_of(client.get(url))
    form = page.by_id(form_id)
    assert form is not None, f"no #{form_id} on {url}"
    data = form_data(form)
    for key, value in changes.items():
        data[key] = value if isinstance(value, list) else [value]
    return client.post(form.get("action"), data=data)


def pool(world, n: int = 7):
    names = ("赵一", "钱二", "孙三", "李四", "周五", "吴六", "郑七", "王八", "冯九", "陈十", "褚十一", "卫十二")
    experts = []
    for k, name in enumerate(names[:n]):
        experts.append(world.expert(
            name, tier="core" if k % 3 == 0 else "general", political="non_party" if k == 3 else "cpc",
            keywords=["城市更新", "老旧小区改造"] if k < 2 else ["财政预算"],
            bio="长期研究城市更新与老旧小区改造。" if k < 2 else "研究财政预算管理。"))
    return experts


# ---------------------------------------------------------------- department


def test_department_files_an_item_and_a_request(client, world, sign_in, factory):
    factory.organisation("江海城市建设投资集团有限公司", type_="enterprise", aliases=["江海城投"])
    avoided = world.expert("王芳")
    sign_in(Role.DEPARTMENT)
    before = counts()
    response = submit(client, "/items/new", "item-form", title="老旧小区改造实施方案", category="livelihood",
                      description="加装电梯与管网改造。", keywords="城市更新，老旧小区",
                      domain_ids=[str(factory.domain_id("城乡规划"))], stakeholders="江海城投",
                      confidential="on")
    assert response.status_code == 302, page_of(response).clean_text[:500]
    item = db.session.execute(sa.select(DecisionItem)).scalar_one()
    assert item.organisation_id == world.department.id and item.confidential
    assert item.keywords == ["城市更新", "老旧小区"] and [o.name for o in item.stakeholders] == ["江海城市建设投资集团有限公司"]
    page = page_of(client.get(response.headers["Location"]))
    assert page.by_id("item-title").clean_text.startswith("老旧小区改造实施方案")

    response = submit(client, f"/items/{item.id}/requests/new", "request-form", mode="meeting", seats="5",
                      meeting_date=(today() + timedelta(days=20)).isoformat(), meeting_time="14:30",
                      meeting_place="市政府 301 会议室", avoid_name_1="王芳", avoid_reason_1="参与过方案起草")
    assert response.status_code == 302, field_errors(page_of(response))
    request = db.session.execute(sa.select(PanelRequest)).scalar_one()
    assert [(e.expert_id, e.reason) for e in request.avoid_entries] == [(avoided.id, "参与过方案起草")]
    # The request form proposes the item's domains as the required ones.
    assert [d.name for d in request.required_domains] == ["城乡规划"]
    page = page_of(client.get(f"/panel-requests/{request.id}"))
    assert "王芳" in page.by_id("request-avoid").clean_text
    assert page.by_id("run-recommend") is None, "a department does not generate recommendations"
    after = counts()
    assert (after["decision_items"], after["panel_requests"]) == (before["decision_items"] + 1,
                                                                  before["panel_requests"] + 1)


def test_invalid_forms_show_field_messages_and_write_nothing(client, world, sign_in):
    sign_in(Role.DEPARTMENT)
    before = counts()
    response = submit(client, "/items/new", "item-form", title="", category="livelihood", stakeholders="不存在的单位")
    assert response.status_code == 422
    errors = field_errors(page_of(response))
    assert errors["title"] and "不存在的单位" in errors["stakeholder_ids"][0]
    item = world.item()
    before = counts()
    cases = [
        ({"mode": "meeting", "seats": "4", "meeting_date": (today() + timedelta(days=5)).isoformat(),
          "meeting_place": "会议室"}, "seats", "奇数"),
        ({"mode": "written", "seats": "3"}, "deadline", "截止日期"),
        ({"mode": "written", "seats": "3", "deadline": (today() + timedelta(days=5)).isoformat(),
          "avoid_name_1": "查无此人", "avoid_reason_1": "x"}, "avoid", "没有"),
    ]
    for change, field, text in cases:
        response = submit(client, f"/items/{item.id}/requests/new", "request-form", **change)
        assert response.status_code == 422
        assert text in " ".join(field_errors(page_of(response))[field])
    assert counts() == before


def test_the_avoid_list_limit_holds_even_with_a_tampered_form(client, world, sign_in):
    experts = [world.expert(name) for name in ("赵一", "钱二", "孙三", "李四")]
    item = world.item()
    sign_in(Role.DEPARTMENT)
    before = counts()
    rows = {f"avoid_name_{n}": e.name for n, e in enumerate(experts, start=1)}
    rows.update({f"avoid_reason_{n}": "利益相关" for n in range(1, 5)})
    response = submit(client, f"/items/{item.id}/requests/new", "request-form", mode="written", seats="3",
                      deadline=(today() + timedelta(days=9)).isoformat(), avoid_rows="4", **rows)
    assert response.status_code == 422
    assert "最多 3 人" in field_errors(page_of(response))["avoid"][0]
    assert counts() == before


def test_department_sees_only_its_panel_not_the_ranking(client, world, sign_in):
    pool(world)
    record = world.run(world.request(world.item()))
    sign_in(Role.DEPARTMENT)
    page = page_of(client.get(f"/recommendations/{record.id}"))
    members = page.by_id("panel-members")
    assert [int(tr.get("data-expert-id")) for tr in members.find("tbody").find_all("tr")] == record.result["panel"]
    assert page.by_id("ranking") is None and page.by_id("alternates") is None and page.by_id("replace-member") is None
    assert page.by_id("composition-report") is not None


# ---------------------------------------------------------------- talent office


def test_talent_office_generates_an_explained_recommendation(client, world, sign_in):
    experts = pool(world)
    request = world.request(world.item(title="城市更新条例", description="老旧小区改造", keywords=["城市更新"]))
    sign_in(Role.TALENT_OFFICE)
    page = page_of(client.get(f"/panel-requests/{request.id}"))
    assert page.by_id("run-recommend") is not None and page.by_id("run-draw") is None
    response = submit(client, f"/panel-requests/{request.id}", "run-form")
    assert response.status_code == 302
    record = db.session.execute(sa.select(Recommendation)).scalar_one()
    page = page_of(client.get(response.headers["Location"]))
    assert ("success", "已生成推荐") in flashes(page)
    assert page.by_id("compliance").clean_text == "符合全部规则"
    members = page.by_id("panel-members").find_all("article", cls="member")
    assert [int(m.get("data-expert-id")) for m in members] == record.result["panel"]
    # The two experts whose profiles match the item's text come first, with highlighted snippets.
    first = members[0]
    assert int(first.get("data-expert-id")) in {experts[0].id, experts[1].id}
    marks = [m.clean_text for m in first.find_all("mark")]
    assert marks and any("城市更新" in m or "老旧小区" in m for m in marks)
    assert "本年度已参与 0 次" in first.find("dd", cls="workload").clean_text
    assert "相关度" in first.find("dd", cls="score-parts").clean_text
    report = {tr.get("data-rule"): tr.get("data-met") for tr in page.by_id("composition-report").find_all("tr")
              if tr.get("data-rule")}
    assert report["seats"] == "yes" and report["representative"] == "yes"
    filtered = {tr.get("data-reason") for tr in page.by_id("filtered").find_all("tr") if tr.get("data-reason")}
    assert filtered == {"not_active", "unavailable", "yearly_cap", "employment", "declared_conflict", "avoid_list"}
    ranking = page.by_id("ranking").find("tbody").find_all("tr")
    assert len(ranking) == len(experts)


def test_talent_office_replaces_a_member_through_the_form(client, world, sign_in):
    pool(world)
    record = world.run(world.request(world.item()))
    sign_in(Role.TALENT_OFFICE)
    removed = record.result["panel"][1]
    response = submit(client, f"/recommendations/{record.id}", "replace-form", remove_expert_id=str(removed),
                      reason="出国访问")
    assert response.status_code == 302, field_errors(page_of(response))
    new = db.session.execute(sa.select(Recommendation).where(Recommendation.parent_id == record.id)).scalar_one()
    assert new.kind is RecommendationKind.REPLACEMENT and removed not in new.result["panel"]
    assert new.result["panel"][1] == record.result["first_replacement"][str(removed)]
    page = page_of(client.get(response.headers["Location"]))
    assert "出国访问" in page.by_id("replacement-note").clean_text
    # The parent now links to its adjustment.
    assert f"记录 {new.id}" in page_of(client.get(f"/recommendations/{record.id}")).by_id("record-meta").clean_text


def test_a_replacement_breaking_a_rule_is_shown_and_nothing_written(client, world, sign_in, factory):
    university = factory.organisation("江海大学")
    experts = pool(world, 5)
    same_root = world.expert("同校专家", employer=factory.organisation("江海大学法学院", parent_id=university.id))
    from experts_service.experts.operations import update_expert

    update_expert(world.office, experts[2], {"employer_id": university.id})
    db.session.commit()
    record = world.run(world.request(world.item()))
    assert experts[2].id in record.result["panel"] and same_root.id not in record.result["panel"]
    sign_in(Role.TALENT_OFFICE)
    before = counts()
    response = submit(client, f"/recommendations/{record.id}", "replace-form",
                      remove_expert_id=str(next(i for i in record.result["panel"] if i != experts[2].id)),
                      add_expert_id=str(same_root.id), reason="调整")
    assert response.status_code == 422
    page = page_of(response)
    assert "同一单位专家不超过上限" in page.by_id("form-errors").clean_text
    assert counts() == before


def test_a_draw_from_the_request_page(client, world, sign_in):
    pool(world, 12)
    request = world.request(world.item(), mode="written", seats=3, meeting_date=None, meeting_place=None,
                            deadline=today() + timedelta(days=15), selection_method="random_draw")
    sign_in(Role.TALENT_OFFICE)
    page = page_of(client.get(f"/panel-requests/{request.id}"))
    assert page.by_id("run-draw") is not None and page.by_id("run-recommend") is None
    response = submit(client, f"/panel-requests/{request.id}", "run-form")
    assert response.status_code == 302
    record = db.session.execute(sa.select(Recommendation)).scalar_one()
    page = page_of(client.get(response.headers["Location"]))
    assert ("success", "已完成随机抽取") in flashes(page)
    assert record.seed_hash in page.by_id("draw-proof").clean_text
    assert page.by_id("draw-verification").find("span").clean_text == "一致"
    assert page.by_id("public-proof-link").get("href") == f"/draws/{record.id}"
    # Drawn once; the button is gone and a second post is refused.
    page = page_of(client.get(f"/panel-requests/{request.id}"))
    assert page.by_id("run-draw") is None and page.by_id("already-drawn") is not None
    token = csrf_token_from(client.get(f"/panel-requests/{request.id}").get_data(as_text=True))
    response = client.post(f"/panel-requests/{request.id}/run", data={"csrf_token": token, "method": "random_draw"})
    assert response.status_code == 302
    assert any("不能重复抽取" in message for _, message in flashes(page_of(client.get(response.headers["Location"]))))
    assert db.session.scalar(sa.select(sa.func.count(Recommendation.id))) == 1


def test_a_draw_refused_for_a_small_pool_says_why(client, world, sign_in):
    pool(world, 5)
    request = world.request(world.item(), mode="written", seats=3, meeting_date=None, meeting_place=None,
                            deadline=today() + timedelta(days=15), selection_method="random_draw")
    sign_in(Role.TALENT_OFFICE)
    response = submit(client, f"/panel-requests/{request.id}", "run-form")
    page = page_of(client.get(response.headers["Location"]))
    assert any("不足随机抽取所需" in message for category, message in flashes(page) if category == "danger")
    assert db.session.scalar(sa.select(sa.func.count(Recommendation.id))) == 0


def test_highlights_cannot_inject_markup_even_from_an_altered_record(client, world, sign_in):
    pool(world)
    record = world.run(world.request(world.item()))
    member = record.result["panel"][0]
    candidates = [dict(c, text={"score": 1.0, "matched_terms": ["x"], "highlights": {
        "个人简介": '<script>alert(1)</script>研究<mark>城市更新</mark>&amp;改造'}}) if c["expert_id"] == member else c
        for c in record.candidates]
    db.session.execute(sa.update(Recommendation.__table__).where(Recommendation.__table__.c.id == record.id)
                       .values(candidates=candidates))
    db.session.commit()
    sign_in(Role.TALENT_OFFICE)
    html = client.get(f"/recommendations/{record.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;研究<mark>城市更新</mark>&amp;改造" in html
