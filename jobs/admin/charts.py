"""Small server-side SVG charts for the dashboard: no JavaScript library, no CDN.

The SVG is built from numbers only; labels pass through format_html, so nothing a user typed
reaches the markup unescaped.
"""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from jobs.selectors.series import Bucket

WIDTH, HEIGHT = 560, 170  # the viewBox; the page scales it to its column
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 22, 10


def throughput_chart(buckets: list[Bucket], *, title: str, label_every: int) -> SafeString:
    """Return stacked bars (succeeded below, failed above) with the failure rate as a line."""
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    peak = max((b.total for b in buckets), default=0) or 1
    step = plot_w / max(len(buckets), 1)
    bar_w = max(step * 0.8, 1)
    bars, labels, points = [], [], []
    for i, bucket in enumerate(buckets):
        x = PAD_LEFT + i * step + (step - bar_w) / 2
        ok_h = plot_h * bucket.succeeded / peak
        bad_h = plot_h * bucket.failed / peak
        base = PAD_TOP + plot_h
        tip = f"{bucket.label}: {bucket.succeeded} succeeded, {bucket.failed} failed"
        bars.append((*px(x, base - ok_h, bar_w, ok_h), "sched-bar-ok", tip))
        bars.append((*px(x, base - ok_h - bad_h, bar_w, bad_h), "sched-bar-bad", tip))
        if i % label_every == 0:
            labels.append((*px(x + bar_w / 2), HEIGHT - 6, bucket.label))
        if bucket.failure_rate is not None:
            points.append(f"{x + bar_w / 2:.1f},{PAD_TOP + plot_h * (1 - bucket.failure_rate):.1f}")
    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}</title></rect>',
        bars,
    )
    ticks = format_html_join(
        "", '<text x="{}" y="{}" class="sched-tick" text-anchor="middle">{}</text>', labels
    )
    line = (
        format_html('<polyline points="{}" class="sched-rate"/>', " ".join(points))
        if len(points) > 1
        else ""
    )
    return format_html(
        '<svg class="sched-chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<text x="{}" y="{}" class="sched-tick" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" class="sched-tick" text-anchor="end">0</text>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="sched-axis"/>'
        "{}{}{}</svg>",
        WIDTH,
        HEIGHT,
        title,
        PAD_LEFT - 4,
        PAD_TOP + 8,
        peak,
        PAD_LEFT - 4,
        PAD_TOP + plot_h,
        PAD_LEFT,
        PAD_TOP + plot_h,
        WIDTH - 8,
        PAD_TOP + plot_h,
        rects,
        ticks,
        line,
    )


def px(*values: float) -> tuple[str, ...]:
    """Coordinates as text: format_html escapes its arguments, so numbers arrive formatted."""
    return tuple(f"{v:.1f}" for v in values)
