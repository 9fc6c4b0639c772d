"""experts-service: the decision-consultation expert pool (决策咨询论证专家库)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, request

from experts_service.config import build_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    instance_path = os.environ.get("EXPERTS_INSTANCE_PATH") or str(PROJECT_ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=instance_path,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(build_config(app.instance_path, config))
    _use_orjson(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    register_extensions(app)
    register_blueprints(app)
    register_errors(app)
    register_cli(app)
    register_request_hooks(app)
    register_template_helpers(app)
    return app


def _use_orjson(app: Flask) -> None:
    from experts_service.core.jsoncodec import OrjsonProvider, dumps_for_column, loads_from_column

    app.json = OrjsonProvider(app)
    # Set here, not in config: a caller's own engine options keep it.
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("json_serializer", dumps_for_column)
    options.setdefault("json_deserializer", loads_from_column)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def register_extensions(app: Flask) -> None:
    from experts_service.core.routing import IdConverter
    from experts_service.extensions import JsonErrorApi, csrf, db, login_manager, migrate

    # Before any route is added: ids in paths are bounded like the columns.
    app.url_map.converters["id"] = IdConverter

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    api = JsonErrorApi(app)
    api.register_converter(IdConverter, IdConverter.openapi_schema)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    app.extensions["smorest_api"] = api
    # Import every model so metadata is complete for create_all and autogenerate.
    import experts_service.models  # noqa: F401
    from experts_service.search_bridge import install as install_search_sync

    install_search_sync()
    from experts_service.notifications.mail import install as install_mail_after_commit

    install_mail_after_commit()

    from experts_service.accounts.auth import configure_login

    configure_login(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _configure_sqlite(app)


def _configure_sqlite(app: Flask) -> None:
    from sqlalchemy import event

    from experts_service.extensions import db

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def register_blueprints(app: Flask) -> None:
    from experts_service.accounts.views import blueprint as accounts_views
    from experts_service.admin.views import blueprint as admin_views
    from experts_service.experts.api import blueprint as experts_api
    from experts_service.experts.roster_api import blueprint as roster_api
    from experts_service.experts.views import blueprint as experts_views
    from experts_service.experts.roster_views import blueprint as roster_views
    from experts_service.extensions import csrf
    from experts_service.main_views import blueprint as main_views
    from experts_service.reference.api import blueprints as reference_api
    from experts_service.reference.views import blueprint as reference_views
    from experts_service.accounts.api import blueprint as accounts_api
    from experts_service.accounts.api import users as users_api
    from experts_service.panels.api import blueprints as panels_api
    from experts_service.panels.views import blueprint as panels_views
    from experts_service.lifecycle.api import blueprints as lifecycle_api
    from experts_service.consultation.api import blueprints as consultation_api
    from experts_service.consultation.views import blueprint as consultation_views
    from experts_service.lifecycle.views import blueprint as lifecycle_views
    from experts_service.notifications.api import blueprints as notifications_api
    from experts_service.notifications.views import blueprint as notifications_views
    from experts_service.consultation.todo_api import blueprints as todo_api
    from experts_service.consultation.todo_views import blueprint as todo_views
    from experts_service.consultation.report_api import blueprints as report_api
    from experts_service.consultation.report_views import blueprint as report_views
    from experts_service.reports.views import blueprint as statistics_views
    from experts_service.integrity.api import blueprints as integrity_api
    from experts_service.integrity.views import blueprint as integrity_views
    from experts_service.assessment.api import blueprints as assessment_api
    from experts_service.assessment.views import blueprint as assessment_views

    for blueprint in (main_views, accounts_views, roster_views, experts_views, reference_views, admin_views,
                      panels_views, lifecycle_views, notifications_views, consultation_views, todo_views,
                      report_views):
        app.register_blueprint(blueprint)
    app.register_blueprint(statistics_views)
    app.register_blueprint(integrity_views)
    app.register_blueprint(assessment_views)
    api = app.extensions["smorest_api"]
    for blueprint in (accounts_api, users_api, roster_api, experts_api, *reference_api, *panels_api,
                      *lifecycle_api, *consultation_api, *notifications_api, *todo_api,
                      *report_api, *integrity_api, *assessment_api):
        # API CSRF is enforced in accounts.auth for cookie sessions only;
        # bearer-token clients carry no ambient credentials.
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint, url_prefix=f"/api/v1{blueprint.url_prefix or ''}")


def register_errors(app: Flask) -> None:
    from experts_service.core.errors import register_errors as register

    register(app)
    from experts_service.lifecycle.boundary import install as install_refusals

    install_refusals(app)


def register_cli(app: Flask) -> None:
    from experts_service.cli import register_commands

    register_commands(app)


def register_request_hooks(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    logging.getLogger("experts_service").setLevel(logging.INFO)


def register_template_helpers(app: Flask) -> None:
    from experts_service.core.templating import install

    install(app)
