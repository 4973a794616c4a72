"""OpenTelemetry: one trace from an API request through a real worker's runs of the job.

The web side is this test process (Django's instrumentation, an in-memory span exporter);
the worker is a real `runworker` process sending OTLP over HTTP, as it would to a collector,
to a small receiver the test runs on loopback. Its spans join the request's trace, and the
retry's run links to the first attempt's.
"""

import http.server
import threading

import pytest
from django.utils import timezone
from opentelemetry import trace
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from jobs import services, tracing
from jobs.models import Execution, Job
from jobs.states import ExecutionState
from ops import telemetry
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# One provider for this process: OpenTelemetry lets a process set it once.
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider():
    current = trace.get_tracer_provider()
    if isinstance(current, trace.ProxyTracerProvider):
        current = TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture
def traced(settings):
    """Tracing on in this process, with Django's request spans, and an empty exporter."""
    settings.TRACING_ENABLED = True
    DjangoInstrumentor().instrument()
    EXPORTER.clear()
    yield EXPORTER
    DjangoInstrumentor().uninstrument()


class Collector(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on loopback: keeps every span it is sent."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Receive)
        self.spans = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Receive(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.server.spans.extend(scope.spans)
        body = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def attributes(span) -> dict:
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}


def test_one_trace_from_the_api_request_through_the_worker_s_runs_with_the_retry_linked(
    traced, collector, alice, start_worker
):
    response = alice.post(
        "/api/v1/jobs",
        {
            "name": "traced",
            "handler": "probe",
            "payload": {"mode": "fail"},
            "schedule_type": "once",
            "run_at": timezone.now().isoformat(),
            "max_retries": 1,
            "retry_backoff_seconds": 1,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    [request] = [s for s in traced.get_finished_spans() if s.kind == SpanKind.SERVER]
    request_ctx = request.get_span_context()
    job = Job.objects.get(pk=response.json()["id"])
    assert (
        f"{request_ctx.trace_id:032x}-{request_ctx.span_id:016x}"
        in (job.trace_context["traceparent"])
    )

    start_worker("--concurrency", "1", env=worker_tracing(collector))
    wait_for(
        lambda: Execution.objects.filter(job=job, state=ExecutionState.DEAD).exists(),
        message="the first attempt to fail and its retry to be dead-lettered",
    )
    spans = wait_for(
        lambda: (
            len([s for s in collector.spans if s.name == "jobs.run probe"]) == 2
            and list(collector.spans)
        ),
        message="the worker's spans",
    )
    claims = sorted(
        (s for s in spans if s.name == "jobs.claim default"),
        key=lambda s: attributes(s)["jobs.attempt"],
    )
    runs = sorted(
        (s for s in spans if s.name == "jobs.run probe"),
        key=lambda s: attributes(s)["jobs.attempt"],
    )
    assert len(claims) == 2

    # One trace: the request's, with each claim under the request and each run under its claim.
    trace_id = request_ctx.trace_id.to_bytes(16, "big")
    assert {s.trace_id for s in spans} == {trace_id}
    for claim, run in zip(claims, runs, strict=True):
        assert claim.parent_span_id == request_ctx.span_id.to_bytes(8, "big")
        assert run.parent_span_id == claim.span_id
        assert claim.start_time_unix_nano <= claim.end_time_unix_nano <= run.start_time_unix_nano

    executions = list(Execution.objects.filter(job=job).order_by("attempt"))
    for run, execution in zip(runs, executions, strict=True):
        assert attributes(run) == {
            "jobs.job.id": str(job.pk),
            "jobs.job.name": "traced",
            "jobs.execution.id": execution.pk,
            "jobs.attempt": execution.attempt,
            "jobs.queue": "default",
            "jobs.handler": "probe",
            "jobs.outcome": "failed",
            "jobs.error_code": "exception",
        }
        assert run.status.code == run.status.STATUS_CODE_ERROR

    # The retry's run links to the first attempt's; the first links to nothing.
    assert list(runs[0].links) == []
    [link] = runs[1].links
    assert (link.trace_id, link.span_id) == (trace_id, runs[0].span_id)
    assert attributes(link) == {"jobs.link": "first_attempt"}


def test_a_recurring_job_s_run_is_a_trace_of_its_own_linked_to_the_request_that_made_it(
    traced, collector, alice, start_worker
):
    response = alice.post(
        "/api/v1/jobs",
        {
            "name": "hourly",
            "handler": "noop",
            "schedule_type": "interval",
            "interval_seconds": 3600,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    [request] = [s for s in traced.get_finished_spans() if s.kind == SpanKind.SERVER]
    services.job_trigger(job=Job.objects.get(pk=response.json()["id"]))
    start_worker("--concurrency", "1", env=worker_tracing(collector))

    spans = wait_for(
        lambda: [s for s in collector.spans if s.name == "jobs.run noop"] and list(collector.spans),
        message="the worker's spans",
    )
    [claim] = [s for s in spans if s.name == "jobs.claim default"]
    [run] = [s for s in spans if s.name == "jobs.run noop"]
    request_ctx = request.get_span_context()
    assert claim.trace_id != request_ctx.trace_id.to_bytes(16, "big")
    assert claim.parent_span_id == b"" and run.parent_span_id == claim.span_id
    [link] = claim.links
    assert (link.trace_id, link.span_id) == (
        request_ctx.trace_id.to_bytes(16, "big"),
        request_ctx.span_id.to_bytes(8, "big"),
    )
    assert attributes(link) == {"jobs.link": "created_by"}
    assert attributes(run)["jobs.outcome"] == "succeeded"


def worker_tracing(collector) -> dict:
    """A worker's environment: tracing on, spans sent to `collector` every 100 ms."""
    return {
        "TRACING_ENABLED": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "worker-under-test",
        "NO_PROXY": "127.0.0.1",
    }


def test_a_job_made_with_no_span_current_or_with_tracing_off_keeps_no_context(settings):
    def create():
        return services.job_create(
            owner=None, name="plain", handler="noop", schedule_type="interval", interval_seconds=60
        )

    settings.TRACING_ENABLED = False
    with trace.get_tracer("test").start_as_current_span("application code"):
        assert create().trace_context == {}
    settings.TRACING_ENABLED = True
    assert create().trace_context == {}  # nothing current
    with trace.get_tracer("test").start_as_current_span("application code") as span:
        kept = create().trace_context
    assert f"{span.get_span_context().span_id:016x}" in kept["traceparent"]
    assert tracing.current_context() == {}


def test_tracing_enabled_without_opentelemetry_is_a_system_check_error(settings, monkeypatch):
    settings.TRACING_ENABLED = True
    assert telemetry.check_installed() == []
    monkeypatch.setattr(tracing, "trace", None)
    [error] = telemetry.check_installed()
    assert error.id == "ops.E001" and "not installed" in error.msg
