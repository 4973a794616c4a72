"""API token authentication: `Authorization: Bearer <token>`, or DRF's `Token <token>`.

The secret is looked up by its SHA-256 (the only form stored), so one indexed query finds
the token and its user. `last_used_at` is written at most once per API_TOKEN_TOUCH_SECONDS,
with a conditional UPDATE, so a busy client costs no write per request.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from . import conf
from .models import ApiToken, hash_token

KEYWORDS = (b"bearer", b"token")
REALM = "api"


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticate a request by the API token in its Authorization header."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # not ours: another scheme, or anonymous
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: send `Bearer <token>`.", code="invalid_header"
            )
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.", code="invalid_token") from None
        return self.authenticate_credentials(secret)

    def authenticate_credentials(self, secret: str):
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(secret)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.", code="invalid_token")
        now = timezone.now()
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                "This token was revoked; log in for a new one.", code="token_revoked"
            )
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                "This token has expired; log in for a new one.", code="token_expired"
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.", code="user_inactive")
        touch(token, now=now)
        return token.user, token

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return f'Bearer realm="{REALM}"'


def touch(token: ApiToken, *, now) -> None:
    """Record that `token` was used, unless that was recorded recently."""
    interval = timedelta(seconds=conf.API_TOKEN_TOUCH_SECONDS)
    if token.last_used_at is not None and token.last_used_at > now - interval:
        return
    # Conditional, so concurrent requests with the same token write once between them.
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - interval)
    ).update(last_used_at=now)
    token.last_used_at = now
