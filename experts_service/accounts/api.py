"""API sign-in: exchange a password for a bearer token."""
from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_login import current_user
from experts_service.core.routing import ApiBlueprint as Blueprint

from experts_service.accounts import operations
from experts_service.core.errors import NotAuthenticated
from experts_service.core.schemas import StrictSchema, Text
from experts_service.core.transaction import commit

blueprint = Blueprint("auth_api", __name__, url_prefix="/auth", description="登录与令牌")


class TokenRequestSchema(StrictSchema):
    username = Text(60, required=True)
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=200))


class TokenSchema(ma.Schema):
    token = ma.fields.String()
    expires_at = ma.fields.DateTime()


class MeSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.Function(lambda u: u.role.value)
    organisation_id = ma.fields.Integer(allow_none=True)
    expert_id = ma.fields.Integer(allow_none=True)


@blueprint.route("/token")
class TokenResource(MethodView):
    @blueprint.arguments(TokenRequestSchema)
    @blueprint.response(201, TokenSchema)
    def post(self, data):
        """Sign in; the same lockout applies as on the login page."""
        outcome = operations.authenticate(data["username"], data["password"])
        if not outcome.ok:
            commit()  # keep the failure count and the audit entry
            raise NotAuthenticated(outcome.message)
        token, row = operations.issue_token(outcome.user)
        commit()
        return {"token": token, "expires_at": row.expires_at}

    @blueprint.response(204)
    def delete(self):
        """Revoke the bearer token this request carries."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if not current_user.is_authenticated or scheme.lower() != "bearer":
            raise NotAuthenticated()
        operations.revoke_token(current_user, token.strip())
        commit()


@blueprint.route("/me")
class MeResource(MethodView):
    @blueprint.response(200, MeSchema)
    def get(self):
        """Who this request is signed in as."""
        if not current_user.is_authenticated:
            raise NotAuthenticated()
        return current_user
