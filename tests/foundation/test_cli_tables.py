"""Tables in an 80-column terminal: no line wider, no agent name cut; what is left out is named."""

import pytest

from common.cli.hub_cmd import _health_table
from common.cli.output import Col, print_table
from common.cli.vram_cmd import _print as print_vram

LONG = "UnifiedMemoryReasoningAgent"  # the longest agent name of the reference mesh
CAUSE = "MemoryOrchestratorService"


@pytest.fixture
def screen(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")

    def read():
        out = capsys.readouterr().out
        assert max(len(line.rstrip()) for line in out.splitlines()) <= 80, out
        return out

    return read


def _agent(name, state, root_cause=(), reasons=()):
    return {"name": name, "host": "main_pc", "state": state, "affected": bool(root_cause),
            "root_cause": list(root_cause), "reasons": list(reasons), "heartbeat_age_s": 0.3,
            "restarts": 2}


def test_health_shows_every_name_whole(screen):
    _health_table({"status": "critical", "hub": {"name": "Hub", "role": "central"},
                   "agents": [_agent(LONG, "warning", [CAUSE, "ServiceRegistry"]),
                              _agent(CAUSE, "critical", reasons=["no heartbeat for 12 s"])]})
    out = screen()
    assert LONG in out and CAUSE in out and "ServiceRegistry" in out
    assert "not shown at this width: hb age s, restarts" in out


def test_health_of_a_healthy_mesh_shows_every_column(screen):
    _health_table({"status": "passing", "hub": {"name": "Hub"},
                   "agents": [_agent(LONG, "passing")]})
    out = screen()
    assert LONG in out and "restarts" in out and "not shown" not in out


def test_vram_keeps_holders_whole(screen):
    lease = {"lease_id": "L1-nllb-200-distilled-600M", "gpu": "main_pc:0", "model": "nllb",
             "holder": {"name": LONG}, "vram_mb": 2048, "priority": 5, "pinned": True,
             "idle_s": 1.5, "state": "granted"}
    print_vram({"gpus": [{"gpu": "main_pc:0", "name": "NVIDIA GeForce RTX 4090",
                          "capacity_mb": 24576, "reserve_mb": 512, "committed_mb": 2048,
                          "used_mb": 2000, "free_mb": 22000, "peak_committed_mb": 4096}],
                "leases": [lease],
                "queue": [{**lease, "position": 1, "state": "queued", "waited_s": 1.25,
                           "deadline_in_s": 28.75,
                           "reason": "waiting for L1-nllb-200-distilled-600M to unload"}]})
    out = screen()
    assert out.count(LONG) == 2 and "main_pc:0" in out


def test_a_droppable_column_goes_before_a_name_is_cut(screen):
    print_table("t", [Col("agent", key=True), Col("note", wrap_min=10),
                      Col("extra", key=True, drop=1)], [[LONG, "a long note " * 8, "x" * 40]])
    out = screen()
    assert LONG in out and "x" * 40 not in out and "not shown at this width: extra" in out


def test_a_less_droppable_column_comes_back_when_there_is_room(screen):
    columns = [Col("name", key=True), "host", "state", Col("restarts", drop=2),
               Col("endpoint", key=True, drop=1)]
    print_table("t", columns, [[LONG, "main_pc", "running", 3, "tcp://[fd00:1234:5678::17]:17105"]])
    out = screen()  # restarts went first, then endpoint; then restarts fits again
    assert "restarts" in out and "not shown at this width: endpoint " in out
