"""Users and their API tokens.

A token's secret is shown once, when it is made; the database keeps only its SHA-256 and a
short prefix by which people recognise it in lists.
"""

import hashlib
import logging
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models, router, transaction
from django.utils import timezone

from . import signals

logger = logging.getLogger("accounts")

TOKEN_PREFIX_LENGTH = 8  # characters of the secret kept in clear, to tell tokens apart


class User(AbstractUser):
    """The project's user; custom from the first migration so it can grow without pain.

    A new password or a deactivated account revokes the user's API tokens, whatever path
    saved it (admin, `changepassword`, `set_password()` + `save()`): a token is a password
    of its own, and whoever changes a leaked password expects the leak closed. Only a
    queryset `update()` skips this (the authentication still refuses an inactive user).
    """

    # True while check_password() runs: it may save a new hash of the same password (a
    # stronger hasher, more iterations), which is not a change of password.
    _rehashing = False

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def check_password(self, raw_password):
        self._rehashing = True
        try:
            return super().check_password(raw_password)
        finally:
            self._rehashing = False

    async def acheck_password(self, raw_password):
        self._rehashing = True
        try:
            return await super().acheck_password(raw_password)
        finally:
            self._rehashing = False

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        watched = update_fields is None or {"password", "is_active"} & set(update_fields)
        if self.pk is None or self._rehashing or not watched:
            super().save(*args, **kwargs)
            return
        # One transaction: the tokens go with the password that made them stale, or neither.
        with transaction.atomic(using=router.db_for_write(User)):
            before = User.objects.filter(pk=self.pk).values("password", "is_active").first()
            super().save(*args, **kwargs)
            if before is None:
                return
            if before["password"] != self.password:
                revoke_tokens(user=self, reason="password changed")
            elif before["is_active"] and not self.is_active:
                revoke_tokens(user=self, reason="account deactivated")


def revoke_tokens(*, user, reason: str) -> int:
    """Revoke every usable API token of `user`; return how many were revoked."""
    revoked = sum(token.revoke() for token in ApiToken.objects.filter(user=user).usable())
    if revoked:
        logger.info("Revoked API tokens user_id=%s count=%s: %s", user.pk, revoked, reason)
    return revoked


def hash_token(secret: str) -> str:
    """Return the stored form of a token secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, *, now=None):
        """Tokens that are neither revoked nor expired."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def users_for(operator):
        """Return the users `operator` may make tokens for: anyone if they may change users,
        else only themselves (a token acts as its user: making one for a superuser would be
        becoming one)."""
        if operator.is_superuser or operator.has_perm("accounts.change_user"):
            return User.objects.all()
        return User.objects.filter(pk=operator.pk)

    @classmethod
    def issue(cls, *, user, name: str = "", expires_at=None) -> tuple["ApiToken", str]:
        """Create a token and return it with its secret, which is not stored."""
        secret = secrets.token_urlsafe(32)
        with transaction.atomic(using=router.db_for_write(cls)):
            token = cls.objects.create(
                user=user,
                name=name,
                prefix=secret[:TOKEN_PREFIX_LENGTH],
                key_hash=hash_token(secret),
                expires_at=expires_at,
            )
            signals.token_created.send(
                sender=cls,
                token=token,
                changes={"name": [None, name], "expires_at": [None, expires_at]},
            )
        return token, secret

    def revoke(self) -> bool:
        """Revoke the token now; return False if it was revoked already.

        Every revoke (logout, DELETE auth/tokens/{id}, ...) comes through here, so each is
        signalled (and audited) once: the conditional UPDATE lets only the first of two
        racing revokes send token_revoked.
        """
        now = timezone.now()
        with transaction.atomic(using=router.db_for_write(ApiToken)):
            updated = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
                revoked_at=now
            )
            if updated:
                self.revoked_at = now
                signals.token_revoked.send(
                    sender=ApiToken, token=self, changes={"revoked_at": [None, now]}
                )
        return bool(updated)

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )
