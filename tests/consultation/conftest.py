"""The API suite's HTTP session, for the tests here that go through the API as well."""
from __future__ import annotations

import pytest

from tests.api.helpers import ApiSession


@pytest.fixture
def http(live_server):
    session = ApiSession(live_server)
    yield session
    session.close()
