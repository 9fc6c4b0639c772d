"""Random draws: commit before reveal, reproducible from the record alone,
`flask panels verify-draw` confirms an honest draw and catches a changed one,
records cannot be changed through the ORM, and the public proof page."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experts_service.core.audit import AuditEntry
from experts_service.core.clock import today
from experts_service.core.errors import Conflict
from experts_service.extensions import db
from experts_service.panels import draw as draw_module
from experts_service.panels import operations
from experts_service.panels.matcher import Member, Rules
from experts_service.panels.models import RecordImmutable, Recommendation
from tests.page_helpers import page_of
from tests.panels.helpers import World

WRITTEN = {"mode": "written", "seats": 3, "min_senior_members": 1, "meeting_date": None, "meeting_place": None,
           "selection_method": "random_draw"}


@pytest.fixture
def world(factory):
    world = World(factory)
    for n, name in enumerate(("赵一", "钱二", "孙三", "李四", "周五", "吴六", "郑七", "王八", "冯九", "陈十", "褚十一")):
        world.expert(name, tier="core" if n % 4 == 0 else "general", political="non_party" if n == 5 else "cpc")
    return world


def make_draw(world, **item_overrides) -> Recommendation:
    request = world.request(world.item(**item_overrides), deadline=today() + timedelta(days=15), **WRITTEN)
    return world.run(request, "random_draw")


def reload(record_id: int) -> Recommendation:
    db.session.expire_all()
    return db.session.get(Recommendation, record_id)


def tamper(record_id: int, **values) -> None:
    """Change a stored record with plain SQL, as someone with database access could (the ORM refuses)."""
    db.session.execute(sa.update(Recommendation.__table__).where(Recommendation.__table__.c.id == record_id)
                       .values(**values))
    db.session.commit()


def verify_cli(runner, record_id: int):
    return runner.invoke(args=["panels", "verify-draw", str(record_id)])


# ---------------------------------------------------------------- the protocol


def test_the_seed_is_committed_before_the_draw_and_revealed_after(world):
    record = make_draw(world)
    assert hashlib.sha256(bytes.fromhex(record.seed)).hexdigest() == record.seed_hash
    assert len(record.seed) == 2 * draw_module.SEED_BYTES
    # The pool: the top 3 x seats of the ranking, frozen.
    ranked = [c["expert_id"] for c in record.candidates]
    assert record.pool == ranked[:9]
    entries = db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.object_type == "recommendation",
                                    AuditEntry.object_id == str(record.id)).order_by(AuditEntry.seq)
    ).scalars().all()
    assert [e.action for e in entries] == ["recommendation.draw_committed", "recommendation.draw_revealed"]
    committed, revealed = entries
    assert committed.summary["seed_hash"] == record.seed_hash and committed.summary["pool"] == record.pool
    assert "seed" not in committed.summary, "the commitment entry must not give the seed away"
    assert revealed.summary["seed"] == record.seed and revealed.summary["panel"] == record.result["panel"]
    assert record.result["compliant"] and set(record.result["panel"]) <= set(record.pool)
    assert record.result["draw_order"] == draw_module.draw_order(record.seed, record.pool)


def test_the_draw_is_reproducible_from_the_stored_inputs_only(world):
    record = make_draw(world)
    facts = {c["expert_id"]: Member.from_record(c["expert_id"], c["facts"]) for c in record.candidates}
    rerun = draw_module.draw(record.seed, record.pool, facts, Rules.from_record(record.inputs["rules"]),
                             alternates_limit=record.inputs["alternates_limit"])
    assert rerun == record.result
    assert operations.verify_draw(record).ok


def test_a_second_draw_for_one_request_is_refused(world):
    record = make_draw(world)
    before = db.session.scalar(sa.select(sa.func.count(Recommendation.id)))
    with pytest.raises(Conflict):
        operations.run_recommendation(world.office, record.panel_request, "random_draw")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Recommendation.id))) == before


def test_the_database_holds_one_draw_per_request(world):
    """Two users pressing "draw" at once both pass the check in code; the unique index stops the second."""
    from sqlalchemy.exc import IntegrityError

    from experts_service.core.transaction import commit

    record = make_draw(world)
    second = Recommendation(
        panel_request_id=record.panel_request_id, kind=record.kind, policy_version=record.policy_version,
        algorithm_version=record.algorithm_version, inputs=record.inputs, candidates=record.candidates,
        filtered=record.filtered, result=None, seed_hash=draw_module.commitment(draw_module.new_seed()),
        pool=record.pool)
    db.session.add(second)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    db.session.add(Recommendation(
        panel_request_id=record.panel_request_id, kind=record.kind, policy_version=1, algorithm_version="x",
        inputs={}, candidates=[], filtered={}, result=None, seed_hash="0" * 64, pool=[]))
    with pytest.raises(Conflict):  # the request boundary turns the race into a 409
        commit()


# ---------------------------------------------------------------- verify-draw


def test_verify_draw_confirms_an_honest_draw(world, runner):
    record = make_draw(world)
    result = verify_cli(runner, record.id)
    assert result.exit_code == 0, result.output
    assert "一致" in result.output and "不一致" not in result.output
    assert record.seed_hash in result.output


def test_verify_draw_detects_a_changed_result(world, runner):
    record = make_draw(world)
    outsider = next(i for i in record.pool if i not in record.result["panel"])
    changed = dict(record.result, panel=[outsider, *record.result["panel"][1:]])
    tamper(record.id, result=changed)
    result = verify_cli(runner, record.id)
    assert result.exit_code == 1
    assert "不一致" in result.output and "入选专家" in result.output


def test_verify_draw_detects_a_seed_that_does_not_match_the_commitment(world, runner):
    record = make_draw(world)
    tamper(record.id, seed=draw_module.new_seed())
    result = verify_cli(runner, record.id)
    assert result.exit_code == 1
    assert "承诺" in result.output


def test_verify_draw_detects_a_consistently_forged_record_through_the_audit_log(world, runner):
    """Seed, commitment and result all replaced so they agree with each other: the hash-chained audit log does not."""
    record = make_draw(world)
    seed = draw_module.new_seed()
    facts = {c["expert_id"]: Member.from_record(c["expert_id"], c["facts"]) for c in record.candidates}
    forged = draw_module.draw(seed, record.pool, facts, Rules.from_record(record.inputs["rules"]),
                              alternates_limit=record.inputs["alternates_limit"])
    tamper(record.id, seed=seed, seed_hash=draw_module.commitment(seed), result=forged)
    result = verify_cli(runner, record.id)
    assert result.exit_code == 1
    assert "审计日志" in result.output


def test_verify_draw_detects_a_changed_pool(world, runner):
    record = make_draw(world)
    outside = next(c["expert_id"] for c in record.candidates if c["expert_id"] not in record.pool)
    tamper(record.id, pool=[outside, *record.pool[1:]])
    result = verify_cli(runner, record.id)
    assert result.exit_code == 1 and "候选池" in result.output


def test_verify_draw_of_something_that_is_not_a_draw(world, runner):
    request = world.request(world.item(), deadline=today() + timedelta(days=15),
                            **{**WRITTEN, "selection_method": "recommend"})
    recommendation = world.run(request)
    for record_id in (recommendation.id, 999999):
        result = verify_cli(runner, record_id)
        assert result.exit_code == 2 and "不是随机抽取" in result.output


# ---------------------------------------------------------------- immutability


def test_the_orm_refuses_to_change_or_delete_a_record(world):
    record = make_draw(world)
    record.result = {**record.result, "panel": []}
    with pytest.raises(RecordImmutable):
        db.session.flush()
    db.session.rollback()
    record = reload(record.id)
    record.inputs = {}
    with pytest.raises(RecordImmutable):
        db.session.flush()
    db.session.rollback()
    db.session.delete(reload(record.id))
    with pytest.raises(RecordImmutable):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(RecordImmutable):
        db.session.execute(sa.update(Recommendation).where(Recommendation.id == record.id).values(seed=None))
    db.session.rollback()
    with pytest.raises(RecordImmutable):
        db.session.execute(sa.delete(Recommendation).where(Recommendation.id == record.id))
    db.session.rollback()
    assert operations.verify_draw(reload(record.id)).ok


def test_a_revealed_draw_cannot_be_revealed_again(world):
    record = make_draw(world)
    record.seed = draw_module.new_seed()
    with pytest.raises(RecordImmutable):
        db.session.flush()
    db.session.rollback()


# ---------------------------------------------------------------- the public proof page


def test_public_proof_page_needs_no_sign_in(world, client):
    record = make_draw(world)
    response = client.get(f"/draws/{record.id}")
    assert response.status_code == 200
    page = page_of(response)
    assert page.by_id("seed-hash").clean_text == record.seed_hash
    assert page.by_id("seed").clean_text == record.seed
    assert page.by_id("verification-outcome").clean_text == "一致"
    drawn = [int(li.get("data-expert-id")) for li in page.by_id("drawn-panel").find_all("li")]
    assert drawn == record.result["panel"]
    pool = [int(tr.get("data-expert-id")) for tr in page.by_id("draw-pool").find("tbody").find_all("tr")]
    assert pool == record.pool
    assert "城市更新条例" in page.by_id("draw-item").clean_text


def test_public_proof_page_of_a_confidential_item_shows_nothing_confidential(world, client):
    record = make_draw(world, title="某涉密事项", description="不应公开的内容", confidential=True)
    names = {c["name"] for c in record.candidates}
    html = client.get(f"/draws/{record.id}").get_data(as_text=True)
    assert "某涉密事项" not in html and "不应公开的内容" not in html
    assert "涉密事项" in html
    assert not any(name in html for name in names)
    assert record.seed in html and record.seed_hash in html


def test_public_proof_page_shows_a_mismatch(world, client):
    record = make_draw(world)
    tamper(record.id, seed=draw_module.new_seed())
    page = page_of(client.get(f"/draws/{record.id}"))
    assert page.by_id("verification-outcome").clean_text == "不一致"
    assert "承诺" in page.by_id("verification-problems").clean_text


def test_only_draws_have_a_public_page(world, client):
    request = world.request(world.item(), deadline=today() + timedelta(days=15),
                            **{**WRITTEN, "selection_method": "recommend"})
    recommendation = world.run(request)
    assert client.get(f"/draws/{recommendation.id}").status_code == 404
    assert client.get("/draws/999999").status_code == 404


# ---------------------------------------------------------------- replacing a drawn member


def test_a_drawn_panel_is_topped_up_in_draw_order_only(world):
    from experts_service.core.errors import ValidationFailed

    # No tier mix and one employer each: every candidate of the pool could stand in for anyone.
    request = world.request(world.item(), deadline=today() + timedelta(days=15),
                            **{**WRITTEN, "min_senior_members": 0})
    record = world.run(request, "random_draw")
    removed = record.result["panel"][0]
    due = record.result["first_replacement"][str(removed)]
    out_of_turn = next(i for i in record.result["draw_order"] if i not in record.result["panel"] and i != due)
    with pytest.raises(ValidationFailed) as refused:
        operations.replace_member(world.office, record, {"remove_expert_id": removed, "add_expert_id": out_of_turn,
                                                         "reason": "出差"})
    db.session.rollback()
    assert refused.value.fields["rules"] == ["draw_order"]
    outside = next(c["expert_id"] for c in record.candidates if c["expert_id"] not in record.pool)
    with pytest.raises(ValidationFailed) as refused:
        operations.replace_member(world.office, reload(record.id), {"remove_expert_id": removed,
                                                                    "add_expert_id": outside, "reason": "出差"})
    db.session.rollback()
    assert "候选池" in refused.value.fields["add_expert_id"][0]
    new = operations.replace_member(world.office, reload(record.id), {"remove_expert_id": removed,
                                                                      "add_expert_id": None, "reason": "出差"})
    db.session.commit()
    assert new.result["panel"][0] == due and new.parent_id == record.id
    assert new.result["draw_order"] == record.result["draw_order"]
    # The draw itself still verifies; the adjustment is a record of its own.
    assert operations.verify_draw(reload(record.id)).ok
