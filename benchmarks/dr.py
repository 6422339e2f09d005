"""Disaster recovery benchmark: RTO and RPO for losing MainPC and losing PC2, backup time, the
longest writer stall during a backup, restore time.

    sudo .venv/bin/python benchmarks/dr.py [--trials 10] -> benchmarks/results/dr.json

What is real: two network namespaces joined by a veth pair (common.testing.netns); each host
its own folder, config copy and ``mesh up`` (common.testing.drmesh): the registry primary on
MainPC, the replica on PC2, a stateful StoreAgent ``Memory`` on PC2 with ``failover: {host:
main_pc, state: stateful}`` (its SQLite copy shipped every ``failover.ship_every_s``), an
EchoAgent on PC2.  A host is lost the hard way: every process in its namespace SIGKILLed, the
namespace deleted.  Between trials the host comes back (namespace restored, ``mesh up``).

* PC2 loss: a writer on MainPC stores an item every 20 ms.  RTO: loss -> the first write the
  store acknowledges again (now on MainPC).  RPO: the acknowledged writes missing afterwards,
  in seconds (last acknowledged before the loss minus the newest one still there).  The trial
  ends when PC2 is back and the store has gone home.
* MainPC loss: a writer on PC2 sets a registry admission every 20 ms (the registry's data).
  RTO: loss -> the replica takes a write again and a PC2 client resolves Echo afresh and
  calls it.  RPO: admissions acknowledged by the primary but missing on the replica, in
  seconds.  Failback between trials: MainPC back (it comes back passive), then the replica is
  restarted (``mesh restart RegistryReplica``), so the primary is active again.
* Backup: the store filled with --items items, ``mesh backup`` of both hosts while the writer
  stores one item every 5 ms; the writer's longest acknowledged-write latency during the
  backup (and its p99 before it); ``mesh restore`` into a wiped folder, timed.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.base_agent.client import Client  # noqa: E402
from common.testing.drmesh import STORE, NsMesh  # noqa: E402
from common.testing.netns import TwoHosts  # noqa: E402
from common.testing.wait import wait_until  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "dr.json"
WRITE_EVERY_S = 0.02
NO_BREAKER = 2**31  # the benchmark measures recovery itself, not a client's circuit breaker


class Writer:
    """Calls fn(n) every interval in its own thread; keeps (n, acknowledged at, latency)."""

    def __init__(self, fn, interval_s: float = WRITE_EVERY_S) -> None:
        self.fn, self.interval_s = fn, interval_s
        self.acked: list[tuple[int, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.interval_s):
            n += 1
            t0 = time.monotonic()
            try:
                self.fn(n)
            except Exception:  # noqa: BLE001 - a failed write is simply not acknowledged
                continue
            now = time.monotonic()
            self.acked.append((n, now, now - t0))

    def last_before(self, t: float) -> tuple[int, float] | None:
        found = [(n, at) for n, at, _ in self.acked if at <= t]
        return found[-1] if found else None

    def first_after(self, t: float) -> float | None:
        return next((at for _, at, _ in self.acked if at > t), None)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def pc2_trials(mesh: NsMesh, net: TwoHosts, trials: int) -> list[dict[str, Any]]:
    client = Client(mesh.registries, ctx=mesh.ctx, source="writer", breaker_threshold=NO_BREAKER)
    writer = Writer(lambda n: client.call(STORE, "store", {"text": f"w{n}", "key": f"w{n}"},
                                          timeout_s=0.5, retries=0, idempotent=False))
    results = []
    try:
        for trial in range(trials):
            time.sleep(3.0)  # shipping has run a few times since the last trial
            mesh.kill_host(1)
            net.remove(1)
            lost = time.monotonic()
            wait_until(lambda t=lost: writer.first_after(t), 30, interval_s=0.02,
                       what="writes acknowledged again")
            rto = writer.first_after(lost) - lost  # type: ignore[operator]
            last = writer.last_before(lost)
            rpo = _missing_s(mesh, writer, last, lambda n: _has_item(mesh, n))
            results.append({"trial": trial, "rto_s": round(rto, 3), "rpo_s": round(rpo, 3)})
            print(f"PC2 loss {trial}: RTO {rto:.2f} s, RPO {rpo:.3f} s", flush=True)
            net.restore(1)
            mesh.up(1)
            wait_until(lambda: _home(mesh), 60, interval_s=0.2, what="the store back home")
    finally:
        writer.stop()
        client.close()
    return results


def _has_item(mesh: NsMesh, n: int) -> bool:
    try:
        mesh.client.call(STORE, "get", {"key": f"w{n}"}, timeout_s=1.0, retries=1)
        return True
    except Exception:  # noqa: BLE001 - not found (or not answering): missing
        return False


def _missing_s(mesh: NsMesh, writer: Writer, last: tuple[int, float] | None, present) -> float:
    """Seconds of acknowledged writes lost: last acknowledged before the loss minus the newest
    acknowledged write that is still there (searching back from the last)."""
    if last is None:
        return 0.0
    acked = {n: at for n, at, _ in writer.acked}
    for n in range(last[0], 0, -1):
        if n in acked and present(n):
            return last[1] - acked[n]
    return last[1]


def _home(mesh: NsMesh) -> bool:
    pc2, main = mesh.agents("pc2"), mesh.agents("main_pc")
    return bool(pc2.get(STORE, {}).get("ready")) and f"{STORE}@failover" not in main


def main_pc_trials(mesh: NsMesh, net: TwoHosts, trials: int) -> list[dict[str, Any]]:
    pc2_ctx = net.context(1)
    client = Client(mesh.registries, ctx=pc2_ctx, source="writer", breaker_threshold=NO_BREAKER)
    reader = Client(mesh.registries, ctx=pc2_ctx, source="reader", breaker_threshold=NO_BREAKER)
    writer = Writer(lambda n: client.call_registry(
        "admit", {"name": "Bench", "endpoints": [f"tcp://10.9.9.9:{n}"]}, timeout_s=0.5,
        retries=0))
    results = []
    try:
        for trial in range(trials):
            time.sleep(1.0)
            mesh.kill_host(0)
            net.remove(0)
            mesh.observe_from(1)
            lost = time.monotonic()
            wait_until(lambda t=lost: writer.first_after(t), 30, interval_s=0.02,
                       what="the replica taking writes")
            resolved = wait_until(lambda: _resolves(reader), 30, interval_s=0.02,
                                  what="PC2 resolving Echo afresh")
            rto = max(writer.first_after(lost), resolved) - lost  # type: ignore[type-var]
            last = writer.last_before(lost)
            rpo = _missing_s(mesh, writer, last, lambda n: _admitted(reader) >= n)
            results.append({"trial": trial, "rto_s": round(rto, 3), "rpo_s": round(rpo, 3)})
            print(f"MainPC loss {trial}: RTO {rto:.2f} s, RPO {rpo:.3f} s", flush=True)
            net.restore(0)
            mesh.up(0)
            results[-1]["failback_restarts"] = _fail_back(mesh)
            mesh.observe_from(0)
    finally:
        writer.stop()
        client.close()
        reader.close()
        pc2_ctx.destroy(linger=0)
    return results


def _resolves(reader: Client) -> float | None:
    try:
        reader.invalidate("Echo")
        reader.call("Echo", "echo", 1, timeout_s=0.5, retries=0)
        return time.monotonic()
    except Exception:  # noqa: BLE001 - not yet
        return None


def _admitted(reader: Client) -> int:
    endpoints = reader.call_registry("snapshot", timeout_s=1.0)["admitted"].get("Bench", [])
    return int(endpoints[0].rsplit(":", 1)[1]) if endpoints else 0


def _pair(mesh: NsMesh) -> tuple[str | None, str | None]:
    states = []
    for endpoint in mesh.registries.split(","):
        try:
            info = mesh.client.call_endpoint(endpoint, "info", timeout_s=0.5, retries=0)
            states.append(info["pair"]["state"])
        except Exception:  # noqa: BLE001 - not answering
            states.append(None)
    return states[0], states[1]


def _fail_back(mesh: NsMesh) -> int:
    """MainPC's registry back (passive), then the replica restarted until the primary is
    active again; returns the restarts it took."""
    wait_until(lambda: _pair(mesh) == ("passive", "active"), 60, interval_s=0.2,
               what="MainPC back, passive, the replica active")
    for attempt in range(1, 4):
        mesh.ask("pc2", "restart", {"name": "RegistryReplica"})
        try:
            wait_until(lambda: _pair(mesh) == ("active", "passive"), 20, interval_s=0.2,
                       what="the primary active again")
            return attempt
        except TimeoutError:
            print(f"failback: still {_pair(mesh)} after restart {attempt}", flush=True)
    raise TimeoutError("the primary not active again after 3 restarts of the replica")


def backup_restore(mesh: NsMesh, items: int) -> dict[str, Any]:
    client = Client(mesh.registries, ctx=mesh.ctx, source="filler", breaker_threshold=NO_BREAKER)
    client.pipeline(STORE, "store", [{"text": f"filler item {i} " * 8} for i in range(items)],
                    window=256, batch=64, timeout_s=10.0)
    writer = Writer(lambda n: client.call(STORE, "store", {"text": f"b{n}"}, timeout_s=2.0,
                                          retries=0, idempotent=False), interval_s=0.005)
    time.sleep(3.0)
    before = [lat for _, _, lat in writer.acked]
    t0 = time.monotonic()
    took = {}
    for index, host in enumerate(("main_pc", "pc2")):
        out = subprocess.run([*mesh.net.prefix(index), sys.executable, "-m", "common.cli.main",
                              "backup", "--host", host, "--to", "bk", "--json",
                              "--config", "mesh.yaml"], cwd=mesh.folders[host],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        took[host] = json.loads(out.stdout)
    t1 = time.monotonic()
    time.sleep(1.0)
    writer.stop()
    client.close()
    during = [lat for _, at, lat in writer.acked if t0 <= at <= t1 + 0.5]
    folder = mesh.tmp / "restored"
    folder.mkdir()
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "common.cli.main", "restore",
                          str(mesh.folders["pc2"] / "bk"), "--config", "mesh.yaml"],
                         cwd=folder, capture_output=True, text=True, timeout=300)
    restore_s = time.monotonic() - started
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return {"items": items, "backup_s": {h: m["took_s"] for h, m in took.items()},
            "backup_bytes": {h: sum(f["bytes"] for f in m["files"]) for h, m in took.items()},
            "backup_wall_s": round(t1 - t0, 3),
            "writer_p99_before_s": round(_p(before, 0.99), 4),
            "writer_longest_during_backup_s": round(max(during), 4) if during else None,
            "writes_during_backup": len(during), "restore_s": round(restore_s, 3),
            "restored_files": len(json.loads((mesh.folders["pc2"] / "bk" / "manifest.json")
                                             .read_text())["files"])}


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rto = [r["rto_s"] for r in rows]
    rpo = [r["rpo_s"] for r in rows]
    return {"trials": len(rows), "rto_p50_s": round(statistics.median(rto), 3),
            "rto_p95_s": round(_p(rto, 0.95), 3), "rto_max_s": round(max(rto), 3),
            "rpo_max_s": round(max(rpo), 3), "rows": rows}


def run(trials: int, items: int, tmp: Path, only: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, scenario in (("pc2_loss", pc2_trials), ("main_pc_loss", main_pc_trials)):
        if only not in (None, name):
            continue
        folder = tmp / name
        folder.mkdir()
        with TwoHosts() as net:
            mesh = NsMesh(net, folder)
            try:
                mesh.up(0)
                mesh.up(1)
                wait_until(lambda m=mesh: m.agents("pc2").get(STORE, {}).get("ready"), 60,
                           interval_s=0.2, what="the mesh up")
                result[name] = _summary(scenario(mesh, net, trials))
                if name == "pc2_loss":
                    result["backup"] = backup_restore(mesh, items)
            finally:
                mesh.down()
                mesh.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--only", choices=["pc2_loss", "main_pc_loss"], default=None)
    args = parser.parse_args()
    reason = TwoHosts.unavailable_reason()
    if reason:
        sys.exit(f"benchmarks/dr.py needs network namespaces: {reason}")
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix="mesh-dr-"))
    started = time.time()
    result = run(args.trials, args.items, tmp, args.only)
    shutil.rmtree(tmp, ignore_errors=True)  # kept when a trial fails: its logs say why
    from common.config.failover import FailoverTimings
    timings = FailoverTimings(ship_every_s=1.0)
    doc = {"benchmark": "dr", "command": "python benchmarks/dr.py --trials "
           f"{args.trials} --items {args.items}", "host": platform.node(),
           "python": platform.python_version(), "started_at": started,
           "took_s": round(time.time() - started, 1),
           "timings": timings.model_dump(),
           "rpo_bound_s": timings.ship_every_s + 1.0,
           "targets": {"rto_p95_s": 5.0, "writer_stall_s": 0.1}, **result}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: v for k, v in doc.items() if k not in ("pc2_loss", "main_pc_loss")},
                     indent=1))
    for name in ("pc2_loss", "main_pc_loss"):
        if name in doc:
            print(name, {k: v for k, v in doc[name].items() if k != "rows"})


if __name__ == "__main__":
    main()
