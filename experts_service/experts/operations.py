"""Business rules for expert records. Operations flush; the caller commits."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from experts_service.core import audit
from experts_service.core.auth import Role, authorize, can
from experts_service.core.clock import today
from experts_service.core.crypto import decrypt_pii, encrypt_pii, keyed_hash
from experts_service.core.errors import Conflict, Forbidden, NothingChanged, NotFound, ValidationFailed
from experts_service.core.paging import Page
from experts_service.core.idcard import mask_id_number, mask_mobile, parse_id_number
from experts_service.experts.models import (
    AchievementKind,
    Appointment,
    Expert,
    ExpertStatus,
    PoliticalAffiliation,
    Sex,
    TitleLevel,
    expert_secondary_domains,
)
from experts_service.experts.names import name_search_key, name_sort_key
from experts_service.experts.schemas import EXPERT_SELF_EDITABLE
from experts_service.extensions import db
from experts_service.policy import current_policy
from experts_service.reference.models import Domain, Organisation, Tier

# Plain fields copied as they are; the others need conversion or checks.
_PLAIN_FIELDS = ("position", "title_name", "years_in_field", "is_npc_deputy", "is_cppcc_member",
                 "is_academician", "bio")
_ENUM_FIELDS = {"title_level": TitleLevel, "political_affiliation": PoliticalAffiliation}
# Never written to the audit summary in clear.
_PII_FIELDS = ("id_number", "mobile")


def get_expert(actor, expert_id: int, permission: str = "expert.read") -> Expert:
    expert = db.session.get(Expert, expert_id)
    if expert is None:
        # Same answer for "missing" and "not yours" would hide existence, but
        # staff need 404s; experts only ever ask for their own id.
        authorize(actor, permission)
        raise NotFound("专家不存在")
    authorize(actor, permission, expert)
    return expert


def _resolve_references(data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """Look up ids given in `data`; unknown ids become field errors."""
    resolved: dict[str, Any] = {}
    if "employer_id" in data:
        employer = db.session.get(Organisation, data["employer_id"])
        if employer is None:
            errors["employer_id"] = ["单位不存在"]
        resolved["employer"] = employer
    if "primary_domain_id" in data:
        domain = db.session.get(Domain, data["primary_domain_id"])
        if domain is None or not domain.is_active:
            errors["primary_domain_id"] = ["未知领域"]
        resolved["primary_domain"] = domain
    if "secondary_domain_ids" in data:
        ids = list(dict.fromkeys(data["secondary_domain_ids"]))
        found = db.session.execute(sa.select(Domain).where(Domain.id.in_(ids), Domain.is_active)).scalars().all() if ids else []
        missing = sorted(set(ids) - {d.id for d in found})
        if missing:
            errors["secondary_domain_ids"] = [f"未知领域：{', '.join(map(str, missing))}"]
        resolved["secondary_domains"] = sorted(found, key=lambda d: ids.index(d.id))
    if "tier_id" in data:
        tier = db.session.get(Tier, data["tier_id"]) if data["tier_id"] is not None else None
        if tier is None:
            errors["tier_id"] = ["未知层次"]
        resolved["tier"] = tier
    return resolved


def _check_age(birth: date, is_academician: bool, errors: dict[str, list[str]]) -> None:
    policy = current_policy()
    limit = policy.max_age_academician if is_academician else policy.max_age_at_application
    now = today()
    age = now.year - birth.year - ((now.month, now.day) < (birth.month, birth.day))
    if age > limit:
        errors.setdefault("id_number", []).append(f"年龄 {age} 岁，超过入库年龄上限 {limit} 岁")


def _check_identity(id_number: str, expert_id: int | None, errors: dict[str, list[str]]):
    """Parse and de-duplicate an ID number; returns (facts, keyed hash) or None."""
    facts = parse_id_number(id_number)  # the schema validated it already
    digest = keyed_hash(facts.normalised)
    clash = db.session.execute(
        sa.select(Expert.id).where(Expert.id_number_hash == digest, Expert.id != (expert_id or 0))
    ).first()
    if clash:
        errors.setdefault("id_number", []).append("该身份证号已在专家库中")
        return None
    return facts, digest


def _apply_identity(expert: Expert, identity) -> None:
    facts, digest = identity
    expert.id_number_enc = encrypt_pii(facts.normalised)
    expert.id_number_hash = digest
    expert.id_number_masked = mask_id_number(facts.normalised)
    expert.birth_date = facts.birth_date
    expert.sex = Sex(facts.sex)


def _apply_fields(expert: Expert, data: dict[str, Any], resolved: dict[str, Any]) -> None:
    if "name" in data:
        expert.name = data["name"]
        expert.name_search_key = name_search_key(data["name"])
        expert.name_sort_key = name_sort_key(data["name"])
    if "mobile" in data:
        mobile = data["mobile"]
        expert.mobile_enc = encrypt_pii(mobile) if mobile else None
        expert.mobile_masked = mask_mobile(mobile) if mobile else None
    for key in _PLAIN_FIELDS:
        if key in data:
            setattr(expert, key, data[key])
    for key, enum_cls in _ENUM_FIELDS.items():
        if key in data:
            setattr(expert, key, enum_cls(data[key]))
    if "keywords" in data:
        expert.keywords = list(dict.fromkeys(data["keywords"]))
    if "achievements" in data:
        expert.achievements = [{"kind": AchievementKind(a["kind"]).value, "title": a["title"]} for a in data["achievements"]]
    for key in ("employer", "primary_domain", "tier"):
        if key in resolved:
            setattr(expert, key, resolved[key])
    if "secondary_domains" in resolved:
        expert.secondary_domains = resolved["secondary_domains"]


def _audit_summary(data: dict[str, Any]) -> dict[str, Any]:
    summary = {key: value for key, value in data.items() if key not in _PII_FIELDS and key != "version"}
    for key in _PII_FIELDS:
        if key in data:
            summary[key] = "（已更改）"
    return summary


def _next_certificate_no(year: int) -> str:
    prefix = f"JCZX-{year}-"
    last = db.session.execute(
        sa.select(sa.func.max(Appointment.certificate_no)).where(Appointment.certificate_no.like(f"{prefix}%"))
    ).scalar()
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:05d}"


@dataclass(frozen=True)
class NewExpertPlan:
    """What `check_new_expert` resolved; `create_expert` writes it."""

    resolved: dict[str, Any]
    identity: tuple
    term_start: date
    term_end: date
    certificate_no: str | None


def check_new_expert(data: dict[str, Any], *, term_start: date | None = None, term_end: date | None = None,
                     certificate_no: str | None = None) -> NewExpertPlan:
    """Every check of a new expert, without writing; raises ValidationFailed.

    A roster import's dry run calls this for each row, so a row is refused
    for exactly the reasons a form submission would be.
    """
    errors: dict[str, list[str]] = {}
    resolved = _resolve_references(data, errors)
    if "secondary_domains" in resolved:
        resolved["secondary_domains"] = [d for d in resolved["secondary_domains"] if d.id != data["primary_domain_id"]]
    identity = _check_identity(data["id_number"], None, errors)
    if identity is not None:
        _check_age(identity[0].birth_date, data.get("is_academician", False), errors)
    policy = current_policy()
    start = term_start or today()
    end = term_end or _add_years(start, policy.term_years)
    _check_term(start, end, policy.term_years, errors)
    if certificate_no and db.session.execute(
        sa.select(Appointment.id).where(Appointment.certificate_no == certificate_no)
    ).first():
        errors.setdefault("certificate_no", []).append("聘书编号已被使用")
    if errors:
        raise ValidationFailed(fields=errors)
    return NewExpertPlan(resolved, identity, start, end, certificate_no)


def _check_term(start: date, end: date, term_years: int, errors: dict[str, list[str]]) -> None:
    """An entered expert is serving now, within one term of the policy's length."""
    if start > today():
        errors.setdefault("term_start", []).append("聘期开始日期不能晚于今天")
        return  # (and a far-future start would overflow the year below)
    if end <= start:
        errors.setdefault("term_end", []).append("聘期结束日期须晚于开始日期")
    elif end > _add_years(start, term_years):
        errors.setdefault("term_end", []).append(f"聘期不能超过 {term_years} 年")
    elif end <= today():
        errors.setdefault("term_end", []).append("聘期已届满，不能作为在聘专家录入")


def create_expert(actor, data: dict[str, Any], *, term_start: date | None = None, term_end: date | None = None,
                  certificate_no: str | None = None) -> Expert:
    """Enter an expert straight into the pool (existing rosters), with a current term.

    New applicants go through intake and vetting instead (lifecycle issue).
    """
    if actor is not None:
        authorize(actor, "expert.create")
    plan = check_new_expert(data, term_start=term_start, term_end=term_end, certificate_no=certificate_no)
    expert = Expert(status=ExpertStatus.ACTIVE)
    _apply_identity(expert, plan.identity)
    _apply_fields(expert, data, plan.resolved)
    db.session.add(expert)
    appointment = Appointment(
        expert=expert,
        tier=plan.resolved["tier"],
        certificate_no=plan.certificate_no or _next_certificate_no(plan.term_start.year),
        term_start=plan.term_start,
        term_end=plan.term_end,
    )
    db.session.add(appointment)
    db.session.flush()
    audit.record(actor, "expert.create", "expert", expert.id, **_audit_summary(data),
                 certificate_no=appointment.certificate_no, policy_version=current_policy().version)
    return expert


def _add_years(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def _current_values(expert: Expert) -> dict[str, Any]:
    """The record in the shape of the input schema, to tell real changes apart."""
    return {
        "name": expert.name, "employer_id": expert.employer_id, "position": expert.position,
        "title_level": expert.title_level.value, "title_name": expert.title_name,
        "years_in_field": expert.years_in_field, "political_affiliation": expert.political_affiliation.value,
        "is_npc_deputy": expert.is_npc_deputy, "is_cppcc_member": expert.is_cppcc_member,
        "is_academician": expert.is_academician, "primary_domain_id": expert.primary_domain_id,
        "secondary_domain_ids": [d.id for d in expert.secondary_domains], "keywords": list(expert.keywords),
        "bio": expert.bio, "achievements": list(expert.achievements), "tier_id": expert.tier_id,
    }


# Lists whose order carries no meaning (keywords and achievements keep theirs).
_UNORDERED_FIELDS = frozenset({"secondary_domain_ids"})


def _same(key: str, old: Any, new: Any) -> bool:
    if key in _UNORDERED_FIELDS:
        return set(old) == set(new)
    if isinstance(new, str) or new is None:
        # A blank optional text field and a missing one are the same thing.
        return (old or None) == (new or None)
    return old == new


def update_expert(actor, expert: Expert, data: dict[str, Any]) -> Expert:
    """Apply the fields that really change; raises NothingChanged when none do."""
    authorize(actor, "expert.update", expert)
    current = _current_values(expert)
    changes = {
        key: value for key, value in data.items()
        if key != "version" and (key not in current or not _same(key, current[key], value))
    }
    if actor.role is Role.EXPERT:
        refused = sorted(set(changes) - EXPERT_SELF_EDITABLE)
        if refused:
            raise Forbidden(
                "以下信息须由人才工作部门确认后修改",
                fields={key: ["须由人才工作部门修改"] for key in refused},
            )
    if "version" in data and data["version"] != expert.version_id:
        raise Conflict("该记录已被他人修改，请刷新后重试", fields={"version": ["版本已过期"]})
    if not changes:
        raise NothingChanged()
    errors: dict[str, list[str]] = {}
    resolved = _resolve_references(changes, errors)
    if "secondary_domains" in resolved:
        primary_id = changes.get("primary_domain_id", expert.primary_domain_id)
        resolved["secondary_domains"] = [d for d in resolved["secondary_domains"] if d.id != primary_id]
    identity = _check_identity(changes["id_number"], expert.id, errors) if "id_number" in changes else None
    if errors:
        raise ValidationFailed(fields=errors)
    if identity is not None:
        _apply_identity(expert, identity)
    _apply_fields(expert, changes, resolved)
    if "tier" in resolved and expert.current_appointment is not None:
        expert.current_appointment.tier = resolved["tier"]
    try:
        db.session.flush()
    except StaleDataError:
        raise Conflict("该记录已被他人修改，请刷新后重试", fields={"version": ["版本已过期"]}) from None
    audit.record(actor, "expert.update", "expert", expert.id, **_audit_summary(changes))
    return expert


def reveal_pii(actor, expert: Expert) -> dict[str, str | None]:
    """The full ID number and mobile; every view is audited."""
    authorize(actor, "expert.reveal_pii", expert)
    audit.record(actor, "expert.pii_viewed", "expert", expert.id)
    return {
        "id_number": decrypt_pii(expert.id_number_enc),
        "mobile": decrypt_pii(expert.mobile_enc) if expert.mobile_enc else None,
    }


@dataclass(frozen=True)
class ExpertFilters:
    q: str | None = None
    domain_id: int | None = None
    tier_id: int | None = None
    status: str | None = None
    title_level: str | None = None
    sort: str = "name"
    page: int = 1
    per_page: int = 20


_SORTS = {
    "name": (Expert.name_sort_key, Expert.id),
    "tier": (Tier.rank, Expert.name_sort_key),
    "years": (Expert.years_in_field, Expert.name_sort_key),
    "updated": (Expert.updated_at, Expert.id),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered_experts(filters: ExpertFilters) -> sa.Select:
    """The experts matching `filters`, in the list's order, every page (list and export)."""
    query = sa.select(Expert).outerjoin(Tier, Expert.tier_id == Tier.id)
    if filters.q:
        needle = _escape_like(filters.q.strip())
        lowered = _escape_like("".join(filters.q.split()).lower())
        query = query.where(
            sa.or_(
                Expert.name.like(f"%{needle}%", escape="\\"),
                # Pinyin and initials match from the start of any reading:
                # "zw" finds 张伟 (zw) but not 许志伟 (xzw).
                (sa.literal(" ") + Expert.name_search_key).like(f"% {lowered}%", escape="\\"),
            )
        )
    if filters.domain_id:
        # A first-level domain matches its children too.
        domain_ids = sa.select(Domain.id).where(sa.or_(Domain.id == filters.domain_id, Domain.parent_id == filters.domain_id))
        secondary = sa.select(expert_secondary_domains.c.expert_id).where(
            expert_secondary_domains.c.domain_id.in_(domain_ids)
        )
        query = query.where(sa.or_(Expert.primary_domain_id.in_(domain_ids), Expert.id.in_(secondary)))
    if filters.tier_id:
        query = query.where(Expert.tier_id == filters.tier_id)
    if filters.status:
        query = query.where(Expert.status == ExpertStatus(filters.status))
    if filters.title_level:
        query = query.where(Expert.title_level == TitleLevel(filters.title_level))
    key = filters.sort.lstrip("-")
    columns = _SORTS[key]
    return query.order_by(*([c.desc() for c in columns] if filters.sort.startswith("-") else columns))


def list_experts(actor, filters: ExpertFilters) -> Page:
    authorize(actor, "expert.list")
    query = filtered_experts(filters)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    items = db.session.execute(
        query.options(selectinload(Expert.secondary_domains), selectinload(Expert.appointments))
        .limit(filters.per_page)
        .offset((filters.page - 1) * filters.per_page)
    ).scalars().all()
    return Page(items=list(items), page=filters.page, per_page=filters.per_page, total=total)


def can_reveal(actor, expert: Expert) -> bool:
    return can(actor, "expert.reveal_pii", expert)
