"""Flask extension instances, bound to the app in create_app.

The flask-smorest Api is made per app (see create_app): it keeps the app
and its OpenAPI spec on itself, so one shared instance would mix apps.
"""
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from experts_service.core.api_docs import ErrorEnvelopeSchema
from experts_service.core.db import Base


class JsonErrorApi(Api):
    """flask-smorest Api that leaves error handling to core.errors.

    The stock handler answers every HTTPException of the whole app as JSON,
    which would turn the HTML pages' 403/404 into JSON too.
    """

    ERROR_SCHEMA = ErrorEnvelopeSchema

    def _register_error_handlers(self):
        pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
