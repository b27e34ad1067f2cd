"""Webhook builders produce Meta's exact payloads."""

from __future__ import annotations

from runtime.whatsapp import webhooks
from runtime.whatsapp.errors import webhook_error

NUMBER = webhooks.BusinessNumber("102290129340398", "106540352242922", "15550783881")
SHEENA = webhooks.Customer("16505551234", "Sheena Nelson")
METADATA = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}


def test_inbound_text_matches_metas_reference() -> None:
    payload = webhooks.inbound_text(
        NUMBER,
        SHEENA,
        message_id="wamid.X",
        timestamp=1749416383,
        body="Does it come in another color?",
    )
    assert payload == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": METADATA,
                            "contacts": [
                                {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
                            ],
                            "messages": [
                                {
                                    "from": "16505551234",
                                    "id": "wamid.X",
                                    "timestamp": "1749416383",
                                    "type": "text",
                                    "text": {"body": "Does it come in another color?"},
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def _message(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]


def test_inbound_image_reply_and_unsupported() -> None:
    image = _message(
        webhooks.inbound_image(
            NUMBER, SHEENA, message_id="m", timestamp=1, media_id="42", sha256="ab", caption="c"
        )
    )
    assert image["image"] == {"mime_type": "image/jpeg", "sha256": "ab", "id": "42", "caption": "c"}
    reply = _message(
        webhooks.inbound_text(
            NUMBER, SHEENA, message_id="m", timestamp=1, body="b", context_message_id="wamid.Q"
        )
    )
    assert reply["context"] == {"from": "15550783881", "id": "wamid.Q"}
    unsupported = _message(
        webhooks.inbound_unsupported(NUMBER, SHEENA, message_id="m", timestamp=1)
    )
    assert unsupported["type"] == "unsupported"
    assert unsupported["errors"][0]["code"] == 131051


def test_sent_status_with_pricing_and_conversation() -> None:
    payload = webhooks.status_update(
        NUMBER,
        message_id="wamid.S",
        recipient_id="16505551234",
        status="sent",
        timestamp=1750030073,
        pricing=webhooks.pricing("marketing"),
        conversation=webhooks.conversation("72b1", "marketing", expiration_timestamp=1750116480),
        biz_opaque_callback_data="ticket-9",
    )
    value = payload["entry"][0]["changes"][0]["value"]
    assert value["metadata"] == METADATA
    assert value["statuses"] == [
        {
            "id": "wamid.S",
            "status": "sent",
            "timestamp": "1750030073",
            "recipient_id": "16505551234",
            "biz_opaque_callback_data": "ticket-9",
            "conversation": {
                "id": "72b1",
                "expiration_timestamp": "1750116480",
                "origin": {"type": "marketing"},
            },
            "pricing": {
                "billable": True,
                "pricing_model": "PMP",
                "type": "regular",
                "category": "marketing",
            },
        }
    ]


def test_failed_status_carries_errors_and_no_pricing() -> None:
    payload = webhooks.status_update(
        NUMBER,
        message_id="wamid.F",
        recipient_id="16505551234",
        status="failed",
        timestamp=1,
        errors=[webhook_error(131047)],
    )
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert "pricing" not in status
    assert status["errors"][0]["code"] == 131047


def test_template_status_update_uses_integer_ids_and_time() -> None:
    payload = webhooks.message_template_status_update(
        "102290129340398",
        template_id=1689556908129832,
        name="order_confirmation",
        language="en_US",
        event="APPROVED",
        category="UTILITY",
        time=1751247548,
    )
    entry = payload["entry"][0]
    assert entry["time"] == 1751247548
    assert entry["changes"][0] == {
        "value": {
            "event": "APPROVED",
            "message_template_id": 1689556908129832,
            "message_template_name": "order_confirmation",
            "message_template_language": "en_US",
            "reason": "NONE",
            "message_template_category": "UTILITY",
        },
        "field": "message_template_status_update",
    }


def test_phone_number_quality_update() -> None:
    payload = webhooks.phone_number_quality_update(
        "102290129340398",
        display_phone_number="15550783881",
        event="UPGRADE",
        old_limit="TIER_2K",
        current_limit="TIER_10K",
        time=1748454394,
    )
    change = payload["entry"][0]["changes"][0]
    assert change["field"] == "phone_number_quality_update"
    assert change["value"] == {
        "display_phone_number": "15550783881",
        "event": "UPGRADE",
        "old_limit": "TIER_2K",
        "current_limit": "TIER_10K",
        "max_daily_conversations_per_business": "TIER_10K",
    }
