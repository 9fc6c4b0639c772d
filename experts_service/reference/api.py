"""JSON API for organisations, domains and tiers."""
from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from experts_service.core.routing import ApiBlueprint as Blueprint

from experts_service.core.auth import requires
from experts_service.core.transaction import commit
from experts_service.reference import operations
from experts_service.reference.schemas import (
    DomainInputSchema,
    DomainSchema,
    OrganisationInputSchema,
    OrganisationListQuerySchema,
    OrganisationOutSchema,
    OrganisationPageSchema,
    OrganisationUpdateSchema,
    TierInputSchema,
    TierSchema,
)

organisations = Blueprint("organisations_api", __name__, url_prefix="/organisations", description="单位")
domains = Blueprint("domains_api", __name__, url_prefix="/domains", description="领域")
tiers = Blueprint("tiers_api", __name__, url_prefix="/tiers", description="层次")
blueprints = (organisations, domains, tiers)


@organisations.route("")
class OrganisationCollection(MethodView):
    @requires("organisation.list")
    @organisations.arguments(OrganisationListQuerySchema, location="query")
    @organisations.response(200, OrganisationPageSchema)
    def get(self, query):
        """The directory of organisations (names only), searchable by name or alias."""
        page = operations.list_organisations(
            current_user, q=query.get("q"), type_=query.get("type"), page=query["page"], per_page=query["per_page"]
        )
        return {"items": page.items, "meta": page.meta}

    @requires("organisation.create")
    @organisations.arguments(OrganisationInputSchema)
    @organisations.response(201, OrganisationOutSchema)
    def post(self, data):
        """Register an organisation; refused (422) if its name or an alias is already taken or the parent is unknown."""
        organisation = operations.create_organisation(current_user, data)
        commit()
        return organisation


@organisations.route("/<id:organisation_id>")
class OrganisationItem(MethodView):
    @requires("organisation.read")
    @organisations.response(200, OrganisationOutSchema)
    def get(self, organisation_id: int):
        """Full record; a department sees only its own organisation and those below it."""
        return operations.get_organisation(current_user, organisation_id)

    @requires("organisation.update")
    @organisations.arguments(OrganisationUpdateSchema(partial=True))
    @organisations.response(200, OrganisationOutSchema)
    def patch(self, data, organisation_id: int):
        """Change an organisation; a department may change only its contact details (403), no change is 422."""
        organisation = operations.get_organisation(current_user, organisation_id, "organisation.update")
        operations.update_organisation(current_user, organisation, data)
        commit()
        return organisation


@domains.route("")
class DomainCollection(MethodView):
    @requires("domain.list")
    @domains.response(200, DomainSchema(many=True))
    def get(self):
        """Both levels of the domain taxonomy."""
        return operations.list_domains(current_user)

    @requires("domain.manage")
    @domains.arguments(DomainInputSchema)
    @domains.response(201, DomainSchema)
    def post(self, data):
        """Add a domain (two levels only); refused (422) on a used code or a same-named sibling."""
        domain = operations.create_domain(current_user, data)
        commit()
        return domain


@tiers.route("")
class TierCollection(MethodView):
    @requires("tier.list")
    @tiers.response(200, TierSchema(many=True))
    def get(self):
        """Tiers, highest first."""
        return operations.list_tiers(current_user)

    @requires("tier.manage")
    @tiers.arguments(TierInputSchema)
    @tiers.response(201, TierSchema)
    def post(self, data):
        """Add a tier; refused (422) if its code, name or rank is already used."""
        tier = operations.create_tier(current_user, data)
        commit()
        return tier
