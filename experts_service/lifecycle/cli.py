"""flask lifecycle run-daily: what falls due today, for cron."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from experts_service.extensions import db

lifecycle_group = AppGroup("lifecycle", help="专家全周期管理。")


@lifecycle_group.command("run-daily")
def run_daily_command() -> None:
    """关闭期满的公示，开启到期的续聘评审，聘期届满或超龄的专家退出，暂停期满的专家恢复资格，申诉期满的严重失信解聘。同一天重复运行不会重复处理。"""
    from experts_service.core.clock import today
    from experts_service.lifecycle.operations import run_daily

    report = run_daily()
    db.session.commit()
    click.echo(f"{today().isoformat()}：关闭公示 {report.notices_closed} 件，开启续聘评审 {report.renewals_opened} 件，"
               f"聘期届满退出 {report.term_exits} 人，超龄退出 {report.age_exits} 人；"
               f"开始暂停 {report.suspensions_started} 人，期满恢复 {report.reinstated} 人，"
               f"严重失信解聘 {report.integrity_dismissals} 人。")
    if not report.changed:
        click.echo("今日没有需要处理的事项。")
