"""``mesh keys``: the CURVE keys of the mesh (``global.security: curve``).

    mesh keys init [DIR] [--config PATH] [--identity NAME]... [--json]
        a server key pair, a key pair per identity (every agent of the config, a launcher per
        host, ``operator`` for the CLI, and any --identity) and the allow-list; keeps what
        exists, so running it again after adding agents only adds their keys.
    mesh keys list [DIR] [--json]      identities, allowed or revoked, secret file modes
    mesh keys revoke NAME [--dir DIR]  take NAME off the allow-list: refused at its next handshake
    mesh keys allow NAME [--dir DIR]   put a revoked NAME back

DIR defaults to the config's ``global.keys_dir`` (``keys``).  Copy the directory to each host;
secret files are written with mode 0600 and refused at start with any other mode.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from common.base_agent.keystore import KeyStore, KeyStoreError
from common.base_agent.security import OPERATOR
from common.cli.hosts import CONFIG_OPTION
from common.cli.output import fail, print_json, print_table
from common.config import ConfigError, load_config

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Create, list and revoke the mesh's CURVE keys.",
                       no_args_is_help=True)

Dir = Annotated[Path | None, typer.Argument(
    help="Key directory (default: global.keys_dir of the config).", show_default=False)]
DirOption = Annotated[Path | None, typer.Option(
    "--dir", help="Key directory (default: global.keys_dir of the config).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _config_identities(config: str) -> tuple[str, list[str]]:
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise fail(f"{config} has {len(exc.errors)} error(s); see `mesh config check`", 2) \
            from None
    except OSError as exc:
        raise fail(f"cannot read {config}: {exc.strerror}", 2) from None
    names = [*(a.name for a in cfg.agents), *(f"launcher-{host}" for host in cfg.hosts), OPERATOR]
    return cfg.global_.keys_dir, names


def _store(directory: Path | None, config: str) -> KeyStore:
    if directory is not None:
        return KeyStore(directory)
    try:
        return KeyStore(load_config(config).global_.keys_dir)
    except (ConfigError, OSError):
        return KeyStore("keys")


@keys_app.command("init")
def init(directory: Dir = None, config: str = CONFIG_OPTION,
         identity: Annotated[list[str] | None, typer.Option(
             "--identity", help="Another client identity (repeatable).")] = None,
         as_json: AsJson = False) -> None:
    """Generate the server key pair, one key pair per identity, and the allow-list."""
    keys_dir, names = _config_identities(config)
    store = KeyStore(directory or keys_dir)
    try:
        made = store.init([*names, *(identity or [])])
    except (KeyStoreError, OSError) as exc:
        raise fail(str(exc), 2) from None
    if as_json:
        print_json({"dir": str(store.dir), "created": made, "identities": store.identities()})
        return
    typer.echo(f"{store.dir}: {len(made)} new key pair(s), {len(store.identities())} "
               f"identities; secret files are mode 0600. Set `security: curve` and "
               f"`keys_dir: {store.dir}` under global: to use them.")


def _rows(store: KeyStore) -> list[dict[str, object]]:
    allowed = {path.stem for path in store.allowed.glob("*.key")}
    rows = []
    for name in store.identities():
        mode = stat.S_IMODE((store.clients / f"{name}.key_secret").stat().st_mode)
        rows.append({"identity": name, "allowed": name in allowed, "secret_mode": f"{mode:04o}",
                     "mode_ok": not mode & 0o077})
    return rows


@keys_app.command("list")
def list_keys(directory: Dir = None, config: str = CONFIG_OPTION, as_json: AsJson = False) -> None:
    """Every identity: on the allow-list or revoked, and whether its secret file is private."""
    store = _store(directory, config)
    if not store.exists():
        raise fail(f"{store.dir}: no keys (run `mesh keys init`)", 2)
    rows = _rows(store)
    if as_json:
        print_json({"dir": str(store.dir), "identities": rows})
        return
    print_table(f"keys in {store.dir}", ["identity", "allowed", "secret mode"],
                [[r["identity"], "yes" if r["allowed"] else "REVOKED",
                  r["secret_mode"] if r["mode_ok"] else f"{r['secret_mode']} (too open)"]
                 for r in rows])


@keys_app.command("revoke")
def revoke(name: str, directory: DirOption = None, config: str = CONFIG_OPTION) -> None:
    """Take NAME off the allow-list; every agent refuses it from its next handshake on."""
    store = _store(directory, config)
    _edit(store.revoke, name)
    typer.echo(f"{name}: revoked in {store.dir} (connections it holds now end when they "
               f"reconnect; stop the process to end them at once)")


@keys_app.command("allow")
def allow(name: str, directory: DirOption = None, config: str = CONFIG_OPTION) -> None:
    """Put a revoked NAME back on the allow-list."""
    store = _store(directory, config)
    _edit(store.allow, name)
    typer.echo(f"{name}: allowed in {store.dir}")


def _edit(change: Callable[[str], None], name: str) -> None:
    """Apply a change of the allow-list to name; a KeyStoreError exits 2 naming it."""
    try:
        change(name)
    except KeyStoreError as exc:
        raise fail(str(exc), 2) from None
