"""What the Intercom calls tests share: the calls built against the stand-in (its fixtures
are in conftest.py), a test escalation, and counts of the requests the stand-in saw."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from integration_hub.connectors.intercom.calls import IntercomCalls
from integration_hub.connectors.intercom.settings import IntercomSettings
from integration_hub.connectors.support_inbox import EscalationContext, EscalationRequest
from integration_hub.secrets import EnvSecretSource
from tests.connectors.intercom.support import TOKEN, FakeIntercom
from tests.partner_server import PartnerServer

PHONE = "+13055550123"
CONTACT = f"{7:024x}"
BUILT: list[IntercomCalls] = []  # closed by the `server` fixture


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def build_calls(
    server: PartnerServer, engine: Engine, clock: Clock | None = None, token: str = TOKEN
) -> IntercomCalls:
    settings = IntercomSettings(_env_file=None, api_base_url=server.url)  # type: ignore[call-arg]
    source = EnvSecretSource(environ={"INTERCOM_ACCESS_TOKEN": token})
    BUILT.append(IntercomCalls(source, settings, engine=engine, clock=clock or time.time))
    return BUILT[-1]


def escalation(**changes: object) -> EscalationRequest:
    fields: dict[str, object] = {
        "escalation_id": "sup_" + "a" * 32,
        "message_id": "msg_" + "1" * 32,
        "phone": PHONE,
        "name": "María González",
        "language": "es",
        "channel": "whatsapp",
        "body": "No puedo entrar, el código de la puerta no funciona",
        "reasons": ("lockout",),
        "tags": ("escalation", "lockout"),
        "context": EscalationContext(property_id="prp_1", lines=("Property: Brickell 12B",)),
    }
    return EscalationRequest(**{**fields, **changes})  # type: ignore[arg-type]


def routes(server: PartnerServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests]


def count(server: PartnerServer, method: str, path: str) -> int:
    return routes(server).count((method, path))


def add_lead(intercom: FakeIntercom, role: str = "lead", tags: list[str] | None = None) -> None:
    intercom.contacts[CONTACT] = {"role": role, "phone": PHONE, "name": "María", "tags": tags or []}
