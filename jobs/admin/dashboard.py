"""The operator's dashboard: what is queued, running, failing and dead, on one page.

Every figure is an aggregate over an index (the partial indexes of queued and running rows,
(state, finished_at) for recent outcomes), so the page costs the same with a million
executions as with a hundred. The page reloads its panels every DASHBOARD_REFRESH_SECONDS
(a small script fetches `?panels=1` and swaps them in).
"""

from datetime import datetime, timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models.functions import TruncHour, TruncMinute
from django.template.response import TemplateResponse
from django.utils import timezone

from jobs import policy
from jobs.models import Execution, Job
from jobs.selectors.queues import queue_figures, queue_limits
from jobs.selectors.series import latest_dead_letters, outcome_series
from jobs.selectors.stats import stats_for
from jobs.selectors.workers import fleet, waiting_for_handler, worker_rows
from web.display import age_text

from .charts import throughput_chart

DASHBOARD_REFRESH_SECONDS = 10
DEAD_LETTERS_SHOWN = 10


def figures(user, *, now: datetime) -> dict:
    """Return everything the dashboard shows."""
    counts = stats_for(user, now=now)
    hour = outcome_series(
        now=now, span=timedelta(hours=1), bucket=timedelta(minutes=5), trunc=TruncMinute
    )
    day = outcome_series(
        now=now, span=timedelta(days=1), bucket=timedelta(hours=1), trunc=TruncHour
    )
    may_view_workers = policy.may_view_workers(user)
    workers = list(worker_rows()) if may_view_workers else []
    for worker in workers:
        worker.heartbeat_age = age_text(now - worker.heartbeat_at)
    limits = queue_limits()
    windows = {w["window"]: w for w in counts["windows"]}
    for window in windows.values():
        rate = window["failure_rate"]
        window["failure_percent"] = None if rate is None else round(rate * 100, 1)
    live = fleet(now=now)
    return {
        "now": now,
        "jobs": counts["jobs"],
        "executions": counts["executions"],
        "windows": [windows["1h"], windows["24h"]],
        "queues": [
            {
                "name": name,
                "figures": queue,
                "lag": queue.lag_seconds(now),
                "limits": limits.get(name),
            }
            # The queues /metrics shows: those with work and those live workers serve.
            for name, queue in queue_figures(now=now, served=live.served).items()
        ],
        "hour_chart": throughput_chart(hour, title="Last hour, per 5 minutes", label_every=2),
        "day_chart": throughput_chart(day, title="Last 24 hours, per hour", label_every=3),
        "dead_letters": latest_dead_letters(limit=DEAD_LETTERS_SHOWN),
        "workers": workers,
        "may_view_workers": may_view_workers,
        "waiting_for_handler": waiting_for_handler(live, now=now) if may_view_workers else {},
    }


def dashboard_view(request):
    """Render the dashboard, or just its panels when the page's script asks for them."""
    # Its figures cover everyone's jobs and executions: for those who may see them all.
    user = request.user
    if not (
        policy.reaches_all(user, policy.VIEW, Job)
        and policy.reaches_all(user, policy.VIEW, Execution)
    ):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Scheduler dashboard",
        "refresh_seconds": DASHBOARD_REFRESH_SECONDS,
        **figures(request.user, now=timezone.now()),
    }
    template = (
        "admin/jobs/dashboard_panels.html"
        if request.GET.get("panels")
        else "admin/jobs/dashboard.html"
    )
    return TemplateResponse(request, template, context)


dashboard = admin.site.admin_view(dashboard_view)
