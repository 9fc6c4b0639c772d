"""Building applications and pooled experts through the real lifecycle operations."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from experts_service.core.auth import Role
from experts_service.core.clock import today
from experts_service.extensions import db
from experts_service.lifecycle import operations
from experts_service.lifecycle.schemas import ApplicationInputSchema
from tests.panels.helpers import unique_id_number

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def set_today(app, day: date) -> None:
    """Pin the service clock to 09:00 Beijing time of `day`."""
    app.config["CLOCK_NOW"] = datetime.combine(day, time(9), tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def database_dump(exclude: tuple[str, ...] = ("audit_entries",)) -> dict[str, list]:
    """Every row of every table (but the audit log), to show that a refusal changed nothing."""
    db.session.rollback()
    dump = {}
    for table in db.metadata.sorted_tables:
        if table.name in exclude:
            continue
        rows = db.session.execute(sa.select(table)).all()
        dump[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return dump


def audit_actions_after(seq: int) -> list[str]:
    from experts_service.core.audit import AuditEntry

    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)))


def last_seq() -> int:
    from experts_service.core.audit import AuditEntry

    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEntry.seq), 0)))


class Intake:
    """A talent office, a review group of three for 城乡规划, and applications through the steps."""

    def __init__(self, factory, app, domain: str = "城乡规划"):
        self.factory = factory
        self.app = app
        self.domain = domain
        self.office = factory.user(Role.TALENT_OFFICE)
        self.reviewers = []  # (expert, user)
        for name in ("评审甲", "评审乙", "评审丙"):
            expert = factory.expert(name=name, id_number=unique_id_number(),
                                    primary_domain_id=factory.domain_id(domain))
            user = factory.user(Role.EXPERT, expert_id=expert.id)
            operations.add_reviewer(self.office, factory.domain_id(domain), expert.id)
            self.reviewers.append((expert, user))
        db.session.commit()

    def payload(self, **overrides) -> dict:
        defaults = {"id_number": unique_id_number(), "name": "王芳",
                    "primary_domain_id": self.factory.domain_id(self.domain)}
        payload = self.factory.expert_payload(**{**defaults, **overrides})
        payload.pop("tier_id")
        payload.setdefault("channel", "invitation")
        return payload

    def submit(self, actor=None, **overrides):
        data = ApplicationInputSchema().load(self.payload(**overrides))
        application = operations.submit_application(actor or self.office, data)
        db.session.commit()
        return application

    def step(self, application, action: str, **data):
        operations.decide(self.office, application, {"action": action, **data})
        db.session.commit()
        return application

    def votes(self, application, *votes: str):
        for (expert, user), vote in zip(self.reviewers, votes, strict=False):
            operations.cast_vote(user, application, vote, f"{expert.name}的评审意见")
        db.session.commit()

    def to_notice(self, application):
        self.step(application, "qualify")
        self.votes(application, "approve", "approve", "approve")
        self.step(application, "conclude_review")
        self.step(application, "approve")
        return application

    def appoint(self, application, tier: str = "general"):
        set_today(self.app, application.notice_ends_on + timedelta(days=1))
        return self.step(application, "appoint", tier_id=self.factory.tier_id(tier))


def pooled_expert(factory, app, *, term_start: date | None = None, **overrides):
    """An expert entered straight into the pool, with a term from `term_start`."""
    from experts_service.experts.operations import create_expert
    from experts_service.experts.schemas import ExpertInputSchema

    data = ExpertInputSchema().load(factory.expert_payload(id_number=overrides.pop("id_number", unique_id_number()),
                                                           **overrides))
    expert = create_expert(None, data, term_start=term_start or today())
    db.session.commit()
    return expert
