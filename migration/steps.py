"""The steps of a migration: each a `MigrationStep`, idempotent, so a resume may redo it.

Blue/green (per agent):  admit -> start -> ready -> [stage bake: traffic steps, judged] ->
promote -> finish.  Its rollback: prefer_old -> stop_new -> unadmit.
Stop-and-replace:  baseline -> replace -> ready -> [stage bake] -> finish.  Its rollback:
restore -> ready_old.  ``data`` carries what earlier steps learned (journaled with ``done``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from common.base_agent.errors import MeshError
from migration.gates import GateBreach, measure_p95_s
from migration.mesh import MeshControl

__all__ = ["FORWARD", "ROLLBACK", "MigrationStep", "StepContext", "wait_for"]

POLL_S = 0.02
STOP_WAIT_S = 30.0  # above any stop_timeout_s: the launcher SIGKILLs by then
DRAIN_QUIET_S = 0.3  # an instance that served nothing this long has no callers left
DRAIN_MAX_S = 3.0  # a caller that does not follow the weights is not waited for longer
DRAIN_POLL_S = 0.05


@dataclass
class StepContext:
    mesh: MeshControl
    agent: dict[str, Any]  # the agent's entry of the plan
    label: str  # launcher instance label of the new instance
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.agent["agent"])


class MigrationStep(Protocol):
    @property
    def name(self) -> str: ...

    def run(self, ctx: StepContext) -> dict[str, Any]:
        """Do the step (again, after a crash: it must be idempotent); returns data learned."""
        ...


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable[[StepContext], dict[str, Any]]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        return self.fn(ctx)


def wait_for(what: str, check: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not within {timeout_s:g} s")
        time.sleep(POLL_S)  # polling with a deadline


def _admit(ctx: StepContext) -> dict[str, Any]:
    a = ctx.agent
    ctx.mesh.admit(ctx.name, [a["old_endpoint"], a["new_endpoint"]])
    old = ctx.mesh.instance_at(ctx.name, a["old_endpoint"])
    if old is None:
        raise MeshError(f"{ctx.name} has no instance registered at {a['old_endpoint']}",
                        "not_found")
    ctx.mesh.prefer(old["instance_id"])  # listed first until the shift
    return {"old_instance_id": old["instance_id"]}


def _baseline(ctx: StepContext) -> dict[str, Any]:
    return {"baseline_p95_s": measure_p95_s(ctx.mesh, ctx.agent["old_endpoint"],
                                            ctx.agent["probe"])}


def _start(ctx: StepContext) -> dict[str, Any]:
    new = ctx.agent["new"]
    return ctx.mesh.launcher(new["host"], "instance_start",
                             {"name": ctx.name, "instance": ctx.label, "definition": new})


def _ready_check(ctx: StepContext, label: str, restarts: int) -> Any:
    """Ready once the launcher has it ready after exactly `restarts` restarts and the
    registry lists it; a crash (more restarts, or an exit of a fresh instance) is a breach."""
    new = ctx.agent["new"]
    found = ctx.mesh.instances(new["host"], ctx.name).get(label)
    if found is None:
        raise GateBreach(ctx.name, "the launcher does not run the new instance")
    crashed = found["restarts"] > restarts or (restarts == 0 and found["last_exit_code"]
                                               is not None)
    if crashed:
        raise GateBreach(ctx.name, f"new instance crashed on start "
                         f"(exit code {found['last_exit_code']})")
    if not found["ready"] or found["restarts"] != restarts or found["port"] != new["port"]:
        return None
    record = ctx.mesh.instance_at(ctx.name, ctx.agent["new_endpoint"])
    return record and {"new_instance_id": record["instance_id"], "restarts": found["restarts"]}


def _ready(ctx: StepContext) -> dict[str, Any]:
    return wait_for(f"{ctx.name} ready and registered", lambda: _ready_check(ctx, ctx.label, 0),
                    ctx.agent["gates"]["ready_timeout_s"])


def _promote(ctx: StepContext) -> dict[str, Any]:
    old, new = ctx.agent["old"], ctx.agent["new"]
    ctx.mesh.launcher(new["host"], "instance_promote", {"name": ctx.name, "instance": ctx.label})
    gone = "retired"
    if old["host"] != new["host"]:
        ctx.mesh.launcher(old["host"], "instance_stop", {"name": ctx.name, "instance": ""})
        gone = ""
    wait_for(f"old {ctx.name} stopped", lambda: gone not in ctx.mesh.instances(
        old["host"], ctx.name), STOP_WAIT_S)
    return {}


def _unadmit(ctx: StepContext) -> dict[str, Any]:
    ctx.mesh.admit(ctx.name, [])
    return {}


def _prefer_old(ctx: StepContext) -> dict[str, Any]:
    """All of the traffic back to the old instance (weights, and preferred)."""
    old = ctx.mesh.instance_at(ctx.name, ctx.agent["old_endpoint"])
    if old is not None:
        ctx.mesh.set_weights(ctx.name, {old["instance_id"]: 100})
        ctx.mesh.prefer(old["instance_id"])
    return {"old_registered": old is not None}


def _drain(mesh: MeshControl, endpoint: str) -> bool:
    """Wait until callers have followed the weights away from endpoint: it served nothing
    for DRAIN_QUIET_S by its own record (``traffic``), at most DRAIN_MAX_S.  False when it
    did not go quiet in time or could not say."""
    deadline = time.monotonic() + DRAIN_MAX_S
    try:
        now = mesh.traffic(endpoint, 1e18)["now"]
        while time.monotonic() < deadline:
            recent = mesh.traffic(endpoint, now - DRAIN_QUIET_S)
            if not recent["ts"]:
                return True
            time.sleep(DRAIN_POLL_S)  # pacing of the poll
            now = recent["now"]
    except MeshError:
        pass
    return False


def _stop_new(ctx: StepContext) -> dict[str, Any]:
    """Stop the new instance once its callers have left it (prefer_old moved the weights):
    a request in flight to a stopping instance is a user's failure or a retry."""
    host = ctx.agent["new"]["host"]
    endpoint = ctx.agent["new_endpoint"]
    found = ctx.mesh.instances(host, ctx.name).get(ctx.label)
    drained = bool(found and found["ready"]) and not ctx.mesh.is_legacy(endpoint) \
        and _drain(ctx.mesh, endpoint)
    ctx.mesh.launcher(host, "instance_stop", {"name": ctx.name, "instance": ctx.label})
    wait_for(f"new {ctx.name} stopped", lambda: ctx.label not in ctx.mesh.instances(
        host, ctx.name), STOP_WAIT_S)
    return {"drained": drained}


def _replace_with(which: str) -> Callable[[StepContext], dict[str, Any]]:
    def replace(ctx: StepContext) -> dict[str, Any]:
        host = ctx.agent["old"]["host"]
        before = ctx.mesh.instances(host, ctx.name).get("") or {}
        reply = ctx.mesh.launcher(host, "instance_replace",
                                  {"name": ctx.name, "definition": ctx.agent[which]})
        if reply.get("already"):  # redone after a crash: the restart was already asked for
            return {"expected_restarts": ctx.data.get("expected_restarts",
                                                      before.get("restarts", 0))}
        return {"expected_restarts": before.get("restarts", 0) + 1}
    return replace


def _ready_replaced(ctx: StepContext) -> dict[str, Any]:
    expected = int(ctx.data.get("expected_restarts", 0))
    return wait_for(f"{ctx.name} replaced and ready",
                    lambda: _ready_check(ctx, "", expected),
                    ctx.agent["gates"]["ready_timeout_s"])


def _ready_old(ctx: StepContext) -> dict[str, Any]:
    host = ctx.agent["old"]["host"]
    wait_for(f"{ctx.name} old version ready", lambda: (ctx.mesh.instances(host, ctx.name)
                                                       .get("") or {}).get("ready"),
             ctx.agent["gates"]["ready_timeout_s"])
    return {}


def _done(ctx: StepContext) -> dict[str, Any]:
    return {}


FORWARD: dict[str, list[MigrationStep]] = {
    # the traffic shift is the stage's bake: weights in steps (migration.canary)
    "blue_green": [Step("admit", _admit), Step("start", _start), Step("ready", _ready)],
    "stop_and_replace": [Step("baseline", _baseline), Step("replace", _replace_with("new")),
                         Step("ready", _ready_replaced)],
}
AFTER_BAKE: dict[str, list[MigrationStep]] = {
    "blue_green": [Step("promote", _promote), Step("finish", _unadmit)],
    "stop_and_replace": [Step("promote", _done), Step("finish", _done)],
}
ROLLBACK: dict[str, list[MigrationStep]] = {
    "blue_green": [Step("prefer_old", _prefer_old), Step("stop_new", _stop_new),
                   Step("unadmit", _unadmit)],
    "stop_and_replace": [Step("restore", _replace_with("old")), Step("ready_old", _ready_old)],
}
