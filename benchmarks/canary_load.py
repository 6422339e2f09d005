"""The canary benchmark's users: an open-loop load shaped like `mesh load`, through the registry.

`mesh load`'s mix (70 % user requests, 20 % memory writes, 10 % inference) becomes three
payload sizes of one agent's ``echo`` (a sentence, 2 KB, 16 KB), scheduled at ``rate`` per
second over ``workers`` threads, each with its own WatchingClient: every call goes through
``Client.call`` as a user's does: the instance chosen by the registry's weights (which the
watch keeps fresh), a deadline, no Lazy-Pirate retries, and the client's fail-over (a call
that fails on one weighted instance is sent once to another, within the retry budget).  A
call is logged with every endpoint it went to; a failure is what a user saw.
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
    endpoint: str  # the one that answered (or last failed)
    ok: bool
    seconds: float
    failed_on: tuple[str, ...] = ()  # endpoints it failed on before (the client failed over)
    error: str = ""  # what the user saw, when not ok

    @property
    def route(self) -> tuple[str, ...]:
        return (*self.failed_on, self.endpoint)


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
        error = ""
        try:
            client.call(self.name, "echo", payload, timeout_s=TIMEOUT_S, retries=0)
        except MeshError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
            client.invalidate(self.name)
        route = client.route or [""]
        with self.lock:
            self.calls.append(Call(t0, route[-1], not error, time.monotonic() - t0,
                                   tuple(route[:-1]), error))
