"""The simulated Graph API validates like Meta and answers in Meta's error shape."""

from __future__ import annotations

from typing import Any

import pytest

from .support import CUSTOMER, PHONE_ID, TOKEN, WABA_ID, Sim

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def post_message(sim: Sim, body: Any, headers: dict[str, str] = AUTH) -> Any:
    return await sim.http.post(f"/v25.0/{PHONE_ID}/messages", json=body, headers=headers)


def text(body: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": body},
    } | extra


async def test_send_response_shape(sim: Sim) -> None:
    await sim.customer_says()
    response = await post_message(sim, text(to="+16505551234"))
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+16505551234", "wa_id": CUSTOMER}]
    assert set(body["messages"][0]) == {"id"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
async def test_bad_token_is_190_with_401(sim: Sim, headers: dict[str, str]) -> None:
    response = await post_message(sim, text(), headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 190 and error["type"] == "OAuthException"
    assert error["message"] == "Invalid OAuth access token - Cannot parse access token"
    assert "fbtrace_id" in error


async def test_unknown_phone_number_is_100_subcode_33(sim: Sim) -> None:
    response = await sim.http.post("/v25.0/999/messages", json=text(), headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100,
        33,
        "GraphMethodException",
    )
    assert error["message"].startswith("Unsupported post request. Object with ID '999'")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"to": CUSTOMER, "text": {"body": "x"}},
            "(#100) The parameter messaging_product is required.",
        ),
        (
            text(messaging_product="sms"),
            '(#100) Param messaging_product must be one of {WHATSAPP} - got "sms".',
        ),
        (
            {"messaging_product": "whatsapp", "text": {"body": "x"}},
            "(#100) The parameter to is required.",
        ),
        (text(type="fax"), None),
        (
            {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {}},
            "(#100) The parameter text['body'] is required.",
        ),
        (text("x" * 4097), "(#100) Param text['body'] must be at most 4096 characters long."),
        (
            {
                "messaging_product": "whatsapp",
                "to": CUSTOMER,
                "type": "image",
                "image": {"id": "1", "link": "https://x"},
            },
            "(#100) Param image must contain exactly one of id or link.",
        ),
        ("not an object", "(#100) Invalid parameter"),
    ],
)
async def test_invalid_parameters_are_code_100(sim: Sim, body: Any, message: str | None) -> None:
    response = await post_message(sim, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    if message is not None:
        assert error["message"] == message
    else:
        assert error["message"].startswith("(#100) Param type must be one of {")


def template(name: str, *components: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {
            "name": name,
            "language": {"policy": "deterministic", "code": "en_US"},
            "components": list(components),
        },
    }


HEADER = {"type": "header", "parameters": [{"type": "text", "text": "#1"}]}


async def test_template_errors(sim: Sim) -> None:
    missing = await post_message(sim, template("nope"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 132001
    assert missing.json()["error"]["error_data"]["details"] == (
        "template name (nope) does not exist in en_US"
    )
    one_param = {"type": "body", "parameters": [{"type": "text", "text": "Pablo"}]}
    mismatch = await post_message(sim, template("order_update", HEADER, one_param))
    assert mismatch.status_code == 400
    error = mismatch.json()["error"]
    assert error["code"] == 132000
    assert error["message"] == (
        "(#132000) Number of parameters does not match the expected number of params"
    )
    assert error["error_data"]["details"] == (
        "body: number of localizable_params (1) does not match the expected number of params (2)"
    )


@pytest.mark.parametrize(
    ("status", "code"), [("PENDING", 132001), ("REJECTED", 132001), ("PAUSED", 132015)]
)
async def test_unapproved_templates_cannot_be_sent(sim: Sim, status: str, code: int) -> None:
    created = await sim.control(
        "templates", {"waba_id": WABA_ID, "name": "promo", "status": status}
    )
    assert created["status"] == status
    response = await post_message(sim, template("promo"))
    assert response.json()["error"]["code"] == code


async def test_window_closed_sync_mode_body(make_sim: Any) -> None:
    sim = await make_sim(window_violation="sync")
    response = await post_message(sim, text())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 131047 and error["message"] == "(#131047) Re-engagement message"
    assert error["error_data"]["messaging_product"] == "whatsapp"


async def test_pair_rate_limit_is_synchronous_131056(make_sim: Any) -> None:
    sim = await make_sim(pair_burst=2)
    await sim.customer_says()
    codes = [(await post_message(sim, text())).status_code for _ in range(3)]
    assert codes == [200, 200, 400]
    assert (await post_message(sim, text())).json()["error"]["code"] == 131056
    await sim.control("clock/advance", {"seconds": 6})
    assert (await post_message(sim, text())).status_code == 200


async def test_mark_read(sim: Sim) -> None:
    inbound = await sim.customer_says()
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound}
    response = await post_message(sim, body | {"typing_indicator": {"type": "text"}})
    assert response.json() == {"success": True}
    unknown = await post_message(sim, body | {"message_id": "wamid.nope"})
    assert unknown.json()["error"]["code"] == 131009


async def test_templates_paging_and_filters(sim: Sim) -> None:
    for n in range(3):
        await sim.control(
            "templates", {"waba_id": WABA_ID, "name": f"promo_{n}", "status": "REJECTED"}
        )
    url = f"/v25.0/{WABA_ID}/message_templates"
    first = (await sim.http.get(url, params={"limit": 2}, headers=AUTH)).json()
    assert [t["name"] for t in first["data"]] == ["order_update", "promo_0"]
    assert set(first["paging"]["cursors"]) == {"before", "after"}
    second = (await sim.http.get(first["paging"]["next"], headers=AUTH)).json()
    assert [t["name"] for t in second["data"]] == ["promo_1", "promo_2"]
    assert "next" not in second["paging"]
    rejected = await sim.http.get(
        url, params={"status": "REJECTED", "fields": "name,status"}, headers=AUTH
    )
    assert [set(t) for t in rejected.json()["data"]] == [{"name", "status", "id"}] * 3
    other_waba = await sim.http.get("/v25.0/555/message_templates", headers=AUTH)
    assert other_waba.json()["error"]["error_subcode"] == 33


async def test_phone_number_fields(sim: Sim) -> None:
    url = f"/v25.0/{PHONE_ID}"
    default = (await sim.http.get(url, headers=AUTH)).json()
    assert default["quality_rating"] == "GREEN" and default["throughput"] == {"level": "STANDARD"}
    assert default["platform_type"] == "CLOUD_API"
    limit = await sim.http.get(
        url, params={"fields": "whatsapp_business_manager_messaging_limit"}, headers=AUTH
    )
    assert limit.json() == {"whatsapp_business_manager_messaging_limit": "TIER_250", "id": PHONE_ID}
    bad = await sim.http.get(url, params={"fields": "colour"}, headers=AUTH)
    assert bad.json()["error"]["message"] == (
        "(#100) Tried accessing nonexisting field (colour) "
        "on node type (WhatsAppBusinessPhoneNumber)"
    )


async def test_injected_fault_sets_retry_after(sim: Sim) -> None:
    await sim.control("faults", {"code": 4, "http_status": 429, "retry_after": 3})
    response = await sim.http.get(f"/v25.0/{PHONE_ID}", headers=AUTH)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    assert (await sim.http.get(f"/v25.0/{PHONE_ID}", headers=AUTH)).status_code == 200
