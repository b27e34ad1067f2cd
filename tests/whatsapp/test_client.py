"""CloudAPIClient against the simulator mounted in-process (ASGI transport)."""

from __future__ import annotations

import httpx
import pytest

from runtime.whatsapp.client import CloudAPIClient, UntrustedMediaURL
from runtime.whatsapp.errors import (
    AuthError,
    InvalidParameter,
    PairRateLimit,
    ReEngagementWindowClosed,
    TemplateNotFound,
    TemplateParamCountMismatch,
    WhatsAppError,
)
from runtime.whatsapp.pacing import Pacer
from runtime.whatsapp.retry import Backoff
from tests.support import wait_for

from .support import CUSTOMER, PHONE_ID, TOKEN, WABA_ID, Receiver, Sim, SimFactory
from .test_pacing import FakeClock

ORDER_PARAMS = [
    {"type": "header", "parameters": [{"type": "text", "text": "#1234"}]},
    {
        "type": "body",
        "parameters": [{"type": "text", "text": "Pablo"}, {"type": "text", "text": "#1234"}],
    },
]


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_for(sim: Sim, sleep: SleepRecorder, **kwargs: object) -> CloudAPIClient:
    return CloudAPIClient(
        base_url="http://sim",
        http=sim.http,
        sleep=sleep,
        backoff=Backoff(base=0.5, jitter=lambda: 1.0),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def sleep() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def client(sim: Sim, sleep: SleepRecorder) -> CloudAPIClient:
    return client_for(sim, sleep)


async def test_send_text_inside_window(sim: Sim, client: CloudAPIClient) -> None:
    inbound = await sim.customer_says()
    result = await client.send_text(
        PHONE_ID, TOKEN, "+1 (650) 555-1234", "Yes, blue.", reply_to=inbound
    )
    assert result.wa_id == CUSTOMER and result.message_id.startswith("wamid.")
    assert result.message_status is None
    stored = (await sim.http.get(f"/_sim/messages/{result.message_id}")).json()
    assert stored["body"]["context"] == {"message_id": inbound}
    assert stored["body"]["text"] == {"preview_url": False, "body": "Yes, blue."}


async def test_send_template_and_media(sim: Sim, client: CloudAPIClient) -> None:
    result = await client.send_template(
        PHONE_ID, TOKEN, CUSTOMER, "order_update", "en_US", ORDER_PARAMS
    )
    assert result.message_status == "accepted"
    await sim.customer_says()
    media = await client.send_media(
        PHONE_ID, TOKEN, CUSTOMER, "document", link="https://x/inv.pdf", filename="inv.pdf"
    )
    stored = (await sim.http.get(f"/_sim/messages/{media.message_id}")).json()
    assert stored["body"]["document"] == {"link": "https://x/inv.pdf", "filename": "inv.pdf"}
    with pytest.raises(ValueError, match="exactly one"):
        await client.send_media(PHONE_ID, TOKEN, CUSTOMER, "image")


async def test_template_errors_are_typed(client: CloudAPIClient, sleep: SleepRecorder) -> None:
    with pytest.raises(TemplateNotFound) as missing:
        await client.send_template(PHONE_ID, TOKEN, CUSTOMER, "nope", "en_US")
    assert missing.value.http_status == 404
    with pytest.raises(TemplateParamCountMismatch) as mismatch:
        await client.send_template(PHONE_ID, TOKEN, CUSTOMER, "order_update", "en_US")
    assert mismatch.value.details == (
        "header: number of localizable_params (0) does not match the expected number of params (1)"
    )
    assert sleep.delays == []


async def test_bad_token_is_auth_error(client: CloudAPIClient) -> None:
    with pytest.raises(AuthError) as caught:
        await client.send_text(PHONE_ID, "wrong", CUSTOMER, "hi")
    assert (caught.value.code, caught.value.http_status) == (190, 401)


async def test_window_closed_sync_is_not_retried(
    make_sim: SimFactory, sleep: SleepRecorder
) -> None:
    sim = await make_sim(window_violation="sync")
    client = client_for(sim, sleep)
    with pytest.raises(ReEngagementWindowClosed):
        await client.send_text(PHONE_ID, TOKEN, CUSTOMER, "hello?")
    await sim.customer_says()
    await sim.control("clock/advance", {"seconds": 24 * 3600 + 1})
    with pytest.raises(ReEngagementWindowClosed):
        await client.send_text(PHONE_ID, TOKEN, CUSTOMER, "still there?")
    assert sleep.delays == []
    assert (await sim.http.get("/_sim/messages")).json()["data"] == []
    assert (await sim.http.get("/_sim/messages_count")).json() == {"count": 0}


async def test_window_closed_async_fails_by_webhook(
    make_sim: SimFactory, sleep: SleepRecorder
) -> None:
    receiver = Receiver()
    sim = await make_sim(receiver=receiver)
    result = await client_for(sim, sleep).send_text(PHONE_ID, TOKEN, CUSTOMER, "hello?")

    async def failed() -> list[dict]:
        return [s for s in receiver.statuses() if s["status"] == "failed"]

    [status] = await wait_for(failed)
    assert status["id"] == result.message_id
    assert status["errors"][0]["code"] == 131047
    assert "pricing" not in status


async def test_transient_errors_are_retried_with_backoff(
    sim: Sim, client: CloudAPIClient, sleep: SleepRecorder
) -> None:
    await sim.control("faults", {"code": 131000, "times": 2})
    await sim.customer_says()
    result = await client.send_text(PHONE_ID, TOKEN, CUSTOMER, "hi")
    assert result.wa_id == CUSTOMER
    assert sleep.delays == [0.5, 1.0]


async def test_retry_after_is_honoured(
    sim: Sim, client: CloudAPIClient, sleep: SleepRecorder
) -> None:
    await sim.control("faults", {"code": 4, "http_status": 429, "retry_after": 7})
    info = await client.phone_number_info(PHONE_ID, TOKEN)
    assert info.verified_name == "Lucky Shrub"
    assert sleep.delays == [7.0]


async def test_retries_are_bounded(sim: Sim, sleep: SleepRecorder) -> None:
    await sim.control("faults", {"code": 130429, "times": 5})
    with pytest.raises(WhatsAppError) as caught:
        await client_for(sim, sleep, max_retries=2).list_templates(WABA_ID, TOKEN)
    assert caught.value.code == 130429
    assert len(sleep.delays) == 2


async def test_non_retryable_errors_fail_immediately(
    sim: Sim, client: CloudAPIClient, sleep: SleepRecorder
) -> None:
    for code in (131047, 132001, 190, 100, 368):
        await sim.control("faults", {"code": code})
        with pytest.raises(WhatsAppError) as caught:
            await client.phone_number_info(PHONE_ID, TOKEN)
        assert caught.value.code == code and not caught.value.retryable
    assert sleep.delays == []


async def test_pair_rate_limit_backs_off_four_to_the_x(
    make_sim: SimFactory, sleep: SleepRecorder
) -> None:
    sim = await make_sim(pair_burst=1)
    client = client_for(sim, sleep, max_retries=2)
    await sim.customer_says()
    await client.send_text(PHONE_ID, TOKEN, CUSTOMER, "one")
    with pytest.raises(PairRateLimit):
        await client.send_text(PHONE_ID, TOKEN, CUSTOMER, "two")
    assert sleep.delays == [1.0, 4.0]


async def test_pacer_queues_instead_of_hitting_pair_limit(make_sim: SimFactory) -> None:
    sim = await make_sim(pair_burst=2, pair_interval=6.0)
    clock = FakeClock()

    async def advance_both(seconds: float) -> None:
        await clock.sleep(seconds)
        await sim.control("clock/advance", {"seconds": seconds})

    pacer = Pacer(pair_burst=2, pair_interval=6.0, clock=clock, sleep=advance_both)
    client = CloudAPIClient(base_url="http://sim", http=sim.http, pacer=pacer)
    await sim.customer_says()
    for body in ("one", "two", "three"):
        await client.send_text(PHONE_ID, TOKEN, CUSTOMER, body)
    assert clock.now - 1000.0 == 6.0
    assert len((await sim.http.get("/_sim/messages")).json()["data"]) == 3
    assert (await sim.http.get("/_sim/messages_count")).json() == {"count": 3}


async def test_invalid_parameter_and_mark_read(sim: Sim, client: CloudAPIClient) -> None:
    inbound = await sim.customer_says()
    assert await client.mark_read(PHONE_ID, TOKEN, inbound)
    assert sim.engine.state.inbound[inbound].read
    with pytest.raises(InvalidParameter) as caught:
        await client.mark_read(PHONE_ID, TOKEN, "wamid.unknown")
    assert caught.value.code == 131009
    with pytest.raises(InvalidParameter):
        await client.send_text(PHONE_ID, TOKEN, CUSTOMER, "x" * 4097)


async def test_list_templates_follows_paging(sim: Sim, client: CloudAPIClient) -> None:
    for n in range(4):
        await sim.control("templates", {"waba_id": WABA_ID, "name": f"t{n}", "status": "PENDING"})
    templates = await client.list_templates(WABA_ID, TOKEN, page_size=2)
    assert [t.name for t in templates] == ["order_update", "t0", "t1", "t2", "t3"]
    assert templates[0].status == "APPROVED" and templates[1].status == "PENDING"
    assert templates[0].components[1]["type"] == "BODY"


async def test_phone_number_info(sim: Sim, client: CloudAPIClient) -> None:
    await sim.control(f"phone_numbers/{PHONE_ID}/quality", {"quality_rating": "YELLOW"})
    info = await client.phone_number_info(PHONE_ID, TOKEN)
    assert (info.id, info.display_phone_number, info.quality_rating) == (
        PHONE_ID,
        "15550783881",
        "YELLOW",
    )
    assert (info.messaging_limit_tier, info.throughput_level) == ("TIER_250", "STANDARD")


@pytest.mark.parametrize(
    "url",
    [
        "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",  # not https
        "https://fbsbx.com.attacker.example/file",
        "https://attacker.example/?host=lookaside.fbsbx.com",
        "http://sim:8080/v25.0/media",  # the Graph host on another port
    ],
)
async def test_media_download_never_sends_the_token_off_meta(
    client: CloudAPIClient, url: str
) -> None:
    with pytest.raises(UntrustedMediaURL):
        await client.download_media(url, TOKEN, 1024)


async def test_media_download_trusts_meta_and_the_graph_it_talks_to(
    client: CloudAPIClient,
) -> None:
    assert client._trusted_media_url(httpx.URL("https://lookaside.fbsbx.com/x?mid=1"))
    assert client._trusted_media_url(httpx.URL("https://fbsbx.com/x"))
    assert client._trusted_media_url(httpx.URL("http://sim/v25.0/media/1"))
