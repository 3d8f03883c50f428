"""Drains raw events in `received` status into validated CloudEvents. Never waits on Temporal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy import Connection, Engine

from integration_hub import metrics, tracing
from integration_hub.connectors.base import MALFORMED_ID_PREFIX, Connector, PartnerEvent
from integration_hub.errors import MAX_ERROR_CHARS
from integration_hub.events import build_event, validate_event
from integration_hub.storage import raw_events
from integration_hub.storage.engine import begin_write, is_sqlite
from integration_hub.storage.internal_events import NormalizationOutcome
from integration_hub.storage.refusals import store_isolating_refusals
from integration_hub.storage.rows import AnyRow, as_utc
from integration_hub.storage.tables import RawStatus

log = structlog.get_logger(__name__)

HandlerNames = Callable[[str], Sequence[str]]
Outcomes = list[tuple[str, NormalizationOutcome]]  # (partner, outcome)
MALFORMED_FALLBACK_ERROR = "malformed entry of a batch; not the partner's payload"


def workflow_id(handler: str, event_id: str) -> str:
    """Deterministic per (internal event, handler): a re-dispatch can never start a twin."""
    return f"{handler}/{event_id}"


def normalize_row(
    row: AnyRow, connectors: Mapping[str, Connector], handler_names: HandlerNames
) -> NormalizationOutcome:
    outcome = NormalizationOutcome(raw_event_id=row.id)
    if row.partner_event_id.startswith(MALFORMED_ID_PREFIX):
        # Backstop: replay refuses these, but a row requeued another way must not become
        # `ignored` (no connector maps "malformed"): it stays dead-lettered with its reason.
        stored = getattr(row, "last_error", None)
        outcome.error = stored or MALFORMED_FALLBACK_ERROR
        return outcome
    connector = connectors.get(row.partner)
    try:
        if connector is None:
            raise LookupError(f"no connector named {row.partner!r}")
        drafts = connector.normalize(
            PartnerEvent(row.partner_event_id, row.event_type, bytes(row.body))
        )
        for index, draft in enumerate(drafts):
            event = build_event(
                partner=row.partner, partner_event_id=row.partner_event_id, index=index, draft=draft
            )
            if tracing.enabled() and (traceparent := tracing.current_traceparent()):
                event["traceparent"] = traceparent  # CloudEvents Distributed Tracing extension
            validate_event(event)
            outcome.events.append(event)
            for handler in handler_names(event["type"]):
                outcome.handlers.append((event["id"], handler, workflow_id(handler, event["id"])))
    except Exception as exc:  # a bad payload or a connector bug dead-letters this row only
        outcome.events.clear()
        outcome.handlers.clear()
        # Bounded: `last_error` and the log line must not grow with what the partner sent.
        outcome.error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        log.warning("normalization_failed", error=outcome.error)  # partner, ids: bound
    return outcome


@contextlib.contextmanager
def _normalize_span(row: AnyRow) -> Iterator[None]:
    """A child of the delivery's ingest span (stored with the row), with the event's log
    context bound for every line logged while it is normalized."""
    with structlog.contextvars.bound_contextvars(
        partner=row.partner, partner_event_id=row.partner_event_id
    ):
        if not tracing.enabled():
            yield
            return
        parent = tracing.context_from((row.headers or {}).get(tracing.TRACEPARENT_HEADER))
        attributes = {"hub.partner": row.partner, "hub.partner_event_id": row.partner_event_id}
        with tracing.tracer().start_as_current_span(
            "normalize", context=parent, attributes=attributes
        ):
            yield


class Normalizer:
    def __init__(
        self,
        engine: Engine,
        connectors: Mapping[str, Connector],
        handler_names: HandlerNames,
        *,
        batch_size: int,
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._connectors = connectors
        self._handler_names = handler_names
        self._batch_size = batch_size
        self._on_stored = on_stored
        self.wake = asyncio.Event()
        self.stopping = False  # set by the owner; run() returns after the batch in hand

    def drain_batch(self) -> int:
        """Normalize one batch; returns how many raw events it took."""
        if is_sqlite(self._engine):
            rows, stored = self._drain_outside_write_lock()
        else:
            rows, stored = self._drain_locked_rows()
        received = {row.id: as_utc(row.received_at) for row in rows}
        now = datetime.now(UTC)
        for partner, outcome in stored:
            status = outcome.status
            metrics.NORMALIZED.labels(partner, status.value).inc()
            if status is RawStatus.PROCESSED:  # no handler to wait on
                elapsed = (now - received[outcome.raw_event_id]).total_seconds()
                metrics.RECEIPT_TO_PROCESSED.labels(partner).observe(max(elapsed, 0.0))
        return len(rows)

    def _normalize(self, rows: Sequence[AnyRow]) -> Outcomes:
        outcomes: Outcomes = []
        for row in rows:
            with _normalize_span(row):
                outcome = normalize_row(row, self._connectors, self._handler_names)
                event_ids = [event["id"] for event in outcome.events]
                log.debug("event_normalized", status=outcome.status.value, event_ids=event_ids)
            outcomes.append((row.partner, outcome))
        return outcomes

    def _drain_locked_rows(self) -> tuple[Sequence[AnyRow], Outcomes]:
        # PostgreSQL: the batch stays row-locked while it is normalized; other workers skip it.
        with begin_write(self._engine) as connection:
            rows = raw_events.claim_received(connection, limit=self._batch_size, skip_locked=True)
            outcomes = self._normalize(rows)
            self._store(connection, rows, outcomes)
        return rows, outcomes

    def _drain_outside_write_lock(self) -> tuple[Sequence[AnyRow], Outcomes]:
        # SQLite has one writer at a time: normalize first, so ingest commits never wait on
        # it, then store only rows still waiting (another process may have taken some).
        with self._engine.connect().execution_options(read_only=True) as connection:
            rows = raw_events.claim_received(connection, limit=self._batch_size, skip_locked=False)
        if not rows:
            return rows, []
        outcomes = self._normalize(rows)
        with begin_write(self._engine) as connection:
            waiting = raw_events.still_received(connection, ids=[r.id for r in rows])
            outcomes = [(p, o) for p, o in outcomes if o.raw_event_id in waiting]
            self._store(connection, rows, outcomes)
        return rows, outcomes

    @staticmethod
    def _store(connection: Connection, rows: Sequence[AnyRow], outcomes: Outcomes) -> None:
        """Store the batch; a row the database refuses is dead-lettered alone (its outcome
        becomes `failed` with the refusal), so it can never hold up the others."""
        refused = store_isolating_refusals(connection, outcomes=[o for _, o in outcomes])
        if not refused:
            return
        by_id = {row.id: row for row in rows}
        partners = {o.raw_event_id: partner for partner, o in outcomes}
        for refusal in refused:
            raw_event_id = refusal.outcome.raw_event_id
            partner = partners[raw_event_id]
            metrics.STORE_REFUSED.labels(partner, refusal.error_class).inc()
            log.warning(
                "normalization_store_refused",
                partner=partner,
                partner_event_id=by_id[raw_event_id].partner_event_id,
                raw_event_id=raw_event_id,
                error=refusal.outcome.error,
            )

    async def run(self, *, poll_interval: float) -> None:
        """Drain until empty, then sleep until woken by a commit or the poll interval passes."""
        while not self.stopping:
            self.wake.clear()  # before draining, so a commit during the drain is not missed
            try:
                taken = await asyncio.to_thread(self.drain_batch)
            except Exception as exc:  # the database is down: keep trying, lose nothing
                log.error("normalizer_batch_failed", error=f"{type(exc).__name__}: {exc}")
                taken = 0
            if taken:
                self._on_stored()
            if taken < self._batch_size and not self.stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=poll_interval)
