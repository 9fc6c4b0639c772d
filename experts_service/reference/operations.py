"""Organisations, domains and tiers. Operations flush; the caller commits."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from experts_service.core import audit
from experts_service.core.auth import Role, authorize
from experts_service.core.auth_scope import organisation_subtree_ids
from experts_service.core.errors import Forbidden, NothingChanged, NotFound, ValidationFailed
from experts_service.core.paging import Page
from experts_service.extensions import db
from experts_service.reference.models import Domain, Organisation, OrganisationAlias, OrganisationType, Tier, normalise_org_name
from experts_service.reference.schemas import ORGANISATION_SELF_EDITABLE


def find_organisation_by_name(name: str) -> Organisation | None:
    """By name or any alias, however spaced or full-width."""
    key = normalise_org_name(name)
    found = db.session.execute(sa.select(Organisation).where(Organisation.name_key == key)).scalar()
    if found is not None:
        return found
    return db.session.execute(
        sa.select(Organisation).join(OrganisationAlias).where(OrganisationAlias.alias_key == key)
    ).scalar()


def list_organisations(actor, *, q: str | None, type_: str | None, page: int, per_page: int) -> Page:
    authorize(actor, "organisation.list")
    query = sa.select(Organisation).where(Organisation.is_active)
    if q:
        key = normalise_org_name(q).replace("\\", "").replace("%", "").replace("_", "")
        alias_match = sa.select(OrganisationAlias.organisation_id).where(OrganisationAlias.alias_key.contains(key))
        query = query.where(sa.or_(Organisation.name_key.contains(key), Organisation.id.in_(alias_match)))
    if type_:
        query = query.where(Organisation.type == OrganisationType(type_))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(
        query.order_by(Organisation.name_key).limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def get_organisation(actor, organisation_id: int, permission: str = "organisation.read") -> Organisation:
    organisation = db.session.get(Organisation, organisation_id, options=[selectinload(Organisation.aliases)])
    if organisation is None:
        authorize(actor, permission)
        raise NotFound("单位不存在")
    authorize(actor, permission, organisation)
    return organisation


def _check_names(name: str | None, aliases: list[str] | None, own_id: int | None, errors: dict) -> None:
    keys = []
    if name is not None:
        keys.append(("name", normalise_org_name(name)))
    for alias in aliases or []:
        keys.append(("aliases", normalise_org_name(alias)))
    seen: set[str] = set()
    for field, key in keys:
        if key in seen:
            errors.setdefault(field, []).append("名称或别名重复")
            continue
        seen.add(key)
        clash = find_organisation_by_name(key)
        if clash is not None and clash.id != own_id:
            errors.setdefault(field, []).append(f"与已有单位“{clash.name}”的名称或别名相同")


def _check_parent(parent_id: int | None, own_id: int | None, errors: dict) -> Organisation | None:
    if parent_id is None:
        return None
    parent = db.session.get(Organisation, parent_id)
    if parent is None:
        errors["parent_id"] = ["上级单位不存在"]
        return None
    if own_id is not None and parent_id in organisation_subtree_ids(own_id):
        errors["parent_id"] = ["上级单位不能是本单位或其下属单位"]
    return parent


def _check_system(type_: OrganisationType, system: str | None, errors: dict) -> None:
    if type_ is OrganisationType.GOVERNMENT and not system:
        errors["system"] = ["党政机关须填写所属系统"]
    if type_ is not OrganisationType.GOVERNMENT and system:
        errors["system"] = ["只有党政机关填写所属系统"]


def create_organisation(actor, data: dict[str, Any]) -> Organisation:
    if actor is not None:
        authorize(actor, "organisation.create")
    errors: dict[str, list[str]] = {}
    type_ = OrganisationType(data["type"])
    _check_system(type_, data.get("system"), errors)
    _check_names(data["name"], data.get("aliases"), None, errors)
    parent = _check_parent(data.get("parent_id"), None, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    organisation = Organisation(
        name=data["name"], name_key=normalise_org_name(data["name"]), type=type_, system=data.get("system") or None,
        parent=parent, contact_name=data.get("contact_name"), contact_phone=data.get("contact_phone"),
        address=data.get("address"),
    )
    organisation.aliases = [OrganisationAlias(alias=a, alias_key=normalise_org_name(a)) for a in data.get("aliases", [])]
    db.session.add(organisation)
    db.session.flush()
    audit.record(actor, "organisation.create", "organisation", organisation.id, **data)
    return organisation


def update_organisation(actor, organisation: Organisation, data: dict[str, Any]) -> Organisation:
    authorize(actor, "organisation.update", organisation)
    if actor.role is Role.DEPARTMENT:
        refused = sorted(set(data) - ORGANISATION_SELF_EDITABLE)
        if refused:
            raise Forbidden("部门用户只能修改本单位的联系信息", fields={key: ["无权修改"] for key in refused})
    current = {
        "name": organisation.name, "type": organisation.type.value, "system": organisation.system,
        "parent_id": organisation.parent_id, "aliases": [a.alias for a in organisation.aliases],
        "contact_name": organisation.contact_name, "contact_phone": organisation.contact_phone,
        "address": organisation.address,
    }
    data = {key: value for key, value in data.items() if (current[key] or None) != (value or None)}
    if not data:
        raise NothingChanged()
    errors: dict[str, list[str]] = {}
    type_ = OrganisationType(data["type"]) if "type" in data else organisation.type
    system = data["system"] if "system" in data else organisation.system
    if "type" in data or "system" in data:
        _check_system(type_, system, errors)
    _check_names(data.get("name"), data.get("aliases"), organisation.id, errors)
    parent = _check_parent(data.get("parent_id"), organisation.id, errors) if "parent_id" in data else organisation.parent
    if errors:
        raise ValidationFailed(fields=errors)
    if "name" in data:
        organisation.name = data["name"]
        organisation.name_key = normalise_org_name(data["name"])
    organisation.type = type_
    organisation.system = system or None
    organisation.parent = parent
    for key in ("contact_name", "contact_phone", "address"):
        if key in data:
            setattr(organisation, key, data[key])
    if "aliases" in data:
        organisation.aliases.clear()
        db.session.flush()  # frees the alias keys before re-adding
        organisation.aliases = [OrganisationAlias(alias=a, alias_key=normalise_org_name(a)) for a in data["aliases"]]
    db.session.flush()
    audit.record(actor, "organisation.update", "organisation", organisation.id, **data)
    return organisation


def list_domains(actor) -> list[Domain]:
    authorize(actor, "domain.list")
    return list(db.session.execute(sa.select(Domain).order_by(Domain.sort_order, Domain.id)).scalars())


def domain_tree() -> list[tuple[Domain, list[Domain]]]:
    """First-level domains with their children, for menus and filters."""
    domains = db.session.execute(
        sa.select(Domain).where(Domain.is_active).order_by(Domain.sort_order, Domain.id)
    ).scalars().all()
    tops = [d for d in domains if d.parent_id is None]
    return [(top, [d for d in domains if d.parent_id == top.id]) for top in tops]


def create_domain(actor, data: dict[str, Any]) -> Domain:
    authorize(actor, "domain.manage")
    errors: dict[str, list[str]] = {}
    if db.session.execute(sa.select(Domain.id).where(Domain.code == data["code"])).first():
        errors["code"] = ["编码已存在"]
    parent_id = data.get("parent_id")
    if parent_id is not None:
        parent = db.session.get(Domain, parent_id)
        if parent is None:
            errors["parent_id"] = ["上级领域不存在"]
        elif parent.parent_id is not None:
            errors["parent_id"] = ["领域只有两级：上级须为一级领域"]
    same_name = sa.select(Domain.id).where(
        Domain.name == data["name"], Domain.parent_id.is_(None) if parent_id is None else Domain.parent_id == parent_id
    )
    if db.session.execute(same_name).first():
        errors["name"] = ["同级下已有同名领域"]
    if errors:
        raise ValidationFailed(fields=errors)
    last = db.session.execute(sa.select(sa.func.max(Domain.sort_order))).scalar() or 0
    domain = Domain(code=data["code"], name=data["name"], parent_id=parent_id, sort_order=last + 1)
    db.session.add(domain)
    db.session.flush()
    audit.record(actor, "domain.create", "domain", domain.id, **data)
    return domain


def list_tiers(actor) -> list[Tier]:
    authorize(actor, "tier.list")
    return list(db.session.execute(sa.select(Tier).order_by(Tier.rank)).scalars())


def create_tier(actor, data: dict[str, Any]) -> Tier:
    authorize(actor, "tier.manage")
    errors: dict[str, list[str]] = {}
    for field, column in (("code", Tier.code), ("name", Tier.name), ("rank", Tier.rank)):
        if db.session.execute(sa.select(Tier.id).where(column == data[field])).first():
            errors[field] = ["已被其他层次使用"]
    if errors:
        raise ValidationFailed(fields=errors)
    tier = Tier(**data)
    db.session.add(tier)
    db.session.flush()
    audit.record(actor, "tier.create", "tier", tier.id, **data)
    return tier


def get_domain_or_404(domain_id: int) -> Domain:
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        raise NotFound("领域不存在")
    return domain
