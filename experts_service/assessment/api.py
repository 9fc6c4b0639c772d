"""JSON API for the annual assessment (年度考核): cycles, results, self-assessment, adjustment, approval.

Once a cycle is approved it is frozen: compute, adjust, self-assessment and approval answer 409.
"""
from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user

from experts_service.assessment import operations
from experts_service.assessment.schemas import (
    FIRST_YEAR,
    LAST_YEAR,
    AdjustmentInputSchema,
    ApprovalInputSchema,
    ApprovalOutSchema,
    CycleDetailSchema,
    CycleOpenSchema,
    CycleOutSchema,
    ResultOutSchema,
    SelfAssessmentInputSchema,
    SelfAssessmentReceiptSchema,
)
from experts_service.core.auth import requires
from experts_service.core.errors import NotFound
from experts_service.core.routing import ApiBlueprint as Blueprint
from experts_service.core.transaction import commit

cycles_api = Blueprint("assessment_api", __name__, url_prefix="/assessment-cycles", description="年度考核")
results_api = Blueprint("assessment_results_api", __name__, url_prefix="/assessment-results",
                        description="年度考核结果")
blueprints = (cycles_api, results_api)


class _CycleWithResults:
    """A cycle as the caller may see it: the results narrowed by results_of (an expert sees their own)."""

    def __init__(self, cycle, results):
        self._cycle, self.results = cycle, results

    def __getattr__(self, name):
        return getattr(self._cycle, name)


def _cycle(year: int):
    # Any digits match <int:year>; a number no column can hold names no cycle (and must not reach the query).
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise NotFound(f"{year} 年度考核尚未开启")
    return operations.get_cycle(current_user, year)


def _detail(cycle) -> _CycleWithResults:
    return _CycleWithResults(cycle, operations.results_of(current_user, cycle))


@cycles_api.route("")
class CycleCollection(MethodView):
    @requires("assessment.read")
    @cycles_api.response(200, CycleOutSchema(many=True))
    def get(self):
        """Every assessment cycle, newest year first."""
        return operations.cycles(current_user)

    @requires("assessment.manage")
    @cycles_api.arguments(CycleOpenSchema)
    @cycles_api.response(201, CycleDetailSchema)
    def post(self, data):
        """Open the cycle of a year (not a future one; one open cycle at a time): the population is fixed,
        results are computed provisionally and every expert is asked for a self-assessment."""
        cycle = operations.open_cycle(current_user, data["year"])
        commit()
        return _detail(cycle)


@cycles_api.route("/<int:year>")
@requires("assessment.read")
@cycles_api.response(200, CycleDetailSchema)
def get_cycle(year: int):
    """One cycle with its results, highest total first, each with its explanation; an expert sees their own."""
    return _detail(_cycle(year))


@cycles_api.route("/<int:year>/computation", methods=["POST"])
@requires("assessment.manage")
@cycles_api.response(200, CycleDetailSchema)
def compute(year: int):
    """Compute every result again from the records as they are now (adjustments kept); 409 once approved."""
    cycle = _cycle(year)
    operations.compute(current_user, cycle)
    commit()
    return _detail(cycle)


@cycles_api.route("/<int:year>/self-assessment", methods=["PUT"])
@requires("assessment.self_assess")
@cycles_api.arguments(SelfAssessmentInputSchema)
@cycles_api.response(200, SelfAssessmentReceiptSchema)
def self_assess(data, year: int):
    """The signed-in expert's self-assessment (score 0–100 and a summary); may be revised until approval."""
    cycle = _cycle(year)
    own = operations.submit_self_assessment(current_user, cycle, data)
    commit()
    results = operations.results_of(current_user, cycle)
    return {"self_assessment": own, "result": results[0] if results else None}


@cycles_api.route("/<int:year>/approval", methods=["POST"])
@requires("assessment.manage")
@cycles_api.arguments(ApprovalInputSchema)
@cycles_api.response(200, ApprovalOutSchema)
def approve(data, year: int):
    """审定: computed once more, then applied (dismissals exit, reminders and promotion eligibility listed,
    every expert notified) and frozen. 409 while an appeal against a record of the year waits."""
    cycle = _cycle(year)
    approval = operations.approve(current_user, cycle, data["note"])
    commit()
    return approval


@results_api.route("/mine")
@requires("assessment.self_assess")
@results_api.response(200, ResultOutSchema(many=True))
def mine():
    """The signed-in expert's results, newest year first (provisional while the cycle is open)."""
    return operations.own_results(current_user)


@results_api.route("/<id:result_id>")
@requires("assessment.read")
@results_api.response(200, ResultOutSchema)
def get_result(result_id: int):
    """One result with every input and its explanation; an expert reads only their own."""
    return operations.get_result(current_user, result_id)


@results_api.route("/<id:result_id>/adjustment", methods=["POST"])
@requires("assessment.manage")
@results_api.arguments(AdjustmentInputSchema)
@results_api.response(200, ResultOutSchema)
def adjust(data, result_id: int):
    """Set the total with a written reason (`total: null` clears the adjustment); a veto still fails.
    409 once the cycle is approved."""
    result = operations.get_result(current_user, result_id, "assessment.manage")
    operations.adjust(current_user, result, data["total"], data["reason"])
    commit()
    return result
