"""OpenTelemetry traces across the queue: from whatever enqueued a job to its worker's run.

Off unless TRACING_ENABLED is set and the `otel` extra is installed (a system check says so
when one comes without the other). Only OpenTelemetry's API is used here: where the spans go
is the process's tracer provider, which ops.telemetry sets up from the OTEL_* variables.

- A job keeps the W3C trace context current where it was created (an API request's span, a
  span of the application's own code) in `Job.trace_context`.
- The worker's spans for one attempt: `jobs.claim <queue>` (from the claim's request to its
  answer) and, within it, `jobs.run <handler>` (the handler's run, with its outcome). A
  one-time job's attempts continue the enqueuer's trace; a recurring job's runs each start
  a trace of their own, linked to the one that created the job, so a cron job does not grow
  one trace for ever.
- A retry's run links to the run of its occurrence's first attempt: the first failing
  attempt writes its span's traceparent (`Execution.trace_link`) and each retry inherits it.
"""

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from . import conf
from .states import ExecutionState, ScheduleType

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the `otel` extra is not installed
    trace = None

TRACER_NAME = "django-pgscheduler"
_W3C = None if trace is None else TraceContextTextMapPropagator()


def installed() -> bool:
    return trace is not None


def enabled() -> bool:
    return trace is not None and conf.TRACING_ENABLED


def current_context() -> dict:
    """The trace context current here, as headers to store with a job; {} when none."""
    if not enabled() or not trace.get_current_span().get_span_context().is_valid:
        return {}
    # W3C trace context only (traceparent, tracestate): baggage a client sent is not stored.
    carrier: dict = {}
    _W3C.inject(carrier)
    return carrier


def attempt_spans(execution, *, claimed: tuple[int, int]):
    """Record the claim of `execution` (`claimed`: when the claim was sent and answered, in
    ns since the epoch); a context manager giving the span of its run, current while the
    handler runs (None when tracing is off: every run passes here, so that costs nothing)."""
    if not enabled():
        return nullcontext()
    return _attempt_spans(execution, claimed=claimed)


@contextmanager
def _attempt_spans(execution, *, claimed: tuple[int, int]) -> Iterator[object]:
    job = execution.job
    origin = propagate.extract(job.trace_context or {})
    origin_span = trace.get_current_span(origin).get_span_context()
    if job.schedule_type == ScheduleType.ONCE:
        parent, links = origin, []
    else:
        parent = otel_context.Context()  # a trace of its own for each run
        links = [Link(origin_span, {"jobs.link": "created_by"})] if origin_span.is_valid else []
    first = _span_context(execution.trace_link)
    if first is not None:
        links.append(Link(first, {"jobs.link": "first_attempt"}))
    attributes = {
        "jobs.job.id": str(job.id),
        "jobs.job.name": job.name,
        "jobs.execution.id": execution.id,
        "jobs.attempt": execution.attempt,
        "jobs.queue": execution.queue,
        "jobs.handler": job.handler,
    }
    tracer = trace.get_tracer(TRACER_NAME)
    claim = tracer.start_span(
        f"jobs.claim {execution.queue}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
        start_time=claimed[0],
    )
    claim.end(end_time=claimed[1])
    with tracer.start_as_current_span(
        f"jobs.run {job.handler}",
        context=trace.set_span_in_context(claim, parent),
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def link_for(execution, span) -> str:
    """What an attempt that fails hands its retry to link to: the first attempt's run."""
    if execution.trace_link or span is None:
        return execution.trace_link
    carrier: dict = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent", "")


def ended(span, outcome) -> None:
    """Note how the attempt ended on its run span."""
    if span is None:
        return
    span.set_attribute("jobs.outcome", outcome.state)
    if outcome.state == ExecutionState.FAILED:
        span.set_attribute("jobs.error_code", outcome.error_code)
        span.set_status(Status(StatusCode.ERROR, outcome.error[:200]))


def _span_context(traceparent: str):
    if not traceparent:
        return None
    found = trace.get_current_span(_W3C.extract({"traceparent": traceparent})).get_span_context()
    return found if found.is_valid else None
