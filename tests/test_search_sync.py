"""The index follows the database: after commit, after a crash, across a killed rebuild."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from experts_service import search_bridge
from experts_service.core.outbox import SearchOutbox
from experts_service.experts.operations import update_expert
from experts_service.extensions import db
from search.index import BUILDING_SUFFIX


def _expert(factory, name: str, keywords: list[str]):
    """A profile whose only topical words are its keywords."""
    return factory.expert(name=name, keywords=keywords, bio="", achievements=[],
                          primary_domain_id=factory.domain_id("文物保护"), secondary_domain_ids=[])


def test_a_change_is_searchable_after_commit(app, factory):
    admin = factory.user("talent_office")
    expert = _expert(factory, "王敏", ["城市更新"])
    assert expert.id in search_bridge.text_relevance("城市更新试点")
    assert expert.id not in search_bridge.text_relevance("碳排放权交易")
    update_expert(admin, expert, {"keywords": ["碳排放权交易"]})
    db.session.commit()
    # Applied by the commit hook itself: the index is current before any search,
    # and an incremental update keeps the generation and its schema mark.
    generation = search_bridge.expert_index().current_generation()
    assert search_bridge.status()["lag"] == 0
    assert search_bridge.expert_index().has_term("words", "碳排放权交易")
    assert expert.id in search_bridge.text_relevance("碳排放权交易市场建设")
    assert expert.id not in search_bridge.text_relevance("城市更新试点")
    assert search_bridge.status()["schema_current"] is True
    assert search_bridge.expert_index().current_generation() == generation


def test_rollback_leaves_neither_outbox_rows_nor_index_changes(app, factory):
    admin = factory.user("talent_office")
    expert = _expert(factory, "李强", ["城市更新"])
    before = db.session.scalar(sa.select(sa.func.count(SearchOutbox.id)))
    update_expert(admin, expert, {"keywords": ["数字经济"]})
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(SearchOutbox.id))) == before
    assert expert.id in search_bridge.text_relevance("城市更新试点")
    assert expert.id not in search_bridge.text_relevance("数字经济")
    assert not search_bridge.expert_index().has_term("words", "数字经济")


def test_a_crash_after_commit_is_caught_up_by_the_next_drain(app, factory):
    admin = factory.user("talent_office")
    expert = _expert(factory, "赵磊", ["城市更新"])
    search_bridge.drain()
    # The process "dies" after the commit, before applying the outbox.
    app.config["SEARCH_SYNC_ON_COMMIT"] = False
    update_expert(admin, expert, {"keywords": ["乡村振兴"]})
    db.session.commit()
    report = search_bridge.status()
    assert report["lag"] > 0 and report["stale"] == [expert.id]
    # The next start (or search) catches up.
    assert search_bridge.drain() > 0
    report = search_bridge.status()
    assert report["lag"] == 0 and report["stale"] == [] and report["missing"] == []
    assert expert.id in search_bridge.text_relevance("乡村振兴示范")


def test_an_index_of_an_older_schema_is_rebuilt_before_it_answers(app, factory):
    expert = _expert(factory, "孙悦", ["城市更新"])
    index = search_bridge.expert_index()
    search_bridge.drain()
    old_generation = index.current_generation()
    # As an earlier release left it: no schema version in the generation's state.
    state_file = index.root / old_generation / "state.json"
    state_file.write_text('{"applied_outbox_id": %d}' % index.applied_outbox_id(), encoding="utf-8")
    assert search_bridge.status()["schema_current"] is False
    assert expert.id in search_bridge.text_relevance("城市更新试点")
    new_generation = index.current_generation()
    assert new_generation != old_generation
    assert search_bridge.status()["schema_current"] is True
    # A caller that waited behind that rebuild keeps it instead of building again.
    search_bridge.rebuild(unless_current=True)
    assert index.current_generation() == new_generation
    # An explicit reindex always builds a new generation.
    search_bridge.rebuild()
    assert index.current_generation() != new_generation


REBUILD_SCRIPT = textwrap.dedent("""
    import multiprocessing, sys, time
    from experts_service import create_app
    from experts_service import search_bridge
    import search.bulk as bulk_module
    import search.index as index_module
    app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SEARCH_INDEX_DIR": sys.argv[2],
                      "PII_ENCRYPTION_KEYS": sys.argv[3], "PII_HASH_KEY": "k", "SECRET_KEY": "s"})
    workers = int(sys.argv[4])
    index_module.REBUILD_BATCH = 1
    bulk_module.PARALLEL_MIN_DOCUMENTS = 0
    bulk_module.BATCH_SIZE = 1
    def slow(written):
        print("progress", written, *[child.pid for child in multiprocessing.active_children()], flush=True)
        time.sleep(0.2)   # long enough to be killed midway
    with app.app_context():
        search_bridge.rebuild(progress=slow, workers=workers)
    print("finished", flush=True)
""")


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed parent's children may wait unreaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_rebuild_leaves_the_index_answering(app, factory, tmp_path, workers):
    experts = [_expert(factory, f"专家{chr(0x4e00 + n)}", ["城市更新"]) for n in range(12)]
    search_bridge.drain()
    index_dir = Path(app.config["SEARCH_INDEX_DIR"])
    generation = search_bridge.expert_index().current_generation()
    expected = set(search_bridge.text_relevance("城市更新试点"))
    assert expected == {e.id for e in experts}

    script = tmp_path / "rebuild.py"
    script.write_text(REBUILD_SCRIPT, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script), app.config["SQLALCHEMY_DATABASE_URI"], str(index_dir),
         app.config["PII_ENCRYPTION_KEYS"], str(workers)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        line = process.stdout.readline()
        deadline = time.monotonic() + 60
        while not line.startswith("progress") and time.monotonic() < deadline:
            line = process.stdout.readline()
        assert line.startswith("progress"), "the rebuild never started"
        assert list(index_dir.glob(f"*{BUILDING_SUFFIX}")), "no rebuild in progress to kill"
        build_workers = [int(pid) for pid in line.split()[2:]]
        assert len(build_workers) == (workers if workers > 1 else 0)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    # Workers notice their parent is gone and stop (none left writing into the folder).
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in build_workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in build_workers)

    # Still the old generation, still the right answers.
    assert search_bridge.expert_index().current_generation() == generation
    assert set(search_bridge.text_relevance("城市更新试点")) == expected
    report = search_bridge.status()
    assert report["missing"] == [] and report["stale"] == [] and report["extra"] == []
    # The next rebuild clears the debris and swaps in a new generation.
    search_bridge.rebuild()
    assert not list(index_dir.glob(f"*{BUILDING_SUFFIX}"))
    assert search_bridge.expert_index().current_generation() != generation
    assert set(search_bridge.text_relevance("城市更新试点")) == expected


def test_cli_reindex_and_status(app, factory, runner):
    _expert(factory, "周杰", ["数字经济"])
    result = runner.invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output
    assert "完成：1 份专家档案" in result.output
    status = runner.invoke(args=["search", "status"])
    assert status.exit_code == 0, status.output
    assert "缺失 0，过期 0，多余 0" in status.output and "滞后 0 条" in status.output


def test_status_reports_a_stale_document(app, factory, runner):
    admin = factory.user("talent_office")
    expert = _expert(factory, "孙丽", ["数字经济"])
    search_bridge.drain()
    app.config["SEARCH_SYNC_ON_COMMIT"] = False
    update_expert(admin, expert, {"bio": "新的简介"})
    db.session.commit()
    status = runner.invoke(args=["search", "status"])
    assert status.exit_code == 1
    assert "过期 1" in status.output


@pytest.mark.parametrize("text", ["", "的 了 和", "研究"])
def test_a_query_with_nothing_selective_returns_no_hits(app, factory, text):
    _expert(factory, "吴刚", ["数字经济"])
    assert search_bridge.text_relevance(text) == {}
