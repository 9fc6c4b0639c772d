"""The lifecycle state machine, in one place.

An application moves through stages; the expert's status follows the stage
(STATUS_OF_STAGE). A pooled expert moves between active, suspended and
exited. `require(...)` is the only gate: every operation calls it before it
changes anything, so a refused step leaves nothing behind but the refusal
(written by the request boundary, see errors.record_refusal).
"""
from __future__ import annotations

from dataclasses import dataclass

from experts_service.core.errors import ServiceError
from experts_service.experts.models import ExpertStatus
from experts_service.lifecycle.models import Stage


class IllegalTransition(ServiceError):
    """A step the current state does not allow. Audited as a refusal."""

    status = 409
    code = "illegal_transition"
    default_message = "当前状态不允许此操作"

    def __init__(self, message: str, *, action: str, object_type: str, object_id, state: str):
        super().__init__(message)
        self.action = action
        self.object_type = object_type
        self.object_id = object_id
        self.state = state


@dataclass(frozen=True)
class Transition:
    label: str  # what the step is called, for messages: "聘任"
    sources: frozenset
    target: object  # a Stage or ExpertStatus; None keeps the state
    needs: str  # what must hold first, said to the user when refused


_OPEN = frozenset({Stage.QUALIFICATION, Stage.EXPERT_REVIEW, Stage.APPROVAL, Stage.PUBLIC_NOTICE})

APPLICATION_TRANSITIONS: dict[str, Transition] = {
    "override": Transition("资格审查人工认定", frozenset({Stage.QUALIFICATION}), None, "仅在资格初审阶段可人工认定"),
    "qualify": Transition("资格初审通过", frozenset({Stage.QUALIFICATION}), Stage.EXPERT_REVIEW,
                          "须处于资格初审阶段"),
    "vote": Transition("专业评审投票", frozenset({Stage.EXPERT_REVIEW}), None, "仅在专业评审阶段可投票"),
    "conclude_review": Transition("专业评审通过", frozenset({Stage.EXPERT_REVIEW}), Stage.APPROVAL,
                                  "须先通过资格初审并进入专业评审"),
    "approve": Transition("审定通过并公示", frozenset({Stage.APPROVAL}), Stage.PUBLIC_NOTICE, "须先通过专业评审"),
    "object": Transition("提出异议", frozenset({Stage.PUBLIC_NOTICE}), None, "仅可对公示中的人选提出异议"),
    "appoint": Transition("聘任", frozenset({Stage.PUBLIC_NOTICE}), Stage.APPOINTED, "须先经审定并完成公示"),
    "reject": Transition("不予通过", _OPEN, Stage.REJECTED, "申请已办结"),
    "withdraw": Transition("撤回申请", _OPEN, Stage.WITHDRAWN, "申请已办结"),
}

_POOLED = frozenset({ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED})

EXPERT_TRANSITIONS: dict[str, Transition] = {
    "suspend": Transition("暂停资格", frozenset({ExpertStatus.ACTIVE}), ExpertStatus.SUSPENDED, "仅在库专家可暂停"),
    "reinstate": Transition("恢复资格", frozenset({ExpertStatus.SUSPENDED}), ExpertStatus.ACTIVE,
                            "仅被暂停的专家可恢复，已退出的专家须重新申请"),
    "exit": Transition("退出专家库", _POOLED, ExpertStatus.EXITED, "仅在库或暂停的专家可退出"),
    "resign": Transition("辞聘", _POOLED, ExpertStatus.EXITED, "仅在库或暂停的专家可辞聘"),
    "change_tier": Transition("调整层次", _POOLED, None, "仅在库或暂停的专家可调整层次"),
    "renew": Transition("续聘", _POOLED, None, "仅在库或暂停的专家可续聘"),
    "request_change": Transition("申请变更信息", _POOLED, None, "仅在库或暂停的专家可申请变更"),
}

# What the expert's status is while their application is at each stage.
STATUS_OF_STAGE = {
    Stage.QUALIFICATION: ExpertStatus.APPLICANT,
    Stage.EXPERT_REVIEW: ExpertStatus.UNDER_REVIEW,
    Stage.APPROVAL: ExpertStatus.UNDER_REVIEW,
    Stage.PUBLIC_NOTICE: ExpertStatus.PUBLIC_NOTICE,
    Stage.APPOINTED: ExpertStatus.ACTIVE,
    Stage.REJECTED: ExpertStatus.REJECTED,
    Stage.WITHDRAWN: ExpertStatus.WITHDRAWN,
}

# A new application may reuse the record of someone who is not in the pool.
REAPPLICABLE = frozenset({ExpertStatus.EXITED, ExpertStatus.REJECTED, ExpertStatus.WITHDRAWN})


def require_stage(application, action: str) -> Transition:
    transition = APPLICATION_TRANSITIONS[action]
    if application.stage not in transition.sources:
        raise IllegalTransition(
            f"不能{transition.label}：申请当前处于「{application.stage.label}」阶段，{transition.needs}",
            action=f"application.{action}", object_type="application", object_id=application.id,
            state=application.stage.value,
        )
    return transition


def require_status(expert, action: str) -> Transition:
    transition = EXPERT_TRANSITIONS[action]
    if expert.status not in transition.sources:
        raise IllegalTransition(
            f"不能{transition.label}：专家当前状态为「{expert.status.label}」，{transition.needs}",
            action=f"expert.{action}", object_type="expert", object_id=expert.id, state=expert.status.value,
        )
    return transition


def refuse(message: str, *, action: str, application) -> IllegalTransition:
    """A step the stage allows but whose precondition fails (notice not over, open objections ...)."""
    return IllegalTransition(message, action=f"application.{action}", object_type="application",
                             object_id=application.id, state=application.stage.value)
