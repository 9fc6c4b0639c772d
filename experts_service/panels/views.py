"""Pages: decision items and panel requests (departments), recommendations
and draws (talent office), the public draw proof."""
from __future__ import annotations

import html
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from experts_service.consultation import materials
from experts_service.consultation.views import panel_context
from experts_service.core.auth import Role, can, requires
from experts_service.core.errors import NothingChanged, ServiceError
from experts_service.core.forms import (
    CsrfOnlyForm,
    load_or_errors,
    optional_int,
    query_or_defaults,
    split_lines,
    split_list,
)
from experts_service.core.transaction import commit
from experts_service.panels import operations
from experts_service.panels.matcher import FILTER_REASONS
from experts_service.panels.models import ConsultationMode, DecisionCategory, SelectionMethod
from experts_service.panels.schemas import (
    DecisionItemInputSchema,
    DecisionItemUpdateSchema,
    ItemListQuerySchema,
    PanelRequestInputSchema,
    ReplacementInputSchema,
    RunRecommendationSchema,
)
from experts_service.policy import current_policy
from experts_service.reference.operations import domain_tree, find_organisation_by_name

blueprint = Blueprint("panels", __name__)

EXPIRED = {"_schema": ["页面已过期，请重新提交"]}
# Filtered experts listed by number per reason on the record page; the rest are counted (large pools).
FILTERED_IDS_SHOWN = 50
_MARK = re.compile(r"&lt;(/?)mark&gt;")


def snippet(text: str) -> Markup:
    """A search highlight as markup: everything escaped but the <mark> tags.

    The bridge escapes snippets already; re-escaping here means a stored
    record altered in the database still cannot inject markup.
    """
    return Markup(_MARK.sub(r"<\1mark>", str(escape(html.unescape(text)))))


# ---------------------------------------------------------------- decision items


@blueprint.get("/items")
@requires("item.read")
def items():
    query, errors = query_or_defaults(ItemListQuerySchema())
    if errors:
        flash("筛选条件无效，已显示全部事项", "warning")
    page = operations.list_items(current_user, **query)
    return render_template("panels/items.html", page=page, query=query, categories=list(DecisionCategory))


def _organisation_ids(names: list[str], field: str, errors: dict) -> list[int]:
    ids, unknown = [], []
    for name in names:
        organisation = find_organisation_by_name(name)
        if organisation is None:
            unknown.append(name)
        elif organisation.id not in ids:
            ids.append(organisation.id)
    if unknown:
        errors[field] = [f"未登记的单位：{'、'.join(unknown)}"]
    return ids


def _item_payload(for_update: bool) -> tuple[dict, dict]:
    form = request.form
    errors: dict[str, list[str]] = {}
    payload = {
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "category": form.get("category", ""),
        "domain_ids": [optional_int(v) for v in form.getlist("domain_ids") if v],
        "keywords": split_list(form.get("keywords")),
        "stakeholder_ids": _organisation_ids(split_lines(form.get("stakeholders")), "stakeholder_ids", errors),
        "planned_decision_date": form.get("planned_decision_date") or None,
        "confidential": form.get("confidential") == "on",
    }
    if payload["category"] == "":
        del payload["category"]  # an unselected <select>: "required", not "not one of"
    if not for_update and current_user.role is not Role.DEPARTMENT:
        name = (form.get("organisation_name") or "").strip()
        organisation = find_organisation_by_name(name) if name else None
        if organisation is None:
            errors["organisation_id"] = ["请填写已登记的申请部门名称" if name else "此项为必填"]
        else:
            payload["organisation_id"] = organisation.id
    return payload, errors


def _form_values() -> dict:
    values = request.form.to_dict()
    values["domain_ids"] = [optional_int(v) for v in request.form.getlist("domain_ids")]
    values["confidential"] = request.form.get("confidential") == "on"
    return values


def _item_values(item) -> dict:
    return {
        "title": item.title, "description": item.description, "category": item.category.value,
        "domain_ids": [d.id for d in item.domains], "keywords": "，".join(item.keywords),
        "stakeholders": "\n".join(o.name for o in item.stakeholders),
        "planned_decision_date": item.planned_decision_date.isoformat() if item.planned_decision_date else "",
        "confidential": item.confidential, "organisation_name": item.organisation.name,
    }


def _render_item_form(item, values: dict, errors: dict, status: int = 200):
    return render_template("panels/item_form.html", item=item, values=values, errors=errors, form=CsrfOnlyForm(),
                           categories=list(DecisionCategory), domain_tree=domain_tree()), status


@blueprint.route("/items/new", methods=["GET", "POST"])
@requires("item.create")
def create_item():
    if request.method == "GET":
        return _render_item_form(None, {}, {})
    if not CsrfOnlyForm().validate_on_submit():
        return _render_item_form(None, _form_values(), EXPIRED, 400)
    payload, errors = _item_payload(for_update=False)
    data, schema_errors = load_or_errors(DecisionItemInputSchema(), payload)
    errors = {**schema_errors, **errors}
    if errors:
        return _render_item_form(None, _form_values(), errors, 422)
    try:
        item = operations.create_item(current_user, data)
        commit()
    except ServiceError as error:
        return _render_item_form(None, _form_values(), {"_schema": [error.message], **error.fields}, error.status)
    flash(f"已登记决策事项“{item.title}”", "success")
    return redirect(url_for("panels.item", item_id=item.id))


@blueprint.get("/items/<id:item_id>")
@requires("item.read")
def item(item_id: int):
    record = operations.get_item(current_user, item_id)
    return render_template("panels/item.html", item=record)


@blueprint.route("/items/<id:item_id>/edit", methods=["GET", "POST"])
@requires("item.update")
def edit_item(item_id: int):
    record = operations.get_item(current_user, item_id, "item.update")
    if request.method == "GET":
        return _render_item_form(record, _item_values(record), {})
    if not CsrfOnlyForm().validate_on_submit():
        return _render_item_form(record, _form_values(), EXPIRED, 400)
    payload, errors = _item_payload(for_update=True)
    data, schema_errors = load_or_errors(DecisionItemUpdateSchema(partial=True), payload)
    errors = {**schema_errors, **errors}
    if errors:
        return _render_item_form(record, _form_values(), errors, 422)
    try:
        operations.update_item(current_user, record, data)
        commit()
    except NothingChanged:
        flash("没有任何改动", "info")
        return redirect(url_for("panels.item", item_id=record.id))
    except ServiceError as error:
        return _render_item_form(record, _form_values(), {"_schema": [error.message], **error.fields}, error.status)
    flash("已保存", "success")
    return redirect(url_for("panels.item", item_id=record.id))


# ---------------------------------------------------------------- panel requests


def _avoid_rows() -> int:
    return current_policy().avoid_list_max


def _request_payload() -> tuple[dict, dict]:
    form = request.form
    errors: dict[str, list[str]] = {}
    mode = form.get("mode", "")
    payload: dict = {
        "mode": mode,
        "seats": optional_int(form.get("seats")),
        "required_domain_ids": [optional_int(v) for v in form.getlist("required_domain_ids") if v],
        "selection_method": form.get("selection_method", ""),
        "note": form.get("note", ""),
        "avoid": [],
    }
    if form.get("min_senior_members", "").strip():
        payload["min_senior_members"] = optional_int(form.get("min_senior_members"))
    # Only the fields of the chosen mode are sent; the others stay on the page for switching back.
    if mode == ConsultationMode.MEETING.value:
        payload["meeting_date"] = form.get("meeting_date") or None
        payload["meeting_time"] = form.get("meeting_time") or None
        payload["meeting_end_time"] = form.get("meeting_end_time") or None
        payload["meeting_place"] = form.get("meeting_place") or None
    else:
        payload["deadline"] = form.get("deadline") or None
    if mode == ConsultationMode.COMMISSIONED.value:
        name = (form.get("institution_name") or "").strip()
        institution = find_organisation_by_name(name) if name else None
        if institution is None:
            errors["institution_id"] = ["请填写已登记的受托机构名称" if name else "委托咨询论证须指定受托机构"]
        else:
            payload["institution_id"] = institution.id
    for key in ("mode", "selection_method"):
        if payload[key] == "":
            del payload[key]
    avoid_errors = []
    for row in range(1, int(form.get("avoid_rows") or 0) + 1):
        name = (form.get(f"avoid_name_{row}") or "").strip()
        employer = (form.get(f"avoid_employer_{row}") or "").strip()
        reason = form.get(f"avoid_reason_{row}") or ""
        if not (name or employer or reason.strip()):
            continue
        expert_id, problem = operations.find_expert_to_avoid(name, employer)
        if problem:
            avoid_errors.append(f"第 {row} 行：{problem}")
        else:
            payload["avoid"].append({"expert_id": expert_id, "reason": reason})
    if avoid_errors:
        errors["avoid"] = avoid_errors
    return payload, errors


def _render_request_form(item, values: dict, errors: dict, status: int = 200):
    policy = current_policy()
    return render_template("panels/request_form.html", item=item, values=values, errors=errors, form=CsrfOnlyForm(),
                           modes=list(ConsultationMode), methods=list(SelectionMethod), domain_tree=domain_tree(),
                           policy=policy, avoid_rows=_avoid_rows()), status


@blueprint.route("/items/<id:item_id>/requests/new", methods=["GET", "POST"])
@requires("panel_request.create")
def create_request(item_id: int):
    record = operations.get_item(current_user, item_id, "panel_request.create")
    if request.method == "GET":
        defaults = {"required_domain_ids": [d.id for d in record.domains], "selection_method": "recommend",
                    "min_senior_members": current_policy().min_senior_tier_members}
        return _render_request_form(record, defaults, {})
    values = request.form.to_dict()
    values["required_domain_ids"] = [optional_int(v) for v in request.form.getlist("required_domain_ids")]
    if not CsrfOnlyForm().validate_on_submit():
        return _render_request_form(record, values, EXPIRED, 400)
    payload, errors = _request_payload()
    data, schema_errors = load_or_errors(PanelRequestInputSchema(), payload)
    errors = {**schema_errors, **errors}
    if errors:
        return _render_request_form(record, values, errors, 422)
    try:
        created = operations.create_panel_request(current_user, record, data)
        commit()
    except ServiceError as error:
        return _render_request_form(record, values, {"_schema": [error.message], **error.fields}, error.status)
    flash("论证申请已提交", "success")
    return redirect(url_for("panels.panel_request", request_id=created.id))


@blueprint.get("/panel-requests/<id:request_id>")
@requires("panel_request.read")
def panel_request(request_id: int):
    record = operations.get_panel_request(current_user, request_id)
    return render_template("panels/request.html", req=record, form=CsrfOnlyForm(),
                           can_run=operations.can_run(current_user, record),
                           can_read_records=can(current_user, "recommendation.read", record),
                           already_drawn=operations.already_drawn(record),
                           panel=panel_context(current_user, record),
                           materials=materials.page_context(current_user, record),
                           can_read_report=can(current_user, "report.read", record))


@blueprint.post("/panel-requests/<id:request_id>/run")
@requires("recommendation.run")
def run(request_id: int):
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    record = operations.get_panel_request(current_user, request_id, "recommendation.run")
    data, errors = load_or_errors(RunRecommendationSchema(), {"method": request.form.get("method", "")})
    if errors:
        flash("请选择产生方式", "danger")
        return redirect(url_for("panels.panel_request", request_id=record.id))
    try:
        created = operations.run_recommendation(current_user, record, data["method"])
        commit()
    except ServiceError as error:
        flash(error.page_message, "danger")
        return redirect(url_for("panels.panel_request", request_id=record.id))
    flash("已完成随机抽取" if created.seed else "已生成推荐", "success")
    return redirect(url_for("panels.recommendation", recommendation_id=created.id))


# ---------------------------------------------------------------- recommendations


def _render_recommendation(record, errors: dict | None = None, values: dict | None = None, status: int = 200):
    whole = operations.sees_whole_record(current_user)
    return render_template(
        "panels/recommendation.html", rec=record, whole=whole, form=CsrfOnlyForm(), snippet=snippet,
        members=operations.panel_members(record),
        candidates_by_id={c["expert_id"]: c for c in record.candidates} if whole else {},
        filter_reasons=FILTER_REASONS, filtered_ids_shown=FILTERED_IDS_SHOWN, errors=errors or {}, values=values or {},
        can_replace=can(current_user, "recommendation.replace", record) and bool(record.compliant),
        verification=operations.verify_draw(record) if record.seed else None,
        children=operations.children_of(record),
    ), status


@blueprint.get("/recommendations/<id:recommendation_id>")
@requires("recommendation.read")
def recommendation(recommendation_id: int):
    record = operations.get_recommendation(current_user, recommendation_id)
    return _render_recommendation(record)


@blueprint.post("/recommendations/<id:recommendation_id>/replace")
@requires("recommendation.replace")
def replace(recommendation_id: int):
    record = operations.get_recommendation(current_user, recommendation_id, "recommendation.replace")
    values = request.form.to_dict()
    if not CsrfOnlyForm().validate_on_submit():
        return _render_recommendation(record, EXPIRED, values, 400)
    payload = {
        "remove_expert_id": optional_int(request.form.get("remove_expert_id")),
        "add_expert_id": optional_int(request.form.get("add_expert_id")),
        "reason": request.form.get("reason", ""),
    }
    data, errors = load_or_errors(ReplacementInputSchema(), payload)
    if errors:
        return _render_recommendation(record, errors, values, 422)
    try:
        created = operations.replace_member(current_user, record, data)
        commit()
    except ServiceError as error:
        return _render_recommendation(record, {"_schema": [error.message], **error.fields}, values, error.status)
    flash("已调整专家组，生成了新的推荐记录", "success")
    return redirect(url_for("panels.recommendation", recommendation_id=created.id))


# ---------------------------------------------------------------- public draw proof


@blueprint.get("/draws/<id:recommendation_id>")
def draw_proof(recommendation_id: int):
    """Public (no sign-in): commitment, seed, pool, result and the verification outcome."""
    record = operations.public_draw(recommendation_id)
    return render_template("panels/draw.html", rec=record, verification=operations.verify_draw(record),
                           confidential=record.panel_request.item.confidential,
                           names={c["expert_id"]: c["name"] for c in record.candidates})
