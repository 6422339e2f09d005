"""``mesh config``: check a startup config, or show it resolved.

    mesh config check [PATH...] [--json] [--port-offset N]
        exit 0 and one line "OK ..." when the config is valid; otherwise every error, one per
        line as `path: message (value)`, and exit 2.  Each agent's module is imported and its
        settings validated by its class's model (`agents[3].settings.windw: unknown setting;
        did you mean 'window'?`). JSON: {"ok": true, "summary": {...}} or
        {"ok": false, "errors": [{"path", "message", "value", "source"}]}.
    mesh config show [PATH...] [--json] [--port-offset N]
        the resolved config as YAML (or JSON): ports computed, defaults filled.
    mesh config import-legacy MAIN_PC_FILE [PC2_FILE] [-o OUT] [--root DIR] [--json]
        the original's startup files as one version-1 config, its defects fixed and commented
        (common.cli.legacy_import_cmd).

PATH defaults to startup_config.yaml. Give the original system's MainPC and PC2 files together
(in either order) to check them as one mesh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml

from common.cli.legacy_import_cmd import import_legacy_cmd
from common.cli.output import print_json
from common.config import ConfigIssue, MeshConfig, dependency_waves, validate_files

__all__ = ["EXIT_INVALID", "config_app"]

EXIT_INVALID = 2
DEFAULT_PATH = Path("startup_config.yaml")

config_app = typer.Typer(help="Check the startup config, show it resolved, or import the "
                              "original system's startup files.", no_args_is_help=True)
config_app.command("import-legacy")(import_legacy_cmd)

Paths = Annotated[list[Path] | None, typer.Argument(
    help="Config file (default startup_config.yaml), or the legacy MainPC and PC2 files.",
    show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PortOffset = Annotated[int | None, typer.Option(
    "--port-offset", envvar="PORT_OFFSET", min=0, max=65535,
    help="Value of ${PORT_OFFSET} (default: global.port_offset of the file, else 0).")]


@config_app.command("check")
def check(paths: Paths = None, as_json: AsJson = False, port_offset: PortOffset = None) -> None:
    """Validate the config: exit 0 if it is valid, else print every error and exit 2."""
    files = [str(path) for path in paths or [DEFAULT_PATH]]
    summary = summarize(_load_or_exit(paths, as_json, port_offset, classes=True), files)
    if as_json:
        print_json({"ok": True, "summary": summary})
        return
    hosts = ", ".join(f"{name} {count}" for name, count in summary["agents_per_host"].items())
    typer.echo(f"OK {', '.join(summary['files'])}: {summary['agents']} agents on "
               f"{len(summary['agents_per_host'])} hosts ({hosts}), {summary['ports']} ports, "
               f"{summary['waves']} start waves")


@config_app.command("show")
def show(paths: Paths = None, as_json: AsJson = False, port_offset: PortOffset = None) -> None:
    """Print the resolved config (ports computed, defaults filled) as YAML or JSON."""
    config = _load_or_exit(paths, as_json, port_offset)
    if as_json:
        print_json(config.to_data())
    else:
        typer.echo(yaml.safe_dump(config.to_data(), sort_keys=False, width=100), nl=False)


def summarize(config: MeshConfig, files: list[str] | None = None) -> dict[str, Any]:
    """Counts for the one-line OK: agents per host, ports declared, start waves."""
    per_host = {name: len(config.agents_on(name)) for name in config.hosts}
    ports = sum(len(list(agent.declared_ports())) for agent in config.agents)
    ports += sum(len(host.reserved_ports) for host in config.hosts.values())
    return {"files": files or [], "agents": len(config.agents), "agents_per_host": per_host,
            "ports": ports, "waves": len(dependency_waves(config))}


def _load_or_exit(paths: list[Path] | None, as_json: bool, port_offset: int | None,
                  classes: bool = False) -> MeshConfig:
    files = list(paths or [DEFAULT_PATH])
    if len(files) > 2:
        _report([ConfigIssue("", f"give one config file, or the legacy MainPC and PC2 pair; "
                             f"got {len(files)} files")], as_json)
    config, issues = validate_files(files, port_offset=port_offset, classes=classes)
    if config is None:
        _report(issues, as_json)
    return config


def _report(issues: list[ConfigIssue], as_json: bool) -> NoReturn:
    if as_json:
        print_json({"ok": False, "errors": [issue.to_dict() for issue in issues]})
    else:
        for issue in issues:
            typer.echo(str(issue))
        count = len(issues)
        typer.echo(f"{count} error{'s' if count != 1 else ''}")
    raise typer.Exit(EXIT_INVALID)
