"""flask assessment open YEAR / compute YEAR / show YEAR."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from experts_service.core.errors import ServiceError
from experts_service.core.transaction import commit
from experts_service.extensions import db

assessment_group = AppGroup("assessment", help="年度考核。")


def _cycle_or_exit(year: int):
    import sqlalchemy as sa

    from experts_service.assessment.models import AssessmentCycle

    cycle = db.session.execute(sa.select(AssessmentCycle).where(AssessmentCycle.year == year)).scalar_one_or_none()
    if cycle is None:
        click.echo(f"{year} 年度考核尚未开启", err=True)
        sys.exit(1)
    return cycle


def _summary(results) -> str:
    from experts_service.assessment.models import GRADE_ORDER

    counts = "，".join(f"{grade.label} {sum(r.grade is grade for r in results)} 人" for grade in GRADE_ORDER)
    return f"共 {len(results)} 人：{counts}"


@assessment_group.command("open")
@click.argument("year", type=int)
def open_command(year: int) -> None:
    """开启 YEAR 年度考核：确定考核范围，按现有记录试算，并通知专家提交自评。"""
    from experts_service.assessment.operations import open_cycle

    try:
        cycle = open_cycle(None, year)
        commit()
    except ServiceError as error:
        db.session.rollback()
        click.echo(error.page_message, err=True)
        sys.exit(1)
    click.echo(f"{year} 年度考核已开启。{_summary(cycle.results)}（试算，待审定）")


@assessment_group.command("compute")
@click.argument("year", type=int)
def compute_command(year: int) -> None:
    """按当前记录重新计算 YEAR 年度考核（审定前可反复运行，记录不变则结果不变）。"""
    from experts_service.assessment.operations import compute

    cycle = _cycle_or_exit(year)
    try:
        results = compute(None, cycle)
        commit()
    except ServiceError as error:
        db.session.rollback()
        click.echo(error.page_message, err=True)
        sys.exit(1)
    click.echo(f"{year} 年度考核已重新计算。{_summary(results)}")
