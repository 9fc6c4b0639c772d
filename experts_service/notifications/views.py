"""Pages: 我的消息 (one's own inbox) and 邮件发送队列 (the mail queue, for the talent office and the administrator)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from experts_service.core.auth import can, requires
from experts_service.core.email_address import mask_email
from experts_service.core.errors import ServiceError
from experts_service.core.forms import CsrfOnlyForm, query_or_defaults
from experts_service.core.transaction import commit
from experts_service.extensions import db
from experts_service.notifications import operations
from experts_service.notifications.models import MailStatus
from experts_service.notifications.schemas import MailQuerySchema, NotificationQuerySchema

blueprint = Blueprint("notifications", __name__)

EXPIRED = "页面已过期，请刷新后重试"


@blueprint.app_context_processor
def inject_unread_count():
    # A callable: only pages that show the badge (every page for a signed-in user) ask.
    return {"unread_notifications": lambda: operations.unread_count(current_user)}


def _run(step, back: str):
    """Run one operation from a small action form; a refusal comes back as a flash message."""
    if not CsrfOnlyForm().validate_on_submit():
        flash(EXPIRED, "danger")
        return redirect(back)
    try:
        message, target = step()
        commit()
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(back)
    if message:
        flash(message, "success")
    return redirect(target or back)


# ---------------------------------------------------------------- the inbox


@blueprint.get("/notifications")
@requires("notification.read")
def inbox():
    query, errors = query_or_defaults(NotificationQuerySchema())
    if errors:
        flash("筛选条件无效，已显示全部消息", "warning")
    page = operations.list_notifications(current_user, **query)
    return render_template("notifications/inbox.html", page=page, unread_only=query["unread"],
                           unread=operations.unread_count(current_user), form=CsrfOnlyForm(),
                           safe_link=operations.safe_link)


@blueprint.post("/notifications/<id:notification_id>/read")
@requires("notification.update")
def mark_read(notification_id: int):
    def step():
        notification = operations.get_notification(current_user, notification_id, "notification.update")
        operations.mark_read(current_user, notification)
        return "已标记为已读", None

    return _run(step, url_for("notifications.inbox"))


@blueprint.post("/notifications/<id:notification_id>/open")
@requires("notification.update")
def open_notification(notification_id: int):
    """Mark read and go where the notification points (a path inside the service only)."""
    def step():
        notification = operations.get_notification(current_user, notification_id, "notification.update")
        operations.mark_read(current_user, notification)
        return None, operations.safe_link(notification.link)

    return _run(step, url_for("notifications.inbox"))


@blueprint.post("/notifications/read-all")
@requires("notification.update")
def mark_all_read():
    def step():
        marked = operations.mark_all_read(current_user)
        return (f"已将 {marked} 条消息标记为已读" if marked else "没有未读消息"), None

    return _run(step, url_for("notifications.inbox"))


# ---------------------------------------------------------------- the mail queue


@blueprint.get("/mail-queue")
@requires("mail.read")
def mail_queue():
    query, errors = query_or_defaults(MailQuerySchema())
    if errors:
        flash("筛选条件无效，已显示待发送和发送失败的邮件", "warning")
    page = operations.list_mail(current_user, **query)
    return render_template(
        "notifications/mail_queue.html", page=page, status=query.get("status"), statuses=list(MailStatus),
        all_statuses=operations.ALL_STATUSES, counts=operations.mail_counts(current_user),
        mail_enabled=bool(current_app.config["SMTP_HOST"]), can_retry=can(current_user, "mail.retry"),
        form=CsrfOnlyForm(), mask_email=mask_email,
    )


@blueprint.post("/mail-queue/<id:message_id>/retry")
@requires("mail.retry")
def retry_mail(message_id: int):
    def step():
        message = operations.get_mail(current_user, message_id, "mail.retry")
        operations.requeue_mail(current_user, message)
        return f"邮件 {message.id} 已重新加入发送队列", None

    return _run(step, url_for("notifications.mail_queue"))
