"""The warm tier's ledger: evicted models whose weights their holders keep in host RAM.

Each host has a RAM budget (``hosts.<h>.gpu.warm_ram_mb``).  A holder that unloads offers its
weights (``release`` with ``warm_bytes``); the tier takes them if they fit the host's budget,
dropping the copies whose loss costs least to make room (the caller tells their holders,
``vram_drop_warm``).  The ledger never holds more than the budget.  A copy leaves the tier when
its model is granted again (it loads from RAM) or its holder is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.gpu.backend import MIB
from main_pc.model_manager.lease import Holder

__all__ = ["WarmCopy", "WarmTier"]


@dataclass(slots=True)
class WarmCopy:
    model: str
    host: str
    size_bytes: int
    holder: Holder
    since: float


class WarmTier:
    def __init__(self, budgets: dict[str, int]) -> None:
        self.budgets = dict(budgets)  # host -> bytes
        self.copies: dict[str, WarmCopy] = {}  # model -> its copy

    def used(self, host: str) -> int:
        return sum(c.size_bytes for c in self.copies.values() if c.host == host)

    def fits(self, host: str, size_bytes: int) -> bool:
        """Could the tier take size_bytes on host (dropping other copies if need be)?"""
        return 0 < size_bytes <= self.budgets.get(host, 0)

    def admit(self, copy: WarmCopy,
              loss: Callable[[WarmCopy], float]) -> list[WarmCopy] | None:
        """Take copy, dropping the copies of least loss on its host to make room;
        -> the dropped ones, or None when it cannot be taken."""
        if not self.fits(copy.host, copy.size_bytes):
            return None
        self.copies.pop(copy.model, None)
        over = self.used(copy.host) + copy.size_bytes - self.budgets[copy.host]
        dropped = []
        for other in sorted((c for c in self.copies.values() if c.host == copy.host), key=loss):
            if over <= 0:
                break
            dropped.append(self.copies.pop(other.model))
            over -= other.size_bytes
        self.copies[copy.model] = copy
        return dropped

    def take(self, model: str) -> WarmCopy | None:
        return self.copies.pop(model, None)

    def drop_holder(self, *, instance_id: str = "", host: str = "",
                    pid: int = 0) -> list[WarmCopy]:
        """Forget the copies of a holder that is gone (its RAM went with it)."""
        out = [c for c in self.copies.values()
               if (instance_id and c.holder.instance_id == instance_id)
               or (pid and c.holder.pid == pid and c.holder.host == host)]
        for copy in out:
            del self.copies[copy.model]
        return out

    def view(self) -> dict[str, Any]:
        return {host: {"budget_mb": round(budget / MIB, 1),
                       "used_mb": round(self.used(host) / MIB, 1),
                       "models": sorted(c.model for c in self.copies.values()
                                        if c.host == host)}
                for host, budget in self.budgets.items()}
