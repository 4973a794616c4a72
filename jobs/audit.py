"""The audit trail: who changed what, when, and from where.

Services call `record(...)` inside the transaction that makes the change, so an event exists
exactly when its change does. Token events come the same way from accounts' signals (sent
inside the transaction that issues or revokes the token), received here.

Who the actor is (the request being served, or `acting_as(...)`) is accounts.actors' to say;
its names are re-exported here, beside the rest of the audit trail, for the code that
records changes. AuditContextMiddleware is in MIDDLEWARE under this module's name.
"""

import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.dispatch import receiver

from accounts import signals as accounts_signals
from accounts.actors import (  # noqa: F401 - re-exported: the audit trail's actors
    SYSTEM,
    Actor,
    AuditContextMiddleware,
    acting_as,
    actor_for_user,
    admin_actor,
    current_actor,
)

from . import secrets
from .models import AuditEvent

SECRET_FIELDS = frozenset({"notify_webhook_secret"})
MASK = secrets.MASK
# What `action` and `object_type` hold; the API's filters offer these.
ACTIONS = (
    "create",
    "edit",
    "pause",
    "resume",
    "cancel",
    "trigger",
    "reschedule",
    "retry",
    "backfill",
    "delete",
    "token_created",
    "token_revoked",
)
OBJECT_TYPES = ("job", "execution", "token", "queue")


def _jsonable(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


class SecretMask(str):
    """MASK in place of a secret value, equal only to the mask of the same value.

    So a diff of two snapshots still sees that a secret changed (the field, or the payload
    holding it, is listed with MASK on both sides), while what is stored is MASK and
    nothing derived from the secret: the digest lives on this object only, and JSON writes
    the bare string.
    """

    def __new__(cls, value):
        mask = super().__new__(cls, MASK)
        text = json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder)
        mask.digest = hashlib.sha256(text.encode()).digest()
        return mask

    def __eq__(self, other):
        return isinstance(other, SecretMask) and other.digest == self.digest

    def __ne__(self, other):
        return not self == other

    __hash__ = str.__hash__


def snapshot(obj, fields) -> dict:
    """Return the values of `fields` on `obj`, secrets masked, ready to store as JSON.

    A job's payload has the fields its handler's schema marks secret masked
    (jobs.secrets), as the API and the admin show it.
    """
    values = _jsonable({name: getattr(obj, name) for name in fields})
    for name in SECRET_FIELDS.intersection(values):
        if values[name]:
            values[name] = SecretMask(values[name])
    if "payload" in values and hasattr(obj, "handler"):
        values["payload"] = secrets.masked(obj.handler, values["payload"], mask=SecretMask)
    return values


def diff(before: dict, after: dict) -> dict:
    """Return field -> [before, after] for the fields whose value changed."""
    names = list(before) + [name for name in after if name not in before]
    return {
        name: [before.get(name), after.get(name)]
        for name in names
        if before.get(name) != after.get(name)
    }


def events(*, action: str, object_type: str, objects: list[tuple], changes=None) -> list:
    """Return unsaved events, one per (object_id, owner_id) pair, for a change made now by
    the current actor (for statements.insert, when they are written with other rows)."""
    actor = current_actor()
    changes = _jsonable(changes or {})
    return [
        AuditEvent(
            actor_id=actor.user_id,
            actor=actor.name,
            via=actor.via,
            ip=actor.ip,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            owner_id=owner_id,
            changes=changes,
        )
        for object_id, owner_id in objects
    ]


def record(*, action: str, object_type: str, object_id, owner_id=None, changes=None):
    """Append one event for a change made now by the current actor."""
    [event] = events(
        action=action,
        object_type=object_type,
        objects=[(object_id, owner_id)],
        changes=changes,
    )
    event.save(force_insert=True)
    return event


@receiver(accounts_signals.token_created, dispatch_uid="jobs.audit.token_created")
def _token_created(sender, *, token, changes, **kwargs):
    record(
        action="token_created",
        object_type="token",
        object_id=token.prefix,
        owner_id=token.user_id,
        changes=changes,
    )


@receiver(accounts_signals.token_revoked, dispatch_uid="jobs.audit.token_revoked")
def _token_revoked(sender, *, token, changes, **kwargs):
    record(
        action="token_revoked",
        object_type="token",
        object_id=token.prefix,
        owner_id=token.user_id,
        changes=changes,
    )
