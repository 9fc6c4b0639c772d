"""The panel report (论证报告) of one panel request: the item, the arrangements, the panel and how each
member came onto it, attendance, every submitted opinion in full with its signature, the dissenting views
each on its own, the department's adoption feedback and a count of the conclusions.

`build` gathers plain data (frozen dataclasses) once; the page, the Word file and the JSON API render the
same data, so the three never disagree. Dissent (不同意 / 修改后同意, or a 保留意见 written with any
conclusion) is listed entry by entry, never merged into a common view (DOMAIN.md step 7).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa

from experts_service.core import audit
from experts_service.core.auth import authorize
from experts_service.core.clock import now
from experts_service.core.templating import localtime
from experts_service.consultation.engagements import attendance_of, signature_holds, submitted_opinions
from experts_service.consultation.models import (
    OPINION_SECTIONS,
    AdoptionDecision,
    Attendance,
    Invitation,
    Opinion,
    OpinionConclusion,
)
from experts_service.extensions import db
from experts_service.panels.models import (
    ConsultationMode,
    Engagement,
    EngagementStatus,
    PanelRequest,
    RecommendationKind,
)
from experts_service.panels.operations import get_panel_request, lineage_root

# How a member came onto the panel.
ORIGIN_LABELS = {"recommended": "推荐", "drawn": "随机抽取", "replacement": "递补", "adjusted": "调整成员"}
# Conclusions that dissent from plain agreement: each is listed on its own.
DISSENTING = (OpinionConclusion.AGREE_WITH_CHANGES, OpinionConclusion.DISAGREE)
DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class ItemPart:
    id: int
    title: str
    department: str
    category: str
    category_label: str
    description: str
    confidential: bool


@dataclass(frozen=True)
class RequestPart:
    id: int
    status: str
    status_label: str
    mode: str
    mode_label: str
    meeting_date: date | None
    meeting_time: time | None
    meeting_end_time: time | None
    meeting_place: str | None
    deadline: date | None
    seats: int
    min_senior_members: int
    institution: str | None
    selection_method: str
    selection_method_label: str
    confirmed_at: datetime | None
    materials_sent_at: datetime | None

    @property
    def is_meeting(self) -> bool:
        return self.mode == ConsultationMode.MEETING.value

    @property
    def schedule(self) -> str:
        if not self.is_meeting:
            return f"书面意见截止 {self.deadline:%Y-%m-%d}"
        start = f" {self.meeting_time:%H:%M}" if self.meeting_time else ""
        end = f"–{self.meeting_end_time:%H:%M}" if self.meeting_end_time else ""
        return f"{self.meeting_date:%Y-%m-%d}{start}{end}，{self.meeting_place}"


@dataclass(frozen=True)
class Member:
    expert_id: int
    engagement_id: int
    name: str
    employer: str
    tier: str
    domain: str
    origin: str | None
    origin_label: str
    attendance: str | None
    attendance_label: str
    minutes_late: int | None
    attendance_note: str
    opinion_id: int | None


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    text: str


@dataclass(frozen=True)
class Adoption:
    decision: str
    decision_label: str
    reason: str
    published_at: datetime | None


@dataclass(frozen=True)
class OpinionEntry:
    id: int
    number: int
    expert_id: int
    expert_name: str
    sections: tuple[Section, ...]
    conclusion: str
    conclusion_label: str
    dissent: str
    submitted_at: datetime
    content_hash: str
    signature_holds: bool
    adoption: Adoption | None

    @property
    def dissenting(self) -> bool:
        return self.conclusion in {c.value for c in DISSENTING} or bool(self.dissent.strip())


@dataclass(frozen=True)
class Dissent:
    opinion_id: int
    number: int
    expert_name: str
    conclusion: str
    conclusion_label: str
    text: str
    content_hash: str


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class Summary:
    members: int
    submitted: int
    missing: tuple[str, ...]
    conclusions: tuple[Count, ...]
    adoption: tuple[Count, ...]
    signatures_hold: bool


@dataclass(frozen=True)
class PanelReport:
    item: ItemPart
    request: RequestPart
    members: tuple[Member, ...]
    opinions: tuple[OpinionEntry, ...]
    dissents: tuple[Dissent, ...]
    summary: Summary
    generated_at: datetime

    @property
    def request_id(self) -> int:
        return self.request.id

    @property
    def filename(self) -> str:
        return f"论证报告-{self.request.id}.docx"


# ---------------------------------------------------------------- gathering


def get_report(actor, request_id: int) -> PanelReport:
    """The report of one request: the department (own), the talent office and auditors."""
    return build(actor, get_panel_request(actor, request_id, "report.read"))


def build(actor, panel_request: PanelRequest) -> PanelReport:
    authorize(actor, "report.read", panel_request)
    item = panel_request.item
    opinions = tuple(_opinion_entry(number, opinion) for number, opinion in
                     enumerate(submitted_opinions(panel_request), start=1))
    by_expert = {entry.expert_id: entry for entry in opinions}
    members = tuple(_member(panel_request, engagement, invitation, by_expert.get(engagement.expert_id))
                    for engagement, invitation in _engagements(panel_request))
    dissents = tuple(Dissent(entry.id, entry.number, entry.expert_name, entry.conclusion, entry.conclusion_label,
                             entry.dissent, entry.content_hash) for entry in opinions if entry.dissenting)
    return PanelReport(
        item=ItemPart(item.id, item.title, item.organisation.name, item.category.value, item.category.label,
                      item.description, item.confidential),
        request=_request_part(panel_request),
        members=members, opinions=opinions, dissents=dissents,
        summary=_summary(members, opinions), generated_at=now(),
    )


def _request_part(r: PanelRequest) -> RequestPart:
    return RequestPart(
        id=r.id, status=r.status.value, status_label=r.status.label, mode=r.mode.value, mode_label=r.mode.label,
        meeting_date=r.meeting_date, meeting_time=r.meeting_time, meeting_end_time=r.meeting_end_time,
        meeting_place=r.meeting_place, deadline=r.deadline, seats=r.seats, min_senior_members=r.min_senior_members,
        institution=r.institution.name if r.institution else None, selection_method=r.selection_method.value,
        selection_method_label=r.selection_method.label, confirmed_at=r.confirmed_at,
        materials_sent_at=r.materials_sent_at,
    )


def _engagements(panel_request: PanelRequest) -> list[tuple[Engagement, Invitation | None]]:
    """Who served: the request's engagements (cancelled ones never happened), with the invitation behind each."""
    rows = db.session.execute(
        sa.select(Engagement, Invitation).outerjoin(Invitation, Invitation.engagement_id == Engagement.id)
        .where(Engagement.panel_request_id == panel_request.id, Engagement.status != EngagementStatus.CANCELLED)
        .order_by(Engagement.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def _origin(invitation: Invitation | None) -> str | None:
    """recommended / drawn (on the first record's panel), replacement (for a decline or silence), adjusted
    (put on by the talent office's change before confirmation)."""
    if invitation is None:
        return None
    if invitation.replaces_id is not None:
        return "replacement"
    root = lineage_root(invitation.recommendation)
    if invitation.expert_id in (root.result or {}).get("panel", []):
        return "drawn" if root.kind is RecommendationKind.RANDOM_DRAW else "recommended"
    return "adjusted"


def _attendance(panel_request: PanelRequest, engagement: Engagement) -> tuple[str | None, str, int | None, str]:
    if panel_request.mode is not ConsultationMode.MEETING:
        return None, "不适用（书面）", None, ""
    record = attendance_of(engagement)
    if record is None:
        return None, "未记录", None, ""
    label = f"迟到 {record.minutes_late} 分钟" if record.attendance is Attendance.LATE else record.attendance.label
    return record.attendance.value, label, record.minutes_late, record.note or ""


def _member(panel_request: PanelRequest, engagement: Engagement, invitation: Invitation | None,
            opinion: OpinionEntry | None) -> Member:
    from experts_service.experts.models import Expert

    expert = db.session.get(Expert, engagement.expert_id)
    origin = _origin(invitation)
    attendance, label, minutes, note = _attendance(panel_request, engagement)
    return Member(
        expert_id=expert.id, engagement_id=engagement.id, name=expert.name, employer=expert.employer.name,
        tier=expert.tier.name if expert.tier else "—", domain=expert.primary_domain.full_name,
        origin=origin, origin_label=ORIGIN_LABELS.get(origin, "—"), attendance=attendance, attendance_label=label,
        minutes_late=minutes, attendance_note=note, opinion_id=opinion.id if opinion else None,
    )


def _opinion_entry(number: int, opinion: Opinion) -> OpinionEntry:
    feedback = opinion.adoption
    adoption = None if feedback is None else Adoption(feedback.decision.value, feedback.decision.label,
                                                      feedback.reason, feedback.published_at)
    return OpinionEntry(
        id=opinion.id, number=number, expert_id=opinion.expert_id, expert_name=opinion.expert.name,
        sections=tuple(Section(key, label, getattr(opinion, key)) for key, label in OPINION_SECTIONS),
        conclusion=opinion.conclusion.value, conclusion_label=opinion.conclusion.label, dissent=opinion.dissent,
        submitted_at=opinion.submitted_at, content_hash=opinion.content_hash,
        signature_holds=signature_holds(opinion), adoption=adoption,
    )


def _summary(members: tuple[Member, ...], opinions: tuple[OpinionEntry, ...]) -> Summary:
    submitted_by = {entry.expert_id for entry in opinions}
    return Summary(
        members=len(members), submitted=len(opinions),
        missing=tuple(m.name for m in members if m.expert_id not in submitted_by and m.attendance != "absent"),
        conclusions=tuple(Count(c.value, c.label, sum(1 for o in opinions if o.conclusion == c.value))
                          for c in OpinionConclusion),
        adoption=tuple(Count(d.value, d.label, sum(1 for o in opinions if o.adoption is not None
                                                   and o.adoption.decision == d.value))
                       for d in AdoptionDecision),
        signatures_hold=all(o.signature_holds for o in opinions),
    )


def record_download(actor, report: PanelReport, format_: str = "docx") -> None:
    """Who took the report away, and exactly which signed opinions it held (committed by the caller)."""
    audit.record(actor, "report.download", "panel_request", report.request.id, format=format_,
                 opinions=[{"id": o.id, "content_hash": o.content_hash} for o in report.opinions])


# ---------------------------------------------------------------- the Word file


def docx_bytes(report: PanelReport) -> bytes:
    """The report as a Word document (.docx): what the page shows, in the same order."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    document = Document()
    _chinese_fonts(document)
    properties = document.core_properties
    properties.title = f"{report.item.title} 专家论证报告"
    properties.author = "决策咨询论证专家库"
    properties.created = report.generated_at

    if report.item.confidential:
        marker = document.add_paragraph()
        marker.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        marker.add_run("涉密事项 · 注意保密").bold = True
    title = document.add_heading(f"{report.item.title}\n专家论证报告", level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    lead = document.add_paragraph(f"论证申请编号：{report.request.id}    生成时间：{localtime(report.generated_at)}")
    lead.alignment = WD_ALIGN_PARAGRAPH.CENTER

    document.add_heading("一、论证事项", level=1)
    _pairs(document, [("事项名称", report.item.title), ("承办部门", report.item.department),
                      ("事项类别", report.item.category_label), ("是否涉密", "是" if report.item.confidential else "否"),
                      ("事项说明", report.item.description or "—")])

    document.add_heading("二、论证安排", level=1)
    arrangement = [("论证形式", report.request.mode_label),
                   ("时间地点" if report.request.is_meeting else "意见截止", report.request.schedule),
                   ("专家人数", f"{report.request.seats} 人（首席或核心专家至少 {report.request.min_senior_members} 人）"),
                   ("产生方式", report.request.selection_method_label)]
    if report.request.institution:
        arrangement.append(("受托机构", report.request.institution))
    _pairs(document, arrangement)

    document.add_heading("三、专家组", level=1)
    if report.members:
        _table(document, ("序号", "姓名", "工作单位", "层次", "领域", "产生方式"),
               [(str(n), m.name, m.employer, m.tier, m.domain, m.origin_label)
                for n, m in enumerate(report.members, start=1)])
    else:
        document.add_paragraph("尚无专家参加本次论证。")

    document.add_heading("四、出席情况", level=1)
    if not report.request.is_meeting:
        document.add_paragraph(f"本次为{report.request.mode_label}，不记录出席情况。")
    elif report.members:
        _table(document, ("姓名", "出席情况", "备注"),
               [(m.name, m.attendance_label, m.attendance_note or "") for m in report.members])
    else:
        document.add_paragraph("—")

    document.add_heading("五、结论汇总", level=1)
    summary = report.summary
    document.add_paragraph(
        f"参加专家 {summary.members} 人，提交书面意见 {summary.submitted} 份："
        + "，".join(f"{c.label} {c.count} 份" for c in summary.conclusions) + "。"
        + (f"未提交意见：{'、'.join(summary.missing)}。" if summary.missing else ""))

    document.add_heading("六、专家意见", level=1)
    if not report.opinions:
        document.add_paragraph("尚无已提交的书面意见。")
    for entry in report.opinions:
        document.add_heading(f"意见 {entry.number}：{entry.expert_name}（{entry.conclusion_label}）", level=2)
        for section in entry.sections:
            _labelled(document, section.label, section.text)
        _labelled(document, "结论", entry.conclusion_label)
        if entry.dissent:
            _labelled(document, "保留意见", entry.dissent)
        _labelled(document, "提交时间", localtime(entry.submitted_at, "%Y-%m-%d %H:%M:%S"))
        hash_line = _labelled(document, "内容哈希（SHA-256）", entry.content_hash)
        hash_line.runs[-1].font.size = Pt(9)
        _labelled(document, "签名核验", "内容与签名一致" if entry.signature_holds else "内容与签名不一致，请联系审计")
        _labelled(document, "采纳情况", _adoption_text(entry.adoption))

    document.add_heading("七、不同意见（逐条单列）", level=1)
    if not report.dissents:
        document.add_paragraph("无不同意见。")
    for dissent in report.dissents:
        paragraph = document.add_paragraph(style="List Number")
        paragraph.add_run(f"{dissent.expert_name}（{dissent.conclusion_label}，见意见 {dissent.number}）：").bold = True
        paragraph.add_run(dissent.text or "未另附保留意见，理由见其书面意见。")

    document.add_heading("八、采纳情况", level=1)
    if report.opinions:
        _table(document, ("意见", "专家", "结论", "采纳情况", "理由"),
               [(str(o.number), o.expert_name, o.conclusion_label,
                 o.adoption.decision_label if o.adoption else "尚未反馈", o.adoption.reason if o.adoption else "")
                for o in report.opinions])
    else:
        document.add_paragraph("—")

    closing = document.add_paragraph(
        f"本报告由决策咨询论证专家库于 {localtime(report.generated_at)} 生成；各意见的内容哈希可在系统中核验。")
    closing.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    document.sections[0].footer.paragraphs[0].text = (
        f"论证申请 {report.request.id} · {report.item.title} · 生成于 {localtime(report.generated_at)}")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _adoption_text(adoption: Adoption | None) -> str:
    if adoption is None:
        return "尚未反馈"
    return f"{adoption.decision_label}（{adoption.reason}）" if adoption.reason else adoption.decision_label


def _chinese_fonts(document) -> None:
    """Word picks the East Asian font from w:eastAsia; without it Chinese text falls back unpredictably."""
    from docx.oxml.ns import qn

    for name in ("Normal", "Title", "Heading 1", "Heading 2"):
        style = document.styles[name]
        style.font.name = "宋体" if name == "Normal" else "黑体"
        style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), style.font.name)


def _labelled(document, label: str, text: str):
    paragraph = document.add_paragraph()
    paragraph.add_run(f"{label}：").bold = True
    paragraph.add_run(text or "—")
    return paragraph


def _pairs(document, pairs: list[tuple[str, str]]) -> None:
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in pairs:
        cells = table.add_row().cells
        cells[0].paragraphs[0].add_run(label).bold = True
        cells[1].text = value


def _table(document, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, header in zip(table.rows[0].cells, headers):
        cell.paragraphs[0].add_run(header).bold = True
    for row in rows:
        for cell, value in zip(table.add_row().cells, row):
            cell.text = value
