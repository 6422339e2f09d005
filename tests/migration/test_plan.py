"""Change-file validation, risk scores on the reference deployment, staging, the state machine."""

import subprocess
import sys

import pytest
import yaml

from common.config import ConfigError
from migration import Observed, build_plan, load_weights, parse_change, score
from migration.state import Event, State, transition
from tests.migration.roster import reference_config


@pytest.fixture(scope="module")
def ref():
    return reference_config()


def scores(config):
    change = parse_change({"version": 1, "changes": [{"agent": a.name, "version": "2"}
                                                      for a in config.agents]}, config)
    w = load_weights()
    return {c.agent: score(config, c, Observed(), w) for c in change.changes}


def test_registry_and_model_manager_score_high_and_a_leaf_low(ref):
    got = scores(ref)
    manager = max(v.score for k, v in got.items() if k.startswith("ModelManager"))
    assert got["ServiceRegistry"].band["name"] in ("high", "critical")
    assert manager >= 55
    leaves = [k for k in got if not any(k in a.dependencies for a in ref.agents)]
    assert all(got[k].score <= 30 for k in leaves if ref.agent(k).resources.vram_mb == 0
               and not k.startswith(("ServiceRegistry", "ModelManager", "ObservabilityHub")))
    assert all(f.weight > 0 for f in got["ServiceRegistry"].factors)


def test_plan_orders_low_risk_first_and_groups_independent_low_agents(ref):
    names = ["ServiceRegistry", "ActiveLearningMonitor", "AdvancedCommandHandler"]
    change = parse_change({"version": 1, "changes": [{"agent": n, "env": {"X": "1"}}
                                                      for n in names]}, ref)
    def untaken(host, start, taken):
        return next(p for p in range(start, 65536) if p not in taken)

    plan = build_plan(ref, change, Observed(), load_weights(), {a.name: a for a in ref.agents},
                      untaken)
    stages = [[a["agent"] for a in s["agents"]] for s in plan["stages"]]
    assert stages[-1] == ["ServiceRegistry"] and len(stages) == 2
    assert plan["stages"][-1]["bake_s"] > plan["stages"][0]["bake_s"]
    registry = plan["stages"][-1]["agents"][0]
    assert registry["strategy"] == "stop_and_replace"
    low = plan["stages"][0]["agents"][0]["gates"]
    assert registry["gates"]["error_rate_max"] < low["error_rate_max"]


def test_bad_change_file_lists_every_issue(ref):
    bad = {"version": 1, "changes": [
        {"agent": "NoSuchAgent", "module": "x.y:Z"},
        {"agent": "ActiveLearningMonitor", "prot": 1},
        {"agent": "NLUAgent", "port": ref.agent("ServiceRegistry").port},
        {"agent": "ChitchatAgent"}]}
    with pytest.raises(ConfigError) as err:
        parse_change(bad, ref)
    text = str(err.value)
    for path in ("changes[0].agent", "changes[1].prot", "changes[2].port", "changes[3]"):
        assert path in text, text


def test_a_change_the_agents_class_refuses_is_refused_before_anything_starts(ref):
    """Checked as `mesh config check` checks the config: the merged settings against the
    kind's settings model, the module importable (the chaos soak's change of a setting its
    kind does not take once crashed every new instance on start, and rolled back)."""
    bad = {"version": 1, "changes": [
        {"agent": "ActiveLearningMonitor", "settings": {"chaos_generation": 3}},
        {"agent": "NLUAgent", "settings": {"call_timeout_s": "slow"}},
        {"agent": "ChitchatAgent", "module": "no_such_pkg.mod:Agent"}]}
    with pytest.raises(ConfigError) as err:
        parse_change(bad, ref)
    text = str(err.value)
    assert "changes[0].settings.chaos_generation: unknown setting" in text, text
    assert "changes[1].settings.call_timeout_s" in text, text
    assert "changes[2].module" in text and "no_such_pkg" in text, text
    good = parse_change({"version": 1, "changes": [
        {"agent": "ActiveLearningMonitor", "settings": {"call_timeout_s": 2.5}}]}, ref)
    assert good.changes[0].settings == {"call_timeout_s": 2.5}


def test_bad_change_file_from_the_cli_touches_nothing(tmp_path):
    config = {"version": 1, "hosts": {"main_pc": {"address": "127.0.0.1"}},
              "agents": [{"name": "A", "host": "main_pc", "port": 7001,
                          "module": "common.testing.agents:EchoAgent"}]}
    (tmp_path / "mesh.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "change.yaml").write_text(
        "version: 1\nchanges:\n  - {agent: B, version: '2'}\n  - {agent: A, port: 70}\n")
    result = subprocess.run([sys.executable, "-m", "common.cli.main", "migrate", "apply",
                             str(tmp_path / "change.yaml"), "--yes", "--config",
                             str(tmp_path / "mesh.yaml"), "--run-dir", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "changes[0].agent" in result.stderr and "changes[1].port" in result.stderr
    assert "nothing was touched" in result.stderr
    assert not (tmp_path / "run").exists()


def test_impossible_transitions_raise():
    assert transition(State.RUNNING, Event.BREACH) is State.ROLLING_BACK
    with pytest.raises(ValueError):
        transition(State.DONE, Event.BREACH)
