"""One chaos soak: the mesh up, the workloads on, the planned faults injected, the books checked.

Overlap is bounded so that each recovery is attributable: a fault of the registry, the model
manager, a hub or a partition (``EXCLUSIVE``) starts only when no other fault is under way and
nothing starts until it has recovered; agent faults run at most two at a time, never two on
one agent.  Before a fault its target must be in the steady state (the same predicate as
recovery: back, registered, hubs settled...), waited for up to PRECONDITION_S, else the fault
is skipped and reported.  Recovery is polled every POLL_S until RECOVERY_TIMEOUT_S; the time
recorded is when the first passing poll returned (so it includes up to one poll's latency).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chaos_checks import Checks
from chaos_faults import EXCLUSIVE, Fault, inject, plan
from chaos_invariants import RemovalWatch, classify, leaked_leases, pid_alive
from chaos_load import Load
from chaos_mesh import INFRA, SoakMesh
from chaos_migrate import MigrationWorkload
from chaos_net import ChaosNet

from common.base_agent.client import Client
from common.base_agent.errors import MeshError

__all__ = ["Soak"]

POLL_S = 0.05
RECOVERY_TIMEOUT_S = 60.0
PRECONDITION_S = 10.0
MAX_AGENT_FAULTS = 2
READY_TIMEOUT_S = 240.0
SETTLE_S = 60.0
PROGRESS_EVERY_S = 10.0


def wait_for(predicate: Callable[[], Any], timeout_s: float, stop: threading.Event) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        value = predicate()
        if value:
            return value
        stop.wait(POLL_S)  # polling with a deadline
    return None


class Soak:
    def __init__(self, mesh: SoakMesh, net: ChaosNet | None, seed: int, duration_s: float,
                 rate: float, migrate_every_s: float, kinds: list[str],
                 stop: threading.Event) -> None:
        self.mesh, self.net, self.seed, self.duration_s = mesh, net, seed, duration_s
        self.stop = stop
        self.client = Client(source="chaos")  # this thread's: launcher control sockets
        self.migrated = mesh.leaves()[0]
        pool = sorted(set(mesh.agents) - set(INFRA.values()) - {self.migrated})
        self.plan = plan(seed, int(duration_s) + 1, pool,
                         [k for k in kinds if net is not None or k != "partition"])
        self.load = Load(mesh.registry, rate, seed)
        self.migrations = MigrationWorkload(mesh, self.migrated, migrate_every_s)
        self.under_way: dict[int, Fault] = {}
        self.done: list[Fault] = []
        self.skipped: list[Fault] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- phases ------------------------------------------------------------------------------
    def start_mesh(self) -> float:
        t0 = time.monotonic()
        self.mesh.up()
        self.mesh.wait_ready(self.client, READY_TIMEOUT_S)
        checks = Checks(self.mesh)
        try:
            steady = wait_for(lambda: (checks.registered_names() or set()) >= set(
                self.mesh.agents) and checks.hubs_settled()
                and checks.pool_accounts_for_models(), READY_TIMEOUT_S, self.stop)
        finally:
            checks.close()
        if not steady and not self.stop.is_set():
            raise TimeoutError("the mesh did not settle (registered, hubs, VRAM pool)")
        return time.monotonic() - t0

    def run(self, progress: Callable[[str], None]) -> None:
        self.zero = time.monotonic()
        self.watch = RemovalWatch(self.mesh.registry, self.zero)
        self.watch.start()
        self.load.start()
        self.migrations.start()
        try:
            self._inject_all(progress)
        finally:
            for thread in self._threads:
                thread.join(RECOVERY_TIMEOUT_S + PRECONDITION_S + 30)
            self.load.stop()
            self.migrations.stop()

    def settle(self) -> dict[str, Any]:
        """After the soak: every agent registered again and every dead holder's lease
        reclaimed (each waited for up to SETTLE_S), then the books."""
        checks = Checks(self.mesh)
        try:
            names = wait_for(lambda: (n := checks.registered_names()) is not None and n >= set(
                self.mesh.agents) and n, SETTLE_S, threading.Event()) or (
                checks.registered_names() or set())
            leases, leaked = self._leases(checks)
        except MeshError as exc:
            return {"error": f"registry unreachable at the end: {exc}"}
        finally:
            checks.close()
            self.watch.stop()
        return {"missing": sorted(set(self.mesh.agents) - names),
                "removals": classify(self.watch.removals, [f.row() for f in self.done],
                                     self.migrated, {n for n in self.mesh.agents
                                                     if self.mesh.host_of(n) == "pc2"}),
                "resyncs": self.watch.resyncs, "leases": len(leases), "leaked": leaked,
                "restarts": {a["name"]: a["restarts"] for a in
                             self.mesh.statuses(self.client).values() if a["restarts"]}}

    def _leases(self, checks: Checks) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The pool's active leases and the leaked ones, once none is leaked or at SETTLE_S."""
        def books() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            records = checks.client.call_endpoint(self.mesh.registry, "list", timeout_s=2.0)
            live = {r["name"]: r["instance_id"] for r in records if pid_alive(r["pid"])}
            leases = checks.active_leases()
            if leases is None:  # fail closed: books that cannot be read are not clean
                return [], [{"error": "the model manager did not answer"}]
            return leases, leaked_leases(leases, live)

        wait_for(lambda: not books()[1], SETTLE_S, threading.Event())
        return books()

    def close(self) -> None:
        self.client.close()

    # -- injection ---------------------------------------------------------------------------
    def _inject_all(self, progress: Callable[[str], None]) -> None:
        end = self.zero + self.duration_s
        due, next_progress = self.zero, self.zero + PROGRESS_EVERY_S
        for fault in self.plan:
            due += fault.gap_s
            while not self.stop.is_set() and (time.monotonic() < due or not self._allowed(fault)):
                if time.monotonic() >= end:
                    return
                if time.monotonic() >= next_progress:
                    next_progress += PROGRESS_EVERY_S
                    progress(self.progress_line())
                self.stop.wait(POLL_S)  # pacing the seeded schedule
            if self.stop.is_set() or time.monotonic() >= end:
                return
            due = time.monotonic()
            self._launch(fault)

    def _allowed(self, fault: Fault) -> bool:
        with self._lock:
            running = list(self.under_way.values())
        if fault.kind in EXCLUSIVE or any(f.kind in EXCLUSIVE for f in running):
            return not running
        return len(running) < MAX_AGENT_FAULTS and all(f.target != fault.target
                                                        for f in running)

    def _launch(self, fault: Fault) -> None:
        with self._lock:
            self.under_way[fault.index] = fault
        thread = threading.Thread(target=self._run_fault, args=(fault,), daemon=True,
                                  name=f"chaos-fault-{fault.index}")
        self._threads.append(thread)
        thread.start()

    def _run_fault(self, fault: Fault) -> None:
        checks = Checks(self.mesh)
        try:
            if self._prepare(fault, checks):
                self._inject_and_recover(fault, checks)
        except Exception as exc:  # reported in the fault's row, never hidden
            fault.note = f"harness error: {exc!r}"
        finally:
            checks.close()
            with self._lock:
                self.under_way.pop(fault.index, None)
                (self.done if fault.t_s is not None else self.skipped).append(fault)

    def _prepare(self, fault: Fault, checks: Checks) -> bool:
        """The target steady, and its pid and instance id; False: skipped (note says why)."""
        if not wait_for(lambda: checks.recovered(fault.kind, fault.target, ""),
                        PRECONDITION_S, self.stop):
            fault.note = "target not in the steady state before the fault"
            return False
        if fault.kind == "partition":
            return True
        record = checks.instance(fault.target)
        status = self.mesh.statuses(checks.client).get(fault.target, {})
        if record is None or not status.get("pid") or record["pid"] != status["pid"]:
            fault.note = "target's registered instance is not the launcher's process"
            return False
        fault.pid, fault.instance_id = status["pid"], record["instance_id"]
        return True

    def _inject_and_recover(self, fault: Fault, checks: Checks) -> None:
        t0 = time.monotonic()
        fault.t_s = t0 - self.zero
        start = inject(fault, self.net, self.stop)
        fault.resumed_s = start - self.zero
        ok = wait_for(lambda: checks.recovered(fault.kind, fault.target, fault.instance_id),
                      RECOVERY_TIMEOUT_S, self.stop)
        if ok:
            now = time.monotonic()
            fault.recovered, fault.recovery_s, fault.outage_s = True, now - start, now - t0

    def progress_line(self) -> str:
        ok, failed = self.load.counts()
        done = list(self.done)
        recovered = sum(1 for f in done if f.recovered)
        injected = len(done) + sum(1 for f in list(self.under_way.values()) if f.t_s is not None)
        ratio = ok / (ok + failed) if ok + failed else 1.0
        return (f"[{time.monotonic() - self.zero:5.0f} s] faults {injected} injected, "
                f"{recovered} recovered, {len(self.under_way)} under way; requests ok {ok} "
                f"failed {failed} ({ratio:.3%})")
