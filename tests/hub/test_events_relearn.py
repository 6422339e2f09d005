"""Regression: the central hub, killed and restarted at once, showed 2 restarts of itself where
its launcher said 1 -- it took the launcher's count, then counted the ``restarted`` event the
edge forwarded late.  A process event is counted once, whichever way it comes."""

import time

import pytest
from hub_helpers import FAST_S, agent_state, get_json

from common.hub.client import ProcessEventClient
from common.testing.agents import HubEchoAgent
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub

pytestmark = pytest.mark.timeout(30)


def test_a_late_copy_of_a_relearned_restart_is_not_counted_again(agents, tmp_path, zmq_ctx):
    hub = agents(ObservabilityHub("HubC", heartbeat_interval_s=FAST_S, settings={
        "http_port": 0, "events_db": str(tmp_path / "c.db"),
        "hosts": {"ServiceRegistry": "main_pc"}}))
    ts = time.time() - 1.0
    restarted = {"host": "main_pc", "agent": "ServiceRegistry", "event": "restarted", "ts": ts}
    status = {"host": "main_pc", "agents": [{"name": "ServiceRegistry", "instance": "",
                                             "state": "ready", "restarts": 1,
                                             "last_exit_code": -9}],
              "events": [restarted]}  # what a launcher's `status` answers
    hub._relearned("main_pc", status)
    launcher = ProcessEventClient([hub.endpoint], "main_pc", ctx=zmq_ctx)
    try:  # the same event, late (the edge forwarded it, or the launcher's queue held it)
        assert launcher.push("ServiceRegistry", 0, "restarted", ts=ts)
        assert launcher.push("ServiceRegistry", 0, "restarted", ts=ts + 0.5)  # a new one
    finally:
        launcher.close()
    health = f"{hub.http.url}/api/health"
    wait_until(lambda: agent_state(get_json(health), "ServiceRegistry")["restarts"] == 2, 5,
               what="the new restart counted")
    assert agent_state(get_json(health), "ServiceRegistry")["restarts"] == 2
    logged = hub.history.events.query(agent="ServiceRegistry", kind="process.restarted")
    assert len(logged) == 2


def test_a_restarted_hub_learns_an_ongoing_crash_loop_from_the_launcher(agents, tmp_path):
    hub = agents(ObservabilityHub("HubC", heartbeat_interval_s=FAST_S, settings={
        "http_port": 0, "events_db": str(tmp_path / "c.db"),
        "hosts": {"Asr": "pc2", "Tts": "pc2"}}))
    hub._relearned("pc2", {"host": "pc2", "events": [], "agents": [
        {"name": "Asr", "instance": "", "state": "backoff", "restarts": 7,
         "last_exit_code": 1, "crash_loop": True},
        {"name": "Tts", "instance": "", "state": "backoff", "restarts": 0,
         "last_exit_code": 2, "crash_loop": False}]})
    health = f"{hub.http.url}/api/health"
    wait_until(lambda: {a["alertname"] for a in get_json(health)["alerts"]
                        if a["labels"].get("agent") == "Asr"} >= {"MeshAgentCrashLooping"},
               5, what="crash loop alert")
    asr, tts = (agent_state(get_json(health), n) for n in ("Asr", "Tts"))
    assert asr["restarts"] == 7 and asr["state"] == "critical"
    assert tts["state"] == "critical" and "code 2" in tts["reasons"][0]


class _Pool(HubEchoAgent):
    """Reports an evictions_total gauge as the VRAM pool does."""

    evictions_total = 3

    def hub_gauges(self):
        recent = [{"n": n, "model": f"M{n}", "gpu": "main_pc:0", "for": "Big"}
                  for n in range(1, self.evictions_total + 1)]
        return {"evictions_total": self.evictions_total, "evictions_recent": recent,
                "vram": [{"gpu": "0", "used_bytes": 1, "total_bytes": 2}]}


def test_vram_evictions_the_pool_reports_are_in_the_history(agents, tmp_path):
    hub = agents(ObservabilityHub("HubC", heartbeat_interval_s=FAST_S, settings={
        "http_port": 0, "events_db": str(tmp_path / "c.db")}))
    pool = agents(_Pool("Pool", settings={"hubs": [hub.endpoint]},
                        heartbeat_interval_s=FAST_S))
    wait_until(lambda: hub.history.evictions_seen.get("Pool") == 3, 5, what="the baseline")
    assert hub.history.events.query(kind="vram") == []  # the first total is the baseline
    pool.evictions_total = 5
    events = wait_until(lambda: hub.history.events.query(kind="vram"), 5, what="vram event")
    assert [(e["agent"], e["detail"]["evictions"]) for e in events] == [("Pool", 2)]
    assert [e["model"] for e in events[0]["detail"]["evicted"]] == ["M4", "M5"]
    assert events[0]["summary"].endswith(": M4 on main_pc:0 for Big, M5 on main_pc:0 for Big")
