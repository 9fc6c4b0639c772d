"""Lifecycle records for the API role matrix, each in the state its operation needs.

The department user belongs to `organisation` and the expert user is
`expert` (an active expert of 城乡规划), so OWN scope is satisfied. Records
are built on first use, so each matrix case pays only for what it touches.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from experts_service.core.auth import Role
from experts_service.core.clock import today
from experts_service.extensions import db
from experts_service.lifecycle import documents, operations
from experts_service.lifecycle.models import (
    Application,
    ApplicationDocument,
    CalendarOverride,
    Channel,
    RenewalReview,
    RenewalStatus,
    Stage,
)
from experts_service.lifecycle.schemas import ApplicationInputSchema
from tests.conftest import valid_id_number
from tests.lifecycle.helpers import PDF
from tests.panels.helpers import unique_id_number


class LazySubjects(dict):
    def __init__(self, builders: dict[str, Callable[[], dict]]):
        super().__init__()
        self.builders = builders

    def __missing__(self, key):
        built = self.builders[key]()
        db.session.commit()
        self.update(built)
        return built[key]


def lifecycle_subjects(factory, organisation, expert) -> LazySubjects:
    office = factory.user(Role.TALENT_OFFICE)
    group_domain = factory.domain_id("城乡规划")

    def payload(**overrides) -> dict:
        values = {"id_number": unique_id_number(), "name": "矩阵申请人", "channel": "organisation",
                  "recommending_organisation_id": organisation.id, **overrides}
        data = factory.expert_payload(**values)
        data.pop("tier_id")
        return data

    def submit(**overrides):
        return operations.submit_application(office, ApplicationInputSchema().load(payload(**overrides)))

    def owned():
        # A past application of the expert user, recommended by the department user's organisation.
        application = Application(expert=expert, channel=Channel.ORGANISATION, recommending_organisation=organisation,
                                  stage=Stage.APPOINTED, checks=[])
        db.session.add(application)
        checked = documents.check_file("学历证书.pdf", PDF)
        document = ApplicationDocument(application=application, expert_id=expert.id,
                                       original_name=checked.original_name, stored_name=documents.store(checked),
                                       content_type=checked.content_type, size_bytes=len(PDF), sha256=checked.sha256)
        db.session.add(document)
        db.session.flush()
        return {"owned": application.id, "document": document.id}

    def failed():
        too_old = today().replace(year=today().year - 70) - timedelta(days=1)
        return {"failed": submit(id_number=valid_id_number(birth=too_old)).id}

    def group():
        for name in ("评审一", "评审二"):
            operations.add_reviewer(office, group_domain, factory.expert(name=name, id_number=unique_id_number()).id)
        operations.add_reviewer(office, group_domain, expert.id)
        return {"group_domain": group_domain}

    def voting():
        group()
        application = submit(primary_domain_id=group_domain)
        operations.qualify(office, application)
        return {"voting": application.id}

    def noticed():
        application = submit()
        operations.qualify(office, application)
        application.stage = Stage.APPROVAL  # the review itself has its own tests
        operations.approve(office, application)
        # Running today whatever the weekday: the matrix tests access, not the calendar.
        application.notice_starts_on, application.notice_ends_on = today(), today() + timedelta(days=10)
        objection = operations.lodge_objection(application, {"name": "王群众", "contact": "13900002222",
                                                             "content": "异议"})
        return {"noticed": application.id, "objection": objection.id}

    def renewal():
        review = RenewalReview(expert_id=expert.id, appointment_id=expert.current_appointment.id, opened_on=today(),
                               due_on=expert.current_appointment.term_end, status=RenewalStatus.OPEN)
        db.session.add(review)
        db.session.flush()
        return {"renewal": review.id}

    def override():
        row = CalendarOverride(day=today() + timedelta(days=400), is_workday=False, note="矩阵测试")
        db.session.add(row)
        db.session.flush()
        return {"override": row.id}

    builders = {
        "owned": owned, "document": owned, "failed": failed, "voting": voting, "noticed": noticed,
        "objection": noticed, "group_domain": group, "renewal": renewal, "override": override,
        "open": lambda: {"open": submit().id},
        "period": lambda: {"period": operations.add_unavailable_period(
            office, expert, {"starts_on": today(), "ends_on": today()}).id},
        "declaration": lambda: {"declaration": operations.declare_conflict(
            office, expert, {"kind": "person", "person_name": "张三", "relationship_note": "配偶"}).id},
        "change": lambda: {"change": operations.request_profile_change(office, expert, {"position": "院长"}).id},
        "other_domain": lambda: {"other_domain": factory.domain_id("城市治理")},
        "core_tier": lambda: {"core_tier": factory.tier_id("core")},
        "new_application": lambda: {"new_application": payload()},
    }
    return LazySubjects(builders)


def page_subjects(world: dict) -> dict:
    """For the page matrix: records of the own expert and the own department."""
    from experts_service.core.crypto import encrypt_pii
    from experts_service.experts.models import Expert
    from experts_service.lifecycle.models import (
        ChangeStatus,
        Objection,
        ObjectionStatus,
        ProfileChangeRequest,
    )
    from experts_service.reference.models import Organisation

    expert = db.session.get(Expert, world["own_expert"])
    application = Application(expert=expert, channel=Channel.ORGANISATION, stage=Stage.APPOINTED, checks=[],
                              recommending_organisation=db.session.get(Organisation, world["own_org"]))
    checked = documents.check_file("学历证书.pdf", PDF)
    document = ApplicationDocument(application=application, expert_id=expert.id, original_name=checked.original_name,
                                   stored_name=documents.store(checked), content_type=checked.content_type,
                                   size_bytes=len(PDF), sha256=checked.sha256)
    objection = Objection(application=application, objector_name="王群众", contact_enc=encrypt_pii("13900002222"),
                          contact_masked="139****2222", content="异议", status=ObjectionStatus.OPEN)
    change = ProfileChangeRequest(expert=expert, requested={"position": "院长"}, previous={"position": "教授"},
                                  status=ChangeStatus.PENDING)
    db.session.add_all([application, document, objection, change])
    db.session.commit()
    return {"own_application": application.id, "own_document": document.id, "own_objection": objection.id,
            "own_change": change.id}
