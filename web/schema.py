"""The OpenAPI schema: summaries, operation ids, the error responses and the auth scheme.

Every operation gets a summary (its docstring's first line unless set explicitly), an
operation id `<resource>_<action>`, and the error responses it can give, all with the one
`Error` body: 400 where it reads a body or query, 401 where a token is needed, 403 where
staff is needed, 404 where it names an object or pages a list, 409 for state changes,
429 when throttled, and 5XX.
"""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import permissions, serializers

# Actions the router maps to methods; anything else is an @action with its own name.
STANDARD_ACTIONS = frozenset(
    {"list", "retrieve", "create", "update", "partial_update", "destroy", "metadata"}
)


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    status = serializers.IntegerField(help_text="The HTTP status code.")
    code = serializers.CharField(
        help_text="What went wrong, for programs: invalid, not_authenticated, "
        "authentication_failed, token_expired, token_revoked, permission_denied, not_found, "
        "invalid_transition, method_not_allowed, throttled, server_error, ..."
    )
    detail = serializers.CharField(help_text="What went wrong, for people.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Each invalid field (nested as `a.b`) -> its messages; "
        "`non_field_errors` for the request as a whole. Empty unless code is `invalid`.",
    )


def _example(name: str, status: int, code: str, detail: str, errors=None) -> OpenApiExample:
    body = {"status": status, "code": code, "detail": detail, "errors": errors or {}}
    return OpenApiExample(name, value=body, response_only=True, status_codes=[str(status)])


ERRORS = {
    "400": (
        "The request is not valid: `errors` names each field and its problems.",
        _example(
            "Invalid fields",
            400,
            "invalid",
            "cron: Invalid cron expression '61 * * * *': minute: 61 is out of range (0-59).",
            {"cron": ["Invalid cron expression '61 * * * *': minute: 61 is out of range (0-59)."]},
        ),
    ),
    "401": (
        "No token, or one that is unknown, expired or revoked.",
        _example(
            "Expired token",
            401,
            "token_expired",
            "This token has expired; log in for a new one.",
        ),
    ),
    "403": (
        "Not allowed for this account.",
        _example(
            "Not staff",
            403,
            "permission_denied",
            "You do not have permission to perform this action.",
        ),
    ),
    "404": (
        "No such object among those you may see (or no such page of a list).",
        _example("Not found", 404, "not_found", "No Job matches the given query."),
    ),
    "409": (
        "The object's state does not allow this change.",
        _example(
            "Not allowed now", 409, "invalid_transition", "Cannot pause a job that is paused."
        ),
    ),
    "429": (
        "Too many requests; the Retry-After header says when to try again.",
        _example(
            "Throttled",
            429,
            "throttled",
            "Request was throttled. Expected available in 42 seconds.",
        ),
    ),
    "5XX": (
        "The server failed; the error was logged.",
        _example(
            "Server error",
            500,
            "server_error",
            "The server failed to answer; the error was logged.",
        ),
    ),
}


class AutoSchema(openapi.AutoSchema):
    def get_summary(self):
        summary = super().get_summary()
        if summary:
            return summary
        action = getattr(self.view, getattr(self.view, "action", None) or "", None)
        doc = (getattr(action, "__doc__", None) or self.view.__doc__ or "").strip()
        return doc.splitlines()[0].rstrip(".") if doc else None

    def get_operation_id(self):
        action = getattr(self.view, "action", None)
        basename = getattr(self.view, "basename", None)
        if action and basename and action not in STANDARD_ACTIONS:
            return f"{basename}_{action}"
        return super().get_operation_id()

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self.error_statuses():
            if status not in responses:
                description, example = ERRORS[status]
                responses[status] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description, examples=[example]),
                    status,
                    direction=direction,
                )
        return dict(sorted(responses.items()))

    def error_statuses(self) -> list[str]:
        """Return the error statuses this operation can answer with."""
        checks = self.view.get_permissions()
        statuses = ["429", "5XX"]
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            statuses.append("400")
        if any(not isinstance(check, permissions.AllowAny) for check in checks):
            statuses.append("401")
        if any(isinstance(check, permissions.IsAdminUser) for check in checks) or getattr(
            self.view, "may_forbid", False
        ):
            statuses.append("403")
        if "{" in self.path or self._is_list_view():
            statuses.append("404")
        if getattr(self.view, "action", None) in getattr(self.view, "conflict_actions", ()):
            statuses.append("409")
        return statuses


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from POST /api/v1/auth/token (or register), sent as "
            "`Authorization: Bearer <token>`; `Token <token>` works too.",
        }


def forbid_unknown_request_fields(result, generator, request, public):
    """Postprocessing hook: say in the schema that request bodies take no other fields."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and "properties" in component:
            component["additionalProperties"] = False
    return result
