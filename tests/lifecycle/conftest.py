"""The API suite's HTTP fixtures, for the lifecycle's end-to-end tests."""
from tests.api.conftest import http, sign_in  # noqa: F401
