"""Handlers: each one `Handler(name, event_types, apply)` declaration.

`apply` does the handler's writes in the open transaction that also completes its run, given
the internal event (the CloudEvent as a dict) and a `HandlerContext`, and returns a detail
string or `Skipped`. To start or signal a workflow (a long-running job), `apply` queues it on
`context.outbox` (outbox.py) with the same connection: it is sent once that transaction has
committed, exactly once, and never if `apply` raises. A refusal no retry can fix is a `HubError` whose `retryable` is False: the
run fails at once with its detail kept; anything else raised is retried. Handlers know nothing
of Temporal: one generic workflow (workflows.py) runs any of them by name.

`HANDLERS` lists the core handlers (features that span partners); a handler that belongs to one
partner alone is declared in its `Partner.handlers`. `registered_handlers()` is both. Adding a
handler is its module (its logic and `apply`), one declaration here or in its partner's
declaration, and its tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection

from integration_hub.orchestration import (
    cleaners,
    contacts,
    contracts,
    email_suppression,
    escalation,
    escalation_rules,
    identity,
    invitations,
    ledger,
    reservations,
    support,
)
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.outcomes import HandlerOutcome
from integration_hub.settings import Settings
from integration_hub.storage import ledger as ledger_rows
from integration_hub.storage.rows import utcnow

# Kept in handler_runs.handler (64 characters) and in workflow ids "{name}/{event id}".
_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What an `apply` may use besides the transaction and the event; built once per worker."""

    settings: Settings
    # Workflow starts and signals, queued on the handler's connection (see outbox.py).
    outbox: Outbox = field(default_factory=Outbox)


Apply = Callable[[Connection, dict[str, Any], HandlerContext], HandlerOutcome]


@dataclass(frozen=True, slots=True)
class Handler:
    name: str  # its runs' name: workflow id "{name}/{event id}", the metrics' handler label
    event_types: frozenset[str]  # internal event types it handles
    apply: Apply

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"handler name {self.name!r} must match {_NAME.pattern}")


def _post_ledger_entry(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    entry = ledger.entry_for(connection, event)
    created = ledger_rows.post_ledger_entry(connection, entry=entry)
    posted = f"{entry['kind']} {entry['amount']} {entry['currency']}"
    return posted if created else f"{posted} (already posted)"


def _apply_identity_event(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    skew = timedelta(seconds=context.settings.identity_clock_skew_seconds)
    return identity.apply_event(connection, event, clock_skew=skew)


def _apply_contact_event(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    return contacts.apply_event(connection, event)


def _apply_cleaner_event(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    return cleaners.apply_event(connection, event)


def _apply_invitation_event(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    return invitations.apply_event(connection, event, context.outbox)


def _apply_contract_event(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    return contracts.apply_event(connection, event)


def _apply_email_event(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    limit = context.settings.email_soft_bounce_limit
    return email_suppression.apply_event(connection, event, soft_bounce_limit=limit)


def support_provider(settings: Settings) -> str | None:
    """The configured support inbox's name, None when there is none."""
    from integration_hub.connectors.partners import provider_for  # see registered_handlers

    partner = provider_for("support", settings.support_provider)
    return None if partner is None else partner.name


def _apply_escalation(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    settings = context.settings
    return escalation.apply_event(
        connection,
        event,
        provider=support_provider(settings),
        rules=escalation_rules.rules_for(settings.escalation_rules_file),
        idle=timedelta(hours=settings.support_idle_hours),
        outbox=context.outbox,
        now=utcnow(),
    )


def _apply_support_event(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    from integration_hub.connectors.partners import provider_for  # see registered_handlers

    messaging = provider_for("messaging", None)
    rules = escalation_rules.rules_for(context.settings.escalation_rules_file)
    return support.apply_event(
        connection,
        event,
        outbox=context.outbox,
        messaging=None if messaging is None else messaging.name,
        hub_applied=escalation.conversation_tags(rules),
        idle=timedelta(hours=context.settings.support_idle_hours),
        now=utcnow(),
    )


def _apply_reservation_event(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    return reservations.apply_event(
        connection,
        event,
        outbox=context.outbox,
        hold_share=context.settings.ical_hold_share,
        handler_names=handler_names_for,
    )


HANDLERS: tuple[Handler, ...] = (
    # One ledger entry per payment or payout event.
    Handler("ledger", ledger.LEDGER_EVENT_TYPES, _post_ledger_entry),
    # The users-and-roles mirror, in step with the auth provider.
    Handler("identity", identity.IDENTITY_EVENT_TYPES, _apply_identity_event),
    # Messaging contacts: consent, locale, the WhatsApp window.
    Handler("contacts", contacts.CONTACT_EVENT_TYPES, _apply_contact_event),
    # Cleaners' payout readiness, from their payout accounts' events.
    Handler("cleaners", cleaners.CLEANER_EVENT_TYPES, _apply_cleaner_event),
    # Invitations close when the invited user appears at their provider.
    Handler("invitations", invitations.INVITATION_EVENT_TYPES, _apply_invitation_event),
    # B2B contracts' status, from the contracts partner's envelope events.
    Handler("contracts", contracts.CONTRACT_EVENT_TYPES, _apply_contract_event),
    # The e-mail suppression list: bounces, complaints, unsubscribes.
    Handler(
        "email-suppression",
        email_suppression.EMAIL_SUPPRESSION_EVENT_TYPES,
        _apply_email_event,
    ),
    # Inbound messages that match the escalation rules open a support conversation.
    Handler("escalation", escalation.ESCALATION_EVENT_TYPES, _apply_escalation),
    # The support inbox's events: conversations' state, agents' replies relayed, tags mirrored.
    Handler("support", support.SUPPORT_EVENT_TYPES, _apply_support_event),
    # Every PMS's reservations and listings into one model: properties, stays, reservations.
    Handler("reservations", reservations.RESERVATION_EVENT_TYPES, _apply_reservation_event),
)


def checked(handlers: Iterable[object]) -> tuple[Handler, ...]:
    """`handlers` as declarations, refusing what is not a Handler or a name used twice (two
    handlers of one name would share their runs' rows and workflow ids)."""
    seen: set[str] = set()
    out: list[Handler] = []
    for handler in handlers:
        if not isinstance(handler, Handler):
            raise TypeError(f"not a Handler declaration: {handler!r}")
        if handler.name in seen:
            raise ValueError(f"two handlers are named {handler.name!r}")
        seen.add(handler.name)
        out.append(handler)
    return tuple(out)


@cache
def registered_handlers() -> tuple[Handler, ...]:
    """The core handlers, then every partner's."""
    # Imported here, not at the top: a partner package imports `Handler` from this module to
    # declare its handlers, so importing the partners while this module loads would be a cycle.
    from integration_hub.connectors.partners import PARTNERS

    return checked([*HANDLERS, *(handler for p in PARTNERS for handler in p.handlers)])


def names_by_event_type(handlers: Iterable[Handler]) -> Callable[[str], Sequence[str]]:
    """The normalizer's lookup: an internal event type -> the names of its handlers."""
    by_type: dict[str, tuple[str, ...]] = {}
    for handler in handlers:
        for event_type in handler.event_types:
            by_type[event_type] = (*by_type.get(event_type, ()), handler.name)
    index: Mapping[str, tuple[str, ...]] = by_type
    return lambda event_type: index.get(event_type, ())


@cache
def _registered_names() -> Callable[[str], Sequence[str]]:
    return names_by_event_type(registered_handlers())


def handler_names_for(event_type: str) -> Sequence[str]:
    """The names of the registered handlers of an internal event type (none: empty)."""
    return _registered_names()(event_type)
