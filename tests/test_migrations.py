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
