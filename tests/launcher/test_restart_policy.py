"""The supervisor's restart delays, on a manual clock: at once after a stable run, then the
DESIGN's backoff (initial, doubling to the cap) for repeats within the stable window.

Found by the chaos soak: every kill -9 of an agent that had served for minutes still waited the
full 1 s initial backoff (most of its 1.2 s recovery); and an agent that crashed again before
becoming ready, long after an earlier stable run, was restarted every 1 s forever instead of
backing off, because the earlier run's readiness kept resetting its backoff.
"""

import signal

from common.config import parse_config
from common.launcher.plan import HostPlan
from common.launcher.state import AgentState
from common.launcher.supervisor import Supervisor

STABLE_S = 10.0  # Backoff.stable_after_s for the default 1 s initial backoff


class NoProcesses:
    """A ProcessControl over no processes: each spawn a new pid; signals and probes go nowhere."""

    def __init__(self):
        self.pids = iter(range(1000, 2000))

    def spawn_many(self, agents):
        return [next(self.pids) for _ in agents]

    def signal(self, pid, sig):
        pass

    def alive(self, pid):
        return False

    def probe(self, cfg, key):
        pass

    def outstanding_s(self, key):
        return 0.0

    def forget(self, key):
        pass

    def exited(self, key):
        pass

    def remote_ready(self, name):
        return True

    def notify(self, event):
        pass


def supervisor():
    config = parse_config({
        "version": 1,
        "hosts": {"main_pc": {"address": "127.0.0.1"}},
        "agents": [{"name": "A", "host": "main_pc", "port": 7301,
                    "module": "common.testing.agents:EchoAgent"}]})
    return Supervisor(HostPlan(config, "main_pc"), NoProcesses())


def crash(sup, now, ready=True):
    """Start A (if due), make it ready if asked, kill it at now; the delay it is given."""
    a = sup.agents["A"]
    sup.step(now - (STABLE_S + 1 if ready else 0.5))
    assert a.state is AgentState.STARTING
    if ready:
        sup.on_health("A", now - STABLE_S - 0.5)
    sup.on_exit(a.pid, -signal.SIGKILL, now)
    assert a.state is AgentState.BACKOFF
    return round(a.restart_at - now, 3)


def test_first_crash_after_a_stable_run_restarts_at_once_repeats_back_off():
    sup = supervisor()
    assert crash(sup, 100.0) == 0.0  # served for 10.5 s: restarted at once
    sup.step(100.0)  # restart due: A waits for nothing, and starts on the next step
    assert crash(sup, 103.0, ready=False) == 1.0  # within the window: initial backoff
    sup.step(104.0)
    assert crash(sup, 104.6, ready=False) == 2.0  # then doubling
    sup.step(106.6)
    assert crash(sup, 500.0, ready=False) == 4.0  # never ready again: no reset, ever


def test_mesh_restart_comes_back_after_the_initial_backoff():
    sup = supervisor()
    sup.step(0.0)
    sup.on_health("A", 1.0)
    sup.restart("A", 50.0)  # SIGTERM sent (to nothing here); the exit follows
    sup.on_exit(sup.agents["A"].pid, 0, 50.5)
    assert round(sup.agents["A"].restart_at - 50.5, 3) == 1.0
