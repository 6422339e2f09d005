"""RequestCoordinatorKind: the front door.  A request goes NLU -> model orchestration ->
memory (on PC2, through MemoryClient) -> Responder, each hop timed.

``request {text, session?}`` runs the pipeline now and replies with the answer and every hop.
``submit {text, priority?, session?}`` queues it in a bounded priority queue (max 100, the
original's size; a full queue refuses or displaces the lowest priority) served by a worker
thread; ``result {ticket}`` reports it.  Every callee has its own circuit breaker (3
failures, 30 s reset, as in the original); ``coordinator_stats`` shows them.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from common.base_agent import BadRequest, MeshError, handler, require
from common.base_agent.client import Client
from common.kinds.base import MeshAgent
from common.kinds.pqueue import BoundedPriorityQueue

__all__ = ["RequestCoordinatorKind", "run_pipeline"]

QUEUE_MAX = 100
RESULTS_MAX = 1000
MAX_TEXT = 4000
Call = Callable[[str, str, Any, list[dict[str, Any]]], Any]


def run_pipeline(call: Call, stages: dict[str, str], text: str,
                 session: str) -> dict[str, Any]:
    """The request path; ``call(agent, action, payload, hops)`` makes each hop."""
    hops: list[dict[str, Any]] = []
    nlu = call(stages["nlu"], "classify", {"text": text}, hops)
    routed = call(stages["orchestrator"], "route", {"text": text, "intent": nlu["label"]},
                  hops)
    generated = (routed.get("result") or {}).get("text", "")
    found = call(stages["memory"], "search", {"query": text, "session": session,
                                              "limit": 3}, hops)
    call(stages["memory"], "store", {"text": f"{text} => {generated}", "session": session,
                                     "kind": "interaction"}, hops)
    answer = call(stages["responder"], "respond", {
        "generated": generated, "intent": nlu["label"], "memories": found["hits"]}, hops)
    return {"reply": answer["reply"], "intent": nlu["label"], "speech": answer["speech"],
            "memories": len(found["hits"]), "hops": hops}


class RequestCoordinatorKind(MeshAgent):
    capabilities = ("coordinator",)
    stages = {"nlu": "NLUAgent", "orchestrator": "ModelOrchestrator",
              "memory": "MemoryClient", "responder": "Responder"}

    class Settings(MeshAgent.Settings):
        stages: dict[Literal["nlu", "orchestrator", "memory", "responder"], str] = {}
        queue_max: int = Field(default=QUEUE_MAX, gt=0)

    settings: Settings

    def setup_kind(self) -> None:
        self.stages = {**self.stages, **{str(k): v for k, v in self.settings.stages.items()}}
        self.queue = BoundedPriorityQueue(self.settings.queue_max)
        self.results: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._tickets = itertools.count(1)
        self._stop_worker = threading.Event()
        self._worker = threading.Thread(target=self._work, name=f"{self.name}-queue",
                                        daemon=True)
        self._worker.start()

    def stop_kind(self) -> None:
        self._stop_worker.set()
        self._worker.join(2.0)

    def _payload(self, payload: Any) -> tuple[str, str]:
        text = require(payload, "text", str)
        if not text.strip() or len(text) > MAX_TEXT:
            raise BadRequest(f"payload.text must be 1..{MAX_TEXT} characters")
        return text, require(payload, "session", str, "default")

    @handler("request")
    def request(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        text, session = self._payload(payload)
        out = run_pipeline(self.call, self.stages, text, session)
        out["hops"].insert(0, self.my_hop("request", t0))
        return out

    @handler("submit")
    def submit(self, payload: Any) -> dict[str, Any]:
        text, session = self._payload(payload)
        priority = require(payload, "priority", int, 0)
        ticket = f"t{next(self._tickets)}"
        placed = self.queue.put((ticket, text, session), priority)
        if placed is False:
            raise MeshError(f"{self.name}: queue full ({self.queue.max_items})", "unavailable")
        if placed is not True:
            self._record(placed[0], {"state": "dropped", "reason": "displaced"})
        self._record(ticket, {"state": "queued", "priority": priority})
        return {"ticket": ticket, "queued": len(self.queue)}

    @handler("result")
    def result(self, payload: Any) -> dict[str, Any]:
        ticket = require(payload, "ticket", str)
        with self._lock:
            found = self.results.get(ticket)
        if found is None:
            raise MeshError(f"unknown ticket {ticket!r}", "not_found")
        return found

    @handler("coordinator_stats")
    def coordinator_stats(self, payload: Any = None) -> dict[str, Any]:
        breakers = {peer: {"state": b.state.value, "failures": b.failures}
                    for peer, b in self.client._breakers.items()}
        return {"queued": len(self.queue), "queue_max": self.queue.max_items,
                "dropped": self.queue.dropped, "breakers": breakers, "stages": self.stages}

    def _record(self, ticket: str, state: dict[str, Any]) -> None:
        with self._lock:
            self.results[ticket] = state
            while len(self.results) > RESULTS_MAX:
                self.results.popitem(last=False)

    def _work(self) -> None:
        """Serve the queue in priority order with this thread's own Client."""
        client = Client(self.registry_endpoint, ctx=self.ctx, source=f"{self.name}-queue")

        def call(name: str, action: str, payload: Any, hops: list[dict[str, Any]]) -> Any:
            out = client.call(name, action, payload, timeout_s=self.call_timeout_s)
            hops.extend(out.pop("hops", []) if isinstance(out, dict) else [])
            return out

        try:
            while not self._stop_worker.is_set():
                item = self.queue.get(timeout_s=0.1)
                if item is None:
                    continue
                ticket, text, session = item
                try:
                    done = run_pipeline(call, self.stages, text, session)
                    self._record(ticket, {"state": "done", **done})
                except MeshError as exc:
                    self._record(ticket, {"state": "failed", "error": str(exc)})
        finally:
            client.close()
