"""The event log on both hubs: copied to the peer, merged by id, caught up after a hub was
down; silences travel and survive a restart; ``/api/events`` and ``hub_events_query``."""

import json
import time
import urllib.error
import urllib.request

import pytest
from hub_helpers import FAST_S, free_port, get_json

from common.hub.client import HubEventClient, ProcessEventClient
from common.hub.protocol import ACTION_EVENT, ACTION_EVENTS_QUERY
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub
from observability_hub.states import HubState

pytestmark = pytest.mark.timeout(60)


def _hub(name, role, endpoint, peer, db, **extra):
    return ObservabilityHub(name, endpoint, heartbeat_interval_s=FAST_S, settings={
        "role": role, "peer": peer, "http_port": 0, "events_db": str(db),
        "api_token": "t0ken", **extra})


def _ids(hub, **query):
    return [e["id"] for e in hub.history.events.query(**query)]


def test_an_event_sent_while_the_edge_was_down_reaches_it_once(agents, tmp_path,
                                                                client_factory):
    c_ep = f"tcp://127.0.0.1:{free_port()}"
    e_ep = f"tcp://127.0.0.2:{free_port('127.0.0.2')}"
    central = agents(_hub("HubC", "central", c_ep, e_ep, tmp_path / "c.db"))
    edge = agents(_hub("HubE", "edge", e_ep, c_ep, tmp_path / "e.db"))
    wait_until(lambda: edge.failover.state is HubState.PASSIVE, 10, what="edge passive")

    launcher = ProcessEventClient([c_ep, e_ep], "main_pc")
    now = time.time()
    try:
        assert launcher.push("ServiceRegistry", 4242, "exited", -9, ts=now - 2)
        assert launcher.push("ServiceRegistry", 0, "restarted", ts=now - 1)
    finally:
        launcher._client.close()
    wait_until(lambda: len(_ids(edge, kind="process")) == 2, 5, what="copied to the edge")
    assert _ids(edge, kind="process") == _ids(central, kind="process")

    edge.stop(timeout_s=5.0)
    client = client_factory()
    sent = client.call_endpoint(c_ep, ACTION_EVENT, {
        "kind": "migration", "summary": "stage 1 of 2 applied", "agent": "NLUAgent",
        "host": "main_pc", "detail": {"stage": 1}}, timeout_s=2.0)
    assert sent["stored"]
    again = client.call_endpoint(c_ep, ACTION_EVENT, {
        "kind": "migration", "summary": "stage 1 of 2 applied", "id": sent["id"]},
        timeout_s=2.0)
    assert not again["stored"]  # the same id is kept once

    back = agents(_hub("HubE", "edge", e_ep, c_ep, tmp_path / "e.db"))
    wait_until(lambda: sent["id"] in _ids(back, kind="migration"), 10,
               what="the event on the returned edge")
    # the edge's own history (its two starts) is on the central hub too
    wait_until(lambda: len(_ids(central, kind="hub", agent=None)) == 3, 5,
               what="hub starts copied")
    wait_until(lambda: set(_ids(central)) == set(_ids(back)), 5, what="the same history")
    for hub in (central, back):
        ids = _ids(hub)
        assert len(ids) == len(set(ids))
        assert ids.count(sent["id"]) == 1

    found = client.call_endpoint(c_ep, ACTION_EVENTS_QUERY, {"kind": "process",
                                                             "agent": "ServiceRegistry"},
                                 timeout_s=2.0)["events"]
    assert [e["detail"]["event"] for e in found] == ["exited", "restarted"]
    doc = get_json(f"{central.http.url}/api/events?kind=migration&since=1h")
    assert [e["summary"] for e in doc["events"]] == ["stage 1 of 2 applied"]
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(f"{central.http.url}/api/events?since=yesterday", timeout=2)
    assert bad.value.code == 400
    assert "since" in json.loads(bad.value.read())["error"]


def test_a_silence_reaches_the_peer_and_survives_a_restart(agents, tmp_path):
    c_ep = f"tcp://127.0.0.1:{free_port()}"
    e_ep = f"tcp://127.0.0.2:{free_port('127.0.0.2')}"
    central = agents(_hub("HubC", "central", c_ep, e_ep, tmp_path / "c.db"))
    edge = agents(_hub("HubE", "edge", e_ep, c_ep, tmp_path / "e.db"))
    request = urllib.request.Request(
        f"{central.http.url}/api/alerts/silence", method="POST",
        data=json.dumps({"matchers": {"agent": "TTSService"}, "duration_s": 3600,
                         "comment": "planned work"}).encode(),
        headers={"Authorization": "Bearer t0ken", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=2) as resp:
        silence = json.loads(resp.read())
    wait_until(lambda: silence["id"] in edge.alerts.silences, 5, what="silence on the edge")

    central.stop(timeout_s=5.0)
    again = agents(_hub("HubC", "central", c_ep, e_ep, tmp_path / "c.db"))
    assert again.alerts.silences[silence["id"]]["matchers"] == {"agent": "TTSService"}
    assert again.alerts.silences[silence["id"]]["comment"] == "planned work"


def test_senders_events_reach_the_hub_and_wait_while_no_hub_answers(agents, tmp_path):
    dead = f"tcp://127.0.0.1:{free_port()}"
    sender = HubEventClient([dead], "mesh-migrate", timeout_s=0.2, retry_s=1.0)
    try:
        t0 = time.monotonic()
        assert not sender.send("migration", "stage 0 Worker: start_new", agent="Worker")
        assert not sender.send("migration", "stage 0 Worker: switch", agent="Worker")
        assert time.monotonic() - t0 < 1.0  # the second did not wait for the dead hub again
        assert len(sender.queue) == 2
        hub = agents(_hub("HubC", "central", dead, "", tmp_path / "c.db"))
        wait_until(sender.flush, 5, interval_s=0.05, what="the queue sent after the pause")
        assert sender.send("migration", "stage 0 Worker: finish", agent="Worker")
        assert [e["summary"] for e in hub.history.events.query(agent="Worker")] == [
            "stage 0 Worker: start_new", "stage 0 Worker: switch", "stage 0 Worker: finish"]
    finally:
        sender.close()


def _crash_loop(hub, zmq_ctx, first_pid):
    launcher = ProcessEventClient([hub.endpoint], "pc2", ctx=zmq_ctx)
    try:
        for pid in range(first_pid, first_pid + 3):
            assert launcher.push("Asr", pid, "restarted", code=1)
    finally:
        launcher.close()
    return wait_until(lambda: next((a for a in hub.alerts.document()["alerts"]
                                    if a["alertname"] == "MeshAgentCrashLooping"), None), 5,
                      what="crash-loop alert")


def test_an_ack_survives_the_hubs_restart(agents, tmp_path, zmq_ctx):
    hub = agents(_hub("HubC", "central", f"tcp://127.0.0.1:{free_port()}", "",
                      tmp_path / "c.db"))
    alert = _crash_loop(hub, zmq_ctx, 11)
    request = urllib.request.Request(
        f"{hub.http.url}/api/alerts/ack", method="POST",
        data=json.dumps({"fingerprint": alert["fingerprint"]}).encode(),
        headers={"Authorization": "Bearer t0ken", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=2).close()
    hub.stop(timeout_s=5.0)
    again = agents(_hub("HubC", "central", hub.endpoint, "", tmp_path / "c.db"))
    refired = _crash_loop(again, zmq_ctx, 21)  # still looping after the restart
    assert refired["fingerprint"] == alert["fingerprint"]
    wait_until(lambda: again.alerts.active[alert["fingerprint"]].acked_by, 2, what="ack back")
    assert again.alerts.active[alert["fingerprint"]].acked_by.startswith("token@")
