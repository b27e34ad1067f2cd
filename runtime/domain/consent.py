"""Marketing consent: a contact's current state (on the contact) and its append-only
history (``ConsentChange``), changed by agents and the API, and by what the customer does:
an opt-out or opt-in keyword, an opt-out quick-reply button, or Meta's error 131050 (the
user stopped marketing messages from the business).

Every change records who or what made it and emits ``contact.consent_changed`` to whoever
sees the contact. Setting the state a contact already has changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import as_utc, utcnow
from runtime.db.config_cache import config_cache
from runtime.db.transaction_cache import transaction_cache
from runtime.domain.errors import Invalid
from runtime.domain.events import record_event
from runtime.domain.visibility import contact_owner_audience
from runtime.models import ConsentChange, Contact, Conversation, Message, OutreachPolicy

OPTED_IN, OPTED_OUT, UNKNOWN = "opted_in", "opted_out", "unknown"
ConsentState = Literal["opted_in", "opted_out", "unknown"]
ConsentSource = Literal["keyword", "quick_reply", "api", "import", "meta_131050", "agent"]

DEFAULT_OPT_OUT_KEYWORDS = ("STOP", "BERHENTI", "UNSUBSCRIBE")
DEFAULT_OPT_IN_KEYWORDS = ("START", "MULAI")
DEFAULT_TIME_ZONE = "Asia/Jakarta"
MAX_KEYWORD_CHARS = 50
# Meta: "This message was not delivered to maintain healthy ecosystem engagement" — the user
# stopped marketing messages from this business.
META_USER_STOPPED_MARKETING = 131050


def default_policy(tenant_id: uuid.UUID) -> OutreachPolicy:
    """The rules of a tenant that never set any (not added to the session)."""
    return OutreachPolicy(
        tenant_id=tenant_id,
        opt_out_keywords=list(DEFAULT_OPT_OUT_KEYWORDS),
        opt_in_keywords=list(DEFAULT_OPT_IN_KEYWORDS),
        opt_out_payloads=[],
        marketing_limit_count=None,
        marketing_limit_days=None,
        quiet_start=None,
        quiet_end=None,
        default_time_zone=DEFAULT_TIME_ZONE,
    )


async def policy_of(session: AsyncSession, tenant_id: uuid.UUID) -> OutreachPolicy:
    """The tenant's outreach policy (its defaults if it set none), read once per transaction."""
    cache: dict[uuid.UUID, OutreachPolicy] = transaction_cache(session, "consent.policy")
    if tenant_id not in cache:
        stored = await session.get(OutreachPolicy, tenant_id)
        cache[tenant_id] = stored if stored is not None else default_policy(tenant_id)
    return cache[tenant_id]


async def update_policy(
    session: AsyncSession, tenant_id: uuid.UUID, changes: dict[str, Any]
) -> OutreachPolicy:
    """Set the given policy columns (the others keep their value); 422 ``keyword_conflict``
    when a keyword would both opt out and opt in."""
    policy = await session.get(OutreachPolicy, tenant_id)
    if policy is None:
        policy = default_policy(tenant_id)
        session.add(policy)
    for key, value in changes.items():
        setattr(policy, key, value)
    both = {normal_keyword(k) for k in policy.opt_out_keywords} & {
        normal_keyword(k) for k in policy.opt_in_keywords
    }
    if both:
        raise Invalid(
            "keyword_conflict",
            f"A keyword cannot both opt out and opt in: {', '.join(sorted(both))}.",
            [{"field": "opt_in_keywords", "keywords": sorted(both)}],
        )
    transaction_cache(session, "consent.policy")[tenant_id] = policy
    config_cache(session, _KEYWORDS).pop(tenant_id, None)
    return policy


async def set_consent(
    session: AsyncSession,
    contact: Contact,
    state: str,
    source: str,
    at: datetime,
    actor_agent_id: uuid.UUID | None = None,
    detail: str = "",
) -> ConsentChange | None:
    """Move ``contact`` to ``state``, expressed at ``at``, and record why. None (nothing
    changes) when it already is in it, or when its state was set by something expressed
    later than ``at`` (webhooks arrive out of order: the customer's last word wins)."""
    if (contact.consent_state or UNKNOWN) == state:
        return None
    if contact.consent_updated_at is not None and at < as_utc(contact.consent_updated_at):
        return None
    change = ConsentChange(
        id=uuid.uuid4(),
        tenant_id=contact.tenant_id,
        contact_id=contact.id,
        state=state,
        source=source,
        detail=detail[:200],
        actor_agent_id=actor_agent_id,
        effective_at=at,
        created_at=utcnow(),
    )
    session.add(change)
    contact.consent_state, contact.consent_updated_at = state, at
    await record_event(
        session,
        contact.tenant_id,
        "contact.consent_changed",
        {
            "contact_id": str(contact.id),
            "state": state,
            "source": source,
            "at": at.isoformat(),
        },
        contact_owner_audience(contact.assigned_agent_id, contact.assigned_team_id),
    )
    return change


def normal_keyword(text: str) -> str:
    """How keywords compare: trimmed, inner spaces collapsed, case-folded."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class _Said:
    """What an inbound message could opt with: its short text and its button payload."""

    text: str | None
    payload: str | None
    button: bool  # a tap on a button or list row, not typed text


def _said(message: dict[str, Any]) -> _Said:
    kind = message.get("type")
    content = message.get(kind) if isinstance(kind, str) else None
    content = content if isinstance(content, dict) else {}
    text: Any = None
    payload: Any = None
    if kind == "text":
        text = content.get("body")
    elif kind == "button":  # a template's quick-reply button
        text, payload = content.get("text"), content.get("payload")
    elif kind == "interactive":  # a reply button or list row of an interactive message
        reply = content.get("button_reply") or content.get("list_reply")
        if isinstance(reply, dict):
            text, payload = reply.get("title"), reply.get("id")
    short = isinstance(text, str) and len(text) <= 4 * MAX_KEYWORD_CHARS
    return _Said(
        normal_keyword(text) if short else None,
        payload.strip() if isinstance(payload, str) else None,
        kind != "text",
    )


@dataclass(frozen=True, slots=True)
class _Keywords:
    """What of a tenant's policy an inbound message can opt with, normalised once."""

    opt_out: frozenset[str]
    opt_in: frozenset[str]
    opt_out_payloads: frozenset[str]

    @classmethod
    def of(cls, policy: OutreachPolicy) -> _Keywords:
        return cls(
            frozenset(normal_keyword(k) for k in policy.opt_out_keywords),
            frozenset(normal_keyword(k) for k in policy.opt_in_keywords),
            frozenset(policy.opt_out_payloads),
        )


_KEYWORDS = "consent.keywords"


async def _keywords_of(session: AsyncSession, tenant_id: uuid.UUID) -> _Keywords:
    """The tenant's keywords; kept across the inbound processor's rounds until its policy
    changes (runtime/db/config_cache.py)."""
    cache: dict[uuid.UUID, _Keywords] = config_cache(session, _KEYWORDS)
    if tenant_id not in cache:
        cache[tenant_id] = _Keywords.of(await policy_of(session, tenant_id))
    return cache[tenant_id]


def _opting(said: _Said, keywords: _Keywords) -> tuple[str, str, str] | None:
    """(state, source, detail) the message asks for, or None."""
    if said.payload and said.payload in keywords.opt_out_payloads:
        return OPTED_OUT, "quick_reply", said.payload
    source = "quick_reply" if said.button else "keyword"
    if said.text:
        if said.text in keywords.opt_out:
            return OPTED_OUT, source, said.text
        if said.text in keywords.opt_in:
            return OPTED_IN, source, said.text
    return None


async def apply_inbound(
    session: AsyncSession, contact: Contact, message: dict[str, Any], at: datetime
) -> None:
    """Opt ``contact`` out or in when its inbound ``message`` (Meta's JSON) is a keyword of
    the tenant (the whole message) or an opt-out quick-reply payload. Messages that cannot
    be one (long texts, media) cost no query."""
    said = _said(message)
    if said.text is None and said.payload is None:
        return
    opting = _opting(said, await _keywords_of(session, contact.tenant_id))
    if opting is not None:
        state, source, detail = opting
        await set_consent(session, contact, state, source, at, detail=detail)


async def apply_status_error(
    session: AsyncSession, conversation: Conversation, message: Message, error_code: int | None
) -> None:
    """Meta's 131050 on ``message``'s status: the customer stopped this business's
    marketing messages."""
    if error_code != META_USER_STOPPED_MARKETING:
        return
    contact = await session.get(Contact, conversation.contact_id)
    if contact is not None:
        at = message.status_updated_at or utcnow()
        await set_consent(
            session, contact, OPTED_OUT, "meta_131050", at, detail=message.wamid or ""
        )
