"""The API client fixtures of tests/api, for the auth endpoints' tests."""

from tests.api.conftest import alice, anon, bob, fresh_throttles, root  # noqa: F401
