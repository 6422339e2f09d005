"""Crash loops by uptime (issue 18, item 3), on a manual clock: starts in a row that did not
stay up restart.stable_s are a crash loop whatever the exit code; a stable run clears it.

Regression: a script that swallowed its exception and exited 0 every 20 s was restarted
forever and never flagged (the old rule wanted 5 restarts within 60 s)."""

from common.config import parse_config
from common.launcher.plan import HostPlan
from common.launcher.state import AgentState
from common.launcher.supervisor import Supervisor


class Recorder:
    """A ProcessControl over no processes that keeps the events it is told."""

    def __init__(self):
        self.pids = iter(range(1000, 2000))
        self.events = []

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
        self.events.append(event)


def supervisor(**restart):
    config = parse_config({
        "version": 1,
        "hosts": {"main_pc": {"address": "127.0.0.1"}},
        "agents": [{"name": "S", "host": "main_pc", "port": 7301, "script_path": "s.py",
                    "restart": restart}]})
    return Supervisor(HostPlan(config, "main_pc"), Recorder())


def run_for(sup, start, uptime_s, code=0):
    """Start S at start (once its backoff is over), let it answer healthy, exit at +uptime_s."""
    s = sup.agents["S"]
    sup.step(start)
    if s.state is AgentState.WAITING:
        sup.step(start)
    assert s.state is AgentState.STARTING
    sup.on_health("S", start + 0.1)
    sup.on_exit(s.pid, code, start + uptime_s)
    return s


def test_exit_zero_every_twenty_seconds_is_a_crash_loop():
    sup = supervisor(stable_s=60, crash_loop_starts=3, backoff_max_s=1)
    t = 0.0
    for n in range(1, 4):
        s = run_for(sup, t, 20.0)
        assert s.crash_loop is (n == 3) and s.last_exit_code == 0
        t = s.restart_at
    flagged = [e for e in sup.control.events if e["event"] == "crash_loop"]
    assert flagged == [{"event": "crash_loop", "agent": "S", "code": 0, "starts": 3,
                        "uptime_s": 20.0}]


def test_a_run_that_stays_up_the_stable_period_clears_the_count():
    sup = supervisor(stable_s=30, crash_loop_starts=3, backoff_max_s=1)
    t = 0.0
    for uptime in (5.0, 5.0, 31.0, 5.0, 5.0):  # never 3 short runs in a row
        s = run_for(sup, t, uptime)
        assert not s.crash_loop
        t = s.restart_at
    s = run_for(sup, t, 5.0)
    assert s.crash_loop


def test_the_flag_clears_while_the_restarted_run_stays_up():
    sup = supervisor(stable_s=10, crash_loop_starts=2, backoff_max_s=1)
    s = run_for(sup, 0.0, 1.0)
    s = run_for(sup, s.restart_at, 1.0)
    assert s.crash_loop
    start = s.restart_at
    sup.step(start)
    sup.step(start)
    sup.on_health("S", start + 0.1)
    sup.step(start + 5.0)
    assert s.crash_loop
    sup.step(start + 10.5)
    assert not s.crash_loop and s.short_runs == 0
