"""Each role signs in through the real pages and sees only its own navigation."""
import pytest

from tests.browser.conftest import sign_in
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser

EXPECTED_NAVIGATION = {
    "admin": ["单位", "领域与层次", "用户管理", "规则设置", "工作日历", "审计日志", "邮件队列", "我的消息"],
    "talent_office": ["待办", "工作台", "专家库", "新增专家", "决策事项", "入库申请", "续聘与变更", "评审组", "诚信记录",
                      "年度考核", "统计报表", "单位", "规则设置", "工作日历", "邮件队列", "我的消息"],
    "department": ["待办", "决策事项", "入库申请", "本单位", "我的消息"],
    "expert": ["待办", "我的信息", "论证邀请", "入库申请", "我的诚信", "年度考核", "我的消息"],
    "auditor": ["专家库", "决策事项", "入库申请", "续聘与变更", "评审组", "诚信记录", "年度考核", "统计报表", "规则设置",
                "工作日历", "审计日志", "我的消息"],
}


@pytest.mark.parametrize("role", sorted(EXPECTED_NAVIGATION))
def test_role_sees_only_its_navigation(page, factory, role):
    user = factory.user(role)
    sign_in(page, user.username, TEST_PASSWORD)
    labels = [text.strip() for text in page.locator("#main-nav a").all_inner_texts()]
    assert labels == EXPECTED_NAVIGATION[role]
    assert user.display_name in page.inner_text("#current-user")
    # Every link it shows opens for this role.
    for label in labels:
        page.click(f"#main-nav a:text-is('{label}')")
        page.wait_for_load_state()
        assert page.locator("h1").count() >= 1
        assert "无权" not in page.inner_text("body")


def test_expert_list_finds_a_name_by_characters_pinyin_and_initials(page, factory):
    factory.expert(name="张伟")
    factory.expert(name="李娜")
    user = factory.user("talent_office")
    sign_in(page, user.username, TEST_PASSWORD)
    for query in ("张伟", "zhangwei", "zw", "ZW"):
        page.goto("/experts")
        page.fill("input[name=q]", query)
        page.press("input[name=q]", "Enter")
        page.wait_for_load_state()
        names = [n.strip() for n in page.locator("#experts-table tbody tr td:first-child").all_inner_texts()]
        assert names == ["张伟"], (query, names)
