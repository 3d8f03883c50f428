from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.connectors.twilio import support
from tests.helpers import RunningHub


@pytest.fixture
async def twilio_hub(
    tmp_path: Path, database_url: str, temporal_address: str
) -> AsyncIterator[RunningHub]:
    async for running in support.twilio_hub(tmp_path, database_url, temporal_address):
        yield running
