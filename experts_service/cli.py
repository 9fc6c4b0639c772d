"""flask commands: init, demo, audit verify, users."""
from __future__ import annotations

import secrets
import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from experts_service.core.auth import Role
from experts_service.core.errors import ServiceError
from experts_service.extensions import db


def _fail(error: ServiceError) -> None:
    click.echo(f"错误：{error.message}", err=True)
    for field, messages in error.fields.items():
        click.echo(f"  {field}: {'；'.join(map(str, messages))}", err=True)
    sys.exit(1)


def register_commands(app: Flask) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(audit_group)
    app.cli.add_command(users_group)
    from experts_service.search_cli import search_group

    app.cli.add_command(search_group)
    from experts_service.panels.cli import panels_group

    app.cli.add_command(panels_group)
    from experts_service.consultation.cli import consultation_group

    app.cli.add_command(consultation_group)
    from experts_service.lifecycle.cli import lifecycle_group

    app.cli.add_command(lifecycle_group)
    from experts_service.experts.roster_cli import experts_group

    app.cli.add_command(experts_group)
    from experts_service.notifications.cli import notifications_group

    app.cli.add_command(notifications_group)
    from experts_service.assessment.cli import assessment_group

    app.cli.add_command(assessment_group)


def upgrade_and_seed() -> dict:
    """Create or upgrade the schema, then add reference data and policy if missing."""
    from flask_migrate import upgrade

    from experts_service.policy import seed_policy
    from experts_service.reference.seed import seed_reference_data

    upgrade()
    added = seed_reference_data()
    added["policy"] = int(seed_policy())
    db.session.commit()
    return added


@click.command("init")
@with_appcontext
@click.option("--admin-username", default="admin", show_default=True)
@click.option("--admin-password", envvar="EXPERTS_ADMIN_PASSWORD", help="默认随机生成并打印")
def init_command(admin_username: str, admin_password: str | None) -> None:
    """创建或升级数据库，写入领域、层次和规则默认值，并创建管理员。"""
    from experts_service.accounts.models import User
    from experts_service.accounts.operations import create_user

    added = upgrade_and_seed()
    click.echo(f"数据库已就绪：新增领域 {added['domains']} 个，层次 {added['tiers']} 个，规则版本 {added['policy']} 个")
    if db.session.execute(sa.select(User.id).where(User.role == Role.ADMIN)).first():
        click.echo("已有管理员账户，未新建。")
        return
    password = admin_password or _generated_password()
    try:
        create_user(None, username=admin_username, password=password, display_name="系统管理员", role=Role.ADMIN)
    except ServiceError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"已创建管理员：{admin_username}")
    if not admin_password:
        click.echo(f"初始密码：{password}（请登录后修改）")


def _generated_password() -> str:
    # Meets the password rules: mixed case, digit and symbol guaranteed.
    return f"Ex-{secrets.token_urlsafe(12)}9a"


@click.command("demo")
@with_appcontext
@click.option("--experts", "expert_count", default=320, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=20261123, show_default=True, type=int)
def demo_command(expert_count: int, seed: int) -> None:
    """载入演示数据（幂等：已载入则只打印登录信息）。"""
    from experts_service.demo import DEMO_PASSWORD, demo_logins, load_demo

    upgrade_and_seed()
    loaded = load_demo(expert_count=expert_count, seed=seed)
    db.session.commit()
    if loaded:
        click.echo(f"已载入演示数据：专家 {loaded['experts']} 名，单位 {loaded['organisations']} 个，"
                   f"决策事项 {loaded['decision_items']} 项（论证申请 {loaded['panel_requests']} 个，"
                   f"书面意见 {loaded['opinions']} 份）")
    else:
        click.echo("演示数据已存在，未重复载入。")
    click.echo("")
    click.echo("演示账户（所有账户密码相同）：")
    for role_label, username in demo_logins():
        click.echo(f"  {username:<12} {role_label}")
    click.echo(f"  密码：{DEMO_PASSWORD}")


audit_group = AppGroup("audit", help="审计日志。")


@audit_group.command("verify")
def audit_verify() -> None:
    """校验审计日志的哈希链，报告第一条被篡改的记录。"""
    from experts_service.core.audit import verify

    result = verify()
    if result.ok:
        click.echo(f"审计日志完整：共校验 {result.checked} 条。")
        return
    click.echo(
        f"审计日志被篡改：第一条异常记录 序号 {result.broken_seq}（id {result.broken_id}）：{result.reason}；"
        f"此前 {result.checked} 条完好。",
        err=True,
    )
    sys.exit(1)


users_group = AppGroup("users", help="用户账户。")


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", required=True)
@click.option("--organisation-id", type=int)
@click.option("--expert-id", type=int)
@click.option("--email", help="接收通知邮件的邮箱（选填）")
@click.password_option(envvar="EXPERTS_NEW_USER_PASSWORD")
def users_create(username, role, display_name, organisation_id, expert_id, email, password) -> None:
    """创建用户。"""
    from experts_service.accounts.operations import create_user

    try:
        create_user(None, username=username, password=password, display_name=display_name, role=Role(role),
                    organisation_id=organisation_id, expert_id=expert_id, email=email)
    except ServiceError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"已创建用户 {username}")


@users_group.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """解除登录锁定。"""
    from experts_service.accounts.models import User
    from experts_service.core import audit

    user = db.session.execute(sa.select(User).where(User.username == username)).scalar()
    if user is None:
        click.echo("错误：用户不存在", err=True)
        sys.exit(1)
    user.locked_until = None
    user.failed_logins = 0
    audit.record(None, "user.unlock", "user", user.id, username=username)
    db.session.commit()
    click.echo(f"已解除 {username} 的锁定")
