"""accounts.api: register, token, logout, me and the token list, through HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiToken, User
from tests.api.conftest import client_with_token

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
GOOD_PASSWORD = "correct-horse-battery-staple"


def register(client, **fields):
    body = {"username": "carol", "email": "carol@example.com", "password": GOOD_PASSWORD}
    return client.post(REGISTER, {**body, **fields}, format="json")


@pytest.fixture
def registration_open(settings):
    """ALLOW_REGISTRATION=1, as `make run` sets it (the default is off)."""
    settings.ALLOW_REGISTRATION = True


# --- register ---------------------------------------------------------------------------


def test_register_creates_the_user_and_returns_a_working_token(anon, settings, registration_open):
    settings.API_TOKEN_TTL_HOURS = 2
    response = register(anon)

    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "carol"
    assert body["user"]["email"] == "carol@example.com"
    assert body["user"]["is_staff"] is False
    assert "password" not in body["user"]
    expires_at = parse_datetime(body["expires_at"])
    assert timedelta(hours=1, minutes=59) < expires_at - timezone.now() <= timedelta(hours=2)
    me = client_with_token(body["token"]).get("/api/v1/auth/me")
    assert me.json()["username"] == "carol"
    assert User.objects.get(username="carol").check_password(GOOD_PASSWORD)


def test_register_refuses_a_taken_username_in_any_case(anon, user, registration_open):
    response = register(anon, username="ALICE")

    assert response.status_code == 400
    assert response.json()["errors"] == {"username": ["A user with that username already exists."]}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"password": "123"}, "password"),  # short and numeric
        ({"password": "carol2024"}, "password"),  # too like the username
        ({"email": "not-an-address"}, "email"),
        ({"username": "no spaces allowed"}, "username"),
        ({"username": ""}, "username"),
        ({"is_staff": True}, "is_staff"),  # unknown field
    ],
)
def test_register_refuses_invalid_fields(anon, fields, field, registration_open):
    response = register(anon, **fields)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not User.objects.filter(is_staff=True).exists()


def test_register_is_403_when_registration_is_switched_off(anon, settings):
    settings.ALLOW_REGISTRATION = False

    response = register(anon)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not User.objects.filter(username="carol").exists()


def test_registration_is_off_unless_switched_on(anon, settings):
    del settings.ALLOW_REGISTRATION  # what a server without ALLOW_REGISTRATION in its env has

    response = register(anon)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not User.objects.filter(username="carol").exists()


def test_register_is_throttled_per_address(anon, settings, registration_open):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "register": "2/hour",
        },
    }
    statuses = [register(anon, username=f"user{i}").status_code for i in range(3)]

    assert statuses == [201, 201, 429]


# --- token (log in) ---------------------------------------------------------------------


def test_token_returns_a_new_token_with_its_expiry(anon, user):
    response = anon.post(TOKEN, {"username": "alice", "password": "pw-alice-123"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    assert client_with_token(body["token"]).get("/api/v1/auth/me").status_code == 200


def test_token_takes_a_label(anon, user):
    anon.post(
        TOKEN,
        {"username": "alice", "password": "pw-alice-123", "name": "deploy script"},
        format="json",
    )

    assert ApiToken.objects.get(user=user).name == "deploy script"


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong"), ("nobody", "pw-alice-123"), ("ALICE", "wrong")],
)
def test_token_refuses_wrong_credentials_with_one_message(anon, user, username, password):
    response = anon.post(TOKEN, {"username": username, "password": password}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "non_field_errors": ["Unable to log in with these credentials."]
    }
    assert not ApiToken.objects.exists()


def test_token_refuses_a_disabled_user(anon, user):
    user.is_active = False
    user.save()

    response = anon.post(TOKEN, {"username": "alice", "password": "pw-alice-123"}, format="json")

    assert response.status_code == 400


def test_token_needs_both_fields(anon):
    response = anon.post(TOKEN, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "password"}


def test_token_is_throttled_per_address(anon, user, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "3/min",
        },
    }
    attempts = [
        anon.post(TOKEN, {"username": "alice", "password": "guess"}, format="json")
        for _ in range(4)
    ]

    assert [r.status_code for r in attempts] == [400, 400, 400, 429]
    throttled = attempts[-1]
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0


# --- logout, me, tokens -----------------------------------------------------------------


def test_logout_revokes_the_token_used(alice, user):
    response = alice.post("/api/v1/auth/logout")

    assert response.status_code == 204
    assert ApiToken.objects.get(user=user).revoked_at is not None
    after = alice.get("/api/v1/auth/me")
    assert after.status_code == 401
    assert after.json()["code"] == "token_revoked"


def test_logout_leaves_the_users_other_tokens_alone(alice, user):
    _, other_secret = ApiToken.issue(user=user, expires_at=timezone.now() + timedelta(hours=1))

    alice.post("/api/v1/auth/logout")

    assert client_with_token(other_secret).get("/api/v1/auth/me").status_code == 200


def test_logout_without_a_token_is_401(anon):
    assert anon.post("/api/v1/auth/logout").status_code == 401


def test_me_shows_the_current_user(root):
    body = root.get("/api/v1/auth/me").json()

    assert body["username"] == "root"
    assert body["is_staff"] is True
    assert set(body) == {"id", "username", "email", "is_staff", "date_joined"}


def test_tokens_lists_only_your_own_tokens_and_marks_the_current_one(alice, bob, user):
    ApiToken.issue(user=user, name="second")

    body = alice.get("/api/v1/auth/tokens").json()

    assert body["count"] == 2
    assert sorted(t["current"] for t in body["results"]) == [False, True]
    assert all("key_hash" not in t and "token" not in t for t in body["results"])


def test_deleting_a_token_revokes_it(alice, user):
    token, secret = ApiToken.issue(user=user, expires_at=timezone.now() + timedelta(hours=1))

    response = alice.delete(f"/api/v1/auth/tokens/{token.pk}")

    assert response.status_code == 204
    assert client_with_token(secret).get("/api/v1/auth/me").status_code == 401
    assert alice.get("/api/v1/auth/me").status_code == 200


def test_another_users_token_cannot_be_revoked(bob, user):
    token, secret = ApiToken.issue(user=user)

    response = bob.delete(f"/api/v1/auth/tokens/{token.pk}")

    assert response.status_code == 404
    assert client_with_token(secret).get("/api/v1/auth/me").status_code == 200
