"""Who may see what: one rule for HTTP reads and for websocket delivery.

An event reaches a socket when one of the event's **audience keys** is among the socket's
**keys**. Keys are named after what grants them, so that "an event reaches the socket" holds
exactly when "the agent may read the object over HTTP":

| key | events about | a socket of agent A holds it when A has |
|---|---|---|
| ``inbox.all`` | every conversation and its messages | ``inbox:read:all`` |
| ``inbox.agent.<A>`` | conversations assigned to A | ``inbox:read:assigned`` |
| ``contacts.all`` | every contact's assignment and consent | ``contacts:read:all`` |
| ``contacts.agent.<A>`` | contacts assigned to A | ``contacts:read:assigned`` |
| ``contacts.team.<T>`` | contacts in team T's pool | ``contacts:read:assigned``, in T |
| ``contacts.pool`` | contacts in the team-less pool | ``contacts:read:assigned`` |
| ``agents.all`` | agent presence | ``agents:read`` |
| ``senders.all`` | sender quality changes | ``senders:read`` |
| ``alerts.all`` | sender health alerts | ``alerts:read`` |
| ``agent.<A>`` | A itself (its permissions, its presence) | always |
| ``session.<A>`` | A's sessions (revoke / rescope; the ws pod acts on them) | always |

The keys are RabbitMQ routing keys in routed mode (direct exchange: dots carry no meaning,
at most 255 bytes; the longest here is 52).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import ColumnElement, select

from runtime.models import Contact, Conversation, TeamMember

if TYPE_CHECKING:
    from runtime.domain.inbox import AnyConversation

INBOX_ALL = "inbox.all"
CONTACTS_ALL = "contacts.all"
CONTACTS_POOL = "contacts.pool"
AGENTS_ALL = "agents.all"
SENDERS_ALL = "senders.all"
ALERTS_ALL = "alerts.all"
SESSION_PREFIX = "session."


class Viewer(Protocol):
    """Whoever reads: the api's Principal fits."""

    @property
    def agent_id(self) -> uuid.UUID: ...

    @property
    def tenant_id(self) -> uuid.UUID: ...

    def can(self, permission: str) -> bool: ...


def inbox_agent_key(agent_id: uuid.UUID) -> str:
    return f"inbox.agent.{agent_id}"


def contacts_agent_key(agent_id: uuid.UUID) -> str:
    return f"contacts.agent.{agent_id}"


def contacts_team_key(team_id: uuid.UUID) -> str:
    return f"contacts.team.{team_id}"


def personal_key(agent_id: uuid.UUID) -> str:
    return f"agent.{agent_id}"


def session_key(agent_id: uuid.UUID) -> str:
    return f"{SESSION_PREFIX}{agent_id}"


def is_session_control(audience: Iterable[str]) -> bool:
    """Session keys carry only ``session.control`` events, which ws pods act on."""
    return any(key.startswith(SESSION_PREFIX) for key in audience)


# ---- (a) what an agent may read over HTTP ---------------------------------------------------


def conversations_visible(viewer: Viewer) -> ColumnElement[bool]:
    """Conversations this viewer may read: all of the tenant's, or those assigned to it."""
    mine = Conversation.tenant_id == viewer.tenant_id
    if viewer.can("inbox:read:all"):
        return mine
    return mine & (Conversation.assigned_agent_id == viewer.agent_id)


def pool_filter(agent_id: uuid.UUID) -> ColumnElement[bool]:
    """Pooled contacts this agent may see and claim: no agent; team-less or of its teams."""
    my_teams = select(TeamMember.team_id).where(TeamMember.agent_id == agent_id)
    return Contact.assigned_agent_id.is_(None) & (
        Contact.assigned_team_id.is_(None) | Contact.assigned_team_id.in_(my_teams)
    )


def contacts_visible(viewer: Viewer) -> ColumnElement[bool]:
    """Contacts this viewer may read: all, or those assigned to it and its pools."""
    mine = Contact.tenant_id == viewer.tenant_id
    if viewer.can("contacts:read:all"):
        return mine
    return mine & ((Contact.assigned_agent_id == viewer.agent_id) | pool_filter(viewer.agent_id))


# ---- (b) the audience of an event ------------------------------------------------------------


def conversation_audience(conversation: AnyConversation) -> list[str]:
    """Who hears of a conversation (and its messages): mirrors :func:`conversations_visible`."""
    keys = [INBOX_ALL]
    if conversation.assigned_agent_id:
        keys.append(inbox_agent_key(conversation.assigned_agent_id))
    return keys


def contact_owner_audience(agent_id: uuid.UUID | None, team_id: uuid.UUID | None) -> list[str]:
    """Who sees a contact owned like this: mirrors :func:`contacts_visible`."""
    if agent_id:
        return [CONTACTS_ALL, contacts_agent_key(agent_id)]
    return [CONTACTS_ALL, contacts_team_key(team_id) if team_id else CONTACTS_POOL]


def agent_presence_audience(agent_id: uuid.UUID) -> list[str]:
    return [AGENTS_ALL, personal_key(agent_id)]


def sender_audience() -> list[str]:
    return [SENDERS_ALL]


def alert_audience() -> list[str]:
    return [ALERTS_ALL]


# ---- (c) the keys of a socket ----------------------------------------------------------------


def socket_keys(
    agent_id: uuid.UUID, permissions: Iterable[str], team_ids: Iterable[uuid.UUID]
) -> frozenset[str]:
    """The keys a connection of this agent listens on, from its role and teams right now."""
    granted = set(permissions)
    keys = {personal_key(agent_id), session_key(agent_id)}
    if "inbox:read:all" in granted:
        keys.add(INBOX_ALL)
    elif "inbox:read:assigned" in granted:
        keys.add(inbox_agent_key(agent_id))
    if "contacts:read:all" in granted:
        keys.add(CONTACTS_ALL)
    elif "contacts:read:assigned" in granted:
        keys.update((contacts_agent_key(agent_id), CONTACTS_POOL))
        keys.update(contacts_team_key(t) for t in team_ids)
    if "agents:read" in granted:
        keys.add(AGENTS_ALL)
    if "senders:read" in granted:
        keys.add(SENDERS_ALL)
    if "alerts:read" in granted:
        keys.add(ALERTS_ALL)
    return frozenset(keys)
