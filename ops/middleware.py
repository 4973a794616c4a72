"""Middleware: probes answered before host checks, and a request id on every request.

ProbeMiddleware goes first in MIDDLEWARE. Load balancers and orchestrators call the probes
by IP over plain HTTP; answering before SecurityMiddleware and CommonMiddleware means the
Host header is not checked against ALLOWED_HOSTS and no HTTPS redirect is sent, while
every other path still gets both.
"""

import logging
import re
import time
import uuid

from . import views
from .logging import request_id_var

logger = logging.getLogger("ops.requests")

PROBES = {
    "/health": views.health,
    "/health/": views.health,
    "/health/ready": views.ready,
    "/health/ready/": views.ready,
}
REQUEST_ID_HEADER = "X-Request-ID"
# An id sent by a proxy is kept if it looks like one; anything else is replaced.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ProbeMiddleware:
    """Answer GET /health and /health/ready without touching the rest of the stack."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)


class RequestIdMiddleware:
    """Give each request an id (the caller's X-Request-ID, or a new one), log it, echo it.

    Every log line written while the request is served carries `request_id` (see
    ops.logging.RequestIdFilter), and one line per request records method, path, status
    and duration.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            duration = time.monotonic() - started
            logger.info(
                "Request method=%s path=%s status=%s duration=%.3fs",
                request.method,
                request.path,
                response.status_code,
                duration,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration": round(duration, 6),
                },
            )
            return response
        finally:
            request_id_var.reset(token)
