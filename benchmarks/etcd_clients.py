"""Which etcd client the mesh uses, on evidence; writes benchmarks/results/etcd_clients.json.

    python benchmarks/etcd_clients.py [--gets 2000] [--puts 500] [--out PATH]

Run it with an interpreter that has the PyPI candidates installed beside the project's own
dependencies (they are not project dependencies), e.g.:

    python3 -m venv /tmp/etcd-venv && /tmp/etcd-venv/bin/pip install etcd3gw aetcd etcd3 \
        pydantic pyzmq msgpack && /tmp/etcd-venv/bin/python benchmarks/etcd_clients.py

Against one real etcd member (Debian's /usr/bin/etcd) on loopback, for each client:
whether it imports (``etcd3`` with today's protobuf), the threads it adds once it has a
client and one watch running, GET latency p50/p99 of one key, and watch reliability: every
one of ``--puts`` writes to a prefix seen once, in order, by a prefix watch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.etcd import EtcdClient, Watcher  # noqa: E402
from common.testing.etcd import EtcdCluster  # noqa: E402
from common.testing.mesh import free_ports  # noqa: E402
from common.testing.wait import wait_until  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "etcd_clients.json"
ADDRESS = "127.0.12.1"


def native_threads() -> int:
    """Every thread of this process, Python's and native ones (grpc's)."""
    return len(os.listdir("/proc/self/task"))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def _latency(times: list[float]) -> dict[str, float]:
    return {"get_p50_ms": _pct(times, 0.5), "get_p99_ms": _pct(times, 0.99)}


def _in_order(values: list[str], puts: int) -> dict[str, Any]:
    expected = [str(i) for i in range(puts)]
    return {"events_seen": len(values), "all_once_in_order": values == expected}


def stdlib(url: str, port: int, gets: int, puts: int, tag: str) -> dict[str, Any]:
    before = native_threads()
    client = EtcdClient([url])
    seen: list[str] = []
    watcher = Watcher(EtcdClient([url]), f"{tag}/", lambda rev, kvs: None,
                      lambda events: seen.extend(e.kv.value for e in events)).start()
    wait_until(lambda: watcher.available, 5.0)
    threads = native_threads() - before
    client.put(f"{tag}-k", "v")
    times = []
    for _ in range(gets):
        start = time.perf_counter()
        client.get(f"{tag}-k")
        times.append(time.perf_counter() - start)
    for i in range(puts):
        client.put(f"{tag}/{i:05d}", str(i))
    wait_until(lambda: len(seen) >= puts, 10.0, what="watch events")
    watcher.stop()
    return {"imports": True, "threads_added": threads, **_latency(times),
            **_in_order(seen, puts), "dependencies": "none (stdlib http.client)"}


def etcd3gw_client(url: str, port: int, gets: int, puts: int, tag: str) -> dict[str, Any]:
    import etcd3gw

    before = native_threads()
    client = etcd3gw.client(host=ADDRESS, port=port, timeout=1)
    events, cancel = client.watch_prefix(f"{tag}/")
    seen: list[str] = []

    def drain() -> None:
        for event in events:
            seen.append(event["kv"]["value"].decode() if isinstance(event["kv"]["value"], bytes)
                        else event["kv"]["value"])

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    time.sleep(0.5)  # the watch request is sent from the library's own thread
    threads = native_threads() - before
    client.put(f"{tag}-k", "v")
    times = []
    for _ in range(gets):
        start = time.perf_counter()
        client.get(f"{tag}-k")
        times.append(time.perf_counter() - start)
    for i in range(puts):
        client.put(f"{tag}/{i:05d}", str(i))
    wait_until(lambda: len(seen) >= puts, 10.0, what="watch events")
    cancel()
    return {"imports": True, "threads_added": threads, **_latency(times),
            **_in_order(seen, puts), "dependencies": "requests, urllib3, futurist, pbr, ..."}


def aetcd_client(url: str, port: int, gets: int, puts: int, tag: str) -> dict[str, Any]:
    import aetcd

    async def main() -> dict[str, Any]:
        before = native_threads()
        client = aetcd.Client(host=ADDRESS, port=port, timeout=1)
        await client.connect()
        seen: list[str] = []
        watch = await client.watch_prefix(f"{tag}/".encode())

        async def drain() -> None:
            async for event in watch:
                seen.append(event.kv.value.decode())

        task = asyncio.create_task(drain())
        await client.put(f"{tag}-k".encode(), b"v")
        threads = native_threads() - before
        times = []
        for _ in range(gets):
            start = time.perf_counter()
            await client.get(f"{tag}-k".encode())
            times.append(time.perf_counter() - start)
        for i in range(puts):
            await client.put(f"{tag}/{i:05d}".encode(), str(i).encode())
        deadline = time.monotonic() + 10
        while len(seen) < puts and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        await client.close()
        return {"imports": True, "threads_added": threads, **_latency(times),
                **_in_order(seen, puts),
                "dependencies": "grpcio, protobuf; an asyncio loop in the caller"}

    return asyncio.run(main())


def etcd3_client(url: str, port: int, gets: int, puts: int, tag: str) -> dict[str, Any]:
    import etcd3  # noqa: F401 (fails with protobuf >= 4)

    return {"imports": True}


CANDIDATES = {"etcd3": etcd3_client, "stdlib_gateway (common.etcd)": stdlib,
              "etcd3gw": etcd3gw_client, "aetcd": aetcd_client}


def one(name: str, url: str, port: int, gets: int, puts: int, tag: str) -> dict[str, Any]:
    try:
        return CANDIDATES[name](url, port, gets, puts, tag)
    except Exception as exc:  # noqa: BLE001 (the evidence: what failed and how)
        return {"imports": not isinstance(exc, ImportError | TypeError),
                "error": f"{type(exc).__name__}: {str(exc)[:200]}"}


def run(gets: int = 2000, puts: int = 500) -> dict[str, Any]:
    """Each client in a process of its own (a failed import leaves protobuf state behind)."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="etcd-clients-") as tmp, \
            EtcdCluster(Path(tmp), [ADDRESS], tuple(free_ports(2, ADDRESS))) as etcd:  # type: ignore[arg-type]
        for n, name in enumerate(CANDIDATES):
            out = subprocess.run([sys.executable, __file__, "--one", name, "--url",
                                  etcd.endpoints[0], "--port", str(etcd.members[0].client_port),
                                  "--gets", str(gets), "--puts", str(puts), "--tag", f"t{n}"],
                                 capture_output=True, text=True, timeout=120)
            results[name] = json.loads(out.stdout) if out.returncode == 0 else {
                "error": out.stderr[-300:]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--puts", type=int, default=500)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="t", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.url, args.port, args.gets, args.puts, args.tag)))
        return
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "python": sys.version.split()[0], "gets": args.gets, "puts": args.puts,
              "clients": run(args.gets, args.puts)}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
