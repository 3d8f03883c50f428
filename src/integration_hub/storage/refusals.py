"""Storing a normalized batch so that one row the database refuses cannot hold up the others.

The batch is written in one SAVEPOINT; if the database refuses it, the batch is written again
row by row, each in its own SAVEPOINT, and a refused row is stored as `failed` with the error's
class and a short description instead (the dead-letter). All of it happens in the caller's
transaction, so rows claimed `FOR UPDATE SKIP LOCKED` stay locked throughout.

An error that says the database itself is unwell (connection lost, lock or serialization
conflict, out of space, shutting down) is no row's fault: it propagates, the transaction rolls
back and every row of the batch stays `received` for the next attempt.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from integration_hub.errors import MAX_ERROR_CHARS
from integration_hub.storage.internal_events import NormalizationOutcome, store_normalization

# SQLSTATE classes of a database that cannot work right now, not of a value it refuses:
# 08 connection, 40 serialization/deadlock, 53 insufficient resources, 57 operator
# intervention (shutdown, cancel), 58 system error; 55P03: lock not available.
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
TRANSIENT_SQLSTATES = frozenset({"55P03"})

_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_TABLE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def is_transient(error: BaseException) -> bool:
    """True when `error` says the database cannot work now, whatever the rows hold."""
    if isinstance(error, MemoryError | OSError):
        return True
    if not isinstance(error, DBAPIError):
        return False  # raised while binding a value (an encoding, a type): the row's fault
    if error.connection_invalidated:
        return True
    driver_error = error.orig
    sqlstate = getattr(driver_error, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or sqlstate in TRANSIENT_SQLSTATES
    if isinstance(driver_error, sqlite3.Error):
        # Locked, busy, disk I/O or full: all OperationalError. Binding errors are not.
        return isinstance(driver_error, sqlite3.OperationalError)
    # psycopg without a SQLSTATE: the client lost the server (closed connection, timeout).
    return isinstance(error, OperationalError | InterfaceError)


def describe_refusal(error: BaseException) -> str:
    """The error's class and what the database said, for `last_error` and logs.

    Never a value: quoted text (where drivers echo values) is blanked, and PostgreSQL's DETAIL
    (which shows the key) is left out. Names of tables, columns and constraints are kept.
    """
    driver_error = getattr(error, "orig", None) or error
    diag = getattr(driver_error, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    message = primary or (str(driver_error).splitlines() or [""])[0]
    message = _CONTROL.sub(" ", _QUOTED.sub("…", message)).strip()
    names = [
        f"{label} {value}"
        for label in ("table", "column", "constraint")
        if diag is not None and (value := getattr(diag, f"{label}_name", None))
    ]
    statement = getattr(error, "statement", None)
    where = _TABLE.match(statement) if isinstance(statement, str) else None
    text = error_class(error)
    if where:
        text += f" storing {where.group(1)}"
    text += f": {message}"
    if names:
        text += f" ({', '.join(names)})"
    return text[:MAX_ERROR_CHARS]


def error_class(error: BaseException) -> str:
    """The driver's exception class (e.g. `StringDataRightTruncation`), else the error's own."""
    return type(getattr(error, "orig", None) or error).__name__


@dataclass(frozen=True, slots=True)
class Refusal:
    outcome: NormalizationOutcome  # now failed, its `error` the refusal described
    error_class: str  # for the metric's label: a short, closed-enough set


def store_isolating_refusals(
    connection: Connection, *, outcomes: Sequence[NormalizationOutcome]
) -> list[Refusal]:
    """Store `outcomes` (see `internal_events.store_normalization`); returns the ones the database
    refused, which were stored as failed with the refusal in their `error` instead."""
    if not outcomes:
        return []
    try:
        with connection.begin_nested():
            store_normalization(connection, outcomes=outcomes)
        return []
    except Exception as error:
        if is_transient(error):
            raise
    refused = []
    for outcome in outcomes:
        try:
            with connection.begin_nested():
                store_normalization(connection, outcomes=[outcome])
        except Exception as error:
            if is_transient(error):
                raise
            outcome.events.clear()
            outcome.handlers.clear()
            outcome.error = f"the database refused to store it: {describe_refusal(error)}"
            # Only the raw row's status and error now; if even this fails, the database is
            # unwell and the whole batch is retried.
            store_normalization(connection, outcomes=[outcome])
            refused.append(Refusal(outcome, error_class(error)))
    return refused
