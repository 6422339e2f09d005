"""Chaos soak: the full reference mesh under load while processes and the network fail.

    .venv/bin/python benchmarks/chaos.py --duration S --seed N [--out PATH] [--no-partition]
                                         [--rate R] [--migrate-every S] [--only KINDS]

Runs startup_config.yaml (78 processes, relocated: chaos_mesh) with one launcher per host,
drives `mesh load`'s requests at ``--rate`` (chaos_load: idempotent operations retried within a
10 s budget), migrates a leaf agent every ``--migrate-every`` s (chaos_migrate), and injects a
seeded plan of faults (chaos_faults): ``kill -9`` and SIGSTOP/SIGCONT of random agents, of the
registry, of the model manager and of each hub, and PC2 partitions, with bounded overlap
(chaos_soak).  It writes ``benchmarks/results/chaos.json`` (chaos_report): faults injected by
type, recovery time per fault and p50/p95/max per type and overall, requests ok/failed,
registrations lost, journal entries lost, VRAM leases leaked, processes leaked, and the
acceptance criteria; it prints progress every 10 s and exits 1 when a criterion fails (each
named), 2 when the soak could not run.  The JSON is written in every case.

Isolation: as root with ``ip`` and ``nft`` the soak runs in two fresh network namespaces joined
by a veth pair (chaos_net): MainPC's, where this script re-runs itself with ``--inside`` to drive
the mesh, and PC2's.  Their loopbacks and addresses are private, so nothing else on the machine
is disturbed, and a partition drops exactly the traffic between the two hosts.  Otherwise both
hosts run on 127.0.0.1 / 127.0.0.2 (ports offset by 14000) and the partition fault is skipped,
with the reason in the JSON.  The soak stops by itself; SIGINT/SIGTERM end it early (the mesh
is stopped and the JSON written), and the namespaces are deleted with everything left in them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # ahead of this folder, where migration.py would shadow `migration`
sys.path.insert(1, str(ROOT / "benchmarks"))

from chaos_faults import KINDS  # noqa: E402
from chaos_mesh import SoakMesh  # noqa: E402
from chaos_net import ChaosNet  # noqa: E402
from chaos_report import criteria, summarize  # noqa: E402
from chaos_soak import Soak, wait_for  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "chaos.json"
MAX_DURATION_S = 3600.0
OUTER_SLACK_S = 900.0  # start, settle, stop and the last recoveries, on a loaded machine
GONE_TIMEOUT_S = 10.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of faults")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-partition", action="store_true")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--migrate-every", type=float, default=20.0, help="seconds")
    parser.add_argument("--only", default=",".join(KINDS),
                        help="fault kinds to draw from (default: all), comma-separated")
    parser.add_argument("--inside", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION_S or not 0 < args.rate <= 100:
        parser.error(f"need 0 < --duration <= {MAX_DURATION_S:g} and 0 < --rate <= 100")
    args.kinds = [k for k in args.only.split(",") if k]
    if not args.kinds or set(args.kinds) - set(KINDS):
        parser.error(f"--only takes fault kinds among: {', '.join(KINDS)}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.inside is not None:
        return drive(args, ChaosNet(args.inside))
    reason = ChaosNet.unavailable_reason()
    if reason is not None:
        print(f"chaos: no network namespaces ({reason}): loopback, no partition", flush=True)
        return drive(args, None, reason)
    return in_namespaces(args, argv)


def in_namespaces(args: argparse.Namespace, argv: list[str]) -> int:
    """Create the namespaces, run the soak inside MainPC's, and remove everything after."""
    tag = os.getpid() % 10000
    try:
        net = ChaosNet(tag).open()
    except subprocess.CalledProcessError as exc:  # e.g. a container without CAP_SYS_ADMIN
        reason = f"cannot create network namespaces: {(exc.stderr or '').strip()}"
        print(f"chaos: {reason}: loopback, no partition", flush=True)
        return drive(args, None, reason)
    proc = None
    try:
        proc = subprocess.Popen([*net.prefix(0), sys.executable, __file__, *argv,
                                 "--inside", str(tag)], cwd=ROOT)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda s, _f: proc.send_signal(s) if proc else None)
        return proc.wait(args.duration + OUTER_SLACK_S)
    except subprocess.TimeoutExpired:
        print("chaos: the soak overran its time limit; killing it", flush=True)
        return 2
    finally:
        strays = net.pids(exclude=os.getpid())
        _kill(strays)
        net.close()
        if strays:
            _amend(args.out, strays)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), GONE_TIMEOUT_S,
             threading.Event())


def _amend(out: Path, strays: list[int]) -> None:
    """Processes the soak left in its namespaces (killed here): they count as leaked."""
    print(f"chaos: {len(strays)} processes were left in the namespaces: {strays}", flush=True)
    try:
        result = json.loads(out.read_text())
    except (OSError, ValueError):
        return
    result["processes_leaked"] += len(strays)
    result["leaked_pids"] += strays
    result["criteria"]["processes_leaked"].update(value=result["processes_leaked"], ok=False)
    result["ok"] = False
    out.write_text(json.dumps(result, indent=2) + "\n")


def drive(args: argparse.Namespace, net: ChaosNet | None, no_ns: str | None = None) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: stop.set())
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    addresses = net.addresses if net else ("127.0.0.1", "127.0.0.2")
    prefixes = ((), net.prefix(1)) if net else ((), ())
    mesh = SoakMesh(workdir, addresses, prefixes)
    skip = no_ns or ("--no-partition given" if args.no_partition else None)
    soak = Soak(mesh, None if skip else net, args.seed, args.duration, args.rate,
                args.migrate_every, args.kinds, stop)
    result: dict[str, Any] = header(args, net, skip, workdir)
    try:
        result["mesh_ready_s"] = round(soak.start_mesh(), 2)
        print(f"chaos: mesh ready in {result['mesh_ready_s']} s; soaking for "
              f"{args.duration:g} s (seed {args.seed})", flush=True)
        soak.run(lambda line: print(line, flush=True))
        books = soak.settle()
    except (TimeoutError, RuntimeError) as exc:
        result["error"] = str(exc)
        books = {"error": str(exc)}
    finally:
        mesh.down(soak.client)
        leaked = leftovers(mesh, net)
        soak.close()
    return finish(args, soak, result, books, leaked, workdir, stop.is_set())


def header(args: argparse.Namespace, net: ChaosNet | None, skip: str | None,
           workdir: Path) -> dict[str, Any]:
    return {"command": f"benchmarks/chaos.py --duration {args.duration:g} --seed {args.seed}",
            "seed": args.seed, "duration_s": args.duration, "started_at": time.time(),
            "options": {"rate": args.rate, "migrate_every_s": args.migrate_every,
                        "kinds": args.kinds, "no_partition": args.no_partition},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "loadavg_at_start": os.getloadavg()},
            "isolation": (f"network namespaces {net.ns[0]} / {net.ns[1]}" if net
                          else "loopback 127.0.0.1 / 127.0.0.2, ports offset"),
            "partition": {"enabled": skip is None, "skipped_reason": skip},
            "workdir": str(workdir)}


def leftovers(mesh: SoakMesh, net: ChaosNet | None) -> list[int]:
    """The run's processes still alive a while after `mesh down` (then killed)."""
    def find() -> list[int]:
        return net.pids(exclude=os.getpid()) if net else mesh.stray_pids()

    wait_for(lambda: not find(), GONE_TIMEOUT_S, threading.Event())
    strays = find()
    _kill(strays)
    return strays


def finish(args: argparse.Namespace, soak: Soak, result: dict[str, Any], books: dict[str, Any],
           leaked: list[int], workdir: Path, interrupted: bool) -> int:
    rows = [f.row() for f in sorted(soak.done, key=lambda f: f.index)]
    result.update(summarize(rows, [f.row() for f in soak.skipped], soak.load.summary(), books,
                            soak.migrations.check(), leaked))
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    result["interrupted"] = interrupted
    result["criteria"] = criteria(result, args.duration)
    result["ok"] = all(c["ok"] for c in result["criteria"].values()) and "error" not in result
    result["faults"] = rows
    result["skipped"] = [f.row() for f in soak.skipped]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("faults_injected", "faults_by_type",
                                             "recovery_s", "requests", "registrations_lost",
                                             "journal_entries_lost", "vram_leases_leaked",
                                             "processes_leaked")}, indent=2), flush=True)
    failed = [f"{n}: {c['value']} (target {c['target']})"
              for n, c in result["criteria"].items() if not c["ok"]]
    if result.get("error"):
        print(f"chaos: the soak did not run: {result['error']} (logs in {workdir})", flush=True)
        return 2
    if failed:
        print("chaos: FAILED " + "; ".join(failed) + f" (logs in {workdir})", flush=True)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"chaos: every criterion met; {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
