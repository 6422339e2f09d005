"""Discovery and call-path benchmark; writes benchmarks/results/discovery.json.

    .venv/bin/python benchmarks/discovery.py [--trials 3] [--rounds 20000] [--out PATH]

In one run, against real processes on TCP loopback (client pinned to core 0, servers to
core 1, as the machine probe did for its "split" figures):
  * raw pyzmq REQ/REP echo of the lookup request's bytes: the physical baseline;
  * registry lookup (uncached) with 77 instances registered, through Client;
  * cached resolve (Client.resolve on a warm cache);
  * a call through Client + BaseAgent (EchoAgent) vs the raw round trip;
  * pipelined calls to one agent (Client.pipeline: 64 calls to a message, and one call a
    message) vs raw DEALER/ROUTER pipelining of one message per request;
  * msgpack vs JSON for the request envelope (why the protocol uses msgpack).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.base_agent import protocol  # noqa: E402
from common.base_agent.client import Client  # noqa: E402
from common.base_agent.protocol import Request  # noqa: E402
from common.testing.processes import ProcessTracker  # noqa: E402
from common.testing.wait import wait_registered  # noqa: E402

RAW_SERVER = """
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.REP if sys.argv[1] == "rep" else zmq.ROUTER)
s.setsockopt(zmq.LINGER, 0); s.setsockopt(zmq.SNDHWM, 0); s.setsockopt(zmq.RCVHWM, 0)
port = s.bind_to_random_port("tcp://127.0.0.1"); print(port, flush=True)
while True:
    s.send_multipart(s.recv_multipart())
"""


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6  # noqa: E731
    return {"p50_us": round(pick(0.50), 1), "p99_us": round(pick(0.99), 1), "n": len(ordered)}


def pin(pid: int, core: int) -> None:
    if os.cpu_count() and os.cpu_count() >= 2:
        os.sched_setaffinity(pid, {core})


def start_raw(kind: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", RAW_SERVER, kind], stdout=subprocess.PIPE,
                            text=True)
    pin(proc.pid, 1)
    return proc, f"tcp://127.0.0.1:{proc.stdout.readline().strip()}"


def time_loop(fn, rounds: int, warmup: int = 500) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def raw_reqrep(frames: list[bytes], rounds: int) -> dict[str, float]:
    proc, endpoint = start_raw("rep")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(endpoint)
    try:
        return percentiles(time_loop(lambda: (sock.send_multipart(frames),
                                              sock.recv_multipart()), rounds))
    finally:
        sock.close()
        ctx.term()
        proc.kill()
        proc.wait()


def raw_pipeline(frames: list[bytes], total: int, window: int) -> float:
    proc, endpoint = start_raw("router")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart(frames)
        sock.recv_multipart()
        t0 = time.perf_counter()
        sent = received = 0
        while received < total:
            while sent < total and sent - received < window:
                sock.send_multipart(frames)
                sent += 1
            if not sock.poll(5000):
                raise TimeoutError("raw pipeline stalled")
            while received < total:  # everything that has arrived, without a poll each
                try:
                    sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                received += 1
        return total / (time.perf_counter() - t0)
    finally:
        sock.close()
        ctx.term()
        proc.kill()
        proc.wait()


def codec_costs(rounds: int = 20000) -> dict[str, dict[str, float]]:
    body = {"id": "a1b2c3d4e5f6-17", "action": "lookup", "payload": {"name": "NLUAgent"},
            "source": "client", "ts": time.time()}
    out = {}
    for name, dumps, loads in (("msgpack", msgpack.packb, msgpack.unpackb),
                               ("json", lambda b: json.dumps(b).encode(), json.loads)):
        data = dumps(body)
        t0 = time.perf_counter()
        for _ in range(rounds):
            loads(dumps(body))
        out[name] = {"bytes": len(data),
                     "encode_decode_us": round((time.perf_counter() - t0) / rounds * 1e6, 2)}
    return out


def register_roster(client: Client, registry: str, count: int) -> None:
    for i in range(count):
        client.call_endpoint(registry, protocol.ACTION_REGISTER, {
            "name": f"Agent{i:02d}", "instance_id": f"agent{i:02d}-bench",
            "endpoint": f"tcp://127.0.0.{1 + i % 2}:{7000 + i}", "host": "127.0.0.1",
            "capabilities": ["bench"], "pid": 1, "heartbeat_interval_s": 3600.0})


def mesh_measurements(procs: ProcessTracker, tmp: str, rounds: int, pipeline_total: int,
                      window: int) -> dict:
    reg = procs.registry(os.path.join(tmp, "bench.db"), interval_s=1.0)
    agent = procs.agent(reg.endpoint, "BenchEcho", interval_s=1.0)
    pin(reg.pid, 1)
    pin(agent.pid, 1)
    client = Client(reg.endpoint, source="bench")
    register_roster(client, reg.endpoint, 76)
    wait_registered(client, "BenchEcho")
    assert len(client.call_endpoint(reg.endpoint, "list")) >= 77
    lookup = percentiles(time_loop(lambda: client.call_endpoint(
        reg.endpoint, protocol.ACTION_LOOKUP, {"name": "Agent40"}, peer="ServiceRegistry"),
        rounds))
    client.resolve("BenchEcho")
    cached = time_loop(lambda: client.resolve("BenchEcho"), 100_000)
    call = percentiles(time_loop(lambda: client.call("BenchEcho", "echo", {"name": "Agent40"}),
                                 rounds))
    rates = {batch: pipelined_rate(client, pipeline_total, window, batch) for batch in (1, 64)}
    client.close()
    return {"lookup": lookup, "cached_resolve_us": round(sum(cached) / len(cached) * 1e6, 3),
            "call": call, "pipelined_calls_per_s": rates[64],
            "pipelined_unbatched_calls_per_s": rates[1]}


def pipelined_rate(client: Client, total: int, window: int, batch: int) -> int:
    client.pipeline("BenchEcho", "echo", [1] * 1000, window=window, batch=batch)
    t0 = time.perf_counter()
    client.pipeline("BenchEcho", "echo", [{"seq": 1}] * total, window=window, batch=batch)
    return round(total / (time.perf_counter() - t0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--pipeline", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=3,
                        help="whole runs (baseline and ours each time); the report is the median")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/discovery.json"))
    args = parser.parse_args()
    pin(os.getpid(), 0)
    trials = []
    for i in range(args.trials):
        print(f"trial {i + 1} of {args.trials}", flush=True)
        trials.append(one_trial(args))
    report = build_report(*(median([t[k] for t in trials]) for k in range(3)), args)
    report["trials"] = [{"ratios": build_report(*t, args)["ratios"]} for t in trials]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def one_trial(args: argparse.Namespace) -> tuple[dict, float, dict]:
    frames = protocol.encode_request(Request("lookup", {"name": "Agent40"}, source="bench"))
    print(f"  raw REQ/REP echo, {args.rounds} round trips ...", flush=True)
    raw = raw_reqrep(frames, args.rounds)
    print(f"  raw DEALER/ROUTER pipeline, {args.pipeline} requests ...", flush=True)
    raw_pipe = raw_pipeline(frames, args.pipeline, args.window)
    print("  registry with 77 instances, client + BaseAgent ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        procs = ProcessTracker()
        try:
            ours = mesh_measurements(procs, tmp, args.rounds, args.pipeline, args.window)
        finally:
            procs.close()
    return raw, raw_pipe, ours


def median(values: list):
    """The median of numbers, field by field for dicts of them (a noisy machine's runs)."""
    if isinstance(values[0], dict):
        return {k: median([v[k] for v in values]) for k in values[0]}
    return statistics.median(values) if isinstance(values[0], int | float) else values[0]


def build_report(raw: dict, raw_pipe: float, ours: dict, args: argparse.Namespace) -> dict:
    ratios = {
        "lookup_p99_over_raw_p99": round(ours["lookup"]["p99_us"] / raw["p99_us"], 2),
        "call_p50_over_raw_p50": round(ours["call"]["p50_us"] / raw["p50_us"], 2),
        "pipelined_over_raw_pipelined": round(ours["pipelined_calls_per_s"] / raw_pipe, 2),
        "unbatched_pipelined_over_raw_pipelined":
            round(ours["pipelined_unbatched_calls_per_s"] / raw_pipe, 2),
    }
    targets = {
        "lookup_p99_le_2x_raw_p99": ratios["lookup_p99_over_raw_p99"] <= 2.0,
        "cached_resolve_le_10us": ours["cached_resolve_us"] <= 10.0,
        "call_p50_le_1.5x_raw_p50": ratios["call_p50_over_raw_p50"] <= 1.5,
        "pipelined_ge_50k_per_s": ours["pipelined_calls_per_s"] >= 50_000,
    }
    return {
        "command": "python benchmarks/discovery.py",
        "statistic": f"median of {args.trials} trials, each with its own baseline",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version()},
        "method": "TCP loopback; client pinned to core 0, servers to core 1",
        "instances_registered": 77, "rounds": args.rounds,
        "raw_reqrep_echo": raw, "raw_pipelined_per_s": round(raw_pipe),
        "registry_lookup_uncached": ours["lookup"],
        "cached_resolve_us": ours["cached_resolve_us"],
        "call_via_client_and_baseagent": ours["call"],
        "pipelined_calls_per_s": ours["pipelined_calls_per_s"],
        "pipelined_unbatched_calls_per_s": ours["pipelined_unbatched_calls_per_s"],
        "codec": codec_costs(), "ratios": ratios, "targets_met": targets,
    }


if __name__ == "__main__":
    main()
