"""Partner event ids in URLs: each id is exactly one percent-encoded path segment.

Partner ids are the partners' own strings: they may hold `/`, `%`, `?`, `#`, spaces, any
Unicode, or be `.` or `..`. Every link and every client writes an id as one segment with every
reserved character encoded (`quote(id, safe="")`), and the hub routes on the bytes it received:
the server decodes `%2F` to `/` in the ASGI `path`, after which the id `a/raw` could not be told
from the id `a` followed by the `/raw` route. `EventIdPaths` therefore rebuilds the path of
`/api/events/...` and `/status/events/...` from `raw_path` with the id segment still encoded,
and the `event_id` route convertor decodes it exactly once.

Dot segments: browsers (WHATWG URL) and most HTTP clients remove a segment `.` or `..`, and
browsers do so for `%2E` and `%2E%2E` too, before the request leaves. `quote_segment` writes
those ids as `%2E`/`%2E%2E`, which API clients such as httpx send as they are; the panel, read
in browsers, links to such ids (and the empty id) through the query form
`/status/events/{partner}?id=..` instead (`panel_event_path`).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote, urlencode

from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

# Routes whose fourth segment is a partner event id: /api/events/{partner}/{id}[/...].
ID_ROUTE_PREFIXES = ("/api/events/", "/status/events/")
ID_SEGMENT = 4  # index in path.split("/"): "", "api", "events", partner, id, suffix...
ID_ROUTE_HEADS = frozenset(tuple(p.strip("/").split("/")) for p in ID_ROUTE_PREFIXES)
DOT_SEGMENTS = frozenset({".", ".."})


def quote_segment(value: str) -> str:
    """`value` as one path segment that no client or server reads as anything else."""
    quoted = quote(value, safe="")
    if quoted in DOT_SEGMENTS:  # quote() leaves "." alone; a bare dot segment would vanish
        return quoted.replace(".", "%2E")
    return quoted


def api_event_path(partner: str, partner_event_id: str, action: str = "") -> str:
    """/api/events/{partner}/{id}[/{action}], each value encoded as one segment."""
    path = f"/api/events/{quote_segment(partner)}/{quote_segment(partner_event_id)}"
    return f"{path}/{action}" if action else path


def browser_safe(partner_event_id: str) -> bool:
    """Whether a browser keeps this id's path segment as written (not empty, no dot segment)."""
    return partner_event_id not in DOT_SEGMENTS and partner_event_id != ""


def panel_event_path(
    partner: str,
    partner_event_id: str,
    action: str = "",
    query: Mapping[str, str] | None = None,
) -> str:
    """The panel's page (or `action`, e.g. "replay") for one event, as a link a browser follows
    to that event and no other: the path form, or the query form for ids a browser would drop."""
    base = f"/status/events/{quote_segment(partner)}"
    params = dict(query or {})
    if browser_safe(partner_event_id):
        path = f"{base}/{quote_segment(partner_event_id)}"
    else:
        path, params = base, {"id": partner_event_id, **params}
    if action:
        path = f"{path}/{action}"
    return f"{path}?{urlencode(params, quote_via=quote)}" if params else path


class EventIdConvertor(Convertor[str]):
    """`{name:event_id}`: one raw path segment (as `EventIdPaths` leaves it), decoded once."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return quote_segment(value)


register_url_convertor("event_id", EventIdConvertor())


def routed_path(scope: Scope) -> str:
    """The path to route on: decoded as usual, except the event id segment, kept as received.

    A raw path whose leading segments only decode to the prefix (`/api%2Fevents/...`) is
    returned raw, so it matches no route rather than another one."""
    path: str = scope["path"]
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes) or scope.get("root_path"):
        # No raw bytes to read (or a mounted app): the best left is to re-encode what arrived.
        segments = path.split("/")
        if len(segments) > ID_SEGMENT:
            segments[ID_SEGMENT] = quote_segment(segments[ID_SEGMENT])
        return "/".join(segments)
    raw_segments = raw.split(b"?", 1)[0].decode("latin-1").split("/")
    decoded = [unquote(segment) for segment in raw_segments]
    if tuple(decoded[1:3]) not in ID_ROUTE_HEADS or "/" in "".join(decoded[1:ID_SEGMENT]):
        return "/".join(raw_segments)  # `%2F` in the prefix or the partner: no route's shape
    if len(raw_segments) > ID_SEGMENT:
        decoded[ID_SEGMENT] = raw_segments[ID_SEGMENT]
    return "/".join(decoded)


class EventIdPaths:
    """ASGI middleware: route event-id paths on their raw id segment (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(ID_ROUTE_PREFIXES):
            # In place: outer middleware (the audit trail) reads the routed scope afterwards.
            scope["path"] = routed_path(scope)
        await self.app(scope, receive, send)
