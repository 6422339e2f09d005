"""A real Alertmanager (Debian prometheus-alertmanager) on loopback receives the hub's alert
and delivers it to a webhook receiver; silencing the alert at the hub resolves it there."""

import json
import shutil
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hub_helpers import FAST_S, free_port, get_json

from common.hub.client import ProcessEventClient
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub

AM = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(AM is None, reason="Alertmanager not installed (Debian "
                                                    "package prometheus-alertmanager)")]
TOKEN = "am-t0ken"


@pytest.fixture
def receiver():
    """The team's webhook: what Alertmanager delivers, one JSON body per notification."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def alertmanager(tmp_path, receiver):
    hook, _ = receiver
    (tmp_path / "am.yml").write_text(f"""
route:
  receiver: team
  group_by: [alertname, agent]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
    webhook_configs:
      - url: {hook}
        send_resolved: true
""")
    port = free_port()
    proc = subprocess.Popen(
        [AM, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
         "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def ready():
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            return get_json(f"{url}/api/v2/status", timeout_s=0.5)
        except OSError:
            return None

    try:
        wait_until(ready, 15, interval_s=0.05, what="alertmanager ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _notified(received, status):
    return [(n["status"], a["labels"]) for n in received for a in n["alerts"]
            if a["status"] == status]


def test_alertmanager_delivers_the_hubs_alert_and_its_resolution(agents, alertmanager,
                                                                  receiver, zmq_ctx):
    _, received = receiver
    hub = agents(ObservabilityHub("HubC", heartbeat_interval_s=FAST_S, settings={
        "http_port": 0, "api_token": TOKEN,
        "alertmanager": {"url": alertmanager, "timeout_s": 2.0, "resend_every_s": 1.0}}))
    launcher = ProcessEventClient([hub.endpoint], host="pc2", ctx=zmq_ctx)
    try:
        for pid in (11, 12, 13):
            assert launcher.push("Asr", pid, "restarted", code=1)
    finally:
        launcher.close()

    firing = wait_until(lambda: _notified(received, "firing"), 15, interval_s=0.05,
                        what="the webhook got the firing alert")
    labels = firing[0][1]
    assert labels["alertname"] == "MeshAgentCrashLooping"
    assert labels["agent"] == "Asr" and labels["severity"] == "critical"
    held = get_json(f"{alertmanager}/api/v2/alerts")
    assert [a["labels"]["agent"] for a in held] == ["Asr"]
    assert held[0]["annotations"]["hub"] == "HubC"
    assert held[0]["status"]["state"] == "active"

    # silenced at the hub: no longer sent as firing, so Alertmanager is told it ended
    body = json.dumps({"matchers": {"agent": "Asr"}, "duration_s": 600}).encode()
    request = urllib.request.Request(f"{hub.http.url}/api/alerts/silence", data=body,
                                     method="POST", headers={
                                         "Authorization": f"Bearer {TOKEN}",
                                         "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=2).close()
    resolved = wait_until(lambda: _notified(received, "resolved"), 15, interval_s=0.05,
                          what="the webhook got the resolution")
    assert resolved[0][1]["agent"] == "Asr"
    assert [e["agent"] for e in hub.history.events.query(kind="alert.silenced")] == ["Asr"]
    assert hub.alertmanager.failures_total == 0


def test_an_unreachable_alertmanager_never_stalls_the_hub(agents, zmq_ctx):
    dead = f"http://127.0.0.1:{free_port()}"
    hub = agents(ObservabilityHub("HubC", heartbeat_interval_s=FAST_S, settings={
        "http_port": 0, "alertmanager": {"url": dead, "timeout_s": 0.5,
                                         "resend_every_s": 1.0}}))
    launcher = ProcessEventClient([hub.endpoint], host="pc2", ctx=zmq_ctx)
    try:
        for pid in (11, 12, 13):
            assert launcher.push("Asr", pid, "restarted", code=1)
    finally:
        launcher.close()
    wait_until(lambda: hub.alertmanager.failures_total >= 2, 15, what="posts tried, failed")
    health = get_json(f"{hub.http.url}/api/health")  # the hub still answers at once
    assert any(a["alertname"] == "MeshAgentCrashLooping" for a in health["alerts"])
