"""The contracts table's queries, on a real SQLite file and PostgreSQL when configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from integration_hub.storage import contracts
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import contracts as contract_rows

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ENVELOPE = "93be49ab-3e3b-4c8f-9b1c-2b0a1f2e3d4c"


def _create(engine: Engine, subject: str = "cleaner:cln_1", valid_days: int | None = 365) -> str:
    with begin_write(engine) as connection:
        return str(
            contracts.create_contract(
                connection, subject_ref=subject, template="cleaner_agreement", language="es",
                signer_name="Ana", signer_email="ana@example.com", provider="docusign",
                valid_days=valid_days,
            )["id"]
        )  # fmt: skip


def _status(
    engine: Engine,
    contract_id: str,
    status: str,
    when: datetime,
    envelope: str = ENVELOPE,
    **kw: object,
) -> bool:
    with begin_write(engine) as connection:
        return contracts.set_status(
            connection, contract_id=contract_id, envelope_id=envelope, status=status, when=when,
            **kw,  # type: ignore[arg-type]
        )  # fmt: skip


def _get(engine: Engine, contract_id: str) -> dict[str, object]:
    with engine.connect() as connection:
        contract = contracts.get_contract(connection, contract_id=contract_id)
    assert contract is not None
    return contract


def test_a_new_contract_is_created_unsent(engine: Engine) -> None:
    contract_id = _create(engine)

    contract = _get(engine, contract_id)
    assert contract_id.startswith("ctr_") and len(contract_id) == 36
    assert (contract["status"], contract["envelope_id"], contract["sent_at"]) == (
        "created",
        None,
        None,
    )
    assert (contract["template"], contract["language"], contract["valid_days"]) == (
        "cleaner_agreement", "es", 365,
    )  # fmt: skip


def test_an_older_status_never_overwrites_a_newer_one(engine: Engine) -> None:
    contract_id = _create(engine)

    assert _status(engine, contract_id, "sent", T0)
    assert _status(engine, contract_id, "completed", T0 + timedelta(hours=2),
                   expires_at=T0 + timedelta(days=365))  # fmt: skip
    assert not _status(engine, contract_id, "delivered", T0 + timedelta(hours=1))

    contract = _get(engine, contract_id)
    assert (contract["status"], contract["envelope_id"]) == ("completed", ENVELOPE)
    assert (contract["sent_at"], contract["completed_at"]) == (T0, T0 + timedelta(hours=2))
    assert contract["expires_at"] == T0 + timedelta(days=365)


def test_the_same_event_again_is_harmless(engine: Engine) -> None:
    contract_id = _create(engine)
    assert _status(engine, contract_id, "declined", T0, reason="no")
    assert _status(engine, contract_id, "declined", T0, reason="no")
    assert (_get(engine, contract_id)["status"], _get(engine, contract_id)["reason"]) == (
        "declined", "no",
    )  # fmt: skip


def test_another_envelope_never_takes_a_recorded_contract(engine: Engine) -> None:
    contract_id = _create(engine)
    assert _status(engine, contract_id, "sent", T0)

    with begin_write(engine) as connection:
        taken = contracts.set_status(connection, contract_id=contract_id, envelope_id="other",
                                     status="completed", when=T0 + timedelta(hours=1))  # fmt: skip
    assert not taken
    assert _get(engine, contract_id)["status"] == "sent"


def test_an_event_finds_its_contract_by_envelope_or_by_the_carried_id(engine: Engine) -> None:
    first, second = _create(engine), _create(engine)
    assert _status(engine, first, "sent", T0)

    with engine.connect() as connection:
        by_envelope = contracts.find_for_event(
            connection, provider="docusign", envelope_id=ENVELOPE, contract_id=None
        )
        by_id = contracts.find_for_event(
            connection, provider="docusign", envelope_id="new-envelope", contract_id=second
        )
        elsewhere = contracts.find_for_event(
            connection, provider="other", envelope_id=ENVELOPE, contract_id=first
        )
    assert by_envelope is not None and by_envelope["id"] == first
    assert by_id is not None and by_id["id"] == second
    assert elsewhere is None


def test_signed_contract_is_a_completed_unexpired_one(engine: Engine) -> None:
    subject = "cleaner:cln_2"
    lapsed, current, pending = (
        _create(engine, subject),
        _create(engine, subject),
        _create(engine, subject),
    )
    assert _status(engine, lapsed, "completed", T0, "e1", expires_at=T0 + timedelta(days=30))
    assert _status(engine, pending, "sent", T0, "e2")

    with engine.connect() as connection:
        before = contracts.signed_contract(
            connection, subject_ref=subject, now=T0 + timedelta(days=1)
        )
        after = contracts.signed_contract(
            connection, subject_ref=subject, now=T0 + timedelta(days=31)
        )
        other = contracts.signed_contract(connection, subject_ref="cleaner:cln_3", now=T0)
    assert before is not None and before["id"] == lapsed
    assert (after, other) == (None, None)

    assert _status(engine, current, "completed", T0 + timedelta(days=40), "e3")  # no expiry
    with engine.connect() as connection:
        later = contracts.signed_contract(
            connection, subject_ref=subject, now=T0 + timedelta(days=4000)
        )
        listed = contracts.list_contracts(connection, subject_ref=subject, limit=2)
    assert later is not None and later["id"] == current
    assert len(listed) == 2


def test_a_final_status_is_never_overwritten(engine: Engine) -> None:
    for final in ("completed", "declined", "voided"):
        contract_id, envelope = _create(engine), f"e-{final}"
        assert _status(engine, contract_id, final, T0, envelope)

        assert not _status(engine, contract_id, "sent", T0, envelope)  # same time
        assert not _status(engine, contract_id, "delivered", T0 + timedelta(hours=1), envelope)
        other = "voided" if final != "voided" else "completed"
        assert not _status(engine, contract_id, other, T0 + timedelta(hours=2), envelope)

        contract = _get(engine, contract_id)
        assert (contract["status"], contract["status_at"]) == (final, T0)


def test_a_tie_never_moves_a_contract_back(engine: Engine) -> None:
    contract_id = _create(engine)
    assert _status(engine, contract_id, "delivered", T0)

    assert not _status(engine, contract_id, "sent", T0)
    assert _get(engine, contract_id)["status"] == "delivered"
    assert _status(engine, contract_id, "completed", T0)  # a tie may move it on
    assert _get(engine, contract_id)["status"] == "completed"


def test_recording_the_envelope_moves_only_a_created_contract(engine: Engine) -> None:
    fresh, completed = _create(engine), _create(engine)
    assert _status(engine, completed, "completed", T0, expires_at=T0 + timedelta(days=365))

    with begin_write(engine) as connection:
        assert contracts.record_envelope(
            connection, contract_id=fresh, envelope_id="e-fresh", sent_at=T0
        )
        # The retried send answers with the sent time the completion event left: a tie.
        assert contracts.record_envelope(
            connection, contract_id=completed, envelope_id=ENVELOPE, sent_at=T0
        )
        assert not contracts.record_envelope(
            connection, contract_id=completed, envelope_id="another", sent_at=T0
        )

    assert (_get(engine, fresh)["status"], _get(engine, fresh)["status_at"]) == ("sent", T0)
    contract = _get(engine, completed)
    assert (contract["status"], contract["envelope_id"]) == ("completed", ENVELOPE)
    with engine.connect() as connection:
        signed = contracts.signed_contract(connection, subject_ref="cleaner:cln_1", now=T0)
    assert signed is not None and signed["id"] == completed


def test_recording_the_envelope_adds_it_to_a_contract_an_event_moved_on(engine: Engine) -> None:
    contract_id = _create(engine)
    with begin_write(engine) as connection:  # as an event carrying the contract id would
        contracts.set_status(connection, contract_id=contract_id, envelope_id=ENVELOPE,
                             status="delivered", when=T0 + timedelta(minutes=5))  # fmt: skip
        connection.execute(
            contract_rows.update()
            .where(contract_rows.c.id == contract_id)
            .values(envelope_id=None, sent_at=None)
        )
        assert contracts.record_envelope(
            connection, contract_id=contract_id, envelope_id=ENVELOPE, sent_at=T0
        )

    contract = _get(engine, contract_id)
    assert (contract["status"], contract["status_at"]) == ("delivered", T0 + timedelta(minutes=5))
    assert (contract["envelope_id"], contract["sent_at"]) == (ENVELOPE, T0)
