"""``mesh slo``: the config's SLOs as Prometheus rules, and the hubs' SLO report.

    mesh slo rules [--config FILE] [--output FILE]
        the recording and alerting rules of every SLO in ``slos:`` (Sloth's naming:
        ``slo:sli_error:ratio_rate5m`` ...; alerts MeshSloBurnPage / MeshSloBurnTicket with the
        workbook's windows), as a Prometheus rules file; check it with ``promtool check rules``.
        Exit 2 if the config has no SLO.
    mesh slo report [--window 7d] [--format md|html|json] [--hub URL] [--output FILE]
        per SLO, host and agent: the SLI (availability or share of fast requests), whether the
        objective is attained, the error budget spent and left, incidents with their
        durations and the MTTR; from the first hub that answers (``GET /api/slo``).  The hubs
        also write it every ``slos.report_every`` (slo-HUB/slo-report.* in the log folder).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Literal

import typer
import yaml

from common.cli.hosts import CONFIG_OPTION, read_config
from common.cli.hub_cmd import HUB_OPTION, TIMEOUT_OPTION
from common.cli.locate import hub_urls
from common.cli.output import fail, print_json
from common.config.fields import parse_duration
from common.launcher.services import slo_objectives
from observability_hub.slo_render import render_html, render_markdown
from observability_hub.slo_rules import prometheus_rules
from observability_hub.slo_spec import SloSpec

__all__ = ["slo_app"]

slo_app = typer.Typer(help="SLOs: Prometheus rules from the config, the hubs' report.",
                      no_args_is_help=True)

OUTPUT_OPTION = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)


@slo_app.command("rules")
def rules(config: str = CONFIG_OPTION, output: Path | None = OUTPUT_OPTION) -> None:
    """Prometheus recording and alerting rules for the config's SLOs (promtool-checked)."""
    specs = [SloSpec(**o) for o in slo_objectives(read_config(config))]
    if not specs:
        raise fail(f"{config} declares no SLO (slos.objectives is empty)", 2)
    _emit(yaml.safe_dump(prometheus_rules(specs), sort_keys=False, width=120), output)


def _fetch(urls: list[str], window: str | None, timeout_s: float) -> dict[str, Any]:
    query = "" if window is None else "?" + urllib.parse.urlencode({"window": window})
    errors = []
    for url in urls:
        if not url.startswith("http"):
            errors.append(f"{url}: the report is served over HTTP only (ports.http_port)")
            continue
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/api/slo{query}",
                                        timeout=timeout_s) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
    raise fail("no hub answered: " + "; ".join(errors))


@slo_app.command("report")
def report(window: str | None = typer.Option(None, "--window", help="Report window, e.g. 7d, "
                                             "24h (default: each SLO's own window)."),
           fmt: Literal["md", "html", "json"] = typer.Option("md", "--format", "-f",
                                                             help="md, html or json."),
           hub: str | None = HUB_OPTION, config: str = CONFIG_OPTION,
           timeout_s: float = TIMEOUT_OPTION, output: Path | None = OUTPUT_OPTION) -> None:
    """The SLO report: SLI, attainment, error budget spent and left, incidents and MTTR, per
    SLO, host and agent.  Asks --hub, else MESH_HUB, else the config's hubs."""
    if window is not None:
        try:
            parse_duration(window)
        except ValueError as exc:
            raise fail(f"--window {window}: {exc}", 2) from None
    doc = _fetch(hub_urls(hub, config), window, timeout_s)
    if fmt == "json":
        if output is None:
            print_json(doc)
            return
        _emit(json.dumps(doc, indent=2, sort_keys=True), output)
        return
    _emit(render_markdown(doc) if fmt == "md" else render_html(doc), output)
