"""Liveness stamps between probes, on real processes: an agent waiting for input reads as live
while its process runs (and not once it is reported stopped), a turning one ages from its turn, and
the fork server's stall watch wakes an idle agent when its launcher's stamp goes stale."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from common.base_agent.stamp import LAUNCHER_SLOT, SLOT, LivenessStamp
from common.launcher.stamps import StampBoard
from common.spawn.stall import StallWatch
from common.testing.wait import wait_until

AGENT = """
import sys
from common.base_agent.stamp import LivenessStamp
from common.testing.agents import EchoAgent
agent = EchoAgent("Stamped", "tcp://127.0.18.21:0")
agent.stamp = LivenessStamp(sys.argv[1], 1, stale_s=0.5)
agent.run()
"""


@pytest.fixture
def board(tmp_path):
    board = StampBoard(str(tmp_path), "stamptest")
    yield board
    board.close()


@pytest.fixture
def children():
    started: list[subprocess.Popen] = []
    yield lambda *argv: started.append(subprocess.Popen([sys.executable, *argv])) or started[-1]
    for proc in started:
        proc.kill()
        proc.wait(5)


def test_idle_stamp_is_live_while_the_process_runs_and_stale_once_stopped(children, board):
    proc = children("-c", "import time; time.sleep(60)")
    slot = board.assign("Agent")
    assert slot == 1
    stamp = LivenessStamp(board.path, slot, stale_s=0.5)
    try:
        now = time.monotonic()
        assert board.age_s("Agent", now, proc.pid) == float("inf")  # no turn yet
        stamp.beat()
        assert 0 <= board.age_s("Agent", time.monotonic() + 2, proc.pid) - 2 < 0.5  # busy
        stamp.idle()
        assert board.age_s("Agent", time.monotonic() + 60, proc.pid) == 0.0  # waits: live
        board.stopped(proc.pid)  # the fork server reported it stopped (test_forkserver)
        assert board.age_s("Agent", time.monotonic(), proc.pid) == float("inf")
        board.stopped(proc.pid, False)  # ... and continued
        assert board.age_s("Agent", time.monotonic(), proc.pid) == 0.0
        assert board.age_s("Unknown", time.monotonic(), proc.pid) == float("inf")
    finally:
        stamp.close()


def test_stall_watch_wakes_an_idle_agent_once_per_stall(children, board):
    board.beat(time.monotonic())
    slot = board.assign("Stamped")
    proc = children("-c", AGENT, board.path)
    reader = LivenessStamp(board.path, slot, stale_s=0.5)

    def waiting_since() -> float | None:
        value = SLOT.unpack_from(reader._map, slot * SLOT.size)[0]
        return -value if value < 0 else None

    try:
        watch = StallWatch()
        watch.add(proc.pid, board.path, heartbeat_interval_s=1.0)
        assert watch.wait_s() == 0.25
        first = wait_until(waiting_since, 20, what="the agent waiting for input")
        board.beat(time.monotonic())
        assert watch.check() == 0  # the launcher's stamp is fresh: nobody is woken
        time.sleep(0.3)  # the agent sleeps in its poll: no turn of its own
        assert waiting_since() == first
        SLOT.pack_into(reader._map, LAUNCHER_SLOT * SLOT.size, time.monotonic() - 1.0)
        assert watch.check() == 1  # stale: SIGUSR1 to the agent, which turns once
        woken = wait_until(lambda: (lambda t: t if t and t > first else None)(
            waiting_since()), 5, what="the agent woken by its fork server's watch")
        assert watch.check() == 0  # once per stall
        board.beat(time.monotonic())
        assert watch.check() == 0
        assert waiting_since() == woken
        assert proc.poll() is None  # SIGUSR1 wakes it, never ends it
        watch.discard(proc.pid)
        assert watch.wait_s() == 1.0
        watch.close()
    finally:
        reader.close()
