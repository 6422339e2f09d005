"""``mesh migrate plan|apply|resume|rollback|history|show``: risk-scored, staged changes.

    mesh migrate plan CHANGE.yaml [--json]           risk factors, stages, bakes, gates
    mesh migrate apply CHANGE.yaml [--yes] [--dry-run]
    mesh migrate resume [ID]                         finish (or finish rolling back) after a crash
    mesh migrate rollback ID [--force]               roll back an unfinished or finished one
    mesh migrate history [--json]    mesh migrate show ID [--json]
    mesh migrate watch [ID]                          follow a running one (steps, decisions)

The journal is RUN_DIR/migrations.db unless --journal says otherwise.  A bad change file is
reported (every issue, with its field path) before anything is touched.  What a migration
promotes is written back to the --config file (the previous file kept beside it, both hashes
in the journal); rolling back a finished one writes the previous file back, refusing when the
file was edited since unless --force.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import typer

from common.base_agent.errors import MeshError
from common.base_agent.security import OPERATOR
from common.cli.hosts import CONFIG_OPTION, RUN_DIR_OPTION, use_security
from common.cli.locate import config_hubs
from common.cli.migrate_show import decision_lines, step_line
from common.cli.output import fail, print_json, print_table
from common.config import ConfigError, load_config
from common.hub.client import HubEventClient
from migration import Executor, Journal, MeshControl, build_plan, current_definitions
from migration.change_check import load_change
from migration.journal import JournalBusy
from migration.risk import load_weights
from migration.writeback import PROMOTE_STEP, RESTORE_STEP, WritebackError, check_editable

__all__ = ["migrate_app"]

migrate_app = typer.Typer(help="Risk-scored, staged migrations with automatic rollback.",
                          no_args_is_help=True)
JOURNAL_OPTION = typer.Option(None, "--journal", help="Journal (default RUN_DIR/migrations.db).")
HUB_OPTION = typer.Option([], "--hub", help="Hub URL for risk factors (repeatable; default: "
                          "the config's hubs, central first).")
WEIGHTS_OPTION = typer.Option(None, "--weights", help="Risk weights YAML (default: built in).")
FAULT_ENV = "MESH_MIGRATE_FAULT"  # test hook: STEP@before|after -> SIGKILL self there


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _config(config: str) -> Any:
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise fail(f"{config}:\n{exc}", 2) from None
    use_security(cfg, OPERATOR)
    return cfg


def _open(config: str, run_dir: str, journal: str | None,
          hub: list[str]) -> tuple[Any, Journal, MeshControl]:
    cfg = _config(config)
    j = Journal(journal or os.path.join(run_dir, "migrations.db"))
    return cfg, j, MeshControl(cfg, run_dir, hub or config_hubs(cfg))


def _checked_plan(change: str, config: str, run_dir: str, journal: str | None,
                  hub: list[str], weights: str | None
                  ) -> tuple[dict[str, Any], Journal, MeshControl]:
    """The change file is checked before anything (the journal included) is opened."""
    cfg = _config(config)
    try:
        change_file = load_change(change, cfg)
    except ConfigError as exc:
        raise fail(f"{change}: the change file has errors; nothing was touched\n{exc}",
                   2) from None
    _, j, mesh = _open(config, run_dir, journal, hub)
    plan = build_plan(cfg, change_file, mesh.observe(), load_weights(weights),
                      current_definitions(cfg, j), mesh.free_port)
    return plan, j, mesh


def _print_plan(plan: dict[str, Any]) -> None:
    _say(f"measured from: {', '.join(plan['measured_from'])}")
    for stage in plan["stages"]:
        _say(f"stage {stage['index']} ({stage['band']}, bake {stage['bake_s']:g} s)")
        for a in stage["agents"]:
            legacy = "  LEGACY script -> module" if a["legacy"] else ""
            _say(f"  {a['agent']}: risk {a['risk']['score']} ({a['risk']['band']}), "
                 f"{a['strategy']} ({a['why']}), {a['old_endpoint']} -> "
                 f"{a['new_endpoint']}{legacy}")
            for f in a["risk"]["factors"]:
                _say(f"      {f['name']:<12} weight {f['weight']:>5g} x {f['value']:.2f} = "
                     f"{f['points']:>5.1f}  {f['detail']}")
            _say(f"      gates: {a['gates']}")
            canary = a.get("canary")
            if canary and a["strategy"] == "blue_green":
                j = canary["judge"]
                _say(f"      traffic: {' -> '.join(f'{w:g}' for w in canary['steps'])} % to the "
                     f"new instance, {canary['step_bake_s']:g} s a step, up to "
                     f"{canary['max_extensions']} extensions; judge: latency High at "
                     f"p < {j['alpha']} and +{j['latency_effect_min']:.0%}, errors High at "
                     f"P >= {j['error_prob_min']} and +{j['error_diff_min']:.2%}")


@migrate_app.command("plan")
def plan_(change: str, config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
          journal: str = JOURNAL_OPTION, hub: list[str] = HUB_OPTION,
          weights: str = WEIGHTS_OPTION, json_: bool = typer.Option(False, "--json")) -> None:
    """Score each agent's risk and print the staged plan; touches nothing."""
    plan, j, mesh = _checked_plan(change, config, run_dir, journal, hub, weights)
    mesh.close()
    print_json(plan) if json_ else _print_plan(plan)


@migrate_app.command("apply")
def apply(change: str, config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
          journal: str = JOURNAL_OPTION, hub: list[str] = HUB_OPTION,
          weights: str = WEIGHTS_OPTION, yes: bool = typer.Option(False, "--yes", "-y"),
          dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Apply the plan stage by stage; roll back automatically on a gate breach."""
    plan, j, mesh = _checked_plan(change, config, run_dir, journal, hub, weights)
    _print_plan(plan)
    if dry_run:
        return
    try:
        check_editable(config, [a["agent"] for s in plan["stages"] for a in s["agents"]])
    except WritebackError as exc:
        mesh.close()
        j.close()
        raise fail(f"{exc}; nothing was touched", 2) from None
    if not yes and not typer.confirm("apply?"):
        raise typer.Exit(1)
    _run(j, mesh, config, lambda ex: ex.journal.state(ex.apply(plan, change)))


def _run(j: Journal, mesh: MeshControl, config: str, action: Any,
         success: tuple[str, ...] = ("done",)) -> None:
    """Run action on an Executor; exit 0 when it ends in a success state, else 3.  Each
    progress line also goes to the hubs' incident history (kind ``migration``)."""
    logging.basicConfig(level=logging.WARNING)
    hubs = HubEventClient(mesh.plan.hub_endpoints, "mesh-migrate")

    def say(line: str) -> None:
        _say(line)
        hubs.send("migration", line)

    try:
        j.lock()
        state = action(Executor(j, mesh, say, os.environ.get(FAULT_ENV), config))
        say(f"result: {state.value}")
    except (JournalBusy, MeshError, KeyError, ValueError, WritebackError) as exc:
        raise fail(str(exc)) from None
    finally:
        hubs.close()
        mesh.close()
        j.close()
    raise typer.Exit(0 if state.value in success else 3)


@migrate_app.command("resume")
def resume(migration_id: int = typer.Argument(None), config: str = CONFIG_OPTION,
           run_dir: str = RUN_DIR_OPTION, journal: str = JOURNAL_OPTION) -> None:
    """Finish an interrupted migration (or finish rolling it back)."""
    cfg, j, mesh = _open(config, run_dir, journal, [])
    ids = [migration_id] if migration_id is not None else j.unfinished()
    if not ids:
        _say("nothing to resume")
        return
    _run(j, mesh, config, lambda ex: ex.resume(ids[-1]))


@migrate_app.command("rollback")
def rollback(migration_id: int, config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
             journal: str = JOURNAL_OPTION,
             force: bool = typer.Option(False, "--force", help="Write the previous config file "
                                        "back even if it was edited since the promotion.")
             ) -> None:
    """Roll back a migration: its unfinished stage, then every promoted stage in reverse; a
    finished one's previous config file is written back.  Exit 0 once rolled back, 3 if a
    rollback step failed."""
    cfg, j, mesh = _open(config, run_dir, journal, [])
    _run(j, mesh, config, lambda ex: ex.rollback(migration_id, force), ("rolled_back",))


@migrate_app.command("history")
def history(config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
            journal: str = JOURNAL_OPTION, json_: bool = typer.Option(False, "--json")) -> None:
    """Every migration in the journal."""
    _, j, mesh = _open(config, run_dir, journal, [])
    mesh.close()
    rows = [{"id": m["id"], "kind": m["kind"], "state": m["state"], "change": m["change_path"],
             "agents": [a["agent"] for s in m["plan"]["stages"] for a in s["agents"]],
             "config": _config_files(m["result"]), "result": m["result"]} for m in j.history()]
    if json_:
        print_json(rows)
    else:
        print_table("migrations", ["id", "kind", "state", "change", "agents", "result"],
                    [[r["id"], r["kind"], r["state"], r["change"], ", ".join(r["agents"]),
                      r["result"]] for r in rows])


@migrate_app.command("show")
def show(migration_id: int, config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
         journal: str = JOURNAL_OPTION, json_: bool = typer.Option(False, "--json")) -> None:
    """One migration: its plan, result, every journaled step and every decision of the canary
    judge with the numbers behind it (samples, statistics, p-values, effects, thresholds)."""
    _, j, mesh = _open(config, run_dir, journal, [])
    mesh.close()
    try:
        record = {**j.get(migration_id), "steps": j.steps(migration_id),
                  "decisions": j.decisions(migration_id)}
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    if json_:
        print_json(record)
        return
    _say(f"migration {record['id']} ({record['kind']}): {record['state']}  {record['result']}")
    for step, files in _config_files(record["result"]).items():
        _say(f"{step}: {files['path']}\n  sha256 before {files['sha256_before']}\n"
             f"  sha256 after  {files['sha256_after']}\n  replaced file kept as "
             f"{files['backup']}")
    _print_plan(record["plan"])
    for s in record["steps"]:
        _say(step_line(s))
    if record["decisions"]:
        _say("decisions:")
    for d in record["decisions"]:
        _say("\n".join(decision_lines(d)))


@migrate_app.command("watch")
def watch(migration_id: int = typer.Argument(None, help="Default: the latest migration."),
          config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
          journal: str = JOURNAL_OPTION,
          timeout_s: float = typer.Option(3600.0, "--timeout", help="Give up after this many "
                                          "seconds (exit 1)."),
          interval_s: float = typer.Option(0.5, "--interval", help="How often to read the "
                                           "journal.")) -> None:
    """Follow a running migration: its steps and judge decisions as they are journaled, until
    it ends (exit 0 done, 3 rolled back or failed)."""
    _, j, mesh = _open(config, run_dir, journal, [])
    mesh.close()
    deadline = time.monotonic() + timeout_s
    while True:  # an ID given may not be journaled yet: `apply` in another shell is starting
        ids = [m["id"] for m in j.history()]
        mid = migration_id if migration_id is not None else (ids[-1] if ids else None)
        if mid is not None and mid in ids:
            break
        if migration_id is None or time.monotonic() >= deadline:
            j.close()
            raise fail(f"no migration {mid} in {j.path}" if mid else f"no migration in {j.path}")
        time.sleep(interval_s)  # polling the journal another process writes
    steps_seen = decision_seen = 0
    state = ""
    while True:
        steps = j.steps(mid)
        for s in steps[steps_seen:]:
            _say(step_line(s))
        steps_seen = len(steps)
        for d in j.decisions(mid, decision_seen):
            _say("\n".join(decision_lines(d)))
            decision_seen = d["id"]
        record = j.get(mid)
        if record["state"] != state:
            state = record["state"]
            _say(f"migration {mid}: {state}")
        if state in ("done", "rolled_back", "failed"):
            j.close()
            raise typer.Exit(0 if state == "done" else 3)
        if time.monotonic() >= deadline:
            j.close()
            raise fail(f"migration {mid} still {state} after {timeout_s:g} s")
        time.sleep(interval_s)  # polling the journal another process writes


def _config_files(result: dict[str, Any]) -> dict[str, Any]:
    """The config write-backs journaled for a migration: path, backup, both hashes."""
    return {step: result[step] for step in (PROMOTE_STEP, RESTORE_STEP) if step in result}
