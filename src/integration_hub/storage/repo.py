"""Keyword-only functions over a Connection: the pipeline, workflows and admin API use these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeAlias

import orjson
from sqlalchemy import Connection, Row, String, Table, and_, bindparam, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from integration_hub.connectors.base import MALFORMED_ID_PREFIX
from integration_hub.errors import NotReplayable
from integration_hub.storage.tables import (
    HandlerStatus,
    RawStatus,
    audit_log,
    contacts,
    handler_runs,
    identity_users,
    internal_events,
    ledger_entries,
    outbound_messages,
    raw_events,
)

# Rows of any shape (Row is variadic in SQLAlchemy 2.1).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _insert(connection: Connection, table: Table) -> SqliteInsert | PgInsert:
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


# --- edge -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewRawEvent:
    partner: str
    partner_event_id: str
    event_type: str
    received_at: datetime
    headers: dict[str, str]
    body: bytes
    # Set for a malformed entry of a verified batch: stored `failed` with this error, so the
    # normalizer never claims it (connectors/base.py).
    last_error: str | None = None


def record_deliveries(
    connection: Connection, *, events: Sequence[NewRawEvent]
) -> set[tuple[str, str]]:
    """Insert what is new; return the (partner, partner event id) keys actually inserted."""
    if not events:
        return set()
    now = utcnow()
    rows = [
        {
            "partner": e.partner,
            "partner_event_id": e.partner_event_id,
            "event_type": e.event_type,
            "received_at": e.received_at,
            "headers": e.headers,
            "body": e.body,
            "status": (RawStatus.RECEIVED if e.last_error is None else RawStatus.FAILED).value,
            "attempts": 0,
            "last_error": e.last_error,
            "updated_at": now,
        }
        for e in events
    ]
    if connection.dialect.name == "sqlite":
        return _record_deliveries_sqlite(connection, rows)
    return _record_deliveries_postgresql(connection, rows)


# One short single-row statement, sent for all rows at once by psycopg's pipelined
# executemany: parsed and prepared once. (A multi-row VALUES statement of a new length is
# parsed again each time, and text-format arrays escape every 4 KB body with a regex.)
POSTGRESQL_INSERT_SQL = """
INSERT INTO raw_events (partner, partner_event_id, event_type, received_at, headers, body,
                        status, attempts, last_error, updated_at)
VALUES (%s, %s, %s, %s, %s::json, %s, %s, 0, %s, %s)
ON CONFLICT (partner, partner_event_id) DO NOTHING
RETURNING partner, partner_event_id
"""


def _record_deliveries_postgresql(
    connection: Connection, rows: list[dict[str, Any]]
) -> set[tuple[str, str]]:
    parameters = [
        (
            r["partner"], r["partner_event_id"], r["event_type"], r["received_at"],
            orjson.dumps(r["headers"]).decode(), r["body"], r["status"], r["last_error"],
            r["updated_at"],
        )
        for r in rows
    ]  # fmt: skip
    inserted: set[tuple[str, str]] = set()
    with connection.connection.driver_connection.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.executemany(POSTGRESQL_INSERT_SQL, parameters, returning=True)
        while True:
            found = cursor.fetchone()
            if found is not None:
                inserted.add((found[0], found[1]))
            if not cursor.nextset():
                break
    return inserted


SQLITE_ROWS_PER_STATEMENT = 1000  # 10 parameters a row, under SQLite's 32766 limit


@cache
def _sqlite_insert_sql(rows: int) -> str:
    columns = ", ".join(RAW_EVENT_COLUMNS)
    values = ", ".join(["(" + ", ".join("?" * len(RAW_EVENT_COLUMNS)) + ")"] * rows)
    conflict = "ON CONFLICT (partner, partner_event_id) DO NOTHING"
    return f"INSERT INTO raw_events ({columns}) VALUES {values} {conflict}"  # noqa: S608 (no input)


RAW_EVENT_COLUMNS = (
    "partner", "partner_event_id", "event_type", "received_at", "headers", "body", "status",
    "attempts", "last_error", "updated_at",
)  # fmt: skip


def _record_deliveries_sqlite(
    connection: Connection, rows: list[dict[str, Any]]
) -> set[tuple[str, str]]:
    """One multi-row INSERT per chunk instead of RETURNING, which SQLite's driver steps row by
    row, giving up and taking back the GIL each time; under load every take-back waits for the
    event loop thread. The caller holds the write lock, so reading duplicates first is exact."""
    ids_by_partner: dict[str, set[str]] = {}
    for row in rows:
        ids_by_partner.setdefault(row["partner"], set()).add(row["partner_event_id"])
    existing: set[tuple[str, str]] = set()
    for partner, id_set in ids_by_partner.items():
        ids = list(id_set)
        for start in range(0, len(ids), SQLITE_ROWS_PER_STATEMENT):
            found = connection.execute(  # served by the unique (partner, partner_event_id) index
                select(raw_events.c.partner_event_id).where(
                    raw_events.c.partner == partner,
                    raw_events.c.partner_event_id.in_(
                        ids[start : start + SQLITE_ROWS_PER_STATEMENT]
                    ),
                )
            )
            existing.update((partner, event_id) for event_id in found.scalars())
    processors = {
        name: raw_events.c[name].type.bind_processor(connection.dialect)
        for name in RAW_EVENT_COLUMNS
    }
    inserted: set[tuple[str, str]] = set()
    fresh = []
    for row in rows:
        key = (row["partner"], row["partner_event_id"])
        if key not in existing and key not in inserted:
            inserted.add(key)
            fresh.append(row)
    for start in range(0, len(fresh), SQLITE_ROWS_PER_STATEMENT):
        chunk = fresh[start : start + SQLITE_ROWS_PER_STATEMENT]
        parameters = tuple(
            processor(row[name]) if (processor := processors[name]) else row[name]
            for row in chunk
            for name in RAW_EVENT_COLUMNS
        )
        connection.exec_driver_sql(_sqlite_insert_sql(len(chunk)), parameters)
    return inserted


# --- normalizer -------------------------------------------------------------------------


def claim_received(connection: Connection, *, limit: int, skip_locked: bool) -> Sequence[AnyRow]:
    query = (
        select(
            raw_events.c.id,
            raw_events.c.partner,
            raw_events.c.partner_event_id,
            raw_events.c.event_type,
            raw_events.c.body,
            raw_events.c.headers,  # holds the ingest span's traceparent
            raw_events.c.received_at,
            raw_events.c.last_error,  # a malformed entry keeps its reason (normalize_row)
        )
        .where(raw_events.c.status == RawStatus.RECEIVED.value)
        .order_by(raw_events.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return connection.execute(query).all()


def still_received(connection: Connection, *, ids: Sequence[int]) -> set[int]:
    rows = connection.execute(
        select(raw_events.c.id).where(
            raw_events.c.id.in_(ids), raw_events.c.status == RawStatus.RECEIVED.value
        )
    )
    return set(rows.scalars())


@dataclass(slots=True)
class NormalizationOutcome:
    raw_event_id: int
    events: list[dict[str, Any]] = field(default_factory=list)  # CloudEvents
    handlers: list[tuple[str, str, str]] = field(default_factory=list)  # event id, handler, wf id
    error: str | None = None

    @property
    def status(self) -> RawStatus:
        if self.error is not None:
            return RawStatus.FAILED
        if not self.events:
            return RawStatus.IGNORED
        return RawStatus.PROCESSING if self.handlers else RawStatus.PROCESSED


def store_normalization(
    connection: Connection, *, outcomes: Sequence[NormalizationOutcome]
) -> None:
    """Store internal events and handler runs and set each raw row's status, all at once.

    Replays produce the same event ids, so existing events are kept and their handler runs
    go back to pending (handlers are idempotent).
    """
    now = utcnow()
    event_rows = [
        {
            "id": event["id"],
            "raw_event_id": outcome.raw_event_id,
            "position": position,
            "type": event["type"],
            "subject": event.get("subject", ""),
            "envelope": event,
            "created_at": now,
        }
        for outcome in outcomes
        for position, event in enumerate(outcome.events)
    ]
    if event_rows:
        connection.execute(
            _insert(connection, internal_events).on_conflict_do_nothing(index_elements=["id"]),
            event_rows,
        )
    run_rows = [
        {
            "event_id": event_id,
            "handler": handler,
            "workflow_id": workflow_id,
            "status": HandlerStatus.PENDING.value,
            "attempts": 0,
            "updated_at": now,
        }
        for outcome in outcomes
        for event_id, handler, workflow_id in outcome.handlers
    ]
    if run_rows:
        upsert = _insert(connection, handler_runs)
        # A replayed run gets a new workflow id per generation (`.../replay-<starts so far>`):
        # reusing the old id would collide with a workflow that recorded its outcome but has
        # not closed yet, and the new run would never start.
        replay_id = upsert.excluded.workflow_id + "/replay-" + cast(handler_runs.c.attempts, String)
        connection.execute(
            upsert.on_conflict_do_update(
                index_elements=["event_id", "handler"],
                set_={
                    "status": HandlerStatus.PENDING.value,
                    "last_error": None,
                    "updated_at": now,
                    "workflow_id": replay_id,
                },
            ),
            run_rows,
        )
    if outcomes:
        connection.execute(
            update(raw_events)
            .where(raw_events.c.id == bindparam("raw_id"))
            .values(
                status=bindparam("new_status"),
                attempts=raw_events.c.attempts + 1,
                last_error=bindparam("error"),
                updated_at=now,
            ),
            [
                {"raw_id": o.raw_event_id, "new_status": o.status.value, "error": o.error}
                for o in outcomes
            ],
        )


# --- dispatcher and handlers ------------------------------------------------------------


def pending_handler_runs(connection: Connection, *, limit: int) -> Sequence[AnyRow]:
    """Runs to start, with their event's envelope (partner, ids and traceparent for the
    dispatcher's logs and spans)."""
    return connection.execute(
        select(
            handler_runs.c.event_id,
            handler_runs.c.handler,
            handler_runs.c.workflow_id,
            internal_events.c.envelope,
        )
        .join(internal_events, internal_events.c.id == handler_runs.c.event_id)
        .where(handler_runs.c.status == HandlerStatus.PENDING.value)
        .order_by(handler_runs.c.updated_at)
        .limit(limit)
    ).all()


def mark_handlers_started(connection: Connection, *, keys: Iterable[tuple[str, str]]) -> None:
    now = utcnow()
    for event_id, handler in keys:
        connection.execute(
            update(handler_runs)
            .where(
                handler_runs.c.event_id == event_id,
                handler_runs.c.handler == handler,
                handler_runs.c.status == HandlerStatus.PENDING.value,
            )
            .values(
                status=HandlerStatus.STARTED.value,
                attempts=handler_runs.c.attempts + 1,
                updated_at=now,
            )
        )


def get_internal_event(connection: Connection, *, event_id: str) -> dict[str, Any] | None:
    envelope = connection.execute(
        select(internal_events.c.envelope).where(internal_events.c.id == event_id)
    ).scalar_one_or_none()
    return dict(envelope) if envelope is not None else None


FINISHED_RUN_STATUSES = frozenset({HandlerStatus.COMPLETED.value, HandlerStatus.SKIPPED.value})


@dataclass(frozen=True, slots=True)
class RawOutcome:
    """A raw event's status after a handler run was recorded."""

    partner: str
    status: RawStatus
    received_at: datetime


def record_handler_outcome(
    connection: Connection,
    *,
    event_id: str,
    handler: str,
    error: str | None,
    skipped: str | None = None,
) -> RawOutcome:
    """Set one handler run's final state, then derive its raw event's status from all runs.

    `skipped` (the reason, kept in `last_error`) marks a run that was done without effect on
    purpose; it counts as finished, so its raw event still reaches `processed`."""
    now = utcnow()
    if error:
        status = HandlerStatus.FAILED
    elif skipped:
        status, error = HandlerStatus.SKIPPED, skipped
    else:
        status = HandlerStatus.COMPLETED
    raw_event_id = connection.execute(
        select(internal_events.c.raw_event_id).where(internal_events.c.id == event_id)
    ).scalar_one()
    # Runs of one raw event finish concurrently (one per internal event and handler): lock the
    # raw row first, so the last to finish sees every other outcome committed and sets the
    # final status. Without it, two READ COMMITTED transactions each see the other's run as
    # still started and the event stays `processing` forever. (SQLite serializes writes.)
    raw = connection.execute(
        select(raw_events.c.partner, raw_events.c.received_at)
        .where(raw_events.c.id == raw_event_id)
        .with_for_update()
    ).one()
    connection.execute(
        update(handler_runs)
        .where(handler_runs.c.event_id == event_id, handler_runs.c.handler == handler)
        .values(status=status.value, last_error=error, updated_at=now)
    )
    runs = connection.execute(
        select(handler_runs.c.status, handler_runs.c.last_error)
        .join(internal_events, internal_events.c.id == handler_runs.c.event_id)
        .where(internal_events.c.raw_event_id == raw_event_id)
    ).all()
    failures = [r.last_error for r in runs if r.status == HandlerStatus.FAILED.value]
    if failures:
        raw_status, raw_error = RawStatus.FAILED, failures[0]
    elif all(r.status in FINISHED_RUN_STATUSES for r in runs):
        raw_status, raw_error = RawStatus.PROCESSED, None
    else:
        raw_status, raw_error = RawStatus.PROCESSING, None
    connection.execute(
        update(raw_events)
        .where(raw_events.c.id == raw_event_id)
        .values(status=raw_status.value, last_error=raw_error, updated_at=now)
    )
    return RawOutcome(raw.partner, raw_status, as_utc(raw.received_at))


# --- replay -----------------------------------------------------------------------------


def request_replay(
    connection: Connection,
    *,
    partner: str | None = None,
    partner_event_id: str | None = None,
    status: str | None = None,
) -> int:
    """Send matching raw events back to the normalizer; returns how many.

    A malformed entry of a batch is never requeued: it has no partner payload, so the
    normalizer could only turn its dead-letter (and reason) into `ignored`. Asked for by id,
    it raises NotReplayable; a bulk replay leaves it out."""
    conditions = []
    if partner is not None:
        conditions.append(raw_events.c.partner == partner)
    if partner_event_id is not None:
        conditions.append(raw_events.c.partner_event_id == partner_event_id)
    if status is not None:
        conditions.append(raw_events.c.status == status)
    conditions.append(raw_events.c.body_purged_at.is_(None))  # nothing left to normalize again
    if partner_event_id is not None and partner_event_id.startswith(MALFORMED_ID_PREFIX):
        found = connection.execute(select(raw_events.c.id).where(and_(*conditions))).first()
        if found is not None:
            raise NotReplayable(
                f"{partner_event_id!r} is a malformed entry of a batch; its bytes are kept "
                "for recovery, but there is no partner payload to normalize again"
            )
        return 0
    # substr, not LIKE: SQLite's LIKE ignores case, and the prefix is exact on both databases.
    prefix = func.substr(raw_events.c.partner_event_id, 1, len(MALFORMED_ID_PREFIX))
    conditions.append(prefix != MALFORMED_ID_PREFIX)
    result = connection.execute(
        update(raw_events)
        .where(and_(*conditions))
        .values(status=RawStatus.RECEIVED.value, updated_at=utcnow())
    )
    return int(result.rowcount)


# --- admin reads ------------------------------------------------------------------------


def get_raw_event(
    connection: Connection, *, partner: str, partner_event_id: str
) -> tuple[AnyRow, list[tuple[dict[str, Any], list[AnyRow]]]] | None:
    """The raw event and its internal events, each with its handler runs."""
    raw = connection.execute(
        select(raw_events).where(
            raw_events.c.partner == partner, raw_events.c.partner_event_id == partner_event_id
        )
    ).one_or_none()
    if raw is None:
        return None
    events = connection.execute(
        select(internal_events.c.id, internal_events.c.envelope)
        .where(internal_events.c.raw_event_id == raw.id)
        .order_by(internal_events.c.position)
    ).all()
    runs = connection.execute(
        select(handler_runs).where(handler_runs.c.event_id.in_([e.id for e in events]))
    ).all()
    return raw, [(dict(e.envelope), [r for r in runs if r.event_id == e.id]) for e in events]


def count_by_status(connection: Connection) -> dict[str, int]:
    rows = connection.execute(
        select(raw_events.c.status, func.count()).group_by(raw_events.c.status)
    ).all()
    return {status: count for status, count in rows}


# --- ledger -----------------------------------------------------------------------------


def post_ledger_entry(connection: Connection, *, entry: dict[str, Any]) -> bool:
    """Insert once per internal event id; returns False when it was already there."""
    result = connection.execute(
        _insert(connection, ledger_entries)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(ledger_entries.c.id),
        {**entry, "created_at": utcnow()},
    )
    return result.first() is not None


def ledger_has_entry(connection: Connection, *, kind: str, stripe_object_id: str) -> bool:
    found = connection.execute(
        select(ledger_entries.c.id)
        .where(ledger_entries.c.kind == kind, ledger_entries.c.stripe_object_id == stripe_object_id)
        .limit(1)
    ).first()
    return found is not None


def list_ledger(connection: Connection, *, limit: int, before_id: int | None) -> Sequence[AnyRow]:
    query = select(ledger_entries)
    if before_id is not None:
        query = query.where(ledger_entries.c.id < before_id)
    return connection.execute(query.order_by(ledger_entries.c.id.desc()).limit(limit)).all()


# --- mirrors -------------------------------------------------------------------------------


def upsert_newer(
    connection: Connection, *, table: Table, key: Sequence[str], row: dict[str, Any]
) -> bool:
    """Insert the row, or overwrite the stored one (same `key` columns, the primary key) if
    this row's `source_time` is not older.

    Returns False when a newer version was already stored (events arrive in any order)."""
    insert = _insert(connection, table).values(row)
    upsert = insert.on_conflict_do_update(
        index_elements=list(key),
        set_={name: insert.excluded[name] for name in row if name not in key},
        where=insert.excluded.source_time >= table.c.source_time,
    ).returning(table.c[key[0]])
    return connection.execute(upsert).first() is not None


# --- messaging contacts and outbound messages -----------------------------------------------


def insert_for(connection: Connection, table: Table) -> SqliteInsert | PgInsert:
    """An INSERT with ON CONFLICT support on either database."""
    return _insert(connection, table)


def get_contact(connection: Connection, *, phone: str) -> dict[str, Any] | None:
    row = connection.execute(select(contacts).where(contacts.c.phone == phone)).first()
    if row is None:
        return None
    contact = dict(row._mapping)
    for name in ("consent_changed_at", "last_whatsapp_inbound_at", "last_inbound_at"):
        if contact[name] is not None:
            contact[name] = as_utc(contact[name])
    return contact


def claim_outbound_message(
    connection: Connection, *, message_id: str, partner: str, channel: str, to_phone: str
) -> dict[str, Any]:
    """The stored record of our message, created as `new` on first sight; locked for update."""
    now = utcnow()
    connection.execute(
        _insert(connection, outbound_messages)
        .values(
            message_id=message_id,
            partner=partner,
            channel=channel,
            to_phone=to_phone,
            state="new",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
    )
    query = select(outbound_messages).where(outbound_messages.c.message_id == message_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return dict(connection.execute(query).one()._mapping)


def update_outbound_message(
    connection: Connection, *, message_id: str, state: str, **changes: Any
) -> None:
    connection.execute(
        update(outbound_messages)
        .where(outbound_messages.c.message_id == message_id)
        .values(state=state, updated_at=utcnow(), **changes)
    )


# --- audit log (append-only: there is no update or delete here, on purpose) -----------------


def record_audit(connection: Connection, *, entry: dict[str, Any]) -> None:
    """Append one admin action: actor, role, method, route, target, client, status."""
    connection.execute(audit_log.insert().values(at=utcnow(), **entry))


def list_audit(
    connection: Connection, *, actor: str | None, limit: int, before_id: int | None
) -> Sequence[AnyRow]:
    """Newest first; `before_id` is the cursor."""
    query = select(audit_log)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return connection.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).all()


# --- admin roles from the users-and-roles mirror ----------------------------------------------


def mirrored_role(connection: Connection, *, provider: str, user_id: str) -> str | None:
    """The user's role as their auth provider last sent it (Clerk: public_metadata.role);
    `provider` comes from the signed token's issuer, so another provider's row never counts.
    Organization membership roles are the customers' own and grant nothing here."""
    return connection.execute(
        select(identity_users.c.role).where(
            identity_users.c.partner == provider,
            identity_users.c.user_id == user_id,
            identity_users.c.deleted.is_(False),
        )
    ).scalar_one_or_none()


# --- retention ----------------------------------------------------------------------------------


def purge_raw_bodies(connection: Connection, *, received_before: datetime, limit: int) -> int:
    """Empty up to `limit` stored bodies received before the cutoff; the rows (dedup keys,
    status, headers) and their internal events stay. Rows still waiting for the normalizer are
    left alone. Returns how many were purged."""
    batch = (
        select(raw_events.c.id)
        .where(
            raw_events.c.received_at < received_before,
            raw_events.c.body_purged_at.is_(None),
            raw_events.c.status != RawStatus.RECEIVED.value,
        )
        .order_by(raw_events.c.id)
        .limit(limit)
    )
    ids = list(connection.execute(batch).scalars())
    if not ids:
        return 0
    now = utcnow()
    connection.execute(
        update(raw_events)
        .where(raw_events.c.id.in_(ids))
        .values(body=b"", body_purged_at=now, updated_at=now)
    )
    return len(ids)


def find_raw_events(
    connection: Connection,
    *,
    partner: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    partner_event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    before_id: int | None = None,
) -> Sequence[AnyRow]:
    """The admin API's event list: filters on partner, status, type, id and a receipt window
    (`since` inclusive, `until` exclusive). Newest first; `before_id` is the cursor (the id of
    the last row of the previous page)."""
    query = select(
        raw_events.c.id,
        raw_events.c.partner,
        raw_events.c.partner_event_id,
        raw_events.c.event_type,
        raw_events.c.status,
        raw_events.c.attempts,
        raw_events.c.last_error,
        raw_events.c.received_at,
    )
    for column, value in (
        (raw_events.c.partner, partner),
        (raw_events.c.status, status),
        (raw_events.c.event_type, event_type),
        (raw_events.c.partner_event_id, partner_event_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(raw_events.c.received_at >= since)
    if until is not None:
        query = query.where(raw_events.c.received_at < until)
    if before_id is not None:
        query = query.where(raw_events.c.id < before_id)
    return connection.execute(query.order_by(raw_events.c.id.desc()).limit(limit)).all()
