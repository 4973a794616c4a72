"""Where this process's traces go, when TRACING_ENABLED: OpenTelemetry's SDK sending OTLP
over HTTP, set up from OpenTelemetry's own variables (OTEL_EXPORTER_OTLP_ENDPOINT, default
http://localhost:4318; OTEL_SERVICE_NAME; OTEL_BSP_* for batching), and the Django
instrumentation, which gives each web request its span.

A process whose tracer provider was set up already (by `opentelemetry-instrument`, or the
application's own code) keeps it. What the scheduler traces is jobs.tracing's.
"""

import os

from django.core import checks

from jobs import conf, tracing

SERVICE_NAME = "django-pgscheduler"


def configure() -> None:
    """Set up tracing for this process, once; nothing unless it is enabled and installed."""
    if not tracing.enabled():
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        name = os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)  # flushed at exit (the SDK's atexit hook)
    DjangoInstrumentor().instrument()


def check_installed(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """TRACING_ENABLED without the `otel` extra would trace nothing, silently."""
    if conf.TRACING_ENABLED and not tracing.installed():
        return [
            checks.Error(
                "TRACING_ENABLED is on, but OpenTelemetry is not installed.",
                hint="pip install 'django-pgscheduler[otel]', or turn TRACING_ENABLED off.",
                id="ops.E001",
            )
        ]
    return []
