"""The dashboard's charts and incident timeline in headless Chromium, calm and during an
incident; the screenshots are saved as docs/dashboard-calm.png and docs/dashboard-incident.png.

The scene: the reference roster reporting to the hub pair (series at a 0.5 s step so that a
test fills them in seconds), one agent whose latency then rises by half (a MeshAnomaly warning
with its band) and one PC2 agent crash-looping (a critical alert and process events); an
availability SLO on the first agent charts its error budget left."""

import re
import shutil
from pathlib import Path

import pytest
from hub_helpers import get_json
from test_anomaly import FAST, Reporter
from test_dashboard import chromium, roster

from common.hub.client import ProcessEventClient
from common.hub.fleet import Fleet
from common.testing.wait import wait_until

pytestmark = [pytest.mark.timeout(90),
              pytest.mark.skipif(shutil.which("chromium") is None,
                                 reason="chromium not installed (Debian package chromium)")]

DOCS = Path(__file__).parents[2] / "docs"
SLOW, CRASHED = "ModelEvaluationFramework", "AsyncProcessor"
# a chromium run loads the two cores for seconds: signals must stay out longer than that
ANOMALY = {**FAST, "history_s": 120.0, "min_duration_s": 3.0, "confirm_s": 8.0}


def charts(html):
    """{(title, signal): points} of every chart on the page."""
    found = re.findall(r'class="chart[^"]*" data-signal="(\w+)" data-points="(\d+)">'
                       r"<h3><span>([^<]*?) · ", html)
    return {(title, signal): int(n) for signal, n, title in found}


@pytest.mark.slow
def test_charts_and_timeline_calm_and_during_an_incident(hub_pair, zmq_ctx):
    agents, hosts, deps = roster()
    settings = {"dependencies": deps, "hosts": {**hosts, SLOW: "main_pc", "HubC": "main_pc",
                                                "HubE": "pc2"}, "anomaly": ANOMALY}
    slos = {"objectives": [{"name": "evaluator-availability", "sli": "availability",
                            "objective": 0.99, "window_s": 86400, "agents": [SLOW],
                            "hosts": {SLOW: "main_pc"}}]}
    central, edge = hub_pair({**settings, "slos": slos}, {**settings})
    fleets = [Fleet(zmq_ctx, central.endpoint, [a["name"] for a in agents["main_pc"]
                                                if a["name"] != SLOW],
                    interval_s=0.25, gpu_owners=["ModelManagerSuite"]),
              Fleet(zmq_ctx, edge.endpoint, [a["name"] for a in agents["pc2"]], interval_s=0.25)]
    slow = Reporter(zmq_ctx, central.endpoint, SLOW)
    for worker in (*fleets, slow):
        worker.start()
    url = central.http.url
    try:
        wait_until(lambda: len(get_json(f"{url}/api/series?agent={SLOW}")["agent_series"]
                               .get("latency_p95_s", [])) >= 16, 30, interval_s=0.2,
                   what="8 s of series")
        wait_until(lambda: not get_json(url + "/api/series")["anomalies"], 30, interval_s=0.2,
                   what="calm: the series settled after the fleets' start")
        calm = chromium(url, "--dump-dom")
        assert calm.returncode == 0, calm.stderr[-2000:]
        drawn = charts(calm.stdout)
        for host in ("main_pc", "pc2"):
            for signal in ("rate", "latency_p95_s", "error_ratio"):
                assert drawn[(host, signal)] >= 10, (host, signal, drawn)
        assert drawn[("GPU main_pc/0", "vram_used_bytes")] >= 10
        assert 'data-alert="MeshAgentCrashLooping"' not in calm.stdout
        assert not re.search(rf'class="chart anomalous"[^>]*><h3><span>{SLOW} · ', calm.stdout)
        shot(url, "dashboard-calm.png")

        slow.latency_s = 0.03
        launcher = ProcessEventClient([edge.endpoint, central.endpoint], "pc2", ctx=zmq_ctx)
        for pid in (4242, 4243, 4244):
            launcher.push(CRASHED, pid, "restarted", code=1)
        launcher.close()
        def firing():
            alerts = get_json(url + "/api/alerts")["alerts"]
            return {(a["alertname"], a["labels"].get("subject") or a["labels"].get("agent"))
                    for a in alerts if a["state"] == "firing"}
        wait_until(lambda: {("MeshAnomaly", SLOW), ("MeshAgentCrashLooping", CRASHED)}
                   <= firing(), 15, interval_s=0.2, what="both alerts firing")
        incident = chromium(f"{url}/?agent={SLOW}", "--dump-dom")
        html = incident.stdout
        found = get_json(url + "/api/series")["anomalies"]
        assert 'data-alert="MeshAnomaly"' in html and 'data-alert="MeshAgentCrashLooping"' in html
        assert html.count('data-event="process.restarted"') == 3
        assert re.search(r'class="chart anomalous" data-signal="latency_p95_s" data-points="\d+">'
                         rf"<h3><span>{SLOW} · ", html), found
        assert '<rect class="band"' in html
        assert charts(html)[("evaluator-availability", "budget_left")] >= 1
        shot(f"{url}/?agent={SLOW}", "dashboard-incident.png")
    finally:
        for worker in fleets:
            worker.stop()
        slow.stop.set()
        slow.join(2)


def shot(url, name):
    result = chromium(url, f"--screenshot={DOCS / name}", "--window-size=1400,2200")
    assert result.returncode == 0 and (DOCS / name).stat().st_size > 10_000, result.stderr[-2000:]
