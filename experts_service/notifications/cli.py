"""flask notifications send | retry: drain the mail queue (for cron), queue failed mail again."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from experts_service.core.errors import ServiceError
from experts_service.extensions import db

notifications_group = AppGroup("notifications", help="站内消息与邮件通知。")


@notifications_group.command("send")
def send_command() -> None:
    """发送到期的待发送邮件（每封每次运行至多尝试一次）。"""
    from experts_service.notifications.mail import drain

    report = drain()
    if report.disabled:
        click.echo(f"未配置邮件服务器（SMTP_HOST），未发送；队列中待发送 {report.still_queued} 封。")
        return
    click.echo(f"已发送 {report.sent} 封，发送失败待重试 {report.retrying} 封，"
               f"达到重试上限或被拒收 {report.failed} 封；队列中仍有待发送 {report.still_queued} 封。")
    if report.unreachable:
        click.echo("邮件服务器无法连接，其余邮件留待下次发送。", err=True)
    if report.lost_claims:
        click.echo(f"有 {report.lost_claims} 封邮件的发送结果未能记录（已被其他发送进程接管）。", err=True)
    if report.unreachable or report.lost_claims:
        sys.exit(1)  # cron mails its owner: the queue is not draining


@notifications_group.command("retry")
@click.argument("message_ids", nargs=-1, type=click.IntRange(1))
@click.option("--failed", "all_failed", is_flag=True, help="重新发送所有发送失败的邮件")
def retry_command(message_ids: tuple[int, ...], all_failed: bool) -> None:
    """将邮件重新加入发送队列（发送失败的重新计算尝试次数）；记入审计日志。"""
    from experts_service.notifications.operations import get_mail, requeue_failed, requeue_mail

    if bool(message_ids) == all_failed:
        click.echo("错误：请给出邮件编号，或使用 --failed（二者选一）", err=True)
        sys.exit(2)
    try:
        if all_failed:
            requeued = [message.id for message in requeue_failed(None)]
        else:
            requeued = [requeue_mail(None, get_mail(None, message_id)).id for message_id in message_ids]
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        click.echo(f"错误：{error.message}", err=True)
        sys.exit(1)
    if requeued:
        click.echo(f"已重新加入发送队列 {len(requeued)} 封：{'、'.join(map(str, requeued))}")
    else:
        click.echo("没有发送失败的邮件。")
