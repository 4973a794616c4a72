"""One JSON shape for every API error, 4xx and 5xx alike.

    {"status": 400, "code": "invalid", "detail": "interval_seconds: Must be at least 1 second.",
     "errors": {"interval_seconds": ["Must be at least 1 second."]}}

`errors` maps each invalid field (nested fields as `a.b`, list items as `a.0`) to its
messages, and is empty for errors that are not about fields. DRF's exceptions and Django's
(ValidationError, Http404, PermissionDenied, a body too large) all take this shape; an app
maps its own exceptions onto DRF's first (jobs.api.errors does the scheduler's). Requests
under /api/ that reach no view (an unknown path, a crash in middleware) get the same shape
from `not_found` and `server_error`, never an HTML page.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD = "non_field_errors"
API_PREFIX = "/api/"
# A ValidationError whose every message carries one of these codes is not bad input but a
# request refused by a limit of the account (jobs.exceptions.QuotaExceeded): 403 for what
# the fields ask, 429 for a count used up (asking again later can succeed).
REFUSALS = {
    "quota_exceeded": status.HTTP_403_FORBIDDEN,
    "quota_reached": status.HTTP_429_TOO_MANY_REQUESTS,
}

logger = logging.getLogger("django.request")


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def error_body(status_code: int, code: str, detail: str, errors: dict | None = None) -> dict:
    """Return the body of an error response."""
    return {"status": status_code, "code": code, "detail": detail, "errors": errors or {}}


def exception_handler(exc, context):
    """Answer any exception raised in an API view with an Error (a DRF EXCEPTION_HANDLER)."""
    api_exc = _as_api_exception(exc)
    if api_exc is None:
        request = context.get("request")
        # Logged as Django logs an unhandled exception, so error reporting still sees it.
        logger.error(
            "Internal Server Error: %s",
            getattr(request, "path", "?"),
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"status_code": 500, "request": getattr(request, "_request", None)},
        )
        return _json(500, "server_error", "The server failed to answer; the error was logged.")

    exc = api_exc
    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate, Retry-After
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        code = _refusal_code(exc)
        if code:
            response.status_code = REFUSALS[code]
        response.data = error_body(
            response.status_code, code or "invalid", summarise(errors), errors
        )
    else:
        code = exc.get_codes()
        response.data = error_body(
            response.status_code,
            code if isinstance(code, str) else exc.default_code,
            str(exc.detail),
        )
    return response


def _refusal_code(exc: exceptions.ValidationError) -> str | None:
    """Return the code of REFUSALS that every message of `exc` carries, or None."""
    codes = {code for found in flatten_errors(exc.get_codes()).values() for code in found}
    return codes.pop() if len(codes) == 1 and codes <= REFUSALS.keys() else None


def _as_api_exception(exc) -> exceptions.APIException | None:
    """Return `exc` as the DRF exception to answer with, or None for a server error."""
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD: exc.messages}
        )
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    return None


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Return DRF's nested error detail as field path -> messages."""
    errors: dict[str, list[str]] = {}

    def walk(node, path: str) -> None:
        if not node:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and all(isinstance(item, str) for item in node):
            errors.setdefault(path or NON_FIELD, []).extend(str(item) for item in node)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if item:  # a list field's valid items come back as empty entries
                    walk(item, f"{path}.{index}" if path else str(index))
        else:
            errors.setdefault(path or NON_FIELD, []).append(str(node))

    walk(detail, prefix)
    return errors


def summarise(errors: dict[str, list[str]]) -> str:
    """Return one line naming every problem, for people reading a terminal."""
    parts = [
        " ".join(messages) if field == NON_FIELD else f"{field}: {' '.join(messages)}"
        for field, messages in errors.items()
    ]
    return "; ".join(parts) or "The request is not valid."


def _json(status_code: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, code, detail), status=status_code)


@csrf_exempt  # an unknown path answers 404 to every method, not a CSRF refusal
def not_found(request, *args, **kwargs):
    """Answer a path under /api/ that names no endpoint (a GET that only lacks or has one
    slash too many is redirected, as APPEND_SLASH would)."""
    info = request.path_info
    other = info[:-1] if info.endswith("/") else f"{info}/"
    try:
        exists = resolve(other).func is not not_found
    except Resolver404:
        exists = False
    path = request.path
    if exists:
        other = path[:-1] if path.endswith("/") else f"{path}/"
    if exists and request.method in ("GET", "HEAD"):
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(f"{other}?{query}" if query else other)
    hint = f" Did you mean {other}?" if exists else ""
    return _json(404, "not_found", f"No API endpoint at {path}.{hint}")


def bad_request(request, exception):
    """handler400 (e.g. a Host header not in ALLOWED_HOSTS): JSON under /api/."""
    if request.path.startswith(API_PREFIX):
        return _json(400, "bad_request", "The request could not be understood.")
    return defaults.bad_request(request, exception)


def server_error(request):
    """handler500: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return _json(500, "server_error", "The server failed to answer; the error was logged.")
    return defaults.server_error(request)
