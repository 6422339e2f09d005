"""Prometheus: promtool lints a live /metrics with 77 agents; the rules file passes
`promtool check rules` and its unit tests; a real Prometheus server scrapes the hub."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hub_helpers import FAST_S, free_port, get_json, get_text

from common.hub.fleet import Fleet
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(shutil.which("promtool") is None,
                                 reason="promtool not installed (Debian package prometheus)")]

RULES_DIR = Path(__file__).parents[2] / "observability_hub" / "rules"
N_AGENTS = 77


@pytest.fixture
def hub_with_fleet(agents, zmq_ctx):
    hub = agents(ObservabilityHub("Hub", heartbeat_interval_s=FAST_S,
                                  settings={"http_port": 0, "role": "central"}))
    names = [f"Agent{i:02d}" for i in range(N_AGENTS - 1)]  # the hub reports itself
    fleet = Fleet(zmq_ctx, hub.endpoint, names, interval_s=0.5, gpu_owners=["Agent00"])
    fleet.start()
    try:
        wait_until(lambda: get_json(hub.http.url + "/api/health")["counts"]["passing"]
                   == N_AGENTS, 10, interval_s=0.05, what="77 agents passing")
        yield hub
    finally:
        fleet.stop()


def promtool(*args, stdin=None):
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, text=True,
                          timeout=30, cwd=RULES_DIR)


def test_promtool_checks_live_metrics_with_77_agents(hub_with_fleet):
    text = get_text(hub_with_fleet.http.url + "/metrics")
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert text.count("mesh_agent_up{") == N_AGENTS
    for family in ("mesh_agent_requests_total{", "mesh_agent_request_duration_seconds_bucket{",
                   "mesh_vram_used_bytes{", "mesh_hub_role{", "mesh_agent_heartbeat_age_seconds{",
                   "mesh_agent_restarts_total{", "mesh_vram_leases_active{"):
        assert family in text


def test_rules_file_checks_and_every_rule_has_a_unit_test():
    check = promtool("check", "rules", "mesh.rules.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    unit = promtool("test", "rules", "mesh.rules.test.yml")
    assert unit.returncode == 0, unit.stdout + unit.stderr
    rules = {line.split(":", 1)[1].strip() for line in
             (RULES_DIR / "mesh.rules.yml").read_text().splitlines() if "- alert:" in line}
    tested = {line.split(":", 1)[1].strip() for line in
              (RULES_DIR / "mesh.rules.test.yml").read_text().splitlines()
              if line.strip().startswith("alertname:")}
    assert rules and rules == tested
    from observability_hub.rules import RULES
    assert {r.name for r in RULES} == rules  # the hub evaluates the same rules


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed")
def test_real_prometheus_scrapes_the_hub(hub_with_fleet, tmp_path):
    target = hub_with_fleet.http.url.removeprefix("http://")
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES_DIR / 'mesh.rules.yml'}']\n"
        f"scrape_configs: [{{job_name: mesh_hub, static_configs: [{{targets: ['{target}']}}]}}]\n")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prom.log", "wb"),
        start_new_session=True)
    try:
        api = f"http://127.0.0.1:{port}/api/v1"

        def agents_up():
            try:
                doc = get_json(f"{api}/query?query=sum(mesh_agent_up)")
            except OSError:
                return None
            result = doc["data"]["result"]
            return result and float(result[0]["value"][1]) == N_AGENTS

        wait_until(agents_up, 30, interval_s=0.25, what="prometheus sees 77 agents up")

        def rules_ok():
            rules = get_json(f"{api}/rules")["data"]["groups"][0]["rules"]
            return len(rules) == 9 and all(r["health"] == "ok" for r in rules)

        wait_until(rules_ok, 10, interval_s=0.25, what="9 rules loaded and evaluated")
        hist = get_json(f"{api}/query?query=count(mesh_agent_request_duration_seconds_bucket)")
        assert float(hist["data"]["result"][0]["value"][1]) > 0
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)


def test_fast_exposition_is_byte_identical_to_generate_latest(hub_with_fleet):
    from observability_hub.exposition import render, render_reference

    snap = hub_with_fleet._metrics_snapshot()
    assert render(lambda: snap) == render_reference(lambda: snap)


def test_dead_agents_leave_no_request_series(hub_with_fleet, zmq_ctx):
    fleet = Fleet(zmq_ctx, hub_with_fleet.endpoint, ["Ghost"], interval_s=FAST_S)
    fleet.start()
    url = hub_with_fleet.http.url + "/metrics"
    try:
        wait_until(lambda: 'mesh_agent_requests_total{action="infer",agent="Ghost"}'
                   in get_text(url), 5, what="Ghost's series")
        fleet.silence("Ghost")
        wait_until(lambda: 'agent="Ghost"' not in "".join(
            line for line in get_text(url).splitlines(True)
            if line.startswith("mesh_agent_requests_total")), 5, what="Ghost's series gone")
        assert 'mesh_agent_up{agent="Ghost",host="main_pc"} 0.0' in get_text(url)
    finally:
        fleet.stop()


def test_grafana_dashboard_queries_only_metrics_the_hub_exports(hub_with_fleet):
    import json as _json
    import re

    dashboard = _json.loads((RULES_DIR.parent / "grafana" / "mesh-dashboard.json").read_text())
    exported = set(re.findall(r"^(mesh_\w+?)(?:\{| )", get_text(hub_with_fleet.http.url
                                                              + "/metrics"), re.M))
    exported |= {"mesh_alerts_firing", "mesh_registry_up"}  # present once one fires / is set
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\bmesh_\w+", target["expr"]):
                assert name in exported, (panel["title"], name)
