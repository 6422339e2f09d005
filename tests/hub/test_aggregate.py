"""Aggregation without sockets: roll-up names the root cause, flap damping, windows."""

import pytest

from observability_hub.aggregate import MAX_UNKNOWN_AGENTS, Aggregator
from observability_hub.records import FAIL_THRESHOLD, RECOVER_THRESHOLD
from observability_hub.rollup import root_causes
from observability_hub.window import histogram_quantile

pytestmark = pytest.mark.timeout(10)


def report(agent, seq, status="passing", interval_s=1.0):
    return {"agent": agent, "instance_id": f"{agent}-1", "seq": seq, "interval_s": interval_s,
            "health": {"status": status, "checks": []}, "host_name": "main_pc"}


def test_one_dead_registry_is_one_root_cause_not_many_failures():
    deps = {"A": ["Registry"], "B": ["A"], "C": ["Registry"], "D": []}
    causes = root_causes({"Registry", "A"}, ["Registry", "A", "B", "C", "D"], deps)
    assert causes == {"A": ["Registry"], "B": ["Registry"], "C": ["Registry"]}


def test_root_cause_named_in_the_view_after_a_crash_event():
    agg = Aggregator({"A": ["Registry"], "B": ["A"]})
    for i, name in enumerate(["Registry", "A", "B"]):
        agg.ingest_report(report(name, 1), seen_at=100.0 + i * 0.01)
    agg.ingest_event({"agent": "Registry", "event": "exited", "code": -9, "pid": 42}, 100.5)
    agents = {a["name"]: a for a in agg.view(now=100.6)["agents"]}
    assert agents["Registry"]["state"] == "critical" and not agents["Registry"]["affected"]
    assert "exited with code -9" in agents["Registry"]["reasons"][0]
    assert agents["A"]["affected"] and agents["A"]["root_cause"] == ["Registry"]
    assert agents["B"]["root_cause"] == ["Registry"]


def test_flap_damping_needs_consecutive_reports():
    agg = Aggregator()
    seq = 0

    def send(status):
        nonlocal seq
        seq += 1
        agg.ingest_report(report("A", seq, status), seen_at=10.0 + seq * 0.01)
        return agg.view(now=10.0 + seq * 0.01)["agents"][0]["state"]

    assert send("critical") == "warning"  # 1 of FAIL_THRESHOLD: damped
    assert send("passing") == "passing"
    states = [send("critical") for _ in range(FAIL_THRESHOLD)]
    assert states[-1] == "critical"
    states = [send("passing") for _ in range(RECOVER_THRESHOLD)]
    assert states[:-1] == ["critical"] * (RECOVER_THRESHOLD - 1) and states[-1] == "passing"


def test_gaps_in_seq_count_as_lost_heartbeats():
    agg = Aggregator()
    for seq in (1, 2, 5, 5, 7):
        agg.ingest_report(report("A", seq), seen_at=float(seq))
    record = agg.records["A"]
    assert (record.reports_total, record.lost_total, record.seq) == (4, 3, 7)
    for seq in (4, 3, 4):  # late, by the long way round through the edge hub
        agg.ingest_report(report("A", seq), seen_at=8.0)
    assert (record.reports_total, record.lost_total, record.seq) == (6, 1, 7)


def test_histogram_quantile_matches_promql_interpolation():
    # buckets le=0.00005.. as in LATENCY_BUCKETS_S; all 100 requests in (0.5, 1.0]
    cumulative = [0.0] * 13 + [100.0] * 5
    assert histogram_quantile(0.95, cumulative) == pytest.approx(0.5 + 0.5 * 0.95)
    assert histogram_quantile(0.5, [0.0] * 18) is None


def test_unconfigured_agents_silent_for_long_are_forgotten():
    from observability_hub.aggregate import FORGET_AFTER_S

    agg = Aggregator(hosts={"Configured": "pc2"})
    agg.ingest_report(report("Configured", 1), seen_at=1.0)
    agg.ingest_report(report("Transient", 1), seen_at=1.0)
    assert agg.prune(now=FORGET_AFTER_S) == []
    assert agg.prune(now=FORGET_AFTER_S + 2) == ["Transient"]
    assert list(agg.records) == ["Configured"]


def test_agents_not_in_the_config_are_bounded_and_config_agents_always_kept():
    agg = Aggregator({"Known": []}, hosts={"Known": "main_pc"})
    for i in range(MAX_UNKNOWN_AGENTS + 50):
        agg.ingest_report(report(f"Fake{i}", 1), seen_at=100.0)
        agg.ingest_event({"agent": f"Ghost{i}", "event": "exited", "code": 1}, 100.0)
    agg.ingest_report(report("Known", 1), seen_at=100.0)
    assert len(agg.records) == MAX_UNKNOWN_AGENTS + 1
    view = agg.view(now=100.1)
    assert view["unknown_agents_dropped"] == 50 + MAX_UNKNOWN_AGENTS + 50
    assert {a["name"]: a for a in view["agents"]}["Known"]["seq"] == 1
