"""Every test leaves no kept API client behind (pytest turns an unclosed socket into an error)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration_hub.connectors.ownerrez.api import close_apis


@pytest.fixture(autouse=True)
def _close_kept_clients() -> Iterator[None]:
    yield
    close_apis()
