"""Anomaly detection in a real hub: reports over real sockets, the hub's series and detector,
warnings in /api/alerts with the signal, the expected band and the observed value; and the
detector alone on the cases the benchmark measures at scale (benchmarks/anomaly.py)."""

import threading

import pytest
import zmq
from hub_helpers import get_json

from common.base_agent import protocol
from common.base_agent.metrics import LATENCY_BUCKETS_S
from common.base_agent.protocol import Request
from common.base_agent.sockets import connect
from common.config.anomaly import AnomalyConfig
from common.hub.protocol import ACTION_REPORT
from common.testing.wait import wait_until
from observability_hub.anomaly import AnomalyDetector
from observability_hub.hub import ObservabilityHub
from observability_hub.series import Point

pytestmark = pytest.mark.timeout(40)

REPORT_S = 0.1
FAST = {"step_s": 0.5, "window_s": 1.0, "min_requests": 20, "history_s": 60.0,
        "baseline_half_life_s": 5.0, "residuals_s": 10.0, "warmup_s": 3.0,
        "min_duration_s": 1.5, "confirm_s": 2.5, "relearn_after_s": 30.0,
        "vram_creep_window_s": 1.5}


class Reporter(threading.Thread):
    """One agent's reports every REPORT_S: ``per_report`` requests at ``latency_s`` each,
    ``error_every`` (every n-th request fails; 0: none), health status ``health``."""

    def __init__(self, ctx, endpoint, name):
        super().__init__(daemon=True)
        self.sock = connect(ctx, zmq.DEALER, endpoint, hwm=10)
        self.name, self.stop = name, threading.Event()
        self.latency_s, self.per_report, self.error_every = 0.02, 10, 0
        self.health = ["passing"]
        self.count = self.errors = self.seq = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)

    def run(self):
        while not self.stop.wait(REPORT_S):
            self.seq += 1
            for i in range(self.per_report):
                self.count += 1
                if self.error_every and self.count % self.error_every == 0:
                    self.errors += 1
                latency = self.latency_s * (0.9 + 0.2 * i / self.per_report)
                for b, bound in enumerate((*LATENCY_BUCKETS_S, float("inf"))):
                    self.buckets[b] += latency <= bound
            status = self.health[self.seq % len(self.health)]
            body = {"agent": self.name, "instance_id": self.name + "-1", "host": "127.0.0.1",
                    "pid": 1, "endpoint": "", "interval_s": REPORT_S, "seq": self.seq,
                    "failover": False, "health": {"status": status, "checks": []},
                    "actions": {"work": {"count": self.count, "sum_s": 0.0,
                                         "buckets": list(self.buckets),
                                         "errors": {"internal": self.errors}}}}
            self.sock.send_multipart(protocol.encode_request(
                Request(ACTION_REPORT, body, source=self.name)))
            while self.sock.poll(0):
                self.sock.recv_multipart()
        self.sock.close(linger=0)


@pytest.fixture
def hub(agents):
    return agents(ObservabilityHub("Hub", heartbeat_interval_s=0.2, settings={
        "http_port": 0, "anomaly": FAST, "dependencies": {"Front": ["Back"]}}))


@pytest.fixture
def reporters(zmq_ctx, hub):
    started = []

    def start(name):
        r = Reporter(zmq_ctx, hub.endpoint, name)
        r.start()
        started.append(r)
        return r
    yield start
    for r in started:
        r.stop.set()
        r.join(2)


def anomalies(hub):
    return get_json(hub.http.url + "/api/series")["anomalies"]


def series_points(hub, agent, signal):
    return get_json(f"{hub.http.url}/api/series?agent={agent}")["agent_series"].get(signal, [])


def test_latency_step_warns_with_signal_band_and_observed_value(hub, reporters):
    worker = reporters("Worker")
    wait_until(lambda: len(series_points(hub, "Worker", "latency_p95_s")) >= 12, 15,
               interval_s=0.1, what="6 s of calm series")
    assert anomalies(hub) == []
    worker.latency_s = 0.03  # +50 %
    alert = wait_until(lambda: next((a for a in get_json(hub.http.url + "/api/alerts")["alerts"]
                                     if a["alertname"] == "MeshAnomaly"), None), 10,
                       interval_s=0.1, what="MeshAnomaly")
    assert alert["labels"] == {"scope": "agent", "subject": "Worker",
                               "signal": "latency_p95_s"}
    assert alert["severity"] == "warning" and "outside the expected" in alert["description"]
    found = anomalies(hub)[0]
    assert found["observed"] > found["high"] > found["expected"] > found["low"]
    assert found["duration_s"] >= FAST["min_duration_s"]


def test_health_values_flapping_are_never_an_anomaly(hub, reporters):
    worker = reporters("Flapper")
    worker.health = ["passing", "warning", "critical", "passing", "critical"]
    wait_until(lambda: len(series_points(hub, "Flapper", "rate")) >= 16, 15, interval_s=0.1,
               what="8 s of series")
    assert anomalies(hub) == []
    assert not [a for a in get_json(hub.http.url + "/api/alerts")["alerts"]
                if a["alertname"] == "MeshAnomaly"]


def test_slow_dependency_is_named_behind_the_front_agent(hub, reporters):
    front, back = reporters("Front"), reporters("Back")
    wait_until(lambda: len(series_points(hub, "Back", "latency_p95_s")) >= 12, 15,
               interval_s=0.1, what="calm series")
    back.latency_s, front.latency_s = 0.2, 0.06
    def both():
        found = {a["subject"]: a for a in anomalies(hub) if a["signal"] == "latency_p95_s"}
        return found if {"Front", "Back"} <= set(found) else None
    found = wait_until(both, 10, interval_s=0.1, what="both agents anomalous")
    assert found["Front"]["behind"] == ["Back"] and found["Back"]["behind"] == []


# -- the detector alone, on a steady clock --------------------------------------------------
CFG = AnomalyConfig()  # the shipped defaults: 10 s steps


def run(detector, series, steps, start=0):
    """Feed ``series(step) -> [(scope, subject, signal, value)]``; the step of every change of
    the set of warnings."""
    changes = []
    before = set()
    for i in range(start, start + steps):
        detector.observe(Point(s, subj, sig, i * 10.0, v) for s, subj, sig, v in series(i))
        now = {(a["subject"], a["signal"]) for a in detector.anomalies()}
        if now != before:
            changes.append((i, sorted(now)))
            before = now
    return changes


def wobble(i, base, spread):
    return base + spread * ((i * 7919) % 13 - 6) / 6


def test_error_burst_of_two_percent_warns_within_two_minutes():
    d = AnomalyDetector(CFG)
    calm = lambda i: [("agent", "A", "error_ratio", wobble(i, 0.001, 0.001))]  # noqa: E731
    assert run(d, calm, 200) == []
    burst = lambda i: [("agent", "A", "error_ratio", wobble(i, 0.021, 0.004))]  # noqa: E731
    changes = run(d, burst, 30, start=200)
    assert changes and changes[0][1] == [("A", "error_ratio")]
    assert changes[0][0] - 200 <= 12  # two minutes of 10 s steps


def test_vram_swaps_and_a_load_are_normal_and_a_creep_warns():
    d = AnomalyDetector(CFG)
    mb = 2**20
    swap = lambda i: 9600 if (i // 3) % 2 else 0  # noqa: E731 - a swapping pair of models
    step = lambda i: [("gpu", "main_pc/0", "vram_used_bytes",  # noqa: E731
                       (8000 + (6000 if i >= 100 else 0) + swap(i)) * mb)]
    assert run(d, step, 300) == []  # swaps, and a model loaded: one step up
    creep = lambda i: [("gpu", "main_pc/0", "vram_used_bytes",  # noqa: E731
                        (14000 + 20 * (i - 300)) * mb)]  # 120 MB a minute
    changes = run(d, creep, 100, start=300)
    assert changes and changes[0][1] == [("main_pc/0", "vram_used_bytes")]


def test_rate_alone_never_warns_but_backs_another_signal():
    d = AnomalyDetector(CFG)
    calm = lambda i: [("agent", "A", "rate", wobble(i, 10, 1)),  # noqa: E731
                      ("agent", "A", "latency_p95_s", wobble(i, 0.02, 0.001))]
    run(d, calm, 100)
    busier = lambda i: [("agent", "A", "rate", wobble(i, 40, 1)),  # noqa: E731
                        ("agent", "A", "latency_p95_s", wobble(i, 0.02, 0.001))]
    assert run(d, busier, 60, start=100) == []  # load quadrupled: the operator's doing
    slow = lambda i: [("agent", "A", "rate", wobble(i, 2, 0.2)),  # noqa: E731
                      ("agent", "A", "latency_p95_s", wobble(i, 0.05, 0.001))]
    changes = run(d, slow, 30, start=160)
    assert changes[0][1] == [("A", "latency_p95_s"), ("A", "rate")]
    assert changes[0][0] - 160 < CFG.confirm_s / 10  # agreement: before confirm_s


# -- the config's anomaly: section ----------------------------------------------------------
def test_anomaly_section_is_typed_checked_by_path_and_handed_to_both_hubs(tmp_path):
    import yaml

    from common.config import ConfigError, load_config
    from common.launcher.services import derived_settings
    from common.testing.reference import reference_config
    from observability_hub.settings import HubSettings

    data = reference_config(tmp_path, 5000)
    data["anomaly"] = {"step_s": 5.0, "confirm_s": 90.0, "band_mads": "6"}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as bad:
        load_config(path)
    assert "anomaly.band_mads: Input should be a valid number" in str(bad.value)
    data["anomaly"] = {"step_s": 5.0, "history_s": 20000.0}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="anomaly: history_s / step_s is 4000 points"):
        load_config(path)
    data["anomaly"] = {"step_s": 5.0, "confirm_s": 90.0}
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    for hub in config.providers("hub"):
        settings = derived_settings(config, hub, lambda a: "tcp://127.0.0.1:1", tmp_path)
        parsed = HubSettings.model_validate({"anomaly": settings["anomaly"]})
        assert parsed.anomaly.step_s == 5.0 and parsed.anomaly.confirm_s == 90.0
    hub_entry = next(a for a in data["agents"] if a.get("service") == "hub")
    hub_entry["settings"] = {"anomaly": {"step_s": 1.0}}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"settings\.anomaly: no longer written by hand"):
        load_config(path)
