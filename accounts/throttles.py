"""The login throttle keyed on the account tried, not on the client.

The per-address `login` throttle (web.throttles.LoginThrottle) slows one client down; an
attacker with many addresses gets its budget once per address. This one counts attempts at
each username, wherever they come from, at the `login_username` rate. Successful logins count
too: telling them apart would let the answer itself say whether a guess was right before the
limit applied.
"""

import hashlib

from web.throttles import SettingsRateThrottle


class LoginUsernameThrottle(SettingsRateThrottle):
    """Password attempts, per username tried (in any case)."""

    scope = "login_username"

    def get_cache_key(self, request, view):
        data = request.data
        username = data.get("username") if hasattr(data, "get") else None
        if not isinstance(username, str) or not username:
            return None  # nothing to count: the serializer refuses the request
        # Hashed: a cache key must be short and printable, whatever was sent. Folded to one
        # case so ALICE and alice share a count (registration keeps names unique in any case).
        ident = hashlib.sha256(username.casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
