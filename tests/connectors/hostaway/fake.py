"""A stand-in for Hostaway's API behind `tests/partner_server.py`: it checks the documented
requests (the token form, the Bearer token, `limit` and `afterId`) and answers as Hostaway
does (`{status, result, count, limit}`, 403 for a token it does not honour, or not yet: a new
token is refused for `settles_in` seconds after its issue, by the test's clock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from integration_hub.connectors.hostaway import samples
from tests.partner_server import RecordedRequest, Reply

ACCOUNT_ID = "59808"
API_KEY = "3f9c2a7be1d44c0a9b8e7f6d5c4b3a29"  # shaped like one, not one
OTHER_ACCOUNT_ID = "61234"
OTHER_API_KEY = "9b8e7f6d5c4b3a293f9c2a7be1d44c0a"  # shaped like one, not one
ACCOUNTS = {ACCOUNT_ID: API_KEY, OTHER_ACCOUNT_ID: OTHER_API_KEY}
TOKEN_LIFETIME = 63_072_000  # 24 months, as Hostaway answers `expires_in`


def credentials(
    connection: str, *, account: str = ACCOUNT_ID, key: str = API_KEY
) -> dict[str, str]:
    suffix = connection.upper()
    return {f"HOSTAWAY_ACCOUNT_ID__{suffix}": account, f"HOSTAWAY_API_KEY__{suffix}": key}


@dataclass
class FakeHostaway:
    reservations: list[dict[str, Any]] = field(default_factory=list)
    listings: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    honoured: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: Callable[[], float] = time.time
    settles_in: float = 0.0
    issued_at: dict[str, float] = field(default_factory=dict)
    issued_to: dict[str, str] = field(default_factory=dict)  # token -> account id

    def revoke_all(self) -> None:
        with self.lock:
            self.honoured.clear()

    def __call__(self, request: RecordedRequest) -> Reply:
        if request.path == "/v1/accessTokens":
            return self._token(request)
        if request.method != "GET" or request.headers.get("cache-control") != "no-cache":
            return Reply(400, {"status": "fail", "result": "bad request"})
        with self.lock:
            honoured = request.headers.get("authorization", "").removeprefix("Bearer ")
            settling = self.clock() - self.issued_at.get(honoured, 0.0) < self.settles_in
            if honoured not in self.honoured or settling:
                return Reply(403, {"status": "fail", "result": "Unauthorized"})
        if request.path == "/v1/reservations":
            return self._page(request, self.reservations)
        if request.path == "/v1/listings":
            return self._page(request, self.listings)
        if request.path.startswith("/v1/reservations/"):
            wanted = request.path.rsplit("/", 1)[1]
            for found in self.reservations:
                if str(found["id"]) == wanted:
                    return Reply(200, {"status": "success", "result": found})
            return Reply(404, {"status": "fail", "result": "Reservation not found"})
        return Reply(404, {"status": "fail"})

    def _token(self, request: RecordedRequest) -> Reply:
        form_type = request.headers.get("content-type", "")
        if request.method != "POST" or not form_type.startswith("application/x-www-form"):
            return Reply(400, {"status": "fail"})
        account = request.form().get("client_id", [""])[0]
        expected = {
            "grant_type": ["client_credentials"],
            "client_id": [account],
            "client_secret": [ACCOUNTS.get(account, "")],
            "scope": ["general"],
        }
        if account not in ACCOUNTS or request.form() != expected:
            return Reply(401, {"status": "fail", "result": "invalid_client"})
        with self.lock:
            token = f"eyJ0eXAiOiJKV1Qi.tok{len(self.issued) + 1}.sig"
            self.issued.append(token)
            self.honoured.add(token)
            self.issued_at[token] = self.clock()
            self.issued_to[token] = account
        body = {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "access_token": token}
        return Reply(200, body)

    @staticmethod
    def _page(request: RecordedRequest, items: list[dict[str, Any]]) -> Reply:
        if "sortOrder" in request.query:
            return _changed_page(request, items)
        limit = int(request.query["limit"][0])
        after = int(request.query["afterId"][0])

        # An entry without a numeric id (a broken one) is answered on every page, first.
        def key(item: dict[str, Any]) -> int:
            return item["id"] if isinstance(item["id"], int) else -1

        page = sorted((i for i in items if key(i) < 0 or key(i) > after), key=key)[:limit]
        return Reply(200, {"status": "success", "result": page, "count": len(page),
                           "limit": limit})  # fmt: skip


def reservations(*ids: int) -> list[dict[str, Any]]:
    return [samples.reservation(reservation_id=number) for number in ids]


def listings(*ids: int) -> list[dict[str, Any]]:
    return [samples.listing(listing_id=number) for number in ids]


CHANGES_QUERY = {"sortOrder", "latestActivityStart", "limit", "offset"}


def _changed_page(request: RecordedRequest, items: list[dict[str, Any]]) -> Reply:
    """`sortOrder=updatedOn` (oldest-modified first) from the day `latestActivityStart`."""
    query = request.query
    if set(query) != CHANGES_QUERY or query["sortOrder"] != ["updatedOn"]:
        return Reply(400, {"status": "fail", "result": "bad query"})
    start = date.fromisoformat(query["latestActivityStart"][0])
    limit, offset = int(query["limit"][0]), int(query["offset"][0])
    changed = sorted(
        (i for i in items if date.fromisoformat(i["updatedOn"][:10]) >= start),
        key=lambda item: (item["updatedOn"], item["id"]),
    )
    page = changed[offset : offset + limit]
    return Reply(200, {"status": "success", "result": page, "count": len(page), "limit": limit})
