"""flask experts import / export: the Excel roster from the command line."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from experts_service.core.errors import ServiceError
from experts_service.core.transaction import commit
from experts_service.experts.operations import ExpertFilters
from experts_service.experts.roster_excel import RosterFileError
from experts_service.experts.roster_import import (
    ImportReport,
    export_roster,
    import_roster,
    read_upload,
)

experts_group = AppGroup("experts", help="专家名册（Excel）导入与导出。")


def _print_report(report: ImportReport) -> None:
    # Row numbers and reasons only: this output often ends up in cron logs.
    for problem in report.problems:
        click.echo(f"第 {problem.row} 行：{'；'.join(problem.reasons)}", err=True)
    click.echo(f"共 {report.total} 行：有效 {report.valid} 行，错误 {len(report.problems)} 行。")


@experts_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="只检查，不导入")
@click.option("--strict", is_flag=True, help="有任何错误行则全部不导入")
def import_command(path: Path, dry_run: bool, strict: bool) -> None:
    """导入专家名册（.xlsx）：逐行检查，导入全部有效行；退出码 1 表示有行未导入。"""
    try:
        with path.open("rb") as handle:
            rows = read_upload(handle)
        report = import_roster(None, rows, dry_run=dry_run, strict=strict)
        if not dry_run:
            commit()
    except RosterFileError as error:
        click.echo(f"错误：{error}", err=True)
        sys.exit(1)
    except ServiceError as error:
        click.echo(f"错误：{error.message}，未导入任何记录", err=True)
        sys.exit(1)
    _print_report(report)
    if dry_run:
        click.echo(f"试运行：可导入 {report.importable} 行，未写入任何数据。")
    elif report.refused:
        click.echo("严格模式：存在错误行，未导入任何记录。")
    else:
        click.echo(f"已导入 {report.imported} 名专家。")
    if report.problems:
        sys.exit(1)


@experts_group.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--full-pii", is_flag=True, help="导出完整身份证号和手机号（记入审计日志）")
def export_command(path: Path, full_pii: bool) -> None:
    """导出专家名册（.xlsx）；身份证号和手机号默认脱敏。"""
    content, count = export_roster(None, ExpertFilters(), full_pii=full_pii)
    commit()  # the audit entry of the export
    path.write_bytes(content)
    click.echo(f"已导出 {count} 名专家到 {path}")
