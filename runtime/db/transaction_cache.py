"""Look-ups kept for the length of one transaction (e.g. a round of the inbound processor):
dropped when its outermost transaction ends, so no later transaction reads stale rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.event import listens_for
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_CACHES = "scrm.transaction_caches"


def transaction_cache(session: AsyncSession, name: str) -> dict[Any, Any]:
    """The cache called ``name`` of ``session``'s current transaction."""
    caches: dict[str, dict[Any, Any]] = session.info.setdefault(_CACHES, {})
    return caches.setdefault(name, {})


@listens_for(Session, "after_transaction_end")
def _drop_caches(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CACHES, None)
