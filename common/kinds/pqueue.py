"""A bounded priority queue, thread-safe: highest priority first, FIFO within a priority.

When full, a new item displaces the lowest-priority waiting item if it outranks it; otherwise
it is refused (``put`` returns False), so the queue never grows past ``max_items``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from typing import Any

__all__ = ["BoundedPriorityQueue"]


class BoundedPriorityQueue:
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._heap: list[tuple[int, int, Any]] = []  # (-priority, seq, item)
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: Any, priority: int = 0) -> Any:
        """Add item; returns True, False if refused, or the displaced item."""
        with self._cond:
            entry = (-priority, next(self._seq), item)
            if len(self._heap) < self.max_items:
                heapq.heappush(self._heap, entry)
                self._cond.notify()
                return True
            worst = max(self._heap)
            if entry >= worst:
                self.dropped += 1
                return False
            self._heap.remove(worst)
            heapq.heapify(self._heap)
            heapq.heappush(self._heap, entry)
            self.dropped += 1
            self._cond.notify()
            return worst[2]

    def get(self, timeout_s: float) -> Any:
        """The highest-priority item, or None after timeout_s."""
        with self._cond:
            if not self._heap and not self._cond.wait_for(lambda: bool(self._heap), timeout_s):
                return None
            return heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)
