"""The hub's SLO engine on an accelerated clock with a real SQLite history: incidents with
durations, counters that restart from zero, the scheduled report files, the heartbeat SLI."""

import json

import pytest

from observability_hub.slo import SloEngine
from observability_hub.slo_spec import SloPlan, SloSpec

pytestmark = pytest.mark.timeout(60)

T0 = 1_700_000_000 - 1_700_000_000 % 3600
SPECS = [SloSpec(name="a-availability", sli="availability", objective=0.999, window_s=86400,
                 agents=["A"], hosts={"A": "main_pc"}),
         SloSpec(name="a-heartbeat", sli="heartbeat", objective=0.99, window_s=86400,
                 agents=["A"], hosts={"A": "main_pc"})]


def drive(engine, seconds, per_step, start=T0, step_s=10, instance="A-1", state=None):
    """A serves per_step(t) -> (requests, errors, up) every step; counters in ``state``."""
    state = state if state is not None else {"requests": 0, "errors": 0}
    for t in range(start, start + seconds + 1, step_s):
        requests, errors, up = per_step(t)
        state["requests"] += requests
        state["errors"] += errors
        actions = {"infer": {"count": state["requests"], "errors": {"internal": state["errors"]},
                             "buckets": [], "sum_s": 0.0}}
        engine.tick({"A": (instance, actions, up)}, float(t))
    return state


def test_an_outage_is_one_incident_with_its_duration(tmp_path):
    engine = SloEngine(SloPlan(objectives=SPECS, db_path=str(tmp_path / "slo.db")))
    outage = (T0 + 1800, T0 + 2400)  # ten minutes of errors, then ten of downtime

    def step(t):
        if outage[0] <= t < outage[1]:
            return 10, 10, True
        if outage[1] <= t < outage[1] + 600:
            return 0, 0, False
        return 10, 0, True

    drive(engine, 3 * 3600, step)
    doc = engine.report(T0 + 3 * 3600 + 10)
    avail, beat = doc["slos"]
    assert [(i["agent"], i["start"] - T0, i["duration_s"], i["open"])
            for i in avail["incidents"]] == [("A", 1800, 600, False)]
    assert avail["mttr_s"] == 600
    assert [(i["start"] - T0, i["duration_s"]) for i in beat["incidents"]] == [(2400, 600)]
    assert avail["total"] - avail["good"] == 600  # 60 steps of 10 errors
    assert beat["sli"] == pytest.approx(1 - 600 / (3 * 3600), abs=1e-3)
    engine.close()


def test_a_restarted_agent_counts_from_zero(tmp_path):
    engine = SloEngine(SloPlan(objectives=SPECS[:1], db_path=str(tmp_path / "slo.db")))
    drive(engine, 600, lambda t: (10, 1, True))  # baseline at T0, then 60 steps
    drive(engine, 600, lambda t: (10, 0, True), start=T0 + 610, instance="A-2")
    doc = engine.report(T0 + 1300)["slos"][0]
    assert doc["total"] == 60 * 10 + 61 * 10  # the new instance's first counters count
    assert doc["total"] - doc["good"] == 60
    engine.close()


def test_the_report_is_written_every_report_every(tmp_path):
    plan = SloPlan(objectives=SPECS, db_path=str(tmp_path / "slo.db"), report_every_s=3600,
                   report_dir=str(tmp_path / "reports"))
    engine = SloEngine(plan)
    drive(engine, 3 * 3600 + 60, lambda t: (10, 0, True))
    files = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert files == ["slo-report.html", "slo-report.json", "slo-report.md"]
    doc = json.loads((tmp_path / "reports" / "slo-report.json").read_text())
    assert doc["generated_at"] == T0 + 3 * 3600  # the third hour's report, on time
    assert [s["slo"] for s in doc["slos"]] == ["a-availability", "a-heartbeat"]
    assert "a-availability: availability" in (tmp_path / "reports" / "slo-report.md").read_text()
    engine.close()
