"""Who is making a change: the actor the audit trail records.

The actor comes from the request being served (set by `AuditContextMiddleware`) or from
`acting_as(...)` in commands, scripts, admin actions and views that sign someone in;
anything else is "system".

DRF authenticates inside the view, after every middleware has run, but it copies the user
and the token it authenticated onto the Django request (`request.user`, `request.auth`). The
actor is read from that request when a change is recorded, inside the view, so an API
change is attributed to the token's user, "API token <prefix>", with no step of its own.

It lives in accounts, the base app, because accounts itself signs people in and issues
tokens on their behalf; the audit trail (jobs.audit) reads it from here.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

ADMIN_VIA = "admin session"
TOKEN_VIA = "API token"  # followed by the token's prefix
# How an owner is shown anyone else who acted on their objects (staff, an operator's shell).
OTHERS_NAME = "staff"


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    via: str
    ip: str | None = None


SYSTEM = Actor(None, "system", "system")


def shown_to(viewer_id: int | None, *, actor_id, name: str, via: str, ip) -> Actor:
    """Return an actor as `viewer_id`, the owner of the object acted on, is shown them.

    Themselves and the system as they are; anyone else as "staff", with the channel but not
    which token or which address: those say who, and from where, an owner need not know.
    """
    if actor_id is not None and actor_id == viewer_id:
        return Actor(actor_id, name, via, ip)
    if actor_id is None and name == SYSTEM.name:
        return SYSTEM
    channel = TOKEN_VIA if via.startswith(TOKEN_VIA) else via
    return Actor(None, OTHERS_NAME, channel)


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


def admin_actor(request) -> Actor:
    """Return the actor for changes the operator signed in to the admin makes."""
    return actor_for_user(request.user, ADMIN_VIA, request.META.get("REMOTE_ADDR"))


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
        via = f"{TOKEN_VIA} {token.prefix}"
    elif request.path.startswith("/admin/"):
        via = ADMIN_VIA
    else:
        via = "web session"
    return actor_for_user(user, via, ip)


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
