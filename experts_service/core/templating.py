"""Jinja filters and globals: local time, labels, navigation per role."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask import Flask, request, url_for
from flask_login import current_user

from experts_service.core.auth import can
from experts_service.core.clock import display_zone


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    permission: str | None = None
    roles: tuple = ()


# The navigation; each item shows only to users holding its permission.
NAVIGATION = (
    # The to-do list (consultation.todo): the roles that have one; its badge counts the entries.
    NavItem("待办", "todo.index", roles=("department", "expert", "talent_office")),
    NavItem("工作台", "reports.dashboard", "dashboard.read"),
    NavItem("专家库", "experts.index", "expert.list"),
    NavItem("新增专家", "experts.create", "expert.create"),
    NavItem("我的信息", "experts.mine", roles=("expert",)),
    NavItem("论证邀请", "consultation.my_invitations", "invitation.answer"),
    NavItem("决策事项", "panels.items", "item.read"),
    NavItem("入库申请", "lifecycle.applications", "application.read"),
    NavItem("续聘与变更", "lifecycle.renewals", "lifecycle.read"),
    NavItem("评审组", "lifecycle.review_groups", "lifecycle.read"),
    # Integrity and the annual assessment (issue 7): the office's and auditor's lists, the expert's own pages.
    NavItem("诚信记录", "integrity.events", roles=("talent_office", "auditor")),
    NavItem("年度考核", "assessment.cycles", roles=("talent_office", "auditor")),
    NavItem("我的诚信", "integrity.mine", "integrity.appeal"),
    NavItem("年度考核", "assessment.mine", "assessment.self_assess"),
    NavItem("统计报表", "reports.index", "statistics.read"),
    NavItem("本单位", "reference.my_organisation", roles=("department",)),
    NavItem("单位", "reference.organisations", "organisation.create"),
    NavItem("领域与层次", "reference.taxonomy", "domain.manage"),
    NavItem("用户管理", "admin.users", "user.manage"),
    NavItem("规则设置", "admin.policy", "policy.read"),
    NavItem("工作日历", "lifecycle.calendar", "calendar.read"),
    NavItem("审计日志", "admin.audit_log", "audit.read"),
    NavItem("邮件队列", "notifications.mail_queue", "mail.read"),
    NavItem("我的消息", "notifications.inbox", "notification.read"),
)


def navigation_for(user) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    items = []
    for item in NAVIGATION:
        if item.roles and user.role.value not in item.roles:
            continue
        if item.permission and not can(user, item.permission):
            continue
        items.append(item)
    return items


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(display_zone()).strftime(fmt)


def isodate(value: date | None) -> str:
    return value.isoformat() if value else ""


def page_url(page: int) -> str:
    args = request.args.to_dict()
    args["page"] = page
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def sort_url(key: str) -> str:
    args = request.args.to_dict()
    current = args.get("sort", "name")
    args["sort"] = f"-{key}" if current == key else key
    args.pop("page", None)
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def install(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["isodate"] = isodate
    app.jinja_env.globals.update(page_url=page_url, sort_url=sort_url, can=can)

    @app.context_processor
    def inject_navigation():
        return {"navigation": navigation_for(current_user), "todo_count": _todo_count}


def _todo_count() -> int:
    """The 待办 badge: a callable, asked only by pages that show the navigation."""
    from experts_service.consultation.todo import todo_count

    return todo_count(current_user)
