"""Lifecycle pages: the public application form and notices, the vetting
pages of the talent office, reviewers' votes, the renewal and change
queues, an expert's lifecycle page (actions and self-service) and the
local calendar."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from experts_service.core.auth import Role, can, requires
from experts_service.core.errors import NothingChanged, ServiceError
from experts_service.core.forms import CsrfOnlyForm, load_or_errors, optional_int
from experts_service.core.transaction import commit
from experts_service.experts.models import (
    ConflictKind,
    ExpertStatus,
    PoliticalAffiliation,
    TitleLevel,
)
from experts_service.experts.operations import get_expert
from experts_service.experts.views import _form_to_payload
from experts_service.extensions import db
from experts_service.lifecycle import documents, operations
from experts_service.lifecycle.boundary import record_refusal
from experts_service.lifecycle.models import Channel, ExitReason, Stage
from experts_service.lifecycle.schemas import (
    ApplicationInputSchema,
    CalendarInputSchema,
    ChangeRequestInputSchema,
    ConflictInputSchema,
    DecisionSchema,
    ExpertActionSchema,
    ObjectionInputSchema,
    PeriodInputSchema,
    PublicApplicationSchema,
    TierChangeSchema,
    VoteInputSchema,
)
from experts_service.lifecycle.states import IllegalTransition
from experts_service.policy import current_policy
from experts_service.reference.operations import (
    domain_tree,
    find_organisation_by_name,
    list_tiers,
)

blueprint = Blueprint("lifecycle", __name__)

EXPIRED = {"_schema": ["页面已过期，请重新提交"]}
APPLICANT_FIELDS = {"name", "id_number", "mobile", "employer_id", "position", "title_level", "title_name",
                    "years_in_field", "political_affiliation", "is_npc_deputy", "is_cppcc_member", "is_academician",
                    "primary_domain_id", "secondary_domain_ids", "keywords", "bio"}


def _run(step, back: str):
    """Run one operation from a small action form; refusals and errors come back as a flash message."""
    if not CsrfOnlyForm().validate_on_submit():
        flash("页面已过期，请刷新后重试", "danger")
        return redirect(back)
    try:
        message = step()
        commit()
    except IllegalTransition as error:
        record_refusal(current_user, error)
        flash(error.message, "danger")
        return redirect(back)
    except NothingChanged as error:
        db.session.rollback()
        flash(error.message, "info")
        return redirect(back)
    except ServiceError as error:
        db.session.rollback()
        flash(error.page_message, "danger")
        return redirect(back)
    flash(message, "success")
    return redirect(back)


def _loaded(schema, payload: dict) -> dict:
    data, errors = load_or_errors(schema, payload)
    if errors:
        from experts_service.core.errors import ValidationFailed

        raise ValidationFailed(fields=errors)
    return data


# ---------------------------------------------------------------- applications


def _choices() -> dict:
    return {"domain_tree": domain_tree(), "title_levels": list(TitleLevel), "affiliations": list(PoliticalAffiliation),
            "channels": list(Channel), "accepted": documents.ACCEPTED_LABEL,
            "max_kb": documents.MAX_DOCUMENT_BYTES // 1000}


def _render_application_form(public: bool, values: dict, errors: dict, status: int = 200):
    return render_template("lifecycle/application_form.html", public=public, values=values, errors=errors,
                           form=CsrfOnlyForm(), **_choices()), status


def _form_values() -> dict:
    values = request.form.to_dict()
    for flag in ("is_npc_deputy", "is_cppcc_member", "is_academician"):
        values[flag] = request.form.get(flag) == "on"
    values.pop("id_number", None)  # never echo the ID number back into the page
    return values


def _submit_from_form(public: bool):
    """Parse, check, submit and attach the files, all in one transaction."""
    payload, errors = _form_to_payload(request.form, APPLICANT_FIELDS)
    payload["statement"] = request.form.get("statement", "")
    if not public:
        payload["channel"] = request.form.get("channel", "")
        if payload["channel"] == Channel.ORGANISATION.value and current_user.role is not Role.DEPARTMENT:
            name = (request.form.get("recommending_organisation") or "").strip()
            organisation = find_organisation_by_name(name) if name else None
            if organisation is None:
                errors["recommending_organisation_id"] = ["请填写已登记的推荐单位名称" if name else "单位推荐须填写推荐单位"]
            else:
                payload["recommending_organisation_id"] = organisation.id
    schema = PublicApplicationSchema() if public else ApplicationInputSchema()
    data, schema_errors = load_or_errors(schema, payload)
    errors = {**schema_errors, **errors}
    if errors:
        return None, errors
    if public:
        data["channel"] = Channel.SELF.value
    try:
        application = operations.submit_application(None if public else current_user, data)
        for upload in request.files.getlist("documents"):
            if upload and upload.filename:
                operations.add_document(None if public else current_user, application, upload.filename,
                                        upload.read())
        commit()
    except ServiceError as error:
        db.session.rollback()
        return None, {"_schema": [error.message], **error.fields}
    return application, {}


@blueprint.route("/apply", methods=["GET", "POST"])
def apply():
    """个人申报, by the applicant, without an account."""
    if request.method == "GET":
        return _render_application_form(True, {}, {})
    if not CsrfOnlyForm().validate_on_submit():
        return _render_application_form(True, _form_values(), EXPIRED, 400)
    application, errors = _submit_from_form(public=True)
    if errors:
        return _render_application_form(True, _form_values(), errors, 422)
    return render_template("lifecycle/applied.html", application=application)


@blueprint.get("/applications")
@requires("application.read")
def applications():
    stage = request.args.get("stage") or None
    if stage not in {s.value for s in Stage} | {None}:
        stage = None
    page = operations.list_applications(current_user, stage=stage, page=request.args.get("page", 1, type=int) or 1)
    return render_template("lifecycle/applications.html", page=page, stage=stage, stages=list(Stage))


@blueprint.route("/applications/new", methods=["GET", "POST"])
@requires("application.create")
def create_application():
    if request.method == "GET":
        channel = Channel.ORGANISATION.value if current_user.role is Role.DEPARTMENT else Channel.INVITATION.value
        return _render_application_form(False, {"channel": channel}, {})
    if not CsrfOnlyForm().validate_on_submit():
        return _render_application_form(False, _form_values(), EXPIRED, 400)
    application, errors = _submit_from_form(public=False)
    if errors:
        return _render_application_form(False, _form_values(), errors, 422)
    flash(f"已受理 {application.expert.name} 的入库申请", "success")
    return redirect(url_for("lifecycle.application", application_id=application.id))


@blueprint.get("/applications/<id:application_id>")
@requires("application.read")
def application(application_id: int):
    record = operations.get_application(current_user, application_id)
    approvals, valid = operations.tally(record)
    return render_template(
        "lifecycle/application.html", app_=record, form=CsrfOnlyForm(), tiers=list_tiers(current_user),
        can_review=can(current_user, "application.review"),
        can_upload=record.stage.is_open and can(current_user, "application.create", record),
        can_vote=operations.is_reviewer(current_user, record)
        and not any(v.reviewer_id == current_user.expert_id for v in record.votes),
        can_documents=can(current_user, "document.read", record),
        group=operations.review_group(record.expert.primary_domain), approvals=approvals, valid=valid,
        policy=current_policy(), today=_today(),
    )


def _today() -> date:
    from experts_service.core.clock import today

    return today()


def _back(application_id: int) -> str:
    return url_for("lifecycle.application", application_id=application_id)


@blueprint.post("/applications/<id:application_id>/decide")
@requires("application.review")
def decide(application_id: int):
    record = operations.get_application(current_user, application_id, "application.review")
    labels = {"qualify": "资格初审已通过", "conclude_review": "专业评审已结束", "approve": "审定通过，已进入公示",
              "appoint": "已聘任", "reject": "已作不予通过处理", "withdraw": "申请已撤回"}

    def step():
        data = _loaded(DecisionSchema(), {"action": request.form.get("action", ""),
                                          "reason": request.form.get("reason", ""),
                                          "tier_id": optional_int(request.form.get("tier_id"))})
        operations.decide(current_user, record, data)
        return labels[data["action"]] if record.stage is not Stage.REJECTED else "专业评审未通过，申请未获通过"

    return _run(step, _back(application_id))


@blueprint.post("/applications/<id:application_id>/override")
@requires("application.review")
def override(application_id: int):
    record = operations.get_application(current_user, application_id, "application.review")

    def step():
        operations.override_checks(current_user, record, request.form.get("reason", ""))
        return "已人工认定未通过的资格条件"

    return _run(step, _back(application_id))


@blueprint.post("/applications/<id:application_id>/vote")
@requires("application.vote")
def vote(application_id: int):
    record = operations.get_application(current_user, application_id, "application.vote")

    def step():
        data = _loaded(VoteInputSchema(), {"vote": request.form.get("vote", ""),
                                           "comment": request.form.get("comment", "")})
        operations.cast_vote(current_user, record, data["vote"], data["comment"])
        return "已提交评审意见"

    return _run(step, _back(application_id))


@blueprint.post("/applications/<id:application_id>/documents")
@requires("application.create")
def upload(application_id: int):
    record = operations.get_application(current_user, application_id, "application.create")

    def step():
        upload = request.files.get("file")
        operations.add_document(current_user, record, upload.filename if upload else None,
                                upload.read() if upload else b"")
        return "材料已上传"

    return _run(step, _back(application_id))


@blueprint.get("/documents/<id:document_id>")
@requires("document.read")
def document(document_id: int):
    record = operations.get_document(current_user, document_id)
    return documents.send(record)


@blueprint.post("/objections/<id:objection_id>/resolve")
@requires("application.review")
def resolve(objection_id: int):
    back = request.form.get("application_id", type=int)

    def step():
        objection = operations.resolve_objection(current_user, objection_id, request.form.get("outcome", ""),
                                                 request.form.get("resolution", ""))
        return f"异议已处理：{objection.status.label}"

    if request.form.get("outcome") not in ("upheld", "dismissed"):
        flash("请选择处理结论", "danger")
        return redirect(_back(back) if back else url_for("lifecycle.applications"))
    return _run(step, _back(back) if back else url_for("lifecycle.applications"))


# ---------------------------------------------------------------- public notice


@blueprint.get("/notices")
def notices():
    """The public page: candidates in public notice and how to object."""
    return render_template("lifecycle/notices.html", notices=operations.public_notices())


@blueprint.route("/notices/<id:application_id>", methods=["GET", "POST"])
def notice(application_id: int):
    record = operations.public_notice(application_id)
    if request.method == "GET":
        return render_template("lifecycle/notice.html", notice=record, values={}, errors={}, form=CsrfOnlyForm())
    values = {key: request.form.get(key, "") for key in ("name", "contact", "content")}
    if not CsrfOnlyForm().validate_on_submit():
        return render_template("lifecycle/notice.html", notice=record, values=values, errors=EXPIRED,
                               form=CsrfOnlyForm()), 400
    data, errors = load_or_errors(ObjectionInputSchema(), values)
    if errors:
        return render_template("lifecycle/notice.html", notice=record, values=values, errors=errors,
                               form=CsrfOnlyForm()), 422
    operations.lodge_objection(record, data)
    commit()
    return render_template("lifecycle/notice.html", notice=record, values={}, errors={}, form=CsrfOnlyForm(),
                           lodged=True)


# ---------------------------------------------------------------- an expert's lifecycle


@blueprint.get("/experts/<id:expert_id>/lifecycle")
@requires("expert.read")
def expert_lifecycle(expert_id: int):
    expert = get_expert(current_user, expert_id)
    return render_template(
        "lifecycle/expert.html", expert=expert, form=CsrfOnlyForm(), history=operations.history(current_user, expert),
        tiers=list_tiers(current_user), exit_reasons=[r for r in ExitReason if r is not ExitReason.RESIGNATION],
        can_manage=can(current_user, "lifecycle.manage", expert),
        can_self=can(current_user, "expert.self_service", expert),
        pooled=expert.status in (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED), conflict_kinds=list(ConflictKind),
        title_levels=list(TitleLevel), domain_tree=domain_tree(),
    )


def _expert_back(expert_id: int) -> str:
    return url_for("lifecycle.expert_lifecycle", expert_id=expert_id)


@blueprint.post("/experts/<id:expert_id>/lifecycle/status")
@requires("lifecycle.manage")
def change_status(expert_id: int):
    expert = get_expert(current_user, expert_id, "lifecycle.manage")

    def step():
        payload = {"action": request.form.get("action", ""), "reason": request.form.get("reason", "")}
        if request.form.get("exit_reason"):
            payload["exit_reason"] = request.form["exit_reason"]
        if request.form.get("until"):
            payload["until"] = request.form["until"]
        data = _loaded(ExpertActionSchema(), payload)
        if data["action"] == "suspend":
            operations.suspend(current_user, expert, data["reason"], data.get("until"))
            return "已暂停该专家的资格"
        if data["action"] == "reinstate":
            operations.reinstate(current_user, expert, data["reason"])
            return "已恢复该专家的资格"
        operations.exit_expert(current_user, expert, ExitReason(data["exit_reason"]), data["reason"])
        return "该专家已退出专家库，记录已归档"

    return _run(step, _expert_back(expert_id))


@blueprint.post("/experts/<id:expert_id>/lifecycle/tier")
@requires("lifecycle.manage")
def change_tier(expert_id: int):
    expert = get_expert(current_user, expert_id, "lifecycle.manage")

    def step():
        data = _loaded(TierChangeSchema(), {"tier_id": optional_int(request.form.get("tier_id")),
                                            "reason": request.form.get("reason", "")})
        operations.change_tier(current_user, expert, data["tier_id"], data["reason"])
        return "层次已调整"

    return _run(step, _expert_back(expert_id))


@blueprint.post("/experts/<id:expert_id>/lifecycle/resign")
@requires("expert.self_service")
def resign(expert_id: int):
    expert = get_expert(current_user, expert_id, "expert.self_service")

    def step():
        operations.resign(current_user, expert, request.form.get("reason", ""))
        return "已办理辞聘，感谢您的贡献"

    return _run(step, _expert_back(expert_id))


@blueprint.post("/experts/<id:expert_id>/lifecycle/periods")
@requires("expert.self_service")
def add_period(expert_id: int):
    expert = get_expert(current_user, expert_id, "expert.self_service")

    def step():
        data = _loaded(PeriodInputSchema(), {key: request.form.get(key) or None
                                             for key in ("starts_on", "ends_on", "reason")})
        operations.add_unavailable_period(current_user, expert, data)
        return "已登记不可参加论证的时段"

    return _run(step, _expert_back(expert_id))


@blueprint.post("/experts/<id:expert_id>/lifecycle/periods/<id:period_id>/delete")
@requires("expert.self_service")
def remove_period(expert_id: int, period_id: int):
    return _run(lambda: operations.remove_unavailable_period(current_user, period_id) or "已删除该时段",
                _expert_back(expert_id))


@blueprint.post("/experts/<id:expert_id>/lifecycle/conflicts")
@requires("expert.self_service")
def declare_conflict(expert_id: int):
    expert = get_expert(current_user, expert_id, "expert.self_service")

    def step():
        payload = {"kind": request.form.get("kind", ""), "relationship_note": request.form.get("relationship_note", "")}
        name = (request.form.get("target") or "").strip()
        if payload["kind"] == ConflictKind.ORGANISATION.value:
            organisation = find_organisation_by_name(name) if name else None
            payload["organisation_id"] = organisation.id if organisation else None
        else:
            payload["person_name"] = name or None
        operations.declare_conflict(current_user, expert, _loaded(ConflictInputSchema(), payload))
        return "已登记利益冲突申报"

    return _run(step, _expert_back(expert_id))


@blueprint.post("/experts/<id:expert_id>/lifecycle/conflicts/<id:declaration_id>/delete")
@requires("expert.self_service")
def withdraw_conflict(expert_id: int, declaration_id: int):
    return _run(lambda: operations.withdraw_conflict(current_user, declaration_id) or "已撤回该申报",
                _expert_back(expert_id))


@blueprint.post("/experts/<id:expert_id>/lifecycle/change")
@requires("expert.self_service")
def request_change(expert_id: int):
    expert = get_expert(current_user, expert_id, "expert.self_service")

    def step():
        payload: dict = {"note": request.form.get("note", "")}
        employer = (request.form.get("employer_name") or "").strip()
        if employer:
            organisation = find_organisation_by_name(employer)
            if organisation is None:
                from experts_service.core.errors import ValidationFailed

                raise ValidationFailed("请填写已登记的单位名称（可用简称或别名）")
            payload["employer_id"] = organisation.id
        for key in ("position", "title_name", "title_level"):
            if request.form.get(key):
                payload[key] = request.form[key]
        if request.form.get("primary_domain_id"):
            payload["primary_domain_id"] = optional_int(request.form["primary_domain_id"])
        operations.request_profile_change(current_user, expert, _loaded(ChangeRequestInputSchema(), payload))
        return "变更申请已提交，待人才工作部门确认"

    return _run(step, _expert_back(expert_id))


# ---------------------------------------------------------------- queues


@blueprint.get("/lifecycle/renewals")
@requires("lifecycle.read")
def renewals():
    return render_template("lifecycle/renewals.html", reviews=operations.renewal_queue(current_user),
                           changes=operations.change_requests(current_user), tiers=list_tiers(current_user),
                           form=CsrfOnlyForm(), can_manage=can(current_user, "lifecycle.manage"))


@blueprint.post("/lifecycle/renewals/<id:renewal_id>/decide")
@requires("lifecycle.manage")
def decide_renewal(renewal_id: int):
    renew = request.form.get("renew") == "yes"
    return _run(lambda: operations.decide_renewal(current_user, renewal_id, renew, request.form.get("reason", ""),
                                                  optional_int(request.form.get("tier_id")))
                and ("已续聘" if renew else "已决定不再续聘，聘期届满后退出"), url_for("lifecycle.renewals"))


@blueprint.post("/lifecycle/changes/<id:change_id>/decide")
@requires("lifecycle.manage")
def decide_change(change_id: int):
    confirm = request.form.get("confirm") == "yes"
    return _run(lambda: operations.decide_change(current_user, change_id, confirm, request.form.get("reason", ""))
                and ("已确认变更" if confirm else "已不予确认"), url_for("lifecycle.renewals"))


@blueprint.get("/lifecycle/review-groups")
@requires("lifecycle.read")
def review_groups():
    return render_template("lifecycle/review_groups.html", groups=operations.review_groups(), form=CsrfOnlyForm(),
                           domain_tree=domain_tree(), can_manage=can(current_user, "lifecycle.manage"))


@blueprint.post("/lifecycle/review-groups")
@requires("lifecycle.manage")
def add_reviewer():
    def step():
        expert_id = optional_int(request.form.get("expert_id"))
        domain_id = optional_int(request.form.get("domain_id"))
        if not isinstance(expert_id, int) or not isinstance(domain_id, int):
            from experts_service.core.errors import ValidationFailed

            raise ValidationFailed("请选择领域并填写专家编号")
        operations.add_reviewer(current_user, domain_id, expert_id)
        return "已加入评审组"

    return _run(step, url_for("lifecycle.review_groups"))


@blueprint.post("/lifecycle/review-groups/<id:domain_id>/<id:expert_id>/delete")
@requires("lifecycle.manage")
def remove_reviewer(domain_id: int, expert_id: int):
    return _run(lambda: operations.remove_reviewer(current_user, domain_id, expert_id) or "已移出评审组",
                url_for("lifecycle.review_groups"))


@blueprint.route("/admin/calendar", methods=["GET", "POST"])
@requires("calendar.read")
def calendar():
    if request.method == "POST":
        if not can(current_user, "calendar.manage"):
            abort(403)

        def step():
            data = _loaded(CalendarInputSchema(), {"day": request.form.get("day") or None,
                                                   "is_workday": request.form.get("is_workday") == "yes",
                                                   "note": request.form.get("note", "")})
            operations.set_calendar_override(current_user, data)
            return "已保存"

        return _run(step, url_for("lifecycle.calendar"))
    return render_template("lifecycle/calendar.html", overrides=operations.calendar_overrides(current_user),
                           form=CsrfOnlyForm(), can_manage=can(current_user, "calendar.manage"))


@blueprint.post("/admin/calendar/<id:override_id>/delete")
@requires("calendar.manage")
def remove_calendar_day(override_id: int):
    return _run(lambda: operations.remove_calendar_override(current_user, override_id) or "已删除",
                url_for("lifecycle.calendar"))
