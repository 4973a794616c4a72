"""The accounts app's settings and their defaults, read in one place.

The same contract as jobs.conf, kept apart because accounts is a base app that the
scheduler imports, never the other way round: `conf.API_TOKEN_TTL_HOURS` reads
`django.conf.settings` when it is used (so `override_settings` takes effect) and falls back
to the default below. scheduler_project/settings.py sets every name here from the
environment variable of the same name, cast like its default.
"""

from django.conf import settings

DEFAULTS = {
    # POST /api/v1/auth/register creates accounts; off (the default): it answers 403, and
    # accounts are made by staff (the admin, createsuperuser). `make run` turns it on.
    "ALLOW_REGISTRATION": False,
    # Hours a token issued by logging in (or registering) stays valid.
    "API_TOKEN_TTL_HOURS": 30 * 24,
    # Seconds between writes of a token's last_used_at: a busy client does not write on
    # every request.
    "API_TOKEN_TOUCH_SECONDS": 60,
}


def __getattr__(name: str):
    try:
        default = DEFAULTS[name]
    except KeyError:
        raise AttributeError(f"accounts.conf has no setting {name}") from None
    return getattr(settings, name, default)


def __dir__():
    return sorted([*globals(), *DEFAULTS])
