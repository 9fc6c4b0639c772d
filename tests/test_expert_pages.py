"""Expert pages through the test client: list search/filters/sorting/paging,
create, edit (talent office and the expert), detail with masked personal data.

Every check reads the rendered HTML the way a user sees it (rows, field
messages, flashes) and the database state behind it.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from experts_service.core.audit import AuditEntry
from experts_service.core.clock import today
from experts_service.core.idcard import check_digit, mask_id_number
from experts_service.experts.models import Appointment, Expert, ExpertStatus
from experts_service.extensions import db
from tests.conftest import csrf_token_from, login, valid_id_number
from tests.page_helpers import expert_rows, field_errors, flashes, form_data, page_of

# ---------------------------------------------------------------- helpers


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return [name for _, name in expert_rows(page_of(response))]


def total_shown(response) -> str:
    return page_of(response).by_id("experts-total").clean_text


def counts() -> dict[str, int]:
    """Rows that any expert write would add; compared before/after refused submits."""
    return {
        "experts": db.session.scalar(sa.select(sa.func.count(Expert.id))),
        "appointments": db.session.scalar(sa.select(sa.func.count(Appointment.id))),
        "audit": db.session.scalar(sa.select(sa.func.count(AuditEntry.id))),
    }


def audit_entries(action: str) -> list[AuditEntry]:
    return list(db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
    ).scalars())


def fresh(expert_id: int) -> Expert:
    """The stored record, not the copy this test's session already holds."""
    db.session.expire_all()
    return db.session.get(Expert, expert_id)


def birth_for_age(age: int) -> date:
    """A birth date that makes someone exactly `age` today (their birthday was yesterday)."""
    now = today()
    try:
        anniversary = now.replace(year=now.year - age)
    except ValueError:  # today is 29 February
        anniversary = now.replace(year=now.year - age, day=28)
    return anniversary - timedelta(days=1)


def with_wrong_check_digit(id_number: str) -> str:
    right = check_digit(id_number[:17])
    wrong = next(c for c in "0123456789X" if c != right)
    return id_number[:17] + wrong


@pytest.fixture
def talent_office(login_as):
    return login_as("talent_office")


# ---------------------------------------------------------------- list: search


@pytest.fixture
def named_experts(factory):
    employer = factory.organisation("江南大学").id
    created = {}
    for name in ("张伟", "张卫", "李娜", "单磊", "曾强", "王芳"):
        created[name] = factory.expert(name=name, employer_id=employer).id
    return created


@pytest.mark.parametrize("query, expected", [
    ("张伟", ["张伟"]),
    ("伟", ["张伟"]),
    ("zhangwei", ["张伟", "张卫"]),  # homophones share the spelling; ties keep entry order
    ("zw", ["张伟", "张卫"]),
    ("ZW", ["张伟", "张卫"]),
    ("ZhangWei", ["张伟", "张卫"]),
    ("zhang wei", ["张伟", "张卫"]),
    ("  zhangwei ", ["张伟", "张卫"]),
    ("lina", ["李娜"]),
    ("wf", ["王芳"]),
    # 单 as a surname reads shan, 曾 reads zeng; the everyday readings still find them.
    ("shanlei", ["单磊"]),
    ("sl", ["单磊"]),
    ("shan lei", ["单磊"]),
    ("danlei", ["单磊"]),
    ("zengqiang", ["曾强"]),
    ("zq", ["曾强"]),
    ("ZENG QIANG", ["曾强"]),
    ("zhao", []),
])
def test_search_box_finds_names_by_characters_pinyin_and_initials(client, talent_office, named_experts,
                                                                   query, expected):
    response = client.get("/experts", query_string={"q": query})
    assert names(response) == expected
    assert total_shown(response) == f"共 {len(expected)} 名专家"
    # The box keeps what was typed, so the user can refine it.
    assert page_of(response).by_id("f-q").get("value") == query.strip()
    if not expected:
        assert "没有符合条件的专家" in page_of(response).by_id("experts-empty").clean_text


@pytest.mark.parametrize("query", ["%", "_", "张%", "%伟", "zhang_ei", "z%w", "\\", "%%"])
def test_like_wildcards_in_the_search_match_literally(client, talent_office, named_experts, query):
    # Unescaped, "%" and "_" would match every row (or "zhangwei" for "zhang_ei").
    response = client.get("/experts", query_string={"q": query})
    assert names(response) == []
    assert total_shown(response) == "共 0 名专家"


# ---------------------------------------------------------------- list: filters


@pytest.fixture
def filter_world(factory):
    employer = factory.organisation("江南大学").id
    d = factory.domain_id
    experts = {
        # 城乡建设 children: 城乡规划 (primary) ...
        "张伟": factory.expert(name="张伟", employer_id=employer, primary_domain_id=d("城乡规划"),
                             secondary_domain_ids=[], tier_id=factory.tier_id("general"), title_level="senior"),
        # ... 交通运输 as a secondary domain only ...
        "李娜": factory.expert(name="李娜", employer_id=employer, primary_domain_id=d("产业规划"),
                             secondary_domain_ids=[d("交通运输")], tier_id=factory.tier_id("core"),
                             title_level="associate"),
        # ... and the first-level domain itself.
        "赵敏": factory.expert(name="赵敏", employer_id=employer, primary_domain_id=d("城乡建设"),
                             secondary_domain_ids=[], tier_id=factory.tier_id("core"), title_level="senior"),
        # Outside 城乡建设 entirely.
        "王芳": factory.expert(name="王芳", employer_id=employer, primary_domain_id=d("社会救助"),
                             secondary_domain_ids=[d("城市治理")], tier_id=factory.tier_id("chief"),
                             title_level="senior"),
        "刘洋": factory.expert(name="刘洋", employer_id=employer, primary_domain_id=d("数字经济"),
                             secondary_domain_ids=[], tier_id=factory.tier_id("general"),
                             title_level="intermediate"),
    }
    suspended = db.session.get(Expert, experts["刘洋"].id)
    suspended.status = ExpertStatus.SUSPENDED
    db.session.commit()
    return experts


def test_first_level_domain_filter_covers_its_children_in_primary_and_secondary_domains(
        client, factory, talent_office, filter_world):
    response = client.get("/experts", query_string={"domain_id": factory.domain_id("城乡建设")})
    assert names(response) == ["李娜", "张伟", "赵敏"]
    assert total_shown(response) == "共 3 名专家"


@pytest.mark.parametrize("domain, expected", [
    ("城乡规划", ["张伟"]),  # a second-level domain matches only itself
    ("交通运输", ["李娜"]),
    ("社会管理", ["王芳"]),
    ("医疗卫生", []),
])
def test_domain_filter(client, factory, talent_office, filter_world, domain, expected):
    response = client.get("/experts", query_string={"domain_id": factory.domain_id(domain)})
    assert names(response) == expected


@pytest.mark.parametrize("args, expected", [
    ({"tier_id": "core"}, ["李娜", "赵敏"]),
    ({"tier_id": "chief"}, ["王芳"]),
    ({"status": "suspended"}, ["刘洋"]),
    ({"status": "active"}, ["李娜", "王芳", "张伟", "赵敏"]),
    ({"status": "exited"}, []),
    ({"title_level": "senior"}, ["王芳", "张伟", "赵敏"]),
    ({"title_level": "intermediate"}, ["刘洋"]),
    ({"domain_id": "城乡建设", "tier_id": "core"}, ["李娜", "赵敏"]),
    ({"domain_id": "城乡建设", "tier_id": "core", "title_level": "senior"}, ["赵敏"]),
    ({"domain_id": "城乡建设", "status": "active", "q": "zhang"}, ["张伟"]),
    ({"tier_id": "general", "status": "active"}, ["张伟"]),
])
def test_tier_status_title_and_combined_filters(client, factory, talent_office, filter_world, args, expected):
    query = dict(args)
    if "tier_id" in query:
        query["tier_id"] = factory.tier_id(query["tier_id"])
    if "domain_id" in query:
        query["domain_id"] = factory.domain_id(query["domain_id"])
    response = client.get("/experts", query_string=query)
    assert names(response) == expected
    assert total_shown(response) == f"共 {len(expected)} 名专家"
    # The filter form shows the active choices again.
    page = page_of(response)
    for key, select_id in (("tier_id", "f-tier"), ("domain_id", "f-domain"), ("status", "f-status"),
                           ("title_level", "f-title")):
        if key in query:
            selected = [o.get("value") for o in page.by_id(select_id).find_all("option") if o.has("selected")]
            assert selected == [str(query[key])]
    assert not [f for f in flashes(page) if f[0] == "warning"]


# ---------------------------------------------------------------- list: sorting and paging


@pytest.fixture
def sortable_experts(factory):
    employer = factory.organisation("江南大学").id
    rows = [("张伟", 20, "general"), ("李娜", 15, "core"), ("单磊", 30, "chief"), ("曾强", 8, "general"),
            ("李雨", 12, "core"), ("连安", 25, "general"), ("欧阳娜娜", 18, "chief"), ("王芳", 5, "core")]
    for name, years, tier in rows:
        factory.expert(name=name, years_in_field=years, tier_id=factory.tier_id(tier), employer_id=employer)


@pytest.mark.parametrize("sort, expected", [
    # Roster order: syllable by syllable (李 li before 连 lian), 单 under S (shan), 曾 under Z (zeng).
    ("name", ["李娜", "李雨", "连安", "欧阳娜娜", "单磊", "王芳", "曾强", "张伟"]),
    ("-name", ["张伟", "曾强", "王芳", "单磊", "欧阳娜娜", "连安", "李雨", "李娜"]),
    ("-years", ["单磊", "连安", "张伟", "欧阳娜娜", "李娜", "李雨", "曾强", "王芳"]),
    ("years", ["王芳", "曾强", "李雨", "李娜", "欧阳娜娜", "张伟", "连安", "单磊"]),
    ("tier", ["欧阳娜娜", "单磊", "李娜", "李雨", "王芳", "连安", "曾强", "张伟"]),
])
def test_sorting(client, talent_office, sortable_experts, sort, expected):
    response = client.get("/experts", query_string={"sort": sort})
    assert names(response) == expected
    header = page_of(response).find("th", data_sort_key=sort.lstrip("-"))
    assert header.get("aria-sort") == ("descending" if sort.startswith("-") else "ascending")


def test_default_order_is_by_name(client, talent_office, sortable_experts):
    assert names(client.get("/experts"))[:3] == ["李娜", "李雨", "连安"]


def test_paging_shows_twenty_per_page_and_the_total(client, factory, talent_office):
    employer = factory.organisation("江南大学").id
    created = set()
    for surname in "赵钱孙李周":
        for given in "一二三四五":
            created.add(factory.expert(name=f"{surname}{given}", employer_id=employer).id)
    first = client.get("/experts")
    second = client.get("/experts", query_string={"page": 2})
    first_rows, second_rows = expert_rows(page_of(first)), expert_rows(page_of(second))
    assert len(first_rows) == 20
    assert len(second_rows) == 5
    assert total_shown(first) == total_shown(second) == "共 25 名专家"
    # Together the pages hold every expert once, in one continuous order.
    assert {i for i, _ in first_rows} | {i for i, _ in second_rows} == created
    assert len(first_rows) + len(second_rows) == len(created)
    everyone = names(client.get("/experts", query_string={"per_page": 100}))
    assert [n for _, n in first_rows + second_rows] == everyone
    nav = page_of(first).find("nav", cls="pagination")
    assert nav.find("span", cls="page-info").clean_text == "第 1 / 2 页"
    assert nav.find("a", rel="next").get("href") == "/experts?page=2"
    third = client.get("/experts", query_string={"page": 3})
    assert names(third) == [] and total_shown(third) == "共 25 名专家"


@pytest.mark.parametrize("args, message", [
    ({"page": "abc"}, "page 须为整数"),
    ({"page": "0"}, "page 页码超出范围"),
    ({"page": "-3"}, "page 页码超出范围"),
    ({"per_page": "100000"}, "per_page 每页条数须在 1–100 之间"),
    ({"per_page": "0"}, "per_page 每页条数须在 1–100 之间"),
    ({"status": "bogus"}, "status 取值须为以下之一"),
    ({"title_level": "professor"}, "title_level 取值须为以下之一"),
    ({"sort": "password"}, "sort 取值须为以下之一"),
    ({"domain_id": "abc"}, "domain_id 须为整数"),
    ({"tier_id": "1.5"}, "tier_id 须为整数"),
    ({"q": "字" * 41}, "q 长度须在 0–40 字之间"),
    ({"page": "99999999999999999999"}, "page 页码超出范围"),
])
def test_bad_filter_values_show_a_warning_and_the_whole_list(client, talent_office, named_experts, args, message):
    response = client.get("/experts", query_string=args)
    assert response.status_code == 200
    warnings = [text for category, text in flashes(page_of(response)) if category == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("筛选条件无效，已显示全部专家：")
    assert message in warnings[0]
    assert len(names(response)) == len(named_experts)


@pytest.mark.parametrize("url", [
    "/experts?q=%00",
    "/experts?q=%E5%BC%A0%00%E4%BC%9F",  # 张\0伟
    "/experts?q=%ff%fe",  # not UTF-8
    "/experts?sort=%00",
    "/experts?domain_id=%00",
])
def test_control_characters_in_the_url_never_cause_a_server_error(client, talent_office, named_experts, url):
    # A NUL byte is valid in a URL but not in a PostgreSQL text value.
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    warned = any(category == "warning" for category, _ in flashes(page_of(response)))
    # Either refused with the warning (and the whole list), or searched literally (no match).
    assert len(names(response)) == (len(named_experts) if warned else 0)


# ---------------------------------------------------------------- create


@pytest.fixture
def jiangda(factory):
    """An employer known by its alias, as staff type it."""
    return factory.organisation("江南大学", aliases=["江大"])


def new_expert_form(client, factory, **values) -> dict:
    """The create form as the page renders it, filled in with valid values, then `values`."""
    page = page_of(client.get("/experts/new"))
    data = form_data(page.by_id("expert-form"))
    data.update({
        "name": "陈静",
        "id_number": valid_id_number(birth=date(1972, 3, 8)),
        "mobile": "13912345678",
        "employer_name": "江大",
        "position": "教授、博士生导师",
        "title_level": "senior",
        "title_name": "教授",
        "years_in_field": "25",
        "political_affiliation": "cdl",
        "is_cppcc_member": "on",
        "primary_domain_id": str(factory.domain_id("城乡规划")),
        "secondary_domain_ids": [str(factory.domain_id("交通运输")), str(factory.domain_id("城市治理"))],
        "keywords": "国土空间规划，城市更新、 交通规划",
        "bio": "长期从事城市规划研究。\n主持多项国家课题。",
        "achievements_publication": "城市更新的理论与实践\n城市交通规划",
        "achievements_award": "省科技进步一等奖",
        "tier_id": str(factory.tier_id("core")),
    })
    data.update(values)
    return data


def test_create_valid_expert(client, factory, talent_office, jiangda):
    before = counts()
    data = new_expert_form(client, factory)
    response = client.post("/experts/new", data=data)
    assert response.status_code == 302, field_errors(page_of(response))
    expert = db.session.execute(sa.select(Expert).where(Expert.name == "陈静")).scalar_one()
    assert response.headers["Location"] == f"/experts/{expert.id}"
    assert expert.employer_id == jiangda.id  # resolved through the alias 江大
    assert expert.id_number_masked == mask_id_number(data["id_number"])
    assert expert.birth_date == date(1972, 3, 8)
    assert expert.mobile_masked == "139****5678"
    assert (expert.title_level.value, expert.title_name, expert.years_in_field) == ("senior", "教授", 25)
    assert expert.position == "教授、博士生导师"
    assert expert.political_affiliation.value == "cdl"
    assert (expert.is_cppcc_member, expert.is_npc_deputy, expert.is_academician) == (True, False, False)
    assert expert.primary_domain_id == factory.domain_id("城乡规划")
    assert sorted(d.id for d in expert.secondary_domains) == sorted(
        [factory.domain_id("交通运输"), factory.domain_id("城市治理")])
    assert expert.keywords == ["国土空间规划", "城市更新", "交通规划"]
    assert expert.bio == "长期从事城市规划研究。\n主持多项国家课题。"
    assert expert.achievements == [
        {"kind": "publication", "title": "城市更新的理论与实践"},
        {"kind": "publication", "title": "城市交通规划"},
        {"kind": "award", "title": "省科技进步一等奖"},
    ]
    assert expert.tier_id == factory.tier_id("core")
    assert expert.status is ExpertStatus.ACTIVE
    assert expert.current_appointment.tier_id == factory.tier_id("core")
    after = counts()
    assert after == {"experts": before["experts"] + 1, "appointments": before["appointments"] + 1,
                     "audit": before["audit"] + 1}
    entry = audit_entries("expert.create")[-1]
    assert (entry.actor_id, entry.object_id) == (talent_office.id, str(expert.id))
    assert data["id_number"] not in json.dumps(entry.summary, ensure_ascii=False)
    assert "13912345678" not in json.dumps(entry.summary, ensure_ascii=False)
    detail = client.get(response.headers["Location"])
    assert ("success", "已将 陈静 录入专家库") in flashes(page_of(detail))


def test_employer_typed_with_full_width_spaces_is_found(client, factory, talent_office, jiangda):
    response = client.post("/experts/new", data=new_expert_form(client, factory, employer_name="　江南 大学 "))
    assert response.status_code == 302
    assert db.session.execute(sa.select(Expert.employer_id).where(Expert.name == "陈静")).scalar_one() == jiangda.id


def _invalid_cases():
    long_name = "张" * 41
    return [
        pytest.param({"id_number": "wrong-check"}, "id_number", "身份证号校验码错误", id="bad-check-digit"),
        pytest.param({"id_number": "33010219750615"}, "id_number", "身份证号应为18位，前17位为数字，末位为数字或X",
                     id="short-id"),
        pytest.param({"id_number": "330102" + "19751341" + "0013"}, "id_number", "身份证号中的出生日期无效",
                     id="id-impossible-birth-date"),
        pytest.param({"id_number": ""}, "id_number", "身份证号应为18位，前17位为数字，末位为数字或X", id="blank-id"),
        pytest.param({"id_number": "duplicate"}, "id_number", "该身份证号已在专家库中", id="duplicate-id"),
        pytest.param({"employer_name": "不存在的研究院"}, "employer_id", "请填写已登记的单位名称（可用简称或别名）",
                     id="unknown-employer"),
        pytest.param({"employer_name": ""}, "employer_id", "此项为必填", id="blank-employer"),
        pytest.param({"title_level": ""}, "title_level", "此项为必填", id="title-unselected"),
        pytest.param({"political_affiliation": ""}, "political_affiliation", "此项为必填", id="affiliation-unselected"),
        pytest.param({"title_level": "professor"}, "title_level", "取值须为以下之一", id="title-forged"),
        pytest.param({"name": ""}, "name", "姓名为 2–40 个汉字或字母", id="blank-name"),
        pytest.param({"name": long_name}, "name", "姓名为 2–40 个汉字或字母", id="oversized-name"),
        pytest.param({"name": "<b>张</b>"}, "name", "姓名为 2–40 个汉字或字母", id="markup-in-name"),
        pytest.param({"bio": "字" * 5001}, "bio", "长度须在 0–5000 字之间", id="oversized-bio"),
        pytest.param({"position": "职" * 101}, "position", "长度须在 0–100 字之间", id="oversized-position"),
        pytest.param({"years_in_field": "abc"}, "years_in_field", "须为整数", id="years-abc"),
        pytest.param({"years_in_field": "81"}, "years_in_field", "从业年限须在 0–80 之间", id="years-81"),
        pytest.param({"years_in_field": ""}, "years_in_field", "此项不能为空", id="years-blank"),
        pytest.param({"mobile": "12345"}, "mobile", "手机号应为 11 位数字，以 1 开头", id="bad-mobile"),
        pytest.param({"primary_domain_id": ""}, "primary_domain_id", "此项不能为空", id="domain-blank"),
        pytest.param({"primary_domain_id": "99999"}, "primary_domain_id", "未知领域", id="domain-unknown"),
        pytest.param({"secondary_domain_ids": ["99998"]}, "secondary_domain_ids", "未知领域：99998",
                     id="secondary-unknown"),
        pytest.param({"tier_id": ""}, "tier_id", "此项不能为空", id="tier-blank"),
        pytest.param({"tier_id": "99999"}, "tier_id", "未知层次", id="tier-unknown"),
        pytest.param({"keywords": "城市更新，城市更新"}, "keywords", "关键词有重复", id="duplicate-keywords"),
        pytest.param({"id_number": "age:70"}, "id_number", "年龄 70 岁，超过入库年龄上限 65 岁", id="too-old"),
        pytest.param({"id_number": "age:71", "is_academician": "on"}, "id_number",
                     "年龄 71 岁，超过入库年龄上限 70 岁", id="too-old-even-for-academician"),
    ]


@pytest.mark.parametrize("values, field, message", _invalid_cases())
def test_invalid_create_shows_the_message_under_the_field_and_writes_nothing(
        client, factory, talent_office, jiangda, values, field, message):
    values = dict(values)
    if values.get("id_number") == "wrong-check":
        values["id_number"] = with_wrong_check_digit(valid_id_number())
    elif values.get("id_number") == "duplicate":
        values["id_number"] = valid_id_number(sequence=401)
        factory.expert(id_number=values["id_number"], name="李娜")
    elif str(values.get("id_number", "")).startswith("age:"):
        values["id_number"] = valid_id_number(birth=birth_for_age(int(values["id_number"][4:])))
    data = new_expert_form(client, factory, **values)
    before = counts()
    response = client.post("/experts/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html[:500]
    errors = field_errors(page_of(response))
    assert message in " ".join(errors.get(field, [])), errors
    assert "请修改下方标红的字段后重新提交。" in page_of(response).by_id("form-errors").clean_text
    assert counts() == before
    # The ID number is never sent back into the page, whatever went wrong.
    if data["id_number"]:
        assert data["id_number"] not in html
        assert data["id_number"][:17] not in html
    assert page_of(response).by_id("e-id-number").get("value") == ""
    # Everything else the user typed is kept.
    if field != "name":
        assert page_of(response).by_id("e-name").get("value") == "陈静"


def test_missing_selects_each_say_required(client, factory, talent_office, jiangda):
    data = new_expert_form(client, factory, title_level="", political_affiliation="", employer_name="")
    before = counts()
    response = client.post("/experts/new", data=data)
    assert response.status_code == 422
    errors = field_errors(page_of(response))
    assert errors["title_level"] == ["此项为必填"]
    assert errors["political_affiliation"] == ["此项为必填"]
    assert errors["employer_id"] == ["此项为必填"]
    assert counts() == before


def test_academician_at_seventy_is_accepted(client, factory, talent_office, jiangda):
    data = new_expert_form(client, factory, id_number=valid_id_number(birth=birth_for_age(70)), is_academician="on")
    response = client.post("/experts/new", data=data)
    assert response.status_code == 302, field_errors(page_of(response))
    expert = db.session.execute(sa.select(Expert).where(Expert.name == "陈静")).scalar_one()
    assert expert.is_academician is True
    assert expert.birth_date == birth_for_age(70)


def test_age_limit_follows_the_current_policy(client, factory, talent_office, jiangda):
    from experts_service.policy import update_policy

    admin = factory.user("admin")
    update_policy(admin, {"max_age_at_application": 60}, "测试：收紧年龄上限")
    db.session.commit()
    data = new_expert_form(client, factory, id_number=valid_id_number(birth=birth_for_age(61)))
    response = client.post("/experts/new", data=data)
    assert response.status_code == 422
    assert field_errors(page_of(response))["id_number"] == ["年龄 61 岁，超过入库年龄上限 60 岁"]


def test_create_without_csrf_token_writes_nothing(client, factory, talent_office, jiangda):
    data = new_expert_form(client, factory)
    data.pop("csrf_token")
    before = counts()
    response = client.post("/experts/new", data=data)
    assert response.status_code == 400
    assert counts() == before
    assert data["id_number"] not in response.get_data(as_text=True)


# ---------------------------------------------------------------- edit (talent office)


def edit_form(client, expert_id: int) -> dict:
    response = client.get(f"/experts/{expert_id}/edit")
    assert response.status_code == 200
    return form_data(page_of(response).by_id("expert-form"))


def test_talent_office_changes_title_and_domains(client, factory, talent_office):
    expert = factory.expert(name="张伟")
    version = expert.version_id
    before = counts()
    data = edit_form(client, expert.id)
    data.update({
        "title_level": ["associate"], "title_name": ["副研究员"],
        "primary_domain_id": [str(factory.domain_id("公用事业"))],
        "secondary_domain_ids": [str(factory.domain_id("交通运输")), str(factory.domain_id("住房保障"))],
    })
    response = client.post(f"/experts/{expert.id}/edit", data=data)
    assert response.status_code == 302, field_errors(page_of(response))
    assert response.headers["Location"] == f"/experts/{expert.id}"
    assert ("success", "已保存") in flashes(page_of(client.get(response.headers["Location"])))
    stored = fresh(expert.id)
    assert (stored.title_level.value, stored.title_name) == ("associate", "副研究员")
    assert stored.primary_domain_id == factory.domain_id("公用事业")
    assert sorted(d.id for d in stored.secondary_domains) == sorted(
        [factory.domain_id("交通运输"), factory.domain_id("住房保障")])
    assert stored.version_id == version + 1
    assert stored.name == "张伟" and stored.years_in_field == 20  # untouched fields stay
    assert counts() == {**before, "audit": before["audit"] + 1}
    entry = audit_entries("expert.update")[-1]
    assert (entry.actor_id, entry.object_type, entry.object_id) == (talent_office.id, "expert", str(expert.id))
    assert set(entry.summary) == {"title_level", "title_name", "primary_domain_id", "secondary_domain_ids"}
    assert entry.summary["title_level"] == "associate"


def test_changed_id_number_and_mobile_are_audited_without_plain_values(client, factory, talent_office):
    expert = factory.expert(name="张伟")
    new_id = valid_id_number(birth=date(1980, 2, 29), male=False)
    data = edit_form(client, expert.id)
    data.update({"id_number": [new_id], "mobile": ["13700001111"]})
    response = client.post(f"/experts/{expert.id}/edit", data=data)
    assert response.status_code == 302, field_errors(page_of(response))
    stored = fresh(expert.id)
    assert stored.id_number_masked == mask_id_number(new_id)
    assert (stored.birth_date, stored.sex.value) == (date(1980, 2, 29), "female")
    assert stored.mobile_masked == "137****1111"
    entry = audit_entries("expert.update")[-1]
    assert entry.summary == {"id_number": "（已更改）", "mobile": "（已更改）"}
    text = json.dumps(entry.summary, ensure_ascii=False)
    assert new_id not in text and "13700001111" not in text


def test_unchanged_resubmit_says_nothing_changed_and_writes_nothing(client, factory, talent_office):
    expert = factory.expert(name="张伟")
    version = expert.version_id
    before = counts()
    response = client.post(f"/experts/{expert.id}/edit", data=edit_form(client, expert.id))
    assert response.status_code == 302
    assert ("info", "没有任何改动") in flashes(page_of(client.get(response.headers["Location"])))
    assert counts() == before
    assert fresh(expert.id).version_id == version


def test_unchanged_resubmit_with_first_and_second_level_secondary_domains_changes_nothing(
        client, factory, talent_office):
    # The form lists each first-level domain followed by its children; the
    # record lists them in the domains' sort order. Same set, same record.
    expert = factory.expert(name="张伟", secondary_domain_ids=[factory.domain_id("城市治理"),
                                                               factory.domain_id("财税金融")])
    version = expert.version_id
    before = counts()
    response = client.post(f"/experts/{expert.id}/edit", data=edit_form(client, expert.id))
    assert response.status_code == 302
    assert ("info", "没有任何改动") in flashes(page_of(client.get(response.headers["Location"])))
    assert counts() == before, [e.summary for e in audit_entries("expert.update")]
    assert fresh(expert.id).version_id == version


def test_stale_version_is_refused_with_409(app, client, factory, talent_office):
    expert = factory.expert(name="张伟")
    version = expert.version_id
    data = edit_form(client, expert.id)  # this user's page now holds `version`
    # A colleague saves a change in between.
    colleague = factory.user("talent_office")
    other = app.test_client()
    login(other, colleague.username)
    theirs = edit_form(other, expert.id)
    theirs["position"] = ["院长"]
    assert other.post(f"/experts/{expert.id}/edit", data=theirs).status_code == 302
    before = counts()
    data["title_name"] = ["研究员"]
    response = client.post(f"/experts/{expert.id}/edit", data=data)
    assert response.status_code == 409
    assert "该记录已被他人修改，请刷新后重试" in page_of(response).by_id("form-errors").clean_text
    stored = fresh(expert.id)
    assert (stored.position, stored.title_name) == ("院长", "教授")
    assert stored.version_id == version + 1
    assert counts() == before


def test_edit_of_a_missing_expert_is_404(client, talent_office):
    assert client.get("/experts/999999/edit").status_code == 404


# ---------------------------------------------------------------- edit (the expert)


@pytest.fixture
def expert_user(client, factory):
    employer = factory.organisation("江南大学", aliases=["江大"])
    expert = factory.expert(name="张伟", employer_id=employer.id, mobile="13912345678")
    user = factory.user("expert", expert_id=expert.id)
    assert login(client, user.username).status_code == 302
    return user, expert


def test_expert_sees_employer_title_and_domains_read_only(client, expert_user):
    _, expert = expert_user
    page = page_of(client.get(f"/experts/{expert.id}/edit"))
    form = page.by_id("expert-form")
    inputs = {el.get("name") for el in form.iter() if el.tag in {"input", "select", "textarea"}}
    assert inputs == {"csrf_token", "version", "mobile", "keywords", "bio", "achievements_publication",
                      "achievements_project", "achievements_award"}
    readonly = [p.clean_text for p in form.find_all(cls="readonly-value")]
    assert "江南大学" in readonly
    assert "正高" in readonly
    assert "城乡建设/城乡规划" in readonly
    assert "库员专家" in readonly
    assert "联系人才工作部门" in page.by_id("self-edit-note").clean_text


def test_expert_changes_own_bio_keywords_achievements_and_mobile(client, factory, expert_user):
    user, expert = expert_user
    data = edit_form(client, expert.id)
    data.update({"bio": ["研究城市更新二十年。"], "keywords": ["城市更新、旧城改造"],
                 "achievements_project": ["国家社科基金重大项目"], "mobile": ["13800002222"]})
    response = client.post(f"/experts/{expert.id}/edit", data=data)
    assert response.status_code == 302, field_errors(page_of(response))
    stored = fresh(expert.id)
    assert stored.bio == "研究城市更新二十年。"
    assert stored.keywords == ["城市更新", "旧城改造"]
    assert stored.achievements == [{"kind": "publication", "title": "城市更新的理论与实践"},
                                   {"kind": "project", "title": "国家社科基金重大项目"}]
    assert stored.mobile_masked == "138****2222"
    entry = audit_entries("expert.update")[-1]
    assert entry.actor_id == user.id
    assert set(entry.summary) == {"bio", "keywords", "achievements", "mobile"}
    assert entry.summary["mobile"] == "（已更改）"


def test_forged_fields_from_the_expert_are_ignored(client, factory, expert_user):
    _, expert = expert_user
    other_employer = factory.organisation("市发展和改革委员会", type_="government")
    employer_id, version, masked = expert.employer_id, expert.version_id, expert.id_number_masked
    before = counts()
    data = edit_form(client, expert.id)
    data.update({"employer_name": [other_employer.name], "tier_id": [str(factory.tier_id("chief"))],
                 "title_level": ["other"], "name": ["冒名"], "years_in_field": ["1"],
                 "primary_domain_id": [str(factory.domain_id("数字经济"))], "is_academician": ["on"],
                 "id_number": [valid_id_number()]})
    response = client.post(f"/experts/{expert.id}/edit", data=data)
    # Ignored, not refused: only the self-editable fields are read, and none changed.
    assert response.status_code == 302
    assert ("info", "没有任何改动") in flashes(page_of(client.get(response.headers["Location"])))
    stored = fresh(expert.id)
    assert (stored.employer_id, stored.tier_id, stored.title_level.value, stored.name) == (
        employer_id, factory.tier_id("general"), "senior", "张伟")
    assert (stored.years_in_field, stored.primary_domain_id, stored.is_academician) == (
        20, factory.domain_id("城乡规划"), False)
    assert stored.id_number_masked == masked
    assert stored.version_id == version
    assert counts() == before


def test_forged_fields_alongside_a_real_change_only_save_the_real_change(client, factory, expert_user):
    _, expert = expert_user
    employer_id = expert.employer_id
    data = edit_form(client, expert.id)
    data.update({"bio": ["新的简介"], "tier_id": [str(factory.tier_id("chief"))], "employer_name": ["不存在"]})
    response = client.post(f"/experts/{expert.id}/edit", data=data)
    assert response.status_code == 302
    stored = fresh(expert.id)
    assert (stored.bio, stored.tier_id, stored.employer_id) == ("新的简介", factory.tier_id("general"), employer_id)
    assert set(audit_entries("expert.update")[-1].summary) == {"bio"}


def test_expert_cannot_post_to_another_experts_edit_page(client, factory, expert_user):
    _, own = expert_user
    other = factory.expert(name="李娜")
    data = edit_form(client, own.id)
    data["bio"] = ["冒改他人简介"]
    data["version"] = [str(other.version_id)]
    before = counts()
    response = client.post(f"/experts/{other.id}/edit", data=data)
    assert response.status_code == 403
    assert fresh(other.id).bio == "长期从事城市规划研究。"
    assert counts() == before


# ---------------------------------------------------------------- detail and reveal


@pytest.fixture
def pii_expert(factory):
    id_number = valid_id_number(birth=date(1975, 6, 15), sequence=321)
    expert = factory.expert(name="张伟", id_number=id_number, mobile="13912345678")
    return expert, id_number


def test_detail_masks_id_number_and_mobile(client, talent_office, pii_expert):
    expert, id_number = pii_expert
    response = client.get(f"/experts/{expert.id}")
    html = response.get_data(as_text=True)
    page = page_of(response)
    assert page.by_id("pii-id-number").clean_text == id_number[:6] + "********" + id_number[-4:]
    assert page.by_id("pii-id-number").clean_text.startswith("330102********")
    assert page.by_id("pii-mobile").clean_text == "139****5678"
    assert id_number not in html and "13912345678" not in html
    assert page.by_id("reveal-button").clean_text == "查看完整证件号与手机"
    assert not audit_entries("expert.pii_viewed")


@pytest.mark.parametrize("role", ["talent_office", "auditor"])
def test_reveal_shows_full_values_and_is_audited(client, login_as, pii_expert, role):
    expert, id_number = pii_expert
    viewer = login_as(role)
    detail = client.get(f"/experts/{expert.id}").get_data(as_text=True)
    before = counts()
    response = client.post(f"/experts/{expert.id}/reveal", data={"csrf_token": csrf_token_from(detail)})
    assert response.status_code == 200
    page = page_of(response)
    assert page.by_id("pii-id-number").clean_text == id_number
    assert page.by_id("pii-mobile").clean_text == "13912345678"
    assert page.by_id("pii-revealed-note") is not None
    assert response.headers["Cache-Control"] == "no-store"
    assert counts() == {**before, "audit": before["audit"] + 1}
    entry = audit_entries("expert.pii_viewed")[-1]
    assert (entry.actor_id, entry.actor_label, entry.object_id) == (
        viewer.id, f"{viewer.username}({role})", str(expert.id))
    assert id_number not in json.dumps(entry.summary)


def test_expert_reveals_own_record(client, expert_user):
    user, expert = expert_user
    detail = client.get(f"/experts/{expert.id}").get_data(as_text=True)
    response = client.post(f"/experts/{expert.id}/reveal", data={"csrf_token": csrf_token_from(detail)})
    assert response.status_code == 200
    assert page_of(response).by_id("pii-mobile").clean_text == "13912345678"
    assert audit_entries("expert.pii_viewed")[-1].actor_id == user.id


def test_reveal_without_csrf_token_is_refused_and_writes_nothing(client, talent_office, pii_expert):
    expert, id_number = pii_expert
    before = counts()
    response = client.post(f"/experts/{expert.id}/reveal", data={})
    assert response.status_code == 400
    assert id_number not in response.get_data(as_text=True)
    assert counts() == before
    forged = client.post(f"/experts/{expert.id}/reveal", data={"csrf_token": "forged-token"})
    assert forged.status_code == 400
    assert counts() == before


def test_reveal_by_get_is_not_allowed(client, talent_office, pii_expert):
    expert, id_number = pii_expert
    response = client.get(f"/experts/{expert.id}/reveal")
    assert response.status_code == 405
    assert id_number not in response.get_data(as_text=True)
    assert not audit_entries("expert.pii_viewed")
