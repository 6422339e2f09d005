"""``mesh config import-legacy MAIN_PC_FILE [PC2_FILE] [-o OUT] [--root DIR] [--json]``

Reads the original system's startup files (MainPC's ``agent_groups`` file, PC2's
``pc2_services`` file, either order) and writes one version-1 startup config with a
``script_path:`` entry per script.  Known defects (a dependency cycle, ports claimed twice,
hidden HTTP ports on other agents' ports) are fixed, each with a ``# NAME: FIX: ...`` comment;
what remains is checked as ``mesh config check`` checks it.  Without ``-o`` the config goes to
stdout; an existing OUT is kept unless ``--force``.  Exit 0 when written, 2 with every issue
otherwise.  JSON: ``{"ok": true, "output", "agents", "fixes": [{"where", "what"}]}`` or
``{"ok": false, "errors": [...]}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from common.cli.output import fail, print_json
from common.config import ConfigError
from common.config.files import write_atomic
from common.config.legacy_import import import_legacy

__all__ = ["import_legacy_cmd"]

EXIT_INVALID = 2


def import_legacy_cmd(
    paths: Annotated[list[Path], typer.Argument(
        help="The original's startup files: MainPC's, PC2's, or both (either order).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the config here (default: print it).")] = None,
    root: Annotated[str | None, typer.Option(
        "--root", help="The original's checkout: each script's cwd (its paths are relative "
                       "to it).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing OUT.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write a startup config that runs the original's scripts as they are (script_path:)."""
    if len(paths) > 2:
        raise fail(f"give the MainPC file, the PC2 file, or both; got {len(paths)} files",
                   EXIT_INVALID)
    if output is not None and output.exists() and not force:
        raise fail(f"{output} exists; give --force to replace it", EXIT_INVALID)
    try:
        imported = import_legacy(paths, root)
    except ConfigError as exc:
        if as_json:
            print_json({"ok": False, "errors": [issue.to_dict() for issue in exc.errors]})
        else:
            typer.echo("\n".join(str(issue) for issue in exc.errors), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if output is None and not as_json:
        typer.echo(imported.text, nl=False)
        return
    if output is not None:
        write_atomic(str(output), imported.text.encode())
    agents = imported.text.count("\n  - name: ")
    if as_json:
        print_json({"ok": True, "output": str(output) if output else None, "agents": agents,
                    "fixes": [{"where": w, "what": what} for w, what in imported.fixes],
                    **({} if output else {"config": imported.text})})
        return
    typer.echo(f"wrote {output}: {agents} agents, {len(imported.fixes)} fixes")
    for where, what in imported.fixes:
        typer.echo(f"  {where}: {what}")
