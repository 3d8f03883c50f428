"""Log masking: phone numbers, e-mail addresses and secrets never reach a log line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from integration_hub import tracing
from integration_hub.logs import configure_logging, mask_sensitive
from integration_hub.runtime import Hub
from integration_hub.settings import Settings
from tests.helpers import (
    STRIPE_SECRET,
    STRIPE_SECRET_KEY,
    partner_secrets,
    serve_hub,
    stripe_delivery,
    wait_until,
)


def masked(**fields: object) -> dict[str, object]:
    return dict(mask_sensitive(None, "info", dict(fields)))


def test_phone_numbers_are_masked_in_any_string() -> None:
    line = masked(event="sent", detail="to whatsapp:+13055550142 and +34600111222")
    assert line["detail"] == "to whatsapp:+***42 and +***22"


def test_email_addresses_are_masked_in_any_string() -> None:
    line = masked(event="user jane.doe@example.com created", email="ops@example.org")
    assert line == {"event": "user j***@example.com created", "email": "o***@example.org"}


def test_values_of_secret_keys_are_dropped() -> None:
    line = masked(secret="anything", api_key="k", Authorization="Basic Zm9v", token_count=3)
    assert line == {"secret": "***", "api_key": "***", "Authorization": "***", "token_count": 3}


def test_known_secret_shapes_are_masked_in_any_string() -> None:
    line = masked(error=f"bad {STRIPE_SECRET} / {STRIPE_SECRET_KEY} / Bearer abc.def-1")
    assert line["error"] == "bad whsec_test_*** / sk_test_*** / Bearer ***"


def test_personal_data_in_an_unknown_shape_is_masked_by_key() -> None:
    assert masked(phone="305 555 0142")["phone"] == "***"


def test_nested_values_are_masked() -> None:
    line = masked(payload={"customer": {"email": "a@b.co", "phones": ["+13055550142"]}})
    assert line["payload"] == {"customer": {"email": "a***@b.co", "phones": ["+***42"]}}


def test_harmless_fields_are_kept() -> None:
    fields = {"event": "received", "partner": "stripe", "at": "2026-01-01T00:00:00+00:00", "n": 5}
    assert masked(**fields) == fields


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The hub's configured processors, writing to a buffer instead of stderr."""
    configure_logging(Settings(_env_file=None, log_json=True))  # type: ignore[call-arg]
    buffer = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer))
    yield buffer
    structlog.reset_defaults()


def test_configured_logging_writes_masked_lines(json_lines: io.StringIO) -> None:
    structlog.get_logger("test").warning(
        "delivery_refused", sender="+13055550142", header=f"Bearer {STRIPE_SECRET_KEY}"
    )
    line = json.loads(json_lines.getvalue().strip().splitlines()[-1])
    assert (line["sender"], line["header"]) == ("+***42", "Bearer ***")


@pytest.fixture
def traced_json_lines() -> Iterator[io.StringIO]:
    """JSON lines at debug level, uncached (module loggers must not keep this buffer), with
    tracing on so lines carry the trace id."""
    configure_logging(Settings(_env_file=None, log_json=True, log_level="debug"))  # type: ignore[call-arg]
    buffer = io.StringIO()
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(buffer), cache_logger_on_first_use=False
    )
    provider = TracerProvider()
    tracing.use_provider(provider)
    yield buffer
    tracing.use_provider(None)
    provider.shutdown()
    structlog.reset_defaults()


async def test_lines_about_an_event_carry_its_ids_and_trace(
    hub_settings: Settings, traced_json_lines: io.StringIO
) -> None:
    async with serve_hub(Hub(hub_settings, secrets=partner_secrets())) as running:
        body, headers = stripe_delivery()
        response = await running.http.post("/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 200

        async def lines() -> dict[str, dict[str, object]]:
            parsed = (json.loads(line) for line in traced_json_lines.getvalue().splitlines())
            return {line["event"]: line for line in parsed}

        seen = await wait_until(lines, lambda found: "handler_completed" in found)
    partner_event_id = json.loads(body)["id"]
    normalized, started, completed = (
        seen[name] for name in ("event_normalized", "workflow_started", "handler_completed")
    )
    assert isinstance(normalized["event_ids"], list)
    (event_id,) = normalized["event_ids"]
    for line in (normalized, started, completed):
        assert line["partner"] == "stripe"
        assert line["partner_event_id"] == partner_event_id
        assert isinstance(line["trace_id"], str) and len(line["trace_id"]) == 32
    for line in (started, completed):
        assert line["event_id"] == event_id
        assert line["workflow_id"] == f"ledger/{event_id}"
    assert normalized["trace_id"] == started["trace_id"] == completed["trace_id"]
