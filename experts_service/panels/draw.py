"""Random draw with a committed seed, and its verification. Pure functions.

Protocol (DRAW_ALGORITHM):
1. The pool is the first `draw_pool_multiplier x seats` qualified
   candidates in rank order, frozen in the record.
2. A 256-bit seed comes from `secrets`; its SHA-256 (the commitment) is
   stored with the pool, and audited, before the draw runs.
3. The draw order sorts the pool by SHA-256(seed || ":" || expert id) (hex,
   then id); the same composition as a recommendation runs on that order.
4. The seed is revealed in the record. Anyone with the record can recompute
   the order and the panel (`verify`), and check the seed against the commitment.

Every attempt is a permanent record (a second draw for one request is
refused), so drawing until a liked panel appears would show.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from experts_service.panels.matcher import Member, Rules, compose, order_key

DRAW_ALGORITHM = "sha256-order-v1"
SEED_BYTES = 32  # 256 bits


def new_seed() -> str:
    return secrets.token_hex(SEED_BYTES)


def commitment(seed_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


def draw_key(seed_hex: str, expert_id: int) -> str:
    return hashlib.sha256(bytes.fromhex(seed_hex) + b":" + str(expert_id).encode("ascii")).hexdigest()


def draw_order(seed_hex: str, pool: Sequence[int]) -> list[int]:
    return sorted(pool, key=lambda expert_id: (draw_key(seed_hex, expert_id), expert_id))


def pool_size(seats: int, multiplier: int) -> int:
    return seats * multiplier


def pool_from_ranking(ranked_ids: Sequence[int], size: int) -> list[int]:
    return list(ranked_ids[:size])


def draw(seed_hex: str, pool: Sequence[int], facts: Mapping[int, Member], rules: Rules, *,
         alternates_limit: int) -> dict:
    """The draw's result record: the composition over the draw order, plus that order."""
    order = draw_order(seed_hex, pool)
    composition = compose([facts[i] for i in order], rules, alternates_limit=alternates_limit)
    return {**composition.as_record(), "draw_order": order}


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: tuple[str, ...]

    @property
    def label(self) -> str:
        return "一致" if self.ok else "不一致"


def verify(*, seed: str | None, seed_hash: str | None, pool: Sequence[int] | None, algorithm: str,
           candidates: Sequence[Mapping], inputs: Mapping, result: Mapping | None,
           audit_commitment: Mapping | None = None, audit_reveal: Mapping | None = None) -> Verification:
    """Re-run a stored draw from the record alone and compare.

    `candidates` are the stored ranked candidates (expert_id, score, facts);
    `audit_*` are the summaries of the draw's audit entries, when available:
    the audit log is hash-chained, so a changed commitment shows there too.
    """
    problems: list[str] = []
    if algorithm != DRAW_ALGORITHM:
        return Verification(False, (f"未知的抽取算法版本：{algorithm}",))
    if not seed or not seed_hash or pool is None or result is None:
        return Verification(False, ("记录缺少种子、承诺、候选池或结果",))
    try:
        if commitment(seed) != seed_hash:
            problems.append("公开的种子与事先公布的承诺哈希不符")
    except ValueError:
        return Verification(False, ("种子格式无效",))
    if audit_commitment is not None:
        if audit_commitment.get("seed_hash") != seed_hash:
            problems.append("承诺哈希与审计日志中的记录不符")
        if list(audit_commitment.get("pool") or []) != list(pool):
            problems.append("候选池与审计日志中的记录不符")
    if audit_reveal is not None and audit_reveal.get("seed") != seed:
        problems.append("种子与审计日志中的记录不符")
    # The stored ranking must be in score order, and the pool its head.
    ranked = [c["expert_id"] for c in sorted(candidates, key=lambda c: order_key(c["score"], c["expert_id"]))]
    if ranked != [c["expert_id"] for c in candidates]:
        problems.append("候选人排序与其得分不符")
    expected_size = min(inputs["draw"]["pool_size"], inputs["draw"]["qualified"])
    if len(pool) != expected_size or list(pool) != ranked[:expected_size]:
        problems.append("候选池不是排名前列的合格候选人")
    facts = {c["expert_id"]: Member.from_record(c["expert_id"], c["facts"]) for c in candidates}
    if any(expert_id not in facts for expert_id in pool):
        problems.append("候选池中有不在候选名单上的专家")
        return Verification(False, tuple(problems))
    rules = Rules.from_record(inputs["rules"])
    rerun = draw(seed, pool, facts, rules, alternates_limit=inputs["alternates_limit"])
    for key, label in (("draw_order", "抽取顺序"), ("panel", "入选专家"), ("compliant", "合规结论"),
                       ("alternates", "递补顺序")):
        if rerun.get(key) != result.get(key):
            problems.append(f"{label}与按种子重新抽取的结果不符")
    if audit_reveal is not None and list(audit_reveal.get("panel") or []) != list(result.get("panel") or []):
        problems.append("入选专家与审计日志中的记录不符")
    return Verification(not problems, tuple(problems))
