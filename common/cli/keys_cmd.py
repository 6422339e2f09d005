"""``mesh keys``: the CURVE keys of the mesh (``global.security: curve``).

    mesh keys init [DIR] [--config PATH] [--identity NAME]... [--json]
        a server key pair per host, a key pair per identity (every agent of the config, a
        launcher per host, ``operator`` for the CLI, and any --identity), the operator's
        signing pair and the signed allow-list; keeps what exists, so running it again after
        adding agents or hosts only adds their keys.
    mesh keys bundle --host HOST --to DIR   what HOST needs, and nothing of another host's secrets
    mesh keys list [DIR] [--json]      identities, allowed or revoked, secret file modes
    mesh keys revoke NAME [--dir DIR]  sign a list without NAME: refused everywhere in seconds
    mesh keys allow NAME [--dir DIR]   put a revoked NAME back
    mesh keys rotate --identity NAME [--finish]   a new key pair for NAME, old and new allowed
                                       until --finish
    mesh keys rotate --host HOST [--finish] [--json]   a new server pair for HOST with no failed
                                       request (common.cli.keys_rotate); --finish drops the old

DIR defaults to the config's ``global.keys_dir`` (``keys``).  Changes of the list are signed
with the operator's key and carried to every host by the launchers (see docs/SECURITY.md).
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from common.base_agent import security
from common.base_agent.allowlist import AllowList
from common.base_agent.keystore import KeyStore, KeyStoreError
from common.base_agent.security import OPERATOR
from common.cli.hosts import ADDRESS_OPTION, CONFIG_OPTION, launcher_plan, read_config
from common.cli.keys_rotate import HostRotation, RotationStalled
from common.cli.output import fail, print_json, print_table
from common.config import ConfigError, MeshConfig, load_config

__all__ = ["keys_app"]

T = TypeVar("T")

keys_app = typer.Typer(help="Create, bundle, list, revoke and rotate the mesh's CURVE keys.",
                       no_args_is_help=True)

Dir = Annotated[Path | None, typer.Argument(
    help="Key directory (default: global.keys_dir of the config).", show_default=False)]
DirOption = Annotated[Path | None, typer.Option(
    "--dir", help="Key directory (default: global.keys_dir of the config).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _config(config: str) -> MeshConfig:
    """The config, or exit 2 with every error named by its field."""
    return read_config(config)


def _host_identities(cfg: MeshConfig, host: str) -> list[str]:
    """The client identities that run on host: its agents, its launcher, the CLI."""
    return [*(a.name for a in cfg.agents if a.host == host), f"launcher-{host}", OPERATOR]


def _store(directory: Path | None, config: str) -> KeyStore:
    if directory is not None:
        return KeyStore(directory)
    try:
        return KeyStore(load_config(config).global_.keys_dir)
    except (ConfigError, OSError):
        return KeyStore("keys")


def _run(action: Callable[[], T]) -> T:
    """Run a key store action; a KeyStoreError or OSError exits 2 naming what is wrong."""
    try:
        return action()
    except (KeyStoreError, OSError) as exc:
        raise fail(str(exc), 2) from None


@keys_app.command("init")
def init(directory: Dir = None, config: str = CONFIG_OPTION,
         identity: Annotated[list[str] | None, typer.Option(
             "--identity", help="Another client identity (repeatable).")] = None,
         as_json: AsJson = False) -> None:
    """Generate a server key pair per host, one key pair per identity, the operator's signing
    key and the signed allow-list (existing keys are kept)."""
    cfg = _config(config)
    names = [*(a.name for a in cfg.agents), *(f"launcher-{h}" for h in cfg.hosts), OPERATOR]
    store = KeyStore(directory or cfg.global_.keys_dir)
    made = _run(lambda: store.init(list(cfg.hosts), [*names, *(identity or [])]))
    version = store.allow_list().version
    if as_json:
        print_json({"dir": str(store.dir), "created": made, "identities": store.identities(),
                    "hosts": list(cfg.hosts), "list_version": version})
        return
    typer.echo(f"{store.dir}: {len(made)} new key pair(s) ({len(cfg.hosts)} hosts, "
               f"{len(store.identities())} identities), allow-list version {version}; secret "
               f"files are mode 0600. Give each host its `mesh keys bundle --host HOST`, and "
               f"set `security: curve` and `keys_dir:` under global:.")


@keys_app.command("bundle")
def bundle(host: Annotated[str, typer.Option("--host", help="The host to bundle for.")],
           to: Annotated[Path | None, typer.Option(
               "--to", help="A new folder to write (default: keys-HOST).")] = None,
           directory: DirOption = None, config: str = CONFIG_OPTION,
           as_json: AsJson = False) -> None:
    """Write what HOST needs: its server key pair, its agents', launcher's and the CLI's key
    pairs, every public key, the operator's verify key and the signed allow-list. No other
    host's secret, and not the operator's signing key."""
    cfg = _config(config)
    if host not in cfg.hosts:
        raise fail(f"unknown host {host!r}; {config} has: {', '.join(cfg.hosts)}", 2)
    store = _store(directory, config)
    dest = to or Path(f"keys-{host}")
    files = _run(lambda: store.bundle(host, _host_identities(cfg, host), dest))
    if as_json:
        print_json({"host": host, "dir": str(dest), "files": files})
        return
    typer.echo(f"{dest}: {len(files)} files for {host} (secrets: its server key and "
               f"{len(_host_identities(cfg, host))} identities). Copy it to {host} as its "
               f"keys_dir, e.g. `rsync -a {dest}/ {host}:agentmesh/keys/`.")


def _rows(store: KeyStore, current: AllowList) -> list[dict[str, object]]:
    rows = []
    for name in store.identities():
        mode = stat.S_IMODE((store.clients / f"{name}.key_secret").stat().st_mode)
        rows.append({"identity": name, "allowed": bool(current.clients.get(name)),
                     "keys": len(current.clients.get(name, [])),
                     "secret_mode": f"{mode:04o}", "mode_ok": not mode & 0o077})
    return rows


@keys_app.command("list")
def list_keys(directory: Dir = None, config: str = CONFIG_OPTION, as_json: AsJson = False) -> None:
    """Every identity: on the allow-list or revoked, and whether its secret file is private."""
    store = _store(directory, config)
    if not store.exists():
        raise fail(f"{store.dir}: no keys (run `mesh keys init`)", 2)
    current = _run(store.allow_list)
    rows = _rows(store, current)
    if as_json:
        print_json({"dir": str(store.dir), "list_version": current.version,
                    "hosts": sorted(current.hosts), "identities": rows})
        return
    print_table(f"keys in {store.dir} (allow-list version {current.version})",
                ["identity", "allowed", "secret mode"],
                [[r["identity"], ("yes" if r["keys"] == 1 else "yes (rotating: old and new)")
                  if r["allowed"] else "REVOKED",
                  r["secret_mode"] if r["mode_ok"] else f"{r['secret_mode']} (too open)"]
                 for r in rows])


@keys_app.command("revoke")
def revoke(name: str, directory: DirOption = None, config: str = CONFIG_OPTION) -> None:
    """Take NAME off the allow-list: every agent of every host refuses it within seconds,
    on connections it already holds too."""
    store = _store(directory, config)
    signed = _edit(store.revoke, name)
    typer.echo(f"{name}: revoked (allow-list version {signed.version} in {store.dir}; the "
               f"launchers carry it to every host, and agents drop its messages at once)")


@keys_app.command("allow")
def allow(name: str, directory: DirOption = None, config: str = CONFIG_OPTION) -> None:
    """Put a revoked NAME back on the allow-list."""
    store = _store(directory, config)
    signed = _edit(store.allow, name)
    typer.echo(f"{name}: allowed (allow-list version {signed.version} in {store.dir})")


@keys_app.command("rotate")
def rotate(identity: Annotated[str | None, typer.Option(
               "--identity", help="The identity whose key pair to replace.")] = None,
           host: Annotated[str | None, typer.Option(
               "--host", help="The host whose server key pair to replace, with no failed "
                              "request: its launcher makes the new pair (the secret stays on "
                              "it), every client accepts old and new, the host's sockets "
                              "switch to the new key in place; --finish then drops the "
                              "old key everywhere.")] = None,
           finish: Annotated[bool, typer.Option(
               "--finish", help="Drop the old key (--identity: once the identity runs with "
                                "the new one; --host: checked: every host holds the list and "
                                "the host serves the new key).")] = False,
           wait: Annotated[float, typer.Option(
               "--wait", min=1, help="--host: seconds each step waits for every host "
                                     "(then it stops; run it again to go on).")] = 30.0,
           address: list[str] = ADDRESS_OPTION,
           directory: DirOption = None, config: str = CONFIG_OPTION,
           as_json: AsJson = False) -> None:
    """A new key pair for IDENTITY or HOST; old and new overlap, so nothing breaks.
    IDENTITY: restart its process (it then uses the new key), then run with --finish.
    HOST: the command waits until every host has the new key and HOST serves it; then run
    with --finish (needs the mesh up, and this host's operator signing key)."""
    if (identity is None) == (host is None):
        raise fail("give exactly one of --identity NAME or --host HOST", 2)
    if host is not None:
        _rotate_host(host, finish, wait, address, directory, config, as_json)
        return
    assert identity is not None
    store = _store(directory, config)
    signed = _edit(store.finish_rotation if finish else store.rotate, identity)
    if as_json:
        print_json({"identity": identity, "finished": finish, "list_version": signed.version,
                    "keys": signed.clients.get(identity, [])})
    elif finish:
        typer.echo(f"{identity}: only the new key allowed (allow-list version {signed.version})")
    else:
        typer.echo(f"{identity}: new key pair; old and new allowed (allow-list version "
                   f"{signed.version}). Restart it (`mesh restart {identity}`, or its bundle "
                   f"to its host first), then `mesh keys rotate --identity {identity} --finish`.")


def _rotate_host(host: str, finish: bool, wait: float, address: list[str],
                 directory: Path | None, config: str, as_json: bool) -> None:
    plan = launcher_plan(config, address)
    if host not in plan.config.hosts:
        raise fail(f"unknown host {host!r}; {config} has: {', '.join(plan.config.hosts)}", 2)
    if plan.config.global_.security != "curve":
        raise fail(f"{config}: global.security is not curve; there is no server key to rotate",
                   2)
    store = KeyStore(directory or plan.config.global_.keys_dir)
    if directory is not None:
        security.configure(directory, OPERATOR, None, dict(plan.addresses))
    rotation = HostRotation(store, plan, host, wait)
    started = time.monotonic()
    try:
        signed = _run(rotation.finish if finish else rotation.start_and_switch)
    except RotationStalled as exc:
        raise fail(str(exc), 1) from None
    took = round(time.monotonic() - started, 2)
    if as_json:
        print_json({"host": host, "finished": finish, "list_version": signed.version,
                    "server_keys": signed.hosts[host], "steps": rotation.steps,
                    "took_s": took})
    elif finish:
        typer.echo(f"{host}: only the new server key is allowed (allow-list version "
                   f"{signed.version}, on every host; {took} s)")
    else:
        typer.echo(f"{host}: serves its new server key; every host accepts old and new "
                   f"(allow-list version {signed.version}; {took} s). Run `mesh keys rotate "
                   f"--host {host} --finish` to drop the old key.")


def _edit(change: Callable[[str], AllowList], name: str) -> AllowList:
    """Apply a change of the allow-list to name; a KeyStoreError exits 2 naming it."""
    try:
        return change(name)
    except KeyStoreError as exc:
        raise fail(str(exc), 2) from None
