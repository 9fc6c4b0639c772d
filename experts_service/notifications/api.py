"""JSON API: one's own inbox, and the mail queue for the talent office and the administrator."""
from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user

from experts_service.core.auth import requires
from experts_service.core.routing import ApiBlueprint as Blueprint
from experts_service.core.transaction import commit
from experts_service.notifications import operations
from experts_service.notifications.schemas import (
    MailOutSchema,
    MailPageSchema,
    MailQuerySchema,
    MarkedSchema,
    NotificationOutSchema,
    NotificationPageSchema,
    NotificationQuerySchema,
)

notifications = Blueprint("notifications_api", __name__, url_prefix="/notifications", description="我的消息")
mail = Blueprint("mail_messages_api", __name__, url_prefix="/mail-messages", description="邮件发送队列")
blueprints = (notifications, mail)


@notifications.route("")
class NotificationCollection(MethodView):
    @requires("notification.read")
    @notifications.arguments(NotificationQuerySchema, location="query")
    @notifications.response(200, NotificationPageSchema)
    def get(self, query):
        """The caller's own notifications, newest first (`unread=true`: unread only)."""
        page = operations.list_notifications(current_user, **query)
        return {"items": page.items, "meta": page.meta, "unread": operations.unread_count(current_user)}


@notifications.route("/<id:notification_id>/read", methods=["POST"])
@requires("notification.update")
@notifications.response(200, NotificationOutSchema)
def mark_read(notification_id: int):
    """Mark one of the caller's notifications read (again: no change)."""
    notification = operations.get_notification(current_user, notification_id, "notification.update")
    operations.mark_read(current_user, notification)
    commit()
    return notification


@notifications.route("/read-all", methods=["POST"])
@requires("notification.update")
@notifications.response(200, MarkedSchema)
def mark_all_read():
    """Mark every unread notification of the caller read."""
    marked = operations.mark_all_read(current_user)
    commit()
    return {"marked": marked}


@mail.route("")
class MailCollection(MethodView):
    @requires("mail.read")
    @mail.arguments(MailQuerySchema, location="query")
    @mail.response(200, MailPageSchema)
    def get(self, query):
        """The mail queue: queued and failed messages with their attempts and last error; addresses masked."""
        page = operations.list_mail(current_user, **query)
        return {"items": page.items, "meta": page.meta}


@mail.route("/<id:message_id>/retry", methods=["POST"])
@requires("mail.retry")
@mail.response(200, MailOutSchema)
def retry(message_id: int):
    """Queue a message again (a failed one with fresh attempts); 409 if it was sent or is being sent."""
    message = operations.get_mail(current_user, message_id, "mail.retry")
    operations.requeue_mail(current_user, message)
    commit()
    return message
