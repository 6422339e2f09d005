"""``mesh load --rate R --duration S``: a bounded mixed workload through the reference mesh.

Open loop: operations are scheduled at ``rate`` per second for ``duration`` seconds, spread over
``--workers`` threads (one Client each), each call with a deadline, so the command always ends
(after at most duration + timeout).  The mix: full user requests through RequestCoordinator
(``request``), memory writes to PC2 through MemoryClient (``store``), and inference on the two
on-demand model agents whose leases cannot both fit, so the VRAM pool swaps them
(``NLLBAdapter``, ``LocalFineTunerAgent``: ``generate``; ``unavailable`` while loading counts as
a failure).  Prints count, success rate and latency percentiles per kind and overall;
``--json`` prints ``{rate, duration_s, kinds: {KIND: {count, ok, success_rate, p50_ms, p95_ms,
p99_ms, max_ms, errors: {CODE: n}}}, total: {...}}``.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from typing import Any

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.hosts import CONFIG_OPTION
from common.cli.locate import registry_endpoint
from common.cli.output import REGISTRY_OPTION, fail, print_json, print_table

__all__ = ["load", "run_load", "summarize"]

MIX = (("request", 0.7), ("memory_write", 0.2), ("swap_infer", 0.1))
TEXTS = ("what is the weather today", "remind me to call Maria at 5 pm",
         "write a python function to sort a list", "kumusta ka salamat po",
         "translate good morning to tagalog", "hello there, how are you")
MAX_RATE = 500.0
MAX_DURATION_S = 3600.0


def _operation(kind: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    text = rng.choice(TEXTS)
    if kind == "request":
        return "RequestCoordinator", "request", {"text": text, "session": "load"}
    if kind == "memory_write":
        return "MemoryClient", "store", {"text": text, "session": "load", "kind": "note"}
    return rng.choice(("NLLBAdapter", "LocalFineTunerAgent")), "generate", {"text": text}


def _worker(registry: str, schedule: list[tuple[float, str]], timeout_s: float,
            out: list[tuple[str, bool, float, str]], seed: int) -> None:
    rng = random.Random(seed)
    with Client(registry, source="mesh-load", breaker_threshold=10**6) as client:
        for due, kind in schedule:
            wait_s = due - time.monotonic()
            if wait_s > 0:
                time.sleep(wait_s)  # pacing the open-loop schedule, not synchronisation
            name, action, payload = _operation(kind, rng)
            t0 = time.perf_counter()
            try:
                client.call(name, action, payload, timeout_s=timeout_s, retries=0,
                            idempotent=False)
                ok, code = True, ""
            except MeshError as exc:
                ok, code = False, str(getattr(exc.code, "value", exc.code))
            out.append((kind, ok, (time.perf_counter() - t0) * 1000, code))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def summarize(samples: list[tuple[str, bool, float, str]]) -> dict[str, Any]:
    def stats(rows: list[tuple[str, bool, float, str]]) -> dict[str, Any]:
        ms = [r[2] for r in rows if r[1]]
        ok = sum(r[1] for r in rows)
        errors = collections.Counter(r[3] for r in rows if not r[1])
        return {"count": len(rows), "ok": ok, "errors": dict(errors),
                "success_rate": round(ok / len(rows), 4) if rows else 0.0,
                "p50_ms": _pct(ms, 0.5), "p95_ms": _pct(ms, 0.95), "p99_ms": _pct(ms, 0.99),
                "max_ms": round(max(ms), 3) if ms else 0.0}

    kinds = sorted({s[0] for s in samples})
    return {"kinds": {k: stats([s for s in samples if s[0] == k]) for k in kinds},
            "total": stats(samples)}


def run_load(registry: str, rate: float, duration_s: float, workers: int = 4,
             timeout_s: float = 2.0, mix: tuple[tuple[str, float], ...] = MIX,
             seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    start = time.monotonic() + 0.05
    count = int(rate * duration_s)
    kinds = rng.choices([k for k, _ in mix], [w for _, w in mix], k=count)
    schedule = [(start + i / rate, kinds[i]) for i in range(count)]
    samples: list[tuple[str, bool, float, str]] = []
    threads = [threading.Thread(target=_worker, args=(registry, schedule[w::workers],
                                                      timeout_s, samples, seed + w),
                                daemon=True) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + timeout_s * 2 + 5)
    return {"rate": rate, "duration_s": duration_s, "workers": workers,
            **summarize(list(samples))}


def load(
    rate: float = typer.Option(20.0, "--rate", help="Operations per second."),
    duration_s: float = typer.Option(10.0, "--duration", help="Seconds to run."),
    workers: int = typer.Option(4, "--workers", help="Threads, one Client each."),
    registry: str = REGISTRY_OPTION,
    config: str = CONFIG_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    timeout_s: float = typer.Option(2.0, "--timeout", help="Deadline per operation."),
) -> None:
    """Drive a bounded mixed workload; print success rate and latency percentiles."""
    if not 0 < rate <= MAX_RATE or not 0 < duration_s <= MAX_DURATION_S or workers < 1:
        raise fail(f"need 0 < --rate <= {MAX_RATE:g}, 0 < --duration <= "
                   f"{MAX_DURATION_S:g} and --workers >= 1", 2)
    result = run_load(registry_endpoint(registry, config), rate, duration_s, workers, timeout_s)
    if json_out:
        print_json(result)
        return
    rows = [[k, v["count"], f"{v['success_rate']:.1%}", v["p50_ms"], v["p95_ms"], v["p99_ms"]]
            for k, v in {**result["kinds"], "total": result["total"]}.items()]
    print_table(f"load: {rate:g}/s for {duration_s:g} s", ["kind", "count", "success",
                                                          "p50 ms", "p95 ms", "p99 ms"], rows)
