"""flask consultation expire-invitations."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from experts_service.core.transaction import commit

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
