"""The etcd half of the N-hosts benchmark: ``run() -> dict`` (benchmarks/nhosts.py calls it).

    .venv/bin/python benchmarks/nhosts_etcd.py [--samples 2000] [--trials 20] [--out PATH]

In one run, on TCP loopback, every server a real process: a 3-member etcd cluster (Debian's
/usr/bin/etcd, on 127.0.12.1-3), a registry agent on etcd per "host" (EtcdRegistry on each of
the three addresses) and, beside them, today's SQLite ServiceRegistry; 80 instances
registered in both.  Measured:
  * lookup of one name: through the local etcd registry agent (its watch-fed copy), a direct
    etcd GET of the name's keys (a linearizable range through the gateway, what a client
    without a local agent would do), and the SQLite registry; p50/p99 in ms, interleaved;
  * registration to every watcher: a RegistryView on each host's agent (and three on the
    SQLite registry for comparison); time from sending the registration until the last
    watcher holds it; p50/p99;
  * leader failover: three candidate processes, the leader killed (SIGKILL) each trial; time
    until another one holds the key; p50/p95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.base_agent.client import Client  # noqa: E402
from common.base_agent.discovery import RegistryView  # noqa: E402
from common.election import current_leader  # noqa: E402
from common.etcd import EtcdClient  # noqa: E402
from common.testing.etcd import EtcdCluster  # noqa: E402
from common.testing.mesh import free_ports  # noqa: E402
from common.testing.processes import ProcessTracker  # noqa: E402
from common.testing.wait import wait_until  # noqa: E402
from service_registry.etcd_agent import PREFIX  # noqa: E402
from service_registry.etcd_cache import name_prefix  # noqa: E402

HOSTS = ("127.0.12.1", "127.0.12.2", "127.0.12.3")
INSTANCES = 80
OUT = ROOT / "benchmarks" / "results" / "nhosts_etcd.json"
CANDIDATE = """
import sys, time
from common.election import Election
Election(sys.argv[1].split(","), "bench_leader", sys.argv[2], ttl_s=float(sys.argv[3])).start()
time.sleep(3600)
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _summary(values_s: list[float], *qs: float) -> dict[str, Any]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "mean_ms": round(statistics.fmean(ms), 3),
            **{f"p{round(q * 100)}_ms": _pct(ms, q) for q in qs}}


def _record(i: int, interval_s: float = 60.0) -> dict[str, Any]:
    return {"name": f"Agent{i}", "instance_id": f"agent-{i}", "host": "h",
            "endpoint": f"tcp://127.0.12.9:{20000 + i}", "capabilities": ["bench"],
            "pid": 1, "heartbeat_interval_s": interval_s}


def _servers(procs: ProcessTracker, etcd: EtcdCluster, workdir: Path) -> dict[str, Any]:
    settings = json.dumps({"etcd_endpoints": etcd.endpoints})
    agents = [procs.mesh("agent", "run", "service_registry.etcd_agent:EtcdRegistry",
                         "--name", f"Registry{i}", "--endpoint", f"tcp://{host}:0",
                         "--settings", settings, "--log-level", "WARNING")
              for i, host in enumerate(HOSTS)]
    sqlite = procs.registry(str(workdir / "registry.db"), endpoint=f"tcp://{HOSTS[0]}:0")
    return {"etcd_agents": [a.endpoint for a in agents], "sqlite": sqlite.endpoint}


def _lookups(client: Client, etcd: EtcdClient, servers: dict[str, Any],
             samples: int) -> dict[str, Any]:
    local, sqlite = servers["etcd_agents"][0], servers["sqlite"]
    times: dict[str, list[float]] = {"local_etcd_agent": [], "etcd_get": [], "sqlite": []}
    for i in range(samples):
        payload = {"name": f"Agent{i % INSTANCES}"}
        for kind in times:
            start = time.perf_counter()
            if kind == "etcd_get":
                etcd.get_prefix(name_prefix(PREFIX, payload["name"]))
            else:
                client.call_endpoint(local if kind == "local_etcd_agent" else sqlite,
                                     "lookup", payload, timeout_s=2.0)
            times[kind].append(time.perf_counter() - start)
    out = {kind: _summary(values, 0.5, 0.99) for kind, values in times.items()}
    out["p99_local_over_sqlite"] = round(out["local_etcd_agent"]["p99_ms"]
                                         / out["sqlite"]["p99_ms"], 2)
    return out


def _fanout(client: Client, registry: str, watched: list[str], rounds: int,
            tag: str) -> dict[str, Any]:
    """Register `rounds` instances at registry; time until every view of `watched` has each."""
    seen: list[dict[str, float]] = [{} for _ in watched]
    views: list[RegistryView] = []

    def noticed(index: int) -> None:
        now = time.perf_counter()
        for iid in list(views[index].instances):
            if iid.startswith(tag):
                seen[index].setdefault(iid, now)

    for index, endpoint in enumerate(watched):
        views.append(RegistryView(endpoint, on_change=lambda _name, i=index: noticed(i)))
        views[-1].start()
    sent: dict[str, float] = {}
    try:
        for i in range(rounds):
            iid = f"{tag}{i}"
            record = {**_record(1000 + i), "name": iid, "instance_id": iid}
            sent[iid] = time.perf_counter()
            client.call_endpoint(registry, "register", record, timeout_s=2.0)
            wait_until(lambda iid=iid: all(iid in s for s in seen), 5.0, interval_s=0.001,
                       what="every watcher")
    finally:
        for view in views:
            view.stop()
    return _summary([max(s[iid] for s in seen) - t for iid, t in sent.items()], 0.5, 0.99)


def _failover(etcd: EtcdCluster, trials: int, ttl_s: float) -> dict[str, Any]:
    client = EtcdClient(etcd.endpoints)
    procs: dict[str, subprocess.Popen] = {}

    def spawn(name: str) -> None:
        procs[name] = subprocess.Popen([sys.executable, "-c", CANDIDATE, ",".join(etcd.endpoints),
                                        name, str(ttl_s)], cwd=ROOT)

    times = []
    try:
        for name in ("c0", "c1", "c2"):
            spawn(name)
        for _ in range(trials):
            leader = wait_until(lambda: current_leader(client, "bench_leader"), 10.0,
                                interval_s=0.01, what="a leader")
            time.sleep(ttl_s)  # a settled leader, as in a running mesh (its rewrites going)
            procs[leader].kill()
            killed = time.perf_counter()
            procs[leader].wait(5)
            wait_until(lambda old=leader: current_leader(client, "bench_leader") not in (None, old),
                       10.0, interval_s=0.005, what="a new leader")
            times.append(time.perf_counter() - killed)
            spawn(leader)  # back as a candidate
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(5)
    return {"ttl_s": ttl_s, **_summary(times, 0.5, 0.95), "max_ms": round(max(times) * 1000, 1),
            "times_ms": [round(t * 1000) for t in times]}


def run(samples: int = 2000, trials: int = 20, fanout_rounds: int = 200,
        ttl_s: float = 1.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nhosts-etcd-") as tmp:
        workdir = Path(tmp)
        procs = ProcessTracker(str(workdir))
        ports = free_ports(2, HOSTS[0])
        with EtcdCluster(workdir / "etcd", HOSTS, (ports[0], ports[1])) as etcd:
            client = Client(source="bench")
            etcd_client = EtcdClient(etcd.endpoints)
            try:
                servers = _servers(procs, etcd, workdir)
                for i in range(INSTANCES):
                    client.call_endpoint(servers["etcd_agents"][0], "register", _record(i))
                    client.call_endpoint(servers["sqlite"], "register", _record(i))
                load_before = os.getloadavg()
                result = {
                    "setup": {"etcd_members": len(HOSTS), "registry_agents": len(HOSTS),
                              "instances": INSTANCES, "samples": samples,
                              "etcd_version": subprocess.run(
                                  ["etcd", "--version"], capture_output=True,
                                  text=True).stdout.splitlines()[0]},
                    "lookup": _lookups(client, etcd_client, servers, samples),
                    "registration_to_every_watcher": {
                        "etcd_3_hosts": _fanout(client, servers["etcd_agents"][0],
                                                servers["etcd_agents"], fanout_rounds, "E"),
                        "sqlite_3_watchers": _fanout(client, servers["sqlite"],
                                                     [servers["sqlite"]] * 3, fanout_rounds,
                                                     "S")},
                    "leader_failover": _failover(etcd, trials, ttl_s),
                    "load_average_1m": {"before": round(load_before[0], 2),
                                        "after": round(os.getloadavg()[0], 2),
                                        "cpus": os.cpu_count()},
                }
            finally:
                client.close()
                procs.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              **run(args.samples, args.trials)}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
