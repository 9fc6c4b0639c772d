"""The request boundary for refused lifecycle steps.

An illegal transition leaves nothing behind but one audit entry saying it
was refused: the transaction is rolled back (the operation changed nothing
before it refused, and any earlier step of the same request goes too), then
the refusal is appended and committed on its own.
"""
from __future__ import annotations

from flask import Flask

from experts_service.core import audit
from experts_service.core.errors import error_body
from experts_service.extensions import db
from experts_service.lifecycle.states import IllegalTransition


def record_refusal(actor, error: IllegalTransition) -> None:
    db.session.rollback()
    actor_id = getattr(actor, "id", None) if getattr(actor, "is_authenticated", False) else None
    audit.record(actor if actor_id else None, "lifecycle.refused", error.object_type, error.object_id,
                 attempted=error.action, state=error.state, message=error.message)
    db.session.commit()


def install(app: Flask) -> None:
    from flask import jsonify, render_template
    from flask_login import current_user

    from experts_service.core.errors import is_api_request

    @app.errorhandler(IllegalTransition)
    def _refused(error: IllegalTransition):
        record_refusal(current_user, error)
        if is_api_request():
            return jsonify(error_body(error.code, error.message)), error.status
        return render_template("error.html", status=error.status, message=error.message), error.status
