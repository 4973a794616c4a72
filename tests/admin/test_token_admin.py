"""API tokens in the admin: made for a user and shown once, listed by prefix, revoked."""

import re

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken, hash_token
from jobs.models import AuditEvent
from tests.admin.conftest import messages_of, run_action

pytestmark = pytest.mark.django_db


def test_a_token_made_in_the_admin_is_shown_once_and_stored_hashed(admin_client, user):
    response = admin_client.post(
        "/admin/accounts/apitoken/add/",
        {"user": user.pk, "name": "ci", "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00"},
        follow=True,
    )

    page = response.content.decode()
    secret = re.search(r'<pre class="sched-token" id="issued-secret"[^>]*>([^<]+)</pre>', page)[1]
    token = ApiToken.objects.get()
    assert "no-store" in response["Cache-Control"]
    assert not any(secret in m for m in messages_of(response))  # no cookie carries it
    assert token.key_hash == hash_token(secret) and token.prefix == secret[:8]
    listing = admin_client.get("/admin/accounts/apitoken/").content.decode()
    assert f"{token.prefix}…" in listing and secret not in listing
    detail = admin_client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert secret not in detail
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/auth/me").json()["username"] == "alice"
    event = AuditEvent.objects.get(action="token_created")
    assert (event.actor, event.via) == ("root", "admin session")


def test_revoking_a_token_in_the_admin_ends_its_use_at_once(admin_client, user):
    token, secret = ApiToken.issue(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/auth/me").status_code == 200

    response = run_action(admin_client, "/admin/accounts/apitoken/", "revoke", token)
    again = run_action(admin_client, "/admin/accounts/apitoken/", "revoke", token)

    assert "Revoked 1 token(s)." in messages_of(response)
    assert "1 were revoked already." in messages_of(again)
    assert api.get("/api/v1/auth/me").status_code == 401
    assert AuditEvent.objects.filter(action="token_revoked").count() == 1


def test_tokens_cannot_be_deleted_only_revoked(admin_client, user):
    token, _ = ApiToken.issue(user=user)

    response = admin_client.post(f"/admin/accounts/apitoken/{token.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_staff_who_may_not_change_users_make_tokens_only_for_themselves(
    client, make_staff, staff_user
):
    operator = make_staff("add_apitoken", "view_apitoken")
    client.force_login(operator)

    form = client.get("/admin/accounts/apitoken/add/").context["adminform"].form
    forged = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": staff_user.pk, "name": "mine now", "expires_at_0": "", "expires_at_1": ""},
    )
    own = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": operator.pk, "name": "mine", "expires_at_0": "", "expires_at_1": ""},
    )

    assert list(form.fields["user"].queryset) == [operator]
    assert forged.status_code == 200 and "user" in forged.context["adminform"].form.errors
    assert own.status_code == 200 and "issued-secret" in own.content.decode()
    assert list(ApiToken.objects.values_list("user", flat=True)) == [operator.pk]
