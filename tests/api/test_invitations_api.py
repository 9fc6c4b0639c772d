"""Panel confirmation and invitations over real HTTP, including many answers at once."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import time

import pytest
import requests
import sqlalchemy as sa

from experts_service.consultation.models import Invitation, InvitationStatus
from experts_service.core.auth import Role
from experts_service.extensions import db
from experts_service.panels.models import Engagement
from tests.api.helpers import API, assert_error, fresh_session
from tests.conftest import api_token
from tests.consultation.helpers import SENIOR, pool_with_accounts, recommended_request

# Simultaneous requests in the concurrency test (issue 6: 50).
PARALLEL_REQUESTS = 50


def _headers(live_server, user) -> dict[str, str]:
    return api_token(live_server, user.username)


def test_the_department_confirms_and_the_expert_answers(live_server, http, factory):
    panelled = pool_with_accounts(factory)
    request, record = recommended_request(panelled)
    department = _headers(live_server, panelled.department_user)
    response = http.post(f"{API}/panel-requests/{request.id}/confirmation", json={"recommendation_id": record.id},
                         headers=department)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["seats"], body["pending"], body["accepted"]) == ("confirmed", 5, 5, 0)
    assert [i["expert_id"] for i in body["invitations"]] == record.result["panel"]
    first = body["invitations"][0]
    expert = _headers(live_server, panelled.user_of(first["expert_id"]))
    mine = http.get(f"{API}/invitations/mine", headers=expert).json()
    assert [i["id"] for i in mine] == [first["id"]]
    # Someone else's invitation, and the department answering for the expert: refused.
    other = _headers(live_server, panelled.user_of(body["invitations"][1]["expert_id"]))
    assert_error(http.post(f"{API}/invitations/{first['id']}/accept", headers=other), 403, "forbidden")
    assert_error(http.post(f"{API}/invitations/{first['id']}/accept", headers=department), 403, "forbidden")
    assert_error(http.post(f"{API}/invitations/{first['id']}/decline", json={"reason": ""}, headers=expert),
                 422, "validation_error", {"reason"})
    accepted = http.post(f"{API}/invitations/{first['id']}/accept", headers=expert)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert_error(http.post(f"{API}/invitations/{first['id']}/accept", headers=expert), 409, "conflict")
    second = body["invitations"][1]
    declined = http.post(f"{API}/invitations/{second['id']}/decline", json={"reason": "当日出差"}, headers=other)
    assert declined.status_code == 200 and declined.json()["decline_reason"] == "当日出差"
    summary = http.get(f"{API}/panel-requests/{request.id}/invitations", headers=department).json()
    assert (summary["accepted"], summary["pending"], summary["open"]) == (1, 4, 0)
    assert summary["invitations"][-1]["replaces_id"] == second["id"]
    # Another department sees nothing of it; confirming twice is a conflict.
    stranger = factory.user(Role.DEPARTMENT)
    assert http.get(f"{API}/panel-requests/{request.id}/invitations",
                    headers=_headers(live_server, stranger)).status_code in (403, 404)
    assert_error(http.post(f"{API}/panel-requests/{request.id}/confirmation",
                           json={"recommendation_id": record.id}, headers=department), 409, "conflict")


def _post(live_server, path: str, headers: dict, json=None) -> int:
    with requests.Session() as session:
        return session.post(live_server + path, json=json, headers=headers, timeout=60).status_code


def test_simultaneous_answers_never_overfill_a_panel_nor_double_book_an_expert(live_server, http, factory):
    """Two overlapping meetings drawing on one pool; every invited expert answers both at once, several
    times over, while two members of each panel decline (each decline pulls a stand-in)."""
    panelled = pool_with_accounts(factory, size=12)
    panels = [recommended_request(panelled, meeting_time=start, meeting_end_time=end)
              for start, end in ((time(9), time(12)), (time(10), time(11)))]
    department = _headers(live_server, panelled.department_user)
    for request, record in panels:
        assert http.post(f"{API}/panel-requests/{request.id}/confirmation", json={"recommendation_id": record.id},
                         headers=department).status_code == 201
    fresh_session()
    seniors = {e.id for e in panelled.experts[:SENIOR]}
    headers = {expert_id: _headers(live_server, user) for expert_id, user in panelled.users_by_expert.items()}
    calls = []
    for request, _ in panels:
        invitations = db.session.execute(sa.select(Invitation).where(Invitation.panel_request_id == request.id)
                                         .order_by(Invitation.id)).scalars().all()
        decliners = [i for i in invitations if i.expert_id not in seniors][:2]
        for invitation in invitations:
            if invitation in decliners:
                calls.append((f"{API}/invitations/{invitation.id}/decline", headers[invitation.expert_id],
                              {"reason": "时间冲突"}))
            else:
                calls += [(f"{API}/invitations/{invitation.id}/accept", headers[invitation.expert_id], None)] * 3
    while len(calls) < PARALLEL_REQUESTS:
        calls.append(calls[len(calls) % len(calls)])
    calls = calls[:PARALLEL_REQUESTS]
    with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
        statuses = list(pool.map(lambda call: _post(live_server, *call), calls))
    assert set(statuses) <= {200, 409}, statuses
    # Second wave: everyone with an open invitation (the stand-ins too) accepts at once.
    fresh_session()
    pending = db.session.execute(sa.select(Invitation).where(Invitation.status == InvitationStatus.PENDING)).scalars()
    wave = [(f"{API}/invitations/{i.id}/accept", headers[i.expert_id], None) for i in pending] * 2
    with ThreadPoolExecutor(max_workers=max(len(wave), 1)) as pool:
        statuses = list(pool.map(lambda call: _post(live_server, *call), wave))
    assert set(statuses) <= {200, 409}, statuses

    fresh_session()
    booked: dict[int, list[int]] = {}
    for request, _ in panels:
        accepted = db.session.execute(sa.select(Invitation.expert_id).where(
            Invitation.panel_request_id == request.id, Invitation.status == InvitationStatus.ACCEPTED)).scalars().all()
        assert len(accepted) <= request.seats
        assert len(set(accepted)) == len(accepted)
        for expert_id in accepted:
            booked.setdefault(expert_id, []).append(request.id)
        engagements = db.session.execute(sa.select(sa.func.count()).select_from(Engagement).where(
            Engagement.panel_request_id == request.id)).scalar_one()
        assert engagements == len(accepted)
        stand_ins = db.session.execute(sa.select(Invitation.expert_id).where(
            Invitation.panel_request_id == request.id, Invitation.replaces_id.is_not(None))).scalars().all()
        assert len(stand_ins) == len(set(stand_ins))
    # The two meetings overlap: nobody sits on both.
    assert all(len(requests_) == 1 for requests_ in booked.values()), booked
    assert sum(len(v) for v in booked.values()) >= 1
