"""JSON API for decision items, panel requests and matcher runs."""
from __future__ import annotations

from flask import jsonify
from flask.views import MethodView
from flask_login import current_user

from experts_service.core.auth import requires
from experts_service.core.routing import ApiBlueprint as Blueprint
from experts_service.core.transaction import commit
from experts_service.panels import operations
from experts_service.panels.schemas import (
    DecisionItemInputSchema,
    DecisionItemOutSchema,
    DecisionItemPageSchema,
    DecisionItemUpdateSchema,
    DepartmentRecommendationSchema,
    ItemListQuerySchema,
    PanelRequestInputSchema,
    PanelRequestOutSchema,
    RecommendationOutSchema,
    RecommendationRefSchema,
    ReplacementInputSchema,
    RunRecommendationSchema,
)

items = Blueprint("decision_items_api", __name__, url_prefix="/decision-items", description="拟决策事项")
requests_ = Blueprint("panel_requests_api", __name__, url_prefix="/panel-requests", description="论证申请")
recommendations = Blueprint("recommendations_api", __name__, url_prefix="/recommendations",
                            description="推荐与随机抽取记录")
blueprints = (items, requests_, recommendations)


def _record_body(record):
    """The whole record for the talent office and auditors; the panel only for the department."""
    if operations.sees_whole_record(current_user):
        return RecommendationOutSchema().dump(record)
    return DepartmentRecommendationSchema().dump(operations.department_view(record))


@items.route("")
class ItemCollection(MethodView):
    @requires("item.read")
    @items.arguments(ItemListQuerySchema, location="query")
    @items.response(200, DecisionItemPageSchema)
    def get(self, query):
        """Decision items; a department sees its own only."""
        page = operations.list_items(current_user, **query)
        return {"items": page.items, "meta": page.meta}

    @requires("item.create")
    @items.arguments(DecisionItemInputSchema)
    @items.response(201, DecisionItemOutSchema)
    def post(self, data):
        """File a decision item (a department: for itself)."""
        item = operations.create_item(current_user, data)
        commit()
        return item


@items.route("/<id:item_id>")
class ItemResource(MethodView):
    @requires("item.read")
    @items.response(200, DecisionItemOutSchema)
    def get(self, item_id: int):
        """One decision item; a department sees its own only."""
        return operations.get_item(current_user, item_id)

    @requires("item.update")
    @items.arguments(DecisionItemUpdateSchema(partial=True))
    @items.response(200, DecisionItemOutSchema)
    def patch(self, data, item_id: int):
        """Change the item's fields; refused (422) when nothing would change or a domain or stakeholder is unknown."""
        item = operations.get_item(current_user, item_id, "item.update")
        operations.update_item(current_user, item, data)
        commit()
        return item


@items.route("/<id:item_id>/panel-requests")
class ItemPanelRequests(MethodView):
    @requires("panel_request.read")
    @items.response(200, PanelRequestOutSchema(many=True))
    def get(self, item_id: int):
        """The item's panel requests."""
        item = operations.get_item(current_user, item_id, "panel_request.read")
        return operations.list_panel_requests(current_user, item)

    @requires("panel_request.create")
    @items.arguments(PanelRequestInputSchema)
    @items.response(201, PanelRequestOutSchema)
    def post(self, data, item_id: int):
        """Request a panel for the item: mode, seats, domains, tier mix, date, avoid list, selection method."""
        item = operations.get_item(current_user, item_id, "panel_request.create")
        request = operations.create_panel_request(current_user, item, data)
        commit()
        return request


@requests_.route("/<id:request_id>")
@requires("panel_request.read")
@requests_.response(200, PanelRequestOutSchema)
def get_panel_request(request_id: int):
    """One panel request; a department sees its own only."""
    return operations.get_panel_request(current_user, request_id)


@requests_.route("/<id:request_id>/recommendations")
class RequestRecommendations(MethodView):
    @requires("recommendation.read")
    @requests_.response(200, RecommendationRefSchema(many=True))
    def get(self, request_id: int):
        """The request's matcher runs, oldest first."""
        request = operations.get_panel_request(current_user, request_id, "recommendation.read")
        return request.recommendations

    @requires("recommendation.run")
    @requests_.arguments(RunRecommendationSchema)
    @requests_.response(201, RecommendationOutSchema)
    def post(self, data, request_id: int):
        """Run the matcher: `recommend` (ranked, explained) or `random_draw` (committed seed, then revealed)."""
        request = operations.get_panel_request(current_user, request_id, "recommendation.run")
        record = operations.run_recommendation(current_user, request, data["method"])
        commit(keep_loaded=True)
        return record


@recommendations.route("/<id:recommendation_id>")
@requires("recommendation.read")
@recommendations.response(200, RecommendationOutSchema)
def get_recommendation(recommendation_id: int):
    """One record; the requesting department sees the panel and the composition report only."""
    record = operations.get_recommendation(current_user, recommendation_id)
    # A Response passes through flask-smorest as it is: the department's view has its own shape.
    return jsonify(_record_body(record))


@recommendations.route("/<id:recommendation_id>/replacements", methods=["POST"])
@requires("recommendation.replace")
@recommendations.arguments(ReplacementInputSchema)
@recommendations.response(201, RecommendationOutSchema)
def replace_member(data, recommendation_id: int):
    """Replace one member: a new record naming its parent; refused (422, `fields.rules`) if a rule would break."""
    record = operations.get_recommendation(current_user, recommendation_id, "recommendation.replace")
    new_record = operations.replace_member(current_user, record, data)
    commit(keep_loaded=True)
    return new_record
