"""The SLO report as Markdown or HTML (``mesh slo report --format``, the hubs' report files);
JSON is the report document itself (``slo_report.build_report``)."""

from __future__ import annotations

import html
import time
from typing import Any

__all__ = ["render_html", "render_markdown", "report_rows"]


def _pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _row(scope: str, name: str, fig: dict[str, Any], objective: float) -> list[str]:
    attained = {None: "-", True: "yes", False: "NO"}[fig["attained"]]
    return [scope, name, _pct(fig["sli"]), _pct(objective), attained, _pct(fig["budget_spent"], 1),
            _pct(fig["budget_left"], 1), f"{fig['total']:.0f}"]


HEADER = ["scope", "name", "SLI", "objective", "attained", "budget spent", "budget left",
          "total"]  # requests, or seconds observed for a heartbeat SLI


def report_rows(slo: dict[str, Any]) -> list[list[str]]:
    """The SLO itself, then its hosts, then its agents."""
    rows = [_row("slo", slo["slo"], slo, slo["objective"])]
    rows += [_row("host", h["host"], h, slo["objective"]) for h in slo["hosts"]]
    rows += [_row("agent", a["agent"], a, slo["objective"]) for a in slo["agents"]]
    return rows


def _incident_rows(slo: dict[str, Any]) -> list[list[str]]:
    return [[i["agent"], _when(i["start"]), _dur(i["duration_s"]) + (" (open)" if i["open"]
                                                                     else ""),
             f"{i['bad']:g} of {i['total']:g}"] for i in slo["incidents"]]


def _title(slo: dict[str, Any]) -> str:
    what = slo["sli_kind"] + (f" under {slo['threshold_s']:g} s" if slo["threshold_s"] else "")
    return (f"{slo['slo']}: {what}, {_pct(slo['objective'])} from {_when(slo['from'])} "
            f"to {_when(slo['to'])}")


def render_markdown(report: dict[str, Any]) -> str:
    out = [f"# SLO report ({_when(report['generated_at'])})", ""]
    for slo in report["slos"]:
        out += [f"## {_title(slo)}", "", "| " + " | ".join(HEADER) + " |",
                "|" + "---|" * len(HEADER)]
        out += ["| " + " | ".join(r) + " |" for r in report_rows(slo)]
        out += ["", f"Incidents: {len(slo['incidents'])}, MTTR {_dur(slo['mttr_s'])}", ""]
        if slo["incidents"]:
            out += ["| agent | start | duration | bad events |", "|---|---|---|---|"]
            out += ["| " + " | ".join(r) + " |" for r in _incident_rows(slo)] + [""]
        process = slo.get("process_incidents")
        if process and process["incidents"]:
            out += [f"Process outages (event log): {len(process['incidents'])}, MTTR "
                    f"{_dur(process['mttr_s'])}", "", "| agent | start | duration | cause |",
                    "|---|---|---|---|"]
            out += ["| " + " | ".join(r) + " |" for r in _process_rows(process)] + [""]
    return "\n".join(out)


def _process_rows(process: dict[str, Any]) -> list[list[str]]:
    return [[i["agent"], _when(i["start"]), _dur(i["duration_s"]) + (" (open)" if i["open"]
                                                                     else ""), i["cause"]]
            for i in process["incidents"]]


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any]) -> str:
    parts = [f"<h1>SLO report ({html.escape(_when(report['generated_at']))})</h1>"]
    for slo in report["slos"]:
        parts += [f"<h2>{html.escape(_title(slo))}</h2>", _table(HEADER, report_rows(slo)),
                  f"<p>Incidents: {len(slo['incidents'])}, MTTR {_dur(slo['mttr_s'])}</p>"]
        if slo["incidents"]:
            parts.append(_table(["agent", "start", "duration", "bad events"],
                                _incident_rows(slo)))
        process = slo.get("process_incidents")
        if process and process["incidents"]:
            parts += [f"<p>Process outages (event log): {len(process['incidents'])}, MTTR "
                      f"{_dur(process['mttr_s'])}</p>",
                      _table(["agent", "start", "duration", "cause"], _process_rows(process))]
    style = ("body{font-family:sans-serif}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>SLO report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
