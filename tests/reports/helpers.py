"""A small, hand-countable data set for the statistics pages, and reading their tables back.

The clock is pinned to 2025-06-15 (noon in Shanghai); every expected number in the tests is counted
by hand from the records built here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from experts_service.assessment.models import AssessmentCycle, AssessmentResult, CycleStatus, Grade, Outcome
from experts_service.consultation.models import (
    AdoptionDecision,
    AdoptionFeedback,
    EngagementRating,
    Opinion,
    OpinionConclusion,
)
from experts_service.experts.models import ExpertStatus
from experts_service.extensions import db
from experts_service.integrity.models import (
    AppealStatus,
    EventKind,
    EventSource,
    IntegrityAppeal,
    IntegrityEvent,
    Severity,
)
from experts_service.lifecycle.models import RenewalReview, RenewalStatus
from experts_service.panels.models import Engagement, EngagementStatus, PanelRequestStatus
from experts_service.reports.excel import FIRST_DATA_ROW, HEADER_ROW
from tests.conftest import valid_id_number
from tests.page_helpers import Element
from tests.panels.helpers import World

PINNED = datetime(2025, 6, 15, 4, 0, tzinfo=timezone.utc)
TODAY = date(2025, 6, 15)


def pin_clock(app) -> None:
    app.config["CLOCK_NOW"] = PINNED


@dataclass
class Pool:
    experts: dict  # name -> Expert
    departments: dict  # short name -> Organisation
    office: object


def _expert(factory, name, *, birth, primary, tier, employer_type, political, npc=False, cppcc=False, n=0):
    employer = factory.organisation(f"{name}的工作单位", type_=employer_type)
    return factory.expert(name=name, id_number=valid_id_number(birth=birth, sequence=300 + n),
                          employer_id=employer.id, primary_domain_id=factory.domain_id(primary),
                          secondary_domain_ids=[], tier_id=factory.tier_id(tier), political_affiliation=political,
                          is_npc_deputy=npc, is_cppcc_member=cppcc)


def build_pool(factory) -> Pool:
    """Four experts in the pool (one suspended) and one who exited; engagements, ratings, renewals, appeals."""
    experts = {
        "甲一": _expert(factory, "甲一", birth=date(1990, 1, 1), primary="城乡规划", tier="chief",
                      employer_type="university", political="cpc", npc=True, n=1),
        "乙二": _expert(factory, "乙二", birth=date(1975, 6, 16), primary="城乡规划", tier="core",
                      employer_type="government", political="rcck", cppcc=True, n=2),
        "丙三": _expert(factory, "丙三", birth=date(1975, 6, 15), primary="社会救助", tier="general",
                      employer_type="enterprise", political="non_party", npc=True, cppcc=True, n=3),
        "丁四": _expert(factory, "丁四", birth=date(1962, 3, 1), primary="城市治理", tier="general",
                      employer_type="university", political="masses", n=4),
        "戊五": _expert(factory, "戊五", birth=date(1966, 1, 1), primary="财政预算", tier="core",
                      employer_type="research_institute", political="cpc", n=5),
    }
    experts["丙三"].status = ExpertStatus.SUSPENDED
    experts["戊五"].status = ExpertStatus.EXITED
    db.session.commit()
    development = World(factory, department_name="市发展和改革委员会")
    finance = World(factory, department=factory.organisation("市财政局", type_="government", system="财政"))
    request = development.request(development.item())
    request.status = PanelRequestStatus.CONFIRMED
    db.session.commit()

    def engage(name, day, status=EngagementStatus.COMPLETED, request_id=None, organisation=development.department):
        engagement = Engagement(expert_id=experts[name].id, organisation_id=organisation.id, engaged_on=day,
                                status=status, panel_request_id=request_id)
        db.session.add(engagement)
        db.session.flush()
        return engagement

    rated = engage("甲一", date(2025, 1, 10), request_id=request.id)
    db.session.add(EngagementRating(engagement_id=rated.id, quality=25, professionalism=20, punctuality=15,
                                    discipline=15, confidentiality=15, total=90, due_on=date(2025, 1, 14)))
    engage("甲一", date(2025, 3, 5), EngagementStatus.ENGAGED, request_id=request.id)  # not rated: overdue
    engage("乙二", date(2025, 3, 20), organisation=finance.department)
    engage("丁四", date(2025, 3, 21), EngagementStatus.CANCELLED)
    engage("甲一", date(2024, 12, 30))
    engage("乙二", date(2025, 7, 1), EngagementStatus.ENGAGED)
    engage("戊五", date(2025, 2, 2))

    def renewal(name, status):
        expert = experts[name]
        db.session.add(RenewalReview(expert_id=expert.id, appointment_id=expert.current_appointment.id,
                                     opened_on=date(2025, 5, 1), due_on=date(2025, 6, 30), status=status,
                                     decided_at=None if status is RenewalStatus.OPEN else PINNED))

    renewal("甲一", RenewalStatus.OPEN)
    renewal("乙二", RenewalStatus.RENEWED)

    def appeal(name, status):
        event = IntegrityEvent(expert_id=experts[name].id, kind=EventKind.LATE, severity=Severity.MINOR, points=5,
                               source=EventSource.MANUAL, occurred_on=date(2025, 6, 1), description="迟到 20 分钟",
                               appeal_until=date(2025, 6, 16))
        db.session.add(event)
        db.session.flush()
        db.session.add(IntegrityAppeal(event_id=event.id, reason="交通管制", status=status,
                                       decided_at=None if status is AppealStatus.PENDING else PINNED,
                                       decision_reason=None if status is AppealStatus.PENDING else "理由不成立"))

    appeal("乙二", AppealStatus.PENDING)
    appeal("丁四", AppealStatus.REJECTED)
    db.session.commit()
    return Pool(experts, {"development": development.department, "finance": finance.department}, development.office)


def build_assessment(factory, pool: Pool, year: int = 2024, status: CycleStatus = CycleStatus.OPEN):
    """A cycle with five results, and the opinions of the year with their adoption feedback."""
    cycle = AssessmentCycle(year=year, status=status, policy_version=1,
                            approved_at=PINNED if status is CycleStatus.APPROVED else None)
    db.session.add(cycle)
    db.session.flush()
    e = pool.experts

    def result(name, domain, tier, engagements, rating, computed, grade, *, adjusted=None, veto=False):
        db.session.add(AssessmentResult(
            cycle_id=cycle.id, expert_id=e[name].id, domain_id=factory.domain_id(domain),
            tier_id=factory.tier_id(tier) if tier else None, engagements=engagements,
            ratings_count=engagements if rating is not None else 0,
            rating_score=None if rating is None else Decimal(rating), integrity_score=Decimal("100"),
            self_score=Decimal("90"), computed_total=Decimal(computed),
            adjusted_total=None if adjusted is None else Decimal(adjusted),
            adjust_reason=None if adjusted is None else "复核更正评价记录", veto=veto, grade=grade,
            outcome=Outcome.NONE))

    result("甲一", "城乡规划", "chief", 0, None, "80.00", Grade.PASS)
    result("乙二", "城乡规划", "core", 3, "92.50", "91.00", Grade.EXCELLENT)
    result("丙三", "社会救助", "general", 10, "70.00", "65.00", Grade.PASS, adjusted="76.00")
    result("丁四", "城市治理", "general", 1, "50.00", "55.00", Grade.FAIL, veto=True)
    result("戊五", "财政预算", None, 0, None, "62.00", Grade.BASIC)
    db.session.flush()
    _opinions(factory, pool)
    db.session.commit()
    return cycle


def _opinions(factory, pool: Pool) -> None:
    requests = {}
    for key, department in pool.departments.items():
        world = World(factory, department=department)
        requests[key] = world.request(world.item(title=f"{department.name}的决策事项"))
    shanghai_new_year = datetime(2023, 12, 31, 16, 30, tzinfo=timezone.utc)  # 2024-01-01 00:30 in Shanghai
    after_year = datetime(2024, 12, 31, 16, 30, tzinfo=timezone.utc)  # 2025-01-01 00:30 in Shanghai
    mid_year = datetime(2024, 5, 10, 2, 0, tzinfo=timezone.utc)
    rows = (
        ("development", "甲一", mid_year, AdoptionDecision.ADOPTED),
        ("development", "乙二", mid_year, AdoptionDecision.PARTLY_ADOPTED),
        ("development", "丙三", mid_year, None),
        ("finance", "丁四", mid_year + timedelta(days=30), AdoptionDecision.NOT_ADOPTED),
        ("finance", "戊五", shanghai_new_year, AdoptionDecision.ADOPTED),
        ("finance", "甲一", after_year, AdoptionDecision.ADOPTED),  # the next year
        ("development", "丁四", None, None),  # a draft: not submitted
    )
    for key, name, submitted_at, decision in rows:
        request = requests[key]
        engagement = Engagement(expert_id=pool.experts[name].id, panel_request_id=request.id,
                                organisation_id=pool.departments[key].id, engaged_on=date(2024, 5, 9),
                                status=EngagementStatus.COMPLETED)
        db.session.add(engagement)
        db.session.flush()
        opinion = Opinion(engagement_id=engagement.id, panel_request_id=request.id, expert_id=pool.experts[name].id,
                          necessity="必要", legality="合法", feasibility="可行", risks="可控", suggestions="无",
                          conclusion=OpinionConclusion.AGREE, dissent="", submitted_at=submitted_at,
                          content_hash="0" * 64 if submitted_at else None)
        db.session.add(opinion)
        db.session.flush()
        if decision is not None:
            db.session.add(AdoptionFeedback(opinion_id=opinion.id, decision=decision,
                                            reason="" if decision is AdoptionDecision.ADOPTED else "另有安排"))
    db.session.flush()


# ---------------------------------------------------------------- reading pages and workbooks


def table_rows(page: Element, key: str) -> list[list[str]]:
    """The body and total rows of a section's table, as the page shows them (no header)."""
    table = page.by_id(f"table-{key}")
    assert table is not None, f"no table for section {key}"
    rows = []
    for part in ("tbody", "tfoot"):
        element = table.find(part)
        if element is None:
            continue
        for tr in element.find_all("tr"):
            if "report-empty" in tr.classes:
                continue
            rows.append([cell.clean_text for cell in tr.iter() if cell.tag in ("th", "td")])
    return rows


def table_headers(page: Element, key: str) -> list[str]:
    return [th.clean_text for th in page.by_id(f"table-{key}").find("thead").find_all("th")]


def as_shown(cell) -> str:
    """A workbook cell written the way the page writes the same number."""
    value = cell.value
    if value is None:
        return "—"
    if cell.number_format == "0.0%":
        return f"{(Decimal(str(value)) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"
    if cell.number_format == "0.00":
        return f"{Decimal(str(value)).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"
    return str(value)


def sheet_rows(sheet, width: int, count: int) -> list[list[str]]:
    return [[as_shown(sheet.cell(row=row, column=column)) for column in range(1, width + 1)]
            for row in range(FIRST_DATA_ROW, FIRST_DATA_ROW + count)]


def sheet_headers(sheet, width: int) -> list[str]:
    return [sheet.cell(row=HEADER_ROW, column=column).value for column in range(1, width + 1)]


def assert_workbook_matches_page(page: Element, workbook) -> int:
    """Every section of the page has a sheet (named by data-sheet) holding the same headers and cells."""
    sections = page.find_all("section", cls="report-section")
    assert sections
    for section in sections:
        key = section.get("data-section")
        sheet = workbook[section.get("data-sheet")]
        headers = table_headers(page, key)
        rows = table_rows(page, key)
        assert sheet_headers(sheet, len(headers)) == headers, key
        assert sheet_rows(sheet, len(headers), len(rows)) == rows, key
        # Nothing more below the table than its note or its empty message.
        after = sheet.cell(row=FIRST_DATA_ROW + len(rows), column=2).value
        assert after is None, (key, after)
    return len(sections)
