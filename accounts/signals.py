"""Signals accounts sends about API tokens, so other apps can follow them.

Each is sent inside the transaction that makes the change, with `token` (the ApiToken) and
`changes` (field -> [before, after]); a receiver that writes to the database (the audit
trail, jobs.audit) commits or rolls back with the change itself. Accounts imports no other
app of the project: the apps that care connect here.
"""

from django.dispatch import Signal

token_created = Signal()  # a token was issued: token, changes
token_revoked = Signal()  # a usable token was revoked (once, however many ask): token, changes
