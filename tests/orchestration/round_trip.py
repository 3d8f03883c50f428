"""The round trip's stand-ins and view of a running hub: Twilio's Messages API as documented,
the servers a module shares, and what the tests read of the hub and of the stand-ins."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import select

from integration_hub.storage.tables import outbound_messages, support_conversations
from tests.helpers import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, RunningHub, wait_until
from tests.orchestration.support_inboxes import Inbox
from tests.partner_server import PartnerServer, RecordedRequest, Reply

T = TypeVar("T")
MESSAGES_PATH = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"


@dataclass
class MessagesApi:
    """Twilio's Messages.create as documented (twilio.com/docs/messaging/api/message-resource):
    HTTP Basic with the account SID and auth token, a form with To, From and Body; answered
    201 with the Message resource, or `refusal` when a test sets one."""

    refusal: Reply | None = None

    def __call__(self, request: RecordedRequest) -> Reply:
        basic = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        form = request.form() if (request.method, request.path) == ("POST", MESSAGES_PATH) else {}
        if not {"To", "From", "Body"} <= set(form):
            return Reply(400, {"code": 21602, "message": "Message body is required", "status": 400})
        if self.refusal is not None:
            return self.refusal
        return Reply(201, {"sid": "SM" + uuid.uuid4().hex, "status": "queued",
                           "account_sid": TWILIO_ACCOUNT_SID, "to": form["To"][0]})  # fmt: skip


@dataclass
class StandIns:
    """One inbox API and one Twilio API server for the module (stopping one takes 0.5 s),
    answering for the current test's inbox."""

    inbox_api: PartnerServer
    twilio: PartnerServer
    messages_api: MessagesApi
    current: list[Inbox]


@dataclass
class Trip:
    hub: RunningHub
    inbox: Inbox
    twilio: PartnerServer
    messages_api: MessagesApi

    def sent(self) -> list[dict[str, list[str]]]:
        """What the hub asked Twilio to send."""
        return [
            r.form() for r in self.twilio.requests if (r.method, r.path) == ("POST", MESSAGES_PATH)
        ]

    def rows(self) -> list[dict[str, Any]]:
        with self.hub.hub.engine.connect() as connection:
            found = connection.execute(select(support_conversations)).all()
        return [dict(row._mapping) for row in found]

    async def deliver(self, delivery: tuple[str, bytes, dict[str, str]]) -> dict[str, Any]:
        path, body, headers = delivery
        answer = await self.hub.http.post(path, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def handled(self, partner: str, partner_event_id: str) -> dict[str, Any]:
        """The stored delivery once its handlers are done."""
        answer = await wait_until(
            lambda: self.hub.admin.get(f"/api/events/{partner}/{quote(partner_event_id, safe='')}"),
            lambda r: (
                r.status_code == 200 and r.json()["status"] in {"processed", "failed", "ignored"}
            ),
        )
        shown: dict[str, Any] = answer.json()
        return shown

    def relay_states(self) -> list[str]:
        """The states of the relayed replies' sends (outbound_messages, rly_...)."""
        with self.hub.hub.engine.connect() as connection:
            query = select(outbound_messages.c.state).where(
                outbound_messages.c.message_id.like("rly_%")
            )
            return [str(state) for state in connection.execute(query).scalars()]


def polled(read: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """`read` (of the stand-ins or the database) as a probe for `wait_until`."""

    async def probe() -> T:
        return read()

    return probe
