"""Migrations build the whole schema from nothing and match the models."""
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from experts_service import create_app
from experts_service.extensions import db
from tests.conftest import POSTGRES_URL, base_config


@pytest.fixture
def empty_database_url(tmp_path, instance_dir):
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"migrations_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _drift() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


@pytest.fixture
def empty_app(empty_database_url):
    app = create_app(base_config(empty_database_url))
    yield app
    with app.app_context():
        # Also after a failed assertion: a leaked connection would warn later.
        db.session.remove()
        db.engine.dispose()


def test_upgrade_from_empty_then_no_drift_then_downgrade(empty_app):
    app = empty_app
    runner = app.test_cli_runner()
    with app.app_context():
        assert sa.inspect(db.engine).get_table_names() == []
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} <= tables
        result = runner.invoke(args=["db", "check"])
        assert result.exit_code == 0, result.output
        assert _drift() == []
        # The check can fail: a column the models do not know is drift.
        with db.engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE tiers ADD COLUMN stray INTEGER"))
        assert _drift() != []
        assert runner.invoke(args=["db", "check"]).exit_code != 0
        with db.engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE tiers DROP COLUMN stray"))
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()


def test_flask_init_is_idempotent(empty_app):
    app = empty_app
    runner = app.test_cli_runner()
    env = {"EXPERTS_ADMIN_PASSWORD": "Admin-pass-2026!"}
    first = runner.invoke(args=["init"], env=env)
    assert first.exit_code == 0, first.output
    assert "新增领域 46 个" in first.output and "已创建管理员" in first.output
    second = runner.invoke(args=["init"], env=env)
    assert second.exit_code == 0, second.output
    assert "新增领域 0 个" in second.output and "已有管理员账户" in second.output


def test_upgrade_keeps_rows_of_rebuilt_tables_and_their_references(empty_app):
    """0006 rebuilds panel_requests on SQLite (new checks); rows and the rows referencing them survive."""
    app = empty_app
    with app.app_context():
        upgrade(revision="0005")
        stamp = "2026-12-04 00:00:00"
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO organisations (id, name, name_key, type, system, is_active, created_at, updated_at) "
                "VALUES (900, '江海市测试局', '江海市测试局', 'government', '测试', true, :t, :t)"), {"t": stamp})
            connection.execute(sa.text(
                "INSERT INTO decision_items (id, title, description, category, keywords, organisation_id, "
                "confidential, created_at, updated_at) VALUES (900, '事项', '', 'livelihood', '[]', 900, false, :t, :t)"),
                {"t": stamp})
            connection.execute(sa.text(
                "INSERT INTO panel_requests (id, item_id, mode, seats, min_senior_members, meeting_date, "
                "meeting_place, selection_method, status, note, created_at, updated_at) VALUES "
                "(900, 900, 'meeting', 5, 1, '2026-12-20', '会议室', 'recommend', 'recommended', '', :t, :t)"),
                {"t": stamp})
            connection.execute(sa.text(
                "INSERT INTO recommendations (id, panel_request_id, kind, created_at, policy_version, "
                "algorithm_version, inputs, candidates, filtered, result) VALUES "
                "(900, 900, 'recommend', :t, 1, 'test', '{}', '[]', '{}', '{\"panel\": []}')"), {"t": stamp})
        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT status FROM panel_requests WHERE id = 900")).scalar_one() \
                == "recommended"
            assert connection.execute(sa.text(
                "SELECT panel_request_id FROM recommendations WHERE id = 900")).scalar_one() == 900
            if connection.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        # The new states are allowed, and the checks that came with them hold.
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE panel_requests SET status = 'cancelled' WHERE id = 900"))
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE panel_requests SET status = 'nonsense' WHERE id = 900"))
