"""OpenTelemetry traces: one trace per delivery, from the ingest request to the last activity.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; then
spans go out over OTLP/HTTP (the exporter reads the other standard `OTEL_*` variables itself).
Off, `enabled()` is False and the hot path skips every span: no tracer call at all.

The normalizer runs later, maybe in another process, so a span's context travels with the data:
the ingest span's W3C `traceparent` is kept with the raw event's headers under
`x-hub-traceparent`, and the normalize span's as the internal event's CloudEvents `traceparent`
extension attribute (the Distributed Tracing extension). The dispatcher starts each workflow
under the latter; the Temporal interceptor carries it on into workflows and activities.

The provider is this module's, not the process-global one, so a test can install an in-memory
exporter and take it away again without touching anything else in the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio.contrib.opentelemetry import TracingInterceptor

TRACEPARENT_HEADER = "x-hub-traceparent"  # reserved key in raw_events.headers
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROPAGATOR = TraceContextTextMapPropagator()
_NOOP = trace.NoOpTracer()

_provider: TracerProvider | None = None
_tracer: trace.Tracer = _NOOP


def enabled() -> bool:
    return _provider is not None


def tracer() -> trace.Tracer:
    return _tracer


def use_provider(provider: TracerProvider | None) -> None:
    """Install (or, with None, remove) the provider every hub span goes to."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer("integration_hub") if provider is not None else _NOOP


def configure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Export over OTLP/HTTP when the standard variables ask for it; True if tracing is on.
    Keeps a provider already installed (a test's, or an earlier call's)."""
    env = os.environ if environ is None else environ
    if _provider is not None:
        return True
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if not any(env.get(name) for name in ENDPOINT_VARIABLES):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "integration-hub")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_provider(provider)
    return True


def shutdown() -> None:
    """Flush what is buffered; called when the hub stops."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)


def temporal_interceptors() -> list[TracingInterceptor]:
    """For `Client.connect(interceptors=...)`: the worker built on that client inherits them."""
    return [TracingInterceptor(_tracer)] if enabled() else []


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None when there is none (tracing off)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> Context | None:
    """A context whose current span is the remote one `traceparent` names (None: a new trace)."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def trace_id_hex() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
