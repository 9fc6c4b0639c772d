"""Organisation pages and the domain/tier overview."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from experts_service.core.auth import Role, can, requires
from experts_service.core.errors import NothingChanged, ServiceError
from experts_service.core.forms import CsrfOnlyForm, load_or_errors, optional_int, query_or_defaults, split_lines
from experts_service.core.transaction import commit
from experts_service.reference import operations
from experts_service.reference.models import OrganisationType
from experts_service.reference.schemas import (
    ORGANISATION_SELF_EDITABLE,
    OrganisationInputSchema,
    OrganisationListQuerySchema,
)

blueprint = Blueprint("reference", __name__)


@blueprint.get("/organisations")
@requires("organisation.create")
def organisations():
    query, errors = query_or_defaults(OrganisationListQuerySchema())
    if errors:
        flash("筛选条件无效，已显示全部单位", "warning")
    page = operations.list_organisations(current_user, q=query.get("q"), type_=query.get("type"),
                                         page=query["page"], per_page=query["per_page"])
    return render_template("reference/organisations.html", page=page, query=query, types=list(OrganisationType))


@blueprint.get("/organisations/mine")
@requires("organisation.read")
def my_organisation():
    if current_user.role is not Role.DEPARTMENT:
        abort(404)
    return redirect(url_for("reference.organisation", organisation_id=current_user.organisation_id))


@blueprint.get("/organisations/<id:organisation_id>")
@requires("organisation.read")
def organisation(organisation_id: int):
    org = operations.get_organisation(current_user, organisation_id)
    return render_template("reference/organisation.html", org=org,
                           can_edit=can(current_user, "organisation.update", org))


def _organisation_payload(editable: set[str] | None) -> dict:
    form = request.form
    payload = {
        "name": form.get("name", ""),
        "type": form.get("type", ""),
        "system": form.get("system") or None,
        "parent_id": optional_int(form.get("parent_id")),
        "aliases": split_lines(form.get("aliases")),
        "contact_name": form.get("contact_name") or None,
        "contact_phone": form.get("contact_phone") or None,
        "address": form.get("address") or None,
    }
    if editable is not None:
        payload = {key: value for key, value in payload.items() if key in editable}
    return payload


def _render_org_form(org, values: dict, errors: dict, status: int = 200):
    editable = set(ORGANISATION_SELF_EDITABLE) if current_user.role is Role.DEPARTMENT else None
    return render_template("reference/organisation_form.html", org=org, values=values, errors=errors,
                           editable=editable, types=list(OrganisationType), form=CsrfOnlyForm()), status


def _org_values(org) -> dict:
    return {
        "name": org.name, "type": org.type.value, "system": org.system or "", "parent_id": org.parent_id or "",
        "aliases": "\n".join(a.alias for a in org.aliases), "contact_name": org.contact_name or "",
        "contact_phone": org.contact_phone or "", "address": org.address or "",
    }


@blueprint.route("/organisations/new", methods=["GET", "POST"])
@requires("organisation.create")
def create_organisation():
    if request.method == "GET":
        return _render_org_form(None, {}, {})
    if not CsrfOnlyForm().validate_on_submit():
        return _render_org_form(None, request.form.to_dict(), {"_schema": ["页面已过期，请重新提交"]}, 400)
    data, errors = load_or_errors(OrganisationInputSchema(), _organisation_payload(None))
    if errors:
        return _render_org_form(None, request.form.to_dict(), errors, 422)
    try:
        org = operations.create_organisation(current_user, data)
        commit()
    except ServiceError as error:
        return _render_org_form(None, request.form.to_dict(), {"_schema": [error.message], **error.fields}, error.status)
    flash(f"已登记单位 {org.name}", "success")
    return redirect(url_for("reference.organisation", organisation_id=org.id))


@blueprint.route("/organisations/<id:organisation_id>/edit", methods=["GET", "POST"])
@requires("organisation.update")
def edit_organisation(organisation_id: int):
    org = operations.get_organisation(current_user, organisation_id, "organisation.update")
    if request.method == "GET":
        return _render_org_form(org, _org_values(org), {})
    if not CsrfOnlyForm().validate_on_submit():
        return _render_org_form(org, request.form.to_dict(), {"_schema": ["页面已过期，请重新提交"]}, 400)
    editable = set(ORGANISATION_SELF_EDITABLE) if current_user.role is Role.DEPARTMENT else None
    data, errors = load_or_errors(OrganisationInputSchema(partial=True), _organisation_payload(editable))
    if errors:
        return _render_org_form(org, request.form.to_dict(), errors, 422)
    try:
        operations.update_organisation(current_user, org, data)
        commit()
    except NothingChanged:
        flash("没有任何改动", "info")
        return redirect(url_for("reference.organisation", organisation_id=org.id))
    except ServiceError as error:
        return _render_org_form(org, request.form.to_dict(), {"_schema": [error.message], **error.fields}, error.status)
    flash("已保存", "success")
    return redirect(url_for("reference.organisation", organisation_id=org.id))


@blueprint.get("/taxonomy")
@requires("domain.list")
def taxonomy():
    return render_template("reference/taxonomy.html", domain_tree=operations.domain_tree(),
                           tiers=operations.list_tiers(current_user))
