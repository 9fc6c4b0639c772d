"""flask lifecycle run-daily: what falls due today, for cron."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from experts_service.core.transaction import commit

lifecycle_group = AppGroup("lifecycle", help="专家全周期管理。")


@lifecycle_group.command("run-daily")
def run_daily_command() -> None:
    """关闭期满的公示，开启到期的续聘评审，聘期届满或超龄的专家退出，暂停期满的专家恢复资格，申诉期满的严重失信解聘。同一天重复运行不会重复处理。"""
    from experts_service.core.clock import today
    from experts_service.integrity.operations import DailyIntegrity, due_expert_ids, run_daily_for
    from experts_service.lifecycle.operations import run_daily

    day = today()
    report = run_daily()
    commit()
    # Sanctions after the terms and ages: an expert who left the pool today is not reinstated. One transaction
    # per expert, each taking that expert's lock before the audit log's.
    integrity = DailyIntegrity()
    for expert_id in due_expert_ids(day):
        integrity.add(run_daily_for(expert_id, day))
        commit()
    click.echo(f"{day.isoformat()}：关闭公示 {report.notices_closed} 件，开启续聘评审 {report.renewals_opened} 件，"
               f"聘期届满退出 {report.term_exits} 人，超龄退出 {report.age_exits} 人；"
               f"开始暂停 {integrity.suspensions_started} 人，期满恢复 {integrity.reinstated} 人，"
               f"严重失信解聘 {integrity.dismissed} 人。")
    if not report.changed and not any(integrity.__dict__.values()):
        click.echo("今日没有需要处理的事项。")
