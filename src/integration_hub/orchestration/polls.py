"""Poll sources: one generic workflow that runs any source a partner declares (`Partner.polls`).

A run fetches pages until the partner has no more or the source's page bound is reached (the
next run goes on from the stored cursor). Each page is one activity attempt: read the cursor,
fetch from it (no transaction open during the call), then in ONE transaction store the page's
events in `raw_events` through the edge's own insert-or-ignore (`record_deliveries`) and move
the cursor, compare-and-set, from the value fetched with. A crash before that commit refetches
the same page (dedup keeps one copy); a crash after it fetches from the new cursor: nothing is
lost or stored twice. The normalizer then treats the rows exactly as delivered ones, and
`hub replay` replays them the same way.

Retries are Temporal's, with outbound.py's policy; a failed attempt's error is kept in
`poll_cursors.last_error` (doctor shows it). Each declared source gets a Temporal Schedule
(`ensure_poll_schedules`, from `orchestration/calls.ensure_schedules` at worker start), and
`hub poll <partner> <source>` runs one now (`run_poll`). A `per_connection` source has one
schedule per connection of its partner (`poll.<partner>.<source>.<connection>`, the run's
instance the connection id) instead: made at worker start from `pms_connections` and when a
connection is added (`ensure_connection_schedules`), deleted when it is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import structlog

    from integration_hub.connectors.base import PartnerEvent, malformed_entry, storable_key
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.partner import (
        MAX_PAGES_PER_RUN,
        CallsContext,
        Partner,
        PollContext,
        PollSource,
    )
    from integration_hub.errors import MAX_ERROR_CHARS
    from integration_hub.schedules import ensure_schedule, every
    from integration_hub.storage import poll_cursors, raw_events
    from integration_hub.storage.engine import begin_write
    from integration_hub.storage.rows import utcnow
    from integration_hub.storage.tables import MAX_CURSOR_LENGTH

log = structlog.get_logger(__name__)

POLL_WORKFLOW = "hub.poll"
CURSOR_MOVED = "poll_cursor_moved"


@dataclass(frozen=True)
class PollInput:
    partner: str
    source: str
    instance: str = ""


@dataclass(frozen=True)
class PageInput:
    partner: str
    source: str
    instance: str
    page: int  # 0 for a run's first page


@dataclass(frozen=True)
class PageResult:
    stored: int
    duplicates: int
    more: bool  # the partner said it has more
    run_limit: int  # the source's pages per run (bounded)


@dataclass(frozen=True)
class PollResult:
    pages: int
    stored: int
    duplicates: int
    more: bool  # the run stopped at its page bound with more waiting (the next run goes on)


def schedule_id(partner: str, source: str) -> str:
    return f"poll.{partner}.{source}"


def refused(message: str, kind: str) -> ApplicationError:
    """A page the hub will not store; the same page would be refused on every attempt."""
    return ApplicationError(message, type=kind, non_retryable=True)


class PollActivities:
    """Built once per worker with the calls context and the partners whose sources it runs."""

    def __init__(self, context: CallsContext, partners: Sequence[Partner]) -> None:
        self._context = context
        self._sources = {(p.name, s.name): s for p in partners for s in p.polls}

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.poll_page]

    @activity.defn(name="poll.page")
    def poll_page(self, input: PageInput) -> PageResult:
        source = self._sources.get((input.partner, input.source))
        if source is None:
            raise refused(f"no poll source {input.partner}/{input.source}", "unknown_poll_source")
        with structlog.contextvars.bound_contextvars(
            partner=input.partner, poll_source=input.source, poll_instance=input.instance
        ):
            try:
                return self._page(source, input)
            except ApplicationError as error:
                if error.type != CURSOR_MOVED:  # another run's success, not this source's error
                    self._record_error(input, error.message)
                raise
            except Exception as error:
                self._record_error(input, f"{type(error).__name__}: {error}")
                raise

    def _page(self, source: PollSource, input: PageInput) -> PageResult:
        key = {"partner": input.partner, "source": input.source, "instance": input.instance}
        engine = self._context.engine
        with engine.connect().execution_options(read_only=True) as connection:
            cursor = poll_cursors.get_cursor(connection, **key)
        page = source.fetch(
            PollContext(self._context, instance=input.instance, max_events=source.page_limit),
            cursor,
        )
        rows = self._rows(source, input, page.events)
        next_cursor = cursor if page.cursor is None else page.cursor
        if next_cursor is not None and (
            len(next_cursor) > MAX_CURSOR_LENGTH or "\x00" in next_cursor
        ):
            raise refused(
                f"the next cursor is not storable (over {MAX_CURSOR_LENGTH} chars, or a NUL)",
                "poll_cursor_too_long",
            )
        with begin_write(engine) as connection:
            if not poll_cursors.advance(connection, **key, expected=cursor, cursor=next_cursor):
                # Another run stored a page from this cursor first: fetch again from its cursor.
                raise ApplicationError("the cursor moved during the fetch", type=CURSOR_MOVED)
            inserted = raw_events.record_deliveries(connection, events=rows)
        log.info("poll_page_stored", page=input.page, stored=len(inserted), events=len(rows))
        return PageResult(
            stored=len(inserted),
            duplicates=len(rows) - len(inserted),
            more=page.more,
            run_limit=source.run_limit,
        )

    def _rows(
        self, source: PollSource, input: PageInput, events: Sequence[PartnerEvent]
    ) -> list[raw_events.NewRawEvent]:
        """Checked before anything is stored: the page and every body within the bounds, an
        id or type that does not fit raw_events kept dead-lettered (as a batch's bad entry)."""
        if len(events) > source.page_limit:
            raise refused(
                f"a page of {len(events)} events exceeds the source's {source.page_limit}",
                "poll_page_too_large",
            )
        max_body = self._context.settings.max_body_bytes
        headers = {"poll-source": input.source}
        if input.instance:
            headers["poll-instance"] = input.instance
        now = utcnow()
        rows = []
        for event in events:
            stored = event
            if len(event.body) > max_body:
                # Kept dead-lettered alone, as an oversized webhook entry would be refused alone:
                # refusing the page would refetch it forever and stop the source. Its id still
                # comes from all its bytes (a refetch is a duplicate); the bytes are not kept.
                bad = malformed_entry(
                    event.body, f"an event of {len(event.body)} bytes exceeds HUB_MAX_BODY_BYTES"
                )
                stored = PartnerEvent(bad.partner_event_id, bad.event_type, b"", bad.malformed)
            elif not (storable_key(event.partner_event_id) and storable_key(event.event_type)):
                stored = malformed_entry(event.body, "event id or type too long, or holds NUL")
            rows.append(
                raw_events.NewRawEvent(
                    partner=input.partner,
                    partner_event_id=stored.partner_event_id,
                    event_type=stored.event_type,
                    received_at=now,
                    headers=headers,
                    body=stored.body,
                    last_error=stored.malformed,
                )
            )
        return rows

    def _record_error(self, input: PageInput, message: str) -> None:
        error = message[:MAX_ERROR_CHARS]  # bounded: what a partner answers can be anything
        log.warning("poll_page_failed", page=input.page, error=error)
        try:
            with begin_write(self._context.engine) as connection:
                poll_cursors.record_error(
                    connection,
                    partner=input.partner,
                    source=input.source,
                    instance=input.instance,
                    error=error,
                )
        except Exception as failed:  # the attempt's own error is what Temporal must see
            log.warning("poll_error_not_recorded", error=f"{type(failed).__name__}: {failed}")


@workflow.defn(name=POLL_WORKFLOW)
class PollWorkflow:
    """Fetch and store pages of one source until it has no more or the run's bound is hit."""

    @workflow.run
    async def run(self, input: PollInput) -> PollResult:
        pages = stored = duplicates = 0
        more, limit = True, MAX_PAGES_PER_RUN
        while more and pages < limit:
            page = PageInput(input.partner, input.source, input.instance, page=pages)
            result = await call_activity(PollActivities.poll_page, page)
            pages += 1
            stored += result.stored
            duplicates += result.duplicates
            more, limit = result.more, min(result.run_limit, MAX_PAGES_PER_RUN)
        return PollResult(pages=pages, stored=stored, duplicates=duplicates, more=more)


def connection_schedule_id(partner: str, source: str, connection: str) -> str:
    return f"{schedule_id(partner, source)}.{connection}"


async def _ensure(
    client: Client, task_queue: str, partner: str, source: PollSource, instance: str = ""
) -> str:
    sid = (
        connection_schedule_id(partner, source.name, instance)
        if instance
        else schedule_id(partner, source.name)
    )
    schedule = every(
        PollWorkflow.run,
        PollInput(partner, source.name, instance),
        schedule_id=sid,
        task_queue=task_queue,
        interval=source.every,
    )
    return await ensure_schedule(client, sid, schedule)


async def ensure_poll_schedules(
    client: Client,
    task_queue: str,
    partners: Sequence[Partner],
    connections: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """One schedule per declared source (its default instance), created or brought up to date;
    a `per_connection` source gets one per (partner, connection id) in `connections` instead."""
    ids = []
    for partner in partners:
        own = [c for p, c in connections if p == partner.name]
        for source in partner.polls:
            if not source.per_connection:
                ids.append(await _ensure(client, task_queue, partner.name, source))
                continue
            for connection in own:
                ids.append(await _ensure(client, task_queue, partner.name, source, connection))
    return ids


async def ensure_connection_schedules(
    client: Client, task_queue: str, partner: Partner, connection: str
) -> list[str]:
    """The schedules of a new connection: one per `per_connection` source of its partner."""
    return [
        await _ensure(client, task_queue, partner.name, source, connection)
        for source in partner.polls
        if source.per_connection
    ]


async def delete_connection_schedules(
    client: Client, partner: Partner, connection: str
) -> list[str]:
    """Delete a removed connection's schedules (those already gone are skipped)."""
    from temporalio.service import RPCError, RPCStatusCode

    deleted = []
    for source in partner.polls:
        if not source.per_connection:
            continue
        sid = connection_schedule_id(partner.name, source.name, connection)
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        deleted.append(sid)
    return deleted


async def run_poll(client: Client, task_queue: str, input: PollInput) -> PollResult:
    """Run one source now and wait for it (`hub poll`); a second caller while it runs joins
    the same run rather than racing it."""
    suffix = f".{input.instance}" if input.instance else ""
    result: PollResult = await client.execute_workflow(
        PollWorkflow.run,
        input,
        id=f"{schedule_id(input.partner, input.source)}{suffix}.now",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return result
