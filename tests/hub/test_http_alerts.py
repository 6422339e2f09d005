"""HTTP API, alerts with notifications, bearer token, roll-up with live agents, the CLI."""

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hub_helpers import FAST_S, agent_state, get_json

from common.hub.client import ProcessEventClient
from common.testing.agents import HubEchoAgent
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub

pytestmark = pytest.mark.timeout(40)
TOKEN = "s3cret-token"


def post(url, body, token=None, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_crash_loop_alert_notifies_log_and_webhook_and_can_be_acked(agents, webhook, tmp_path,
                                                                    zmq_ctx):
    url, received = webhook
    log_path = tmp_path / "alerts.jsonl"
    hub = agents(ObservabilityHub("Hub", heartbeat_interval_s=FAST_S, settings={
        "http_port": 0, "api_token": TOKEN, "alert_log": str(log_path), "webhook_url": url}))
    launcher = ProcessEventClient([hub.endpoint], host="pc2", ctx=zmq_ctx)
    try:
        for pid in (11, 12, 13):
            assert launcher.push("Asr", pid, "restarted", code=1)
    finally:
        launcher.close()
    wait_until(lambda: received, 5, what="webhook notified")
    assert received[0]["alertname"] == "MeshAgentCrashLooping"
    assert received[0]["status"] == "firing" and received[0]["labels"]["agent"] == "Asr"
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert logged[0]["fingerprint"] == received[0]["fingerprint"]
    status, acked = post(hub.http.url + "/api/alerts/ack",
                         {"fingerprint": received[0]["fingerprint"]}, token=TOKEN)
    assert status == 200 and acked["acked_by"].startswith("token@")
    doc = get_json(hub.http.url + "/api/alerts")
    assert doc["alerts"][0]["acked_by"] and doc["alerts"][0]["state"] == "firing"


def test_state_changing_endpoints_need_the_bearer_token(agents):
    open_hub = agents(ObservabilityHub("Open", heartbeat_interval_s=FAST_S,
                                       settings={"http_port": 0}))
    body = {"matchers": {"alertname": "MeshAgentDown"}, "duration_s": 60}
    assert post(open_hub.http.url + "/api/alerts/silence", body, token=TOKEN)[0] == 403
    hub = agents(ObservabilityHub("Hub", heartbeat_interval_s=FAST_S,
                                  settings={"http_port": 0, "api_token": TOKEN}))
    silence_url = hub.http.url + "/api/alerts/silence"
    assert post(silence_url, body)[0] == 401
    assert post(silence_url, body, token="wrong")[0] == 401
    assert post(silence_url, None, token=TOKEN, raw=b"x" * (65 * 1024))[0] == 413
    assert post(silence_url, {"matchers": {}, "duration_s": 60}, token=TOKEN)[0] == 400
    status, silence = post(silence_url, body, token=TOKEN)
    assert status == 200 and silence["matchers"] == {"alertname": "MeshAgentDown"}
    assert get_json(hub.http.url + "/api/alerts")["silences"][0]["id"] == silence["id"]
    with pytest.raises(urllib.error.HTTPError):
        get_json(hub.http.url + "/nope")


def test_dead_dependency_is_the_one_root_cause(agents):
    deps = {"Asr": ["Registry"], "Nlu": ["Asr"], "Tts": ["Registry"]}
    hub = agents(ObservabilityHub("Hub", heartbeat_interval_s=FAST_S, settings={
        "http_port": 0, "dependencies": deps}))
    mesh = {n: agents(HubEchoAgent(n, settings={"hubs": [hub.endpoint]},
                                   heartbeat_interval_s=FAST_S))
            for n in ("Registry", "Asr", "Nlu", "Tts")}
    health = hub.http.url + "/api/health"
    wait_until(lambda: get_json(health)["counts"]["passing"] == 5, 10, what="all passing")
    mesh["Registry"].kill()
    wait_until(lambda: agent_state(get_json(health), "Registry")["state"] == "critical", 3,
               what="registry critical")
    doc = get_json(health)
    for name in ("Asr", "Nlu", "Tts"):
        agent = agent_state(doc, name)
        assert agent["affected"] and agent["root_cause"] == ["Registry"], agent
    assert doc["counts"]["critical"] == 1 and doc["counts"]["affected"] == 3
    wait_until(lambda: get_json(hub.http.url + "/api/alerts")["alerts"], 3, what="alert")
    alerts = get_json(hub.http.url + "/api/alerts")["alerts"]
    down = [a for a in alerts if a["alertname"] == "MeshAgentDown"]
    assert [a["labels"]["agent"] for a in down] == ["Registry"]  # one page, not four


def test_mesh_health_and_alerts_cli(agents):
    hub = agents(ObservabilityHub("Hub", heartbeat_interval_s=FAST_S,
                                  settings={"http_port": 0}))
    agents(HubEchoAgent("Echo", settings={"hubs": [hub.endpoint]}, heartbeat_interval_s=FAST_S))
    wait_until(lambda: agent_state(get_json(hub.http.url + "/api/health"), "Echo"), 5,
               what="Echo reported")

    def mesh(*args):
        return subprocess.run([sys.executable, "-m", "common.cli.main", *args],
                              capture_output=True, text=True, timeout=30)

    out = mesh("health", "--json", "--hub", hub.http.url)
    assert out.returncode == 0, out.stderr
    assert {a["name"] for a in json.loads(out.stdout)["agents"]} == {"Hub", "Echo"}
    table = mesh("health", "--hub", f"http://127.0.0.1:1,{hub.endpoint}")  # falls back; zmq
    assert table.returncode == 0 and "Echo" in table.stdout, table.stderr
    alerts = mesh("alerts", "--json", "--hub", hub.http.url)
    assert alerts.returncode == 0 and "rules" in json.loads(alerts.stdout)
    down = mesh("health", "--hub", "http://127.0.0.1:1")
    assert down.returncode == 1 and "no hub answered" in down.stderr
