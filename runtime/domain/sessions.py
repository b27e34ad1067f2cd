"""Ending and re-scoping an agent's sessions: refresh tokens, access tokens, open sockets.

Every ws connection listens on its agent's ``session.<agent_id>`` key. A control event on that
key (``session.control``) reaches the agent's sockets on every ws pod through the normal
outbox → bus path:

- ``{"action": "revoke"}`` closes every socket of the agent (``"sid"`` narrows it to the
  sockets opened with one sign-in's access tokens);
- ``{"action": "rescope"}`` closes them with a "reconnect" code, so the client comes back at
  once and gets the keys its permissions and teams allow now (replay included).
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.db.base import utcnow
from runtime.domain.events import record_event
from runtime.domain.security import AccessClaims
from runtime.domain.visibility import personal_key, session_key
from runtime.models import Agent, RefreshToken

SESSION_CONTROL = "session.control"


def token_current(claims: AccessClaims) -> ColumnElement[bool]:
    """SQL truth of "this access token was not ended", read beside its agent's row: its
    version is the agent's ``token_version`` (not all sign-ins ended) and its sign-in ``sid``
    still has an unrevoked refresh-token link (not logged out). Tokens without a sign-in
    (minted by tools) are judged by their version alone."""
    current = Agent.token_version == claims.version
    if claims.sid is None:
        return current
    return current & exists().where(
        RefreshToken.family_id == claims.sid, RefreshToken.revoked_at.is_(None)
    )


async def end_sessions(
    session: AsyncSession,
    agent: Agent,
    reason: str,
    *,
    family_id: uuid.UUID | None = None,
) -> None:
    """Revoke one sign-in (``family_id``) or all of them, and close the matching sockets.

    Without ``family_id`` the agent's ``token_version`` is bumped too, so every access token
    issued before is refused. Runs in the caller's transaction.
    """
    revoke = update(RefreshToken).where(
        RefreshToken.agent_id == agent.id, RefreshToken.revoked_at.is_(None)
    )
    if family_id is not None:
        revoke = revoke.where(RefreshToken.family_id == family_id)
    await session.execute(
        revoke.values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    )
    payload: dict[str, str] = {"action": "revoke", "reason": reason}
    if family_id is None:
        agent.token_version = (agent.token_version or 0) + 1
    else:
        payload["sid"] = str(family_id)
    await record_event(session, agent.tenant_id, SESSION_CONTROL, payload, [session_key(agent.id)])


async def rescope_sockets(
    session: AsyncSession, tenant_id: uuid.UUID, agent_ids: list[uuid.UUID], reason: str
) -> None:
    """Make these agents' open sockets reconnect under their current permissions and teams."""
    for agent_id in sorted(set(agent_ids)):
        await record_event(
            session,
            tenant_id,
            SESSION_CONTROL,
            {"action": "rescope", "reason": reason},
            [session_key(agent_id)],
        )


async def permissions_changed(
    session: AsyncSession, tenant_id: uuid.UUID, agent_ids: list[uuid.UUID]
) -> None:
    """Tell these agents' browsers to re-read their permissions, and re-scope their sockets
    to what the new permissions allow."""
    if agent_ids:
        await record_event(
            session, tenant_id, "permissions.changed", {}, [personal_key(a) for a in agent_ids]
        )
        await rescope_sockets(session, tenant_id, agent_ids, "permissions changed")
