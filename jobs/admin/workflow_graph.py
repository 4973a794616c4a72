"""A workflow as a server-side SVG graph: one node per step, coloured by its state and
linked to its job, an edge per dependency. No JavaScript library, no CDN.

Steps stand in columns by depth (the longest path to them), upstream on the left. Names
pass through format_html, so nothing a user typed reaches the markup unescaped.
"""

from collections import defaultdict

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from jobs.selectors.workflows import StepRow

from .charts import px

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 130, 28, 50, 12, 10
COLOURS = {
    "waiting": "#d8d8d8",
    "queued": "#9cc7e0",
    "running": "#f3d36b",
    "succeeded": "#6fbf73",
    "failed": "#e06666",
    "cancelled": "#a0a0a0",
}


def workflow_graph(steps: list[StepRow]) -> SafeString:
    """Return the SVG of `steps` (as jobs.selectors.workflows.step_rows reads them)."""
    columns = defaultdict(list)
    for step in steps:
        columns[step.depth].append(step)
    where = {}
    for depth, column in columns.items():
        for row, step in enumerate(column):
            where[step.name] = (PAD + depth * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(columns, default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(c) for c in columns.values()), default=1) * (NODE_H + GAP_Y)
    edges = []
    for step in steps:
        x2, y2 = where[step.name]
        for upstream in step.depends_on:
            x1, y1 = where[upstream]
            edges.append(px(x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2))
    lines = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888" marker-end="url(#arrow)"/>',
        edges,
    )
    nodes = format_html_join(
        "",
        '<a href="{}"><g class="wf-step wf-{}"><title>{}: {}</title>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="{}" stroke="#555"/>'
        '<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text></g></a>',
        (
            (
                reverse("admin:jobs_job_change", args=[step.job_id]),
                step.state,
                step.name,
                step.state,
                *px(*where[step.name], NODE_W, NODE_H),
                COLOURS.get(step.state, "#fff"),
                *px(where[step.name][0] + NODE_W / 2, where[step.name][1] + NODE_H / 2 + 4),
                _short(step.name),
            )
            for step in steps
        ),
    )
    return format_html(
        '<svg class="wf-graph" viewBox="0 0 {} {}" width="{}" role="img" '
        'aria-label="Workflow graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" '
        'refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" '
        'fill="#888"/></marker></defs>{}{}</svg>',
        width,
        height,
        width,
        lines,
        nodes,
    )


def _short(name: str) -> str:
    return name if len(name) <= 18 else f"{name[:17]}…"
