"""The hub's SLOs with real agents: an error burst pages (MeshSloBurnPage on /api/alerts),
the report counts exactly the requests made, and a restarted hub keeps the SLI history."""

import pytest
from hub_helpers import FAST_S, free_port, get_json

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.testing.agents import HubEchoAgent
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub
from observability_hub.slo_burn import PAGE_ALERT
from observability_hub.slo_store import SliStore

pytestmark = pytest.mark.timeout(60)

OK_CALLS, FAILED_CALLS = 80, 40


def slo_settings(tmp_path):
    return {"role": "central", "http_port": 0, "slos": {
        "objectives": [{"name": "worker-availability", "sli": "availability",
                        "objective": 0.99, "window_s": 7 * 86400, "agents": ["Worker"],
                        "hosts": {"Worker": "main_pc"}}],
        "db_path": str(tmp_path / "slo.db"), "report_dir": str(tmp_path / "reports")}}


def start_hub(agents, tmp_path, endpoint="tcp://127.0.0.1:0"):
    return agents(ObservabilityHub("Hub", endpoint, heartbeat_interval_s=FAST_S,
                                   settings=slo_settings(tmp_path)))


def slo_doc(hub, window=None):
    query = "" if window is None else f"?window={window}"
    return get_json(f"{hub.http.url}/api/slo{query}")["slos"][0]


def test_error_burst_pages_and_report_counts_every_request(agents, tmp_path):
    hub = start_hub(agents, tmp_path)
    worker = agents(HubEchoAgent("Worker", heartbeat_interval_s=FAST_S,
                                 settings={"hubs": [hub.endpoint]}))
    wait_until(lambda: "Worker" in hub.slo.sampler.last, 15, what="the SLO sampler's baseline")
    client = Client(None, source="test")
    try:
        for i in range(OK_CALLS):
            client.call_endpoint(worker.endpoint, "echo", {"i": i}, timeout_s=2.0)
        for _ in range(FAILED_CALLS):
            with pytest.raises(MeshError):
                client.call_endpoint(worker.endpoint, "fail", {}, timeout_s=2.0, retries=0)
    finally:
        client.close()

    def paged():
        alerts = get_json(hub.http.url + "/api/alerts")["alerts"]
        return [a for a in alerts if a["alertname"] == PAGE_ALERT
                and a["labels"] == {"slo": "worker-availability"} and a["state"] == "firing"]

    wait_until(paged, 20, interval_s=0.2, what="the page alert")
    doc = wait_until(lambda: (d := slo_doc(hub, "1d"))["total"] == OK_CALLS + FAILED_CALLS
                     and d, 15, interval_s=0.2, what="every request in the report")
    assert doc["good"] == OK_CALLS
    assert doc["sli"] == pytest.approx(OK_CALLS / (OK_CALLS + FAILED_CALLS))
    assert doc["attained"] is False and doc["budget_spent"] > 1.0
    assert [a["agent"] for a in doc["agents"]] == ["Worker"]
    assert doc["hosts"][0]["host"] == "main_pc" and doc["hosts"][0]["total"] == doc["total"]
    state = get_json(hub.http.url + "/api/slo")["state"][0]
    assert state["page"] and state["burn_rate"]["5m"] > 14.4
    health = wait_until(lambda: (h := get_json(hub.http.url + "/api/health"))["slos"][0]
                        ["budget_left"] is not None and h, 10, what="budget left")
    assert health["slos"][0]["budget_left"] == pytest.approx(1 - (1 - doc["sli"]) / 0.01,
                                                             abs=0.5)


def calls(worker, action, n):
    client = Client(None, source="test")
    try:
        for i in range(n):
            client.call_endpoint(worker.endpoint, action, {"i": i}, timeout_s=2.0)
    finally:
        client.close()


def test_restarted_hub_keeps_the_history_and_counts_what_it_missed(agents, tmp_path):
    """The SLI history and each agent's last counters are in SQLite: the restarted hub
    reports the requests made before it stopped and those served while it was away."""
    hub = start_hub(agents, tmp_path, f"tcp://127.0.0.1:{free_port()}")
    worker = agents(HubEchoAgent("Worker", heartbeat_interval_s=FAST_S,
                                 settings={"hubs": [hub.endpoint]}))
    wait_until(lambda: "Worker" in hub.slo.sampler.last, 15, what="the SLO sampler's baseline")
    calls(worker, "echo", OK_CALLS)
    wait_until(lambda: slo_doc(hub)["total"] == OK_CALLS, 15, interval_s=0.2,
               what="the requests counted")
    assert hub.stop(timeout_s=5.0)
    calls(worker, "echo", 20)  # no hub to count them now
    store = SliStore(str(tmp_path / "slo.db"))  # what the next hub starts from
    try:
        assert [row[1:] for row in store.hours("worker-availability", 0)] == \
            [(OK_CALLS, OK_CALLS)]
        assert store.baselines()["Worker"][1]["requests"] == OK_CALLS
    finally:
        store.close()
    again = start_hub(agents, tmp_path, hub.endpoint)
    doc = wait_until(lambda: (d := slo_doc(again))["total"] == OK_CALLS + 20 and d, 20,
                     interval_s=0.2, what="the missed requests counted")
    assert doc["good"] == OK_CALLS + 20


def test_bad_window_is_a_400(agents, tmp_path):
    import urllib.error
    import urllib.request

    hub = start_hub(agents, tmp_path)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(hub.http.url + "/api/slo?window=7x", timeout=2)
    assert err.value.code == 400


def test_report_lists_process_outages_from_the_event_log(agents, tmp_path):
    """A launcher's exited ... restarted pair for a covered agent is an incident of the SLO
    with its duration; MTTR is their mean."""
    import time

    from common.hub.client import ProcessEventClient

    hub = start_hub(agents, tmp_path)
    events = ProcessEventClient([hub.endpoint], "main_pc")
    try:
        now = time.time()
        for event, ts in (("exited", now - 300), ("restarted", now - 240),
                          ("exited", now - 120), ("restarted", now - 30)):
            assert events.push("Worker", 41, event, -9 if event == "exited" else None, ts=ts)
        assert events.push("Other", 42, "exited", -9, ts=now - 200)  # not covered by the SLO
    finally:
        events.close()
    doc = wait_until(lambda: (d := slo_doc(hub)).get("process_incidents", {})
                     .get("incidents") and d, 10, interval_s=0.1, what="incidents")
    incidents = doc["process_incidents"]["incidents"]
    assert [(i["agent"], round(i["duration_s"])) for i in incidents] == \
        [("Worker", 60), ("Worker", 90)]
    assert doc["process_incidents"]["mttr_s"] == pytest.approx(75, abs=1)


def test_cli_report_formats(agents, tmp_path):
    """mesh slo report --format md|html|json from a live hub; --window is checked."""
    import json
    import subprocess
    import sys

    hub = start_hub(agents, tmp_path)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "common.cli.main", "slo", "report",
                               "--hub", hub.http.url, *args], capture_output=True, text=True,
                              timeout=30)

    md = cli("--window", "7d")
    assert md.returncode == 0, md.stderr
    assert "## worker-availability: availability, 99.000 %" in md.stdout
    html = cli("--format", "html")
    assert html.returncode == 0 and "<table>" in html.stdout
    assert "worker-availability" in html.stdout
    doc = json.loads(cli("--format", "json", "--window", "24h").stdout)
    assert doc["window_s"] == 86400 and doc["slos"][0]["slo"] == "worker-availability"
    bad = cli("--window", "7 days")
    assert bad.returncode == 2 and "--window 7 days" in bad.stderr
