"""Auth0 Log Streams (custom webhook): sign-ups, logins, password changes, deletions.

Auth0 signs nothing: the stream sends the configured Authorization value verbatim, compared
here in constant time against every valid token (rotation). A delivery is a batch (a JSON array,
JSON lines, or one object) of `{"log_id", "data"}` entries; each entry is its own partner
event keyed by `log_id`, so a retried batch stores nothing twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from integration_hub.connectors.base import Delivery, InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.signing import any_signature_matches
from integration_hub.errors import MalformedPayload, SignatureError

Obj = Mapping[str, Any]


def _user(log: Obj) -> dict[str, Any]:
    return {
        "user_id": log.get("user_id") or "",
        "primary_email": log.get("user_name"),
        "first_name": None,
        "last_name": None,
        "role": None,
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


def _entries(body: bytes) -> list[Any]:
    stripped = body.strip()
    try:
        if stripped.startswith(b"["):
            parsed = orjson.loads(stripped)
            return parsed if isinstance(parsed, list) else [parsed]
        return [orjson.loads(line) for line in stripped.splitlines() if line.strip()]
    except orjson.JSONDecodeError:
        raise MalformedPayload("body is not JSON, a JSON array or JSON lines") from None


class Auth0Connector:
    manifest = Manifest(
        name="auth0",
        webhook_secret="AUTH0_LOG_STREAM_TOKEN",  # noqa: S106 (a variable name, not a value)
        api_secrets=("AUTH_ISSUER", "AUTH_CLIENT_ID", "AUTH_CLIENT_SECRET"),
        # The token is ours to choose (`hub init` makes a 43-character one); long enough to guess.
        secret_formats={"AUTH0_LOG_STREAM_TOKEN": r"\S{24,}", "AUTH_ISSUER": r"https://\S+/"},
        kept_headers=frozenset({"content-type", "user-agent"}),  # never Authorization
        event_map={code: internal for code, (internal, _) in MAPPING.items()},
        signs_body=False,
        signs_timestamp=False,
    )

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        presented = delivery.headers.get("authorization")
        if not presented:
            raise SignatureError("Authorization header is missing", reason="missing_signature")
        expected = [form for token in secrets for form in (token, f"Bearer {token}")]
        if not any_signature_matches(expected, [presented]):
            raise SignatureError("Authorization does not match a current log stream token")

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        events = []
        for entry in _entries(delivery.body):
            data = entry.get("data") if isinstance(entry, dict) else None
            log_id = entry.get("log_id") if isinstance(entry, dict) else None
            if not isinstance(log_id, str) or not log_id or not isinstance(data, dict):
                raise MalformedPayload("each log entry needs a string `log_id` and a `data` object")
            # An entry of an array has no bytes of its own: store it re-serialized.
            events.append(PartnerEvent(log_id, str(data.get("type", "")), orjson.dumps(entry)))
        if not events:
            raise MalformedPayload("the batch holds no log entries")
        return events

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
        return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
