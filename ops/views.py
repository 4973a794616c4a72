"""The probes and the metrics page.

/health says the process is up (no database: a restart will not fix the database).
/health/ready says it can do its work: database, migrations, and live workers when
REQUIRE_WORKERS is set. /metrics is for staff who may view workers (jobs.policy; session or
API token) or for a scraper holding METRICS_TOKEN.
"""

from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.models import ApiToken, hash_token
from jobs import conf, policy

from . import metrics as metrics_page
from .health import readiness


@never_cache
@require_safe
def health(request):
    """Liveness: this process answers HTTP."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request):
    """Readiness: 200 when every check passes, else 503 with what failed."""
    ok, checks = readiness()
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    response = JsonResponse(body, status=200 if ok else 503)
    # Polled every second: ops.health logs when readiness changes, so Django need not log
    # every 503 as an error.
    response._has_been_logged = True
    return response


def _api_token_user(secret: str):
    """The user an API token belongs to, if it is usable; None otherwise."""
    token = (
        ApiToken.objects.usable().select_related("user").filter(key_hash=hash_token(secret)).first()
    )
    return token.user if token is not None and token.user.is_active else None


def metrics_denial(request) -> JsonResponse | None:
    """Return the refusal for a request that may not read /metrics, or None if it may."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() in ("bearer", "token") and credential:
        if conf.METRICS_TOKEN and constant_time_compare(credential, conf.METRICS_TOKEN):
            return None
        user = _api_token_user(credential)
        if user is None:
            return _refusal(401, "The token is not valid.")
    else:
        user = request.user
    if not user.is_authenticated:
        return _refusal(401, "Send Authorization: Bearer <METRICS_TOKEN or a staff API token>.")
    if not policy.may_read_metrics(user):
        return _refusal(403, "Metrics are for staff with the jobs.view_worker permission.")
    return None


def _refusal(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_safe
def metrics(request):
    """The Prometheus text exposition of the scheduler's figures (jobs.selectors)."""
    try:
        denial = metrics_denial(request)
        if denial is not None:
            return denial
        body, content_type = metrics_page.render(request.headers.get("Accept", ""))
    except DatabaseError:
        # A failed scrape (Prometheus sets up=0) rather than figures that look like zero.
        return HttpResponse(
            "database unavailable\n", status=503, content_type="text/plain; charset=utf-8"
        )
    return HttpResponse(body, content_type=content_type)
