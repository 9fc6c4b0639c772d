"""Login and logout pages."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from experts_service.accounts import operations
from experts_service.accounts.auth import is_safe_redirect
from experts_service.accounts.forms import LoginForm
from experts_service.core import audit
from experts_service.core.errors import ServiceError
from experts_service.core.forms import CsrfOnlyForm
from experts_service.core.transaction import commit

blueprint = Blueprint("accounts", __name__)


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        outcome = operations.authenticate(form.username.data, form.password.data)
        commit()  # failure counts and audit entries are kept either way
        if outcome.ok:
            session.clear()  # a fresh session on sign-in (no fixation)
            login_user(outcome.user)
            session.permanent = True
            target = request.args.get("next")
            return redirect(target if is_safe_redirect(target) else url_for("main.index"))
        form.password.errors.append(outcome.message)
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("accounts/login.html", form=form), status


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    errors, status = {}, 200
    if request.method == "POST":
        if not CsrfOnlyForm().validate_on_submit():
            errors, status = {"_schema": ["页面已过期，请重新提交"]}, 400
        else:
            try:
                operations.change_password(current_user, request.form.get("current_password", ""),
                                           request.form.get("new_password", ""), request.form.get("confirmation", ""))
                commit()
                # The session id carries the session version: sign in again under the new one.
                login_user(current_user, fresh=True)
                flash("密码已修改，其他设备上的登录已失效", "success")
                return redirect(url_for("main.index"))
            except ServiceError as error:
                errors, status = {"_schema": [error.message], **error.fields}, error.status
    return render_template("accounts/password.html", errors=errors, form=CsrfOnlyForm()), status


@blueprint.post("/logout")
@login_required
def logout():
    audit.record(current_user, "auth.logout", "user", current_user.id)
    commit()
    logout_user()
    session.clear()
    flash("已退出登录", "info")
    return redirect(url_for("accounts.login"))
