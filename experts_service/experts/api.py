"""JSON API for expert records."""
from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from experts_service.core.routing import ApiBlueprint as Blueprint

from experts_service.core.auth import requires
from experts_service.core.transaction import commit
from experts_service.experts import operations
from experts_service.experts.schemas import (
    ExpertInputSchema,
    ExpertListQuerySchema,
    ExpertOutSchema,
    ExpertPageSchema,
    ExpertUpdateSchema,
    PiiOutSchema,
)

blueprint = Blueprint("experts_api", __name__, url_prefix="/experts", description="专家信息")


@blueprint.route("")
class ExpertCollection(MethodView):
    @requires("expert.list")
    @blueprint.arguments(ExpertListQuerySchema, location="query")
    @blueprint.response(200, ExpertPageSchema)
    def get(self, query):
        """List experts, with filters, sorting and paging."""
        page = operations.list_experts(current_user, operations.ExpertFilters(**query))
        return {"items": page.items, "meta": page.meta}

    @requires("expert.create")
    @blueprint.arguments(ExpertInputSchema)
    @blueprint.response(201, ExpertOutSchema)
    def post(self, data):
        """Enter an expert into the pool with a first term of appointment."""
        expert = operations.create_expert(current_user, data)
        commit()
        return expert


@blueprint.route("/<id:expert_id>")
class ExpertItem(MethodView):
    @requires("expert.read")
    @blueprint.response(200, ExpertOutSchema)
    def get(self, expert_id: int):
        """One expert; ID number and mobile are masked."""
        return operations.get_expert(current_user, expert_id)

    @requires("expert.update")
    @blueprint.arguments(ExpertUpdateSchema(partial=True))
    @blueprint.response(200, ExpertOutSchema)
    def patch(self, data, expert_id: int):
        """Change fields; send `version` to refuse overwriting someone else's edit."""
        expert = operations.get_expert(current_user, expert_id, "expert.update")
        operations.update_expert(current_user, expert, data)
        commit()
        return expert


@blueprint.route("/<id:expert_id>/personal-data", methods=["POST"])
@requires("expert.reveal_pii")
@blueprint.response(200, PiiOutSchema)
def reveal_personal_data(expert_id: int):
    """The full ID number and mobile. POST because every view is audited."""
    expert = operations.get_expert(current_user, expert_id, "expert.reveal_pii")
    values = operations.reveal_pii(current_user, expert)
    commit()
    return values
