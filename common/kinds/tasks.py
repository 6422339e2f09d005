"""Queues and schedulers: a priority task queue with a worker, and a scheduler feeding it.

TaskQueueAgent (AsyncProcessor): ``submit {job, args, priority?}`` -> ``{task_id}``; a worker
thread runs the jobs in priority order (bounded queue, ``queue_max``); ``result {task_id}``;
``task_stats``.  The jobs are small and real: ``checksum``, ``word_count``, ``primes``, ``sort``.
SchedulerAgent (TaskScheduler): ``schedule {job, args, every_s, times?}``; due entries are
submitted to ``target`` from the loop; ``default_schedule`` runs from the start.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field

from common.base_agent import BadRequest, MeshError, handler, require
from common.kinds.base import MeshAgent
from common.kinds.pqueue import BoundedPriorityQueue
from common.kinds.text import tokens

__all__ = ["JOBS", "SchedulerAgent", "TaskQueueAgent"]

RESULTS_MAX = 1000
MAX_PRIME_N = 50_000


def _primes(n: int) -> int:
    n = min(int(n), MAX_PRIME_N)
    sieve = bytearray([1]) * (n + 1)
    sieve[:2] = b"\x00\x00"[: n + 1]
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i:: i] = bytearray(len(sieve[i * i:: i]))
    return sum(sieve)


JOBS: dict[str, Callable[[Any], Any]] = {
    "checksum": lambda a: hashlib.sha256(str(a).encode()).hexdigest(),
    "word_count": lambda a: collections.Counter(tokens(str(a))).most_common(5),
    "primes": lambda a: _primes(a),
    "sort": lambda a: sorted(a)[:100],
}


class TaskQueueAgent(MeshAgent):
    capabilities = ("task_queue",)

    class Settings(MeshAgent.Settings):
        queue_max: int = Field(default=200, gt=0)

    settings: Settings

    def setup_kind(self) -> None:
        self.queue = BoundedPriorityQueue(self.settings.queue_max)
        self.results: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.done = self.failed = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._worker = threading.Thread(target=self._work, name=f"{self.name}-worker",
                                        daemon=True)
        self._worker.start()

    def stop_kind(self) -> None:
        self._halt.set()
        self._worker.join(2.0)

    @handler("submit")
    def submit(self, payload: Any) -> dict[str, Any]:
        job = require(payload, "job", str)
        if job not in JOBS:
            raise BadRequest(f"unknown job {job!r}; jobs: {', '.join(JOBS)}")
        task_id = f"{self.name}-{next(self._ids)}"
        placed = self.queue.put((task_id, job, payload.get("args")),
                                require(payload, "priority", int, 0))
        if placed is False:
            raise MeshError(f"{self.name}: queue full", "unavailable")
        self._record(task_id, {"state": "queued", "job": job})
        return {"task_id": task_id, "queued": len(self.queue)}

    @handler("result")
    def result(self, payload: Any) -> dict[str, Any]:
        with self._lock:
            found = self.results.get(require(payload, "task_id", str))
        if found is None:
            raise MeshError("unknown task", "not_found")
        return found

    @handler("task_stats")
    def task_stats(self, payload: Any = None) -> dict[str, Any]:
        return {"queued": len(self.queue), "done": self.done, "failed": self.failed,
                "dropped": self.queue.dropped}

    def _record(self, task_id: str, state: dict[str, Any]) -> None:
        with self._lock:
            self.results[task_id] = state
            while len(self.results) > RESULTS_MAX:
                self.results.popitem(last=False)

    def _work(self) -> None:
        while not self._halt.is_set():
            item = self.queue.get(timeout_s=0.1)
            if item is None:
                continue
            task_id, job, args = item
            t0 = time.perf_counter()
            try:
                out = JOBS[job](args)
                self.done += 1
                self._record(task_id, {"state": "done", "job": job, "result": out,
                                       "ms": round((time.perf_counter() - t0) * 1000, 3)})
            except Exception as exc:  # a job's bad args fail that task only
                self.failed += 1
                self._record(task_id, {"state": "failed", "job": job, "error": repr(exc)})


class SchedulerAgent(MeshAgent):
    tick_interval_s = 0.1  # schedules are whole seconds
    capabilities = ("scheduler",)
    target = "AsyncProcessor"
    default_schedule: tuple[dict[str, Any], ...] = ()

    class Settings(MeshAgent.Settings):
        target: str | None = None  # None: the class's own target
        schedule: list[dict[str, Any]] | None = None  # None: default_schedule; see schedule

    settings: Settings

    def setup_kind(self) -> None:
        s = self.settings
        if s.target is not None:
            self.target = s.target
        self.entries: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.dispatched = self.errors = 0
        for entry in self.default_schedule if s.schedule is None else s.schedule:
            self.schedule(dict(entry))

    @handler("schedule")
    def schedule(self, payload: Any) -> dict[str, Any]:
        job = require(payload, "job", str)
        every_s = float(require(payload, "every_s", (int, float)))
        if every_s < 0.1 or job not in JOBS:
            raise BadRequest("need a known job and every_s >= 0.1")
        entry_id = next(self._ids)
        self.entries[entry_id] = {"job": job, "args": payload.get("args"), "every_s": every_s,
                                  "times": payload.get("times"),
                                  "due": time.monotonic() + every_s}
        return {"entry": entry_id}

    def on_tick(self) -> None:
        now = time.monotonic()
        for entry_id, entry in list(self.entries.items()):
            if now < entry["due"]:
                continue
            entry["due"] = now + entry["every_s"]
            try:
                self.call(self.target, "submit", {"job": entry["job"], "args": entry["args"]},
                          timeout_s=0.5, idempotent=False)
                self.dispatched += 1
            except MeshError:
                self.errors += 1
            if entry["times"] is not None:
                entry["times"] -= 1
                if entry["times"] <= 0:
                    del self.entries[entry_id]

    @handler("scheduler_stats")
    def scheduler_stats(self, payload: Any = None) -> dict[str, Any]:
        return {"entries": len(self.entries), "dispatched": self.dispatched,
                "errors": self.errors, "target": self.target}
