"""storage/stays.py's admin operations (SQLite file, PostgreSQL when configured): linking a
listing refused across managers and for unknown rows, releasing a hold, and the link
suggestions (coordinates within 50 m, or one address written two ways)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from integration_hub.errors import HubError
from integration_hub.storage import properties, stays
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import managers, pms_connections

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _manager_with_connection(connection: Any, manager: str) -> str:
    connection.execute(managers.insert().values(
        id=manager, name=manager, billing_mode="monthly", created_at=NOW, updated_at=NOW))  # fmt: skip
    connection.execute(pms_connections.insert().values(
        id=f"{manager}-pms", partner="testpms", manager_id=manager, status="active", options={},
        created_at=NOW, updated_at=NOW))  # fmt: skip
    return f"{manager}-pms"


def _place(connection: Any, connection_id: str, manager: str, listing: str, **fields: Any) -> str:
    property_id = properties.property_id_for(connection_id, listing)
    properties.insert_property(connection, property_id=property_id, manager_id=manager,
                               fields={"name": listing, **fields}, timezone_source=None)  # fmt: skip
    properties.insert_listing(connection, connection_id=connection_id, source_listing_id=listing,
                              source="testpms", property_id=property_id, fields={})  # fmt: skip
    return property_id


def test_a_listing_links_only_to_a_property_of_its_manager(engine: Engine) -> None:
    with begin_write(engine) as connection:
        ours = _manager_with_connection(connection, "acme")
        theirs = _manager_with_connection(connection, "other")
        mine = _place(connection, ours, "acme", "L1")
        foreign = _place(connection, theirs, "other", "L9")
        with pytest.raises(HubError) as refused:
            stays.link_listing(connection, connection_id=ours, source_listing_id="L1",
                               property_id=foreign)  # fmt: skip
        assert refused.value.reason == "other_manager"
        with pytest.raises(LookupError):
            stays.link_listing(connection, connection_id=ours, source_listing_id="nope",
                               property_id=mine)  # fmt: skip
        with pytest.raises(LookupError):
            stays.link_listing(connection, connection_id=ours, source_listing_id="L1",
                               property_id="prop_000000000000000000000000")  # fmt: skip
        with pytest.raises(LookupError):
            stays.release_hold(connection, "nobody")
        assert stays.release_hold(connection, ours) is False  # not held


def test_suggested_links_are_near_or_at_one_address(engine: Engine) -> None:
    with begin_write(engine) as connection:
        ours = _manager_with_connection(connection, "acme")
        theirs = _manager_with_connection(connection, "other")
        a = _place(connection, ours, "acme", "A", latitude=25.76170, longitude=-80.19180)
        b = _place(connection, ours, "acme", "B", latitude=25.76200, longitude=-80.19180)  # 33 m
        _place(connection, ours, "acme", "C", latitude=25.77000, longitude=-80.19180)  # 920 m
        d = _place(connection, ours, "acme", "D", address="12 Ocean Dr., Apt 4")
        e = _place(connection, ours, "acme", "E", address="12  ocean dr apt 4")
        _place(connection, theirs, "other", "F", address="12 Ocean Dr, Apt 4")

        found = stays.suggest_links(connection, "acme")

    assert sorted(found) == sorted([tuple(sorted(p)) for p in ((a, b), (d, e))])
