"""Guesty's Open API as a local server answers it (tests/partner_server.py), checking the
documented requests: the token (form `grant_type=client_credentials`, `scope=open-api`,
`client_id`, `client_secret`) and `GET /v1/reservations/{id}` with `Bearer <token>`.

A token it issued is valid until `revoke()`; any other request gets 400, so a test sees
a malformed request as a failure it can name."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_hub.connectors.guesty import samples
from integration_hub.connectors.guesty.calls import GuestyCalls
from integration_hub.connectors.guesty.settings import GuestySettings
from integration_hub.secrets.file import FileSecretStore
from integration_hub.secrets.instances import instance_secret_name
from integration_hub.settings import Settings
from tests.partner_server import RecordedRequest, Reply
from tests.secrets.helpers import file_store

CONNECTION = "mia-beach"
CLIENT_ID = "0oa8guestyclient01"
CLIENT_SECRET = "Gu3sty-client-secret-4f1c9a7e2b"
RESERVATION_ID = "6650b1f2e4a0c10013d2c7aa"


def credentials(connection: str = CONNECTION) -> dict[str, str]:
    return {
        instance_secret_name("GUESTY_CLIENT_ID", connection): CLIENT_ID,
        instance_secret_name("GUESTY_CLIENT_SECRET", connection): CLIENT_SECRET,
    }


def secret_store(home: Path, environ: dict[str, str] | None = None) -> FileSecretStore:
    home.mkdir(parents=True, exist_ok=True)
    return file_store(home, environ=credentials() if environ is None else environ)


def calls(settings: Settings, store: FileSecretStore, url: str, engine: Any) -> GuestyCalls:
    guesty = GuestySettings(_env_file=None, api_base_url=url)  # type: ignore[call-arg]
    return GuestyCalls(settings, store, engine, guesty)


@dataclass
class FakeGuesty:
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    valid: set[str] = field(default_factory=set)
    refused_token: int | None = None  # status the token endpoint answers instead
    lock: threading.Lock = field(default_factory=threading.Lock)
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, reservation_id: str = RESERVATION_ID, **changes: Any) -> dict[str, Any]:
        reservation = samples.full_reservation(_id=reservation_id, **changes)
        self.reservations[reservation_id] = reservation
        return reservation

    def revoke(self) -> None:
        with self.lock:
            self.valid.clear()

    def __call__(self, request: RecordedRequest) -> Reply:
        if request.path == "/oauth2/token":
            return self._token(request)
        if request.method == "GET" and request.path == "/v1/reservations":
            return self._authorized(request) or self._list(request)
        if request.method == "GET" and request.path.startswith("/v1/reservations/"):
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            with self.lock:
                if token not in self.valid:
                    return Reply(401, {"error": {"code": "UNAUTHORIZED"}})
            found = self.reservations.get(request.path.rsplit("/", 1)[1])
            return Reply(200, found) if found else Reply(404, {"error": {"code": "NOT_FOUND"}})
        return Reply(400, {"error": "unexpected request"})

    def _authorized(self, request: RecordedRequest) -> Reply | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            return None if token in self.valid else Reply(401, {"error": "UNAUTHORIZED"})

    def _list(self, request: RecordedRequest) -> Reply:
        """The legacy list: `fields` (space-separated), `sort`, `limit`, `skip`, `filters`."""
        query = {name: values[0] for name, values in request.query.items()}
        limit, skip = query.get("limit", "25"), query.get("skip", "0")
        if not (limit.isdigit() and 0 < int(limit) <= 100 and skip.isdigit()):
            return Reply(400, {"error": "limit is 1 to 100, skip a count"})
        if query.get("sort") != "lastUpdatedAt" or "_id" not in query.get("fields", "").split():
            return Reply(400, {"error": "unexpected sort or fields"})
        since = ""
        if "filters" in query:
            [condition] = json.loads(query["filters"])
            if set(condition) != {"field", "operator", "value"} or condition["operator"] != "$gte":
                return Reply(400, {"error": "unexpected filter"})
            since = condition["value"]
        found = sorted(
            (r for r in self.reservations.values() if r["lastUpdatedAt"] >= since),
            key=lambda r: (r["lastUpdatedAt"], r["_id"]),
        )
        page = found[int(skip) : int(skip) + int(limit)]
        return Reply(200, {"results": page, "count": len(found), "limit": int(limit),
                           "skip": int(skip)})  # fmt: skip

    def _token(self, request: RecordedRequest) -> Reply:
        expected = {"grant_type": ["client_credentials"], "scope": ["open-api"],
                    "client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET]}  # fmt: skip
        form_type = request.headers.get("content-type", "")
        if request.method != "POST" or not form_type.startswith(
            "application/x-www-form-urlencoded"
        ):
            return Reply(400, {"error": "invalid_request"})
        if request.form() != expected:
            return Reply(401, {"error": "invalid_client"})
        if self.refused_token is not None:
            return Reply(self.refused_token, {"error": "invalid_client"})
        token = f"eyJguesty.token{next(self.numbers)}.sig"
        with self.lock:
            self.valid.add(token)
        return Reply(200, {"token_type": "Bearer", "expires_in": 86400, "access_token": token,
                           "scope": "open-api"})  # fmt: skip
