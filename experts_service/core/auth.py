"""Roles, the permission table and the one mechanism that checks them.

A permission maps each role to a scope: ALL (any record) or OWN (records of
the user's own department subtree, or the expert's own record). Operations
call `authorize(actor, permission, obj)`; views and API endpoints declare
`@requires(permission)` for the route-level gate; list queries narrow with
`own_organisation_ids`. Nothing else decides who may do what.
"""
from __future__ import annotations

import enum
from functools import wraps
from typing import Callable

from flask import request
from flask_login import current_user

from experts_service.core.errors import Forbidden, NotAuthenticated


class Role(str, enum.Enum):
    ADMIN = "admin"
    TALENT_OFFICE = "talent_office"
    DEPARTMENT = "department"
    EXPERT = "expert"
    AUDITOR = "auditor"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMIN: "系统管理员",
    Role.TALENT_OFFICE: "人才工作部门",
    Role.DEPARTMENT: "决策承办部门",
    Role.EXPERT: "专家",
    Role.AUDITOR: "监督审计",
}


class Scope(enum.Enum):
    ALL = "all"
    OWN = "own"


ALL, OWN = Scope.ALL, Scope.OWN
EVERY_ROLE = {role: ALL for role in Role}

PERMISSIONS: dict[str, dict[Role, Scope]] = {
    # Expert pool. Departments do not browse the pool: the talent office
    # recommends, which keeps the choice of experts independent.
    "expert.list": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "expert.read": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.EXPERT: OWN},
    "expert.create": {Role.TALENT_OFFICE: ALL},
    "expert.update": {Role.TALENT_OFFICE: ALL, Role.EXPERT: OWN},
    "expert.reveal_pii": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.EXPERT: OWN},
    # Roster in Excel: import existing appointed experts; export the pool
    # (full ID numbers and mobiles only with expert.reveal_pii, audited).
    "expert.import": {Role.TALENT_OFFICE: ALL},
    "expert.export": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    # Reference data
    "organisation.list": EVERY_ROLE,
    "organisation.read": {Role.ADMIN: ALL, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.DEPARTMENT: OWN},
    "organisation.create": {Role.ADMIN: ALL, Role.TALENT_OFFICE: ALL},
    "organisation.update": {Role.ADMIN: ALL, Role.TALENT_OFFICE: ALL, Role.DEPARTMENT: OWN},
    "domain.list": EVERY_ROLE,
    "domain.manage": {Role.ADMIN: ALL},
    "tier.list": EVERY_ROLE,
    "tier.manage": {Role.ADMIN: ALL},
    # Administration and oversight
    "policy.read": {Role.ADMIN: ALL, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "policy.update": {Role.ADMIN: ALL},
    "audit.read": {Role.ADMIN: ALL, Role.AUDITOR: ALL},
    "user.manage": {Role.ADMIN: ALL},
    # Decision items, panel requests and matching (issue 4). Departments act
    # on their own items; the talent office recommends and draws.
    "item.create": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL},
    "item.read": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "item.update": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL},
    "panel_request.create": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL},
    "panel_request.read": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "recommendation.run": {Role.TALENT_OFFICE: ALL},
    "recommendation.read": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "recommendation.replace": {Role.TALENT_OFFICE: ALL},
    # Consultation (issue 6): the department confirms its panel; experts answer their own invitations.
    "panel.confirm": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL},
    "invitation.read": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.DEPARTMENT: OWN, Role.EXPERT: OWN},
    "invitation.read_panel": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.DEPARTMENT: OWN},
    "invitation.answer": {Role.EXPERT: OWN},
    "attendance.record": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL},
    "opinion.write": {Role.EXPERT: OWN},
    "opinion.read": {Role.EXPERT: OWN, Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "adoption.record": {Role.DEPARTMENT: OWN},
    "rating.record": {Role.DEPARTMENT: OWN},
    # The panel report gathers every opinion: the department, the talent
    # office and the auditor read it; an expert reads their own opinion only.
    "report.read": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    # Background materials: the department uploads and sends them; the panel's
    # invited experts read them (checked against the invitation, not OWN).
    "material.write": {Role.DEPARTMENT: OWN},
    "material.read": {Role.DEPARTMENT: OWN, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.EXPERT: OWN},
    # Expert lifecycle (issue 5). Applications: departments recommend (单位推荐)
    # for their own organisation; the talent office runs vetting; reviewers of
    # the domain's review group vote; the public lodges objections without
    # signing in (those endpoints are outside this table).
    "application.create": {Role.TALENT_OFFICE: ALL, Role.DEPARTMENT: OWN},
    "application.read": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.DEPARTMENT: OWN, Role.EXPERT: OWN},
    "application.review": {Role.TALENT_OFFICE: ALL},
    "application.vote": {Role.EXPERT: OWN},
    "document.read": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.EXPERT: OWN},
    "lifecycle.read": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "lifecycle.manage": {Role.TALENT_OFFICE: ALL},
    "expert.self_service": {Role.TALENT_OFFICE: ALL, Role.EXPERT: OWN},
    "calendar.read": {Role.ADMIN: ALL, Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "calendar.manage": {Role.ADMIN: ALL},
    # Notifications (issue 6): everyone reads and marks their own inbox; the
    # talent office and the administrator watch the mail queue and re-queue
    # failed mail.
    "notification.read": {role: OWN for role in Role},
    "notification.update": {role: OWN for role in Role},
    "mail.read": {Role.ADMIN: ALL, Role.TALENT_OFFICE: ALL},
    "mail.retry": {Role.ADMIN: ALL, Role.TALENT_OFFICE: ALL},
    # Integrity and the annual assessment (issue 7). The expert sees and
    # appeals their own records and submits their self-assessment; the
    # talent office records, decides appeals and runs the cycle; the
    # auditor reads everything. Departments see none of it: an expert's
    # integrity file is not a department's to browse.
    "integrity.read": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.EXPERT: OWN},
    "integrity.record": {Role.TALENT_OFFICE: ALL},
    "integrity.appeal": {Role.EXPERT: OWN},
    "integrity.decide": {Role.TALENT_OFFICE: ALL},
    "assessment.read": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL, Role.EXPERT: OWN},
    "assessment.manage": {Role.TALENT_OFFICE: ALL},
    "assessment.self_assess": {Role.EXPERT: OWN},
    # Statistics an office hands to its leaders, and its own dashboard.
    "statistics.read": {Role.TALENT_OFFICE: ALL, Role.AUDITOR: ALL},
    "dashboard.read": {Role.TALENT_OFFICE: ALL},
}


def scope_for(actor, permission: str) -> Scope | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return PERMISSIONS[permission].get(actor.role)


def owns(actor, obj) -> bool:
    """Whether `obj` falls in the actor's own scope.

    Records say who owns them through `owner_organisation_id` (department
    scope, checked against the whole organisation subtree),
    `owner_expert_id` (expert scope) or, for any role, `owner_user_id`
    (a record of one account, such as an inbox entry).
    """
    from experts_service.core.auth_scope import organisation_subtree_ids

    owner_user = getattr(obj, "owner_user_id", None)
    if owner_user is not None and owner_user == actor.id:
        return True
    if actor.role is Role.DEPARTMENT:
        owner = getattr(obj, "owner_organisation_id", None)
        return owner is not None and owner in organisation_subtree_ids(actor.organisation_id)
    if actor.role is Role.EXPERT:
        owner = getattr(obj, "owner_expert_id", None)
        return owner is not None and owner == actor.expert_id
    return False


def can(actor, permission: str, obj=None) -> bool:
    scope = scope_for(actor, permission)
    if scope is None:
        return False
    if scope is ALL:
        return True
    # OWN without an object means "may use this for own records".
    return obj is None or owns(actor, obj)


def authorize(actor, permission: str, obj=None) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated()
    if not can(actor, permission, obj):
        raise Forbidden()


def requires(permission: str) -> Callable:
    """Route-level gate; object-level checks happen in the operation."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if request.path.startswith("/api/"):
                    raise NotAuthenticated()
                from experts_service.extensions import login_manager

                return login_manager.unauthorized()
            if scope_for(current_user, permission) is None:
                raise Forbidden()
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator
