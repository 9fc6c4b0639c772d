"""Integrity and assessment records for the API role matrix and the page-role table.

The expert user of the matrix is `expert`, so OWN scope is satisfied. Records are built through the
real operations (a talent-office actor), except an appeal, which is stored directly: the tables test
the gate, and the appeal's own rules have their tests in test_api.py and test_pages.py.
"""
from __future__ import annotations

from experts_service.assessment import operations as assessment
from experts_service.core.auth import Role
from experts_service.core.clock import now, today
from experts_service.extensions import db
from experts_service.integrity import operations
from experts_service.integrity.models import AppealStatus, IntegrityAppeal
from tests.lifecycle.helpers import PDF
from tests.lifecycle.subjects import LazySubjects

# A minor event costs points but brings no sanction alone, so the subjects do not suspend anyone.
MINOR = "late"


def minor_event(office, expert, text: str = "矩阵测试：论证会迟到 20 分钟"):
    return operations.record_event(office, expert, {"kind": MINOR, "occurred_on": today(), "description": text},
                                   [("签到表.pdf", PDF)])


def pending_appeal(event) -> IntegrityAppeal:
    appeal = IntegrityAppeal(event=event, reason="矩阵测试：当日交通管制", status=AppealStatus.PENDING, filed_at=now())
    db.session.add(appeal)
    db.session.flush()
    return appeal


def integrity_subjects(factory, expert) -> LazySubjects:
    office = factory.user(Role.TALENT_OFFICE)

    def event() -> dict:
        recorded = minor_event(office, expert)
        return {"event": recorded.id, "evidence": recorded.evidence[0].id}

    def appeal() -> dict:
        recorded = minor_event(office, expert, "矩阵测试：第二次迟到")
        return {"appeal": pending_appeal(recorded).id}

    def cycle() -> dict:
        opened = assessment.open_cycle(office, today().year)
        own = next(r for r in opened.results if r.expert_id == expert.id)
        return {"year": opened.year, "result": own.id}

    return LazySubjects({"event": event, "evidence": event, "appeal": appeal, "year": cycle, "result": cycle})


def page_subjects(factory, own_expert, other_expert) -> dict:
    """For the page-role table: a record of each expert (the own one appealed), an open cycle and the own
    expert's result in it."""
    office = factory.user(Role.TALENT_OFFICE)
    own = minor_event(office, own_expert)
    other = minor_event(office, other_expert)
    appeal = pending_appeal(own)
    opened = assessment.open_cycle(office, today().year)
    result = next(r for r in opened.results if r.expert_id == own_expert.id)
    db.session.commit()
    return {"i_event": own.id, "i_other_event": other.id, "i_evidence": own.evidence[0].id, "i_appeal": appeal.id,
            "a_year": opened.year, "a_result": result.id}
