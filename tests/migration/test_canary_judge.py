"""The judge on seeded samples: verdicts, decisions and the numbers behind them."""

import json
import random

import pytest
import yaml

from migration.canary import thin_errors
from migration.judge import JUDGE_DEFAULTS, judge
from migration.risk import DEFAULT_WEIGHTS, load_weights

T = {**JUDGE_DEFAULTS, "latency_effect_min": 0.1, "error_diff_min": 0.005}


def samples(n, median_s, error_rate, seed):
    rng = random.Random(seed)
    return [(rng.lognormvariate(0, 0.3) * median_s, rng.random() >= error_rate)
            for _ in range(n)]


def test_same_version_is_promoted_with_every_number_shown():
    got = judge(samples(600, 0.005, 0, 1), samples(300, 0.005, 0, 2), T)
    assert got["decision"] == "promote" and got["score"] == 100.0
    lat, err = got["metrics"]["latency"], got["metrics"]["errors"]
    assert lat["verdict"] == "Pass" and lat["n_old"] == 600 and lat["n_new"] == 300
    assert {"u", "p_greater", "p_less", "auc", "effect", "median_old_ms", "p95_new_ms"} <= set(lat)
    assert err["verdict"] == "Pass" and err["prob_worse"] is not None
    assert got["thresholds"]["alpha"] == T["alpha"]


def test_half_again_slower_is_a_clear_high_and_a_rollback():
    got = judge(samples(600, 0.005, 0, 3), samples(300, 0.0075, 0, 4), T)
    assert got["decision"] == "rollback" and "latency High (clear)" in got["reason"]
    assert got["metrics"]["latency"]["verdict"] == "High"
    assert 0.35 < got["metrics"]["latency"]["effect"] < 0.65
    assert got["score"] == 50.0


def test_a_fifth_slower_asks_for_a_second_window():
    got = judge(samples(600, 0.005, 0, 5), samples(300, 0.006, 0, 6), T)
    assert got["decision"] == "confirm" and got["metrics"]["latency"]["verdict"] == "High"


def test_faster_is_low_and_passes():
    got = judge(samples(600, 0.005, 0, 7), samples(300, 0.0035, 0, 8), T)
    assert got["metrics"]["latency"]["verdict"] == "Low" and got["decision"] == "promote"


def test_five_points_more_errors_is_high_by_the_beta_binomial():
    got = judge(samples(1200, 0.005, 0.0, 9), samples(400, 0.005, 0.05, 10), T)
    err = got["metrics"]["errors"]
    assert err["verdict"] == "High" and err["prob_worse"] > 0.99 and got["decision"] == "rollback"


def test_too_few_samples_is_nodata_and_extends():
    got = judge(samples(600, 0.005, 0, 11), samples(10, 0.005, 0, 12), T)
    assert got["metrics"]["latency"]["verdict"] == "NoData"
    assert got["decision"] == "extend" and got["score"] is None


def test_bad_traffic_steps_in_weights_yaml_are_refused_naming_the_band(tmp_path):
    data = yaml.safe_load(DEFAULT_WEIGHTS.read_text())
    data["bands"][1]["traffic"]["steps"] = [50, 10, 100]
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"bands\[1\] \(medium\): traffic.steps"):
        load_weights(path)
    assert [b["traffic"]["steps"] for b in load_weights()["bands"]] == [
        [25, 100], [10, 50, 100], [5, 25, 50, 100], [1, 5, 25, 50, 100]]


def test_at_the_full_step_latency_is_not_compared_and_errors_still_decide():
    """At 100 % the old instance is idle: an idle instance against a loaded one measures the
    load, so latency is NoData (without asking for more samples) and errors decide alone."""
    idle, loaded = samples(40, 0.0025, 0, 13), samples(40, 0.005, 0, 14)
    assert judge(idle, loaded, T)["decision"] == "rollback"  # what compared latency would say
    got = judge(idle, loaded, T, latency_skipped="at 100 % the old instance serves nothing")
    lat = got["metrics"]["latency"]
    assert lat["verdict"] == "NoData" and "serves nothing" in lat["why"]
    assert got["decision"] == "promote" and got["score"] == 100.0
    bad = judge(idle, samples(400, 0.005, 0.05, 15), T, (samples(1200, 0.005, 0, 16),
                                                        samples(400, 0.005, 0.05, 15)),
                latency_skipped="full step")
    assert bad["decision"] == "rollback" and bad["metrics"]["errors"]["verdict"] == "High"


def test_thin_real_traffic_that_all_failed_is_not_outvoted_by_passing_probes():
    """Found live: at 10 % a new instance served 29 real requests, all failed; the judge,
    finding traffic too thin, counted 40 passing health probes instead and promoted it."""
    real = ([(0.02, True)] * 549, [(0.02, False)] * 29)
    probes = ([(0.0002, True)] * 40, [(0.0002, True)] * 40)
    errors = thin_errors(real, probes)
    got = judge(*probes, T, errors)
    assert got["metrics"]["errors"]["verdict"] == "High", got
    assert got["decision"] == "rollback"
    assert judge(*probes, T, probes)["decision"] != "rollback"  # the probes alone passed it


def test_a_suspect_pass_is_journaled_as_plain_json():
    """Found live: a Pass whose p-value was under alpha_suspect came back as numpy's bool, and
    the journal could not write the decision (the migration crashed at its first step)."""
    r = random.Random(3)
    old = [(r.gauss(0.010, 0.003), True) for _ in range(100)]
    new = [(r.gauss(0.0112, 0.003), True) for _ in range(40)]
    got = judge(old, new, JUDGE_DEFAULTS)
    latency = got["metrics"]["latency"]
    assert latency["verdict"] == "Pass" and latency["suspect"] is True
    assert json.loads(json.dumps(got))["metrics"]["latency"]["suspect"] is True
