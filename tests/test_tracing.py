"""One trace per delivery: ingest -> normalize -> StartWorkflow -> RunWorkflow -> activity."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from integration_hub import tracing
from integration_hub.runtime import Hub
from integration_hub.settings import Settings
from integration_hub.storage.tables import internal_events, raw_events
from tests.helpers import partner_secrets, serve_hub, stripe_delivery, wait_until


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)
    provider.shutdown()


def _named(finished: Sequence[ReadableSpan], prefix: str) -> ReadableSpan:
    matches = [s for s in finished if s.name.startswith(prefix)]
    assert len(matches) == 1, [s.name for s in finished]
    return matches[0]


def _parent_of(child: ReadableSpan) -> int | None:
    return child.parent.span_id if child.parent is not None else None


async def test_a_delivery_is_one_trace_from_ingest_to_activity(
    hub_settings: Settings, spans: InMemorySpanExporter
) -> None:
    async with serve_hub(Hub(hub_settings, secrets=partner_secrets())) as running:
        body, headers = stripe_delivery()
        response = await running.http.post("/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 200
        await wait_until(
            lambda: _finished(spans), lambda names: any(n.startswith("RunActivity") for n in names)
        )
        with running.hub.engine.connect() as connection:
            kept = connection.execute(raw_events.select()).one().headers
            envelope = connection.execute(internal_events.select()).one().envelope

    finished = spans.get_finished_spans()
    ingest = _named(finished, "POST /webhooks/")
    normalize = _named(finished, "normalize")
    start = _named(finished, "StartWorkflow:handler")  # the one handler workflow type
    run = _named(finished, "RunWorkflow:handler")
    schedule = _named(finished, "StartActivity:apply_handler")
    activity = _named(finished, "RunActivity:apply_handler")
    # The run's workflow id names its handler.
    assert start.attributes is not None
    assert str(start.attributes["temporalWorkflowID"]).startswith("ledger/")

    assert ingest.parent is None and ingest.kind is SpanKind.SERVER
    assert ingest.name == "POST /webhooks/{partner}"
    assert ingest.attributes is not None and ingest.attributes["http.response.status_code"] == 200
    assert ingest.attributes["hub.partner"] == "stripe"
    assert ingest.attributes["http.route"] == "/webhooks/{partner}"
    assert _parent_of(normalize) == ingest.context.span_id
    assert _parent_of(start) == normalize.context.span_id
    assert _parent_of(run) == start.context.span_id
    # Temporal's interceptor makes workflow-side spans zero-length (replay-safe), so they are
    # siblings under StartWorkflow: RunWorkflow, and StartActivity with RunActivity under it.
    assert _parent_of(schedule) == start.context.span_id
    assert _parent_of(activity) == schedule.context.span_id
    assert len({s.context.trace_id for s in finished}) == 1

    # The contexts travel with the data: the raw row keeps the ingest span's traceparent, the
    # CloudEvent the normalize span's (the Distributed Tracing extension).
    trace_id = format(ingest.context.trace_id, "032x")
    assert kept[tracing.TRACEPARENT_HEADER].split("-")[1:3] == [
        trace_id,
        format(ingest.context.span_id, "016x"),
    ]
    assert envelope["traceparent"].split("-")[2] == format(normalize.context.span_id, "016x")
    assert orjson.loads(body)["id"] == envelope["partnereventid"]


async def _finished(exporter: InMemorySpanExporter) -> list[str]:
    return [s.name for s in exporter.get_finished_spans()]


def test_tracing_is_off_without_an_otlp_endpoint() -> None:
    assert not tracing.configure_from_env({})
    assert not tracing.enabled()
    assert tracing.temporal_interceptors() == []
    assert tracing.current_traceparent() is None


def test_an_otlp_endpoint_turns_tracing_on() -> None:
    try:
        assert tracing.configure_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
        assert tracing.enabled()
        assert len(tracing.temporal_interceptors()) == 1
    finally:
        tracing.use_provider(None)
