"""How the admin's pages show values: state badges, durations, ages and long text.

The badges' colours are in jobs/static/jobs/admin.css, which every admin page using them
loads.
"""

from datetime import timedelta

from django.utils.html import format_html


def badge(state: str, label: str | None = None):
    """Return a coloured state label."""
    return format_html(
        '<span class="sched-badge sched-{}">{}</span>', state or "none", label or state or "—"
    )


def duration_text(delta: timedelta | None) -> str:
    """Return a duration the way people read it: 0.35 s, 12.4 s, 3 min 05 s, 2 h 10 min."""
    if delta is None:
        return "—"
    seconds = delta.total_seconds()
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02} min"


def age_text(delta: timedelta | None) -> str:
    """Return how long ago (or how old) in one short unit: 4 s, 12 min, 3 h, 2 d."""
    if delta is None:
        return "—"
    seconds = max(0, int(delta.total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def pre(text: str, css: str = ""):
    """Return `text` whole, in a monospace block that wraps long lines."""
    if not text:
        return "—"
    return format_html('<pre class="sched-pre {}">{}</pre>', css, text)


def live(content, *, fields: tuple[str, ...], every_ms: int, on: bool = True):
    """Return `content` with the marker jobs/static/jobs/live_fields.js follows.

    While a page carries it, the script fetches the page again every `every_ms` and swaps in
    the named read-only fields; a page rendered with `on` false ends the following.
    """
    if not on:
        return format_html("<span>{}</span>", content)
    return format_html(
        '<span data-sched-live="{}" data-sched-every="{}">{}</span>',
        " ".join(fields),
        every_ms,
        content,
    )
