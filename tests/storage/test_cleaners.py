"""The cleaners registry's queries, on a real SQLite file and PostgreSQL when configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from integration_hub.storage import cleaners, contacts
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import MAX_REQUIREMENTS

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _add(engine: Engine, phone: str = "+13055550142", language: str = "es") -> str:
    with begin_write(engine) as connection:
        return str(
            cleaners.add_cleaner(connection, name="Ana", phone=phone, language=language)["id"]
        )


def test_a_cleaner_is_registered_with_its_phone_as_a_contact(engine: Engine) -> None:
    cleaner_id = _add(engine)

    with engine.connect() as connection:
        cleaner = cleaners.get_cleaner(connection, cleaner_id=cleaner_id)
        contact = contacts.get_contact(connection, phone="+13055550142")
    assert cleaner is not None
    assert (cleaner["name"], cleaner["language"], cleaner["payout_account_id"]) == (
        "Ana",
        "es",
        None,
    )
    assert (cleaner["payouts_enabled"], cleaner["requirements_due"]) == (False, [])
    assert contact is not None and (contact["locale"], contact["opted_out"]) == ("es", False)


def test_a_phone_registers_once(engine: Engine) -> None:
    _add(engine)
    with pytest.raises(cleaners.CleanerExists), begin_write(engine) as connection:
        cleaners.add_cleaner(connection, name="Otra", phone="+13055550142", language="en")
    with engine.connect() as connection:
        assert len(cleaners.list_cleaners(connection, limit=10)) == 1


def test_list_pages_by_id(engine: Engine) -> None:
    ids = sorted(_add(engine, phone=f"+1305555010{n}") for n in range(3))
    with engine.connect() as connection:
        first = cleaners.list_cleaners(connection, limit=2)
        rest = cleaners.list_cleaners(connection, limit=2, after_id=first[-1]["id"])
    assert [c["id"] for c in first + rest] == ids


def test_a_payout_account_is_linked_once(engine: Engine) -> None:
    cleaner_id = _add(engine)
    with begin_write(engine) as connection:
        first = cleaners.set_payout_account(
            connection, cleaner_id=cleaner_id, partner="stripe", account_id="acct_1"
        )
        again = cleaners.set_payout_account(
            connection, cleaner_id=cleaner_id, partner="stripe", account_id="acct_1"
        )
        other = cleaners.set_payout_account(
            connection, cleaner_id=cleaner_id, partner="stripe", account_id="acct_2"
        )
        missing = cleaners.set_payout_account(
            connection, cleaner_id="cln_" + "0" * 32, partner="stripe", account_id="acct_3"
        )
    assert (first, again, other, missing) == (True, True, False, False)
    with engine.connect() as connection:
        assert cleaners.has_payout_account(connection, partner="stripe", account_id="acct_1")
        assert not cleaners.has_payout_account(connection, partner="other", account_id="acct_1")


def test_readiness_keeps_the_newest_state_and_bounds_requirements(engine: Engine) -> None:
    cleaner_id = _add(engine)
    common = {"partner": "stripe", "account_id": "acct_1", "charges_enabled": False}
    with begin_write(engine) as connection:
        cleaners.set_payout_account(
            connection, cleaner_id=cleaner_id, partner="stripe", account_id="acct_1"
        )
        newer = cleaners.update_readiness(
            connection, **common, when=T0, payouts_enabled=True, disabled_reason=None,
            requirements_due=[f"r{n}" for n in range(MAX_REQUIREMENTS + 5)],
        )  # fmt: skip
        older = cleaners.update_readiness(
            connection, **common, when=T0 - timedelta(minutes=1), payouts_enabled=False,
            disabled_reason="requirements.past_due", requirements_due=[],
        )  # fmt: skip
    with engine.connect() as connection:
        cleaner = cleaners.get_cleaner(connection, cleaner_id=cleaner_id)
    assert (newer, older) == (1, 0)
    assert cleaner is not None
    assert (cleaner["payouts_enabled"], cleaner["disabled_reason"]) == (True, None)
    assert len(cleaner["requirements_due"]) == MAX_REQUIREMENTS
    assert cleaner["readiness_at"] == T0
