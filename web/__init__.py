"""Web infrastructure shared by the scheduler's API and admin (jobs) and by accounts.

The API's one error shape, strict query parameters and body fields, request throttles, the
OpenAPI schema class and the offline docs page, and the admin's display helpers. It imports
none of the project's apps, so any of them may import it without making a cycle.
"""
