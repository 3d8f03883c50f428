"""Log masking: phone numbers, e-mail addresses and secrets never reach a log line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from integration_hub.logs import configure_logging, mask_sensitive
from integration_hub.settings import Settings
from tests.helpers import STRIPE_SECRET, STRIPE_SECRET_KEY


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
