"""Decision items, panel requests and matcher runs. Operations flush; the caller commits."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from experts_service.core import audit
from experts_service.core.auth import Role, authorize, can
from experts_service.core.auth_scope import organisation_subtree_ids
from experts_service.core.clock import now, today
from experts_service.core.errors import Conflict, NothingChanged, NotFound, ValidationFailed
from experts_service.core.paging import Page
from experts_service.experts.models import Expert
from experts_service.extensions import db
from experts_service.panels import draw as draw_module
from experts_service.panels import columns, facts, matcher
from experts_service.panels.models import (
    AvoidEntry,
    ConsultationMode,
    DecisionCategory,
    DecisionItem,
    PanelRequest,
    PanelRequestStatus,
    Recommendation,
    RecommendationKind,
    SelectionMethod,
)
from experts_service.policy import current_policy
from experts_service.reference.models import Domain, Organisation, OrganisationType
from experts_service.reference.operations import find_organisation_by_name

log = logging.getLogger(__name__)

# Ranked candidates kept in a record beyond the panel, pool and alternates:
# enough for the talent office to pick from, bounded as the pool grows.
STORED_CANDIDATES = 200
# Alternates listed per record (each member's first replacement is added even beyond).
ALTERNATES_LIMIT = 10

# A text relevance function with the search bridge's signature.
Relevance = Callable[..., Mapping[int, Any]]


# ---------------------------------------------------------------- decision items


@dataclass(frozen=True)
class _Owned:
    """A record-to-be, for the scope check before it exists."""

    owner_organisation_id: int


def _domains(ids: list[int], field: str, errors: dict) -> list[Domain]:
    if not ids:
        return []
    found = db.session.execute(sa.select(Domain).where(Domain.id.in_(ids), Domain.is_active)).scalars().all()
    missing = sorted(set(ids) - {d.id for d in found})
    if missing:
        errors[field] = [f"未知领域：{', '.join(map(str, missing))}"]
    return sorted(found, key=lambda d: ids.index(d.id))


def _organisations(ids: list[int], field: str, errors: dict) -> list[Organisation]:
    if not ids:
        return []
    found = db.session.execute(sa.select(Organisation).where(Organisation.id.in_(ids))).scalars().all()
    missing = sorted(set(ids) - {o.id for o in found})
    if missing:
        errors[field] = [f"单位不存在：{', '.join(map(str, missing))}"]
    return sorted(found, key=lambda o: ids.index(o.id))


def _requesting_department(actor, organisation_id: int | None, errors: dict) -> Organisation | None:
    if organisation_id is None:
        if actor is not None and actor.role is Role.DEPARTMENT:
            organisation_id = actor.organisation_id
        else:
            errors["organisation_id"] = ["请指定申请部门"]
            return None
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        errors["organisation_id"] = ["单位不存在"]
    elif organisation.type is not OrganisationType.GOVERNMENT:
        errors["organisation_id"] = ["申请部门须为党政机关"]
    return organisation


def create_item(actor, data: dict[str, Any]) -> DecisionItem:
    authorize(actor, "item.create")
    errors: dict[str, list[str]] = {}
    department = _requesting_department(actor, data.get("organisation_id"), errors)
    if department is not None:
        # Scope before the other checks: a department filing for another one is refused outright.
        authorize(actor, "item.create", _Owned(department.id))
    domains = _domains(data.get("domain_ids", []), "domain_ids", errors)
    stakeholders = _organisations(data.get("stakeholder_ids", []), "stakeholder_ids", errors)
    if errors:
        raise ValidationFailed(fields=errors)
    item = DecisionItem(
        title=data["title"], description=data.get("description", ""), category=DecisionCategory(data["category"]),
        keywords=list(data.get("keywords", [])), organisation=department,
        planned_decision_date=data.get("planned_decision_date"), confidential=data.get("confidential", False),
        created_by_id=getattr(actor, "id", None),
    )
    item.domains = domains
    item.stakeholders = stakeholders
    db.session.add(item)
    db.session.flush()
    audit.record(actor, "item.create", "decision_item", item.id, **_item_summary(data, department.id))
    return item


def _item_summary(data: dict[str, Any], organisation_id: int | None = None) -> dict[str, Any]:
    summary = dict(data)
    if organisation_id is not None:
        summary["organisation_id"] = organisation_id
    return summary


def get_item(actor, item_id: int, permission: str = "item.read") -> DecisionItem:
    item = db.session.get(DecisionItem, item_id)
    if item is None:
        authorize(actor, permission)
        raise NotFound("决策事项不存在")
    authorize(actor, permission, item)
    return item


def list_items(actor, *, q: str | None = None, category: str | None = None, page: int = 1,
               per_page: int = 20) -> Page:
    authorize(actor, "item.read")
    query = sa.select(DecisionItem)
    if actor.role is Role.DEPARTMENT:
        query = query.where(DecisionItem.organisation_id.in_(organisation_subtree_ids(actor.organisation_id)))
    if q:
        needle = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(DecisionItem.title.like(f"%{needle}%", escape="\\"))
    if category:
        query = query.where(DecisionItem.category == DecisionCategory(category))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(
        query.options(selectinload(DecisionItem.domains), selectinload(DecisionItem.panel_requests))
        .order_by(DecisionItem.created_at.desc(), DecisionItem.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def _item_values(item: DecisionItem) -> dict[str, Any]:
    return {
        "title": item.title, "description": item.description, "category": item.category.value,
        "domain_ids": [d.id for d in item.domains], "keywords": list(item.keywords),
        "stakeholder_ids": [o.id for o in item.stakeholders], "planned_decision_date": item.planned_decision_date,
        "confidential": item.confidential,
    }


_UNORDERED = frozenset({"domain_ids", "stakeholder_ids"})


def update_item(actor, item: DecisionItem, data: dict[str, Any]) -> DecisionItem:
    authorize(actor, "item.update", item)
    current = _item_values(item)
    changes = {
        key: value for key, value in data.items()
        if (set(current[key]) != set(value) if key in _UNORDERED else current[key] != value)
    }
    if not changes:
        raise NothingChanged()
    errors: dict[str, list[str]] = {}
    domains = _domains(changes["domain_ids"], "domain_ids", errors) if "domain_ids" in changes else None
    stakeholders = (_organisations(changes["stakeholder_ids"], "stakeholder_ids", errors)
                    if "stakeholder_ids" in changes else None)
    if errors:
        raise ValidationFailed(fields=errors)
    for key in ("title", "description", "planned_decision_date", "confidential"):
        if key in changes:
            setattr(item, key, changes[key])
    if "category" in changes:
        item.category = DecisionCategory(changes["category"])
    if "keywords" in changes:
        item.keywords = list(changes["keywords"])
    if domains is not None:
        item.domains = domains
    if stakeholders is not None:
        item.stakeholders = stakeholders
    db.session.flush()
    audit.record(actor, "item.update", "decision_item", item.id, **changes)
    return item


# ---------------------------------------------------------------- panel requests


def _check_mode_rules(data: dict[str, Any], policy, errors: dict) -> None:
    """The numbers of docs/DOMAIN.md step 1, from the policy."""
    mode = ConsultationMode(data["mode"])
    seats = data["seats"]
    if mode is ConsultationMode.MEETING:
        if seats < policy.meeting_min_seats:
            errors.setdefault("seats", []).append(f"论证会至少 {policy.meeting_min_seats} 人")
        if policy.meeting_seats_must_be_odd and seats % 2 == 0:
            errors.setdefault("seats", []).append("论证会人数须为奇数")
    elif mode is ConsultationMode.WRITTEN:
        if seats < policy.written_min_seats:
            errors.setdefault("seats", []).append(f"书面咨询至少 {policy.written_min_seats} 人")
    elif seats < policy.commissioned_min_reviewers:
        errors.setdefault("seats", []).append(f"委托咨询论证至少 {policy.commissioned_min_reviewers} 名评审专家")
    day = data.get("meeting_date") if mode is ConsultationMode.MEETING else data.get("deadline")
    field = "meeting_date" if mode is ConsultationMode.MEETING else "deadline"
    if day is not None and day < today():
        errors.setdefault(field, []).append("日期不能早于今天")


def create_panel_request(actor, item: DecisionItem, data: dict[str, Any]) -> PanelRequest:
    authorize(actor, "panel_request.create", item)
    policy = current_policy()
    errors: dict[str, list[str]] = {}
    _check_mode_rules(data, policy, errors)
    min_senior = data.get("min_senior_members", policy.min_senior_tier_members)
    if min_senior > data["seats"]:
        errors["min_senior_members"] = ["首席或核心专家人数不能多于总人数"]
    domains = _domains(data.get("required_domain_ids", []), "required_domain_ids", errors)
    institution = None
    if data.get("institution_id") is not None:
        institution = db.session.get(Organisation, data["institution_id"])
        if institution is None:
            errors["institution_id"] = ["受托机构不存在"]
    avoid = data.get("avoid", [])
    if len(avoid) > policy.avoid_list_max:
        errors["avoid"] = [f"申请回避的专家最多 {policy.avoid_list_max} 人"]
    elif avoid:
        ids = [entry["expert_id"] for entry in avoid]
        known = set(db.session.execute(sa.select(Expert.id).where(Expert.id.in_(ids))).scalars())
        missing = [i for i in ids if i not in known]
        if missing:
            errors["avoid"] = [f"专家不存在：{', '.join(map(str, missing))}"]
    if errors:
        raise ValidationFailed(fields=errors)
    mode = ConsultationMode(data["mode"])
    request = PanelRequest(
        item=item, mode=mode, seats=data["seats"], min_senior_members=min_senior,
        meeting_date=data.get("meeting_date"), meeting_time=data.get("meeting_time"),
        meeting_end_time=data.get("meeting_end_time"), meeting_place=data.get("meeting_place"), deadline=data.get("deadline"), institution=institution,
        selection_method=SelectionMethod(data["selection_method"]), status=PanelRequestStatus.SUBMITTED,
        note=data.get("note", ""), created_by_id=getattr(actor, "id", None),
    )
    request.required_domains = domains
    request.avoid_entries = [AvoidEntry(expert_id=e["expert_id"], reason=e["reason"]) for e in avoid]
    db.session.add(request)
    db.session.flush()
    audit.record(actor, "panel_request.create", "panel_request", request.id, item_id=item.id,
                 policy_version=policy.version, **data)
    return request


def get_panel_request(actor, request_id: int, permission: str = "panel_request.read") -> PanelRequest:
    request = db.session.get(PanelRequest, request_id)
    if request is None:
        authorize(actor, permission)
        raise NotFound("论证申请不存在")
    authorize(actor, permission, request)
    return request


def list_panel_requests(actor, item: DecisionItem) -> list[PanelRequest]:
    authorize(actor, "panel_request.read", item)
    return list(item.panel_requests)


# ---------------------------------------------------------------- matcher runs


def _default_relevance() -> Relevance:
    # Imported here: the search side is optional for everything but a run.
    from experts_service.search_bridge import text_relevance

    return text_relevance


def _text_evidence(item: DecisionItem, domain_names: list[str], qualified_ids: list[int], pool_size: int,
                   relevance: Relevance | None) -> tuple[dict, dict]:
    """Text relevance of the qualified experts, and a note on how it was obtained.

    A broken index must not stop a recommendation: the run goes on without
    text relevance and the record says so.
    """
    query_text = "\n".join(part for part in (item.title, item.description) if part)
    note = {"query": query_text, "keywords": list(item.keywords), "domains": domain_names, "available": True}
    if not qualified_ids:
        return {}, note
    try:
        function = relevance or _default_relevance()
        # The limit applies before the candidate filter: ask for the whole pool so no qualified hit is cut.
        hits = function(query_text, keywords=list(item.keywords), domains=domain_names, candidate_ids=qualified_ids,
                        limit=pool_size)
    except Exception:  # noqa: BLE001 - recorded in the run's inputs; ranking continues without text
        log.exception("text relevance unavailable for item %s", item.id)
        note["available"] = False
        return {}, note
    evidence = {
        expert_id: matcher.TextEvidence(float(hit.score), tuple(hit.matched_terms), hit.highlights)
        for expert_id, hit in hits.items()
    }
    return evidence, note


def _rules(request: PanelRequest, policy, domain_names: Mapping[int, str]) -> matcher.Rules:
    required = tuple(d.id for d in request.required_domains)
    return matcher.Rules(
        seats=request.seats,
        max_per_employer=policy.max_experts_per_employer,
        max_same_system_share=policy.fraction("max_same_system_share"),
        required_domains=required,
        min_senior=request.min_senior_members,
        domain_names={d: domain_names[d] for d in required},
    )


def _member(profile: matcher.Profile, targets) -> matcher.Member:
    return matcher.member_of(profile, targets)


def _candidate_record(position: int, ranked: matcher.Ranked, member: matcher.Member,
                      names: Mapping[int, str]) -> dict:
    p = ranked.profile
    return {
        "rank": position,
        "expert_id": p.expert_id,
        "name": p.name,
        "employer": {"id": p.employer_id, "name": p.employer_name, "root_id": p.employer_root_id},
        "tier": {"name": p.tier_name, "rank": p.tier_rank, "senior": p.senior},
        "primary_domain": names.get(p.primary_domain_id, ""),
        "secondary_domains": [names[d] for d in sorted(p.secondary_domain_ids) if d in names],
        "representative": p.representative,
        "same_system_government": p.same_system_government,
        "score": ranked.score,
        "parts": ranked.parts,
        "text": None if ranked.text is None else {
            "score": ranked.parts["text"], "matched_terms": list(ranked.text.matched_terms),
            "highlights": dict(ranked.text.highlights),
        },
        "domain_overlap": ranked.overlap,
        "workload": {"year": p.engagements_in_year, "lookback": p.engagements_in_lookback,
                     "same_department": p.same_department_in_lookback},
        "facts": member.as_record(),
    }


def _inputs(request: PanelRequest, data: facts.MatchData, policy, rules: matcher.Rules, text_note: dict,
            method: SelectionMethod) -> dict:
    item = request.item
    return {
        "method": method.value,
        "item": {
            "id": item.id, "title": item.title, "description": item.description, "category": item.category.value,
            "domain_ids": [d.id for d in item.domains], "keywords": list(item.keywords),
            "organisation_id": item.organisation_id, "stakeholder_ids": [o.id for o in item.stakeholders],
            "confidential": item.confidential,
        },
        "request": {
            "id": request.id, "mode": request.mode.value, "seats": request.seats,
            "min_senior_members": request.min_senior_members,
            "required_domain_ids": [d.id for d in request.required_domains],
            "consultation_date": request.consultation_date.isoformat(),
            "institution_id": request.institution_id,
            "avoid": [{"expert_id": e.expert_id, "reason": e.reason} for e in request.avoid_entries],
            "selection_method": request.selection_method.value,
        },
        "department": {"id": data.department_id, "root_id": data.department_root_id,
                       "system": data.department_system},
        "conflict_organisation_ids": data.conflict_organisation_ids,
        "windows": {"cooling_since": data.filter_context.cooling_since.isoformat(),
                    "rotation_since": data.lookback_since.isoformat(),
                    "year": data.consultation_date.year},
        "policy": {key: policy.as_dict()[key] for key in (
            "meeting_min_seats", "meeting_seats_must_be_odd", "written_min_seats", "commissioned_min_reviewers",
            "yearly_engagement_cap", "employment_cooling_years", "avoid_list_max", "max_experts_per_employer",
            "max_same_system_share", "min_senior_tier_members", "draw_pool_multiplier", "rotation_lookback_months",
        )},
        "weights": matcher.weights(),
        "rules": rules.as_record(),
        "targets": [{"domain_id": t.domain_id, "name": t.name, "required": t.required, "matches": sorted(t.matches)}
                    for t in data.rank_context.targets],
        "text_relevance": text_note,
        "alternates_limit": ALTERNATES_LIMIT,
        "matcher_version": matcher.MATCHER_VERSION,
    }


def _existing_draw(request: PanelRequest) -> Recommendation | None:
    return next((r for r in request.recommendations if r.kind is RecommendationKind.RANDOM_DRAW), None)


def run_recommendation(actor, request: PanelRequest, method: str, *, relevance: Relevance | None = None
                       ) -> Recommendation:
    """One matcher run for a panel request, stored as an immutable record."""
    authorize(actor, "recommendation.run", request)
    if request.status not in (PanelRequestStatus.SUBMITTED, PanelRequestStatus.RECOMMENDED):
        raise Conflict(f"申请状态为“{request.status.label}”，不能再产生人选", fields={"method": ["申请已确认或结束"]})
    chosen = SelectionMethod(method)
    if chosen is not request.selection_method:
        raise ValidationFailed(fields={"method": [f"该申请要求以“{request.selection_method.label}”方式产生专家"]})
    if chosen is SelectionMethod.RANDOM_DRAW and _existing_draw(request) is not None:
        # Re-drawing until a liked panel comes up is what the commitment guards against.
        raise Conflict("该申请已随机抽取，不能重复抽取；成员变动请使用替换", fields={"method": ["已抽取"]})
    policy = current_policy()
    data = facts.gather(request, policy)
    # matcher.apply_filters and matcher.rank over data.profiles, on the pool's columns (the same results).
    outcome = columns.apply_filters(data.request_profiles, data.filter_context)
    # Text relevance first: the search side reads committed data with its own session.
    evidence, text_note = _text_evidence(request.item, [t.name for t in data.rank_context.targets],
                                         outcome.qualified_ids, data.pool_size, relevance)
    # Both made as read: only the head of the order (panel, alternates, stored candidates) is built.
    ranked = columns.rank(outcome, evidence, data.rank_context)
    names = data.rank_context.domain_names
    rules = _rules(request, policy, names)
    members = ranked.members()
    inputs = _inputs(request, data, policy, rules, text_note, chosen)
    if chosen is SelectionMethod.RECOMMEND:
        record = _recommend(actor, request, policy, inputs, ranked, members, rules, outcome, names)
    else:
        record = _draw(actor, request, policy, inputs, ranked, members, rules, outcome, names)
    request.status = PanelRequestStatus.RECOMMENDED
    db.session.flush()
    return record


def _head_naming(members, ids: list[int]) -> int:
    """How many of the ranked members, from the top, it takes to include every one of `ids`."""
    missing = set(ids)
    count = 0
    for member in members:
        if not missing:
            break
        count += 1
        missing.discard(member.expert_id)
    if missing:
        raise KeyError(min(missing))
    return count


def _stored_candidates(ranked, members, names, needed: int) -> list[dict]:
    """The head of the ranking: at least STORED_CANDIDATES, and every candidate the result names."""
    count = max(STORED_CANDIDATES, needed)
    return [_candidate_record(position, r, m, names)
            for position, (r, m) in enumerate(zip(ranked[:count], members[:count]), start=1)]


def _recommend(actor, request, policy, inputs, ranked, members, rules, outcome, names) -> Recommendation:
    composition = matcher.compose(members, rules, alternates_limit=ALTERNATES_LIMIT)
    result = composition.as_record()
    named = [*composition.panel, *(a["expert_id"] for a in composition.alternates)]
    needed = _head_naming(members, named)
    record = Recommendation(
        panel_request=request, kind=RecommendationKind.RECOMMEND, created_by_id=getattr(actor, "id", None),
        policy_version=policy.version, algorithm_version=matcher.MATCHER_VERSION, inputs=inputs,
        candidates=_stored_candidates(ranked, members, names, needed), filtered=outcome.as_record(), result=result,
    )
    db.session.add(record)
    db.session.flush()
    audit.record(actor, "recommendation.create", "recommendation", record.id, panel_request_id=request.id,
                 kind=record.kind.value, panel=composition.panel, compliant=composition.compliant,
                 failures=[f.code for f in composition.failures], policy_version=policy.version)
    return record


def _draw(actor, request, policy, inputs, ranked, members, rules, outcome, names) -> Recommendation:
    size = draw_module.pool_size(request.seats, policy.draw_pool_multiplier)
    if len(ranked) < size:
        # DOMAIN.md: the pool is at least multiplier x seats. A smaller pool
        # would make the "random" panel nearly fixed, so the draw is refused.
        raise ValidationFailed(
            f"合格候选人 {len(ranked)} 名，不足随机抽取所需的 {policy.draw_pool_multiplier} × {request.seats} = "
            f"{size} 名；请改用推荐方式或调整申请",
            fields={"method": [f"合格候选人不足 {size} 名"], "rules": ["draw_pool"]},
        )
    pool = draw_module.pool_from_ranking([m.expert_id for m in members[:size]], size)
    seed = draw_module.new_seed()
    inputs = {**inputs, "draw": {"pool_size": size, "qualified": len(ranked),
                                 "multiplier": policy.draw_pool_multiplier, "algorithm": draw_module.DRAW_ALGORITHM}}
    # Step 1, commit: the seed's hash and the frozen pool are stored and audited before the draw runs.
    record = Recommendation(
        panel_request=request, kind=RecommendationKind.RANDOM_DRAW, created_by_id=getattr(actor, "id", None),
        policy_version=policy.version, algorithm_version=draw_module.DRAW_ALGORITHM, inputs=inputs,
        candidates=_stored_candidates(ranked, members, names, size), filtered=outcome.as_record(), result=None,
        seed_hash=draw_module.commitment(seed), pool=pool,
    )
    db.session.add(record)
    db.session.flush()
    audit.record(actor, "recommendation.draw_committed", "recommendation", record.id, panel_request_id=request.id,
                 seed_hash=record.seed_hash, pool=pool, algorithm=draw_module.DRAW_ALGORITHM,
                 policy_version=policy.version)
    # Step 2, draw and reveal.
    facts_by_id = {m.expert_id: m for m in members[:size]}
    result = draw_module.draw(seed, pool, facts_by_id, rules, alternates_limit=ALTERNATES_LIMIT)
    record.seed = seed
    record.result = result
    record.revealed_at = now()
    db.session.flush()
    audit.record(actor, "recommendation.draw_revealed", "recommendation", record.id, seed=seed,
                 panel=result["panel"], compliant=result["compliant"],
                 failures=[f["code"] for f in result["failures"]])
    return record


def get_recommendation(actor, recommendation_id: int, permission: str = "recommendation.read") -> Recommendation:
    record = db.session.get(Recommendation, recommendation_id)
    if record is None:
        authorize(actor, permission)
        raise NotFound("推荐记录不存在")
    authorize(actor, permission, record)
    return record


def lineage_root(record: Recommendation) -> Recommendation:
    while record.parent is not None:
        record = record.parent
    return record


def _candidate_order(record: Recommendation) -> list[int]:
    """The order alternates come from: the draw order of a draw, else the ranking."""
    root = lineage_root(record)
    if root.kind is RecommendationKind.RANDOM_DRAW:
        return list(root.result["draw_order"])
    return [c["expert_id"] for c in record.candidates]


class RuleViolation(ValidationFailed):
    """A proposed panel breaks a rule; `fields.rules` lists the rule codes."""


def replace_member(actor, record: Recommendation, data: dict[str, Any]) -> Recommendation:
    """A new record with one member replaced; every hard filter and composition rule is re-checked on current data."""
    authorize(actor, "recommendation.replace", record)
    if record.panel_request.status is not PanelRequestStatus.RECOMMENDED:
        # After confirmation the panel changes only through its invitations (a decline pulls the next alternate).
        raise Conflict(f"申请状态为“{record.panel_request.status.label}”，专家组不能再直接调整",
                       fields={"remove_expert_id": ["专家组已确认"]})
    return make_replacement(actor, record, data)


def make_replacement(actor, record: Recommendation, data: dict[str, Any]) -> Recommendation:
    """replace_member without the permission and state checks: also what a declined invitation uses.

    `actor` is who the record and its audit entry name (None: the system, as for an expert's decline).
    """
    if record.result is None:
        raise ValidationFailed("抽取尚未完成，不能调整")
    if not record.result.get("compliant"):
        raise ValidationFailed("该记录的专家组不符合规则，请重新生成推荐后再调整")
    remove_id = data["remove_expert_id"]
    panel = list(record.result["panel"])
    if remove_id not in panel:
        raise ValidationFailed(fields={"remove_expert_id": ["该专家不在专家组中"]})
    request = record.panel_request
    policy = current_policy()
    excluded = [*record.result.get("excluded", []), remove_id]
    stored = {c["expert_id"]: c for c in record.candidates}
    rules = matcher.Rules.from_record(record.inputs["rules"])
    order = [i for i in _candidate_order(record) if i in stored]
    is_draw = lineage_root(record).kind is RecommendationKind.RANDOM_DRAW
    position = panel.index(remove_id)

    # Current data: anything may have changed since the record was made.
    data_now = facts.gather(request, policy)
    current = data_now.request_profiles
    targets = data_now.rank_context.targets

    def proposed_with(candidate_id: int) -> list[int]:
        return panel[:position] + [candidate_id] + panel[position + 1:]

    def problems(candidate_id: int) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for expert_id in proposed_with(candidate_id):
            profile = current.get(expert_id)
            if profile is None:
                found.append(("not_active", f"专家 {expert_id} 不存在"))
                continue
            for reason in matcher.filter_reasons(profile, data_now.filter_context):
                found.append((reason, f"{profile.name}：{matcher.FILTER_LABELS[reason]}"))
        members = [_member(current[i], targets) for i in proposed_with(candidate_id) if i in current]
        found += [(f.code, f.message) for f in matcher.replacement_problems(members, rules)]
        return found

    # The members who stay must still qualify, or no replacement of this one can make the panel sound.
    staying = [i for i in panel if i != remove_id]
    stale = [(reason, f"{current[i].name}：{matcher.FILTER_LABELS[reason]}") for i in staying if i in current
             for reason in matcher.filter_reasons(current[i], data_now.filter_context)]
    stale += [("not_active", f"专家 {i} 不存在") for i in staying if i not in current]
    if stale:
        raise RuleViolation(
            "专家组中其他成员已不再符合条件，请重新生成推荐：" + "；".join(message for _, message in stale),
            fields={"remove_expert_id": [message for _, message in stale],
                    "rules": list(dict.fromkeys(code for code, _ in stale))},
        )
    skip = set(panel) | set(excluded)
    candidates_in_order = [i for i in order if i not in skip]
    # The same choice as the record's alternates: the first that keeps every hard rule,
    # preferring one that keeps 代表性 where the panel has it.
    wants_representative = any(current[i].representative for i in panel if i in current)
    first_suitable = fallback = None
    for candidate_id in candidates_in_order:
        if problems(candidate_id):
            continue
        fallback = fallback or candidate_id
        if not wants_representative or any(current[i].representative for i in proposed_with(candidate_id)):
            first_suitable = candidate_id
            break
    first_suitable = first_suitable or fallback
    add_id = data.get("add_expert_id")
    if add_id is None:
        if first_suitable is None:
            raise RuleViolation("没有能替换该专家且满足全部规则的候选人",
                                fields={"add_expert_id": ["没有合适的递补人选"], "rules": ["no_alternate"]})
        add_id = first_suitable
    elif add_id in panel:
        raise ValidationFailed(fields={"add_expert_id": ["该专家已在专家组中"]})
    elif add_id not in stored or add_id in excluded:
        raise ValidationFailed(fields={"add_expert_id": ["只能从本次记录的合格候选人中选择"]})
    elif is_draw and add_id not in order:
        raise ValidationFailed(fields={"add_expert_id": ["随机抽取的专家组只能从候选池中递补"]})
    else:
        found = problems(add_id)
        if found:
            raise RuleViolation(
                "调整后的专家组不符合规则：" + "；".join(message for _, message in found),
                fields={"add_expert_id": [message for _, message in found],
                        "rules": list(dict.fromkeys(code for code, _ in found))},
            )
        if is_draw and add_id != first_suitable:
            # A drawn panel is topped up strictly in draw order, or the draw would mean nothing.
            due = stored[first_suitable]["name"] if first_suitable in stored else first_suitable
            raise RuleViolation(
                "随机抽取的专家组须按抽取顺序递补",
                fields={"add_expert_id": [f"按抽取顺序应由 {due} 递补"], "rules": ["draw_order"]},
            )
    new_panel = proposed_with(add_id)
    new_members = [_member(current[i], targets) for i in new_panel]
    order_members = [_member(current[i], targets) for i in order if i in current]
    report = matcher.check_panel(new_members, rules)
    alternates, first = matcher.alternates_for(new_panel, order_members, rules, exclude=excluded,
                                               limit=record.inputs.get("alternates_limit", ALTERNATES_LIMIT))
    result = {
        "panel": new_panel,
        "compliant": True,
        "report": [{"code": code, "label": matcher.RULE_LABELS[code], **report[code]} for code in matcher.RULE_LABELS],
        "failures": [],
        "alternates": alternates,
        "first_replacement": {str(k): v for k, v in first.items()},
        "search_truncated": False,
        "excluded": excluded,
        "replacement": {"removed": remove_id, "added": add_id, "reason": data["reason"]},
    }
    if is_draw:
        result["draw_order"] = lineage_root(record).result["draw_order"]
    inputs = {**record.inputs, "replacement": {"parent_id": record.id, "removed": remove_id, "added": add_id,
                                               "reason": data["reason"], "checked_policy_version": policy.version,
                                               "checked_on": today().isoformat()}}
    new_record = Recommendation(
        panel_request=request, parent_id=record.id, kind=RecommendationKind.REPLACEMENT,
        created_by_id=getattr(actor, "id", None), policy_version=policy.version,
        algorithm_version=record.algorithm_version, inputs=inputs, candidates=record.candidates,
        filtered=record.filtered, result=result,
    )
    db.session.add(new_record)
    db.session.flush()
    audit.record(actor, "recommendation.replace", "recommendation", new_record.id, parent_id=record.id,
                 removed=remove_id, added=add_id, reason=data["reason"], panel=new_panel)
    return new_record


# ---------------------------------------------------------------- views of a record


def panel_members(record: Recommendation) -> list[dict]:
    """The panel's candidate entries, in panel order."""
    if record.result is None:
        return []
    by_id = {c["expert_id"]: c for c in record.candidates}
    return [by_id[i] for i in record.result["panel"] if i in by_id]


def department_view(record: Recommendation) -> dict:
    """What the requesting department may see of a record: the panel, not the ranked pool."""
    members = [{
        "expert_id": c["expert_id"], "name": c["name"], "employer": c["employer"]["name"],
        "tier": c["tier"]["name"], "primary_domain": c["primary_domain"],
    } for c in panel_members(record)]
    result = record.result or {}
    return {
        "id": record.id, "panel_request_id": record.panel_request_id, "parent_id": record.parent_id,
        "kind": record.kind.value, "created_at": record.created_at, "policy_version": record.policy_version,
        "compliant": record.compliant, "panel": members, "report": result.get("report", []),
        "failures": result.get("failures", []), "filtered_counts": record.filtered.get("counts", {}),
        "seed_hash": record.seed_hash, "seed": record.seed,
    }


def sees_whole_record(actor) -> bool:
    return actor.role is not Role.DEPARTMENT


# ---------------------------------------------------------------- draws: public proof and verification


def _audit_summary(action: str, record_id: int) -> dict | None:
    entry = db.session.execute(
        sa.select(audit.AuditEntry).where(audit.AuditEntry.action == action,
                                          audit.AuditEntry.object_type == "recommendation",
                                          audit.AuditEntry.object_id == str(record_id))
        .order_by(audit.AuditEntry.seq).limit(1)
    ).scalar()
    return entry.summary if entry else None


def verify_draw(record: Recommendation) -> draw_module.Verification:
    """Re-run a stored draw from the record (and compare with the audit log); anyone may ask."""
    if record.kind is not RecommendationKind.RANDOM_DRAW:
        raise ValidationFailed("该记录不是随机抽取")
    return draw_module.verify(
        seed=record.seed, seed_hash=record.seed_hash, pool=record.pool, algorithm=record.algorithm_version,
        candidates=record.candidates, inputs=record.inputs, result=record.result,
        audit_commitment=_audit_summary("recommendation.draw_committed", record.id),
        audit_reveal=_audit_summary("recommendation.draw_revealed", record.id),
    )


def public_draw(record_id: int) -> Recommendation:
    """A draw's proof for the public page (no sign-in); only draws are public."""
    record = db.session.get(Recommendation, record_id)
    if record is None or record.kind is not RecommendationKind.RANDOM_DRAW:
        raise NotFound("抽取记录不存在")
    return record


def can_run(actor, request: PanelRequest) -> bool:
    return can(actor, "recommendation.run", request)


def already_drawn(request: PanelRequest) -> bool:
    return _existing_draw(request) is not None


def children_of(record: Recommendation) -> list[Recommendation]:
    """Records made by adjusting this one."""
    return list(db.session.execute(
        sa.select(Recommendation).where(Recommendation.parent_id == record.id).order_by(Recommendation.id)
    ).scalars())


def find_expert_to_avoid(name: str, employer_name: str) -> tuple[int | None, str | None]:
    """An expert named on a department's avoid list: by name, and employer when names repeat.

    Departments do not browse the pool, so they name the expert instead of picking one.
    """
    if not name:
        return None, "请填写专家姓名"
    statement = sa.select(Expert.id).where(Expert.name == name)
    if employer_name:
        organisation = find_organisation_by_name(employer_name)
        if organisation is None:
            return None, f"未登记的单位：{employer_name}"
        statement = statement.where(Expert.employer_id.in_(organisation_subtree_ids(organisation.id)))
    ids = list(db.session.execute(statement.limit(2)).scalars())
    if not ids:
        return None, f"专家库中没有{'该单位的' if employer_name else ''}专家“{name}”"
    if len(ids) > 1:
        return None, f"有多位名为“{name}”的专家，请同时填写其工作单位"
    return ids[0], None
