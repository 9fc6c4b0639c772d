"""The talent office's dashboard (工作台): who is in the pool, how busy it was this year, what waits.

`dashboard(actor)` gathers every figure once; the page and the Excel workbook both read its result.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from experts_service.consultation.engagements import overdue_ratings
from experts_service.core.auth import authorize
from experts_service.core.clock import today
from experts_service.experts.models import Expert, ExpertStatus, PoliticalAffiliation
from experts_service.extensions import db
from experts_service.integrity.models import AppealStatus, IntegrityAppeal
from experts_service.lifecycle.models import RenewalReview, RenewalStatus
from experts_service.panels.models import COUNTING_ENGAGEMENT_STATUSES, Engagement
from experts_service.reference.models import Organisation, OrganisationType
from experts_service.reports.groups import NO_TIER, domain_groups, tier_groups
from experts_service.reports.tables import TOTAL_LABEL, Chart, Section, Series, Table, column_sums, share

# The pool a dashboard describes: appointed experts, suspended ones included (they come back).
POOL_STATUSES = (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED)
# Age bands of the pool by their lower bounds in years: a way of reading the pool, not a rule.
AGE_BAND_STARTS = (40, 50, 60)
MONTHS = range(1, 13)
# Outside the CPC: these two by name; every other affiliation is one of the eight 民主党派.
NON_PARTY_GROUPS = {PoliticalAffiliation.NON_PARTY: "无党派人士", PoliticalAffiliation.MASSES: "群众"}
DEMOCRATIC_PARTIES = "民主党派成员"


@dataclass(frozen=True)
class Figures:
    """The headline numbers (the cards at the top of the page)."""

    pool: int
    suspended: int
    engagements: int
    engaged_experts: int
    overdue_ratings: int
    due_renewals: int
    open_appeals: int


@dataclass(frozen=True)
class Dashboard:
    day: date
    year: int
    figures: Figures
    sections: tuple[Section, ...]

    @property
    def title(self) -> str:
        return "专家库工作台"

    @property
    def filename(self) -> str:
        return f"专家库工作台_{self.day.isoformat()}.xlsx"

    @property
    def ascii_filename(self) -> str:
        return f"experts-dashboard-{self.day.isoformat()}.xlsx"

    def about(self) -> list[tuple[str, str]]:
        return [("统计日期", self.day.isoformat()), ("专家范围", "在库专家（含暂停资格）"),
                ("论证年度", f"{self.year} 年（按论证日期）")]


def dashboard(actor, day: date | None = None) -> Dashboard:
    authorize(actor, "dashboard.read")
    day = day or today()
    experts = db.session.execute(
        sa.select(Expert.id, Expert.primary_domain_id, Expert.tier_id, Expert.birth_date, Expert.status,
                  Expert.political_affiliation, Expert.is_npc_deputy, Expert.is_cppcc_member,
                  Organisation.type.label("employer_type"))
        .join(Organisation, Organisation.id == Expert.employer_id)
        .where(Expert.status.in_(POOL_STATUSES))
    ).all()
    engagements = _engagements_by_month(day)
    engaged_experts = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Engagement.expert_id))).where(*_this_year(day))) or 0
    figures = Figures(
        pool=len(experts),
        suspended=sum(row.status is ExpertStatus.SUSPENDED for row in experts),
        engagements=sum(engagements.values()),
        engaged_experts=engaged_experts,
        overdue_ratings=len(overdue_ratings(day=day)),
        due_renewals=_count(RenewalReview, RenewalReview.status == RenewalStatus.OPEN),
        open_appeals=_count(IntegrityAppeal, IntegrityAppeal.status == AppealStatus.PENDING),
    )
    sections = (
        _summary(figures, day),
        _domain_tier(experts),
        _ages(experts, day),
        _employer_types(experts),
        _political(experts),
        _representation(experts),
        _engagement_months(engagements, day),
        _pending(figures),
    )
    return Dashboard(day, day.year, figures, sections)


def _count(model, *conditions) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions)) or 0


def _this_year(day: date) -> tuple:
    """The calendar year's engagements, those already fixed for later months included."""
    return (Engagement.status.in_(COUNTING_ENGAGEMENT_STATUSES), Engagement.engaged_on >= date(day.year, 1, 1),
            Engagement.engaged_on < date(day.year + 1, 1, 1))


def _engagements_by_month(day: date) -> Counter:
    month = sa.extract("month", Engagement.engaged_on)
    rows = db.session.execute(sa.select(month, sa.func.count()).where(*_this_year(day)).group_by(month)).all()
    return Counter({int(m): n for m, n in rows})


def _summary(figures: Figures, day: date) -> Section:
    rows = (
        ("在库专家（人，含暂停资格）", figures.pool),
        ("其中暂停资格（人）", figures.suspended),
        (f"{day.year} 年参与论证（人次）", figures.engagements),
        (f"{day.year} 年参与论证的专家（人）", figures.engaged_experts),
    )
    return Section("summary", "概况", Table(("指标", "数值"), rows))


def _domain_tier(experts) -> Section:
    domains, root_of = domain_groups()
    tiers = tier_groups()
    counts = Counter((root_of.get(row.primary_domain_id), row.tier_id) for row in experts)
    has_untiered = any(tier_id is None for _, tier_id in counts)
    tier_ids = [tier.id for tier in tiers] + ([None] if has_untiered else [])
    headers = ("领域", *(tier.name for tier in tiers), *((NO_TIER,) if has_untiered else ()), TOTAL_LABEL)
    rows = []
    for domain in domains:
        cells = [counts[(domain.id, tier_id)] for tier_id in tier_ids]
        rows.append((domain.name, *cells, sum(cells)))
    totals = column_sums(rows, 1, len(headers))
    chart = Chart("pool-domain-tier", "各领域在库专家（按层次）", "hbar", tuple(row[0] for row in rows),
                  tuple(Series(name, tuple(row[1 + i] for row in rows))
                        for i, name in enumerate(headers[1:-1])), unit="人")
    return Section("domain_tier", "领域与层次", Table(headers, tuple(rows), ((TOTAL_LABEL, *totals),)), (chart,),
                   note="按主领域所属的一级领域统计。")


def _age_bands() -> list[tuple[str, int | None, int | None]]:
    starts = AGE_BAND_STARTS
    bands = [(f"{starts[0]} 岁以下", None, starts[0])]
    bands += [(f"{low}–{high - 1} 岁", low, high) for low, high in zip(starts, starts[1:])]
    bands.append((f"{starts[-1]} 岁及以上", starts[-1], None))
    return bands


def _age(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _ages(experts, day: date) -> Section:
    ages = [_age(row.birth_date, day) for row in experts]
    rows = []
    for label, low, high in _age_bands():
        n = sum((low is None or age >= low) and (high is None or age < high) for age in ages)
        rows.append((label, n, share(n, len(ages))))
    return _counted("ages", "年龄结构", "年龄段", rows, len(ages), "bar", "在库专家年龄结构",
                    note=f"按统计日期（{day.isoformat()}）的周岁计算。")


def _employer_types(experts) -> Section:
    counts = Counter(row.employer_type for row in experts)
    rows = [(kind.label, counts[kind], share(counts[kind], len(experts))) for kind in OrganisationType]
    return _counted("employer_types", "工作单位类型", "单位类型", rows, len(experts), "hbar", "在库专家工作单位类型",
                    note="按专家现工作单位的单位类型统计。")


def _political(experts) -> Section:
    counts = Counter(row.political_affiliation for row in experts)
    total = len(experts)
    cpc = counts[PoliticalAffiliation.CPC]
    others = {label: counts[kind] for kind, label in NON_PARTY_GROUPS.items()}
    parties = total - cpc - sum(others.values())
    rows = [("中共党员", cpc, share(cpc, total)), (DEMOCRATIC_PARTIES, parties, share(parties, total))]
    rows += [(label, n, share(n, total)) for label, n in others.items()]
    non_cpc = total - cpc
    chart = Chart("political", "在库专家政治面貌", "bar", tuple(row[0] for row in rows),
                  (Series("人数", tuple(row[1] for row in rows)),), unit="人")
    table = Table(("政治面貌", "人数", "占比"), tuple(rows),
                  (("非中共人士小计", non_cpc, share(non_cpc, total)), (TOTAL_LABEL, total, share(total, total))))
    return Section("political", "政治面貌", table, (chart,), note="非中共人士含民主党派成员、无党派人士和群众。")


def _representation(experts) -> Section:
    total = len(experts)
    npc = sum(row.is_npc_deputy for row in experts)
    cppcc = sum(row.is_cppcc_member for row in experts)
    either = sum(row.is_npc_deputy or row.is_cppcc_member for row in experts)
    rows = (("人大代表", npc, share(npc, total)), ("政协委员", cppcc, share(cppcc, total)),
            ("人大代表或政协委员", either, share(either, total)))
    chart = Chart("representation", "人大代表、政协委员", "hbar", tuple(row[0] for row in rows),
                  (Series("人数", tuple(row[1] for row in rows)),), unit="人")
    return Section("representation", "人大代表与政协委员", Table(("类别", "人数", "占在库专家比例"), rows), (chart,),
                   note="同时是人大代表和政协委员的专家在第三行只计一次。")


def _engagement_months(engagements: Counter, day: date) -> Section:
    rows = tuple((f"{month}月", engagements[month]) for month in MONTHS)
    chart = Chart("engagements-month", f"{day.year} 年各月参与论证人次", "bar", tuple(row[0] for row in rows),
                  (Series("人次", tuple(row[1] for row in rows)),), unit="人次")
    table = Table(("月份", "人次"), rows, ((TOTAL_LABEL, sum(engagements.values())),))
    return Section("engagements", f"{day.year} 年参与论证", table, (chart,), note="已确定参加（含本年稍后的论证）或已完成的论证，按论证日期计；已取消的不计。")


def _pending(figures: Figures) -> Section:
    rows = (("逾期未评价的论证参与", figures.overdue_ratings), ("待续聘评审", figures.due_renewals),
            ("待处理的诚信申诉", figures.open_appeals))
    chart = Chart("pending", "待办工作量", "hbar", tuple(row[0] for row in rows),
                  (Series("数量", tuple(row[1] for row in rows), tone="accent"),), unit="项")
    return Section("pending", "待办工作量", Table(("事项", "数量"), rows), (chart,),
                   note="逾期未评价：评价时限已过、承办部门尚未评价；续聘评审：已开启、尚未作出决定。")


def _counted(key: str, title: str, label: str, rows: list, total: int, kind: str, chart_title: str,
             note: str = "") -> Section:
    """A distribution: label, count, share, and the total underneath."""
    chart = Chart(key.replace("_", "-"), chart_title, kind, tuple(row[0] for row in rows),
                  (Series("人数", tuple(row[1] for row in rows)),), unit="人")
    table = Table((label, "人数", "占比"), tuple(rows), ((TOTAL_LABEL, total, share(total, total)),))
    return Section(key, title, table, (chart,), note=note)
