"""API sign-in (exchange a password for a bearer token) and the administrator's user records."""
from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_login import current_user
from experts_service.core.routing import ApiBlueprint as Blueprint

from experts_service.accounts import operations
from experts_service.core.auth import requires
from experts_service.core.email_address import EMAIL_MAX_LENGTH
from experts_service.core.errors import NotAuthenticated
from experts_service.core.schemas import StrictSchema, Text
from experts_service.core.transaction import commit

blueprint = Blueprint("auth_api", __name__, url_prefix="/auth", description="登录与令牌")
users = Blueprint("users_api", __name__, url_prefix="/users", description="用户账户（系统管理员）")


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
    email = ma.fields.String(allow_none=True)


class UserOutSchema(MeSchema):
    active = ma.fields.Boolean()
    last_login_at = ma.fields.DateTime(allow_none=True)


class UserUpdateSchema(StrictSchema):
    # Format checked by the operation (one rule for pages, API and CLI); empty or null clears it.
    email = ma.fields.String(required=True, allow_none=True,
                             validate=ma.validate.Length(max=EMAIL_MAX_LENGTH,
                                                         error=f"邮箱不能超过 {EMAIL_MAX_LENGTH} 个字符"))


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


@users.route("/<id:user_id>")
class UserResource(MethodView):
    @requires("user.manage")
    @users.response(200, UserOutSchema)
    def get(self, user_id: int):
        """One user account with its role, organisation or expert link, e-mail and last sign-in."""
        return operations.get_user(user_id)

    @requires("user.manage")
    @users.arguments(UserUpdateSchema)
    @users.response(200, UserOutSchema)
    def patch(self, data, user_id: int):
        """Set or clear (`""` or null) the address mailed notifications go to."""
        user = operations.get_user(user_id)
        operations.set_email(current_user, user, data["email"])
        commit()
        return user
