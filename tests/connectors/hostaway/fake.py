"""A stand-in for Hostaway's API behind `tests/partner_server.py`: it checks the documented
requests (the token form, the Bearer token, `limit` and `afterId`) and answers as Hostaway
does (`{status, result, count, limit}`, 403 for a token it does not honour)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from integration_hub.connectors.hostaway import samples
from tests.partner_server import RecordedRequest, Reply

ACCOUNT_ID = "59808"
API_KEY = "3f9c2a7be1d44c0a9b8e7f6d5c4b3a29"  # shaped like one, not one
TOKEN_LIFETIME = 63_072_000  # 24 months, as Hostaway answers `expires_in`


def credentials(connection: str, *, account: str = ACCOUNT_ID) -> dict[str, str]:
    suffix = connection.upper()
    return {f"HOSTAWAY_ACCOUNT_ID__{suffix}": account, f"HOSTAWAY_API_KEY__{suffix}": API_KEY}


@dataclass
class FakeHostaway:
    reservations: list[dict[str, Any]] = field(default_factory=list)
    listings: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    honoured: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

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
            if honoured not in self.honoured:
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
        expected = {
            "grant_type": ["client_credentials"],
            "client_id": [ACCOUNT_ID],
            "client_secret": [API_KEY],
            "scope": ["general"],
        }
        form_type = request.headers.get("content-type", "")
        if request.method != "POST" or not form_type.startswith("application/x-www-form"):
            return Reply(400, {"status": "fail"})
        if request.form() != expected:
            return Reply(401, {"status": "fail", "result": "invalid_client"})
        with self.lock:
            token = f"eyJ0eXAiOiJKV1Qi.tok{len(self.issued) + 1}.sig"
            self.issued.append(token)
            self.honoured.add(token)
        body = {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "access_token": token}
        return Reply(200, body)

    @staticmethod
    def _page(request: RecordedRequest, items: list[dict[str, Any]]) -> Reply:
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
