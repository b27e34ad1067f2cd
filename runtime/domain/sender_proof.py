"""A phone number belongs to the tenant that proves it: Meta must answer for the number with
the given token, and list it among the numbers of the given WABA.

The proof comes before any uniqueness check and a failure always gives the same answer, so
nobody learns whether another tenant holds the number.
"""

from __future__ import annotations

import httpx

from runtime.domain.errors import Invalid, UpstreamUnavailable
from runtime.whatsapp.client import CloudAPIClient
from runtime.whatsapp.errors import WhatsAppError
from runtime.whatsapp.models import PhoneNumberInfo


def not_proven() -> Invalid:
    return Invalid(
        "sender_not_proven",
        "WhatsApp did not confirm this phone_number_id for this access token and waba_id.",
    )


async def prove_number(
    whatsapp: CloudAPIClient, phone_number_id: str, waba_id: str, token: str
) -> PhoneNumberInfo:
    """The number's Graph profile, once ``token`` reads the number and ``waba_id`` lists it.
    Call with no database transaction open."""
    if not (token.isascii() and token.isprintable()):  # could not even travel in a header
        raise not_proven()
    try:
        info = await whatsapp.phone_number_info(phone_number_id, token)
        waba_numbers = await whatsapp.waba_phone_number_ids(waba_id, token)
    except WhatsAppError as exc:
        if exc.retryable:
            raise _unavailable() from exc
        raise not_proven() from exc
    except httpx.HTTPError as exc:
        raise _unavailable() from exc
    if info.id != phone_number_id or phone_number_id not in waba_numbers:
        raise not_proven()
    return info


def _unavailable() -> UpstreamUnavailable:
    return UpstreamUnavailable(
        "graph_unavailable", "WhatsApp could not be asked about this number; try again later."
    )
