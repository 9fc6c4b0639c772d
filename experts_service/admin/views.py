"""Pages for the administrator (users, policy) and the auditor (audit log)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from experts_service.accounts import operations as accounts
from experts_service.accounts.models import User
from experts_service.core import audit
from experts_service.core.auth import ROLE_LABELS, Role, can, requires
from experts_service.core.errors import NothingChanged, ServiceError
from experts_service.core.forms import CsrfOnlyForm, optional_int, query_or_defaults
from experts_service.core.paging import Page
from experts_service.core.schemas import DEFAULT_PAGE_SIZE, PageQuerySchema, Text
from experts_service.core.transaction import commit
from experts_service.extensions import db
from experts_service.policy import GROUP_LABELS, RULES, PolicyVersion, current_policy, update_policy
from experts_service.reference.models import Organisation

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


class AuditQuerySchema(PageQuerySchema):
    action = Text(80)


@blueprint.get("/users")
@requires("user.manage")
def users():
    rows = db.session.execute(sa.select(User).order_by(User.role, User.username)).scalars().all()
    return render_template("admin/users.html", users=rows, form=CsrfOnlyForm(), role_labels=ROLE_LABELS)


@blueprint.route("/users/new", methods=["GET", "POST"])
@requires("user.manage")
def create_user():
    organisations = db.session.execute(sa.select(Organisation).order_by(Organisation.name_key)).scalars().all()
    values, errors, status = request.form.to_dict(), {}, 200
    if request.method == "POST":
        if not CsrfOnlyForm().validate_on_submit():
            errors, status = {"_schema": ["页面已过期，请重新提交"]}, 400
        else:
            role_value = request.form.get("role", "")
            if role_value not in {r.value for r in Role}:
                errors, status = {"role": ["请选择角色"]}, 422
            else:
                try:
                    accounts.create_user(
                        current_user, username=request.form.get("username", "").strip(),
                        password=request.form.get("password", ""),
                        display_name=request.form.get("display_name", ""), role=Role(role_value),
                        organisation_id=optional_int(request.form.get("organisation_id")) if role_value == "department" else None,
                        expert_id=optional_int(request.form.get("expert_id")) if role_value == "expert" else None,
                        email=request.form.get("email", ""),
                    )
                    commit()
                    flash("已创建用户", "success")
                    return redirect(url_for("admin.users"))
                except ServiceError as error:
                    errors, status = {"_schema": [error.message], **error.fields}, error.status
    values.pop("password", None)
    return render_template("admin/user_form.html", values=values, errors=errors, organisations=organisations,
                           role_labels=ROLE_LABELS, form=CsrfOnlyForm()), status


@blueprint.route("/users/<id:user_id>/edit", methods=["GET", "POST"])
@requires("user.manage")
def edit_user(user_id: int):
    """The address mailed notifications go to (any role's account, experts' too)."""
    user = accounts.get_user(user_id)
    values, errors, status = {"email": user.email or ""}, {}, 200
    if request.method == "POST":
        values = {"email": request.form.get("email", "")}
        if not CsrfOnlyForm().validate_on_submit():
            errors, status = {"_schema": ["页面已过期，请重新提交"]}, 400
        else:
            try:
                accounts.set_email(current_user, user, values["email"])
                commit()
                flash(f"已更新 {user.username} 的邮箱", "success")
                return redirect(url_for("admin.users"))
            except NothingChanged as error:
                db.session.rollback()
                flash(error.message, "info")
                return redirect(url_for("admin.users"))
            except ServiceError as error:
                db.session.rollback()
                errors, status = {"_schema": [error.message], **error.fields}, error.status
    return render_template("admin/user_edit.html", user=user, values=values, errors=errors,
                           role_labels=ROLE_LABELS, form=CsrfOnlyForm()), status


@blueprint.post("/users/<id:user_id>/<action>")
@requires("user.manage")
def user_action(user_id: int, action: str):
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    user = accounts.get_user(user_id)
    try:
        if action == "unlock":
            accounts.unlock_user(current_user, user)
        elif action in {"activate", "deactivate"}:
            accounts.set_active(current_user, user, action == "activate")
        else:
            abort(404)
        commit()
        flash("已更新", "success")
    except ServiceError as error:
        flash(error.message, "danger")
    return redirect(url_for("admin.users"))


@blueprint.route("/policy", methods=["GET", "POST"])
@requires("policy.read")
def policy():
    errors, status, reason = {}, 200, ""
    values = current_policy().as_dict()
    if request.method == "POST":
        if not can(current_user, "policy.update"):
            abort(403)
        reason = request.form.get("reason", "")
        if not CsrfOnlyForm().validate_on_submit():
            errors, status = {"_schema": ["页面已过期，请重新提交"]}, 400
        else:
            submitted = {rule.key: request.form.get(rule.key, "") for rule in RULES if rule.kind is not bool}
            submitted.update({rule.key: request.form.get(rule.key) == "on" for rule in RULES if rule.kind is bool})
            changes = {key: value for key, value in submitted.items() if str(value) != str(values[key])}
            try:
                update_policy(current_user, changes, reason)
                commit()
                flash("规则已更新", "success")
                return redirect(url_for("admin.policy"))
            except ServiceError as error:
                errors, status = {"_schema": [error.message], **error.fields}, error.status
                values.update(submitted)
    history = db.session.execute(
        sa.select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(20)
    ).scalars().all()
    groups = [(label, [rule for rule in RULES if rule.group == key]) for key, label in GROUP_LABELS.items()]
    return render_template("admin/policy.html", groups=groups, values=values, errors=errors, history=history,
                           version=current_policy().version, reason=reason, form=CsrfOnlyForm(),
                           editable=can(current_user, "policy.update")), status


@blueprint.get("/audit")
@requires("audit.read")
def audit_log():
    filters, errors = query_or_defaults(AuditQuerySchema())
    if errors:
        flash("筛选条件无效，已显示全部记录", "warning")
    action, page_number, per_page = filters.get("action", ""), filters["page"], filters["per_page"]
    query = sa.select(audit.AuditEntry)
    if action:
        query = query.where(audit.AuditEntry.action.startswith(action, autoescape=True))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    entries = db.session.execute(
        query.order_by(audit.AuditEntry.seq.desc()).limit(per_page).offset((page_number - 1) * per_page)
    ).scalars().all()
    page = Page(items=list(entries), page=page_number, per_page=per_page, total=total)
    return render_template("admin/audit.html", page=page, action=action, verification=None, form=CsrfOnlyForm())


@blueprint.post("/audit/verify")
@requires("audit.read")
def audit_verify():
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    result = audit.verify()
    page = Page(items=[], page=1, per_page=DEFAULT_PAGE_SIZE, total=0)
    return render_template("admin/audit.html", page=page, action="", verification=result, form=CsrfOnlyForm())
