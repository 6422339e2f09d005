"""How `mesh migrate show` and `watch` print the canary judge's decisions: every number."""

from __future__ import annotations

from typing import Any

__all__ = ["decision_lines", "step_line"]


def step_line(s: dict[str, Any]) -> str:
    return (f"  {s['ts']:.3f} stage {s['stage']} {s['agent']:<20} {s['step']:<14} "
            f"{s['phase']} {s['data'] or ''}")


def _latency(m: dict[str, Any]) -> str:
    if m["verdict"] == "NoData":
        return f"latency  NoData: {m.get('why')} (n {m['n_old']} old, {m['n_new']} new)"
    return (f"latency  {m['verdict']}{' (suspect)' if m['suspect'] else ''}: median "
            f"{m['median_old_ms']} -> {m['median_new_ms']} ms (effect {m['effect']:+.1%}, "
            f"floor {m['effect_min']:.0%} and {m['floor_ms']} ms), p95 {m['p95_old_ms']} -> "
            f"{m['p95_new_ms']} ms; Mann-Whitney U {m['u']}, p(new slower) "
            f"{m['p_greater']:.2g}, p(new faster) {m['p_less']:.2g}, alpha {m['alpha']}, "
            f"AUC {m['auc']}; n {m['n_old']} old, {m['n_new']} new")


def _errors(m: dict[str, Any]) -> str:
    if m["verdict"] == "NoData":
        return f"errors   NoData: {m.get('why')} (n {m['n_old']} old, {m['n_new']} new)"
    return (f"errors   {m['verdict']}{' (suspect)' if m['suspect'] else ''}: "
            f"{m['errors_old']}/{m['n_old']} ({m['rate_old']:.2%}) -> {m['errors_new']}/"
            f"{m['n_new']} ({m['rate_new']:.2%}), diff {m['diff']:+.2%} (min "
            f"{m['diff_min']:.2%}); beta-binomial P(new worse) {m['prob_worse']:.3f} "
            f"(min {m['prob_min']})")


def decision_lines(d: dict[str, Any]) -> list[str]:
    head = (f"  stage {d['stage']} {d['agent']}: step {d['step']}/{d['steps']} at "
            f"{d['weight_pct']:g} %" + (f", extension {d['extension']}" if d["extension"]
                                         else "")
            + f" ({d['window_s']:g} s): {d['decision'].upper()} - {d['reason']}; score "
            f"{d['score']}")
    return [head, f"      source: {d['source']}",
            f"      {_latency(d['metrics']['latency'])}",
            f"      {_errors(d['metrics']['errors'])}"]
