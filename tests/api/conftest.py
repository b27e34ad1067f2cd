from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from tests.api.harness import ApiHarness


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[ApiHarness]:
    harness = ApiHarness(settings)
    try:
        yield harness
    finally:
        await harness.close()
