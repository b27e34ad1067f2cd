from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from tests.api.harness import ApiHarness
from tests.api.whatsapp_world import WhatsAppWorld


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[ApiHarness]:
    harness = ApiHarness(settings)
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[WhatsAppWorld]:
    """The api wired to an in-process WhatsApp simulator."""
    harness = WhatsAppWorld(settings)
    try:
        yield harness
    finally:
        await harness.close()
