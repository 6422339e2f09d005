"""Options and helpers shared by the commands that act on hosts of the startup config."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import typer

from common.base_agent import security
from common.base_agent.client import Client
from common.base_agent.errors import CircuitOpenError, MeshError, MeshTimeoutError
from common.base_agent.keystore import KeyStoreError
from common.base_agent.protocol import ErrorCode
from common.cli.output import fail
from common.config import ConfigError, MeshConfig, load_config
from common.launcher import HostPlan

__all__ = ["ADDRESS_OPTION", "CONFIG_OPTION", "HOST_OPTION", "IGNORED_RUN_DIR", "RUN_DIR_OPTION",
           "LauncherUnreachable", "ask_launcher", "ask_launchers", "launcher_plan", "load_plan",
           "parse_addresses", "read_config", "selected_hosts", "use_security"]

HOST_OPTION = typer.Option("all", "--host", help="A host of the config, or `all`.")
CONFIG_OPTION = typer.Option("startup_config.yaml", "--config", "-c", envvar="MESH_CONFIG",
                             help="The startup config.")
ADDRESS_OPTION = typer.Option([], "--address", metavar="HOST=IP",
                              help="Override a host's address, e.g. pc2=127.0.0.2 (repeatable).")
RUN_DIR_OPTION = typer.Option("run", "--run-dir", help="Where a launcher keeps its lock (one "
                              "launcher per host; local to the host).")
IGNORED_RUN_DIR = typer.Option("run", "--run-dir", hidden=True,
                               help="Ignored: launchers are reached over tcp.")


def load(config: str, identity: str = security.OPERATOR) -> MeshConfig:
    """The config, with this process set up for its security mode (curve: as identity)."""
    cfg = read_config(config)
    use_security(cfg, identity)
    return cfg


def read_config(config: str) -> MeshConfig:
    """The config, or exit 2 with every error (no keys needed: it connects nowhere)."""
    try:
        return load_config(config)
    except ConfigError as exc:
        typer.echo("\n".join(str(issue) for issue in exc.errors), err=True)
        raise fail(f"{config} has {len(exc.errors)} error(s); see `mesh config check`", 2) \
            from None
    except OSError as exc:
        raise fail(f"cannot read {config}: {exc.strerror}", 2) from None


def use_security(cfg: MeshConfig, identity: str, host: str | None = None,
                 addresses: dict[str, str] | None = None) -> None:
    """``security: curve``: speak CURVE as identity (serving as host, if given), expecting
    each host's own server key at its address; the key files are checked now."""
    if cfg.global_.security != "curve":
        return
    addresses = addresses or {name: h.address for name, h in cfg.hosts.items()}
    try:
        security.configure(cfg.global_.keys_dir, identity, host, addresses)
    except KeyStoreError as exc:
        raise fail(f"{exc} (global.keys_dir is {cfg.global_.keys_dir!r})", 2) from None


def selected_hosts(config: str, host: str) -> list[str]:
    hosts = list(load(config).hosts)
    if host == "all":
        return hosts
    if host not in hosts:
        raise fail(f"unknown host {host!r}; {config} has: {', '.join(hosts)}", 2)
    return [host]


def parse_addresses(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, ip = pair.partition("=")
        if not sep or not name or not ip:
            raise fail(f"--address {pair!r} is not HOST=IP", 2)
        out[name] = ip
    return out


class LauncherUnreachable(MeshError):
    """host's launcher did not answer at its endpoint (not running, unreachable, or refusing
    this process's key)."""

    def __init__(self, host: str, endpoint: str) -> None:
        hint = "not running, unreachable, or refusing the operator's key" \
            if security.keystore() is not None else "not running, or unreachable"
        super().__init__(f"{host}: launcher at {endpoint} not answering ({hint})",
                         ErrorCode.TIMEOUT)
        self.host, self.endpoint = host, endpoint


def ask_launcher(client: Client, plan: HostPlan, host: str, action: str,
                 payload: Any = None, timeout_s: float = 2.0) -> Any:
    """One control request to host's launcher, over tcp at ``plan.launcher_endpoint(host)``;
    LauncherUnreachable if it does not answer within timeout_s, the launcher's own error
    (a MeshError) if it refuses."""
    endpoint = plan.launcher_endpoint(host)
    try:
        return client.call_endpoint(endpoint, action, payload, timeout_s=timeout_s, retries=0,
                                    peer=f"launcher {host}")
    except (MeshTimeoutError, CircuitOpenError):
        raise LauncherUnreachable(host, endpoint) from None


def load_plan(config: str, host: str, addresses: dict[str, str],
              log_level: str = "INFO") -> HostPlan:
    return HostPlan(load(config), host, addresses, log_level=log_level)


def launcher_plan(config: str, addresses: list[str] | None = None) -> HostPlan:
    """A plan of the config that knows where every host's launcher listens (``--address``
    pairs applied): for the commands that talk to launchers."""
    cfg = load(config)
    return HostPlan(cfg, next(iter(cfg.hosts)), parse_addresses(addresses or []))


def ask_launchers(plan: HostPlan, hosts: list[str], action: str, source: str,
                  timeout_s: float = 2.0) -> tuple[dict[str, Any], dict[str, str]]:
    """The same request to several hosts' launchers at once (one client each), so hosts
    that do not answer cost one timeout, not one each: (replies, errors) by host, in the
    order of hosts."""
    def ask(host: str) -> Any:
        with Client(source=source, breaker_threshold=10**9) as client:
            return ask_launcher(client, plan, host, action, timeout_s=timeout_s)

    replies, errors = {}, {}
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        futures = {host: pool.submit(ask, host) for host in hosts}
    for host, future in futures.items():
        try:
            replies[host] = future.result()
        except MeshError as exc:
            errors[host] = str(exc)
    return replies, errors
