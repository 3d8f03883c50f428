"""The stand-in for Intercom's REST API (support.py) behind a local server, checked after each
test: every request it saw was the documented one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.intercom.calls_setup import BUILT
from tests.connectors.intercom.support import FakeIntercom
from tests.partner_server import PartnerServer


@pytest.fixture
def intercom() -> Iterator[FakeIntercom]:
    fake = FakeIntercom()
    yield fake
    assert fake.refused == []  # every request was the documented one


@pytest.fixture
def server(intercom: FakeIntercom) -> Iterator[PartnerServer]:
    with PartnerServer(intercom) as running:
        yield running
    while BUILT:
        BUILT.pop().close()
