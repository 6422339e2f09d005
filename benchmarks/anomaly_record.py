"""Record the reference mesh under ``mesh load`` at varied rates, for benchmarks/anomaly.py.

Starts startup_config.yaml moved by ``--port-offset`` (state and logs in a temporary folder),
waits until the central hub sees every agent passing, runs ``mesh load`` at each of ``--rates``
for ``--phase`` seconds, and meanwhile reads the central hub twice a second: ``/metrics`` (each
agent's cumulative requests, errors and latency buckets) and ``/api/health`` (each agent's
report sequence number and heartbeat age, each GPU's VRAM).  Then ``mesh down``.

It writes, gzipped JSON: per agent its host, dependencies, per-second deltas of requests,
errors and buckets (seconds without requests left out) and its heartbeat arrival times; per GPU
its VRAM used each second.  Heartbeats are ``[seq, arrival]``: a report the reads missed
(two arrived between reads) is a gap in ``seq``.  That is the "normal" that
benchmarks/anomaly.py replays.

    .venv/bin/python benchmarks/anomaly_record.py [--port-offset 5000] [--rates 5 20 10 40 15]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common.config import load_config  # noqa: E402
from common.testing.reference import reference_config  # noqa: E402

MESH = [str(ROOT / ".venv" / "bin" / "mesh")]
POLL_S = 0.5
HIST = "mesh_agent_request_duration_seconds"


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return resp.read()


def counters(text: str) -> dict[str, list[Any]]:
    """agent -> [requests, errors, {le: count}] summed over actions."""
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            agent = s.labels.get("agent")
            if agent is None:
                continue
            row = out.setdefault(agent, [0, 0, {}])
            if s.name == "mesh_agent_requests_total":
                row[0] += int(s.value)
            elif s.name == "mesh_agent_errors_total":
                row[1] += int(s.value)
            elif s.name == HIST + "_bucket":
                le = s.labels["le"]
                row[2][le] = row[2].get(le, 0) + int(s.value)
    return out


class Recorder(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.t0 = time.time()
        self.snaps: list[tuple[float, dict[str, list[Any]]]] = []
        self.beats: dict[str, dict[int, float]] = {}
        self.gpus: list[tuple[float, dict[str, float]]] = []
        self.agents: dict[str, str] = {}

    def run(self) -> None:
        while not self.stop.wait(POLL_S):
            try:
                metrics = counters(get(self.url + "/metrics").decode())
                health = json.loads(get(self.url + "/api/health"))
            except (OSError, ValueError):
                continue
            now = time.time()
            self.snaps.append((now - self.t0, metrics))
            for a in health["agents"]:
                self.agents[a["name"]] = a["host"]
                if a["heartbeat_age_s"] is not None and a["seq"]:
                    arrival = health["generated_at"] - a["heartbeat_age_s"] - self.t0
                    self.beats.setdefault(a["name"], {}).setdefault(a["seq"], round(arrival, 3))
            self.gpus.append((now - self.t0, {f"{h['name']}/{g['gpu']}": g["used_bytes"]
                                              for h in health["hosts"] for g in h["gpus"]}))


def per_second(rec: Recorder, duration_s: int) -> dict[str, Any]:
    """Per-second deltas of each agent's counters (the snapshot nearest each second)."""
    les: list[str] = []
    agents: dict[str, Any] = {}
    marks = [min(rec.snaps, key=lambda s: abs(s[0] - t))[1] for t in range(duration_s + 1)]
    for name in rec.agents:
        rows = []
        for i in range(duration_s):
            a, b = marks[i].get(name), marks[i + 1].get(name)
            if a is None or b is None or b[0] <= a[0]:
                continue
            les = les or sorted(b[2], key=float)
            rows.append([i, b[0] - a[0], b[1] - a[1],
                         [b[2].get(le, 0) - a[2].get(le, 0) for le in les]])
        agents[name] = {"host": rec.agents[name], "steps": rows,
                        "beats": sorted(rec.beats.get(name, {}).items())}
    return {"le": les, "agents": agents}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-offset", type=int, default=5000)
    parser.add_argument("--rates", type=float, nargs="+", default=[5, 20, 10, 40, 15, 30])
    parser.add_argument("--phase", type=float, default=40.0, help="seconds per rate")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "data" /
                                             "anomaly_trace.json.gz"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="anomaly-record-"))
    config_data = reference_config(work, args.port_offset)
    config = work / "mesh.yaml"
    config.write_text(yaml.safe_dump(config_data, sort_keys=False))
    resolved = load_config(config)
    hub = next(a for a in resolved.providers("hub") if resolved.has_role(a.host, "hub_central"))
    url = f"http://{resolved.hosts[hub.host].address}:{hub.ports['http_port']}"
    deps = {a["name"]: a.get("dependencies", []) for a in config_data["agents"]}
    subprocess.run([*MESH, "up", "--host", "all", "--config", str(config), "--detach"],
                   check=True, timeout=120, cwd=work)  # its run/ folder is the work folder's
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if json.loads(get(url + "/api/health"))["counts"]["passing"] >= 78:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(1.0)  # polling the hub until every agent passes, bounded by deadline
        rec = Recorder(url)
        rec.start()
        loads = []
        for rate in args.rates:
            out = subprocess.run([*MESH, "load", "--config", str(config), "--rate", str(rate),
                                  "--duration", str(args.phase), "--json"], capture_output=True,
                                 text=True, timeout=args.phase + 120, cwd=work)
            loads.append({"rate": rate, "result": json.loads(out.stdout or "{}")})
        rec.stop.set()
        rec.join(10)
    finally:
        subprocess.run([*MESH, "down", "--config", str(config)], timeout=180, cwd=work)
    duration = int(rec.snaps[-1][0]) if rec.snaps else 0
    trace = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "hub": hub.name, "rates": args.rates, "phase_s": args.phase,
             "duration_s": duration, "deps": deps,
             "loads": [{"rate": x["rate"], "total": x["result"].get("total")} for x in loads],
             **per_second(rec, duration),
             "gpus": [[round(t, 2), g] for t, g in rec.gpus]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt") as f:
        json.dump(trace, f, separators=(",", ":"))
    print(f"{args.out}: {duration} s, {len(trace['agents'])} agents, "
          f"{Path(args.out).stat().st_size} bytes")


if __name__ == "__main__":
    main()
