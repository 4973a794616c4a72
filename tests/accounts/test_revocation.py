"""A new password or a deactivated account revokes the user's API tokens, by any path."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiToken
from jobs.models import AuditEvent
from tests.api.conftest import client_with_token, issue_secret

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me"
NEW_PASSWORD = "a brand new pass phrase"


@pytest.fixture
def secrets_of(user):
    """Two usable tokens of alice, and one she revoked an hour ago."""
    old, _ = ApiToken.issue(user=user, name="old")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    ApiToken.objects.filter(pk=old.pk).update(revoked_at=an_hour_ago)
    return [issue_secret(user), issue_secret(user)]


def answers(secrets):
    return [client_with_token(secret).get(ME) for secret in secrets]


def assert_revoked(user, secrets):
    for response in answers(secrets):
        assert response.status_code == 401
        assert response.json()["code"] == "token_revoked"
    assert not ApiToken.objects.filter(user=user).usable().exists()
    # A token revoked earlier keeps the time it was revoked.
    old = ApiToken.objects.get(user=user, name="old")
    assert old.revoked_at < timezone.now() - timedelta(minutes=59)


def assert_usable(secrets):
    assert [response.status_code for response in answers(secrets)] == [200] * len(secrets)


def test_set_password_and_save_revokes_the_tokens(user, secrets_of):
    user.set_password(NEW_PASSWORD)
    user.save()

    assert_revoked(user, secrets_of)


def test_saving_only_the_password_field_revokes_the_tokens(user, secrets_of):
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])

    assert_revoked(user, secrets_of)


def test_an_unusable_password_revokes_the_tokens(user, secrets_of):
    user.set_unusable_password()
    user.save()

    assert_revoked(user, secrets_of)


def test_deactivating_the_account_revokes_the_tokens_for_good(user, secrets_of):
    user.is_active = False
    user.save(update_fields=["is_active"])
    user.is_active = True
    user.save()

    assert_revoked(user, secrets_of)


def test_changepassword_revokes_the_tokens(user, secrets_of, monkeypatch):
    # The command reads the password twice from the terminal; these tests have none.
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)

    call_command("changepassword", "alice", stdout=io.StringIO())

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert_revoked(user, secrets_of)


def test_a_password_set_in_the_admin_revokes_the_tokens(client, staff_user, user, secrets_of):
    client.force_login(staff_user)

    response = client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert_revoked(user, secrets_of)


def test_an_account_deactivated_in_the_admin_loses_its_tokens(client, staff_user, user, secrets_of):
    client.force_login(staff_user)
    joined = timezone.localtime(user.date_joined)

    response = client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "username": "alice",
            "first_name": "",
            "last_name": "",
            "email": "",
            # is_active left out: an unticked box
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
            "initial-date_joined_0": joined.strftime("%Y-%m-%d"),
            "initial-date_joined_1": joined.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.is_active is False
    assert_revoked(user, secrets_of)


def test_other_changes_to_the_user_keep_the_tokens(user, secrets_of):
    user.email = "alice@example.com"
    user.save()
    user.is_active = True  # already: not a deactivation
    user.save(update_fields=["is_active"])

    assert_usable(secrets_of)


def test_logging_in_keeps_the_other_tokens(anon, user, secrets_of):
    response = anon.post(
        "/api/v1/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json"
    )

    assert response.status_code == 200
    assert_usable([*secrets_of, response.json()["token"]])


def test_a_login_that_rehashes_the_same_password_keeps_the_tokens(anon, user, secrets_of):
    # A salt too short for today's hasher: a correct login saves a fresh hash of the same
    # password, as after an upgrade that raises the hasher's iterations.
    weak = MD5PasswordHasher().encode("pw-alice-123", "ab")
    type(user).objects.filter(pk=user.pk).update(password=weak)

    response = anon.post(
        "/api/v1/auth/token", {"username": "alice", "password": "pw-alice-123"}, format="json"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.password != weak  # it was re-hashed and saved
    assert_usable(secrets_of)


def test_the_revokes_are_audited_one_per_token(user, secrets_of):
    before = AuditEvent.objects.filter(action="token_revoked").count()
    user.set_password(NEW_PASSWORD)
    user.save()

    assert AuditEvent.objects.filter(action="token_revoked").count() == before + 2
