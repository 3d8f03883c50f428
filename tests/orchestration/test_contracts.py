"""The contracts handler on real Connect events (the connector's normalize, the CloudEvent the
normalizer builds), over a real SQLite file and PostgreSQL when configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.docusign.webhook import DocuSignConnector, connect_payload
from integration_hub.events import build_event
from integration_hub.orchestration import contracts
from integration_hub.orchestration.outcomes import Skipped
from integration_hub.storage import contracts as stored
from integration_hub.storage.engine import begin_write

ENVELOPE = "93be49ab-3e3b-4c8f-9b1c-2b0a1f2e3d4c"
SUBJECT = "cleaner:cln_" + "c" * 32


def _event(event_type: str, generated: str, contract_id: str | None) -> dict[str, Any]:
    body = connect_payload(event_type, envelope_id=ENVELOPE, contract_id=contract_id,
                           generated=generated)  # fmt: skip
    key = f"{ENVELOPE}:{event_type}:{generated}"
    (draft,) = DocuSignConnector().normalize(PartnerEvent(key, event_type, body))
    return build_event(partner="docusign", partner_event_id=key, index=0, draft=draft)


def _contract(engine: Engine, valid_days: int | None = 365) -> str:
    with begin_write(engine) as connection:
        return str(
            stored.create_contract(
                connection, subject_ref=SUBJECT, template="cleaner_agreement", language="en",
                signer_name="Ana", signer_email="ana@example.com", provider="docusign",
                valid_days=valid_days,
            )["id"]
        )  # fmt: skip


def _apply(engine: Engine, event: dict[str, Any]) -> Any:
    with begin_write(engine) as connection:
        return contracts.apply_event(connection, event)


def test_sent_then_completed_makes_a_signed_contract_until_it_expires(engine: Engine) -> None:
    contract_id = _contract(engine)

    sent = _apply(engine, _event("envelope-sent", "2026-12-01T10:00:00.1234567Z", contract_id))
    signed = _apply(engine, _event("recipient-completed", "2026-12-01T11:59:59Z", contract_id))
    done = _apply(engine, _event("envelope-completed", "2026-12-01T12:00:00Z", None))

    assert sent == f"contract {contract_id}: sent"
    assert signed == f"contract {contract_id}: recipient 1 signed"
    assert done == f"contract {contract_id}: completed until 2027-12-01"
    completed = datetime(2026, 12, 1, 12, tzinfo=UTC)
    with engine.connect() as connection:
        row = stored.get_contract(connection, contract_id=contract_id)
        holds = stored.signed_contract(
            connection, subject_ref=SUBJECT, now=completed + timedelta(days=364)
        )
        lapsed = stored.signed_contract(
            connection, subject_ref=SUBJECT, now=completed + timedelta(days=366)
        )
    assert row is not None
    assert (row["status"], row["envelope_id"], row["completed_at"]) == (
        "completed",
        ENVELOPE,
        completed,
    )
    assert row["expires_at"] == completed + timedelta(days=365)
    assert row["sent_at"] == datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert holds is not None and holds["id"] == contract_id
    assert lapsed is None


def test_an_older_event_after_a_newer_one_is_skipped(engine: Engine) -> None:
    contract_id = _contract(engine, valid_days=None)
    _apply(engine, _event("envelope-completed", "2026-12-01T12:00:00Z", contract_id))

    late = _apply(engine, _event("envelope-delivered", "2026-12-01T11:00:00Z", contract_id))

    assert isinstance(late, Skipped) and "newer status" in str(late)
    with engine.connect() as connection:
        row = stored.get_contract(connection, contract_id=contract_id)
    assert row is not None and (row["status"], row["expires_at"]) == ("completed", None)


def test_a_declined_contract_keeps_the_reason_and_is_not_signed(engine: Engine) -> None:
    contract_id = _contract(engine)
    _apply(engine, _event("envelope-declined", "2026-12-01T12:00:00Z", contract_id))

    with engine.connect() as connection:
        row = stored.get_contract(connection, contract_id=contract_id)
        signed = stored.signed_contract(connection, subject_ref=SUBJECT, now=datetime.now(UTC))
    assert row is not None
    assert (row["status"], row["reason"]) == ("declined", "No estoy de acuerdo con la cláusula 4")
    assert signed is None


def test_an_envelope_the_hub_did_not_send_is_skipped(engine: Engine) -> None:
    outcome = _apply(engine, _event("envelope-completed", "2026-12-01T12:00:00Z", None))
    assert isinstance(outcome, Skipped) and ENVELOPE in str(outcome)


def test_an_event_that_outruns_the_send_is_applied_by_the_carried_contract_id(
    engine: Engine,
) -> None:
    """Connect may report an envelope before the send workflow recorded it: the contract id
    the envelope carries finds the (still created) contract, so the event is applied, not
    skipped, and the send's own record afterwards neither refuses nor moves it back."""
    contract_id = _contract(engine)

    done = _apply(engine, _event("envelope-completed", "2026-12-01T12:00:00Z", contract_id))

    assert done == f"contract {contract_id}: completed until 2027-12-01"
    completed = datetime(2026, 12, 1, 12, tzinfo=UTC)
    with begin_write(engine) as connection:
        assert stored.record_envelope(
            connection, contract_id=contract_id, envelope_id=ENVELOPE, sent_at=completed
        )
        row = stored.get_contract(connection, contract_id=contract_id)
    assert row is not None and (row["status"], row["envelope_id"]) == ("completed", ENVELOPE)


def test_an_equal_time_event_never_moves_a_contract_back(engine: Engine) -> None:
    contract_id = _contract(engine)
    _apply(engine, _event("envelope-delivered", "2026-12-01T12:00:00Z", contract_id))

    tie = _apply(engine, _event("envelope-sent", "2026-12-01T12:00:00Z", contract_id))

    assert isinstance(tie, Skipped)
    with engine.connect() as connection:
        row = stored.get_contract(connection, contract_id=contract_id)
    assert row is not None and row["status"] == "delivered"
