"""Who is connected to this pod (per tenant) and which routing keys they need."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Generic, TypeVar

C = TypeVar("C")
_NOBODY: frozenset[Any] = frozenset()


class Registry(Generic[C]):
    """Routing key → connections; a key is needed while at least one connection wants it."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[C]] = {}
        self._conns: set[C] = set()

    def __len__(self) -> int:
        return len(self._conns)

    def connections(self) -> list[C]:
        return list(self._conns)

    def add(self, conn: C, keys: Iterable[str]) -> list[str]:
        """Register ``conn``; returns the keys that had no connection before (to bind)."""
        self._conns.add(conn)
        new = []
        for key in keys:
            holders = self._by_key.setdefault(key, set())
            if not holders:
                new.append(key)
            holders.add(conn)
        return new

    def remove(self, conn: C, keys: Iterable[str]) -> list[str]:
        """Unregister ``conn``; returns the keys nobody needs any more (to unbind)."""
        self._conns.discard(conn)
        gone = []
        for key in keys:
            holders = self._by_key.get(key)
            if holders is None or conn not in holders:
                continue
            holders.discard(conn)
            if not holders:
                del self._by_key[key]
                gone.append(key)
        return gone

    def targets(self, audience: Sequence[str]) -> Collection[C]:
        """Connections interested in any of the keys, each once (do not mutate the result)."""
        by_key = self._by_key
        if len(audience) == 1:  # the common case: one key, no set to build
            return by_key.get(audience[0], _NOBODY)
        found: set[C] = set()
        for key in audience:
            holders = by_key.get(key)
            if holders:
                found.update(holders)
        return found
