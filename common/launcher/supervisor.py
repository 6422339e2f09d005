"""The launcher's decisions for one host: what to start, when it is ready, when to restart.

Pure bookkeeping over an injected ProcessControl (spawn, signal, probe), driven by ``step()``
from the launcher's loop and by ``on_exit`` / ``on_health`` as events arrive.  An agent starts
as soon as every dependency is ready (health answered), so independent chains do not wait for
a global wave; restarts back off exponentially (``Backoff``): the first exit after a stable run
(READY for ``stable_after_s``) is restarted at once, a repeat within that window after the
initial backoff, doubling up to the cap.  ``restart.crash_loop_starts`` starts in a row that
each stayed up less than ``restart.stable_s`` are a crash loop, whatever their exit codes (a
script that swallows its exception exits 0): flagged, logged and sent to the hub as an event,
while the launcher keeps trying at the cap; a run that stays up stable_s clears the flag.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from common.config import AgentConfig, HealthProbe
from common.launcher.managed import Managed, managed
from common.launcher.plan import HostPlan
from common.launcher.process_control import ProcessControl
from common.launcher.reload import ReloadPlan
from common.launcher.state import AgentState, Event

__all__ = ["Supervisor", "stop_waves"]

log = logging.getLogger(__name__)

STARTING_PROBE_S = 0.02  # while starting, probe this often for its first second ...
STARTING_PROBE_MAX_S = 0.1  # ... then every tenth of the time it has been starting, up to this
SPAWN_BATCH = 32  # agents started in one step, in one request to the fork server; the rest
# start next step, so the launcher's loop keeps reading probe replies while hundreds start
KILL_GRACE_S = 2.0  # after SIGKILL, how long an exit event may take before we stop waiting


def _base(key: str) -> str:
    return key.partition("@")[0]


def stop_waves(waves: list[list[str]], keys: list[str]) -> list[list[str]]:
    """Reverse dependency order over supervisor keys; instances of agents outside this host's
    waves (moved here) stop first, beside the leaves."""
    placed = {name for wave in waves for name in wave}
    out = [[k for k in keys if _base(k) in wave] for wave in reversed(waves)]
    extras = [k for k in keys if _base(k) not in placed]
    return [extras, *out] if extras else out


class Supervisor:
    """Decides for ``plan``'s agents; ``control`` acts on their processes.  ``agents`` is keyed
    by NAME, and NAME@INSTANCE for second instances (see common.launcher.instances), which
    ``discarded`` lists once they are to go."""

    def __init__(self, plan: HostPlan, control: ProcessControl) -> None:
        self.plan = plan
        self.control = control
        self.timeout_s = plan.config.global_.health.timeout_s  # for remote dependencies
        self.agents = {name: managed(cfg) for name, cfg in plan.agents.items()}
        self.discarded: dict[str, float] = {}  # key -> SIGKILL deadline
        self.stopping = False

    # -- start ---------------------------------------------------------------------------
    def deps_ready(self, m: Managed) -> bool:
        for dep in m.cfg.dependencies:
            local = self.agents.get(dep)
            ready = local.state is AgentState.READY if local else self.control.remote_ready(dep)
            if not ready:
                return False
        return True

    def start(self, m: Managed, now: float) -> None:
        self.start_many([m], now)

    def start_many(self, batch: list[Managed], now: float) -> None:
        try:
            results = self.control.spawn_many([(m.cfg, m.key) for m in batch])
        except Exception as exc:  # the fork server itself failed: every spawn did
            results = [exc] * len(batch)
        for m, result in zip(batch, results, strict=True):
            self._started(m, result, now)

    def _started(self, m: Managed, pid: int | Exception, now: float) -> None:
        m.started_at, m.probe_failures, m.next_probe_at, m.due_at = now, 0, now, 0.0
        m.health_text, m.port_issues = "", []
        m.move(Event.SPAWN)
        if isinstance(pid, Exception):  # a spawn failure is an exit: back off and retry
            log.error("cannot start %s: %s", m.cfg.name, pid)
            self.on_exit_of(m, -1, now)
            return
        m.pid = pid
        m.started_wall, m.ready_wall = time.time(), 0.0
        self.control.notify({"event": "started", "agent": m.cfg.name, "pid": m.pid})

    # -- events ----------------------------------------------------------------------------
    def on_health(self, name: str, now: float, ready: bool = True, why_not: str = "") -> None:
        """name answered its probe; ready says whether the answer makes it ready
        (common.launcher.readiness), why_not what the operator sees while it does not."""
        m = self.agents.get(name)
        if m is None or m.state not in (AgentState.STARTING, AgentState.READY):
            return
        m.health_text = why_not
        if m.state is AgentState.STARTING and not ready:
            return  # answering, but not ready yet: keep probing
        m.probe_failures = 0
        if m.state is AgentState.STARTING:
            m.ready_at, m.ready_wall = now, time.time()
            log.info("%s ready (pid %d) in %.3f s", name, m.pid, now - m.started_at)
        m.move(Event.HEALTHY)

    def on_exit(self, pid: int, code: int, now: float) -> None:
        for m in self.agents.values():
            if m.pid == pid:
                self.on_exit_of(m, code, now)
                return

    def on_exit_of(self, m: Managed, code: int, now: float) -> None:
        pid, m.last_exit_code, m.pid = m.pid, code, 0
        self.control.exited(m.key)
        was_stopping = m.state is AgentState.STOPPING
        m.move(Event.EXIT)
        if was_stopping:
            if m.replaced and not self.stopping:
                m.replaced = False
                m.move(Event.RESTART_DUE)  # back to waiting: starts when its deps are ready
            return
        self.control.notify({"event": "exited", "agent": m.cfg.name, "code": code, "pid": pid})
        policy = m.cfg.restart.policy
        if self.stopping or policy == "never" or (policy == "on-failure" and code == 0):
            if not self.stopping:
                log.warning("%s exited with %d; restart policy %s: not restarting",
                            m.cfg.name, code, policy)
            m.move(Event.GIVE_UP)
            return
        self._schedule_restart(m, code, now)

    def _schedule_restart(self, m: Managed, code: int, now: float) -> None:
        # stable: this run (not an earlier one) was READY for the whole window
        stable = (m.ready_at and m.ready_at >= m.started_at
                  and now - m.ready_at >= m.backoff.stable_after_s)
        if stable:
            m.backoff.reset()
        delay = 0.0 if stable else m.backoff.next_s()
        m.restart_at = now + delay
        uptime_s = now - m.started_at
        m.short_runs = 0 if uptime_s >= m.cfg.restart.stable_s else m.short_runs + 1
        m.crash_loop = m.short_runs >= m.cfg.restart.crash_loop_starts
        level = logging.ERROR if m.cfg.required or m.crash_loop else logging.WARNING
        log.log(level, "%s exited with %d after %.1f s; restart %d in %.2f s%s", m.cfg.name,
                code, uptime_s, m.restarts + 1, delay,
                f" (CRASH LOOP: {m.short_runs} starts in a row up less than "
                f"{m.cfg.restart.stable_s:g} s)" if m.crash_loop else "")
        if m.crash_loop:
            self.control.notify({"event": "crash_loop", "agent": m.cfg.name, "code": code,
                                 "starts": m.short_runs, "uptime_s": round(uptime_s, 2)})

    # -- the periodic step -----------------------------------------------------------------
    def step(self, now: float | None = None) -> bool:
        """One round over the agents; True while one is waiting, starting or backing off
        (the launcher steps every tick then, and less often once all are settled)."""
        now = time.monotonic() if now is None else now
        if self.stopping:
            return True
        if self.discarded:
            self._reap(now)
        busy = bool(self.discarded)
        batch: list[Managed] = []
        for m in list(self.agents.values()):
            busy = busy or m.state in (AgentState.WAITING, AgentState.STARTING,
                                       AgentState.BACKOFF, AgentState.STOPPING)
            if m.state is AgentState.WAITING:
                if len(batch) < SPAWN_BATCH and self.deps_ready(m):
                    batch.append(m)
            elif m.state is AgentState.BACKOFF and now >= m.restart_at:
                m.restarts += 1
                m.move(Event.RESTART_DUE)
                self.control.notify({"event": "restarted", "agent": m.cfg.name})
            elif (m.state is AgentState.READY and now >= m.due_at) or (
                    m.state is AgentState.STARTING and now >= m.next_probe_at):
                self._probe(m, now)  # each ready agent only when due: O(due) per step
            elif m.state is AgentState.STOPPING and m.pid and now >= m.kill_at:
                log.warning("%s did not stop in time: SIGKILL", m.key)
                self.control.signal(m.pid, signal.SIGKILL)
                m.kill_at = float("inf")  # the exit event moves it on
        if batch:
            self.start_many(batch, now)
        return busy

    def _reap(self, now: float) -> None:
        """Forget discarded instances once stopped; the rest are SIGKILLed by their deadline
        (step(), with every other stop that outlives its time)."""
        for key, deadline in list(self.discarded.items()):
            m = self.agents.get(key)
            if m is None or m.state is AgentState.STOPPED:
                self.agents.pop(key, None)
                del self.discarded[key]
                if key == _base(key):
                    self.plan.agents.pop(key, None)
            elif m.state is AgentState.STOPPING and deadline < float("inf"):
                m.kill_at = min(m.kill_at, deadline)  # a fence kills at once
                self.discarded[key] = float("inf")  # handed over to kill_at

    def timing(self, cfg: AgentConfig) -> HealthProbe:
        """cfg's probe timings: ``global.health`` with the agent's own ``health:`` over it."""
        probe = self.plan.config.global_.health
        return cfg.health.over(probe) if cfg.health else probe

    def probe_interval_s(self, cfg: AgentConfig) -> float:
        """How often a ready agent is probed: its ``health.interval_s``.  Between probes its
        liveness stamp speaks for it (common.launcher.liveness); a stale one brings the next
        probe forward (``probe_now``)."""
        return self.timing(cfg).interval_s

    def probe_now(self, key: str, now: float) -> None:
        """key's loop stopped stamping: probe it at the next step, not at its next interval
        (a hang is then found by its probes' timeouts as ever)."""
        m = self.agents.get(key)
        if m is not None and m.state is AgentState.READY and m.next_probe_at > now:
            m.next_probe_at = m.due_at = now

    def _probe(self, m: Managed, now: float) -> None:
        timing = self.timing(m.cfg)
        if m.crash_loop and now - m.started_at >= m.cfg.restart.stable_s:
            m.crash_loop, m.short_runs = False, 0  # it stays up now
            log.info("%s has stayed up %.0f s: no longer a crash loop", m.cfg.name,
                     now - m.started_at)
        if m.state is AgentState.STARTING:
            if now - m.started_at > timing.start_period_s:
                m.probe_failures = timing.retries
                self._hung(m)
                return
            waited = self.control.outstanding_s(m.key)
            if not waited or waited >= timing.timeout_s:  # one probe at a time, till it times out
                self.control.probe(m.cfg, m.key)
            waiting = now - m.started_at
            m.next_probe_at = now + (STARTING_PROBE_S if waiting < 1.0 else
                                     min(STARTING_PROBE_MAX_S, waiting / 10))
            return
        waited = self.control.outstanding_s(m.key)
        if waited >= timing.timeout_s:
            m.probe_failures += 1
            self.control.forget(m.key)  # a fresh socket: no stale replies counted later
            if m.probe_failures >= timing.retries:
                self._hung(m)
                return
            self.control.probe(m.cfg, m.key)
            m.due_at = now + timing.timeout_s
        elif waited:
            m.due_at = now + timing.timeout_s - waited
        elif now >= m.next_probe_at:
            self.control.probe(m.cfg, m.key)
            interval = self.probe_interval_s(m.cfg)
            m.next_probe_at = now + interval
            m.due_at = now + min(interval, timing.timeout_s)
        else:
            m.due_at = m.next_probe_at

    def _hung(self, m: Managed) -> None:
        log.error("%s (pid %d) did not answer %d health probes: killing it as hung",
                  m.cfg.name, m.pid, m.probe_failures)
        self.control.notify({"event": "hung", "agent": m.cfg.name, "pid": m.pid})
        self.control.signal(m.pid, signal.SIGKILL)
        m.next_probe_at = m.due_at = float("inf")  # the exit event moves it on

    def restart(self, name: str, now: float) -> None:
        """`mesh restart NAME`: stop it now; it comes back after its initial backoff."""
        m = self.agents[name]
        m.backoff.reset()
        m.ready_at = 0.0
        if m.pid:
            self.control.signal(m.pid, signal.SIGTERM)
        elif m.state is AgentState.STOPPED:
            m.move(Event.RESTART_DUE)
        elif m.state is AgentState.BACKOFF:
            m.restart_at = now

    # -- reload ----------------------------------------------------------------------------
    @property
    def migrating(self) -> bool:
        """A blue/green instance runs or is being discarded here (see instances)."""
        return bool(self.discarded) or any(m.key != m.cfg.name for m in self.agents.values())

    def reload(self, plan: HostPlan, changes: ReloadPlan, now: float) -> None:
        """`mesh reload`: from now on run plan; act on exactly what changes lists."""
        self.plan = plan
        for name in changes.stop:
            self.stop_one(self.agents[name])
            self.discarded[name] = now + plan.config.global_.stop_timeout_s
        for name in changes.restart:
            self._replace(self.agents[name], plan.agents[name], now)
        for name in changes.start:
            self.agents[name] = managed(plan.agents[name])
        log.info("reloaded: %d stopped, %d restarted, %d added", len(changes.stop),
                 len(changes.restart), len(changes.start))

    def _replace(self, m: Managed, cfg: AgentConfig, now: float) -> None:
        """Run m with cfg: stop it (it starts again once stopped and its deps are ready)."""
        m.cfg, m.backoff = cfg, managed(cfg).backoff
        if m.state in (AgentState.STARTING, AgentState.READY):
            m.replaced = True
            self.stop_one(m)
        elif m.state is AgentState.BACKOFF:
            m.restart_at = now
        elif m.state is AgentState.STOPPED:
            m.move(Event.RESTART_DUE)

    # -- ordered stop ----------------------------------------------------------------------
    def begin_stop(self, now: float) -> None:
        """Stop every agent in reverse dependency order: SIGTERM a wave, SIGKILL it after
        stop_timeout_s, then the next wave."""
        self.stopping = True
        self._stop_waves = stop_waves(self.plan.waves, list(self.agents))
        self._wave_deadline = 0.0
        self._killed: dict[int, float] = {}

    def stop_step(self, now: float) -> bool:
        """Advance the ordered stop; True once every agent is stopped."""
        while self._stop_waves:
            wave = [self.agents[n] for n in self._stop_waves[0]]
            if not self._wave_deadline:
                self._wave_deadline = now + self.plan.config.global_.stop_timeout_s
                for m in wave:
                    self.stop_one(m)
            running = [m for m in wave if m.pid]
            if not running:
                self._stop_waves.pop(0)
                self._wave_deadline = 0.0
                continue
            if now >= self._wave_deadline:
                self._kill_wave(running, now)
            return False
        return all(m.state is AgentState.STOPPED for m in self.agents.values())

    def _kill_wave(self, running: list[Managed], now: float) -> None:
        """SIGKILL each straggler once; one whose process is gone without an exit event
        (its reaper died) is counted stopped after KILL_GRACE_S, so a stop always ends."""
        for m in running:
            if m.pid not in self._killed:
                log.warning("%s did not stop in time: SIGKILL", m.cfg.name)
                self.control.signal(m.pid, signal.SIGKILL)
                self._killed[m.pid] = now
            elif now - self._killed[m.pid] > KILL_GRACE_S and not self.control.alive(m.pid):
                log.error("%s (pid %d) is gone but no exit was reported", m.cfg.name, m.pid)
                self.on_exit_of(m, -signal.SIGKILL, now)

    def stop_one(self, m: Managed) -> None:
        """SIGTERM m; step() SIGKILLs it once stop_timeout_s passed (an agent ignoring SIGTERM
        would otherwise stay "stopping" and a reload never start its new entry)."""
        m.move(Event.STOP)
        m.kill_at = time.monotonic() + self.plan.config.global_.stop_timeout_s
        if m.pid:
            self.control.signal(m.pid, signal.SIGTERM)

    def status(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [m.status(now) for m in self.agents.values()]
