"""The hub's event log on its own: a real SQLite file, merge by id, retention, queries."""

import time

from observability_hub.events import EventLog, event_id, make_event


def test_events_survive_reopen_and_merge_keeps_each_id_once(tmp_path):
    path = tmp_path / "hub.events.db"
    log = EventLog(path, "HubC")
    exited = make_event("process.exited", "exited", agent="ServiceRegistry", host="main_pc",
                        detail={"pid": 41, "code": -9}, id=event_id("main_pc", "x", 1))
    assert log.add(exited)
    assert not log.add(exited)  # the same id again
    log.close()
    again = EventLog(path, "HubC")
    assert again.merge([exited, make_event("health", "critical", agent="A")],
                       from_peer=True) == 1
    events = again.query()
    assert [e["kind"] for e in events] == ["process.exited", "health"]
    assert events[0]["detail"] == {"pid": 41, "code": -9}
    assert events[0]["origin"] == "HubC"


def test_query_filters_and_kind_prefix(tmp_path):
    log = EventLog(tmp_path / "e.db", "HubC")
    now = time.time()
    log.merge([make_event("process.exited", "x", agent="A", host="main_pc", ts=now - 7200),
               make_event("process.restarted", "x", agent="A", host="main_pc", ts=now - 60),
               make_event("alert.firing", "x", agent="B", host="pc2", ts=now - 30),
               make_event("processes", "not a process event", ts=now - 10)], from_peer=False)
    assert [e["kind"] for e in log.query(kind="process")] == ["process.exited",
                                                              "process.restarted"]
    assert [e["kind"] for e in log.query(since=now - 3600)] == [
        "process.restarted", "alert.firing", "processes"]
    assert [e["agent"] for e in log.query(host="pc2")] == ["B"]
    assert [e["kind"] for e in log.query(agent="A", limit=1)] == ["process.restarted"]


def test_retention_by_age_and_rows(tmp_path):
    log = EventLog(tmp_path / "e.db", "HubC", max_age_s=3600, max_rows=5)
    now = time.time()
    log.merge([make_event("health", f"old {i}", ts=now - 7200 + i) for i in range(3)],
              from_peer=False)
    log.merge([make_event("health", f"new {i}", ts=now - 100 + i) for i in range(8)],
              from_peer=False)
    assert log.prune(now) == 6
    assert [e["summary"] for e in log.query()] == [f"new {i}" for i in range(3, 8)]


def test_own_after_skips_copies_from_the_peer(tmp_path):
    log = EventLog(tmp_path / "e.db", "HubC")
    log.add(make_event("health", "mine"))
    log.merge([make_event("health", "theirs")], from_peer=True)
    log.add(make_event("health", "mine too"))
    own = log.own_after(0, 10)
    assert [e["summary"] for _, e in own] == ["mine", "mine too"]
    assert log.own_after(own[0][0], 10)[0][1]["summary"] == "mine too"
    log.set_meta("peer_seq", "7")
    assert log.get_meta("peer_seq") == "7"
