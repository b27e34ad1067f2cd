"""Routes of the simulated Graph API subset."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from fastapi import APIRouter, Request

from runtime.whatsapp.simulator.engine import Simulator
from runtime.whatsapp.simulator.faults import invalid_parameter

router = APIRouter()

PHONE_NUMBER_NODE = "WhatsAppBusinessPhoneNumber"
TEMPLATE_NODE = "WhatsAppBusinessHSM"
DEFAULT_PHONE_FIELDS = (
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "platform_type",
    "throughput",
    "id",
)
DEFAULT_PAGE_SIZE = 25
# Fields Graph knows on these nodes but the simulator keeps no value for: asked for, they
# are left out of the answer (as Graph leaves out unset fields), not refused as unknown.
UNSET_FIELDS = {
    PHONE_NUMBER_NODE: frozenset(
        {"conversational_automation", "quality_score", "webhook_configuration",
         "new_name_status", "account_mode", "is_on_biz_app", "is_official_business_account",
         "is_pin_enabled", "is_preverified_number", "search_visibility",
         "eligibility_for_api_business_global_search", "health_status", "certificate",
         "new_certificate", "last_onboarded_time", "country_code", "country_dial_code"}
    ),
    TEMPLATE_NODE: frozenset(
        {"message_send_ttl_seconds", "correct_category", "previous_category",
         "rejected_reason", "library_template_name", "quality_score",
         "cta_url_link_tracking_opted_out", "sub_category", "degrees_of_freedom_spec"}
    ),
}  # fmt: skip


def simulator(request: Request) -> Simulator:
    """The simulator, after any injected fault: an error raises here; a slow answer is
    noted for the route to apply after doing its work."""
    sim: Simulator = request.app.state.simulator
    request.state.answer_delay = sim.check_fault(request.url.path)
    return sim


async def answer_late(request: Request) -> None:
    """Hold the answer back as an accepted-then-timeout fault asks."""
    if request.state.answer_delay:
        await asyncio.sleep(request.state.answer_delay)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def select_fields(data: dict[str, Any], fields: str | None, node: str) -> dict[str, Any]:
    """Graph ``?fields=a,b`` projection; unknown fields give code 100 like Graph."""
    if not fields:
        return data
    names = [name.strip() for name in fields.split(",") if name.strip()]
    for name in names:
        if name not in data and name not in UNSET_FIELDS[node]:
            raise invalid_parameter(
                f"Tried accessing nonexisting field ({name}) on node type ({node})"
            )
    return {name: data[name] for name in [*names, "id"] if name in data}


def _cursor(index: int) -> str:
    return base64.b64encode(str(index).encode()).decode()


def _index(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor.encode(), validate=True).decode())
    except ValueError as exc:
        raise invalid_parameter("Invalid cursor") from exc


def _limit(raw: str | None) -> int:
    try:
        limit = DEFAULT_PAGE_SIZE if raw is None else int(raw)
    except ValueError as exc:
        raise invalid_parameter(f'Param limit must be an integer - got "{raw}".') from exc
    if limit < 1:
        raise invalid_parameter("Param limit must be a positive integer.")
    return limit


@router.post("/{version}/{phone_number_id}/messages")
async def post_messages(version: str, phone_number_id: str, request: Request) -> dict[str, Any]:
    sim = simulator(request)
    number = sim.phone_number(phone_number_id, bearer_token(request), "post")
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise invalid_parameter("Invalid parameter") from exc
    if not isinstance(body, dict):
        raise invalid_parameter("Invalid parameter")
    result = sim.post_messages(number, body)
    await answer_late(request)
    return result


@router.get("/{version}/{waba_id}/message_templates")
async def message_templates(version: str, waba_id: str, request: Request) -> dict[str, Any]:
    """Templates of a WABA, filtered by ``status``/``name``, paged with ``after`` cursors."""
    sim = simulator(request)
    query = request.query_params
    templates = [
        t
        for t in sim.waba_templates(waba_id, bearer_token(request))
        if query.get("status", t.status) == t.status and query.get("name", t.name) in t.name
    ]
    limit = _limit(query.get("limit"))
    start = _index(query["after"]) + 1 if "after" in query else 0
    page = templates[start : start + limit]
    result: dict[str, Any] = {
        "data": [select_fields(t.graph_fields(), query.get("fields"), TEMPLATE_NODE) for t in page]
    }
    if page:
        last = start + len(page) - 1
        paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(last)}}
        if last + 1 < len(templates):
            paging["next"] = str(request.url.include_query_params(after=_cursor(last), limit=limit))
        result["paging"] = paging
    if "summary" in query:
        result["summary"] = _templates_summary(query["summary"], len(templates), waba_id, sim)
    return result


TEMPLATE_LIMIT = 250  # Meta's templates per WABA before the account is verified


def _templates_summary(fields: str, matched: int, waba_id: str, sim: Simulator) -> dict[str, Any]:
    """Graph's ``?summary=…`` aggregates of a template list (unknown names are left out)."""
    known = {
        "total_count": matched,
        "message_template_count": sum(t.waba_id == waba_id for t in sim.state.templates.values()),
        "message_template_limit": TEMPLATE_LIMIT,
        "are_translations_complete": True,
    }
    return {name: known[name] for name in fields.split(",") if name in known}


@router.get("/{version}/{waba_id}/phone_numbers")
async def phone_numbers(version: str, waba_id: str, request: Request) -> dict[str, Any]:
    """The numbers of a WABA (one page: a WABA has few numbers)."""
    sim = simulator(request)
    fields = request.query_params.get("fields") or ",".join(DEFAULT_PHONE_FIELDS)
    return {
        "data": [
            select_fields(n.graph_fields(), fields, PHONE_NUMBER_NODE)
            for n in sim.waba_phone_numbers(waba_id, bearer_token(request))
        ]
    }


@router.get("/{version}/{object_id}")
async def get_phone_number(version: str, object_id: str, request: Request) -> dict[str, Any]:
    """The phone-number node, or a media node (its short-lived download URL); other node
    types are not simulated (code 100, subcode 33)."""
    sim = simulator(request)
    if object_id in sim.media.items:
        media = sim.media.visible(object_id, sim.authorize(bearer_token(request)), "get")
        # Where this simulator is served (it may be mounted under a prefix, as in the demo).
        root = request.url.path.removesuffix(f"/{version}/{object_id}")
        return sim.media.info(media, f"{request.url.scheme}://{request.url.netloc}{root}")
    number = sim.phone_number(object_id, bearer_token(request), "get")
    fields = request.query_params.get("fields") or ",".join(DEFAULT_PHONE_FIELDS)
    return select_fields(number.graph_fields(), fields, PHONE_NUMBER_NODE)
