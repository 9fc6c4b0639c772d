"""The annual assessment report (年度考核统计) of one year: grades, results by domain and tier, who was never
engaged, how the work was spread, and how the departments adopted the experts' opinions.

It reads what the assessment computed (AssessmentResult rows, with the domain and tier of the year as
snapshots); `assessment_report(actor, year)` returns one structure that the page and the workbook share.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, datetime, timezone

import sqlalchemy as sa

from experts_service.assessment.models import GRADE_ORDER, AssessmentCycle, AssessmentResult, CycleStatus
from experts_service.consultation.models import AdoptionDecision, AdoptionFeedback, Opinion
from experts_service.core.auth import authorize
from experts_service.core.clock import display_zone
from experts_service.core.errors import NotFound
from experts_service.experts.models import Expert
from experts_service.extensions import db
from experts_service.panels.models import DecisionItem, PanelRequest
from experts_service.policy import Policy, PolicyVersion, current_policy
from experts_service.reference.models import Domain, Organisation
from experts_service.reports.groups import NO_TIER, Group, domain_groups, tier_groups
from experts_service.reports.tables import (
    TOTAL_LABEL,
    Chart,
    Section,
    Series,
    Table,
    column_sums,
    mean,
    share,
)

NOT_APPROVED = "考核结果尚未审定，以下为试算结果"
# Workload bands by their lower bounds; the top band starts at the yearly engagement cap of the policy.
WORKLOAD_BAND_STARTS = (0, 1, 2, 3, 6)
GRADE_TONES = {"excellent": "green", "pass": "navy", "basic": "amber", "fail": "accent"}
ADOPTION_TONES = ("green", "sky", "accent", "grey")
NO_FEEDBACK = "尚未反馈"
SCORE_SCALE = 100  # totals and ratings are out of 100 points (DOMAIN.md)


@dataclass(frozen=True)
class CycleRow:
    year: int
    status: CycleStatus
    results: int
    approved_at: datetime | None


@dataclass(frozen=True)
class AssessmentReport:
    year: int
    status: CycleStatus
    results: int
    sections: tuple[Section, ...]

    @property
    def approved(self) -> bool:
        return self.status is CycleStatus.APPROVED

    @property
    def banner(self) -> str | None:
        return None if self.approved else NOT_APPROVED

    @property
    def title(self) -> str:
        return f"{self.year} 年度专家考核统计"

    @property
    def filename(self) -> str:
        return f"{self.year}年度专家考核统计.xlsx"

    @property
    def ascii_filename(self) -> str:
        return f"assessment-report-{self.year}.xlsx"

    def about(self) -> list[tuple[str, str]]:
        rows = [("考核年度", str(self.year)), ("考核状态", self.status.label), ("参加考核专家", f"{self.results} 人")]
        if self.banner:
            rows.append(("说明", self.banner))
        return rows


def list_cycles(actor) -> list[CycleRow]:
    authorize(actor, "statistics.read")
    counted = (sa.select(AssessmentResult.cycle_id, sa.func.count().label("n"))
               .group_by(AssessmentResult.cycle_id).subquery())
    rows = db.session.execute(
        sa.select(AssessmentCycle, sa.func.coalesce(counted.c.n, 0))
        .outerjoin(counted, counted.c.cycle_id == AssessmentCycle.id)
        .order_by(AssessmentCycle.year.desc())
    ).all()
    return [CycleRow(cycle.year, cycle.status, n, cycle.approved_at) for cycle, n in rows]


def assessment_report(actor, year: int) -> AssessmentReport:
    authorize(actor, "statistics.read")
    # A year the calendar cannot hold has no cycle either (and must not reach date arithmetic).
    if not MINYEAR < year < MAXYEAR:
        raise NotFound("年份无效")
    cycle = db.session.execute(sa.select(AssessmentCycle).where(AssessmentCycle.year == year)).scalar_one_or_none()
    if cycle is None:
        raise NotFound(f"{year} 年度尚未开展专家考核，没有考核统计")
    rows = db.session.execute(
        sa.select(AssessmentResult, Expert.name, Domain)
        .join(Expert, Expert.id == AssessmentResult.expert_id)
        .join(Domain, Domain.id == AssessmentResult.domain_id)
        .where(AssessmentResult.cycle_id == cycle.id)
        .order_by(Expert.name_sort_key, Expert.id)
    ).all()
    results = [row[0] for row in rows]
    domains, root_of = domain_groups()
    tiers = tier_groups()
    by_domain = _grouped(results, domains, lambda r: root_of.get(r.domain_id), "domains", "领域",
                         "按考核时专家主领域所属的一级领域统计。")
    by_tier = _grouped(results, [*tiers, Group(None, NO_TIER)], lambda r: r.tier_id, "tiers", "层次",
                       "按考核时专家所在层次统计。")
    sections = (
        _summary(cycle, results),
        _grades(results),
        by_domain,
        by_tier,
        _never_engaged(rows, {t.id: t.name for t in tiers}),
        _workload(results, _policy_of(cycle)),
        _adoption(year),
    )
    return AssessmentReport(year, cycle.status, len(results), sections)


def _policy_of(cycle: AssessmentCycle) -> Policy:
    """The rules the cycle was computed under, where recorded; the current ones otherwise."""
    row = db.session.execute(sa.select(PolicyVersion).where(PolicyVersion.version == cycle.policy_version)
                             ).scalar_one_or_none()
    return Policy(row.version, row.values) if row else current_policy()


def _summary(cycle: AssessmentCycle, results: list[AssessmentResult]) -> Section:
    engagements = [r.engagements for r in results]
    rated = [r for r in results if r.rating_score is not None]
    rows = (
        ("考核状态", cycle.status.label),
        ("参加考核专家（人）", len(results)),
        ("平均总分", mean(r.final_total for r in results)),
        ("有部门评价的专家（人）", len(rated)),
        ("部门评价平均分", mean(r.rating_score for r in rated)),
        ("一票否决（人）", sum(r.veto for r in results)),
        ("经调整总分（人）", sum(r.adjusted_total is not None for r in results)),
        ("全年未参与论证（人）", sum(n == 0 for n in engagements)),
        ("人均参与论证（次）", mean(engagements)),
        ("最多参与论证（次）", max(engagements) if engagements else None),
    )
    return Section("summary", "概况", Table(("指标", "数值"), rows),
                   note="总分为审核调整后的最终得分；部门评价平均分只计有评价的专家。")


def _grades(results: list[AssessmentResult]) -> Section:
    counts = Counter(r.grade for r in results)
    rows = tuple((grade.label, counts[grade], share(counts[grade], len(results))) for grade in GRADE_ORDER)
    chart = Chart("assessment-grades", "考核等次分布", "bar", tuple(row[0] for row in rows),
                  (Series("人数", tuple(row[1] for row in rows)),), unit="人",
                  category_tones=tuple(GRADE_TONES[grade.value] for grade in GRADE_ORDER))
    table = Table(("等次", "人数", "占比"), rows, ((TOTAL_LABEL, len(results), share(len(results), len(results))),))
    return Section("grades", "等次分布", table, (chart,), note="按最终等次统计（含一票否决）。")


def _grouped(results: list[AssessmentResult], groups: list[Group], key_of, key: str, label: str,
             note: str) -> Section:
    """Grades, mean total and mean rating per group; groups without results are left out."""
    members: dict = defaultdict(list)
    for result in results:
        members[key_of(result)].append(result)
    rows = []
    for group in groups:
        group_results = members.get(group.id)
        if group_results:
            rows.append(_result_row(group.name, group_results))
    grade_columns = tuple(grade.label for grade in GRADE_ORDER)
    headers = (label, *grade_columns, TOTAL_LABEL, "平均总分", "部门评价平均分")
    totals = ((TOTAL_LABEL, *column_sums(rows, 1, 2 + len(GRADE_ORDER)), mean(r.final_total for r in results),
               mean(r.rating_score for r in results)),) if rows else ()
    categories = tuple(row[0] for row in rows)
    charts = (
        Chart(f"assessment-{key}-grades", f"各{label}考核等次", "hbar", categories,
              tuple(Series(grade.label, tuple(row[1 + i] for row in rows), GRADE_TONES[grade.value])
                    for i, grade in enumerate(GRADE_ORDER)), unit="人"),
        Chart(f"assessment-{key}-scores", f"各{label}平均总分与部门评价平均分", "hbar", categories,
              (Series("平均总分", tuple(row[-2] for row in rows), "navy"),
               Series("部门评价平均分", tuple(row[-1] for row in rows), "teal")),
              unit="分", scale_max=SCORE_SCALE),
    )
    return Section(key, f"分{label}结果", Table(headers, tuple(rows), totals), charts, note=note)


def _result_row(name: str, results: list[AssessmentResult]) -> tuple:
    counts = Counter(r.grade for r in results)
    return (name, *(counts[grade] for grade in GRADE_ORDER), len(results), mean(r.final_total for r in results),
            mean(r.rating_score for r in results))


def _never_engaged(rows, tier_names: dict[int, str]) -> Section:
    listed = tuple(
        (name, domain.full_name, tier_names.get(result.tier_id, NO_TIER), result.final_total, result.grade.label)
        for result, name, domain in rows if result.engagements == 0)
    return Section("never_engaged", "全年未参与论证的专家", Table(("姓名", "主领域", "层次", "总分", "等次"), listed),
                   note=f"共 {len(listed)} 人。", empty="本年度每位参加考核的专家都参与过论证。")


def _workload_bands(cap: int) -> list[tuple[str, int, int | None]]:
    starts = [start for start in WORKLOAD_BAND_STARTS if start < cap] + [cap]
    bands = []
    for low, high in zip(starts, starts[1:]):
        bands.append((f"{low} 次" if high - low == 1 else f"{low}–{high - 1} 次", low, high))
    bands.append((f"{cap} 次及以上", cap, None))
    return bands


def _workload(results: list[AssessmentResult], policy: Policy) -> Section:
    rows = []
    for label, low, high in _workload_bands(policy.yearly_engagement_cap):
        n = sum(r.engagements >= low and (high is None or r.engagements < high) for r in results)
        rows.append((label, n, share(n, len(results))))
    chart = Chart("assessment-workload", "参与论证次数分布", "bar", tuple(row[0] for row in rows),
                  (Series("专家人数", tuple(row[1] for row in rows)),), unit="人")
    table = Table(("参与论证次数", "专家人数", "占比"), tuple(rows),
                  ((TOTAL_LABEL, len(results), share(len(results), len(results))),))
    return Section("workload", "工作量分布", table, (chart,),
                   note=f"最后一档为达到年度参与论证上限（{policy.yearly_engagement_cap} 次）的专家；人均与最多次数见“概况”。")


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    """The calendar year in the display zone, as UTC instants (opinions are stamped in UTC)."""
    zone = display_zone()
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(timezone.utc)
    return start, end


def _adoption(year: int) -> Section:
    start, end = _year_bounds(year)
    found = db.session.execute(
        sa.select(Organisation.id, Organisation.name, AdoptionFeedback.decision, sa.func.count())
        .select_from(Opinion)
        .join(PanelRequest, PanelRequest.id == Opinion.panel_request_id)
        .join(DecisionItem, DecisionItem.id == PanelRequest.item_id)
        .join(Organisation, Organisation.id == DecisionItem.organisation_id)
        .outerjoin(AdoptionFeedback, AdoptionFeedback.opinion_id == Opinion.id)
        .where(Opinion.submitted_at >= start, Opinion.submitted_at < end)
        .group_by(Organisation.id, Organisation.name, AdoptionFeedback.decision)
    ).all()
    names: dict[int, str] = {}
    counts: dict[int, Counter] = defaultdict(Counter)
    for org_id, org_name, decision, n in found:
        names[org_id] = org_name
        counts[org_id][decision] += n
    decisions = tuple(AdoptionDecision)
    rows = [_adoption_row(names[org_id], counts[org_id], decisions)
            for org_id in sorted(names, key=lambda org_id: (names[org_id], org_id))]
    overall = sum(counts.values(), Counter())
    totals = (_adoption_row(TOTAL_LABEL, overall, decisions),) if rows else ()
    headers = ("承办部门", "提交意见（份）", *(d.label for d in decisions), NO_FEEDBACK,
               *(f"{d.label}率" for d in decisions))
    chart = Chart("assessment-adoption", "各承办部门意见采纳情况", "hbar", tuple(row[0] for row in rows),
                  tuple(Series(name, tuple(row[2 + i] for row in rows), ADOPTION_TONES[i])
                        for i, name in enumerate((*(d.label for d in decisions), NO_FEEDBACK))), unit="份")
    return Section("adoption", "意见采纳情况", Table(headers, tuple(rows), totals), (chart,),
                   note=f"{year} 年内签署提交的书面意见，按决策事项的承办部门统计；各比率以提交意见数为分母。",
                   empty=f"{year} 年没有提交的书面意见。")


def _adoption_row(name: str, counts: Counter, decisions: tuple) -> tuple:
    submitted = sum(counts.values())
    decided = tuple(counts[d] for d in decisions)
    return (name, submitted, *decided, counts[None], *(share(n, submitted) for n in decided))
