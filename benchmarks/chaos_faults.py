"""The chaos soak's faults: a seeded plan, and how each kind is injected.

``plan(seed, count, agents, kinds)`` draws, from ``random.Random(seed)`` alone, a sequence
of faults: kind (weighted, KINDS), target, the gap before it and how long it holds.  The same
seed gives the same sequence; only the instants shift, because a fault waits while the policy
in chaos_soak forbids it (bounded overlap).  Kinds:

- ``agent_kill`` / ``agent_stop``: ``kill -9``, or SIGSTOP for ``hold_s`` (0.5-2 s, below the
  launcher's hang detection of 3 missed 1 s probes) then SIGCONT, of one random roster agent;
- ``registry_*``, ``model_manager_*``, ``hub_central_*``, ``hub_edge_*``: the same to the
  ServiceRegistry, the ModelManagerAgent, the central and the edge ObservabilityHub;
- ``partition``: every packet between the two hosts dropped for ``hold_s`` (1-3 s), then healed.

``inject`` applies one fault and returns the instant recovery is measured from: the kill, the
SIGCONT, the heal.  A pause or partition always ends (``finally``), even when the soak is
interrupted, and a stop event cuts the hold short.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from chaos_mesh import INFRA
from chaos_net import ChaosNet

__all__ = ["EXCLUSIVE", "KINDS", "Fault", "inject", "plan"]

KINDS = {"agent_kill": 38, "agent_stop": 22, "registry_kill": 4, "registry_stop": 4,
         "model_manager_kill": 4, "model_manager_stop": 4, "hub_central_kill": 3,
         "hub_central_stop": 3, "hub_edge_kill": 3, "hub_edge_stop": 3, "partition": 12}
EXCLUSIVE = frozenset(k for k in KINDS if not k.startswith("agent_"))  # alone in the mesh
GAP_S = (1.0, 3.0)  # between injections, as planned
STOP_HOLD_S = (0.5, 2.0)
PARTITION_HOLD_S = (1.0, 3.0)


@dataclass
class Fault:
    index: int
    kind: str
    target: str
    gap_s: float
    hold_s: float
    t_s: float | None = None  # injected at, seconds since the soak started
    resumed_s: float | None = None  # the kill, SIGCONT or heal, seconds since the start
    pid: int = 0
    instance_id: str = ""
    recovered: bool = False
    recovery_s: float | None = None  # from the kill / SIGCONT / heal to recovered
    outage_s: float | None = None  # from the injection to recovered (holds included)
    note: str = ""

    @property
    def action(self) -> str:
        return self.kind.rsplit("_", 1)[-1]  # kill, stop or partition

    def row(self) -> dict[str, Any]:
        return {"action": self.action, **{k: (round(v, 3) if isinstance(v, float) else v)
                                          for k, v in asdict(self).items() if k != "gap_s"}}


def plan(seed: int, count: int, agents: list[str], kinds: list[str]) -> list[Fault]:
    rng = random.Random(seed)
    weights = [KINDS[k] for k in kinds]
    out = []
    for index in range(count if kinds else 0):
        kind = rng.choices(kinds, weights)[0]
        target = (rng.choice(agents) if kind.startswith("agent_") else
                  "pc2" if kind == "partition" else INFRA[kind.rsplit("_", 1)[0]])
        hold = (rng.uniform(*PARTITION_HOLD_S) if kind == "partition" else
                rng.uniform(*STOP_HOLD_S) if kind.endswith("_stop") else 0.0)
        out.append(Fault(index, kind, target, rng.uniform(*GAP_S), hold))
    return out


def inject(fault: Fault, net: ChaosNet | None, stop: threading.Event) -> float:
    """Apply fault (to fault.pid); returns the monotonic instant recovery starts from."""
    if fault.action == "kill":
        os.kill(fault.pid, signal.SIGKILL)
        return time.monotonic()
    if fault.action == "stop":
        os.kill(fault.pid, signal.SIGSTOP)
        try:
            stop.wait(fault.hold_s)  # the planned pause, not synchronisation
        finally:
            _resume(fault)
        return time.monotonic()
    assert net is not None, "a partition needs the namespaces"
    net.partition()
    try:
        stop.wait(fault.hold_s)  # the planned partition
    finally:
        net.heal()
    return time.monotonic()


def _resume(fault: Fault) -> None:
    try:
        os.kill(fault.pid, signal.SIGCONT)
    except ProcessLookupError:
        fault.note = "killed while stopped (launcher hang detection) before SIGCONT"
