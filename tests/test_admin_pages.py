"""Administration pages through the test client: policy, users, audit log.

Each change is checked in the database and in the audit log; each refused
submit is checked to have written nothing.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from experts_service.accounts.models import User
from experts_service.core.audit import AuditEntry
from experts_service.extensions import db
from experts_service.policy import PolicyVersion, current_policy, defaults
from tests.conftest import csrf_token_from, login
from tests.page_helpers import field_errors, flashes, form_data, page_of

STRONG_PASSWORD = "Strong-pass-2026"


def counts() -> dict[str, int]:
    return {
        "policy_versions": db.session.scalar(sa.select(sa.func.count(PolicyVersion.id))),
        "users": db.session.scalar(sa.select(sa.func.count(User.id))),
        "audit": db.session.scalar(sa.select(sa.func.count(AuditEntry.id))),
    }


def last_entry(action: str) -> AuditEntry | None:
    return db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq.desc()).limit(1)
    ).scalar()


def stored_user(user_id: int) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def policy_now(app):
    """The policy a new request would see (this test's own context caches it in `g`)."""
    with app.app_context():
        return current_policy()


# ---------------------------------------------------------------- policy


@pytest.fixture
def admin(login_as):
    return login_as("admin")


def policy_form(client, **changes) -> dict:
    """The policy form exactly as rendered (every current value), with `changes`."""
    page = page_of(client.get("/admin/policy"))
    data = form_data(page.by_id("policy-form"))
    data.update({key: [value] for key, value in changes.items()})
    return data


def test_admin_changes_a_rule_with_a_reason(app, client, admin):
    before = counts()
    reason = "依据市政府办公厅 2026 年第 3 号文件，降低年度论证次数上限"
    response = client.post("/admin/policy", data=policy_form(client, yearly_engagement_cap="8", reason=reason))
    assert response.status_code == 302, field_errors(page_of(response))
    assert response.headers["Location"] == "/admin/policy"
    page = page_of(client.get("/admin/policy"))
    assert ("success", "规则已更新") in flashes(page)
    assert page.by_id("policy-version").clean_text == "第 2 版"
    assert page.by_id("r-yearly_engagement_cap").get("value") == "8"
    history = page.by_id("policy-history").find("tbody").find_all("tr")
    assert [row.get("data-version") for row in history] == ["2", "1"]
    assert reason in history[0].clean_text

    assert counts() == {**before, "policy_versions": before["policy_versions"] + 1, "audit": before["audit"] + 1}
    row = db.session.execute(sa.select(PolicyVersion).where(PolicyVersion.version == 2)).scalar_one()
    assert row.values == {**defaults(), "yearly_engagement_cap": 8}
    assert (row.reason, row.created_by_id) == (reason, admin.id)
    policy = policy_now(app)
    assert (policy.version, policy.yearly_engagement_cap) == (2, 8)
    assert policy.max_age_at_application == 65  # the rest carried over
    entry = last_entry("policy.update")
    assert (entry.actor_id, entry.object_type, entry.object_id) == (admin.id, "policy", "2")
    assert entry.summary == {"changes": {"yearly_engagement_cap": [10, 8]}, "reason": reason}


def test_fraction_and_boolean_rules_change_together(app, client, admin):
    data = policy_form(client, max_same_system_share="1/4", meeting_min_seats="6", reason="允许偶数人数论证会")
    data.pop("meeting_seats_must_be_odd")  # an unticked checkbox is simply not sent
    response = client.post("/admin/policy", data=data)
    assert response.status_code == 302, field_errors(page_of(response))
    policy = policy_now(app)
    assert (policy.max_same_system_share, policy.meeting_min_seats, policy.meeting_seats_must_be_odd) == (
        "1/4", 6, False)
    assert last_entry("policy.update").summary["changes"] == {
        "max_same_system_share": ["1/3", "1/4"], "meeting_min_seats": [5, 6],
        "meeting_seats_must_be_odd": [True, False]}


@pytest.mark.parametrize("changes, field, message", [
    ({"yearly_engagement_cap": "abc"}, "yearly_engagement_cap", "格式不正确"),
    ({"yearly_engagement_cap": "8.5"}, "yearly_engagement_cap", "格式不正确"),
    ({"yearly_engagement_cap": ""}, "yearly_engagement_cap", "格式不正确"),
    ({"yearly_engagement_cap": "0"}, "yearly_engagement_cap", "不能小于 1"),
    ({"yearly_engagement_cap": "366"}, "yearly_engagement_cap", "不能大于 365"),
    ({"yearly_engagement_cap": "99999999999999999999999"}, "yearly_engagement_cap", "不能大于 365"),
    ({"max_same_system_share": "1/0"}, "max_same_system_share", "格式不正确"),
    ({"max_same_system_share": "3/2"}, "max_same_system_share", "不能大于 1"),
    ({"weight_ratings_percent": "70"}, "weight_self_percent", "三项权重之和须为 100，当前为 110"),
    ({"weight_self_percent": "5"}, "weight_self_percent", "三项权重之和须为 100，当前为 95"),
    ({"meeting_min_seats": "6"}, "meeting_min_seats", "论证会人数须为奇数时，最少人数也须为奇数"),
    ({"grade_pass_min": "95"}, "grade_pass_min", "分数线须满足 优秀 > 合格 > 基本合格"),
    ({"max_age_academician": "60"}, "max_age_academician", "特殊人才年龄上限不能低于一般年龄上限"),
])
def test_invalid_rule_values_are_refused_and_write_nothing(app, client, admin, changes, field, message):
    before = counts()
    reason = "测试修改"
    response = client.post("/admin/policy", data=policy_form(client, reason=reason, **changes))
    assert response.status_code == 422
    page = page_of(response)
    assert field_errors(page)[field] == [message]
    assert "请修改下方标红的字段后重新提交。" in page.by_id("form-errors").clean_text
    # What the admin typed is shown again, to correct it.
    for key, value in changes.items():
        assert page.by_id(f"r-{key}").get("value") == value
    assert page.by_id("r-reason").clean_text == reason
    assert counts() == before
    assert policy_now(app).version == 1
    assert policy_now(app).as_dict() == defaults()


@pytest.mark.parametrize("reason, message", [
    ("", "请填写修改原因"),
    ("   ", "请填写修改原因"),
    ("理" * 501, "修改原因不超过 500 字"),
])
def test_a_change_needs_a_reason(app, client, admin, reason, message):
    before = counts()
    data = policy_form(client, yearly_engagement_cap="8", reason=reason)
    response = client.post("/admin/policy", data=data)
    assert response.status_code == 422
    assert field_errors(page_of(response))["reason"] == [message]
    assert counts() == before
    assert policy_now(app).yearly_engagement_cap == 10


def test_saving_unchanged_rules_writes_nothing(app, client, admin):
    before = counts()
    response = client.post("/admin/policy", data=policy_form(client, reason="没有改什么"))
    assert response.status_code == 422
    assert "没有任何改动" in page_of(response).by_id("form-errors").clean_text
    assert counts() == before


def test_policy_post_without_csrf_token_writes_nothing(app, client, admin):
    data = policy_form(client, yearly_engagement_cap="8", reason="测试")
    data.pop("csrf_token")
    before = counts()
    response = client.post("/admin/policy", data=data)
    assert response.status_code == 400
    assert counts() == before
    assert policy_now(app).yearly_engagement_cap == 10


@pytest.mark.parametrize("role", ["talent_office", "auditor"])
def test_others_see_the_policy_read_only_and_cannot_post(app, client, login_as, role):
    login_as(role)
    response = client.get("/admin/policy")
    assert response.status_code == 200
    page = page_of(response)
    assert "如需调整，请联系系统管理员" in page.by_id("policy-readonly-note").clean_text
    form = page.by_id("policy-form")
    controls = [el for el in form.iter() if el.tag in {"input", "select", "textarea", "button"}]
    assert controls and all(el.has("disabled") for el in controls)
    assert page.by_id("policy-submit") is None and page.by_id("r-reason") is None
    assert page.by_id("r-yearly_engagement_cap").get("value") == "10"
    # A forged submit with a valid session token is still refused.
    token = csrf_token_from(response.get_data(as_text=True))  # the sign-out form's token
    data = {key: value for key, value in defaults().items() if not isinstance(value, bool)}
    data.update({"meeting_seats_must_be_odd": "on", "yearly_engagement_cap": "8", "reason": "越权修改",
                 "csrf_token": token})
    before = counts()
    forged = client.post("/admin/policy", data=data)
    assert forged.status_code == 403
    assert counts() == before
    assert policy_now(app).yearly_engagement_cap == 10


# ---------------------------------------------------------------- users


def user_form(client, **values) -> dict:
    page = page_of(client.get("/admin/users/new"))
    data = form_data(page.by_id("user-form"))
    data.update({key: [value] for key, value in values.items()})
    return data


def test_admin_creates_a_department_user_who_can_sign_in(app, client, factory, admin):
    org = factory.organisation("市发展和改革委员会", type_="government")
    before = counts()
    data = user_form(client, username="fgw.li", display_name="李科长", password=STRONG_PASSWORD,
                     role="department", organisation_id=str(org.id))
    response = client.post("/admin/users/new", data=data)
    assert response.status_code == 302, field_errors(page_of(response))
    assert response.headers["Location"] == "/admin/users"
    listing = page_of(client.get("/admin/users"))
    assert ("success", "已创建用户") in flashes(listing)
    row = listing.find("tr", data_username="fgw.li")
    assert "市发展和改革委员会" in row.clean_text and "决策承办部门" in row.clean_text
    user = db.session.execute(sa.select(User).where(User.username == "fgw.li")).scalar_one()
    assert (user.role.value, user.organisation_id, user.display_name, user.active) == (
        "department", org.id, "李科长", True)
    assert user.password_hash.startswith("$argon2id$")
    assert counts() == {**before, "users": before["users"] + 1, "audit": before["audit"] + 1}
    entry = last_entry("user.create")
    assert (entry.actor_id, entry.object_id) == (admin.id, str(user.id))
    assert entry.summary == {"username": "fgw.li", "role": "department", "organisation_id": org.id,
                             "expert_id": None}
    assert STRONG_PASSWORD not in str(entry.summary)
    # The new user signs in and reaches their own organisation.
    newcomer = app.test_client()
    assert login(newcomer, "fgw.li", STRONG_PASSWORD).status_code == 302
    mine = newcomer.get("/organisations/mine")
    assert mine.status_code == 302 and mine.headers["Location"] == f"/organisations/{org.id}"
    assert newcomer.get(mine.headers["Location"]).status_code == 200


@pytest.mark.parametrize("values, field, messages", [
    ({"password": "abcd1234"}, "password",
     ["密码至少 10 位", "密码须包含大写字母、小写字母、数字、符号中的至少三类"]),
    ({"password": "abcdefghijkl"}, "password", ["密码须包含大写字母、小写字母、数字、符号中的至少三类"]),
    ({"password": ""}, "password", ["密码至少 10 位", "密码须包含大写字母、小写字母、数字、符号中的至少三类"]),
    ({"username": "taken.name"}, "username", ["用户名已存在"]),
    ({"username": "x"}, "username", ["用户名为 3–60 位字母、数字或 _ . -"]),
    ({"username": "张三"}, "username", ["用户名为 3–60 位字母、数字或 _ . -"]),
    ({"organisation_id": "999999"}, "organisation_id", ["单位不存在"]),
    ({"organisation_id": "abc"}, "organisation_id", ["单位不存在"]),
    ({"organisation_id": ""}, "organisation_id", ["部门用户须指定所属单位"]),
    ({"display_name": " "}, "display_name", ["请填写姓名"]),
    ({"role": ""}, "role", ["请选择角色"]),
    ({"role": "superuser"}, "role", ["请选择角色"]),
])
def test_invalid_new_user_is_refused_and_writes_nothing(client, factory, admin, values, field, messages):
    org = factory.organisation("市发展和改革委员会", type_="government")
    factory.user("auditor", username="taken.name")
    data = user_form(client, **{"username": "fgw.li", "display_name": "李科长", "password": STRONG_PASSWORD,
                                "role": "department", "organisation_id": str(org.id), **values})
    before = counts()
    response = client.post("/admin/users/new", data=data)
    assert response.status_code in {409, 422}
    page = page_of(response)
    assert field_errors(page)[field] == messages
    assert counts() == before
    # The password typed is never sent back.
    assert page.by_id("u-password").get("value") == ""
    if data["password"][0]:
        assert data["password"][0] not in response.get_data(as_text=True)
    if field != "username":
        assert page.by_id("u-username").get("value") == data["username"][0]


def test_expert_login_needs_an_expert_without_one(client, factory, admin):
    expert = factory.expert(name="张伟")
    factory.user("expert", expert_id=expert.id)
    before = counts()
    data = user_form(client, username="zhangwei", display_name="张伟", password=STRONG_PASSWORD,
                     role="expert", expert_id=str(expert.id))
    response = client.post("/admin/users/new", data=data)
    assert response.status_code == 422
    assert field_errors(page_of(response))["expert_id"] == ["该专家已有登录账户"]
    assert counts() == before


def _users_page_action(client, user_id: int, action: str):
    """Press the button the users page shows for `user_id` (with its own CSRF token)."""
    page = page_of(client.get("/admin/users"))
    row = page.find("tr", data_user_id=str(user_id))
    button = row.find("button", data_action=action)
    assert button is not None, f"no {action} button for user {user_id}"
    form = button.parent
    while form.tag != "form":
        form = form.parent
    return client.post(form.get("action"), data=form_data(form))


def test_unlock_clears_a_lockout(app, client, factory, admin):
    locked = factory.user("auditor")
    other = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        login(other, locked.username, "Wrong-pass-2026")
    assert stored_user(locked.id).locked_until is not None
    assert login(other, locked.username).status_code == 401  # right password, still locked
    response = _users_page_action(client, locked.id, "unlock")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    assert ("success", "已更新") in flashes(page_of(client.get("/admin/users")))
    user = stored_user(locked.id)
    assert (user.locked_until, user.failed_logins) == (None, 0)
    entry = last_entry("user.unlock")
    assert (entry.actor_id, entry.object_id) == (admin.id, str(locked.id))
    assert login(other, locked.username).status_code == 302


def test_deactivate_ends_the_users_session_and_blocks_sign_in(app, client, factory, admin):
    target = factory.user("auditor")
    other = app.test_client()
    assert login(other, target.username).status_code == 302
    assert other.get("/admin/audit").status_code == 200
    response = _users_page_action(client, target.id, "deactivate")
    assert response.status_code == 302
    assert stored_user(target.id).active is False
    assert last_entry("user.deactivate").object_id == str(target.id)
    # The open session is over at once...
    ended = other.get("/admin/audit")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    # ... and signing in again is refused with the reason.
    refused = login(other, target.username)
    assert refused.status_code == 401
    assert "账户已停用，请联系系统管理员" in refused.get_data(as_text=True)
    row = page_of(client.get("/admin/users")).find("tr", data_user_id=str(target.id))
    assert "已停用" in row.clean_text
    # Re-activation lets them back in.
    assert _users_page_action(client, target.id, "activate").status_code == 302
    assert login(other, target.username).status_code == 302


def test_admin_cannot_deactivate_themselves(client, admin):
    row = page_of(client.get("/admin/users")).find("tr", data_user_id=str(admin.id))
    assert row.find("button", data_action="deactivate") is None
    token = csrf_token_from(client.get("/admin/users").get_data(as_text=True))
    before = counts()
    response = client.post(f"/admin/users/{admin.id}/deactivate", data={"csrf_token": token})
    assert response.status_code == 302
    assert ("danger", "不能停用自己的账户") in flashes(page_of(client.get("/admin/users")))
    assert stored_user(admin.id).active is True
    assert counts() == before


def test_user_actions_need_csrf_and_a_known_action(client, factory, admin):
    target = factory.user("auditor")
    before = counts()
    assert client.post(f"/admin/users/{target.id}/deactivate", data={}).status_code == 400
    token = csrf_token_from(client.get("/admin/users").get_data(as_text=True))
    assert client.post(f"/admin/users/{target.id}/delete", data={"csrf_token": token}).status_code == 404
    assert client.post("/admin/users/999999/deactivate", data={"csrf_token": token}).status_code == 404
    assert stored_user(target.id).active is True
    assert counts() == before


# ---------------------------------------------------------------- audit log


@pytest.fixture
def busy_log(client, factory):
    """A few kinds of entries: sign-ins, failures, expert records."""
    for name in ("张伟", "李娜", "王芳"):
        factory.expert(name=name)
    login(client, "nobody-here", "Wrong-pass-2026")
    return factory.user("auditor")


def rows(page) -> list[tuple[int, str, str]]:
    table = page.by_id("audit-table")
    if table is None:
        return []
    result = []
    for tr in table.find("tbody").find_all("tr"):
        cells = tr.find_all("td")
        result.append((int(tr.get("data-seq")), cells[2].clean_text, cells[3].clean_text))
    return result


def test_audit_log_lists_newest_first(client, busy_log):
    login(client, busy_log.username)
    page = page_of(client.get("/admin/audit"))
    listed = rows(page)
    seqs = [seq for seq, _, _ in listed]
    total = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))
    newest = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq)))
    assert seqs == sorted(seqs, reverse=True)
    assert seqs[0] == newest
    assert len(listed) == min(total, 20)
    assert page.by_id("audit-total").clean_text == f"共 {total} 条记录"
    # The newest is this auditor's own sign-in.
    assert listed[0][1:] == (f"{busy_log.username}(auditor)", "auth.login")


@pytest.mark.parametrize("prefix", ["expert.", "auth.login", "auth.login_failed", "reference."])
def test_audit_log_filters_by_action_prefix(client, busy_log, prefix):
    login(client, busy_log.username)
    response = client.get("/admin/audit", query_string={"action": prefix})
    page = page_of(response)
    listed = rows(page)
    expected = db.session.execute(
        sa.select(AuditEntry.seq).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.seq.desc())
    ).scalars().all()
    assert expected, "the fixture should have written such entries"
    assert [seq for seq, _, _ in listed] == expected[:20]
    assert all(action.startswith(prefix) for _, _, action in listed)
    assert page.by_id("audit-total").clean_text == f"共 {len(expected)} 条记录（操作类型以“{prefix}”开头）"


@pytest.mark.parametrize("prefix", ["%", "_", "expert%", "auth_login", "%00"])
def test_audit_filter_treats_wildcards_literally(client, busy_log, prefix):
    login(client, busy_log.username)
    response = client.get("/admin/audit", query_string={"action": prefix})
    assert response.status_code == 200
    assert rows(page_of(response)) == []
    assert page_of(response).by_id("audit-total").clean_text.startswith("共 0 条记录")


@pytest.mark.parametrize("query", ["page=abc", "page=0", "page=-1", "page=%C2%B2", "page=999999999999", "action=%00"])
def test_bad_audit_log_parameters_never_cause_a_server_error(client, busy_log, query):
    login(client, busy_log.username)
    response = client.get(f"/admin/audit?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def test_audit_log_second_page(client, factory, busy_log):
    for name in ("赵一", "钱二", "孙三", "李四", "周五", "吴六", "郑七", "冯八"):
        factory.expert(name=name)  # two entries each: the employer and the expert
    login(client, busy_log.username)
    total = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))
    assert total > 20
    first = [seq for seq, _, _ in rows(page_of(client.get("/admin/audit")))]
    second = [seq for seq, _, _ in rows(page_of(client.get("/admin/audit", query_string={"page": 2})))]
    assert len(second) == min(total - 20, 20)
    assert second[0] < first[-1]


def test_verify_button_reports_a_clean_chain(client, busy_log):
    login(client, busy_log.username)
    page = page_of(client.get("/admin/audit"))
    form = page.by_id("audit-verify-form")
    response = client.post(form.get("action"), data=form_data(form))
    assert response.status_code == 200
    result = page_of(response).by_id("audit-verify-result")
    total = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))
    assert result.get("data-ok") == "true"
    assert result.get("data-checked") == str(total)
    assert result.find(cls="verify-title").clean_text == "审计日志完整"
    assert f"共校验 {total} 条记录" in result.clean_text


def test_verify_button_names_the_tampered_entry(client, busy_log, unguarded_audit_log):
    target = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "expert.create")).scalars().first()
    target_seq, target_id = target.seq, target.id
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == target_id).values(summary={"name": "改过"}))
    db.session.commit()
    login(client, busy_log.username)
    token = csrf_token_from(client.get("/admin/audit").get_data(as_text=True))
    result = page_of(client.post("/admin/audit/verify", data={"csrf_token": token})).by_id("audit-verify-result")
    assert result.get("data-ok") == "false"
    assert result.find(cls="verify-title").clean_text == "审计日志被篡改"
    assert result.find(id="audit-broken-seq").clean_text == str(target_seq)
    assert result.find(id="audit-broken-id").clean_text == str(target_id)
    assert "内容被修改" in result.clean_text


def test_verify_needs_csrf_token(client, busy_log):
    login(client, busy_log.username)
    assert client.post("/admin/audit/verify", data={}).status_code == 400
