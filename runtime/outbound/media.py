"""Media sends: the agent's file, kept in the media store, is uploaded to
``/{phone-number-id}/media`` right before the send, which then names it by Meta's id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.media.store import MediaMissing, MediaStore
from runtime.outbound.outcomes import Outcome, Refused, Retry, Unknown, classify
from runtime.whatsapp.client import CloudAPIClient

if TYPE_CHECKING:
    from runtime.outbound.worker import Claim


async def upload(client: CloudAPIClient, store: MediaStore, claim: Claim) -> dict[str, object]:
    """Upload the claim's file; the send call naming it by Meta's media id."""
    request = claim.request
    data = await store.get(str(request["storage_key"]))
    kind = str(request["type"])
    filename = request.get("filename") or f"{kind}-{claim.message_id}"
    media_id = await client.upload_media(
        claim.phone_number_id, claim.token, data, str(request["mime_type"]), str(filename)
    )
    return {
        "kind": "media",
        "type": kind,
        "media_id": media_id,
        "caption": request.get("caption"),
        "filename": request.get("filename"),
    }


def upload_outcome(error: BaseException, deferrals: int) -> Outcome:
    """What a failed upload means for the send: nothing was sent, so a lost answer is a
    retry (never ``unknown``); a file no longer kept, or refused by Meta, fails it."""
    if isinstance(error, MediaMissing):
        return Refused(None, "The file to send is no longer kept; attach it again.")
    if isinstance(error, TimeoutError):
        return Retry(None, "Uploading the file to WhatsApp took too long.", 2.0**deferrals)
    outcome = classify(error, deferrals)
    if isinstance(outcome, Unknown):
        return Retry(None, f"Uploading the file failed: {outcome.text}", 2.0**deferrals)
    if isinstance(outcome, Refused):
        return Refused(outcome.code, f"WhatsApp refused the file: {outcome.text}")
    return outcome
