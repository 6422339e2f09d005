"""A fleet of synthetic agents heartbeating to a hub from one thread, for tests and benchmarks.

Each member has its own DEALER and sends a realistic ``hub_report`` (three actions with latency
histograms, errors, VRAM gauges on GPU owners) every interval, spread evenly over the interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import zmq

from common.base_agent import protocol
from common.base_agent.metrics import LATENCY_BUCKETS_S
from common.base_agent.protocol import Request
from common.base_agent.sockets import connect
from common.hub.protocol import ACTION_REPORT

__all__ = ["Fleet", "synthetic_report"]

_N_BUCKETS = len(LATENCY_BUCKETS_S) + 1


def synthetic_report(name: str, seq: int, interval_s: float, host: str,
                     gpu: bool = False) -> dict[str, Any]:
    actions = {}
    for i, action in enumerate(("health", "infer", "status")):
        count = seq * (i + 1)
        buckets = [min(count, count * (b + 1) // _N_BUCKETS * 2) for b in range(_N_BUCKETS)]
        buckets[-1] = count
        actions[action] = {"count": count, "sum_s": count * 0.002, "buckets": buckets,
                           "errors": {"internal": seq // 50} if action == "infer" else {}}
    report = {"agent": name, "instance_id": f"{name}-fleet", "host": host, "pid": 0,
              "endpoint": "", "interval_s": interval_s, "seq": seq, "failover": False,
              "health": {"status": "passing", "checks": []},
              "metrics": {"requests_total": seq * 6, "errors_total": seq // 50,
                          "bad_frames_total": 0}, "actions": actions}
    if gpu:
        report["gauges"] = {"vram": [{"gpu": "0", "used_bytes": 9 * 2**30,
                                      "total_bytes": 24 * 2**30}], "leases_active": 3,
                            "evictions_total": 1}
    return report


class Fleet:
    """``names`` agents reporting to ``endpoint``; ``start()``, ``stop()``; ``silence(name)``
    stops one member's heartbeats (a hung agent); ``checks[name] = {name, status, detail}``
    makes it report a failing check."""

    def __init__(self, ctx: zmq.Context, endpoint: str, names: Sequence[str],
                 interval_s: float = 1.0, host: str = "127.0.0.1",
                 gpu_owners: Sequence[str] = ()) -> None:
        self.endpoint = endpoint
        self.names = list(names)
        self.interval_s = interval_s
        self.host = host
        self.gpu_owners = set(gpu_owners)
        self.silenced: set[str] = set()
        self.checks: dict[str, dict[str, str]] = {}  # name -> a failing check to report
        self.sent_total = 0
        self._ctx = ctx
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-fleet", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def silence(self, name: str) -> None:
        self.silenced.add(name)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        socks = [connect(self._ctx, zmq.DEALER, self.endpoint, hwm=10) for _ in self.names]
        seqs = [0] * len(self.names)
        step_s = self.interval_s / max(1, len(self.names))
        try:
            i, next_at = 0, time.monotonic()
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                while socks[i].poll(0):  # the ack of its previous beat
                    socks[i].recv_multipart()
                self._beat(socks[i], self.names[i], seqs, i)
                i, next_at = (i + 1) % len(self.names), next_at + step_s
        finally:
            for sock in socks:
                sock.close(linger=0)

    def _beat(self, sock: zmq.Socket, name: str, seqs: list[int], i: int) -> None:
        if name in self.silenced:
            return
        seqs[i] += 1
        body = synthetic_report(name, seqs[i], self.interval_s, self.host,
                                gpu=name in self.gpu_owners)
        check = self.checks.get(name)
        if check is not None:
            body["health"] = {"status": check["status"], "checks": [check]}
        try:
            sock.send_multipart(protocol.encode_request(Request(ACTION_REPORT, body,
                                                                source=name)), zmq.NOBLOCK)
            self.sent_total += 1
        except zmq.Again:
            pass
