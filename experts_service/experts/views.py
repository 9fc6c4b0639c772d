"""Expert pages: list with search and filters, detail, create and edit."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from experts_service.core.auth import Role, can, requires
from experts_service.core.errors import NothingChanged, ServiceError, ValidationFailed
from experts_service.core.forms import (
    CsrfOnlyForm,
    load_or_errors,
    optional_int,
    query_or_defaults,
    split_lines,
    split_list,
)
from experts_service.core.transaction import commit
from experts_service.experts import operations
from experts_service.experts.models import AchievementKind, ExpertStatus, PoliticalAffiliation, TitleLevel
from experts_service.experts.schemas import EXPERT_SELF_EDITABLE, ExpertInputSchema, ExpertListQuerySchema
from experts_service.reference.operations import domain_tree, find_organisation_by_name, list_tiers

blueprint = Blueprint("experts", __name__, url_prefix="/experts")

SORT_LABELS = {"name": "姓名", "tier": "层次", "years": "从业年限", "updated": "更新时间"}


def _choices() -> dict:
    return {
        "domain_tree": domain_tree(),
        "tiers": list_tiers(current_user),
        "statuses": list(ExpertStatus),
        "title_levels": list(TitleLevel),
        "affiliations": list(PoliticalAffiliation),
        "achievement_kinds": list(AchievementKind),
        "sort_labels": SORT_LABELS,
    }


@blueprint.get("")
@requires("expert.list")
def index():
    query, errors = query_or_defaults(ExpertListQuerySchema())
    if errors:
        flash("筛选条件无效，已显示全部专家：" + "；".join(f"{k} {v[0]}" for k, v in errors.items()), "warning")
    page = operations.list_experts(current_user, operations.ExpertFilters(**query))
    return render_template("experts/list.html", page=page, query=query, **_choices())


@blueprint.get("/mine")
@requires("expert.read")
def mine():
    if current_user.role is not Role.EXPERT:
        abort(404)
    return redirect(url_for("experts.detail", expert_id=current_user.expert_id))


@blueprint.get("/<id:expert_id>")
@requires("expert.read")
def detail(expert_id: int):
    expert = operations.get_expert(current_user, expert_id)
    return render_template("experts/detail.html", expert=expert, revealed=None, form=CsrfOnlyForm(),
                           can_edit=can(current_user, "expert.update", expert),
                           can_reveal=operations.can_reveal(current_user, expert))


@blueprint.post("/<id:expert_id>/reveal")
@requires("expert.reveal_pii")
def reveal(expert_id: int):
    form = CsrfOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    expert = operations.get_expert(current_user, expert_id, "expert.reveal_pii")
    revealed = operations.reveal_pii(current_user, expert)
    commit()
    return render_template("experts/detail.html", expert=expert, revealed=revealed, form=CsrfOnlyForm(),
                           can_edit=can(current_user, "expert.update", expert), can_reveal=True)


def _form_to_payload(form: dict, editable: set[str] | None) -> tuple[dict, dict]:
    """Build the schema input from the submitted form; returns (payload, early errors)."""
    errors: dict[str, list[str]] = {}
    payload: dict = {
        "name": form.get("name", ""),
        "id_number": form.get("id_number", ""),
        "mobile": form.get("mobile", ""),
        "position": form.get("position", ""),
        "title_level": form.get("title_level", ""),
        "title_name": form.get("title_name", ""),
        "years_in_field": optional_int(form.get("years_in_field")),
        "political_affiliation": form.get("political_affiliation", ""),
        "is_npc_deputy": form.get("is_npc_deputy") == "on",
        "is_cppcc_member": form.get("is_cppcc_member") == "on",
        "is_academician": form.get("is_academician") == "on",
        "primary_domain_id": optional_int(form.get("primary_domain_id")),
        "secondary_domain_ids": [optional_int(v) for v in request.form.getlist("secondary_domain_ids") if v],
        "keywords": split_list(form.get("keywords")),
        "bio": form.get("bio", ""),
        "achievements": [
            {"kind": kind.value, "title": title}
            for kind in AchievementKind
            for title in split_lines(form.get(f"achievements_{kind.value}"))
        ],
        "tier_id": optional_int(form.get("tier_id")),
    }
    employer_name = (form.get("employer_name") or "").strip()
    if editable is None or "employer_id" in editable:
        employer = find_organisation_by_name(employer_name) if employer_name else None
        if employer is None:
            errors["employer_id"] = ["请填写已登记的单位名称（可用简称或别名）" if employer_name else "此项为必填"]
        else:
            payload["employer_id"] = employer.id
    if form.get("version"):
        payload["version"] = optional_int(form.get("version"))
    for key in ("title_level", "political_affiliation"):
        if payload[key] == "":
            del payload[key]  # an unselected <select>: "required", not "not one of"
    if editable is not None:
        payload = {key: value for key, value in payload.items() if key in editable or key == "version"}
    # An untouched ID number field on edit means "keep it".
    if editable is not None and not payload.get("id_number"):
        payload.pop("id_number", None)
    return payload, errors


def _render_form(expert, values: dict, errors: dict, status: int = 200):
    editable = _editable_fields(expert)
    return render_template("experts/form.html", expert=expert, values=values, errors=errors,
                           editable=editable, form=CsrfOnlyForm(), **_choices()), status


def _editable_fields(expert) -> set[str] | None:
    """None means every field (creating, or the talent office editing)."""
    if current_user.role is Role.EXPERT:
        return set(EXPERT_SELF_EDITABLE)
    return None


def _values_from_expert(expert) -> dict:
    return {
        "name": expert.name, "mobile": "", "employer_name": expert.employer.name, "position": expert.position or "",
        "title_level": expert.title_level.value, "title_name": expert.title_name or "",
        "years_in_field": expert.years_in_field, "political_affiliation": expert.political_affiliation.value,
        "is_npc_deputy": expert.is_npc_deputy, "is_cppcc_member": expert.is_cppcc_member,
        "is_academician": expert.is_academician, "primary_domain_id": expert.primary_domain_id,
        "secondary_domain_ids": [d.id for d in expert.secondary_domains], "keywords": "，".join(expert.keywords),
        "bio": expert.bio, "tier_id": expert.tier_id, "version": expert.version_id,
        **{f"achievements_{kind.value}": "\n".join(a["title"] for a in expert.achievements if a["kind"] == kind.value)
           for kind in AchievementKind},
    }


def _values_from_form() -> dict:
    values = request.form.to_dict()
    values["secondary_domain_ids"] = [optional_int(v) for v in request.form.getlist("secondary_domain_ids")]
    for flag in ("is_npc_deputy", "is_cppcc_member", "is_academician"):
        values[flag] = request.form.get(flag) == "on"
    values.pop("id_number", None)  # never echo the ID number back into the page
    return values


@blueprint.route("/new", methods=["GET", "POST"])
@requires("expert.create")
def create():
    if request.method == "GET":
        return _render_form(None, {}, {})
    if not CsrfOnlyForm().validate_on_submit():
        return _render_form(None, _values_from_form(), {"_schema": ["页面已过期，请重新提交"]}, 400)
    payload, errors = _form_to_payload(request.form, None)
    payload.pop("version", None)
    data, schema_errors = load_or_errors(ExpertInputSchema(), payload)
    errors = {**schema_errors, **errors}
    if errors:
        return _render_form(None, _values_from_form(), errors, 422)
    try:
        expert = operations.create_expert(current_user, data)
        commit()
    except ValidationFailed as error:
        return _render_form(None, _values_from_form(), error.fields, 422)
    flash(f"已将 {expert.name} 录入专家库", "success")
    return redirect(url_for("experts.detail", expert_id=expert.id))


@blueprint.route("/<id:expert_id>/edit", methods=["GET", "POST"])
@requires("expert.update")
def edit(expert_id: int):
    expert = operations.get_expert(current_user, expert_id, "expert.update")
    if request.method == "GET":
        return _render_form(expert, _values_from_expert(expert), {})
    if not CsrfOnlyForm().validate_on_submit():
        return _render_form(expert, _values_from_form(), {"_schema": ["页面已过期，请重新提交"]}, 400)
    editable = _editable_fields(expert)
    payload, errors = _form_to_payload(request.form, editable or set(ExpertInputSchema().fields))
    if not payload.get("mobile"):
        payload.pop("mobile", None)  # blank mobile on edit keeps the stored one
    data, schema_errors = load_or_errors(ExpertInputSchema(partial=True), payload)
    errors = {**schema_errors, **errors}
    if errors:
        return _render_form(expert, _values_from_form(), errors, 422)
    try:
        operations.update_expert(current_user, expert, data)
        commit()
    except NothingChanged:
        flash("没有任何改动", "info")
        return redirect(url_for("experts.detail", expert_id=expert.id))
    except ServiceError as error:
        return _render_form(expert, _values_from_form(), {"_schema": [error.message], **error.fields}, error.status)
    flash("已保存", "success")
    return redirect(url_for("experts.detail", expert_id=expert.id))

