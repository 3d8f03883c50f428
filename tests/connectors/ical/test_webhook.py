"""The connector normalizes a stored parsed calendar into one schema-valid
`pms.calendar_observed` of the event's connection; a bad one fails alone; nothing is delivered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integration_hub import events
from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.ical.webhook import IcalConnector
from integration_hub.connectors.partners import partner_named
from integration_hub.errors import NormalizationError, SignatureError

CONNECTOR = IcalConnector()
EVENT_ID = "casa-brickell-airbnb:3:5d0c1b2a3e4f5a6b7c8d9e0f"


def normalized(body: bytes, event_id: str = EVENT_ID) -> dict[str, Any]:
    [draft] = CONNECTOR.normalize(PartnerEvent(event_id, "calendar.fetched", body))
    event = events.build_event(partner="ical", partner_event_id=event_id, index=0, draft=draft)
    events.validate_event(event)
    return event


def test_the_sample_normalizes_to_a_valid_calendar_of_the_events_connection() -> None:
    body = CONNECTOR.sample("calendar.fetched")
    sample, event = json.loads(body), normalized(body)

    data = event["data"]
    assert event["type"] == "pms.calendar_observed"
    assert event["subject"] == "casa-brickell-airbnb/casa-brickell-airbnb"
    assert (data["source"], data["connection"]) == ("ical", "casa-brickell-airbnb")
    assert (data["source_listing_id"], data["channel"]) == ("casa-brickell-airbnb", "airbnb")
    assert [e["is_block"] for e in data["entries"]] == [False, True, False]
    first, raw = data["entries"][0], sample["entries"][0]
    assert (first["uid"], first["check_in"], first["check_out"]) == (
        raw["uid"],
        raw["start"],
        raw["end"],
    )
    assert first["channel_code"] == raw["channel_code"] and first["channel_code"].startswith("HM")


def test_an_empty_calendar_is_still_a_calendar() -> None:
    """Every stay gone: the core decides whether that is cancellations or a broken feed."""
    body = {"listing": "x", "channel": "vrbo", "fetched_at": "2026-12-01T10:00:00Z", "entries": []}
    assert normalized(json.dumps(body).encode())["data"]["entries"] == []


def entry(**change: Any) -> dict[str, Any]:
    good = {"uid": "a@airbnb.com", "start": "2026-12-05", "end": "2026-12-06"}
    return {**good, "summary_kind": "reserved", "channel_code": None, **change}


@pytest.mark.parametrize(
    "change",
    [
        {"channel": "myspace"},
        {"entries": None},
        {"fetched_at": "yesterday"},
        {"fetched_at": "2026-12-01T10:00:00"},  # no zone
        {"entries": [{"uid": "a", "start": "2026-12-05", "end": "2026-12-04"}]},
        {"entries": [entry(uid="")]},
        {"entries": [entry(start="12/05/2026")]},
        {"entries": [entry(summary_kind="maybe")]},
    ],
)
def test_a_bad_calendar_fails_its_own_normalization(change: dict[str, Any]) -> None:
    body = {**json.loads(CONNECTOR.sample("calendar.fetched")), **change}
    with pytest.raises(NormalizationError):
        CONNECTOR.normalize(PartnerEvent(EVENT_ID, "calendar.fetched", json.dumps(body).encode()))
    with pytest.raises(NormalizationError):  # not a connection's id
        normalized(CONNECTOR.sample("calendar.fetched"), event_id="no connection here")


def test_other_types_map_to_nothing_and_nothing_is_delivered() -> None:
    assert CONNECTOR.normalize(PartnerEvent(EVENT_ID, "calendar.raw", b"{}")) == []
    with pytest.raises(SignatureError):
        CONNECTOR.verify(Delivery(b"", {}, "https://hub/webhooks/ical", 0.0), ["x"], now=0.0)
    assert CONNECTOR.manifest.endpoints == frozenset()  # the edge answers 404 to every path
    partner = partner_named("ical")
    assert partner.polls[0].per_connection and "reservations" in partner.capabilities
    assert partner.secret("ICAL_FEED_URL").per_instance
