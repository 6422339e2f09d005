"""`mesh slo rules` against the real promtool (Debian prometheus): the shipped config's rules
check; unit tests show a 14.4x burn pages, a 1x burn does not, no traffic does not; and on
the same series Prometheus fires exactly the alerts the hub's own engine fires."""

import shutil
import subprocess
import sys

import pytest
import yaml
from slo_helpers import Phase, hub_verdicts, minutes_of, unit_test

from observability_hub.slo_burn import PAGE_ALERT, TICKET_ALERT
from observability_hub.slo_rules import prometheus_rules
from observability_hub.slo_spec import SloSpec

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(shutil.which("promtool") is None,
                                 reason="promtool not installed (Debian package prometheus)")]

AVAILABILITY = SloSpec(name="worker-availability", sli="availability", objective=0.999,
                       window_s=30 * 86400, agents=["Worker"], hosts={"Worker": "main_pc"})
LATENCY = SloSpec(name="worker-latency", sli="latency", objective=0.99, window_s=7 * 86400,
                  threshold_s=0.25, agents=["Worker"], hosts={"Worker": "main_pc"})


def promtool(*args, cwd):
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=90,
                          cwd=cwd)


def run_tests(tmp_path, spec, tests):
    (tmp_path / "slo.rules.yml").write_text(yaml.safe_dump(prometheus_rules([spec])))
    (tmp_path / "slo.test.yml").write_text(yaml.safe_dump(
        {"rule_files": ["slo.rules.yml"], "evaluation_interval": "1m", "tests": tests}))
    check = promtool("check", "rules", "slo.rules.yml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    result = promtool("test", "rules", "slo.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mesh_slo_rules_of_the_shipped_config_pass_promtool_check(tmp_path):
    out = tmp_path / "mesh-slo.rules.yml"
    cli = subprocess.run([sys.executable, "-m", "common.cli.main", "slo", "rules",
                          "--config", "startup_config.yaml", "--output", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    check = promtool("check", "rules", str(out), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    doc = yaml.safe_load(out.read_text())
    records = {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}
    assert {"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate3d",
            "slo:sli_error:ratio_rate30d", "slo:error_budget:ratio",
            "slo:period_error_budget_remaining:ratio"} <= records
    alerts = [r for g in doc["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == 2 * 5  # page and ticket for each of the five shipped SLOs


def test_no_slos_is_a_clear_error(tmp_path):
    config = yaml.safe_load(open("startup_config.yaml"))
    del config["slos"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    cli = subprocess.run([sys.executable, "-m", "common.cli.main", "slo", "rules",
                          "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "declares no SLO" in cli.stderr


@pytest.mark.parametrize("name, phases, pages", [
    ("14.4x burn pages", [Phase(70, 1000, 15)], True),  # 1.5 % errors, budget 0.1 %
    ("1x burn does not page", [Phase(70, 1000, 1)], False),
    ("no traffic does not page", [Phase(70, 0, 0)], False),
])
def test_burn_rate_unit_tests(tmp_path, name, phases, pages):
    minutes = minutes_of(phases)
    # a 14.4x burn is also over the ticket's 3x and 1x: both fire, as in Sloth
    verdicts = {m: {PAGE_ALERT: pages, TICKET_ALERT: pages} for m in (5, 30, 65)}
    run_tests(tmp_path, AVAILABILITY, [unit_test(AVAILABILITY, minutes, [5, 30, 65], verdicts)])
    hub = hub_verdicts(AVAILABILITY, minutes)
    assert all(hub[m] == verdicts[m] for m in (5, 30, 65)), name


@pytest.mark.parametrize("spec", [AVAILABILITY, LATENCY], ids=lambda s: s.sli)
def test_hub_and_prometheus_agree_on_the_same_series(tmp_path, spec):
    budget_per_1000 = spec.budget * 1000
    phases = [Phase(60, 1000, 0), Phase(30, 1000, round(40 * budget_per_1000)),  # page
              Phase(150, 1000, round(4 * budget_per_1000)),  # 4x: ticket once 2h holds it
              Phase(30, 0, 0), Phase(40, 1000, 0)]
    minutes = minutes_of(phases)
    verdicts = hub_verdicts(spec, minutes)
    fired = {name for v in verdicts.values() for name, on in v.items() if on}
    assert fired == {PAGE_ALERT, TICKET_ALERT}  # the series exercises both
    every = list(range(1, len(minutes) + 1))
    run_tests(tmp_path, spec, [unit_test(spec, minutes, every, verdicts)])
