"""Media across replicas, on both backends: with ``SCRM_MEDIA_STORE=database`` a customer's
photo fetched by one api instance is served by another, and a file an agent uploads to one
api instance is sent by a separate sender worker. Each instance has its own engine, store
and (unused) media directory: all they share is the database, as pods in a cluster do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.api.app import create_app
from runtime.db.session import make_engine, make_sessionmaker
from runtime.outbound import sender_worker_pipeline
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.simulator.media import tiny_png
from tests.api.harness import ApiHarness
from tests.api.test_inbox import CUSTOMER, _setup
from tests.api.test_media import _customer_sends, _fetched, _inbound, _send_file, _status_of
from tests.api.whatsapp_world import WhatsAppWorld
from tests.conftest import make_settings
from tests.support import wait_for


@dataclass
class Replicas:
    first: WhatsAppWorld  # the api instance the simulator's webhooks reach
    second: ApiHarness  # another api instance on the same database
    directories: list[Path]  # each instance's media_dir: must stay empty


@pytest.fixture
async def replicas(database_url: str, tmp_path: Path) -> AsyncIterator[Replicas]:
    directories = [tmp_path / name for name in ("first", "second", "worker")]
    settings = make_settings(
        database_url,
        media_store="database",
        media_dir=str(directories[0]),
        outbound_work=False,  # the sender worker sends
        media_fetch_work=False,  # the test runs the first instance's fetch round
    )
    first = WhatsAppWorld(settings, auto_statuses=())
    second_settings = settings.model_copy(update={"media_dir": str(directories[1])})
    graph = CloudAPIClient("http://graph.test", http=first.sim, max_retries=0)
    second = ApiHarness(
        second_settings,
        create_app(second_settings, clock=first.engine.state.clock, whatsapp=graph),
    )
    try:
        yield Replicas(first, second, directories)
    finally:
        await second.close()
        await first.close()


async def _files_on_disk(directories: list[Path]) -> list[Path]:
    return await asyncio.to_thread(lambda: [p for d in directories for p in d.rglob("*")])


async def test_a_photo_fetched_by_one_api_instance_is_served_by_another(
    replicas: Replicas,
) -> None:
    first, second = replicas.first, replicas.second
    ctx, _, _, sender = await _setup(first)
    png = tiny_png((10, 120, 200))
    await _customer_sends(first, sender, "image", png, "image/png", caption="Transfer proof")
    conversation_id, _ = await _inbound(first, ctx.headers)

    media = (await _fetched(first, ctx.headers, conversation_id))["media"]

    assert media["status"] == "stored"
    served = await second.client.get(media["url"], headers=ctx.headers)
    assert served.status_code == 200, served.text
    assert (served.content, served.headers["content-type"]) == (png, "image/png")
    assert await _files_on_disk(replicas.directories) == []


async def test_a_file_uploaded_to_one_api_instance_is_sent_by_a_sender_worker(
    replicas: Replicas, database_url: str
) -> None:
    first = replicas.first
    ctx, _, _, sender = await _setup(first)
    await first.customer_says(sender, CUSTOMER, "Please send the product photo")
    conversation_id, _ = await _inbound(first, ctx.headers)
    png = tiny_png((30, 160, 40))
    queued = await _send_file(
        first, ctx.headers, conversation_id, "shrub.png", png, "image/png", caption="This one"
    )
    assert queued.status_code == 202, queued.text

    engine = make_engine(database_url)
    worker = sender_worker_pipeline(
        first.settings.model_copy(update={"media_dir": str(replicas.directories[2])}),
        make_sessionmaker(engine),
        CloudAPIClient("http://graph.test", http=first.sim, max_retries=0),
        first.engine.state.clock,
    )
    try:
        await worker.settled(within=20.0)
    finally:
        await worker.close()
        await engine.dispose()

    message_id = queued.json()["id"]
    sent = await wait_for(
        lambda: _status_of(first, ctx.headers, conversation_id, message_id, "sent"), within=15.0
    )
    assert sent["error_code"] is None
    [received] = [
        m
        for m in (await first.sim.get("/_sim/messages")).json()["data"]
        if m["callback_data"] == message_id
    ]
    assert received["body"]["image"]["caption"] == "This one"
    assert first.engine.media.items[received["body"]["image"]["id"]].data == png
    assert await _files_on_disk(replicas.directories) == []
