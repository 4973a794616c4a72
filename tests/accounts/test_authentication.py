"""accounts.authentication: Bearer and Token headers, hashed secrets, expiry, revocation."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from tests.api.conftest import client_with_token, issue_secret

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me"


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer", "token"])
def test_both_header_keywords_authenticate(user, keyword):
    response = client_with_token(issue_secret(user), keyword).get(ME)

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_a_request_without_a_token_is_401_with_a_bearer_challenge(anon):
    response = anon.get(ME)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"


def test_an_unknown_token_is_401(anon):
    response = client_with_token("not-a-real-token").get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_a_header_with_extra_words_is_401(user):
    response = client_with_token(issue_secret(user) + " extra").get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_header"


def test_another_scheme_is_not_taken_for_a_token(user):
    response = client_with_token(issue_secret(user), "Basic").get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_an_expired_token_is_401_and_says_so(user):
    secret = issue_secret(user, expires_in=timedelta(seconds=-1))

    response = client_with_token(secret).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_a_revoked_token_is_401_and_says_so(user):
    secret = issue_secret(user)
    ApiToken.objects.filter(key_hash=hash_token(secret)).update(revoked_at=timezone.now())

    response = client_with_token(secret).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


def test_a_token_of_a_disabled_user_is_401(user):
    secret = issue_secret(user)
    # A queryset update skips User.save(), which would have revoked the token: the
    # authentication refuses the inactive user all the same.
    type(user).objects.filter(pk=user.pk).update(is_active=False)

    response = client_with_token(secret).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "user_inactive"


def test_only_the_hash_of_a_secret_is_stored(user):
    secret = issue_secret(user)

    token = ApiToken.objects.get(user=user)
    assert token.key_hash == hash_token(secret)
    assert secret not in (token.key_hash, token.prefix)


def test_last_used_at_is_written_once_per_touch_interval(user, settings):
    settings.API_TOKEN_TOUCH_SECONDS = 60
    client = client_with_token(issue_secret(user))

    client.get(ME)
    first_use = ApiToken.objects.get(user=user).last_used_at
    with CaptureQueriesContext(connection) as queries:
        client.get(ME)

    assert first_use is not None
    assert ApiToken.objects.get(user=user).last_used_at == first_use
    # The token lookup (with its user) is the only query: no write on the second request.
    assert len(queries) == 1


def test_last_used_at_is_written_again_after_the_interval(user, settings):
    settings.API_TOKEN_TOUCH_SECONDS = 60
    client = client_with_token(issue_secret(user))
    long_ago = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(user=user).update(last_used_at=long_ago)

    client.get(ME)

    assert ApiToken.objects.get(user=user).last_used_at > long_ago
