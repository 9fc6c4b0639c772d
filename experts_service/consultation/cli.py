"""flask consultation expire-invitations, chase-ratings."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from experts_service.core.errors import ServiceError
from experts_service.core.transaction import commit
from experts_service.extensions import db

consultation_group = AppGroup("consultation", help="论证邀请与组织。")


@consultation_group.command("expire-invitations")
def expire_invitations_command() -> None:
    """逾期未答复的邀请视为谢绝，并按规则递补下一位专家（建议每小时运行）。"""
    from experts_service.consultation.operations import expire, overdue_invitation_ids

    expired = 0
    for invitation_id in overdue_invitation_ids():
        # One transaction per invitation: each takes its panel's lock, then the audit log's.
        expired += expire(invitation_id) is not None
        commit()
    click.echo(f"逾期视为谢绝 {expired} 份邀请")


@consultation_group.command("chase-ratings")
def chase_ratings_command() -> None:
    """催评：逾期未评价的专家提醒承办部门（同一论证在催评间隔内只提醒一次），逾期过久的报人才工作部门（建议每日运行）。"""
    from experts_service.consultation.todo import chase_department, overdue_by_department

    overdue = overdue_by_department()
    db.session.rollback()  # the read ends here: each department is its own transaction
    outcomes, failed = [], []
    for organisation_id, refs in sorted(overdue.items()):
        # One transaction per department: its row's lock, then the audit log's.
        try:
            outcomes.append(chase_department(organisation_id, refs))
            commit()
        except (ServiceError, SQLAlchemyError) as error:
            db.session.rollback()
            failed.append(organisation_id)
            click.echo(f"错误：单位 {organisation_id} 催评未完成：{getattr(error, 'message', error)}", err=True)
    told = [o for o in outcomes if o.chased]
    click.echo(f"逾期未评价 {sum(len(refs) for refs in overdue.values())} 人次，涉及 {len(overdue)} 个部门")
    click.echo(f"已催办 {len(told)} 个部门的 {sum(len(o.chased) for o in told)} 次论证"
               f"（通知 {sum(o.recipients for o in told)} 个账户）；"
               f"催办间隔内已提醒、本次跳过 {sum(len(o.recently_chased) for o in outcomes)} 次论证")
    click.echo(f"报人才工作部门 {sum(len(o.escalated) for o in outcomes)} 次论证")
    unreachable = [o.organisation_id for o in outcomes if o.unreachable]
    if unreachable:
        click.echo(f"注意：{len(unreachable)} 个部门没有可接收通知的账户：{'、'.join(map(str, unreachable))}", err=True)
    if failed:
        sys.exit(1)
