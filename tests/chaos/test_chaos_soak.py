"""The chaos soak (benchmarks/chaos.py) for 60 s: the reference mesh under load, kill -9 and
SIGSTOP of agents, registry, model manager and hubs, and PC2 partitions (network namespaces;
skipped with the reason in the JSON when unavailable).  Asserts the invariants: no registration,
journal entry, VRAM lease or process lost or leaked, every fault recovered, request success
>= 99.9 %.  Recovery times are in the JSON but not asserted here: on a shared CI machine they
are timing-noise; the 10-minute run in the README holds the p95 <= 2 s figure."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 60
RUN_TIMEOUT_S = 240


@pytest.mark.torch  # the reference mesh: model agents
@pytest.mark.timeout(RUN_TIMEOUT_S + 30)
def test_sixty_seconds_of_chaos_lose_and_leak_nothing(tmp_path):
    out = tmp_path / "chaos.json"
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "chaos.py"), "--duration",
                             str(DURATION_S), "--seed", "1", "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the soak stops its mesh and writes its JSON
        log, _ = proc.communicate(timeout=60)
        pytest.fail(f"the soak overran {RUN_TIMEOUT_S} s:\n{log[-4000:]}")
    assert proc.returncode in (0, 1), log[-4000:]  # 1: a criterion failed; the JSON says which
    result = json.loads(out.read_text())
    assert result["faults_injected"] >= 15, result["faults_by_type"]
    assert result["faults_recovered"] == result["faults_injected"], _unrecovered(result)
    assert result["registrations_lost"] == 0, result["registrations"]
    assert result["journal_entries_lost"] == 0 and result["journal"]["unfinished"] == 0
    assert result["vram_leases_leaked"] == 0, result["vram"]
    assert result["processes_leaked"] == 0, result["leaked_pids"]
    assert result["requests"]["success_ratio"] >= 0.999, result["requests"]
    if os.geteuid() == 0 and result["partition"]["enabled"]:
        assert "partition" in result["faults_by_type"]


def _unrecovered(result):
    return [f for f in result["faults"] if not f["recovered"]]
