"""The chaos soak's results document and its acceptance criteria (issue #8).

``summarize`` turns the fault rows and the books into benchmarks/results/chaos.json's figures;
``criteria`` checks them: at least one fault per 3 s of soak (200 in 600 s), no registration
lost, no journal entry lost or migration left unfinished, no VRAM lease leaked, no process
left after ``mesh down``, request success >= 99.9 %, every fault recovered, p95 recovery <= 2 s.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

__all__ = ["DEFINITIONS", "criteria", "stats", "summarize"]

FAULTS_PER_S = 1 / 3.0
MIN_SUCCESS = 0.999
MAX_P95_S = 2.0
DEFINITIONS = {
    "recovery_s": "from the kill -9 / the SIGCONT / the partition's heal until the target is "
                  "back: the registry, asked afresh, names an instance (a new one after a "
                  "kill) that answers health on its registered endpoint as itself; registry: "
                  "and it lists all 78 agents again; model manager: and its pool has a lease "
                  "for every model agent holding weights; hubs: and both answer /api/health "
                  "with the central active and the edge passive; partition: every PC2 agent "
                  "back as seen from MainPC, and the hubs settled. Polled every 50 ms.",
    "outage_s": "the same, from the injection (SIGSTOP pauses and partitions included)",
    "registrations_lost": "registry removals of a live instance that no fault explains "
                          "(see chaos_invariants), plus agents not registered after the settle",
    "journal_entries_lost": "migration-journal rows (steps, migrations) seen after each "
                            "migration of the workload and missing or changed at the end",
    "vram_leases_leaked": "active leases whose holder is not a live registered instance, "
                          "and second leases of one holder, after the settle",
    "processes_leaked": "processes in the soak's namespaces (or with its run directory in "
                        "their command line or environment) after mesh down",
}


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)

    return {"n": len(ordered), "p50": pct(0.5), "p95": pct(0.95), "max": round(ordered[-1], 3)}


def _recovery(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    by_type: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row[key] is not None:
            by_type[row["kind"]].append(row[key])
    return {"overall": stats([v for values in by_type.values() for v in values]),
            "by_type": {kind: stats(values) for kind, values in sorted(by_type.items())}}


def summarize(rows: list[dict[str, Any]], skipped: list[dict[str, Any]],
              requests: dict[str, Any], books: dict[str, Any], journal: dict[str, Any],
              leaked_pids: list[int]) -> dict[str, Any]:
    removals = books.get("removals", [])
    lost = [r for r in removals if r["cause"] == "lost"]
    missing = books.get("missing", ["(registry unreachable)"] if "error" in books else [])
    return {
        "faults_injected": len(rows),
        "faults_by_type": dict(sorted(Counter(r["kind"] for r in rows).items())),
        "faults_recovered": sum(1 for r in rows if r["recovered"]),
        "faults_skipped": len(skipped),
        "recovery_s": _recovery(rows, "recovery_s"),
        "outage_s": _recovery(rows, "outage_s")["overall"],
        "requests": requests,
        "registrations_lost": len(lost) + len(missing),
        "registrations": {"missing_at_end": missing, "lost": lost,
                          "removals_by_cause": dict(Counter(r["cause"] for r in removals)),
                          "watch_resyncs": books.get("resyncs"), "error": books.get("error")},
        "journal_entries_lost": journal["entries_lost"],
        "journal": journal,
        "vram_leases_leaked": len(books.get("leaked", [])),
        "vram": {"active_leases_at_end": books.get("leases"),
                 "leaked": books.get("leaked", [])},
        "processes_leaked": len(leaked_pids),
        "leaked_pids": leaked_pids,
        "launcher_restarts": books.get("restarts", {}),
        "definitions": DEFINITIONS,
    }


def criteria(result: dict[str, Any], duration_s: float) -> dict[str, dict[str, Any]]:
    recovery = result["recovery_s"]["overall"]
    checks = {
        "faults_injected": (result["faults_injected"],
                            f">= {math.ceil(duration_s * FAULTS_PER_S)}",
                            result["faults_injected"] >= math.ceil(duration_s * FAULTS_PER_S)),
        "registrations_lost": (result["registrations_lost"], "== 0",
                               result["registrations_lost"] == 0),
        "journal_entries_lost": (result["journal_entries_lost"], "== 0",
                                 result["journal_entries_lost"] == 0),
        "journal_unfinished": (result["journal"]["unfinished"], "== 0",
                               result["journal"]["unfinished"] == 0),
        "vram_leases_leaked": (result["vram_leases_leaked"], "== 0",
                               result["vram_leases_leaked"] == 0),
        "processes_leaked": (result["processes_leaked"], "== 0",
                             result["processes_leaked"] == 0),
        "request_success": (result["requests"]["success_ratio"], f">= {MIN_SUCCESS}",
                            result["requests"]["success_ratio"] >= MIN_SUCCESS),
        "faults_unrecovered": (result["faults_injected"] - result["faults_recovered"], "== 0",
                               result["faults_injected"] == result["faults_recovered"]),
        "recovery_p95_s": (recovery["p95"], f"<= {MAX_P95_S}",
                           recovery["p95"] is not None and recovery["p95"] <= MAX_P95_S),
    }
    return {name: {"value": value, "target": target, "ok": ok}
            for name, (value, target, ok) in checks.items()}
