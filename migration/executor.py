"""Run a plan stage by stage, journaling every step before it is taken; roll back on breach.

For each stage: every agent's forward steps (steps.FORWARD), one bake (blue/green: traffic
steps judged on real requests, migration.canary; stop-and-replace: gates.watch), then promote
and finish.  A breach (or any error) during a stage rolls that stage back (steps.ROLLBACK: old
instance serving all traffic again, new one stopped) and stops: later stages are not started,
and the earlier, finished stages are reversed, last first (a child migration of kind
``rollback``), so a change file is applied whole or not at all.  The migration's state
moves through migration.state.transition only.

Resume replays, per stage, every step without a ``done`` row; steps are idempotent, and an
interrupted bake is watched again in full.  Test hook: ``fault="STEP@before|after"`` makes the
process SIGKILL itself right before that step's action or right after it (before ``done``).

With ``config_path``, what a migration promoted is written back to that file as its last step
(migration.writeback: after the last stage, or after an automatic rollback for the stages that
stay promoted); the reversal of a finished migration writes the previous file back as its last.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from common.base_agent.errors import MeshError
from common.config import AgentConfig, MeshConfig
from migration.canary import Arm, run_canary
from migration.gates import GateBreach, Target, watch
from migration.journal import Journal
from migration.mesh import MeshControl
from migration.state import Event, State
from migration.steps import AFTER_BAKE, FORWARD, ROLLBACK, MigrationStep, StepContext, wait_for
from migration.writeback import PROMOTE_STEP, RESTORE_STEP, Writeback, share

__all__ = ["Executor", "current_definitions", "reverse_plan"]

log = logging.getLogger(__name__)

FAILURES = (GateBreach, MeshError, TimeoutError)
SERVING_TIMEOUT_S = 5.0


def current_definitions(config: MeshConfig, journal: Journal) -> dict[str, AgentConfig]:
    """The config's definitions with every promoted migration step applied, in order; a
    migration whose promotion (or reversal) was written to the config file is in it already."""
    defs = {a.name: a for a in config.agents}
    for m in journal.history():
        if PROMOTE_STEP in m["result"] or RESTORE_STEP in m["result"]:
            continue
        done = journal.done(m["id"])
        for stage in m["plan"]["stages"]:
            for a in stage["agents"]:
                if (stage["index"], a["agent"], "promote") in done:
                    defs[a["agent"]] = AgentConfig.model_validate(a["new"])
    return defs


def reverse_plan(plan: dict[str, Any], stages: list[int]) -> dict[str, Any]:
    """A plan that puts the old definitions of the given stages back, last stage first."""
    out = []
    for i, index in enumerate(sorted(stages, reverse=True)):
        agents = [{**a, "old": a["new"], "new": a["old"], "old_endpoint": a["new_endpoint"],
                   "new_endpoint": a["old_endpoint"], "bake_s": 0.0, "canary": None}
                  for a in plan["stages"][index]["agents"]]
        out.append({**plan["stages"][index], "index": i, "bake_s": 0.0, "agents": agents})
    return {"description": f"rollback: {plan.get('description', '')}", "stages": out,
            "measured_from": plan.get("measured_from", [])}


class Executor:
    def __init__(self, journal: Journal, mesh: MeshControl,
                 progress: Callable[[str], None] | None = None, fault: str | None = None,
                 config_path: str | None = None) -> None:
        self.journal = journal
        self.mesh = mesh
        self.progress = progress or (lambda line: log.info("%s", line))
        self.fault = fault
        self.config_path = os.path.abspath(config_path) if config_path else None
        self.files = Writeback(journal, self._maybe_fault)

    # -- entry points ------------------------------------------------------------------------
    def apply(self, plan: dict[str, Any], change_path: str, kind: str = "apply",
              parent: int | None = None) -> int:
        mid = self.journal.create(plan, change_path, kind, parent)
        self.journal.move(mid, Event.START)
        self.progress(f"migration {mid}: {len(plan['stages'])} stages")
        self._forward(mid)
        return mid

    def resume(self, mid: int) -> State:
        state = self.journal.move(mid, Event.RESUME)
        self.progress(f"migration {mid}: resuming ({state.value})")
        if state is State.ROLLING_BACK:
            return self._finish_rollback(mid, self.journal.get(mid)["result"]["rollback_stage"])
        return self._forward(mid)

    def rollback(self, mid: int, force: bool = False) -> State:
        """Manual rollback: the unfinished stage is rolled back, promoted stages reversed.
        A finished one is reversed and its previous config file written back; `WritebackError`
        before anything is touched when the file was edited since (unless force)."""
        record = self.journal.get(mid)
        state = State(record["state"])
        if state is State.RUNNING and self._current_stage(mid) is None:
            state = self._forward(mid)  # every stage finished: only the write-back was left
        if state is State.DONE:
            self.files.restore_plan(mid, force)
            return self._reverse(mid, [s["index"] for s in record["plan"]["stages"]], True)
        if state is State.ROLLED_BACK:
            raise ValueError(f"migration {mid} is already rolled back")
        stage = record["result"].get("rollback_stage", self._current_stage(mid))
        self.journal.set_result(mid, rollback_stage=stage, breach="manual rollback",
                                manual_rollback=True)
        self.journal.move(mid, Event.ABORT)
        if stage is not None:
            self._finish_rollback(mid, stage)
        return self._reverse(mid, list(range(stage or 0)), False)

    # -- forward -----------------------------------------------------------------------------
    def _current_stage(self, mid: int) -> int | None:
        done = self.journal.done(mid)
        for stage in self.journal.get(mid)["plan"]["stages"]:
            if not all((stage["index"], a["agent"], "finish") in done for a in stage["agents"]):
                return int(stage["index"])
        return None

    def _forward(self, mid: int) -> State:
        for stage in self.journal.get(mid)["plan"]["stages"]:
            try:
                self._stage(mid, stage)
            except FAILURES as exc:
                return self._breach(mid, stage["index"], exc)
        self._to_file(mid)
        self.journal.move(mid, Event.FINISH)
        self.progress(f"migration {mid}: done")
        return State.DONE

    def _contexts(self, mid: int, stage: dict[str, Any]) -> list[StepContext]:
        data: dict[str, dict[str, Any]] = {}
        for row in self.journal.steps(mid):
            if row["stage"] == stage["index"] and row["phase"] == "done":
                data.setdefault(row["agent"], {}).update(row["data"])
        return [StepContext(self.mesh, a, f"m{mid}", data.get(a["agent"], {}))
                for a in stage["agents"]]

    def _stage(self, mid: int, stage: dict[str, Any]) -> None:
        ctxs = self._contexts(mid, stage)
        i = stage["index"]
        for ctx in ctxs:
            for step in FORWARD[ctx.agent["strategy"]]:
                self._do(mid, i, ctx, step)
        self._bake(mid, stage, ctxs)
        for ctx in ctxs:
            for step in AFTER_BAKE[ctx.agent["strategy"]]:
                self._do(mid, i, ctx, step)

    def _bake(self, mid: int, stage: dict[str, Any], ctxs: list[StepContext]) -> None:
        """Blue/green agents: traffic steps judged on real requests (migration.canary), every
        decision journaled; stop-and-replace agents: the probe gates (migration.gates)."""
        key = (stage["index"], "*", "bake")
        if key in self.journal.done(mid):
            return
        self.journal.record(mid, stage["index"], "*", "bake", "intent", {"bake_s": stage["bake_s"]})
        self._maybe_fault("bake", "before")
        targets = {c.name: Target(c.name, c.agent["new"]["host"],
                                  c.label if c.agent["strategy"] == "blue_green" else "",
                                  c.agent["new_endpoint"], c.agent["probe"], c.agent["gates"],
                                  c.data.get("baseline_p95_s", 0.0), c.data.get("restarts", 0))
                   for c in ctxs}
        blue_green = [c for c in ctxs if c.agent["strategy"] == "blue_green"]
        for c in blue_green:
            if c.agent.get("canary") is None:  # a reversal: back to the known version at once
                self.mesh.set_weights(c.name, {c.data["new_instance_id"]: 100})
        arms = [Arm(targets[c.name], c.data["old_instance_id"], c.data["new_instance_id"],
                    c.agent["old_endpoint"], c.agent["canary"],
                    old_records=not c.agent["old"].get("script_path"))
                for c in blue_green if c.agent.get("canary") is not None]
        watched = [targets[c.name] for c in ctxs if c.agent["strategy"] != "blue_green"]
        if arms:
            self.progress(f"stage {stage['index']}: canary "
                          f"({', '.join(a.agent for a in arms)})")
            run_canary(self.mesh, arms, lambda agent, decision: self.journal.decide(
                mid, stage["index"], agent, decision), self.progress)
        if watched:
            self.progress(f"stage {stage['index']}: baking {stage['bake_s']:g} s "
                          f"({', '.join(t.agent for t in watched)})")
            watch(self.mesh, watched, stage["bake_s"])
        self._maybe_fault("bake", "after")
        self.journal.record(mid, stage["index"], "*", "bake", "done")

    def _do(self, mid: int, stage: int, ctx: StepContext, step: MigrationStep) -> None:
        if (stage, ctx.name, step.name) in self.journal.done(mid):
            return
        self.journal.record(mid, stage, ctx.name, step.name, "intent")
        self.progress(f"stage {stage} {ctx.name}: {step.name}")
        self._maybe_fault(step.name, "before")
        try:
            learned = step.run(ctx) or {}
        except Exception as exc:
            self.journal.record(mid, stage, ctx.name, step.name, "failed", {"error": str(exc)})
            raise
        ctx.data.update(learned)
        self._maybe_fault(step.name, "after")
        self.journal.record(mid, stage, ctx.name, step.name, "done", learned)

    def _maybe_fault(self, step: str, phase: str) -> None:
        if self.fault == f"{step}@{phase}":
            os.kill(os.getpid(), signal.SIGKILL)

    # -- rollback ----------------------------------------------------------------------------
    def _breach(self, mid: int, stage: int, exc: Exception) -> State:
        at = exc.at if isinstance(exc, GateBreach) else time.monotonic()
        self.progress(f"stage {stage}: BREACH {exc}; rolling back")
        self.journal.set_result(mid, breach=str(exc), rollback_stage=stage,
                                reverse_finished=stage > 0)
        self.journal.move(mid, Event.BREACH if isinstance(exc, GateBreach) else Event.ERROR)
        state = self._finish_rollback(mid, stage, at)
        if state is State.ROLLED_BACK and stage > 0:
            # one change: the agents migrated before the breach go back too, last one first
            self.progress(f"migration {mid}: reversing stages {stage - 1}..0")
            self._reverse(mid, list(range(stage)), False)
        return state

    def _finish_rollback(self, mid: int, stage_index: int, at: float | None = None) -> State:
        stage = self.journal.get(mid)["plan"]["stages"][stage_index]
        ctxs = self._contexts(mid, stage)
        try:
            for ctx in reversed(ctxs):
                for step in ROLLBACK[ctx.agent["strategy"]]:
                    self._do(mid, stage_index, ctx, _Renamed(step))
                    if at is not None and step.name in ("prefer_old", "ready_old"):
                        self._old_serving(mid, ctx, at)
        except FAILURES as exc:
            self.journal.set_result(mid, rollback_error=str(exc))
            self.journal.move(mid, Event.ERROR)
            self.progress(f"migration {mid}: ROLLBACK FAILED: {exc}")
            return State.FAILED
        record = self.journal.get(mid)
        if record["kind"] != "rollback" and not (record["result"].get("manual_rollback")
                                                 or record["result"].get("reverse_finished")):
            self._promote_to_file(record)  # (none now: a breach reverses the earlier stages)
        self.journal.move(mid, Event.ROLLED_BACK)
        self.progress(f"migration {mid}: stage {stage_index} rolled back")
        return State.ROLLED_BACK

    def _old_serving(self, mid: int, ctx: StepContext, at: float) -> None:
        """Time from the breach to the old instance answering a probe again."""
        probe = ctx.agent["probe"]
        wait_for("old instance answering", lambda: self.mesh.probe(
            ctx.agent["old_endpoint"], probe["action"], probe["payload"],
            probe["timeout_s"])[1], SERVING_TIMEOUT_S)
        seconds = round(time.monotonic() - at, 4)
        self.journal.set_result(mid, rollback_s=seconds)
        self.progress(f"{ctx.name}: old version serving again {seconds * 1000:.0f} ms "
                      "after the breach")

    def _reverse(self, mid: int, stages: list[int], whole: bool) -> State:
        if not stages:
            return self.journal.state(mid)
        plan = reverse_plan(self.journal.get(mid)["plan"], stages)
        child = self.apply(plan, f"rollback of {mid}", kind="rollback", parent=mid)
        self.journal.set_result(mid, reversed_by=child)
        return self.journal.state(mid)  # a whole reversal moved it (_to_file)

    # -- the config file ---------------------------------------------------------------------
    def _to_file(self, mid: int) -> None:
        """At the end of a migration: its promotion into the config file; for the reversal of
        a finished migration, that one's previous file back, and that one marked reversed."""
        record = self.journal.get(mid)
        parent = record["parent"]
        if record["kind"] != "rollback":
            self._promote_to_file(record)
        elif parent is not None and self.journal.state(parent) is State.DONE:
            self.files.restore(mid, parent)
            self.journal.move(parent, Event.REVERSE)
            if RESTORE_STEP in (done := self.journal.get(mid)["result"]):
                self.progress(f"{done[RESTORE_STEP]['path']}: the file before migration "
                              f"{parent} written back (replaced one kept as "
                              f"{done[RESTORE_STEP]['backup']})")
                self._share(mid, done[RESTORE_STEP], RESTORE_STEP)

    def _promote_to_file(self, record: dict[str, Any]) -> None:
        if self.config_path is None:
            return
        self.files.promote(record["id"], self.config_path, self._promoted(record))
        if PROMOTE_STEP in (done := self.journal.get(record["id"])["result"]):
            self.progress(f"{done[PROMOTE_STEP]['path']}: promotion written (previous file "
                          f"kept as {done[PROMOTE_STEP]['backup']})")
            self._share(record["id"], done[PROMOTE_STEP], PROMOTE_STEP)

    def _share(self, mid: int, write: dict[str, Any], step: str) -> None:
        """The same file into each host's own copy; what each said goes to the journal."""
        hosts = share(self.mesh.launcher, list(self.mesh.config.hosts), write, f"m{mid}.{step}")
        for host, result in hosts.items():
            self.progress(f"{host}: its copy of the config: {result}")
        self.journal.set_result(mid, config_hosts=hosts)

    def _promoted(self, record: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(old, new) definitions of the agents promoted for good (not the rolled-back stage)."""
        done = self.journal.done(record["id"])
        skip = record["result"].get("rollback_stage")
        return [(a["old"], a["new"]) for s in record["plan"]["stages"] if s["index"] != skip
                for a in s["agents"] if (s["index"], a["agent"], "promote") in done]


class _Renamed:
    """A rollback step journaled as rb:NAME so it never collides with a forward step."""

    def __init__(self, step: MigrationStep) -> None:
        self.step = step
        self.name = f"rb:{step.name}"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        return self.step.run(ctx)
