"""The canary benchmark's users: an open-loop load shaped like `mesh load`, through the registry.

`mesh load`'s mix (70 % user requests, 20 % memory writes, 10 % inference) becomes three
payload sizes of one agent's ``echo`` (a sentence, 2 KB, 16 KB), scheduled at ``rate`` per
second over ``workers`` threads, each with its own WatchingClient: every call resolves the
name as a user's client does (by the registry's weights, which the watch keeps fresh), is
sent once with a deadline (no retries: a failure is what a user saw) and is logged with the
endpoint that served it.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from common.base_agent.discovery import WatchingClient
from common.base_agent.errors import MeshError
from common.cli.load_cmd import MIX, TEXTS

__all__ = ["Call", "UserLoad"]

PAYLOADS = {"request": None, "memory_write": "m" * 2048, "swap_infer": "i" * 16384}
TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Call:
    at: float  # monotonic time it was sent
    endpoint: str
    ok: bool
    seconds: float


class UserLoad:
    def __init__(self, registry: str, name: str, rate: float, workers: int = 2,
                 seed: int = 14) -> None:
        self.registry, self.name, self.rate, self.workers = registry, name, rate, workers
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.rng = random.Random(seed)
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(workers)]

    def start(self) -> UserLoad:
        for t in self.threads:
            t.start()
        return self

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(TIMEOUT_S + 2)

    def window(self, t0: float, t1: float) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if t0 <= c.at < t1]

    def _run(self, worker: int) -> None:
        rng = random.Random(self.rng.random() + worker)
        kinds, weights = [k for k, _ in MIX], [w for _, w in MIX]
        client = WatchingClient(self.registry, source=f"canary-load-{worker}")
        every = self.workers / self.rate
        due = time.monotonic()
        try:
            while not self.stop.is_set():
                due += rng.expovariate(1.0 / every)  # Poisson arrivals, open loop
                wait = due - time.monotonic()
                if wait > 0 and self.stop.wait(wait):  # pacing of the schedule
                    break
                kind = rng.choices(kinds, weights)[0]
                payload = PAYLOADS[kind] or rng.choice(TEXTS)
                self._call(client, payload)
        finally:
            client.close()

    def _call(self, client: WatchingClient, payload: str) -> None:
        t0 = time.monotonic()
        endpoint = ""
        try:
            endpoint = client.resolve(self.name, TIMEOUT_S)
            client.call_endpoint(endpoint, "echo", payload, timeout_s=TIMEOUT_S, retries=0,
                                 peer=endpoint)
            ok = True
        except MeshError:
            ok = False
            client.invalidate(self.name)
        with self.lock:
            self.calls.append(Call(t0, endpoint, ok, time.monotonic() - t0))
