"""The audit trail: who changed what, when, and from where.

Services call `record(...)` inside the transaction that makes the change, so an event exists
exactly when its change does. The actor comes from the request being served (set by
`AuditContextMiddleware`) or from `acting_as(...)` in commands, scripts and views that sign
someone in; anything else is "system".

DRF authenticates inside the view, after every middleware has run, but it copies the user
and the token it authenticated onto the Django request (`request.user`, `request.auth`). The
actor is read from that request when the change is recorded, inside the view, so an API
change is attributed to the token's user, "API token <prefix>", with no step of its own.
"""

import json
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder

from .models import AuditEvent

SECRET_FIELDS = frozenset({"notify_webhook_secret"})
MASK = "********"
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
    "delete",
    "token_created",
    "token_revoked",
)
OBJECT_TYPES = ("job", "execution", "token")


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    via: str
    ip: str | None = None


SYSTEM = Actor(None, "system", "system")

_request: ContextVar = ContextVar("audit_request", default=None)
_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


@contextmanager
def acting_as(actor: Actor):
    """Attribute the changes made inside the block to `actor`."""
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def actor_for_user(user, via: str, ip: str | None = None) -> Actor:
    """Return the actor for changes `user` makes from `via` (and the client address `ip`)."""
    return Actor(user.pk, user.get_username(), via, ip)


def current_actor() -> Actor:
    """Return who is making the current change."""
    actor = _actor.get()
    if actor is not None:
        return actor
    request = _request.get()
    if request is None:
        return SYSTEM
    user = getattr(request, "user", None)
    ip = request.META.get("REMOTE_ADDR")
    if user is None or not user.is_authenticated:
        return Actor(None, "anonymous", "web", ip)
    token = getattr(request, "auth", None)
    if getattr(token, "prefix", None):
        via = f"API token {token.prefix}"
    elif request.path.startswith("/admin/"):
        via = "admin session"
    else:
        via = "web session"
    return Actor(user.pk, user.get_username(), via, ip)


class AuditContextMiddleware:
    """Make the request being served the source of audit actors."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def _jsonable(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(obj, fields) -> dict:
    """Return the values of `fields` on `obj`, secrets masked, ready to store as JSON."""
    values = {}
    for name in fields:
        value = getattr(obj, name)
        values[name] = MASK if name in SECRET_FIELDS and value else value
    return _jsonable(values)


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
