"""Roster import and export: existing appointed experts in and out of Excel.

Each row goes through the create form's schema (RosterRowSchema extends
ExpertInputSchema) and `check_new_expert`, so a row is refused for exactly
the reasons a form submission would be; duplicates are also caught within
the file by the ID number's keyed hash. Operations flush; the caller commits.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO

import sqlalchemy as sa
from flask import current_app, request
from sqlalchemy.orm import selectinload

from experts_service.core import audit
from experts_service.core.auth import authorize
from experts_service.core.crypto import decrypt_pii, keyed_hash
from experts_service.core.errors import ValidationFailed
from experts_service.core.forms import load_or_errors, optional_int, split_list
from experts_service.core.idcard import InvalidIdNumber, parse_id_number
from experts_service.experts.models import (
    AchievementKind,
    Expert,
    PoliticalAffiliation,
    TitleLevel,
)
from experts_service.experts.operations import (
    ExpertFilters,
    check_new_expert,
    create_expert,
    filtered_experts,
)
from experts_service.experts.roster_excel import (
    COLUMNS_BY_KEY,
    NO,
    YES,
    RosterRow,
    open_roster_stream,
    read_roster,
    template_workbook,
    write_roster,
)
from experts_service.experts.schemas import RosterRowSchema
from experts_service.extensions import db
from experts_service.reference.models import Domain, Tier
from experts_service.reference.operations import find_organisation_by_name

# Achievements come in one column per kind; several per cell.
ACHIEVEMENT_COLUMNS = {"publications": AchievementKind.PUBLICATION, "projects": AchievementKind.PROJECT,
                       "awards": AchievementKind.AWARD}
ITEM_SEPARATORS = re.compile(r"[;；\n\r]+")
FLAG_COLUMNS = ("is_npc_deputy", "is_cppcc_member", "is_academician")
FLAG_VALUES = {YES: True, NO: False, "": False, "Y": True, "N": False, "TRUE": True, "FALSE": False,
               "1": True, "0": False}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")
# Schema and operation field -> the column a user sees it in.
FIELD_COLUMNS = {"employer_id": "employer", "primary_domain_id": "primary_domain",
                 "secondary_domain_ids": "secondary_domains", "tier_id": "tier", "achievements": "publications"}
# The service numbers certificates itself in this form (operations._next_certificate_no).
GENERATED_CERTIFICATE_PREFIX = "JCZX-"
GENERATED_CERTIFICATE = re.compile(r"JCZX-\d{4}-\d{5}")
# Room for the multipart envelope and the other form fields around an uploaded file.
UPLOAD_ENVELOPE_BYTES = 64 * 1024
# Rejected row numbers kept in the audit entry (numbers only, never contents).
AUDIT_MAX_ROW_NUMBERS = 500


@dataclass(frozen=True)
class RowProblem:
    row: int
    name: str
    reasons: tuple[str, ...]


@dataclass
class ImportReport:
    total: int
    dry_run: bool
    strict: bool
    problems: list[RowProblem] = field(default_factory=list)
    imported: int = 0

    @property
    def valid(self) -> int:
        return self.total - len(self.problems)

    @property
    def refused(self) -> bool:
        """Strict mode with any bad row: nothing is (or would be) imported."""
        return self.strict and bool(self.problems)

    @property
    def importable(self) -> int:
        return 0 if self.refused else self.valid


def read_upload(stream: BinaryIO) -> list[RosterRow]:
    """Rows of an uploaded or opened file, within the configured limits; RosterFileError otherwise."""
    config = current_app.config
    data = open_roster_stream(stream, config["ROSTER_MAX_BYTES"])
    return read_roster(data, max_rows=config["ROSTER_MAX_ROWS"], max_unpacked_bytes=config["ROSTER_MAX_UNPACKED_BYTES"])


def allow_roster_upload() -> None:
    """Raise this request's body limit from MAX_CONTENT_LENGTH to the roster's, before the body is parsed."""
    request.max_content_length = current_app.config["ROSTER_MAX_BYTES"] + UPLOAD_ENVELOPE_BYTES


class _Lookups:
    """Names in the file resolved to ids, once per import.

    It also holds the loaded rows: the session's identity map is weak, and
    without a reference each row's `session.get` of its employer, domains and
    tier would query (and autoflush) again.
    """

    def __init__(self):
        domains = db.session.execute(sa.select(Domain).where(Domain.is_active)).scalars().all()
        by_name: dict[str, list[Domain]] = {}
        for domain in domains:
            by_name.setdefault(domain.name, []).append(domain)
        self.domains = {domain.full_name: domain.id for domain in domains}
        self.ambiguous_domains = {name for name, found in by_name.items() if len(found) > 1}
        self.domains.update({name: found[0].id for name, found in by_name.items() if len(found) == 1})
        tiers = db.session.execute(sa.select(Tier)).scalars().all()
        self._held = [*domains, *tiers]
        self.tiers = {**{t.name: t.id for t in tiers}, **{t.code: t.id for t in tiers}}
        self.title_levels = {**{t.label: t.value for t in TitleLevel}, **{t.value: t.value for t in TitleLevel}}
        self.affiliations = {**{p.label: p.value for p in PoliticalAffiliation},
                             **{p.value: p.value for p in PoliticalAffiliation}}
        self._organisations: dict[str, int | None] = {}

    def organisation_id(self, name: str) -> int | None:
        if name not in self._organisations:
            found = find_organisation_by_name(name)
            self._organisations[name] = found.id if found else None
            self._held.append(found)
        return self._organisations[name]

    def domain_id(self, name: str, errors: dict[str, list[str]], key: str) -> int | None:
        clean = "".join(name.split()).replace("／", "/")
        if clean in self.domains:
            return self.domains[clean]
        if clean in self.ambiguous_domains:
            errors.setdefault(key, []).append(f"领域“{name}”有重名，请写作 一级领域/二级领域")
        else:
            errors.setdefault(key, []).append(f"未知领域“{name}”")
        return None


def _text(values: dict, key: str) -> str:
    value = values.get(key, "")
    return value.isoformat() if isinstance(value, date) else value


def _choice(values: dict, key: str, mapping: dict[str, Any], errors: dict, allowed: Sequence[str]) -> Any:
    text = _text(values, key)
    if text == "":
        return None  # left out of the payload: the schema says "必填"
    if text in mapping:
        return mapping[text]
    errors.setdefault(key, []).append(f"“{text}”无效，须为 {'、'.join(allowed)} 之一")
    return None


def _date(values: dict, key: str) -> str | None:
    value = values.get(key, "")
    if isinstance(value, date):
        return value.isoformat()
    if value == "":
        return None
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    return value  # the schema refuses it with its own message


def row_payload(row: RosterRow, lookups: _Lookups) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The schema input for one row, as the create form builds it; and lookup errors by column."""
    values = row.values
    errors: dict[str, list[str]] = {}
    payload: dict[str, Any] = {
        "name": _text(values, "name"),
        "id_number": _text(values, "id_number"),
        "mobile": _text(values, "mobile"),
        "position": _text(values, "position"),
        "title_name": _text(values, "title_name"),
        "years_in_field": optional_int(_text(values, "years_in_field")),
        "keywords": split_list(_text(values, "keywords")),
        "bio": _text(values, "bio"),
        "achievements": [
            {"kind": kind.value, "title": title.strip()}
            for key, kind in ACHIEVEMENT_COLUMNS.items()
            for title in ITEM_SEPARATORS.split(_text(values, key)) if title.strip()
        ],
        "certificate_no": _text(values, "certificate_no") or None,
        "secondary_domain_ids": [],
    }
    for key in ("name", "id_number", "years_in_field"):
        if payload[key] in ("", None):
            del payload[key]  # blank: "此项为必填" from the schema
    for key in ("term_start", "term_end"):
        parsed = _date(values, key)
        if parsed is not None:
            payload[key] = parsed
    for key, mapping, allowed in (
        ("title_level", lookups.title_levels, [t.label for t in TitleLevel]),
        ("political_affiliation", lookups.affiliations, [p.label for p in PoliticalAffiliation]),
    ):
        chosen = _choice(values, key, mapping, errors, allowed)
        if chosen is not None:
            payload[key] = chosen
    for key in FLAG_COLUMNS:
        flag = _choice(values, key, FLAG_VALUES, errors, (YES, NO))
        payload[key] = bool(flag)
    employer = _text(values, "employer")
    if employer:
        payload["employer_id"] = lookups.organisation_id(employer)
        if payload["employer_id"] is None:
            errors["employer"] = [f"未登记的单位“{employer}”，请先登记单位或使用已登记的名称、别名"]
    if _text(values, "primary_domain"):
        payload["primary_domain_id"] = lookups.domain_id(_text(values, "primary_domain"), errors, "primary_domain")
    for name in split_list(_text(values, "secondary_domains")):
        payload["secondary_domain_ids"].append(lookups.domain_id(name, errors, "secondary_domains"))
    tier = _text(values, "tier")
    if tier:
        payload["tier_id"] = lookups.tiers.get(tier)
        if payload["tier_id"] is None:
            errors["tier"] = [f"未知层次“{tier}”"]
    # Lookup failures are reported above; keep the schema from repeating them.
    return {key: value for key, value in payload.items() if value is not None
            and not (key == "secondary_domain_ids" and None in value)}, errors


def _messages(value) -> Iterator[str]:
    """Flatten marshmallow's nested messages ({0: {"title": [...]}}) into plain strings."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for sub in value.values():
            yield from _messages(sub)
    elif isinstance(value, (list, tuple)):
        for sub in value:
            yield from _messages(sub)


def _by_column(errors: dict[str, Any]) -> dict[str, list[str]]:
    """Schema and operation errors keyed by the column the user fills in."""
    merged: dict[str, list[str]] = {}
    for key, messages in errors.items():
        merged.setdefault(FIELD_COLUMNS.get(key, key), []).extend(_messages(messages))
    return merged


def _reasons(errors: dict[str, list[str]]) -> tuple[str, ...]:
    """"列名：原因" in the file's column order."""
    order = {key: index for index, key in enumerate(COLUMNS_BY_KEY)}
    reasons = []
    for key in sorted(errors, key=lambda k: order.get(k, len(order))):
        label = COLUMNS_BY_KEY[key].header if key in COLUMNS_BY_KEY else "整行"
        reasons.extend(f"{label}：{message}" for message in dict.fromkeys(errors[key]))
    return tuple(reasons)


@dataclass
class _Seen:
    """First row of each ID number (keyed hash) and certificate number in the file."""

    ids: dict[str, int] = field(default_factory=dict)
    certificates: dict[str, int] = field(default_factory=dict)

    def check(self, row: RosterRow, payload: dict[str, Any], errors: dict[str, list[str]]) -> None:
        try:
            digest = keyed_hash(parse_id_number(str(payload.get("id_number", ""))).normalised)
        except InvalidIdNumber:
            digest = None  # the schema reports it
        if digest is not None:
            first = self.ids.setdefault(digest, row.number)
            if first != row.number:
                errors.setdefault("id_number", []).append(f"与第 {first} 行的身份证号重复")
        certificate = payload.get("certificate_no")
        if certificate and certificate.startswith(GENERATED_CERTIFICATE_PREFIX) \
                and not GENERATED_CERTIFICATE.fullmatch(certificate):
            errors.setdefault("certificate_no", []).append("以 JCZX- 开头的编号须为本库格式，如 JCZX-2024-00001")
        if certificate:
            first = self.certificates.setdefault(certificate, row.number)
            if first != row.number:
                errors.setdefault("certificate_no", []).append(f"与第 {first} 行的聘书编号重复")


def import_roster(actor, rows: Sequence[RosterRow], *, dry_run: bool, strict: bool) -> ImportReport:
    """Check every row; unless a dry run (or strict with a bad row), create the good ones.

    `actor` None is the command line. One audit entry per import, with
    counts and row numbers only; each expert also gets its expert.create entry.
    """
    if actor is not None:
        authorize(actor, "expert.import")
    lookups = _Lookups()
    seen = _Seen()
    schema = RosterRowSchema()
    report = ImportReport(total=len(rows), dry_run=dry_run, strict=strict)
    planned: list[dict[str, Any]] = []
    for row in rows:
        payload, errors = row_payload(row, lookups)
        seen.check(row, payload, errors)
        data, schema_errors = load_or_errors(schema, payload)
        # A failed lookup ("未知领域") replaces the schema's "必填" for the same column.
        errors = {**_by_column(schema_errors), **errors}
        if not errors:
            term = {key: data.pop(key, None) for key in ("term_start", "term_end", "certificate_no")}
            try:
                check_new_expert(data, **term)
            except ValidationFailed as error:
                errors = _by_column(error.fields)
            else:
                planned.append({"data": data, **term})
        if errors:
            report.problems.append(RowProblem(row.number, _text(row.values, "name"), _reasons(errors)))
    if dry_run or report.refused:
        return report
    # create_expert flushes each expert itself, so the next row's checks see it;
    # autoflush would only add a flush of the half-built record per query.
    with db.session.no_autoflush:
        # Given certificate numbers first: a generated one is then the next free number after them.
        for item in sorted(planned, key=lambda item: item["certificate_no"] is None):
            create_expert(actor, item.pop("data"), **item)
    report.imported = len(planned)
    if report.imported or report.problems:
        audit.record(actor, "expert.import", "expert_roster", None, rows=report.total, imported=report.imported,
                     rejected=len(report.problems), strict=strict,
                     rejected_rows=[p.row for p in report.problems][:AUDIT_MAX_ROW_NUMBERS])
    return report


# ---------------------------------------------------------------- template and export


def roster_template(actor) -> bytes:
    if actor is not None:
        authorize(actor, "expert.import")
    domains = db.session.execute(
        sa.select(Domain).where(Domain.is_active, Domain.parent_id.is_not(None)).order_by(Domain.sort_order)
    ).scalars().all()
    tiers = db.session.execute(sa.select(Tier).order_by(Tier.rank)).scalars().all()
    return template_workbook({
        "title_level": [t.label for t in TitleLevel],
        "political_affiliation": [p.label for p in PoliticalAffiliation],
        "is_npc_deputy": [YES, NO], "is_cppcc_member": [YES, NO], "is_academician": [YES, NO],
        "tier": [t.name for t in tiers],
        "primary_domain": [d.full_name for d in domains],
    })


def export_row(expert: Expert, full: bool) -> dict[str, str | date | None]:
    """One expert in the import columns (plus derived ones), as the pages show it."""
    appointment = expert.current_appointment
    achievements = {key: "；".join(a["title"] for a in expert.achievements if a["kind"] == kind.value)
                    for key, kind in ACHIEVEMENT_COLUMNS.items()}
    return {
        "name": expert.name,
        "id_number": decrypt_pii(expert.id_number_enc) if full else expert.id_number_masked,
        "mobile": (decrypt_pii(expert.mobile_enc) if full else expert.mobile_masked) if expert.mobile_enc else None,
        "employer": expert.employer.name,
        "position": expert.position,
        "title_level": expert.title_level.label,
        "title_name": expert.title_name,
        "years_in_field": expert.years_in_field,
        "political_affiliation": expert.political_affiliation.label,
        "is_npc_deputy": YES if expert.is_npc_deputy else NO,
        "is_cppcc_member": YES if expert.is_cppcc_member else NO,
        "is_academician": YES if expert.is_academician else NO,
        "primary_domain": expert.primary_domain.full_name,
        "secondary_domains": "、".join(d.full_name for d in expert.secondary_domains),
        "keywords": "、".join(expert.keywords),
        "bio": expert.bio,
        **achievements,
        "tier": expert.tier.name if expert.tier else None,
        "term_start": appointment.term_start if appointment else None,
        "term_end": appointment.term_end if appointment else None,
        "certificate_no": appointment.certificate_no if appointment else None,
        "sex": expert.sex.label,
        "birth_date": expert.birth_date,
        "status": expert.status.label,
    }


def export_roster(actor, filters: ExpertFilters, *, full_pii: bool = False) -> tuple[bytes, int]:
    """The experts the list shows for `filters`, every page, as .xlsx; returns (file, count).

    ID numbers and mobiles are masked, as on the pages, unless `full_pii` is
    asked for by someone who may reveal them; that export is audited as such.
    """
    if actor is not None:
        authorize(actor, "expert.export")
        if full_pii:
            authorize(actor, "expert.reveal_pii")
    experts = db.session.execute(
        filtered_experts(filters).options(selectinload(Expert.secondary_domains), selectinload(Expert.appointments))
    ).scalars().all()
    content = write_roster(export_row(expert, full_pii) for expert in experts)
    audit.record(actor, "expert.export", "expert_roster", None, count=len(experts), full_pii=full_pii,
                 filters={key: value for key, value in vars(filters).items() if value and key not in ("page", "per_page")})
    return content, len(experts)
