"""iCal feeds (Airbnb, Vrbo, Booking.com, a PMS's export): poll only (pms.md §8).

Each feed is a PMS connection (`pms_connections`, partner "ical"; its options hold the
`channel` and the `listing_name`); its URL is the secret `ICAL_FEED_URL__<CONNECTION>`, since
the token in it is the feed's only authentication: never logged, never in an error, never in
a stored event (events carry the connection id). `feeds.check_feed_url` is what `hub ical
add` (and the admin API) check a URL with before storing it.

The poll (`poll.fetch_feed`, one run per connection) makes a conditional GET (`download`),
parses the calendar (`parse`) and stores ONE "calendar.fetched" event per changed calendar:
the parsed entries (uid, dates, reserved or blocked, Airbnb's HM code), never the raw ICS.
The connector (`webhook`) normalizes it to `pms.calendar_observed`; the core diffs it against
the stays it knows (what vanished is a cancellation, unless most vanished at once).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import Partner, PollContext, PollPage, PollSource, Secret

if TYPE_CHECKING:
    import typer

    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.partner import WebhookContext

NAME = "ical"
FEED_URL = Secret(
    "ICAL_FEED_URL",
    format=r"(https?|file)://\S+",
    per_instance=True,
    source=(
        "Airbnb: Calendar > Availability > Connect calendars > Export calendar; Vrbo: "
        "Calendar > Import/Export > Export; stored by `hub ical add`"
    ),
)
POLL_SOURCE = "feed"
FETCHED = "calendar.fetched"  # the event type of one parsed calendar (this package's own)
# The schedule's tick: a feed is fetched on the first tick HUB_ICAL_POLL_MINUTES after its last
# fetch (the declaration cannot read settings), so the setting works without a new schedule.
TICK = timedelta(minutes=5)


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.ical.webhook import IcalConnector

    return IcalConnector()


def _fetch(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.ical.poll import fetch_feed

    return fetch_feed(context, cursor)


def _cli() -> typer.Typer:
    from integration_hub.connectors.ical.cli import ical_app

    return ical_app()


PARTNER = Partner(
    name=NAME,
    priority="P1",
    display_name="iCal feeds",
    summary="Reservations: Airbnb, Vrbo and other iCal calendars polled per feed (no push).",
    capabilities=frozenset({"reservations"}),
    secrets=(FEED_URL,),
    webhook=_webhook,
    polls=(PollSource(POLL_SOURCE, every=TICK, fetch=_fetch, per_connection=True),),
    cli_name="ical",
    cli=_cli,
)
