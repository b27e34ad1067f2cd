"""Per-socket duplicate filter over event cursors."""

from __future__ import annotations

from collections import deque


class SeenWindow:
    """Drops cursors at or below ``floor`` and any cursor among the last ``size`` seen.

    Duplicates come from catch-up overlapping live delivery, an event reaching a pod under
    several routing keys, and relay retries; all of them arrive close together.
    """

    def __init__(self, floor: int = 0, size: int = 4096) -> None:
        self.floor = floor
        self._order: deque[int] = deque()
        self._seen: set[int] = set()
        self._size = size

    def first_time(self, seq: int) -> bool:
        if seq <= self.floor or seq in self._seen:
            return False
        self._seen.add(seq)
        self._order.append(seq)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())
        return True
