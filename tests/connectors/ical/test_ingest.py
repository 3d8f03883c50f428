"""Through a served hub: iCal feeds are polled, never pushed, so the edge answers 404 to any
delivery under /webhooks/ical (with or without a connection) and stores nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from integration_hub.connectors.ical.webhook import IcalConnector
from integration_hub.storage.tables import raw_events
from tests.connectors.ical.conftest import CONNECTION
from tests.helpers import RunningHub


async def test_a_delivery_to_the_feed_partner_is_not_found_and_stores_nothing(
    running_hub: RunningHub,
) -> None:
    body = IcalConnector().sample("calendar.fetched")

    answers = [
        await running_hub.http.post(path, content=body, headers={"content-type": "text/calendar"})
        for path in ("/webhooks/ical", f"/webhooks/ical/{CONNECTION}")
    ]

    assert [answer.status_code for answer in answers] == [404, 404]
    with running_hub.hub.engine.connect() as connection:
        count = select(func.count()).select_from(raw_events).where(raw_events.c.partner == "ical")
        assert connection.execute(count).scalar_one() == 0
