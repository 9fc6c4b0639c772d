"""Property-based tests of whole matcher runs on the real database.

Each example builds a random pool (employers in an organisation tree,
statuses, tiers, domains, unavailability, engagements, former employers,
declared conflicts, relatives, an avoid list) and a random request inside
one transaction, runs the operation, checks the result against the spec it
was generated from (not against the matcher's own checker), and rolls back.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from experts_service.core.auth import Role
from experts_service.core.clock import today
from experts_service.core.errors import ValidationFailed
from experts_service.experts.models import ConflictDeclaration, ConflictKind, Expert, ExpertStatus, UnavailablePeriod
from experts_service.experts.operations import create_expert
from experts_service.experts.schemas import ExpertInputSchema
from experts_service.extensions import db
from experts_service.panels import operations
from experts_service.panels.models import EmploymentRecord, Engagement
from experts_service.reference.operations import create_organisation
from tests.panels.helpers import no_text, unique_id_number

DB_EXAMPLES = settings(max_examples=40, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DRAW_EXAMPLES = settings(DB_EXAMPLES, max_examples=30)

# Organisations of every example: key -> (root key, government system or None)
ORGS = {
    "dept": ("dept", "发展改革"), "dept_unit": ("dept", None), "stake": ("stake", None), "stake_unit": ("stake", None),
    "uni_a": ("uni_a", None), "uni_a_college": ("uni_a", None), "uni_b": ("uni_b", None), "uni_c": ("uni_c", None),
    "bureau_1": ("bureau_1", "发展改革"), "bureau_2": ("bureau_2", "发展改革"), "finance": ("finance", "财政"),
    "uni_d": ("uni_d", None), "uni_e": ("uni_e", None), "firm": ("firm", None),
}
CONFLICT_ROOTS = {"dept", "stake"}
# "own": an employer of that expert's own (no one else works there). Mostly
# employers outside the conflict, so compliant and impossible requests both come up often.
OWN = "own"
EMPLOYERS = ([OWN] * 10 + [key for key in ORGS if ORGS[key][0] not in CONFLICT_ROOTS]
             + ["dept_unit", "stake", "stake_unit"])
# second-level domain -> its first level
DOMAINS = {"城乡规划": "城乡建设", "城市治理": "社会管理", "财政预算": "财税金融", "公共卫生": "医疗卫生"}
REQUIRABLE = ("城乡规划", "财政预算", "城乡建设", "医疗卫生")
CAP = 10  # the policy default
NAME_SUFFIXES = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"


@dataclass
class ExpertSpec:
    employer: str
    status: str
    tier: str
    political: str
    npc: bool
    primary: str
    secondary: tuple[str, ...]
    unavailable: bool
    engagements: int
    former: tuple[str, bool] | None  # (organisation, still within the cooling-off window)
    declares_conflict_with: str | None

    @property
    def senior(self) -> bool:
        return self.tier in ("chief", "core")

    @property
    def representative(self) -> bool:
        return self.political != "cpc" or self.npc

    def root(self, position: int) -> str:
        return f"own{position}" if self.employer == OWN else ORGS[self.employer][0]

    @property
    def same_system(self) -> bool:
        return self.employer != OWN and ORGS[self.employer][1] == "发展改革"

    def covers(self, required: str) -> bool:
        return any(d == required or DOMAINS[d] == required for d in (self.primary, *self.secondary))

    def qualifies(self, avoided: bool) -> bool:
        return (self.status == "active" and not self.unavailable and self.engagements < CAP
                and (self.employer == OWN or ORGS[self.employer][0] not in CONFLICT_ROOTS)
                and not (self.former and self.former[1] and ORGS[self.former[0]][0] in CONFLICT_ROOTS)
                and not (self.declares_conflict_with and ORGS[self.declares_conflict_with][0] in CONFLICT_ROOTS)
                and not avoided)


@dataclass
class RequestSpec:
    experts: list[ExpertSpec]
    seats: int
    min_senior: int
    required: tuple[str, ...]
    avoid: tuple[int, ...]  # positions in experts
    relatives: tuple[tuple[int, int], ...]
    method: str
    ids: list[int] = field(default_factory=list)


expert_specs = st.builds(
    ExpertSpec,
    employer=st.sampled_from(EMPLOYERS),
    status=st.sampled_from(["active"] * 18 + ["suspended", "exited"]),
    tier=st.sampled_from(["chief", "core", "general", "general"]),
    political=st.sampled_from(["cpc", "cpc", "cpc", "masses", "jiusan"]),
    npc=st.booleans(),
    primary=st.sampled_from(sorted(DOMAINS)),
    secondary=st.lists(st.sampled_from(sorted(DOMAINS)), max_size=1, unique=True).map(tuple),
    # Each filter drops a few experts: enough to be exercised, few enough that panels still form.
    unavailable=st.sampled_from([False] * 19 + [True]),
    engagements=st.sampled_from([0] * 15 + [2, 9, 10]),
    former=st.sampled_from([None] * 14 + [("dept", True), ("dept", False), ("stake_unit", True), ("uni_b", True)]),
    declares_conflict_with=st.sampled_from([None] * 14 + ["stake", "dept_unit", "uni_c"]),
)


@st.composite
def request_specs(draw, method: str):
    # A draw needs 3 x seats qualified candidates: give it pools large enough to happen often.
    smallest, largest = (16, 20) if method == "random_draw" else (5, 14)
    experts = draw(st.lists(expert_specs, min_size=smallest, max_size=largest))
    seats = draw(st.sampled_from([3, 3, 4, 5] if method == "recommend" else [3, 3, 3, 4]))
    n = len(experts)
    positions = st.integers(0, max(0, n - 1))
    return RequestSpec(
        experts=experts,
        seats=seats,
        min_senior=draw(st.integers(0, 2)),
        required=tuple(draw(st.lists(st.sampled_from(REQUIRABLE), max_size=2, unique=True))),
        avoid=tuple(draw(st.lists(positions, max_size=3, unique=True))) if n else (),
        relatives=tuple(draw(st.lists(st.tuples(positions, positions), max_size=2))) if n else (),
        method=method,
    )


def build(spec: RequestSpec, factory, office):
    """Everything in the current transaction; flushed, never committed."""
    day = today() + timedelta(days=20)
    orgs = {}
    for key, (root, system) in ORGS.items():
        parent = orgs[root].id if root != key else None
        orgs[key] = create_organisation(None, {
            "name": f"单位{key}", "type": "government" if system else "university", "system": system,
            "parent_id": parent, "aliases": []})
    for n, e in enumerate(spec.experts):
        if e.employer == OWN:
            orgs[f"own{n}"] = create_organisation(None, {"name": f"独立单位{n}", "type": "enterprise", "aliases": []})
        employer = orgs[f"own{n}" if e.employer == OWN else e.employer]
        data = ExpertInputSchema().load(factory.expert_payload(
            name=f"专家{NAME_SUFFIXES[n]}", id_number=unique_id_number(), employer_id=employer.id,
            primary_domain_id=factory.domain_id(e.primary),
            secondary_domain_ids=[factory.domain_id(d) for d in e.secondary],
            tier_id=factory.tier_id(e.tier), political_affiliation=e.political, is_npc_deputy=e.npc))
        expert = create_expert(None, data)
        expert.status = ExpertStatus(e.status)
        spec.ids.append(expert.id)
        if e.unavailable:
            db.session.add(UnavailablePeriod(expert_id=expert.id, starts_on=day - timedelta(days=1), ends_on=day))
        for _ in range(e.engagements):
            db.session.add(Engagement(expert_id=expert.id, organisation_id=orgs["finance"].id,
                                      engaged_on=day.replace(month=1, day=1)))
        if e.former:
            ended = day - timedelta(days=365) if e.former[1] else day.replace(year=day.year - 5)
            db.session.add(EmploymentRecord(expert_id=expert.id, organisation_id=orgs[e.former[0]].id,
                                            started_on=ended.replace(year=ended.year - 5), ended_on=ended))
        if e.declares_conflict_with:
            db.session.add(ConflictDeclaration(
                expert_id=expert.id, kind=ConflictKind.ORGANISATION,
                organisation_id=orgs[e.declares_conflict_with].id, relationship_note="x"))
    for a, b in spec.relatives:
        if a != b:
            db.session.add(ConflictDeclaration(expert_id=spec.ids[a], kind=ConflictKind.PERSON, person_name="亲属",
                                               related_expert_id=spec.ids[b], relationship_note="亲属"))
    db.session.flush()
    item = operations.create_item(office, {
        "title": "随机事项", "category": "livelihood", "organisation_id": orgs["dept"].id,
        "stakeholder_ids": [orgs["stake"].id], "domain_ids": [], "keywords": []})
    request = operations.create_panel_request(office, item, {
        "mode": "written", "seats": spec.seats, "min_senior_members": spec.min_senior, "deadline": day,
        "required_domain_ids": [factory.domain_id(d) for d in spec.required], "selection_method": spec.method,
        "avoid": [{"expert_id": spec.ids[p], "reason": "回避"} for p in spec.avoid]})
    return request


def breaks(panel: list[int], spec: RequestSpec) -> set[str]:
    """Composition rules a panel breaks, read from the spec."""
    position = {expert_id: n for n, expert_id in enumerate(spec.ids)}
    members = [spec.experts[position[i]] for i in panel]
    broken = set()
    if len(panel) != spec.seats:
        broken.add("seats")
    roots = [spec.experts[position[i]].root(position[i]) for i in panel]
    if len(set(roots)) != len(roots):
        broken.add("employer")
    if 3 * sum(1 for m in members if m.same_system) > spec.seats:
        broken.add("same_system")
    if not all(any(m.covers(d) for m in members) for d in spec.required):
        broken.add("domains")
    if sum(m.senior for m in members) < spec.min_senior:
        broken.add("senior")
    pairs = {(spec.ids[a], spec.ids[b]) for a, b in spec.relatives if a != b}
    if any((x, y) in pairs or (y, x) in pairs for x, y in itertools.combinations(panel, 2)):
        broken.add("relatives")
    return broken


def any_compliant(candidates: list[int], spec: RequestSpec) -> bool:
    return any(not breaks(list(combo), spec) for combo in itertools.combinations(candidates, spec.seats))


@pytest.fixture
def office(factory):
    return factory.user(Role.TALENT_OFFICE)


@DB_EXAMPLES
@given(spec=request_specs("recommend"))
def test_no_recommended_panel_breaks_a_hard_filter_or_a_composition_rule(factory, office, spec):
    check_run(factory, office, spec)


@DRAW_EXAMPLES
@given(spec=request_specs("random_draw"))
def test_no_drawn_panel_breaks_a_hard_filter_or_a_composition_rule(factory, office, spec):
    check_run(factory, office, spec)


def check_run(factory, office, spec: RequestSpec) -> None:
    try:
        request = build(spec, factory, office)
        qualified = [i for n, i in enumerate(spec.ids) if spec.experts[n].qualifies(n in spec.avoid)]
        try:
            record = operations.run_recommendation(office, request, spec.method, relevance=no_text)
        except ValidationFailed as error:
            # Only a draw is refused, and only for a pool smaller than 3 x seats.
            assert spec.method == "random_draw" and error.fields["rules"] == ["draw_pool"]
            assert len(qualified) < 3 * spec.seats
            event("draw refused: pool too small")
            return
        # The filters: exactly the qualified experts are candidates.
        assert sorted(c["expert_id"] for c in record.candidates) == sorted(qualified)
        assert record.filtered["qualified"] == len(qualified)
        panel = record.result["panel"]
        assert set(panel) <= set(qualified), "a filtered expert on the panel"
        pool = record.pool if spec.method == "random_draw" else qualified
        # --hypothesis-show-statistics shows how often each outcome came up.
        outcome = "compliant" if record.result["compliant"] else "impossible " + ",".join(
            sorted(f["code"] for f in record.result["failures"]))
        event(f"{spec.method}: {outcome}")
        event(f"candidates: {len(qualified)}")
        if record.result["compliant"]:
            assert breaks(panel, spec) == set()
        else:
            named = {f["code"] for f in record.result["failures"]}
            assert named and named == breaks(panel, spec)
            assert "relatives" not in named
            # Really impossible: no panel of the (pool's) candidates meets every rule.
            assert not any_compliant(pool, spec)
        if spec.method == "random_draw":
            assert len(record.pool) == 3 * spec.seats and set(panel) <= set(record.pool)
            assert operations.verify_draw(record).ok
    finally:
        db.session.rollback()
    # Nothing of the example survives it.
    assert db.session.query(Expert).count() == 0
