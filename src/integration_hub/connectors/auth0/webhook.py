"""Auth0 Log Streams (custom webhook): sign-ups, logins, password changes, deletions.

Auth0 signs nothing: the stream sends the configured Authorization value verbatim, compared
in constant time against every valid token (rotation) by the shared bearer scheme. A delivery
is a batch (a JSON array, JSON lines, or one object) of `{"log_id", "data"}` entries; each
entry is its own partner event keyed by `log_id`, so a retried batch stores nothing twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from integration_hub.connectors.base import (
    MAX_KEY_LENGTH,
    Delivery,
    InternalEventDraft,
    Manifest,
    PartnerEvent,
    malformed_entry,
    storable_key,
)
from integration_hub.connectors.schemes.bearer import BearerToken
from integration_hub.errors import MalformedPayload, TooManyEntries

Obj = Mapping[str, Any]


def _user(log: Obj) -> dict[str, Any]:
    # A signup log rarely says whether the e-mail is verified: unverified unless its
    # `details.email_verified` is true (invitations close only on a verified one).
    details = log.get("details")
    verified = isinstance(details, Mapping) and details.get("email_verified") is True
    return {
        "user_id": log.get("user_id") or "",
        "primary_email": log.get("user_name"),
        "first_name": None,
        "last_name": None,
        "role": None,
        "email_verified": verified,
    }


def _session(log: Obj) -> dict[str, Any]:
    return {"session_id": log.get("session_id") or log["log_id"], "user_id": log.get("user_id")}


def _deleted(log: Obj) -> dict[str, Any]:
    return {"user_id": log.get("user_id") or ""}


def _failed_login(log: Obj) -> dict[str, Any]:
    return {
        "user_id": log.get("user_id"),
        "user_name": log.get("user_name"),
        "log_type": log["type"],
        "reason": log.get("description"),
    }


def _password_changed(log: Obj) -> dict[str, Any]:
    return {"user_id": log.get("user_id") or ""}


# Auth0 log event type codes (auth0.com/docs, "Log event type codes").
MAPPING: dict[str, tuple[str, Callable[[Obj], dict[str, Any]]]] = {
    "ss": ("identity.user_created", _user),  # successful signup
    "s": ("identity.session_started", _session),  # successful login
    "f": ("identity.login_failed", _failed_login),
    "fp": ("identity.login_failed", _failed_login),  # wrong password
    "fu": ("identity.login_failed", _failed_login),  # unknown user
    "scp": ("identity.password_changed", _password_changed),
    "sdu": ("identity.user_deleted", _deleted),  # user deleted
}


_NOT_JSON = object()
# Auth0 publishes no batch size; its log streams send batches of tens to a few hundred entries.
# Ten times that still fits well within the body limit, and bounds the rows one request makes.
MAX_BATCH_ENTRIES = 1000
# The parser's message goes into `last_error` and the answer: bounded, whatever the body.
MAX_PARSE_ERROR_CHARS = 200


def _too_many(count: int) -> TooManyEntries:
    return TooManyEntries(f"the batch holds {count} entries; at most {MAX_BATCH_ENTRIES}")


# One entry: its bytes, and either what they parse to or why they are malformed.
Entry = tuple[bytes, Any, str | None]
NOT_JSON_REASON = "the entry is not JSON"


def _entries(body: bytes) -> list[Entry]:
    """(bytes, parsed, None) or (bytes, None, why) per entry, in the three formats a stream can
    send: a JSON array (its entries have no bytes of their own, so they are re-serialized), one
    JSON object, or JSON lines (each line keeps its bytes; a line that is not JSON is one
    malformed entry). A body that is none of these is malformed as a whole.

    A body starting with `[` is an array, never JSON lines: a broken array split by lines
    would lose the whole batch (one line) or become junk entries (pretty-printed). It is
    one malformed entry, its bytes kept whole for recovery, answered 2xx like any other."""
    stripped = body.strip()
    try:
        whole = orjson.loads(stripped)
    except orjson.JSONDecodeError as error:
        if stripped.startswith(b"["):
            reason = f"the batch is a JSON array that does not parse: {error}"
            return [(stripped, None, reason[:MAX_PARSE_ERROR_CHARS])]
        whole = _NOT_JSON
    if isinstance(whole, list):
        if len(whole) > MAX_BATCH_ENTRIES:
            raise _too_many(len(whole))
        return [(orjson.dumps(item), item, None) for item in whole]
    if isinstance(whole, dict):
        return [(stripped, whole, None)]
    if whole is not _NOT_JSON:
        raise MalformedPayload("body is not a log entry, a JSON array or JSON lines")
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    if len(lines) > MAX_BATCH_ENTRIES:
        raise _too_many(len(lines))
    entries: list[Entry] = []
    for line in lines:
        try:
            entries.append((line, orjson.loads(line), None))
        except orjson.JSONDecodeError:
            entries.append((line, None, NOT_JSON_REASON))
    if all(why is not None for _, _, why in entries):  # also when there is no line at all
        raise MalformedPayload("body is not JSON, a JSON array or JSON lines")
    return entries


def _malformed_reason(entry: Any) -> str | None:
    """Why an entry cannot be stored as a log event, or None."""
    if not isinstance(entry, dict):
        return "the entry is not a JSON object"
    data, log_id = entry.get("data"), entry.get("log_id")
    if not isinstance(log_id, str) or not log_id or not isinstance(data, dict):
        return "each log entry needs a string `log_id` and a `data` object"
    if not storable_key(log_id) or not storable_key(str(data.get("type", ""))):
        return f"log_id or type is longer than {MAX_KEY_LENGTH} characters or holds NUL"
    return None


class Auth0Connector:
    manifest = Manifest(
        name="auth0",
        webhook_secret="AUTH0_LOG_STREAM_TOKEN",  # noqa: S106 (a variable name, not a value)
        kept_headers=frozenset({"content-type", "user-agent"}),  # never Authorization
        event_map={code: internal for code, (internal, _) in MAPPING.items()},
        signs_body=False,
        signs_timestamp=False,
    )

    # The stream sends the Authorization value as configured: `Bearer <token>` or the token.
    scheme = BearerToken(allow_bare=True)

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        self.scheme.verify(delivery.headers, secrets)

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        """One event per entry; a malformed entry is kept dead-lettered, the others go on."""
        events = []
        for raw, entry, why in _entries(delivery.body):
            reason = why if why is not None else _malformed_reason(entry)
            if reason is not None:
                events.append(malformed_entry(raw, reason))
                continue
            events.append(PartnerEvent(entry["log_id"], str(entry["data"].get("type", "")), raw))
        if not events:
            raise MalformedPayload("the batch holds no log entries")
        return events

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> None:
        """The edge's JSON summary: the partner reads nothing but the status."""
        return None

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        mapped = MAPPING.get(event.event_type)
        if mapped is None:
            return []
        internal_type, build = mapped
        entry = orjson.loads(event.body)
        log = {**entry["data"], "log_id": entry["log_id"]}
        return [
            InternalEventDraft(
                type=internal_type,
                subject=str(log.get("user_id") or log["log_id"]),
                time=str(log.get("date") or "1970-01-01T00:00:00Z"),
                data=build(log),
            )
        ]

    def sample(self, event_type: str) -> bytes:
        """A batch of one entry of `event_type`, as a JSON array (Auth0's recommended format)."""
        log_id = "900" + secrets.token_hex(16)
        entry = {
            "log_id": log_id,
            "data": {
                "date": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "type": event_type,
                "description": "Wrong email or password." if event_type.startswith("f") else "",
                "client_id": "AaiyAPdpYdesoKnqjj8HJqRn4T5titww",
                "client_name": "Turnover Ops",
                "ip": "203.0.113.7",
                "user_id": "auth0|6410f0c0a5b4c1d2e3f40516",
                "user_name": "ana@example.org",
                "log_id": log_id,
            },
        }
        return orjson.dumps([entry])

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {**self.scheme.sign(secret), "Content-Type": "application/json"}
