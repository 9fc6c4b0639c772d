"""flask search reindex | status (eval lives in search_eval)."""
from __future__ import annotations

import sys
import time

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from experts_service.extensions import db

search_group = AppGroup("search", help="全文检索索引。")


@search_group.command("reindex")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="并行建索引的进程数（默认每个处理器核心一个）")
def reindex(workers: int | None) -> None:
    """重建全文索引（在旁边建好后原子替换，重建中途中断不影响查询）。"""
    from experts_service.experts.models import Expert
    from experts_service.search_bridge import rebuild
    from search.bulk import default_workers

    total = db.session.execute(sa.select(sa.func.count(Expert.id))).scalar_one()
    db.session.remove()
    started = time.perf_counter()
    with click.progressbar(length=total, label="重建索引", show_pos=True) as bar:
        done = {"count": 0}

        def progress(written: int) -> None:
            bar.update(written - done["count"])
            done["count"] = written

        result = rebuild(progress=progress, workers=workers or default_workers())
    click.echo(f"完成：{result['documents']} 份专家档案，用时 {time.perf_counter() - started:.1f} 秒，"
               f"索引版本 {result['generation']}")


@search_group.command("status")
def status() -> None:
    """比较索引与数据库，显示缺失、过期和滞后。"""
    from experts_service.search_bridge import status as index_status

    report = index_status()
    db.session.remove()
    if not report["exists"]:
        click.echo(f"索引尚未建立（数据库中有 {report['database_experts']} 名专家）：请运行 flask search reindex", err=True)
        sys.exit(1)
    click.echo(f"索引版本：{report['generation']}")
    click.echo(f"索引文档：{report['documents']}；数据库专家：{report['database_experts']}")
    click.echo(f"缺失 {len(report['missing'])}，过期 {len(report['stale'])}，多余 {len(report['extra'])}")
    click.echo(f"已应用变更至 {report['applied_outbox_id']}，最新变更 {report['outbox_newest']}，滞后 {report['lag']} 条")
    if not report["schema_current"]:
        click.echo("索引由旧版本建立，下次搜索或同步时将自动重建（或运行 flask search reindex）")
    if report["missing"] or report["stale"] or report["extra"] or not report["schema_current"]:
        sys.exit(1)


def _register_eval() -> None:
    from experts_service.search_eval import eval_command

    search_group.add_command(eval_command)


_register_eval()
