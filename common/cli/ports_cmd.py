"""``mesh config ports``: every port each host must open in its firewall.

    mesh config ports [PATH] [--host H] [--json] [--ufw] [--port-offset N]
        per host: each tcp port something of the mesh listens on there, with what speaks on
        it and who owns it: every agent's ``port``, ``health_port`` and ``ports.*`` (a hub's
        ``http_port`` is HTTP, the rest ZeroMQ), the host's launcher (``launcher_port``; the
        operator's tools reach it from either host) and its ``reserved_ports``.
        JSON: {"hosts": {H: {"address", "peers", "ports": [{port, protocol, speaks, owner,
        field}]}}}.  ``--ufw``: one ``ufw allow`` line per port and peer host.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer

from common.cli.output import fail, print_json
from common.config import MeshConfig, validate_files

__all__ = ["PortUse", "host_ports", "ports"]


@dataclass(frozen=True)
class PortUse:
    port: int
    speaks: str  # zmq | http | other (a reserved port: not the mesh's own)
    owner: str  # an agent's name, "launcher", or "reserved"
    field: str  # where the config declares it
    protocol: str = "tcp"


def _speaks(field: str) -> str:
    return "http" if "http" in field else "zmq"


def host_ports(config: MeshConfig, host: str) -> list[PortUse]:
    """Every port host listens on, by port number."""
    uses = [PortUse(config.launcher_port(host), "zmq", "launcher", "launcher_port")]
    for agent in config.agents_on(host):
        uses += [PortUse(port, _speaks(field), agent.name, field)
                 for field, port in agent.declared_ports()]
    uses += [PortUse(port, "other", "reserved", f"reserved_ports.{key}")
             for key, port in config.hosts[host].reserved_ports.items()]
    return sorted(uses, key=lambda use: use.port)


def ports(path: Annotated[Path, typer.Argument(help="The startup config.")] = Path(
              "startup_config.yaml"),
          host: str = typer.Option("all", "--host", help="A host of the config, or `all`."),
          json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
          ufw: bool = typer.Option(False, "--ufw", help="Print `ufw allow` commands: each port "
                                   "open to the other hosts' addresses only."),
          port_offset: int | None = typer.Option(None, "--port-offset", envvar="PORT_OFFSET",
                                                 min=0, max=65535,
                                                 help="Value of ${PORT_OFFSET}.")) -> None:
    """Every tcp port each host must open in its firewall: agents' ports, health and extra
    ports, the hubs' HTTP ports, the host's launcher port, and its reserved ports."""
    config, issues = validate_files([path], port_offset=port_offset)
    if config is None:
        typer.echo("\n".join(str(issue) for issue in issues), err=True)
        raise fail(f"{path} has {len(issues)} error(s); see `mesh config check`", 2)
    if host != "all" and host not in config.hosts:
        raise fail(f"unknown host {host!r}; {path} has: {', '.join(config.hosts)}", 2)
    hosts = list(config.hosts) if host == "all" else [host]
    if json_out:
        print_json({"hosts": {h: {"address": config.hosts[h].address, "peers": _peers(config, h),
                                  "ports": [asdict(u) for u in host_ports(config, h)]}
                              for h in hosts}})
    elif ufw:
        for h in hosts:
            _print_ufw(config, h)
    else:
        for h in hosts:
            _print_table(config, h)


def _peers(config: MeshConfig, host: str) -> dict[str, str]:
    return {name: h.address for name, h in config.hosts.items() if name != host}


def _print_table(config: MeshConfig, host: str) -> None:
    """Plain columns, the owner last: nothing is cut, and it fits 80 columns for any name
    up to 40 characters."""
    uses = host_ports(config, host)
    peers = ", ".join(f"{name} {address}" for name, address in _peers(config, host).items())
    typer.echo(f"{host} ({config.hosts[host].address}): {len(uses)} tcp ports to open"
               + (f" to {peers}" if peers else ""))
    width = max(len("field"), *(len(u.field) for u in uses))
    typer.echo(f"  {'port':>5}  {'speaks':<6}  {'field':<{width}}  owner")
    for u in uses:
        typer.echo(f"  {u.port:>5}  {u.speaks:<6}  {u.field:<{width}}  {u.owner}")


def _print_ufw(config: MeshConfig, host: str) -> None:
    address = config.hosts[host].address
    typer.echo(f"# on {host} ({address})")
    for u in host_ports(config, host):
        for peer in _peers(config, host).values():
            typer.echo(f"ufw allow proto tcp from {peer} to {address} port {u.port} "
                       f"comment 'agentmesh {u.owner} {u.field}'")
