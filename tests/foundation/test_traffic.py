"""The per-request ring a canary judge reads (common.base_agent.traffic)."""

from __future__ import annotations

import time
import tracemalloc

from common.base_agent.traffic import TrafficLog


def test_ring_wraps_oldest_first_and_counts_what_it_pushed_out() -> None:
    log = TrafficLog(kept=5)
    for i in range(7):
        log.add("echo" if i % 2 else "other", float(i), "internal" if i == 5 else "")
    log.add("health", 99.0, "")  # housekeeping is never kept
    got = log.since(0.0)
    assert got["seconds"] == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert got["error"] == ["", "", "", "internal", ""]
    assert log.dropped == 2
    assert log.since(0.0, "echo")["seconds"] == [3.0, 5.0]
    assert log.since(0.0, "never")["seconds"] == []


def test_since_returns_only_what_came_after_a_read() -> None:
    log = TrafficLog(kept=100)
    log.add("echo", 1.0, "")
    mark = time.time()
    while time.time() <= mark:  # the next sample is stamped strictly after the mark
        pass
    log.add("echo", 2.0, "")
    assert log.since(mark)["seconds"] == [2.0]
    assert log.since(time.time() + 1)["seconds"] == []


def test_a_full_ring_costs_well_under_half_a_megabyte() -> None:
    log = TrafficLog()
    tracemalloc.start()
    try:
        for i in range(40_000):
            log.add("echo", i * 1e-4, "")
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert used < 450_000, used
