"""flask panels verify-draw ID."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from experts_service.extensions import db

panels_group = AppGroup("panels", help="论证专家推荐与随机抽取。")

# Exit codes: 0 verified, 1 does not match, 2 no such draw.
EXIT_MISMATCH = 1
EXIT_NOT_A_DRAW = 2


@panels_group.command("verify-draw")
@click.argument("recommendation_id", type=click.IntRange(min=1))
def verify_draw_command(recommendation_id: int) -> None:
    """按记录中的输入、候选池、种子和算法版本重新抽取，并与公布的结果比对。"""
    from experts_service.panels.models import Recommendation, RecommendationKind
    from experts_service.panels.operations import verify_draw

    record = db.session.get(Recommendation, recommendation_id)
    if record is None or record.kind is not RecommendationKind.RANDOM_DRAW:
        click.echo(f"错误：记录 {recommendation_id} 不存在或不是随机抽取记录", err=True)
        sys.exit(EXIT_NOT_A_DRAW)
    outcome = verify_draw(record)
    click.echo(f"记录 {record.id}（算法 {record.algorithm_version}，候选池 {len(record.pool or [])} 名）")
    click.echo(f"承诺：{record.seed_hash}")
    click.echo(f"种子：{record.seed or '未公开'}")
    if outcome.ok:
        click.echo(f"一致：重新抽取的结果与记录相同（入选 {', '.join(map(str, record.result['panel']))}）")
        return
    click.echo("不一致：", err=True)
    for problem in outcome.problems:
        click.echo(f"  - {problem}", err=True)
    sys.exit(EXIT_MISMATCH)
