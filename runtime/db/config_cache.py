"""Look-ups of rarely changed configuration kept ACROSS transactions, with exact invalidation.

Database triggers bump the one-row ``config_epoch`` counter whenever a watched column changes
(migration 0015 lists them; any writer, any process). A worker that reads the counter at the
start of a transaction (the inbound processor: in its claim statement, no round trip of its
own) attaches its :class:`ConfigCache` to the session: if the counter moved since its last
transaction, every cached value is dropped first. Values read later in the transaction are at
least as new as the counter read, so a value is never kept under an epoch older than itself.

Only plain values (ids, frozen dataclasses) are cached, never ORM rows: those belong to one
session. A session without an attached cache (API requests, tests) gets a cache of its
current transaction instead (:func:`~runtime.db.transaction_cache.transaction_cache`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, select
from sqlalchemy.event import listens_for
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from runtime.db.transaction_cache import transaction_cache
from runtime.models import ConfigEpoch

_ATTACHED = "scrm.config_cache"

# The current epoch, as a column of another statement (e.g. in its RETURNING clause).
CURRENT_EPOCH: ScalarSelect[int] = (
    select(ConfigEpoch.value).where(ConfigEpoch.id == 1).scalar_subquery()
)


class ConfigCache:
    """One worker's cross-transaction look-ups, valid for one ``config_epoch`` value."""

    def __init__(self) -> None:
        self._epoch: int | None = None
        self._caches: dict[str, dict[Any, Any]] = {}

    def attach(self, session: AsyncSession, epoch: int | None) -> None:
        """Serve ``session``'s current transaction from this cache, dropped first if the
        epoch changed. ``None`` (the counter's row is missing): nothing is kept."""
        if epoch is None or epoch != self._epoch:
            self._caches.clear()
            self._epoch = epoch
        if epoch is not None:
            session.info[_ATTACHED] = self._caches


def config_cache(session: AsyncSession, name: str) -> dict[Any, Any]:
    """The look-up cache called ``name``: across transactions if ``session`` has a
    :class:`ConfigCache` attached, else for its current transaction."""
    attached: dict[str, dict[Any, Any]] | None = session.info.get(_ATTACHED)
    if attached is None:
        return transaction_cache(session, name)
    return attached.setdefault(name, {})


@listens_for(Session, "after_transaction_end")
def _detach(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_ATTACHED, None)
