"""The registry of handler workflows per internal event type. Later issues add lines here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from integration_hub.orchestration.contacts import CONTACT_EVENT_TYPES
from integration_hub.orchestration.identity import IDENTITY_EVENT_TYPES
from integration_hub.orchestration.ledger import LEDGER_EVENT_TYPES
from integration_hub.orchestration.workflows import (
    ContactsWorkflow,
    IdentityWorkflow,
    LedgerWorkflow,
)


@dataclass(frozen=True)
class Handler:
    name: str  # also the workflow type name
    workflow: type
    event_types: frozenset[str]


HANDLERS: tuple[Handler, ...] = (
    Handler("ledger", LedgerWorkflow, LEDGER_EVENT_TYPES),
    Handler("identity", IdentityWorkflow, IDENTITY_EVENT_TYPES),
    Handler("contacts", ContactsWorkflow, CONTACT_EVENT_TYPES),
)

_BY_EVENT_TYPE: dict[str, tuple[str, ...]] = {}
for _handler in HANDLERS:
    for _type in _handler.event_types:
        _BY_EVENT_TYPE[_type] = (*_BY_EVENT_TYPE.get(_type, ()), _handler.name)


def handler_names_for(event_type: str) -> Sequence[str]:
    return _BY_EVENT_TYPE.get(event_type, ())
