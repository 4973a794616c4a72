"""The operator's dashboard: what is queued, running, failing and dead, on one page.

Every figure is an aggregate over an index (the partial indexes of queued and running rows,
(state, finished_at) for recent outcomes), so the page costs the same with a million
executions as with a hundred. The page reloads its panels every DASHBOARD_REFRESH_SECONDS
(a small script fetches `?panels=1` and swaps them in).
"""

from datetime import UTC, datetime, timedelta

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.db.models.functions import TruncHour, TruncMinute
from django.template.response import TemplateResponse
from django.utils import timezone

from jobs.api.stats import stats_for
from jobs.models import Execution, Worker
from jobs.states import ExecutionState
from ops.stats import queue_figures

from .charts import Bucket, throughput_chart
from .common import age_text

DASHBOARD_REFRESH_SECONDS = 10
DEAD_LETTERS_SHOWN = 10
FAILED = (ExecutionState.FAILED, ExecutionState.DEAD)
JUDGED = (ExecutionState.SUCCEEDED, *FAILED)  # cancelled runs say nothing of health


def series(*, now: datetime, span: timedelta, bucket: timedelta, trunc) -> list[Bucket]:
    """Return outcomes per `bucket` over the last `span`, oldest first (one query).

    Rows are grouped by `trunc` (minute or hour) in the database and folded into buckets
    here, which keeps the query portable (SQLite too) and the result small.
    """
    size = int(bucket.total_seconds())
    end = _floor(now, size) + bucket
    start = end - span
    buckets = [
        Bucket(label=timezone.localtime(start + i * bucket).strftime("%H:%M"))
        for i in range(int(span / bucket))
    ]
    rows = (
        Execution.objects.filter(state__in=JUDGED, finished_at__gte=start)
        # In UTC, as the buckets are: a local zone would shift them (half-hour offsets) or
        # merge a repeated fall-back hour into its neighbour.
        .annotate(at=trunc("finished_at", tzinfo=UTC))
        .order_by()
        .values("at", "state")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        index = int((row["at"] - start).total_seconds() // size)
        if 0 <= index < len(buckets):
            if row["state"] == ExecutionState.SUCCEEDED:
                buckets[index].succeeded += row["n"]
            else:
                buckets[index].failed += row["n"]
    return buckets


def _floor(moment: datetime, size: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % size, tz=moment.tzinfo)


def figures(user, *, now: datetime) -> dict:
    """Return everything the dashboard shows."""
    counts = stats_for(user, now=now)
    hour = series(now=now, span=timedelta(hours=1), bucket=timedelta(minutes=5), trunc=TruncMinute)
    day = series(now=now, span=timedelta(days=1), bucket=timedelta(hours=1), trunc=TruncHour)
    dead = (
        Execution.objects.filter(state=ExecutionState.DEAD)
        .select_related("job")
        .order_by("-finished_at")[:DEAD_LETTERS_SHOWN]
    )
    workers = []
    if user.has_perm("jobs.view_worker"):
        workers = list(Worker.objects.alive().with_running())
        for worker in workers:
            worker.heartbeat_age = age_text(now - worker.heartbeat_at)
    served = {name for worker in workers for name in worker.queues or []}
    windows = {w["window"]: w for w in counts["windows"]}
    for window in windows.values():
        rate = window["failure_rate"]
        window["failure_percent"] = None if rate is None else round(rate * 100, 1)
    return {
        "now": now,
        "jobs": counts["jobs"],
        "executions": counts["executions"],
        "windows": [windows["1h"], windows["24h"]],
        "queues": [
            {"name": name, "figures": queue, "lag": queue.lag_seconds(now)}
            for name, queue in queue_figures(now=now, served=served).items()
        ],
        "hour_chart": throughput_chart(hour, title="Last hour, per 5 minutes", label_every=2),
        "day_chart": throughput_chart(day, title="Last 24 hours, per hour", label_every=3),
        "dead_letters": list(dead),
        "workers": workers,
        "may_view_workers": user.has_perm("jobs.view_worker"),
    }


@permission_required(["jobs.view_job", "jobs.view_execution"], raise_exception=True)
def dashboard_view(request):
    """Render the dashboard, or just its panels when the page's script asks for them."""
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
