"""A blue/green bake in traffic steps, each judged on the real requests both instances served.

For each step of the band's ``traffic.steps`` (percent of the calls to the new instance) the
registry's weights are set (clients follow them: common.base_agent.choice), the step bakes
``step_bake_s`` while the launcher's view is watched for a crash, then each instance's own
record of the requests it served in that window (its ``traffic`` action) goes to the judge
(migration.judge); latency within the step's window, errors over every step's requests so far
(an error rate does not depend on the share of traffic, so more samples give more power).
Where the new instance served fewer than ``min_samples`` real requests the
executor probes old and new alike (``probe.action``, timed the same way): latency is compared
on the probes, errors on the real requests with the probes added (a few real requests that all
failed still count); the decision says so (``source``).  At 100 % the old instance serves
nothing: latency is not compared there (an idle instance against one under the whole load
measures the load, not the version: on a busy machine that rolled good changes back), so its
verdict is the one of the last step both served; the full step judges errors over every step's
requests and watches for a crash.

Every decision is handed to ``record`` with the numbers behind it.  ``rollback`` raises
GateBreach; ``confirm`` (a High not far past its floor) judges a fresh window of the same step
and rolls back if the same metric is High there again; ``extend`` bakes the step again over a
growing window, at most ``max_extensions`` times, then raises Inconclusive (a GateBreach: the
change is not promoted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.base_agent.errors import NotFoundError
from migration.gates import STATUS_INTERVAL_S, GateBreach, Target
from migration.judge import Sample, judge
from migration.mesh import MeshControl

__all__ = ["Arm", "Inconclusive", "run_canary", "thin_errors"]

Record = Callable[[str, dict[str, Any]], None]  # (agent, decision)


class Inconclusive(GateBreach):
    """The judge could not decide within the allowed extensions: stop without promoting."""


@dataclass
class Arm:
    """One agent's canary: its old and new instance and its band's steps and thresholds."""

    target: Target  # the new instance, as the crash gate watches it
    old_id: str
    new_id: str
    old_endpoint: str
    canary: dict[str, Any]
    old_records: bool = True  # the old instance answers `traffic` (a legacy script does not)
    cursor: dict[str, float] = field(default_factory=dict)  # endpoint -> instance's wall time
    old: list[Sample] = field(default_factory=list)
    new: list[Sample] = field(default_factory=list)
    all_old: list[Sample] = field(default_factory=list)  # every step's, for the error metric
    all_new: list[Sample] = field(default_factory=list)

    @property
    def agent(self) -> str:
        return self.target.agent

    def weight(self, step: int) -> float:
        steps = self.canary["steps"]
        return float(steps[min(step, len(steps) - 1)])

    def recording(self) -> list[str]:
        """The endpoints whose requests can be read (``traffic``): the new instance's, and the
        old one's unless it is a legacy script, which is then judged from probes."""
        return [self.old_endpoint, self.target.endpoint] if self.old_records \
            else [self.target.endpoint]


def _pull(mesh: MeshControl, arm: Arm, endpoint: str) -> list[Sample]:
    """The requests the instance at endpoint served since the arm's cursor for it."""
    got: list[Sample] = []
    while True:
        reply = mesh.traffic(endpoint, arm.cursor.get(endpoint, 0.0))
        got += [(s, not e) for s, e in zip(reply["seconds"], reply["error"], strict=True)]
        arm.cursor[endpoint] = reply["ts"][-1] if reply["more"] else reply["now"]
        if not reply["more"]:
            return got


def _probe_both(mesh: MeshControl, arm: Arm, count: int) -> tuple[list[Sample], list[Sample]]:
    """count probes to each instance, alternately; ``probe_failures_max`` unanswered or failed
    in a row on the new one is a breach (as during a stop-and-replace bake)."""
    probe = arm.target.probe
    old: list[Sample] = []
    new: list[Sample] = []
    for _ in range(count):
        old.append(mesh.probe(arm.old_endpoint, probe["action"], probe["payload"],
                              probe["timeout_s"]))
        new.append(mesh.probe(arm.target.endpoint, probe["action"], probe["payload"],
                              probe["timeout_s"]))
        arm.target.failures_in_row = 0 if new[-1][1] else arm.target.failures_in_row + 1
        if arm.target.failures_in_row >= arm.target.gates["probe_failures_max"]:
            raise GateBreach(arm.agent, f"{arm.target.failures_in_row} probes in a row failed")
    return old, new


def _bake(mesh: MeshControl, arms: list[Arm], seconds: float) -> None:
    """Watch every new instance's process for seconds (a crash raises GateBreach)."""
    end = time.monotonic() + seconds
    while True:
        for arm in arms:
            arm.target.check_process(mesh)
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(STATUS_INTERVAL_S, left))  # pacing of the crash watch


FULL_STEP = ("at 100 % the old instance serves nothing: latency was judged at the last step "
             "both served")


Samples = tuple[list[Sample], list[Sample]]  # (old, new)


def thin_errors(real: Samples, probes: Samples) -> Samples:
    """The (old, new) samples errors are judged on where real traffic is too thin: the real
    requests with the probes added, never the probes alone (a new instance that failed the
    few real requests it served must not pass on probes of its health)."""
    return real[0] + probes[0], real[1] + probes[1]


def _decide(mesh: MeshControl, arm: Arm, step: int, extension: int,
            window_s: float) -> dict[str, Any]:
    arm.target.check_process(mesh)  # a crashed instance is a breach, not a source of samples
    pulled_old = _pull(mesh, arm, arm.old_endpoint) if arm.old_records else []
    pulled_new = _pull(mesh, arm, arm.target.endpoint)
    arm.old += pulled_old
    arm.new += pulled_new
    arm.all_old += pulled_old
    arm.all_new += pulled_new
    weight = arm.weight(step)
    full = weight >= 100
    t = arm.canary["judge"]
    real = {"n_old": len(arm.old), "n_new": len(arm.new)}
    old, new = arm.old, arm.new
    errors = (arm.all_old, arm.all_new)
    source = "traffic"
    thin = min(len(arm.all_old), len(arm.all_new)) if full else min(len(old), len(new))
    if thin < t["min_samples"] or not arm.old_records:
        old, new = _probe_both(mesh, arm, int(t["min_samples"]))
        why = (f"real traffic too thin ({real['n_old']} old, {real['n_new']} new requests < "
               f"{t['min_samples']})" if arm.old_records else
               "the old instance is a legacy script, which keeps no record of its requests")
        source = (f"probes: {why}; {len(new)} `{arm.target.probe['action']}` probes to each "
                  "instance")
        if min(len(arm.all_old), len(arm.all_new)) < t["min_samples"]:
            errors = thin_errors((arm.all_old, arm.all_new), (old, new))
            source += "; errors: every step's requests so far and the probes"
    verdict = judge(old, new, t, errors, latency_skipped=FULL_STEP if full else None)
    source += "; errors: every step's requests so far" if errors[0] is arm.all_old else ""
    source += "; latency: not at 100 %" if full else ""
    return {"step": step + 1, "steps": len(arm.canary["steps"]), "weight_pct": weight,
            "extension": extension, "window_s": round(window_s, 3), "source": source,
            "real": real, **verdict}


def run_canary(mesh: MeshControl, arms: list[Arm], record: Record,
               progress: Callable[[str], None]) -> None:
    """All arms step by step together; returns when every arm passed its last step."""
    steps = max(len(a.canary["steps"]) for a in arms)
    for step in range(steps):
        for arm in arms:
            arm.target.check_process(mesh)  # a crash since the last look: a breach, not an error
            w = arm.weight(step)
            weights = {arm.new_id: w} if w >= 100 else {arm.old_id: 100 - w, arm.new_id: w}
            try:
                mesh.set_weights(arm.agent, weights)
            except NotFoundError as exc:
                raise GateBreach(arm.agent, f"an instance left the registry: {exc}") from None
            arm.old, arm.new = [], []
            for endpoint in arm.recording():
                arm.cursor[endpoint] = mesh.traffic(endpoint, 1e18)["now"]  # from now on
        progress(", ".join(f"{a.agent} {a.weight(step):g} %" for a in arms)
                 + f" (step {step + 1}/{steps})")
        pending = list(arms)
        extension = 0
        started = time.monotonic()
        to_confirm: dict[str, set[str]] = {}  # agent -> metrics High in its last window
        while pending:
            _bake(mesh, arms, max(a.canary["step_bake_s"] for a in pending))
            for arm in list(pending):
                decision = _decide(mesh, arm, step, extension, time.monotonic() - started)
                _confirmation(arm, decision, to_confirm)
                record(arm.agent, decision)
                progress(f"{arm.agent} step {step + 1} at {decision['weight_pct']:g} %: "
                         f"{decision['decision']} ({decision['reason']}; score "
                         f"{decision['score']})")
                if decision["decision"] == "rollback":
                    raise GateBreach(arm.agent, f"judge at {decision['weight_pct']:g} %: "
                                     f"{decision['reason']}")
                if decision["decision"] == "promote":
                    pending.remove(arm)
                elif decision["decision"] == "confirm":
                    arm.old, arm.new = [], []  # a fresh window, not counted as an extension
                elif extension >= arm.canary["max_extensions"]:
                    raise Inconclusive(arm.agent, f"judge at {decision['weight_pct']:g} %: "
                                       f"{decision['reason']} after {extension} extensions; "
                                       "not promoted")
                else:
                    extension += 1


def _confirmation(arm: Arm, decision: dict[str, Any], to_confirm: dict[str, set[str]]) -> None:
    """A High that is not clear must show again in a fresh window of the same step."""
    high = {m for m, r in decision["metrics"].items() if r["verdict"] == "High"}
    before = to_confirm.get(arm.agent, set())
    if decision["decision"] == "confirm":
        if high & before:
            decision["decision"] = "rollback"
            decision["reason"] += f" in two windows in a row ({', '.join(sorted(high & before))})"
        else:
            decision["reason"] += "; judging a fresh window before rolling back"
    to_confirm[arm.agent] = high
