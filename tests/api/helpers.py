"""Helpers for the API suite: an HTTP session bound to the live server, database
snapshots taken from the test thread, and the error-envelope assertion.

The server thread and the test thread use separate database sessions, so
every read of database state first ends the test thread's transaction
(`fresh_session`), or it would see a stale snapshot or identity map.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests
import sqlalchemy as sa

from experts_service.accounts.models import ApiToken, User
from experts_service.core.audit import AuditEntry
from experts_service.experts.models import Appointment, Expert
from experts_service.extensions import db
from experts_service.reference.models import Domain, Organisation, OrganisationAlias, Tier

API = "/api/v1"
ERROR_KEYS = {"code", "message", "fields"}


class ApiSession(requests.Session):
    """A requests.Session that prefixes the live server's URL and always sets a timeout."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 15)
        if url.startswith("/"):
            url = self.base_url + url
        return super().request(method, url, *args, **kwargs)


def fresh_session() -> None:
    """End the test thread's transaction so the next query sees what the server committed."""
    db.session.rollback()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@dataclass(frozen=True)
class DatabaseState:
    """Row counts of every table an API call may write to."""

    experts: int
    appointments: int
    organisations: int
    aliases: int
    domains: int
    tiers: int
    users: int
    tokens: int
    audit_entries: int


def database_state() -> DatabaseState:
    fresh_session()
    return DatabaseState(
        experts=count(Expert),
        appointments=count(Appointment),
        organisations=count(Organisation),
        aliases=count(OrganisationAlias),
        domains=count(Domain),
        tiers=count(Tier),
        users=count(User),
        tokens=count(ApiToken),
        audit_entries=count(AuditEntry),
    )


def audit_actions_since(seq: int) -> list[str]:
    fresh_session()
    return list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)))


def last_audit_seq() -> int:
    fresh_session()
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEntry.seq), 0)))


def expert_row(expert_id: int) -> dict:
    """The stored columns of one expert (plus its secondary domain ids), for before/after comparisons."""
    fresh_session()
    expert = db.session.get(Expert, expert_id)
    row = {column.key: getattr(expert, column.key) for column in sa.inspect(Expert).column_attrs}
    row["secondary_domain_ids"] = [d.id for d in expert.secondary_domains]
    row["appointments"] = [(a.tier_id, a.certificate_no, a.term_start, a.term_end) for a in expert.appointments]
    return row


def organisation_row(organisation_id: int) -> dict:
    fresh_session()
    organisation = db.session.get(Organisation, organisation_id)
    row = {column.key: getattr(organisation, column.key) for column in sa.inspect(Organisation).column_attrs}
    row["aliases"] = [a.alias for a in organisation.aliases]
    return row


def assert_error(response: requests.Response, status: int, code: str, fields: set[str] | None = None) -> dict:
    """The one error envelope, exactly; `fields` (when given) is the exact set of field names reported."""
    assert response.status_code == status, f"{response.status_code} {response.text[:600]}"
    assert response.headers["Content-Type"].startswith("application/json"), response.headers["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ERROR_KEYS, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["fields"], dict), error
    if fields is not None:
        assert set(error["fields"]) == fields, error["fields"]
        for messages in error["fields"].values():
            assert messages, error["fields"]
    return error

