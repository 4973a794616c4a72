"""Login and registration throttles count the real client, and each account tried.

The client is REMOTE_ADDR unless API_NUM_PROXIES proxies are configured: a header the
client writes itself (X-Forwarded-For) must not give it a new budget per request.
"""

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token"
REGISTER = "/api/v1/auth/register"


@pytest.fixture
def rates(settings):
    """Set throttle rates by scope for this test (None switches one off)."""

    def set_rates(num_proxies=None, **scopes):
        config = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {
            **config,
            "DEFAULT_THROTTLE_RATES": {**config["DEFAULT_THROTTLE_RATES"], **scopes},
            "NUM_PROXIES": config["NUM_PROXIES"] if num_proxies is None else num_proxies,
        }

    return set_rates


def guess(client, username="alice", **headers):
    body = {"username": username, "password": "a guess"}
    return client.post(TOKEN, body, format="json", **headers).status_code


def test_the_default_trusts_no_proxy(settings):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    assert settings.SECURE_PROXY_SSL_HEADER is None


def test_login_throttle_holds_with_a_new_forwarded_for_on_every_request(anon, user, rates):
    rates(login="10/min", login_username=None)  # the per-address limit alone

    statuses = [guess(anon, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}") for i in range(12)]

    assert statuses == [400] * 10 + [429] * 2


def test_login_throttle_counts_each_client_behind_configured_proxies(anon, user, rates):
    rates(num_proxies=1, login="2/min", login_username=None)

    first = [guess(anon, HTTP_X_FORWARDED_FOR="198.51.100.1") for _ in range(3)]
    # A client may prepend what it likes; the proxy's own entry (the last) is the client.
    second = guess(anon, HTTP_X_FORWARDED_FOR="198.51.100.1, 198.51.100.2")

    assert first == [400, 400, 429]
    assert second == 400


def test_registration_throttle_holds_with_a_new_forwarded_for_on_every_request(
    anon, rates, settings
):
    settings.ALLOW_REGISTRATION = True
    rates(register="20/hour")

    statuses = [
        anon.post(
            REGISTER,
            {"username": f"user{i}", "email": f"u{i}@example.com", "password": "a long phrase"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(22)
    ]

    assert statuses == [201] * 20 + [429] * 2
    assert User.objects.filter(username__startswith="user").count() == 20


def test_login_is_limited_per_username_across_client_addresses(anon, user, other_user, rates):
    rates(login="100/min", login_username="5/min")

    statuses = [guess(anon, REMOTE_ADDR=f"192.0.2.{i}") for i in range(1, 8)]
    # The same account in another case is the same count.
    upper = guess(anon, "ALICE", REMOTE_ADDR="192.0.2.50")
    # Another account has its own.
    other = guess(anon, "bob", REMOTE_ADDR="192.0.2.51")

    assert statuses == [400] * 5 + [429] * 2
    assert upper == 429
    assert other == 400


def test_the_right_password_is_refused_too_once_the_username_is_throttled(anon, user, rates):
    # Otherwise a 429 against a 200 would tell the attacker which guess was right.
    rates(login="100/min", login_username="2/min")
    guess(anon, REMOTE_ADDR="192.0.2.1")
    guess(anon, REMOTE_ADDR="192.0.2.2")

    response = anon.post(
        TOKEN,
        {"username": "alice", "password": "pw-alice-123"},
        format="json",
        REMOTE_ADDR="192.0.2.3",
    )

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_a_login_without_a_username_is_refused_by_its_fields_not_the_throttle(anon, rates):
    rates(login="100/min", login_username="1/min")

    responses = [anon.post(TOKEN, {"password": "x"}, format="json") for _ in range(3)]

    assert [r.status_code for r in responses] == [400] * 3
    assert "username" in responses[-1].json()["errors"]
