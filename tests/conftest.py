"""Shared fixtures: a real database per test (SQLite file or PostgreSQL),
the app, an HTTP client, a live server on loopback, and factories.

SQLite: the schema is built once through the migrations into a template
file, which each test copies. PostgreSQL (TEST_DATABASE_URL): the schema is
migrated once, and each test starts from emptied tables and fresh seed data.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import threading
from datetime import date

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from experts_service import create_app
from experts_service.config import normalise_database_url
from experts_service.core.auth import Role
from experts_service.core.idcard import check_digit
from experts_service.extensions import db

TEST_PASSWORD = "Test-pass-2026"
POSTGRES_URL = normalise_database_url(os.environ.get("TEST_DATABASE_URL") or "") or None

# Fixed per run so the template database and every test share keys.
TEST_KEYS = {
    "SECRET_KEY": "test-secret-key-not-for-production",
    "PII_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "PII_HASH_KEY": "test-hash-key",
}


def base_config(database_url: str) -> dict:
    return {
        **TEST_KEYS,
        "EXPERTS_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "SERVER_NAME": None,
    }


def seed(app) -> None:
    from experts_service.policy import seed_policy
    from experts_service.reference.seed import seed_reference_data

    with app.app_context():
        seed_reference_data()
        seed_policy()
        db.session.commit()


def migrate_to_head(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("instance")
    os.environ["EXPERTS_INSTANCE_PATH"] = str(path)
    return path


@pytest.fixture(scope="session")
def session_postgres_url():
    """A database of this test session's own on the TEST_DATABASE_URL server.

    Parallel runs (two developers, CI and a developer) never share tables.
    """
    if not POSTGRES_URL:
        yield None
        return
    name = f"{POSTGRES_URL.rsplit('/', 1)[1]}_run_{os.getpid()}"
    server = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture(scope="session")
def template_database(instance_dir, tmp_path_factory, session_postgres_url):
    """SQLite: a migrated, seeded file to copy. PostgreSQL: the migrated URL."""
    if session_postgres_url:
        app = create_app(base_config(session_postgres_url))
        migrate_to_head(app)
        with app.app_context():
            db.engine.dispose()
        return session_postgres_url
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    app = create_app(base_config(f"sqlite:///{path}"))
    migrate_to_head(app)
    seed(app)
    with app.app_context():
        # Fold the WAL into the main file so a plain copy carries everything.
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.commit()
        db.engine.dispose()
    return path


def _empty_postgres(app) -> None:
    with app.app_context():
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        db.session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture
def database_url(template_database, tmp_path):
    if POSTGRES_URL:
        return template_database
    target = tmp_path / "test.sqlite3"
    shutil.copyfile(template_database, target)
    return f"sqlite:///{target}"


class FreshContextClient(FlaskClient):
    """Each request gets its own app context, `g` and session, as in production.

    Without this, requests would reuse the test's open app context and share
    `g` (cached policy, CSRF token) across requests.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({**base_config(database_url), "SEARCH_INDEX_DIR": str(tmp_path / "search")})
    app.test_client_class = FreshContextClient
    if POSTGRES_URL:
        _empty_postgres(app)
        seed(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def unguarded_audit_log(app):
    """Drops the append-only triggers, as an intruder with DDL rights would, and puts them back.

    On PostgreSQL the schema outlives the test, so later tests need the guard again.
    """
    from experts_service.core import audit

    postgres = db.engine.dialect.name == "postgresql"
    for statement in audit.POSTGRES_GUARD_DROP if postgres else audit.SQLITE_GUARD_DROP:
        db.session.execute(sa.text(statement))
    db.session.commit()
    yield
    db.session.rollback()
    for statement in audit.POSTGRES_GUARD if postgres else audit.SQLITE_GUARD:
        db.session.execute(sa.text(statement))
    db.session.commit()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_server(app):
    """The app on a real loopback port, in a thread, for HTTP and browser tests."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short shutdown poll: the default 0.5 s would be added to every test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


# ---------------------------------------------------------------- factories

_sequence = itertools.count(1)


def valid_id_number(birth: date = date(1975, 6, 15), region: str = "330102", sequence: int | None = None,
                    male: bool = True) -> str:
    seq = sequence if sequence is not None else next(_sequence) % 500
    seq_digits = seq * 2 + (1 if male else 0)  # the third digit's parity carries sex
    first17 = f"{region}{birth:%Y%m%d}{seq_digits % 1000:03d}"
    return first17 + check_digit(first17)


class Factory:
    """Builds records through the real operations (actor None = system)."""

    def __init__(self, app):
        self.app = app

    def domain_id(self, name: str) -> int:
        from experts_service.reference.models import Domain

        return db.session.execute(sa.select(Domain.id).where(Domain.name == name)).scalar_one()

    def tier_id(self, code: str = "general") -> int:
        from experts_service.reference.models import Tier

        return db.session.execute(sa.select(Tier.id).where(Tier.code == code)).scalar_one()

    def organisation(self, name: str | None = None, type_: str = "university", **extra):
        from experts_service.reference.operations import create_organisation

        data = {"name": name or f"测试单位{next(_sequence)}", "type": type_, "aliases": [], **extra}
        if type_ == "government":
            data.setdefault("system", "发展改革")
        org = create_organisation(None, data)
        db.session.commit()
        return org

    def expert_payload(self, **overrides) -> dict:
        employer_id = overrides.pop("employer_id", None) or self.organisation().id
        payload = {
            "name": "张伟",
            "id_number": valid_id_number(),
            "mobile": f"139{next(_sequence):08d}",
            "employer_id": employer_id,
            "position": "教授",
            "title_level": "senior",
            "title_name": "教授",
            "years_in_field": 20,
            "political_affiliation": "cpc",
            "primary_domain_id": self.domain_id("城乡规划"),
            "secondary_domain_ids": [self.domain_id("城市治理")],
            "keywords": ["国土空间规划", "城市更新"],
            "bio": "长期从事城市规划研究。",
            "achievements": [{"kind": "publication", "title": "城市更新的理论与实践"}],
            "tier_id": self.tier_id("general"),
        }
        payload.update(overrides)
        return payload

    def expert(self, **overrides):
        from experts_service.experts.operations import create_expert
        from experts_service.experts.schemas import ExpertInputSchema

        data = ExpertInputSchema().load(self.expert_payload(**overrides))
        expert = create_expert(None, data)
        db.session.commit()
        return expert

    def user(self, role: Role | str, username: str | None = None, **extra):
        from experts_service.accounts.operations import create_user

        role = Role(role)
        if role is Role.DEPARTMENT and "organisation_id" not in extra:
            extra["organisation_id"] = self.organisation(type_="government").id
        if role is Role.EXPERT and "expert_id" not in extra:
            extra["expert_id"] = self.expert().id
        user = create_user(None, username=username or f"{role.value}{next(_sequence)}", password=TEST_PASSWORD,
                           display_name=f"测试{role.label}", role=role, **extra)
        db.session.commit()
        return user


@pytest.fixture
def factory(app):
    return Factory(app)


CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token_from(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


def login(client, username: str, password: str = TEST_PASSWORD):
    page = client.get("/login")
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def login_as(client, factory):
    """login_as(role) -> the signed-in User (on the shared test client)."""

    def _login(role: Role | str, **extra):
        user = factory.user(role, **extra)
        response = login(client, user.username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user

    return _login


def api_token(base_url: str, username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    import requests

    response = requests.post(f"{base_url}/api/v1/auth/token", json={"username": username, "password": password},
                             timeout=10)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
