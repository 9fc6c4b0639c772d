"""The expert lifecycle. Operations check the state machine first (states.py),
then permission and input, then change, record history, audit and flush;
the request or command commits once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from experts_service.core import audit
from experts_service.core.auth import Role, authorize
from experts_service.core.clock import now, today
from experts_service.core.crypto import encrypt_pii, keyed_hash
from experts_service.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    NothingChanged,
    ServiceError,
    ValidationFailed,
)
from experts_service.core.idcard import mask_mobile, parse_id_number
from experts_service.core.paging import Page
from experts_service.experts.models import (
    Appointment,
    ConflictDeclaration,
    ConflictKind,
    Expert,
    ExpertStatus,
    TitleLevel,
    UnavailablePeriod,
)
from experts_service.experts.operations import (
    _add_years,
    _apply_fields,
    _apply_identity,
    _audit_summary,
    _next_certificate_no,
    _resolve_references,
    update_expert,
)
from experts_service.extensions import db
from experts_service.lifecycle import documents, states
from experts_service.lifecycle.models import (
    Application,
    ApplicationDocument,
    CalendarOverride,
    ChangeStatus,
    Channel,
    ExitReason,
    ExpertExit,
    Objection,
    ObjectionStatus,
    ProfileChangeRequest,
    RenewalReview,
    RenewalStatus,
    ReviewGroupMember,
    ReviewVote,
    Stage,
    StatusChange,
    Vote,
)
from experts_service.lifecycle.states import require_stage, require_status
from experts_service.lifecycle.workdays import add_working_days
from experts_service.policy import current_policy
from experts_service.reference.models import Domain, Organisation, Tier

MAX_DOCUMENTS_PER_APPLICATION = 10
# Fields an expert changes only through the talent office's confirmation.
CONFIRMED_FIELDS = ("employer_id", "position", "title_level", "title_name", "years_in_field",
                    "primary_domain_id", "secondary_domain_ids")


class ReviewerConflict(ServiceError):
    status = 409
    code = "reviewer_conflict"
    default_message = "与申请人存在利益冲突，须回避，不能投票"


@dataclass(frozen=True)
class _Owned:
    """A record-to-be, for the scope check before it exists."""

    owner_organisation_id: int | None = None
    owner_expert_id: int | None = None


def _required_reason(reason: str | None, field: str = "reason", label: str = "原因") -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(fields={field: [f"请填写{label}"]})
    return text


def _history(expert: Expert, actor, action: str, before: ExpertStatus | None, reason: str = "", **details) -> None:
    db.session.add(StatusChange(
        expert_id=expert.id, action=action, from_status=before.value if before else None,
        to_status=expert.status.value, reason=reason, details=audit._jsonable(details),
        actor_id=getattr(actor, "id", None),
    ))


# ---------------------------------------------------------------- qualification checks


def _check(name: str, label: str, passed: bool, reason: str, overridable: bool) -> dict:
    return {"name": name, "label": label, "passed": passed, "reason": reason, "overridable": overridable,
            "overridden": False}


def qualification_checks(facts, data: dict[str, Any], previous: Expert | None) -> list[dict]:
    """DOMAIN.md intake checks, each by name with its reason (policy values quoted)."""
    policy = current_policy()
    day = today()
    checks = [_check("id_number", "身份证号有效且未在库", True, "校验码正确，库中无在库或在办记录", False)]
    academician = data.get("is_academician", False)
    limit = policy.max_age_academician if academician else policy.max_age_at_application
    age = day.year - facts.birth_date.year - ((day.month, day.day) < (facts.birth_date.month, facts.birth_date.day))
    who = "院士等特殊人才" if academician else "一般申请人"
    checks.append(_check(
        "age", "年龄", age <= limit,
        f"{age} 岁，{'未超过' if age <= limit else '超过'}{who}上限 {limit} 岁", True))
    title = TitleLevel(data["title_level"])
    years = data["years_in_field"]
    title_ok = title.rank <= policy.min_title_level
    years_ok = years >= policy.min_years_in_field_without_title
    required_title = list(TitleLevel)[policy.min_title_level - 1].label
    checks.append(_check(
        "title_or_years", "职称或从业年限", title_ok or years_ok,
        f"职称{title.label}，从业 {years} 年（须{required_title}及以上，"
        f"或从业满 {policy.min_years_in_field_without_title} 年）", True))
    exits = _exits_of(previous) if previous is not None else []
    permanent = [e for e in exits if e.permanent_ban]
    checks.append(_check(
        "no_permanent_ban", "无永久禁入", not permanent,
        f"曾因{permanent[0].reason.label}退出，永久不得再申请" if permanent else "无永久禁入记录", False))
    banned = [e for e in exits if e.ban_until is not None and e.ban_until >= day]
    checks.append(_check(
        "no_reapply_ban", "不在再申请禁止期", not banned,
        f"因{banned[0].reason.label}退出，{banned[0].ban_until.isoformat()} 前不得再申请" if banned
        else "无再申请禁止", False))
    return checks


def _exits_of(expert: Expert) -> list[ExpertExit]:
    return list(db.session.execute(
        sa.select(ExpertExit).where(ExpertExit.expert_id == expert.id).order_by(ExpertExit.id)
    ).scalars())


# ---------------------------------------------------------------- applications


def _channel_scope(actor, channel: Channel, organisation_id: int | None, errors: dict) -> Organisation | None:
    if actor is None:
        if channel is not Channel.SELF:
            raise Forbidden("未登录只能个人申报")
        return None
    authorize(actor, "application.create")
    if channel is Channel.INVITATION and actor.role is not Role.TALENT_OFFICE:
        raise Forbidden("定向邀请由人才工作部门发出")
    if channel is not Channel.ORGANISATION:
        if actor.role is Role.DEPARTMENT:
            raise Forbidden("决策承办部门只能以单位推荐方式申报")
        return None
    if organisation_id is None and actor.role is Role.DEPARTMENT:
        organisation_id = actor.organisation_id
    organisation = db.session.get(Organisation, organisation_id) if organisation_id else None
    if organisation is None:
        errors["recommending_organisation_id"] = ["单位推荐须指定推荐单位"]
        return None
    authorize(actor, "application.create", _Owned(owner_organisation_id=organisation.id))
    return organisation


def submit_application(actor, data: dict[str, Any]) -> Application:
    """Intake through one of the three channels; the checks run and are stored by name."""
    channel = Channel(data["channel"])
    errors: dict[str, list[str]] = {}
    recommender = _channel_scope(actor, channel, data.get("recommending_organisation_id"), errors)
    profile = {key: value for key, value in data.items()
               if key not in ("channel", "recommending_organisation_id", "statement")}
    resolved = _resolve_references(profile, errors)
    if "secondary_domains" in resolved:
        resolved["secondary_domains"] = [d for d in resolved["secondary_domains"]
                                         if d.id != profile["primary_domain_id"]]
    facts = parse_id_number(profile["id_number"], today())
    digest = keyed_hash(facts.normalised)
    previous = db.session.execute(sa.select(Expert).where(Expert.id_number_hash == digest)).scalar()
    if previous is not None and previous.status not in states.REAPPLICABLE:
        errors.setdefault("id_number", []).append("该身份证号已在专家库中或有在办的申请")
    if errors:
        raise ValidationFailed(fields=errors)
    checks = qualification_checks(facts, profile, previous)
    before = previous.status if previous is not None else None
    expert = previous or Expert()
    expert.status = ExpertStatus.APPLICANT
    expert.tier = None
    _apply_identity(expert, (facts, digest))
    _apply_fields(expert, profile, resolved)
    db.session.add(expert)
    application = Application(
        expert=expert, channel=channel, stage=Stage.QUALIFICATION, recommending_organisation=recommender,
        submitted_by_id=getattr(actor, "id", None), statement=data.get("statement", ""), checks=checks,
        policy_version=current_policy().version,
    )
    db.session.add(application)
    db.session.flush()
    _history(expert, actor, "submit", before, channel=channel.value, application_id=application.id)
    audit.record(actor, "application.submit", "application", application.id, expert_id=expert.id,
                 channel=channel.value, reapplication=previous is not None,
                 checks={c["name"]: c["passed"] for c in checks}, **_audit_summary(profile))
    return application


def get_application(actor, application_id: int, permission: str = "application.read") -> Application:
    application = db.session.get(Application, application_id)
    if application is None:
        authorize(actor, permission)
        raise NotFound("申请不存在")
    if permission == "application.vote" and in_review_group(actor, application):
        return application  # the stage is checked by the vote itself, so a wrong one is an audited refusal
    if permission == "application.read" and is_reviewer(actor, application):
        return application  # members of the domain's review group read what they vote on
    authorize(actor, permission, application)
    return application


def list_applications(actor, *, stage: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    authorize(actor, "application.read")
    query = sa.select(Application)
    if actor.role is Role.EXPERT:
        query = query.where(Application.expert_id == actor.expert_id)
    elif actor.role is Role.DEPARTMENT:
        from experts_service.core.auth_scope import organisation_subtree_ids

        query = query.where(Application.recommending_organisation_id.in_(
            organisation_subtree_ids(actor.organisation_id)))
    if stage:
        query = query.where(Application.stage == Stage(stage))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(
        query.order_by(Application.created_at.desc(), Application.id.desc()).limit(per_page)
        .offset((page - 1) * per_page)
    ).scalars().all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def add_document(actor, application: Application, filename: str | None, data: bytes) -> ApplicationDocument:
    """Attach a file while the application is open (actor None: the public self-application)."""
    if actor is not None:
        authorize(actor, "application.create", application)
    if not application.stage.is_open:
        raise Conflict("申请已办结，不能再上传材料")
    if len(application.documents) >= MAX_DOCUMENTS_PER_APPLICATION:
        raise ValidationFailed(fields={"file": [f"每份申请最多 {MAX_DOCUMENTS_PER_APPLICATION} 个材料"]})
    checked = documents.check_file(filename, data)
    document = ApplicationDocument(application=application, expert_id=application.expert_id,
                                   uploaded_by_id=getattr(actor, "id", None), **documents.stored_columns(checked))
    db.session.add(document)
    db.session.flush()
    audit.record(actor, "application.document_add", "application", application.id, document_id=document.id,
                 content_type=checked.content_type, size_bytes=len(checked.data), sha256=checked.sha256)
    return document


def get_document(actor, document_id: int) -> ApplicationDocument:
    document = db.session.get(ApplicationDocument, document_id)
    if document is None:
        authorize(actor, "document.read")
        raise NotFound("材料不存在")
    authorize(actor, "document.read", document)
    return document


def _move(application: Application, actor, action: str, target: Stage, reason: str = "", **details) -> None:
    """Set the stage, the expert's status with it, the history row and the audit entry."""
    expert = application.expert
    before_stage, before_status = application.stage, expert.status
    application.stage = target
    expert.status = states.STATUS_OF_STAGE[target]
    if not target.is_open:
        application.closed_at = now()
        application.outcome_reason = reason or None
    db.session.flush()
    _history(expert, actor, action, before_status, reason, application_id=application.id, **details)
    audit.record(actor, f"application.{action}", "application", application.id, expert_id=expert.id,
                 stage=[before_stage.value, target.value], status=[before_status.value, expert.status.value],
                 reason=reason, **details)


def override_checks(actor, application: Application, reason: str) -> Application:
    """The talent office accepts failed checks that allow it (age exceptions, title), in writing."""
    require_stage(application, "override")
    authorize(actor, "application.review")
    text = _required_reason(reason, label="人工认定理由")
    failed = application.failed_checks
    if not [c for c in failed if c["overridable"] and not c["overridden"]]:
        raise ValidationFailed("没有可人工认定的未通过项", fields={"reason": ["没有可人工认定的未通过项"]})
    application.checks = [{**c, "overridden": c["overridden"] or (not c["passed"] and c["overridable"])}
                          for c in application.checks]
    application.override_reason = text
    application.overridden_by_id = actor.id
    application.overridden_at = now()
    db.session.flush()
    audit.record(actor, "application.override", "application", application.id, reason=text,
                 checks=[c["name"] for c in failed if c["overridable"]])
    return application


def qualify(actor, application: Application, comment: str = "") -> Application:
    """资格初审 passed: every check passed or was accepted in writing."""
    require_stage(application, "qualify")
    authorize(actor, "application.review")
    blocking = [c for c in application.failed_checks if not c["overridden"]]
    if blocking:
        detail = "；".join(f"{c['label']}：{c['reason']}" for c in blocking)
        raise states.refuse(f"资格审查未通过，不能进入专业评审（{detail}）", action="qualify", application=application)
    _move(application, actor, "qualify", Stage.EXPERT_REVIEW, comment)
    return application


def review_group(domain: Domain) -> list[Expert]:
    """The standing group of a domain; a second-level domain without one uses its parent's."""
    for domain_id in (domain.id, domain.parent_id):
        if domain_id is None:
            continue
        members = list(db.session.execute(
            sa.select(Expert).join(ReviewGroupMember, ReviewGroupMember.expert_id == Expert.id)
            .where(ReviewGroupMember.domain_id == domain_id).order_by(Expert.name_sort_key, Expert.id)
        ).scalars())
        if members:
            return members
    return []


def in_review_group(actor, application: Application) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False) or actor.role is not Role.EXPERT:
        return False
    return any(member.id == actor.expert_id for member in review_group(application.expert.primary_domain))


def is_reviewer(actor, application: Application) -> bool:
    """A member of the group while the application is in 专业评审."""
    return application.stage is Stage.EXPERT_REVIEW and in_review_group(actor, application)


def reviewer_conflict(reviewer: Expert, applicant: Expert) -> str | None:
    """Why a reviewer must stand aside, or None."""
    from experts_service.panels.facts import organisation_roots

    if reviewer.id == applicant.id:
        return "评审人即申请人"
    roots = organisation_roots()
    if roots.get(reviewer.employer_id) == roots.get(applicant.employer_id):
        return "与申请人同一单位（含上下级单位）"
    declared = db.session.execute(sa.select(ConflictDeclaration).where(
        ConflictDeclaration.expert_id.in_((reviewer.id, applicant.id)))).scalars()
    for declaration in declared:
        other = applicant if declaration.expert_id == reviewer.id else reviewer
        if (declaration.kind is ConflictKind.ORGANISATION and declaration.expert_id == reviewer.id
                and roots.get(declaration.organisation_id) == roots.get(applicant.employer_id)):
            return "已申报与申请人所在单位存在利益冲突"
        if declaration.kind is ConflictKind.PERSON and (
                declaration.related_expert_id == other.id or declaration.person_name == other.name):
            return "已申报与申请人存在利益关系"
    return None


def cast_vote(actor, application: Application, vote: str, comment: str) -> ReviewVote:
    require_stage(application, "vote")
    authorize(actor, "application.vote")
    reviewer = db.session.get(Expert, actor.expert_id)
    if not in_review_group(actor, application) or reviewer.status is not ExpertStatus.ACTIVE:
        raise Forbidden("您不是该领域评审组的在库成员，不能投票")
    conflict = reviewer_conflict(reviewer, application.expert)
    if conflict:
        raise ReviewerConflict(f"{conflict}，须回避，不能投票")
    if any(v.reviewer_id == reviewer.id for v in application.votes):
        raise Conflict("您已对该申请投票")
    text = _required_reason(comment, "comment", "评审意见")
    record = ReviewVote(application=application, reviewer_id=reviewer.id, vote=Vote(vote), comment=text)
    db.session.add(record)
    db.session.flush()
    audit.record(actor, "application.vote", "application", application.id, reviewer_id=reviewer.id, vote=vote,
                 comment=text)
    return record


def tally(application: Application) -> tuple[int, int]:
    """(approvals, valid votes)."""
    return sum(1 for v in application.votes if v.vote is Vote.APPROVE), len(application.votes)


def conclude_review(actor, application: Application, comment: str = "") -> Application:
    """专业评审 closes: passes on quorum and majority, else the application is rejected."""
    require_stage(application, "conclude_review")
    authorize(actor, "application.review")
    policy = current_policy()
    approvals, valid = tally(application)
    if valid < policy.review_min_votes:
        raise states.refuse(f"有效票 {valid} 票，少于 {policy.review_min_votes} 票，不能结束专业评审",
                            action="conclude_review", application=application)
    details = {"approvals": approvals, "valid_votes": valid, "policy_version": policy.version}
    if Fraction(approvals, valid) > policy.fraction("review_pass_share"):
        _move(application, actor, "conclude_review", Stage.APPROVAL, comment, **details)
    else:
        reason = f"专业评审未通过（同意 {approvals} 票 / 有效 {valid} 票）" + (f"：{comment}" if comment else "")
        _move(application, actor, "reject", Stage.REJECTED, reason, **details)
    return application


def approve(actor, application: Application, comment: str = "") -> Application:
    """审定: the notice runs the policy's number of working days from the first working day on or after today."""
    require_stage(application, "approve")
    authorize(actor, "application.review")
    days = current_policy().public_notice_working_days
    application.notice_starts_on, application.notice_ends_on = add_working_days(today(), days)
    _move(application, actor, "approve", Stage.PUBLIC_NOTICE, comment, working_days=days,
          notice=[application.notice_starts_on.isoformat(), application.notice_ends_on.isoformat()])
    return application


def notice_is_running(application: Application, day: date | None = None) -> bool:
    day = day or today()
    return (application.stage is Stage.PUBLIC_NOTICE and application.notice_closed_on is None
            and application.notice_starts_on <= day <= application.notice_ends_on)


def public_notices() -> list[Application]:
    day = today()
    return list(db.session.execute(
        sa.select(Application).where(Application.stage == Stage.PUBLIC_NOTICE, Application.notice_closed_on.is_(None),
                                     Application.notice_starts_on <= day, Application.notice_ends_on >= day)
        .order_by(Application.notice_ends_on, Application.id)
    ).scalars())


def public_notice(application_id: int) -> Application:
    application = db.session.get(Application, application_id)
    if application is None or not notice_is_running(application):
        raise NotFound("该公示不存在或已结束")
    return application


def _mask_contact(contact: str) -> str:
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return f"{local[:1]}***@{domain}"
    return mask_mobile(contact)


def lodge_objection(application: Application, data: dict[str, Any]) -> Objection:
    """Anyone, no sign-in, during the notice; the contact is stored encrypted."""
    require_stage(application, "object")
    if not notice_is_running(application):
        raise states.refuse("公示期已结束，不再受理异议", action="object", application=application)
    objection = Objection(
        application=application, objector_name=data["name"], contact_enc=encrypt_pii(data["contact"]),
        contact_masked=_mask_contact(data["contact"]), content=data["content"], status=ObjectionStatus.OPEN,
    )
    db.session.add(objection)
    db.session.flush()
    audit.record(None, "application.objection", "application", application.id, objection_id=objection.id,
                 contact=objection.contact_masked)
    return objection


def resolve_objection(actor, objection_id: int, outcome: str, resolution: str) -> Objection:
    authorize(actor, "application.review")
    objection = db.session.get(Objection, objection_id)
    if objection is None:
        raise NotFound("异议不存在")
    if objection.status is not ObjectionStatus.OPEN:
        raise Conflict("该异议已处理")
    text = _required_reason(resolution, "resolution", "处理意见")
    application = objection.application
    objection.status = ObjectionStatus(outcome)
    objection.resolution = text
    objection.resolved_by_id = actor.id
    objection.resolved_at = now()
    db.session.flush()
    audit.record(actor, "application.objection_resolved", "application", application.id,
                 objection_id=objection.id, outcome=outcome, resolution=text)
    if objection.status is ObjectionStatus.UPHELD and application.stage.is_open:
        _move(application, actor, "reject", Stage.REJECTED, f"公示异议成立：{text}", objection_id=objection.id)
    return objection


def appoint(actor, application: Application, tier_id: int, comment: str = "") -> Appointment:
    """聘任 after the notice has run its course with every objection resolved."""
    require_stage(application, "appoint")
    authorize(actor, "application.review")
    day = today()
    if day <= application.notice_ends_on:
        raise states.refuse(f"公示期至 {application.notice_ends_on.isoformat()} 结束，期满后方可聘任",
                            action="appoint", application=application)
    if application.open_objections:
        raise states.refuse(f"尚有 {len(application.open_objections)} 件公示异议未处理，处理后方可聘任",
                            action="appoint", application=application)
    tier = db.session.get(Tier, tier_id)
    if tier is None:
        raise ValidationFailed(fields={"tier_id": ["未知层次"]})
    expert = application.expert
    if application.notice_closed_on is None:
        application.notice_closed_on = day
    appointment = _new_appointment(expert, tier, day)
    expert.tier = tier
    _move(application, actor, "appoint", Stage.APPOINTED, comment, certificate_no=appointment.certificate_no,
          tier=tier.name, term=[appointment.term_start.isoformat(), appointment.term_end.isoformat()])
    return appointment


def _new_appointment(expert: Expert, tier: Tier, start: date) -> Appointment:
    policy = current_policy()
    for old in expert.appointments:
        old.is_current = False
    db.session.flush()  # the one-current index sees the old term end first
    appointment = Appointment(expert=expert, tier=tier, certificate_no=_next_certificate_no(start.year),
                              term_start=start, term_end=_add_years(start, policy.term_years))
    db.session.add(appointment)
    db.session.flush()
    return appointment


def close_application(actor, application: Application, action: str, reason: str) -> Application:
    """reject or withdraw, with a written reason."""
    require_stage(application, action)
    authorize(actor, "application.review")
    text = _required_reason(reason)
    _move(application, actor, action, Stage.REJECTED if action == "reject" else Stage.WITHDRAWN, text)
    return application


APPLICATION_DECISIONS = {
    "qualify": lambda actor, app, data: qualify(actor, app, data.get("reason", "")),
    "conclude_review": lambda actor, app, data: conclude_review(actor, app, data.get("reason", "")),
    "approve": lambda actor, app, data: approve(actor, app, data.get("reason", "")),
    "appoint": lambda actor, app, data: appoint(actor, app, data.get("tier_id") or 0, data.get("reason", "")),
    "reject": lambda actor, app, data: close_application(actor, app, "reject", data.get("reason", "")),
    "withdraw": lambda actor, app, data: close_application(actor, app, "withdraw", data.get("reason", "")),
}


def decide(actor, application: Application, data: dict[str, Any]) -> Application:
    """One entry for every step of vetting: the action names the transition."""
    if data["action"] == "appoint" and not data.get("tier_id"):
        require_stage(application, "appoint")
        raise ValidationFailed(fields={"tier_id": ["聘任须指定层次"]})
    APPLICATION_DECISIONS[data["action"]](actor, application, data)
    return application


# ---------------------------------------------------------------- review groups


def add_reviewer(actor, domain_id: int, expert_id: int) -> ReviewGroupMember:
    authorize(actor, "lifecycle.manage")
    domain = db.session.get(Domain, domain_id)
    expert = db.session.get(Expert, expert_id)
    errors = {}
    if domain is None:
        errors["domain_id"] = ["未知领域"]
    if expert is None or expert.status is not ExpertStatus.ACTIVE:
        errors["expert_id"] = ["评审组成员须为在库专家"]
    if errors:
        raise ValidationFailed(fields=errors)
    if db.session.execute(sa.select(ReviewGroupMember.id).where(
            ReviewGroupMember.domain_id == domain_id, ReviewGroupMember.expert_id == expert_id)).first():
        raise Conflict("该专家已在评审组中")
    member = ReviewGroupMember(domain_id=domain_id, expert_id=expert_id)
    db.session.add(member)
    db.session.flush()
    audit.record(actor, "review_group.add", "domain", domain_id, expert_id=expert_id)
    return member


def remove_reviewer(actor, domain_id: int, expert_id: int) -> None:
    authorize(actor, "lifecycle.manage")
    member = db.session.execute(sa.select(ReviewGroupMember).where(
        ReviewGroupMember.domain_id == domain_id, ReviewGroupMember.expert_id == expert_id)).scalar()
    if member is None:
        raise NotFound("该专家不在评审组中")
    db.session.delete(member)
    db.session.flush()
    audit.record(actor, "review_group.remove", "domain", domain_id, expert_id=expert_id)


def review_groups() -> list[tuple[Domain, list[Expert]]]:
    rows = db.session.execute(
        sa.select(ReviewGroupMember).options(selectinload(ReviewGroupMember.expert))
        .order_by(ReviewGroupMember.domain_id, ReviewGroupMember.id)
    ).scalars()
    grouped: dict[int, list[Expert]] = {}
    for row in rows:
        grouped.setdefault(row.domain_id, []).append(row.expert)
    return [(db.session.get(Domain, domain_id), members) for domain_id, members in grouped.items()]


# ---------------------------------------------------------------- pooled experts


def _pooled_step(actor, expert: Expert, action: str, permission: str = "lifecycle.manage"):
    """Permission first (no one learns the state of a record they may not act on), then the state."""
    authorize(actor, permission, expert)
    return require_status(expert, action)


def suspend(actor, expert: Expert, reason: str, until: date | None = None) -> Expert:
    _pooled_step(actor, expert, "suspend")
    text = _required_reason(reason)
    if until is not None and until <= today():
        raise ValidationFailed(fields={"until": ["暂停截止日期须晚于今天"]})
    sanction_ids: list[int] = []
    if until is not None:
        # Kept as a sanction with its end date, so the daily run brings the expert back on that day.
        from experts_service.integrity.operations import record_manual_suspension

        sanction_ids.append(record_manual_suspension(actor, expert, text, until).id)
    return suspend_now(actor, expert, text, until=until, sanction_ids=sanction_ids)


def suspend_now(actor, expert: Expert, reason: str, *, until: date | None = None,
                sanction_ids: list[int] | None = None) -> Expert:
    """The status step itself; the integrity ladder calls it as the system (actor None)."""
    require_status(expert, "suspend")
    before = expert.status
    expert.status = ExpertStatus.SUSPENDED
    db.session.flush()
    _history(expert, actor, "suspend", before, reason, until=until.isoformat() if until else None,
             sanction_ids=sanction_ids or [])
    audit.record(actor, "expert.suspend", "expert", expert.id, reason=reason, until=until,
                 sanction_ids=sanction_ids or [])
    return expert


def _refuse_while_dismissal_pending(expert: Expert, step: str) -> None:
    from experts_service.integrity.operations import dismissal_pending

    pending = dismissal_pending(expert.id)
    if pending is not None:
        raise Conflict(f"该专家因严重失信待解聘（{pending.explanation[:60]}…），申诉处理完毕前不能{step}")


def reinstate(actor, expert: Expert, reason: str) -> Expert:
    _pooled_step(actor, expert, "reinstate")
    text = _required_reason(reason)
    _refuse_while_dismissal_pending(expert, "恢复资格")
    from experts_service.integrity.operations import end_suspensions_early

    ended = end_suspensions_early(actor, expert, text)
    return reinstate_now(actor, expert, text, sanctions_ended=[s.id for s in ended])


def reinstate_now(actor, expert: Expert, reason: str, **details) -> Expert:
    require_status(expert, "reinstate")
    before = expert.status
    expert.status = ExpertStatus.ACTIVE
    db.session.flush()
    _history(expert, actor, "reinstate", before, reason, **details)
    audit.record(actor, "expert.reinstate", "expert", expert.id, reason=reason, **details)
    return expert


def last_suspension(expert: Expert) -> StatusChange | None:
    return db.session.execute(sa.select(StatusChange).where(
        StatusChange.expert_id == expert.id, StatusChange.action == "suspend").order_by(StatusChange.id.desc())
    ).scalars().first()


def exit_expert(actor, expert: Expert, reason: ExitReason, note: str = "", *, action: str = "exit") -> ExpertExit:
    """Archive, never delete: the record stays, the term ends, bans follow integrity exits."""
    _pooled_step(actor, expert, action, "expert.self_service" if action == "resign" else "lifecycle.manage")
    if reason in (ExitReason.INTEGRITY, ExitReason.ILLEGAL_CONDUCT, ExitReason.STANDING_CONFLICT) and not note.strip():
        raise ValidationFailed(fields={"note": ["此退出原因须写明事实"]})
    return _exit(actor, expert, reason, note.strip(), action)


def _exit(actor, expert: Expert, reason: ExitReason, note: str, action: str) -> ExpertExit:
    day = today()
    policy = current_policy()
    ban_until = _add_years(day, policy.reapply_ban_years_integrity) if reason is ExitReason.INTEGRITY else None
    record = ExpertExit(expert_id=expert.id, reason=reason, note=note, exited_on=day, ban_until=ban_until,
                        permanent_ban=reason is ExitReason.ILLEGAL_CONDUCT, recorded_by_id=getattr(actor, "id", None))
    db.session.add(record)
    for appointment in expert.appointments:
        appointment.is_current = False
    for review in db.session.execute(sa.select(RenewalReview).where(
            RenewalReview.expert_id == expert.id, RenewalReview.status == RenewalStatus.OPEN)).scalars():
        review.status = RenewalStatus.NOT_RENEWED
        review.reason = f"专家已退出：{reason.label}"
        review.decided_at = now()
    before = expert.status
    expert.status = ExpertStatus.EXITED
    db.session.flush()
    _history(expert, actor, action, before, note or reason.label, exit_reason=reason.value,
             ban_until=ban_until.isoformat() if ban_until else None, permanent_ban=record.permanent_ban)
    audit.record(actor, f"expert.{action}", "expert", expert.id, exit_reason=reason.value, note=note,
                 ban_until=ban_until, permanent_ban=record.permanent_ban)
    return record


def resign(actor, expert: Expert, reason: str) -> ExpertExit:
    # Resigning would leave without the re-application ban a pending integrity dismissal carries.
    _pooled_step(actor, expert, "resign", "expert.self_service")
    _refuse_while_dismissal_pending(expert, "辞聘")
    return exit_expert(actor, expert, ExitReason.RESIGNATION, reason or "", action="resign")


def change_tier(actor, expert: Expert, tier_id: int, reason: str) -> Expert:
    _pooled_step(actor, expert, "change_tier")
    text = _required_reason(reason)
    tier = db.session.get(Tier, tier_id)
    if tier is None:
        raise ValidationFailed(fields={"tier_id": ["未知层次"]})
    if tier.id == expert.tier_id:
        raise NothingChanged("层次未变")
    old = expert.tier
    direction = "promotion" if tier.rank < old.rank else "demotion"
    expert.tier = tier
    if expert.current_appointment is not None:
        expert.current_appointment.tier = tier
    db.session.flush()
    _history(expert, actor, "change_tier", expert.status, text, direction=direction, tier=[old.name, tier.name])
    audit.record(actor, "expert.change_tier", "expert", expert.id, reason=text, direction=direction,
                 tier=[old.name, tier.name])
    return expert


def history(actor, expert: Expert) -> list[StatusChange]:
    authorize(actor, "expert.read", expert)
    return list(db.session.execute(
        sa.select(StatusChange).where(StatusChange.expert_id == expert.id).order_by(StatusChange.id)
    ).scalars())


# ---------------------------------------------------------------- renewals


def renewal_queue(actor, status: str | None = "open") -> list[RenewalReview]:
    authorize(actor, "lifecycle.read")
    query = sa.select(RenewalReview).order_by(RenewalReview.due_on, RenewalReview.id)
    if status:
        query = query.where(RenewalReview.status == RenewalStatus(status))
    return list(db.session.execute(query).scalars())


def decide_renewal(actor, review_id: int, renew: bool, reason: str, tier_id: int | None = None) -> RenewalReview:
    review = db.session.get(RenewalReview, review_id)
    if review is None:
        authorize(actor, "lifecycle.manage")
        raise NotFound("续聘评审不存在")
    expert = review.expert
    _pooled_step(actor, expert, "renew")
    if review.status is not RenewalStatus.OPEN:
        raise Conflict("该续聘评审已有结论")
    text = _required_reason(reason)
    details: dict[str, Any] = {"renewal_id": review.id}
    if renew:
        tier = db.session.get(Tier, tier_id) if tier_id else expert.tier
        if tier is None:
            raise ValidationFailed(fields={"tier_id": ["未知层次"]})
        appointment = _new_appointment(expert, tier, review.appointment.term_end)
        expert.tier = tier
        review.new_appointment_id = appointment.id
        details.update(certificate_no=appointment.certificate_no, tier=tier.name,
                       term=[appointment.term_start.isoformat(), appointment.term_end.isoformat()])
    review.status = RenewalStatus.RENEWED if renew else RenewalStatus.NOT_RENEWED
    review.reason = text
    review.decided_by_id = actor.id
    review.decided_at = now()
    db.session.flush()
    _history(expert, actor, "renew" if renew else "not_renewed", expert.status, text, **details)
    audit.record(actor, "renewal.decide", "expert", expert.id, renew=renew, reason=text, **details)
    return review


# ---------------------------------------------------------------- self-service


def add_unavailable_period(actor, expert: Expert, data: dict[str, Any]) -> UnavailablePeriod:
    authorize(actor, "expert.self_service", expert)
    if data["ends_on"] < data["starts_on"]:
        raise ValidationFailed(fields={"ends_on": ["结束日期不能早于起始日期"]})
    period = UnavailablePeriod(expert=expert, starts_on=data["starts_on"], ends_on=data["ends_on"],
                               reason=data.get("reason") or None)
    db.session.add(period)
    db.session.flush()
    audit.record(actor, "expert.unavailable_add", "expert", expert.id, period_id=period.id,
                 starts_on=period.starts_on, ends_on=period.ends_on)
    return period


def _remove_own(actor, model, record_id: int, missing: str, action: str, fields: tuple[str, ...] = ()) -> None:
    """Delete one of an expert's own availability or conflict rows, audited."""
    record = db.session.get(model, record_id)
    if record is None:
        authorize(actor, "expert.self_service")
        raise NotFound(missing)
    authorize(actor, "expert.self_service", record.expert)
    details = {key: getattr(record, key) for key in fields}
    db.session.delete(record)
    db.session.flush()
    audit.record(actor, action, "expert", record.expert_id, record_id=record_id, **details)


def remove_unavailable_period(actor, period_id: int) -> None:
    _remove_own(actor, UnavailablePeriod, period_id, "时段不存在", "expert.unavailable_remove",
                fields=("starts_on", "ends_on"))


def declare_conflict(actor, expert: Expert, data: dict[str, Any]) -> ConflictDeclaration:
    authorize(actor, "expert.self_service", expert)
    kind = ConflictKind(data["kind"])
    errors: dict[str, list[str]] = {}
    organisation = None
    if kind is ConflictKind.ORGANISATION:
        organisation = db.session.get(Organisation, data.get("organisation_id") or 0)
        if organisation is None:
            errors["organisation_id"] = ["请指定已登记的单位"]
    elif not data.get("person_name"):
        errors["person_name"] = ["请填写对方姓名"]
    related = data.get("related_expert_id")
    if related is not None and (related == expert.id or db.session.get(Expert, related) is None):
        errors["related_expert_id"] = ["关联专家无效"]
    if errors:
        raise ValidationFailed(fields=errors)
    declaration = ConflictDeclaration(
        expert=expert, kind=kind, organisation=organisation,
        person_name=data.get("person_name") if kind is ConflictKind.PERSON else None,
        related_expert_id=related if kind is ConflictKind.PERSON else None,
        relationship_note=data["relationship_note"],
    )
    db.session.add(declaration)
    db.session.flush()
    audit.record(actor, "expert.conflict_declare", "expert", expert.id, declaration_id=declaration.id,
                 kind=kind.value, organisation_id=getattr(organisation, "id", None))
    return declaration


def withdraw_conflict(actor, declaration_id: int) -> None:
    _remove_own(actor, ConflictDeclaration, declaration_id, "申报不存在", "expert.conflict_withdraw")


def _confirmed_values(expert: Expert) -> dict[str, Any]:
    return {
        "employer_id": expert.employer_id, "position": expert.position, "title_level": expert.title_level.value,
        "title_name": expert.title_name, "years_in_field": expert.years_in_field,
        "primary_domain_id": expert.primary_domain_id,
        "secondary_domain_ids": [d.id for d in expert.secondary_domains],
    }


def request_profile_change(actor, expert: Expert, data: dict[str, Any]) -> ProfileChangeRequest:
    """Employer, title and domains change only when the talent office confirms."""
    _pooled_step(actor, expert, "request_change", "expert.self_service")
    current = _confirmed_values(expert)
    changes = {key: value for key, value in data.items() if key in CONFIRMED_FIELDS and (
        set(value) != set(current[key]) if key == "secondary_domain_ids" else (current[key] or None) != (value or None))}
    if not changes:
        raise NothingChanged()
    errors: dict[str, list[str]] = {}
    _resolve_references(changes, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    if db.session.execute(sa.select(ProfileChangeRequest.id).where(
            ProfileChangeRequest.expert_id == expert.id, ProfileChangeRequest.status == ChangeStatus.PENDING)).first():
        raise Conflict("已有待确认的变更申请，请等待人才工作部门处理")
    request = ProfileChangeRequest(expert=expert, requested=changes, previous={k: current[k] for k in changes},
                                   note=data.get("note", ""), status=ChangeStatus.PENDING,
                                   requested_by_id=actor.id)
    db.session.add(request)
    db.session.flush()
    audit.record(actor, "profile_change.request", "expert", expert.id, request_id=request.id, changes=changes)
    return request


def change_requests(actor, status: str | None = "pending") -> list[ProfileChangeRequest]:
    authorize(actor, "lifecycle.read")
    query = sa.select(ProfileChangeRequest).order_by(ProfileChangeRequest.requested_at, ProfileChangeRequest.id)
    if status:
        query = query.where(ProfileChangeRequest.status == ChangeStatus(status))
    return list(db.session.execute(query).scalars())


def decide_change(actor, request_id: int, confirm: bool, reason: str = "") -> ProfileChangeRequest:
    authorize(actor, "lifecycle.manage")
    request = db.session.get(ProfileChangeRequest, request_id)
    if request is None:
        raise NotFound("变更申请不存在")
    if request.status is not ChangeStatus.PENDING:
        raise Conflict("该变更申请已处理")
    expert = request.expert
    text = reason.strip() if confirm else _required_reason(reason, label="不予确认的理由")
    if confirm:
        # A new employer: panels.models records the former one as employment
        # history on flush, for the cooling-off rule.
        try:
            update_expert(actor, expert, dict(request.requested))
        except NothingChanged:
            pass  # already as requested (the office edited it meanwhile)
    request.status = ChangeStatus.CONFIRMED if confirm else ChangeStatus.DECLINED
    request.decided_by_id = actor.id
    request.decided_at = now()
    request.decision_reason = text or None
    db.session.flush()
    audit.record(actor, "profile_change.confirm" if confirm else "profile_change.decline", "expert", expert.id,
                 request_id=request.id, reason=text)
    return request


# ---------------------------------------------------------------- local calendar


def calendar_overrides(actor) -> list[CalendarOverride]:
    authorize(actor, "calendar.read")
    return list(db.session.execute(sa.select(CalendarOverride).order_by(CalendarOverride.day)).scalars())


def set_calendar_override(actor, data: dict[str, Any]) -> CalendarOverride:
    authorize(actor, "calendar.manage")
    existing = db.session.execute(sa.select(CalendarOverride).where(CalendarOverride.day == data["day"])).scalar()
    if existing is not None:
        raise Conflict("该日期已有设置，请先删除")
    override = CalendarOverride(day=data["day"], is_workday=data["is_workday"], note=data["note"],
                                created_by_id=actor.id)
    db.session.add(override)
    db.session.flush()
    audit.record(actor, "calendar.set", "calendar", override.day.isoformat(), is_workday=override.is_workday,
                 note=override.note)
    return override


def remove_calendar_override(actor, override_id: int) -> None:
    authorize(actor, "calendar.manage")
    override = db.session.get(CalendarOverride, override_id)
    if override is None:
        raise NotFound("该日期没有设置")
    db.session.delete(override)
    db.session.flush()
    audit.record(actor, "calendar.remove", "calendar", override.day.isoformat())


# ---------------------------------------------------------------- the daily run


@dataclass
class DailyReport:
    notices_closed: int = 0
    renewals_opened: int = 0
    term_exits: int = 0
    age_exits: int = 0

    @property
    def changed(self) -> int:
        return self.notices_closed + self.renewals_opened + self.term_exits + self.age_exits


def run_daily() -> DailyReport:
    """What falls due on today's date. Each step selects only what is not done
    yet, so a second run on the same day finds nothing."""
    day = today()
    policy = current_policy()
    report = DailyReport()
    for application in db.session.execute(sa.select(Application).where(
            Application.stage == Stage.PUBLIC_NOTICE, Application.notice_closed_on.is_(None),
            Application.notice_ends_on < day)).scalars():
        application.notice_closed_on = day
        audit.record(None, "application.notice_closed", "application", application.id,
                     notice_ends_on=application.notice_ends_on)
        report.notices_closed += 1
    pooled = (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED)
    current = (sa.select(Appointment).join(Expert, Appointment.expert_id == Expert.id)
               .where(Appointment.is_current, Expert.status.in_(pooled)))
    for appointment in db.session.execute(current.where(Appointment.term_end <= day)).scalars().all():
        _exit(None, appointment.expert, ExitReason.TERM_END, f"聘期于 {appointment.term_end.isoformat()} 届满", "exit")
        report.term_exits += 1
    window_end = day + timedelta(days=policy.renewal_window_days)
    reviewed = sa.select(RenewalReview.appointment_id)
    for appointment in db.session.execute(current.where(
            Appointment.term_end <= window_end, Appointment.id.not_in(reviewed))).scalars().all():
        db.session.add(RenewalReview(expert_id=appointment.expert_id, appointment_id=appointment.id, opened_on=day,
                                     due_on=appointment.term_end, status=RenewalStatus.OPEN))
        db.session.flush()
        audit.record(None, "renewal.open", "expert", appointment.expert_id, appointment_id=appointment.id,
                     due_on=appointment.term_end)
        report.renewals_opened += 1
    for academician, limit in ((False, policy.max_age_at_application), (True, policy.max_age_academician)):
        # Older than the limit: born on or before this day (limit + 1) years ago.
        born_by = _add_years(day, -(limit + 1))
        for expert in db.session.execute(sa.select(Expert).where(
                Expert.status.in_(pooled), Expert.is_academician == academician,
                Expert.birth_date <= born_by)).scalars().all():
            _exit(None, expert, ExitReason.AGE_LIMIT, f"已超过 {limit} 岁", "exit")
            report.age_exits += 1
    audit_summary = {"day": day, **report.__dict__}
    if report.changed:
        audit.record(None, "lifecycle.run_daily", "lifecycle", day.isoformat(), **audit_summary)
    return report
