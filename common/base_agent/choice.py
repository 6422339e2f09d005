"""Which instance of a name a call goes to: by the registry's weights, sticky per session key.

Without weights (no instance of the name has one) the first listed instance is used (the
registry lists the preferred one first).  With weights:

- a call without a session key goes to the instance whose smooth weighted round-robin credit
  is highest (nginx's algorithm): over N calls each instance gets its share within one call,
  so a 10 % canary gets 10 % of one client's traffic, not 10 % on average;
- a call with a session key goes to the instance with the highest weighted rendezvous score
  ``-w / ln(u)`` (u: a hash of key and instance id, uniform in (0, 1)).  The same key always
  reaches the same instance while the weights stand, and a weight change moves only the keys
  it must (those whose top score changes), unlike ``hash % n``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Choice", "rendezvous_score"]

_SCALE = float(2**64)


def rendezvous_score(key: str, instance_id: str, weight: float) -> float:
    """Weighted rendezvous score of instance for key (higher wins)."""
    if weight <= 0:
        return -math.inf
    digest = hashlib.blake2b(f"{key}\x00{instance_id}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 0.5) / _SCALE  # in (0, 1)
    return -weight / math.log(u)


@dataclass
class Choice:
    """One name's live instances as a lookup listed them; picks an instance per call."""

    records: list[dict[str, Any]]
    credit: dict[str, float] = field(default_factory=dict)

    @property
    def weighted(self) -> bool:
        return any(r.get("weight") is not None for r in self.records) and sum(
            self._weight(r) for r in self.records) > 0

    @staticmethod
    def _weight(record: dict[str, Any]) -> float:
        return max(0.0, float(record.get("weight") or 0.0))

    def pick(self, session_key: str | None = None) -> dict[str, Any]:
        if not self.weighted or len(self.records) == 1:
            return self.records[0]
        if session_key is not None:
            return max(self.records, key=lambda r: rendezvous_score(
                session_key, r["instance_id"], self._weight(r)))
        total = 0.0
        best = None
        for r in self.records:
            w = self._weight(r)
            total += w
            iid = r["instance_id"]
            self.credit[iid] = self.credit.get(iid, 0.0) + w
            if w > 0 and (best is None or self.credit[iid] > self.credit[best["instance_id"]]):
                best = r
        assert best is not None  # weighted: some weight > 0
        self.credit[best["instance_id"]] -= total
        return best
