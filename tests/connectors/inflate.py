"""Samples whose event id or type is made unstorable (past raw_events' 255 characters, or holding
NUL), in the partner's own encoding, for the contract suite and the fuzzed edge."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from integration_hub.connectors.base import MAX_KEY_LENGTH, Connector, Delivery
from integration_hub.testing import TEST_CONNECTION

NOW = 1_750_000_000
INFLATIONS: dict[str, Callable[[str], str]] = {
    "long": lambda key: key + "x" * (MAX_KEY_LENGTH + 1 - len(key)),
    "nul": lambda key: key + "\x00",
}


def _replace_json(node: Any, old: str, new: str) -> tuple[Any, bool]:
    if isinstance(node, str):
        return (new, True) if node == old else (node, False)
    if isinstance(node, list):
        pairs = [_replace_json(item, old, new) for item in node]
        return [item for item, _ in pairs], any(hit for _, hit in pairs)
    if isinstance(node, dict):
        pairs_by_key = {key: _replace_json(value, old, new) for key, value in node.items()}
        found = any(hit for _, hit in pairs_by_key.values())
        return {key: value for key, (value, _) in pairs_by_key.items()}, found
    return node, False


def replaced(body: bytes, old: str, new: str) -> bytes | None:
    """`body` with every value equal to `old` set to `new` (JSON or a form), or None when no
    value is `old` (the key does not come from the body)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        params = parse_qsl(body.decode(), keep_blank_values=True)
        if not any(value == old for _, value in params):
            return None
        return urlencode(
            [(name, new if value == old else value) for name, value in params]
        ).encode()
    changed, found = _replace_json(document, old, new)
    return json.dumps(changed).encode() if found else None


def keys_of(connector: Connector, body: bytes, secret: str) -> list[tuple[str, str]]:
    """(id, type) of each event the sample splits into."""
    endpoint = TEST_CONNECTION if connector.manifest.secret_per_endpoint else ""
    url = f"https://hub.example.com/webhooks/{connector.manifest.name}"
    url += f"/{endpoint}" if endpoint else ""
    headers = connector.sign(body, secret, timestamp=NOW, url=url)
    delivery = Delivery(body, {k.lower(): v for k, v in headers.items()}, url, NOW, endpoint)
    # A per-connection id is "<connection>:<key>" (pms.connection_event_id): the body holds
    # the key.
    prefix = f"{endpoint}:" if endpoint else ""
    return [
        (e.partner_event_id.removeprefix(prefix), e.event_type) for e in connector.split(delivery)
    ]


def unstorable_samples(connector: Connector, event_type: str, secret: str) -> dict[str, bytes]:
    """`{"id-long": body, "type-nul": body, ...}` for each key that comes from the body."""
    body = connector.sample(event_type)
    found: dict[str, bytes] = {}
    for event_id, partner_type in keys_of(connector, body, secret):
        for which, key in (("id", event_id), ("type", partner_type)):
            for how, inflate in INFLATIONS.items():
                changed = replaced(body, key, inflate(key))
                if changed is not None:
                    found[f"{which}-{how}"] = changed
    return found
