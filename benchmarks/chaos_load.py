"""The chaos soak's workload: `mesh load`'s requests, each idempotent and retried in a budget.

Open loop at ``rate`` operations per second over WORKERS threads (one Client each) until told
to stop.  The mix, from common.cli.load_cmd:

- ``request`` (80 %): a full user request through RequestCoordinator (NLU, orchestration,
  memory on PC2 through MemoryClient, Responder: both hosts).  It changes nothing the caller
  reads back; a retry may log the interaction in memory twice, which the soak accepts;
- ``memory_write`` (20 %): a store through MemoryClient to PC2's MemoryOrchestratorService with
  a unique ``key``: an upsert, so repeating it is harmless.

`mesh load`'s third kind, ``swap_infer``, is left out: its ``unavailable`` answers while the
VRAM pool swaps two models are the pool's normal answer, not a fault's doing.

Every operation is retried within BUDGET_S: an attempt without a reply within ATTEMPT_S (the
Client then drops its socket: Lazy Pirate), with a transient error reply (``timeout`` or
``unavailable``: a hop behind the callee failed, was away, or a circuit is open), or finding
no live instance of the callee in the registry (restarting), is repeated after a doubling
pause.  Any other error fails the operation at once; so does an exhausted budget.
"""

from __future__ import annotations

import collections
import itertools
import random
import threading
import time
from typing import Any

from common.base_agent.client import Client
from common.base_agent.errors import MeshError, NoInstanceError
from common.base_agent.protocol import ErrorCode
from common.cli.load_cmd import TEXTS

__all__ = ["Load"]

MIX = (("request", 0.8), ("memory_write", 0.2))
WORKERS = 8
BUDGET_S = 10.0
ATTEMPT_S = 3.0
PAUSE_S = (0.1, 1.0)  # first pause between attempts, and its cap
TRANSIENT = {ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE}


class Load:
    def __init__(self, registry: str, rate: float, seed: int) -> None:
        self.registry, self.rate, self.seed = registry, rate, seed
        self.samples: list[tuple[str, bool, float, int, str]] = []  # kind, ok, ms, tries, code
        self._stop = threading.Event()
        self._keys = itertools.count()
        self._threads = [threading.Thread(target=self._worker, args=(w,), daemon=True,
                                          name=f"chaos-load-{w}") for w in range(WORKERS)]

    def start(self) -> None:
        self._start = time.monotonic()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop issuing; operations under way finish within their budget."""
        self._stop.set()
        for thread in self._threads:
            thread.join(BUDGET_S + ATTEMPT_S + 5)

    def _worker(self, w: int) -> None:
        rng = random.Random(self.seed * 1000 + w)
        with Client(self.registry, source="chaos-load", breaker_threshold=10**9) as client:
            for i in itertools.count():
                due = self._start + (i * WORKERS + w) / self.rate
                if self._stop.wait(max(0.0, due - time.monotonic())):  # open-loop pacing
                    return
                kind = rng.choices([k for k, _ in MIX], [p for _, p in MIX])[0]
                self.samples.append(self._one(client, kind, rng))

    def _operation(self, kind: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        text = rng.choice(TEXTS)
        if kind == "request":
            return "RequestCoordinator", "request", {"text": text, "session": "chaos"}
        return "MemoryClient", "store", {"text": text, "session": "chaos", "kind": "note",
                                         "key": f"chaos-{self.seed}-{next(self._keys)}"}

    def _one(self, client: Client, kind: str,
             rng: random.Random) -> tuple[str, bool, float, int, str]:
        name, action, payload = self._operation(kind, rng)
        t0 = time.monotonic()
        deadline, pause, tries = t0 + BUDGET_S, PAUSE_S[0], 0
        while True:
            tries += 1
            try:
                client.call(name, action, payload, retries=0,
                            timeout_s=max(0.05, min(ATTEMPT_S, deadline - time.monotonic())))
                return kind, True, (time.monotonic() - t0) * 1000, tries, ""
            except MeshError as exc:
                code = str(exc.code)
                transient = code in TRANSIENT or isinstance(exc, NoInstanceError)
                if not transient or time.monotonic() + pause >= deadline:
                    return kind, False, (time.monotonic() - t0) * 1000, tries, code
            time.sleep(pause)  # the retry's backoff
            pause = min(pause * 2, PAUSE_S[1])

    def counts(self) -> tuple[int, int]:
        rows = list(self.samples)
        ok = sum(1 for r in rows if r[1])
        return ok, len(rows) - ok

    def summary(self) -> dict[str, Any]:
        rows = list(self.samples)
        ok = [r for r in rows if r[1]]
        ms = sorted(r[2] for r in ok)
        by_kind = collections.Counter((r[0], r[1]) for r in rows)
        return {"rate": self.rate, "ok": len(ok), "failed": len(rows) - len(ok),
                "success_ratio": round(len(ok) / len(rows), 5) if rows else 0.0,
                "retried": sum(1 for r in rows if r[3] > 1),
                "errors": dict(collections.Counter(r[4] for r in rows if not r[1])),
                "by_kind": {k: {"ok": by_kind[(k, True)], "failed": by_kind[(k, False)]}
                            for k, _ in MIX},
                "p50_ms": _pct(ms, 0.5), "p95_ms": _pct(ms, 0.95), "p99_ms": _pct(ms, 0.99),
                "max_ms": round(ms[-1], 1) if ms else 0.0,
                "budget_s": BUDGET_S, "attempt_timeout_s": ATTEMPT_S}


def _pct(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0
