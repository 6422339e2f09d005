"""Requests that wait for the model: no request lost to a swap.

``infer`` while the model waits for its lease or loads is parked (common.base_agent.parked)
with its deadline (``deadline_s`` in the payload; default DEFAULT_DEADLINE_S, what a default
caller waits), at most MAX_WAITING of them, and answered when the weights are in.  It is
refused only when its deadline cannot be met: at once when the expected wait (the last measured
load, less what the current load has done) is already longer, else when the deadline passes,
or when the pool refuses the lease.  The error (code ``deadline``) says why and the wait.
"""

from __future__ import annotations

import time
from typing import Any

from common.base_agent.client import DEFAULT_TIMEOUT_S
from common.base_agent.errors import MeshError
from common.base_agent.parked import Park, ParkedRequest
from common.base_agent.protocol import ErrorCode
from common.model_agent.state import ModelState
from common.vram.protocol import Reason

__all__ = ["DEFAULT_DEADLINE_S", "MAX_WAITING", "LoadWait"]

MAX_WAITING = 256  # requests parked for the model at most; more are refused unavailable
DEFAULT_DEADLINE_S = 0.75 * DEFAULT_TIMEOUT_S  # answered before a default caller gives up


class LoadWait:
    """How long the model takes to come in, and what a request waiting for it is told."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.load_s: float | None = None  # the last load, measured (grant to ready)
        self._loading_since = 0.0

    def load_started(self) -> None:
        self._loading_since = time.monotonic()

    def load_finished(self) -> None:
        self.load_s = time.monotonic() - self._loading_since

    def expected_s(self, state: ModelState) -> float | None:
        """The wait for the weights as far as known (None: never measured); while the lease is
        queued the wait for room comes on top."""
        if self.load_s is None:
            return None
        if state is ModelState.LOADING:
            return max(0.0, self.load_s - (time.monotonic() - self._loading_since))
        return self.load_s

    def admit(self, deadline_s: float, state: ModelState, lease: dict[str, Any] | None,
              waiting: int) -> Exception:
        """Park the request, or the error that refuses it now."""
        if waiting >= MAX_WAITING:
            return MeshError(f"{self.model}: {waiting} requests already wait for it to load; "
                             "try again later", ErrorCode.UNAVAILABLE)
        expected = self.expected_s(state)
        if expected is not None and expected > deadline_s:
            return MeshError(f"deadline {deadline_s:g} s cannot be met: {self.model} is "
                             f"{_doing(state, lease)}; expected wait "
                             f"{self._wait_text(state, lease)}", ErrorCode.DEADLINE)
        return Park(deadline_s, f"{self.model} is {_doing(state, lease)}")

    def overdue(self, request: ParkedRequest, state: ModelState,
                lease: dict[str, Any] | None) -> MeshError:
        return MeshError(f"deadline {request.until - request.parked_at:g} s passed: "
                         f"{self.model} is still {_doing(state, lease)}; expected wait "
                         f"{self._wait_text(state, lease)}", ErrorCode.DEADLINE)

    def _wait_text(self, state: ModelState, lease: dict[str, Any] | None) -> str:
        expected = self.expected_s(state)
        load = "a load never measured" if expected is None else f"{expected:.1f} s of load"
        if state is ModelState.ACQUIRING and lease is not None:
            return (f"the lease's queue wait (refused by the pool within "
                    f"{lease.get('deadline_in_s') or 0:.0f} s) then {load}")
        return load if state is ModelState.LOADING else f"a lease, then {load}"

    def lease_refused(self, reason: str) -> MeshError:
        code = ErrorCode.DEADLINE if reason.startswith(Reason.DEADLINE) else ErrorCode.UNAVAILABLE
        return MeshError(f"{self.model} cannot be loaded: its VRAM lease was refused "
                         f"({reason})", code)


def _doing(state: ModelState, lease: dict[str, Any] | None) -> str:
    if state is ModelState.ACQUIRING and lease is not None:
        return (f"waiting for its VRAM lease (queued at position {lease.get('position')}: "
                f"{lease.get('reason')})")
    return state.value
