"""Mapping of Meta's error bodies to typed exceptions, and the error shapes."""

from __future__ import annotations

import pytest

from runtime.whatsapp.errors import (
    AccountBlocked,
    AuthError,
    InvalidParameter,
    PairRateLimit,
    ReEngagementWindowClosed,
    TemplateError,
    TemplateNotFound,
    TemplateParamCountMismatch,
    ThroughputLimit,
    WhatsAppError,
    error_from_response,
    error_from_webhook,
    graph_error_body,
    webhook_error,
)

PAIR_BODY = {
    "error": {
        "message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        "type": "OAuthException",
        "code": 131056,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": "Message failed to send because there were too many messages sent from "
            "this phone number to the same phone number in a short period of time.",
        },
        "fbtrace_id": "A4O5a8RAgePwbcGSu",
    }
}


@pytest.mark.parametrize(
    ("code", "status", "cls", "retryable"),
    [
        (131047, 400, ReEngagementWindowClosed, False),
        (131056, 400, PairRateLimit, True),
        (130429, 400, ThroughputLimit, True),
        (132000, 400, TemplateParamCountMismatch, False),
        (132001, 404, TemplateNotFound, False),
        (132015, 400, TemplateError, False),
        (190, 401, AuthError, False),
        (100, 400, InvalidParameter, False),
        (131009, 400, InvalidParameter, False),
        (368, 403, AccountBlocked, False),
        (131000, 500, WhatsAppError, True),
        (131026, 400, WhatsAppError, False),
    ],
)
def test_code_maps_to_type_and_retryability(
    code: int, status: int, cls: type[WhatsAppError], retryable: bool
) -> None:
    error = error_from_response(status, graph_error_body(code))
    assert type(error) is cls
    assert (error.code, error.http_status, error.retryable) == (code, status, retryable)


def test_fields_are_parsed_from_metas_body() -> None:
    error = error_from_response(400, PAIR_BODY)
    assert isinstance(error, PairRateLimit)
    assert error.message.startswith("(#131056)")
    assert error.details is not None and error.details.startswith("Message failed to send")
    assert (error.fbtrace_id, error.error_type, error.subcode) == (
        "A4O5a8RAgePwbcGSu",
        "OAuthException",
        None,
    )


def test_is_transient_and_status_make_unknown_errors_retryable() -> None:
    transient = {"error": {"code": 4242, "message": "x", "is_transient": True}}
    assert error_from_response(400, transient).retryable
    assert error_from_response(429, {"error": {"code": 4242, "message": "x"}}).retryable
    assert not error_from_response(400, {"error": {"code": 4242, "message": "x"}}).retryable


def test_non_graph_body_falls_back_to_generic_error() -> None:
    error = error_from_response(502, None)
    assert type(error) is WhatsAppError and error.code == 0 and error.retryable


def test_pair_rate_limit_waits_four_to_the_attempt() -> None:
    error = error_from_response(400, PAIR_BODY)
    assert [error.min_retry_delay(n) for n in range(3)] == [1.0, 4.0, 16.0]
    honoured = error_from_response(400, PAIR_BODY, retry_after=30.0)
    assert honoured.min_retry_delay(0) == 30.0


def test_graph_error_body_shape() -> None:
    body = graph_error_body(131047, fbtrace_id="T")
    assert body == {
        "error": {
            "message": "(#131047) Re-engagement message",
            "type": "OAuthException",
            "code": 131047,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Message failed to send because more than 24 hours have passed "
                "since the customer last replied to this number.",
            },
            "fbtrace_id": "T",
        }
    }


def test_webhook_error_shape_round_trips() -> None:
    shape = webhook_error(131047)
    assert set(shape) == {"code", "title", "message", "error_data", "href"}
    assert shape["title"] == shape["message"] == "Re-engagement message"
    assert isinstance(error_from_webhook(shape), ReEngagementWindowClosed)
