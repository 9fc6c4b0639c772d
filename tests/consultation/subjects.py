"""Consultation records for the API role matrix, built on first use: the department user belongs to
`organisation`, the expert user is `expert`, so OWN scope is satisfied."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from experts_service.consultation import engagements as records
from experts_service.consultation import operations
from experts_service.consultation.models import (
    OPINION_SECTIONS,
    Invitation,
    Opinion,
    OpinionConclusion,
    PanelMaterial,
)
from experts_service.core.clock import now, today
from experts_service.extensions import db
from experts_service.panels.models import Engagement, PanelRequest
from tests.lifecycle.subjects import LazySubjects
from tests.panels.helpers import World

NAMES = ("周一", "吴二", "郑三", "王四", "冯五", "陈六")


def consultation_subjects(factory, organisation, expert) -> LazySubjects:
    world = World(factory, department=organisation)

    def recommended() -> dict:
        for name in NAMES:
            world.expert(name, employer=factory.organisation(f"{name}所在研究院"), tier="core")
        request = world.request(world.item())
        record = world.run(request)
        assert record.result["compliant"], record.result
        return {"recommended_request": request.id, "recommended_record": record.id}

    def confirmed() -> dict:
        request_id = built["recommended_request"]
        request = db.session.get(PanelRequest, request_id)
        operations.confirm_panel(world.office, request, built["recommended_record"])
        db.session.flush()
        # The matrix expert is invited too (set up directly: the matrix tests the role gate, not the matcher).
        invitation = Invitation(panel_request_id=request.id, expert_id=expert.id,
                                recommendation_id=built["recommended_record"], sent_at=now(),
                                respond_by=now() + timedelta(hours=24))
        db.session.add(invitation)
        db.session.flush()
        return {"confirmed_request": request.id, "invitation": invitation.id}

    def engagement() -> dict:
        request = db.session.get(PanelRequest, built["confirmed_request"])
        request.meeting_date = today()  # the meeting is today: attendance and ratings are due
        served = Engagement(expert_id=expert.id, panel_request_id=request.id, organisation_id=organisation.id,
                            engaged_on=today())
        db.session.add(served)
        db.session.flush()
        return {"engagement": served.id}

    def opinions() -> dict:
        engagement_id = built["engagement"]
        draft = Opinion(engagement_id=engagement_id, panel_request_id=built["confirmed_request"],
                        expert_id=expert.id, dissent="", **{key: "矩阵测试" for key, _ in OPINION_SECTIONS},
                        conclusion=OpinionConclusion.AGREE)
        db.session.add(draft)
        db.session.flush()
        return {"draft_opinion": draft.id}

    def signed() -> dict:
        draft = db.session.get(Opinion, built["draft_opinion"])
        draft.submitted_at = now()
        draft.content_hash = records.content_hash(draft)
        db.session.flush()
        return {"signed_opinion": draft.id}

    def second_engagement() -> dict:
        # A clean engagement (no opinion yet) for saving and submitting one.
        request_id = built["confirmed_request"]
        served = Engagement(expert_id=expert.id, panel_request_id=request_id, organisation_id=organisation.id,
                            engaged_on=today())
        db.session.add(served)
        db.session.flush()
        return {"fresh_engagement": served.id}

    def materials() -> dict:
        # One material already sent to the panel and one waiting for the next sending.
        request = db.session.get(PanelRequest, built["confirmed_request"])
        sent = material_row(request.id, "背景材料.pdf", uploaded_at=now() - timedelta(hours=2))
        request.materials_sent_at = now() - timedelta(hours=1)
        unsent = material_row(request.id, "补充材料.pdf")
        return {"materials_request": request.id, "sent_material": sent.id, "unsent_material": unsent.id}

    builders = {
        "recommended_request": recommended, "recommended_record": recommended,
        "confirmed_request": confirmed, "invitation": confirmed,
        "engagement": engagement, "draft_opinion": opinions, "signed_opinion": signed,
        "fresh_engagement": second_engagement,
        "materials_request": materials, "sent_material": materials, "unsent_material": materials,
    }
    built = LazySubjects(builders)
    return built


MATRIX_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def material_row(request_id: int, filename: str, content: bytes = MATRIX_PDF, uploaded_at=None) -> PanelMaterial:
    """A background material stored directly (the matrix and the page roles test the gate, not the upload)."""
    material = PanelMaterial(panel_request_id=request_id, filename=filename, content_type="application/pdf",
                             size=len(content), sha256=hashlib.sha256(content).hexdigest(), content=content,
                             uploaded_at=uploaded_at or now())
    db.session.add(material)
    db.session.flush()
    return material
