"""``mesh systemd-unit``: a systemd service that runs one host's launcher.

    mesh systemd-unit --host H [--config PATH] [--user NAME] [--address H=IP] [--env-file F]
        prints a unit that runs ``mesh up --host H --config ABS_PATH`` in the foreground
        (Type=simple; its log goes to the journal), in the config's folder, restarts it on
        failure, and stops it with ``mesh down --host H`` (then SIGTERM to the launcher, which
        also stops every agent in reverse dependency order; SIGKILL after TimeoutStopSec).

Install it with ``mesh systemd-unit --host pc2 > /etc/systemd/system/agentmesh.service``, then
``systemctl daemon-reload && systemctl enable --now agentmesh`` (docs/DEPLOY.md).
"""

from __future__ import annotations

import math
import os
import pwd
import shutil
import sys
from pathlib import Path

import typer

from common.cli.hosts import ADDRESS_OPTION, CONFIG_OPTION, parse_addresses, read_config
from common.cli.output import fail
from common.config import MeshConfig, dependency_waves

__all__ = ["mesh_command", "systemd_unit", "unit_text"]

STOP_MARGIN_S = 15  # beyond the worst ordered stop: every wave taking its stop_timeout_s
RESTART_S = 5
ENV_FILE = "/etc/agentmesh/{host}.env"  # optional: the launcher's secret variables


def mesh_command() -> list[str]:
    """The absolute command of this `mesh`: the script that runs now, the one installed beside
    this interpreter, the one on PATH, or this interpreter with ``-m common.cli.main``."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "mesh" and os.access(argv0, os.X_OK):
        return [str(argv0.absolute())]
    beside = Path(sys.executable).parent / "mesh"
    if os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("mesh")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "common.cli.main"]


def _quote(arg: str) -> str:
    """One argument of a unit's command line: specifiers (%) and variables ($) escaped,
    quoted when it holds a space, a quote or a backslash."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if any(c in arg for c in ' "\\\'\t'):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def _line(argv: list[str]) -> str:
    return " ".join(_quote(arg) for arg in argv)


def unit_text(config: MeshConfig, host: str, config_path: Path, mesh: list[str],
              user: str | None, addresses: dict[str, str], env_file: str) -> str:
    """The unit for host's launcher; config_path absolute."""
    down_s = math.ceil(len(dependency_waves(config, host)) * config.global_.stop_timeout_s) \
        + STOP_MARGIN_S
    common = ["--host", host, "--config", str(config_path)]
    common += [arg for name, ip in addresses.items() for arg in ("--address", f"{name}={ip}")]
    lines = [
        f"# agentmesh: the launcher of host {host}, from {config_path}",
        f"# made by `mesh systemd-unit --host {host}`; see docs/DEPLOY.md",
        "[Unit]",
        f"Description=agentmesh launcher for host {host}",
        "After=network-online.target",  # it binds the host's own address
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        *([f"User={user}"] if user else []),
        f"WorkingDirectory={str(config_path.parent).replace('%', '%%')}",  # taken unquoted
        f"EnvironmentFile=-{env_file}",
        "Environment=PYTHONUNBUFFERED=1",
        f"ExecStart={_line([*mesh, 'up', *common])}",
        f"ExecStop={_line([*mesh, 'down', *common, '--timeout', str(down_s)])}",
        "Restart=on-failure",
        f"RestartSec={RESTART_S}",
        "KillMode=mixed",  # SIGTERM to the launcher only: it stops its agents in order
        f"TimeoutStopSec={down_s + STOP_MARGIN_S}",
        "LimitNOFILE=65536",
        f"SyslogIdentifier=agentmesh-{host}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def _owner(path: Path) -> str | None:
    """Who owns the config (and so, usually, the keys): the service runs as them; None for
    root."""
    uid = path.stat().st_uid
    if uid == 0:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def systemd_unit(host: str = typer.Option(..., "--host", help="The host the unit runs."),
                 config: str = CONFIG_OPTION, address: list[str] = ADDRESS_OPTION,
                 user: str | None = typer.Option(None, "--user", help="The user the launcher "
                                                 "runs as (default: the config file's owner; "
                                                 "none for root)."),
                 env_file: str = typer.Option(ENV_FILE, "--env-file", help="An optional "
                                              "file of VARIABLE=value lines for the launcher "
                                              "(the secrets the config reads from its "
                                              "environment); {host} is the host.")) -> None:
    """Print a systemd service unit that runs this host's launcher in the foreground with the
    config (absolute paths), restarts it on failure and stops it with `mesh down`.
    Install: `mesh systemd-unit --host pc2 > /etc/systemd/system/agentmesh.service`."""
    path = Path(config).absolute()
    cfg = read_config(str(path))
    if host not in cfg.hosts:
        raise fail(f"unknown host {host!r}; {config} has: {', '.join(cfg.hosts)}", 2)
    text = unit_text(cfg, host, path, mesh_command(), user or _owner(path),
                     parse_addresses(address), env_file.replace("{host}", host))
    typer.echo(text, nl=False)
