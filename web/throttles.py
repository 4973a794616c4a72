"""Request throttles, with rates read from settings when each request is checked.

DRF's throttles copy DEFAULT_THROTTLE_RATES once, at import; reading them live lets an
operator's settings (and tests) change a rate without restarting. A rate of None switches
that throttle off.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class AnonThrottle(SettingsRateThrottle):
    """Requests without credentials, per client address."""

    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UserThrottle(SettingsRateThrottle):
    """Requests of a signed-in user, per user."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class LoginThrottle(SettingsRateThrottle):
    """Password attempts, per client address: slows down guessing."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RegisterThrottle(LoginThrottle):
    """Sign-ups, per client address."""

    scope = "register"
