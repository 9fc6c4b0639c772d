"""Fixtures for the API suite (real HTTP against `live_server`)."""
from __future__ import annotations

import pytest

from tests.api.helpers import ApiSession
from tests.conftest import api_token


@pytest.fixture
def http(live_server):
    """One HTTP session per test, closed afterwards (unclosed sockets would warn, and warnings are errors)."""
    session = ApiSession(live_server)
    yield session
    session.close()


@pytest.fixture
def sign_in(live_server, factory):
    """sign_in(role, **user_fields) -> (user, bearer header): a new user of that role and its API token."""

    def _sign_in(role, **extra):
        user = factory.user(role, **extra)
        return user, api_token(live_server, user.username)

    return _sign_in
