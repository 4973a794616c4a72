"""A job's newest runs drawn on its page: a strip of outcome cells and a duration chart.

Server-side markup only, like the dashboard's charts (jobs.admin.charts): numbers and
states go into the SVG, and every label passes through format_html.
"""

from collections.abc import Callable

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from jobs.selectors.job_runs import Run
from web.display import duration_text

from .charts import HEIGHT, PAD_BOTTOM, PAD_LEFT, PAD_TOP, WIDTH, px

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def outcome_strip(runs: list[Run], *, link: Callable[[int], str]) -> SafeString:
    """Return one coloured cell per run, oldest on the left, each linking to its execution."""
    cells = format_html_join(
        "",
        '<a href="{}" class="sched-cell sched-{}" title="{}"></a>',
        ((link(run.execution_id), run.state, _describe(run)) for run in runs),
    )
    return format_html('<div class="sched-strip" data-runs="{}">{}</div>', len(runs), cells)


def duration_chart(runs: list[Run], *, title: str) -> SafeString | str:
    """Return each finished run's duration over time: a line through coloured points."""
    # By start: a backfilled or caught-up run may have started out of its scheduled order.
    timed = sorted((run for run in runs if run.duration is not None), key=lambda r: r.started_at)
    if not timed:
        return "No finished runs yet."
    plot_w, plot_h = WIDTH - PAD_LEFT - 16, HEIGHT - PAD_BOTTOM - PAD_TOP
    first, last = timed[0].started_at, timed[-1].started_at
    span = (last - first).total_seconds()
    peak = max(run.duration.total_seconds() for run in timed) or 1.0
    points = []
    for run in timed:
        offset = (run.started_at - first).total_seconds() / span if span else 0.5
        x = PAD_LEFT + 8 + plot_w * offset
        y = PAD_TOP + plot_h * (1 - run.duration.total_seconds() / peak)
        points.append((*px(x, y), run.state, _describe(run)))
    line = " ".join(f"{x},{y}" for x, y, _, _ in points)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3.5" class="sched-dot sched-dot-{}"><title>{}</title></circle>',
        points,
    )
    base = PAD_TOP + plot_h
    return format_html(
        '<svg class="sched-chart sched-durations" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<text x="{}" y="{}" class="sched-tick" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" class="sched-tick" text-anchor="end">0</text>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="sched-axis"/>'
        '<text x="{}" y="{}" class="sched-tick" text-anchor="start">{}</text>'
        '<text x="{}" y="{}" class="sched-tick" text-anchor="end">{}</text>'
        '<polyline points="{}" class="sched-duration-line"/>{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        PAD_LEFT - 4,
        PAD_TOP + 8,
        duration_text(max(run.duration for run in timed)),
        PAD_LEFT - 4,
        base,
        PAD_LEFT,
        base,
        WIDTH - 8,
        base,
        PAD_LEFT,
        HEIGHT - 6,
        f"{first:{TIME_FORMAT}} UTC",
        WIDTH - 8,
        HEIGHT - 6,
        f"{last:{TIME_FORMAT}} UTC",
        line,
        dots,
    )


def _describe(run: Run) -> str:
    when = run.started_at or run.scheduled_for
    return (
        f"#{run.execution_id} attempt {run.attempt}: {run.state}, {when:{TIME_FORMAT}} UTC, "
        f"{duration_text(run.duration)}"
    )
