"""The ``mesh`` command."""

from __future__ import annotations

import sys

import typer

from common.base_agent.keystore import KeyStoreError
from common.cli.agent_cmd import agent_app
from common.cli.backup_cmd import backup, restore_cmd
from common.cli.call_cmd import call
from common.cli.config_cmd import config_app
from common.cli.demo_cmd import demo_app
from common.cli.events_cmd import events
from common.cli.failover_cmd import failover_app
from common.cli.hub_cmd import alerts, health
from common.cli.keys_cmd import keys_app
from common.cli.load_cmd import load
from common.cli.migrate_cmd import migrate_app
from common.cli.output import fail
from common.cli.ports_cmd import ports
from common.cli.registry_cmd import registry_app
from common.cli.reload_cmd import reload
from common.cli.slo_cmd import slo_app
from common.cli.status_cmd import logs, restart, status
from common.cli.systemd_cmd import systemd_unit
from common.cli.up_cmd import down, up
from common.cli.vram_cmd import vram

__all__ = ["app", "main"]

app = typer.Typer(help="agentmesh: a ZeroMQ agent mesh across two GPU hosts.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(registry_app, name="registry")
app.add_typer(agent_app, name="agent")
config_app.command("ports")(ports)
app.add_typer(config_app, name="config")
app.add_typer(migrate_app, name="migrate")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")
app.add_typer(slo_app, name="slo")
app.add_typer(failover_app, name="failover")
for command in (up, down, status, restart, logs, reload):
    app.command(command.__name__)(command)
app.command("call")(call)
app.command("health")(health)
app.command("alerts")(alerts)
app.command("events")(events)
app.command("vram")(vram)
app.command("load")(load)
app.command("systemd-unit")(systemd_unit)
app.command("backup")(backup)
app.command("restore")(restore_cmd)


def main() -> None:
    try:
        app()
    except KeyStoreError as exc:  # MESH_KEYS_DIR names keys that are missing or too open
        fail(str(exc), 2)
        sys.exit(2)


if __name__ == "__main__":
    main()
