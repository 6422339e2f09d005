"""The dashboard's last hour: small inline-SVG charts and the incident timeline (no CDN).

Charts come from ``GET /api/series`` (the hub's ring buffers): request rate, p95 latency and
error ratio per host and for a chosen agent (the one with an anomaly, else the busiest, or the
one picked in the list), the agent's heartbeat gap, VRAM per GPU, and each SLO's error budget
left.  An anomalous signal draws its expected band.  The timeline draws, over the same hour,
every alert from its firing to its resolution (or now) and every other event but health
changes (process events, failovers, silences, migrations, evictions) from the hub's event log,
``GET /api/events?since=1h``.
"""

from __future__ import annotations

__all__ = ["CHARTS_CSS", "CHARTS_HTML", "CHARTS_JS"]

CHARTS_CSS = """
.charts { display:grid; grid-template-columns:repeat(auto-fill, minmax(300px, 1fr)); gap:10px; }
.chart { background:#0f1419; border:1px solid var(--line); border-radius:6px; padding:4px 6px; }
.chart h3 { margin:0; font-size:12px; font-weight:normal; color:var(--dim);
  display:flex; justify-content:space-between; }
.chart h3 b { color:var(--text); }
.chart svg { width:100%; height:64px; display:block; }
.chart polyline { fill:none; stroke:#58a6ff; stroke-width:1.5; }
.chart .band { fill:rgba(210,153,34,0.18); stroke:none; }
.chart.anomalous { border-color:var(--warning); }
.timeline svg { width:100%; height:auto; display:block; }
.timeline text { fill:var(--dim); font-size:10px; }
#agent-pick { background:#0f1419; color:var(--text); border:1px solid var(--line); }
"""

CHARTS_HTML = """
<section class="card timeline"><h2>Incident timeline <span class="dim">last hour</span></h2>
<div id="timeline" class="dim">none</div></section>
<section class="card"><h2>Last hour <span class="dim" id="series-step"></span></h2>
<div class="group">hosts</div><div class="charts" id="host-charts"></div>
<div class="group">agent <select id="agent-pick"></select></div>
<div class="charts" id="agent-charts"></div>
<div class="group">GPUs</div><div class="charts" id="gpu-charts"></div>
<div class="group">SLOs</div><div class="charts" id="slo-charts"></div></section>
"""

CHARTS_JS = """
const SIGNALS = {rate: ["requests/s", v => v.toFixed(1)],
  latency_p95_s: ["p95 latency", v => (v * 1000).toFixed(1) + " ms"],
  error_ratio: ["error ratio", v => (v * 100).toFixed(2) + " %"],
  heartbeat_gap_s: ["heartbeat gap", v => v.toFixed(2) + " s"],
  vram_used_bytes: ["VRAM used", v => gib(v)],
  budget_left: ["error budget left", v => (v * 100).toFixed(1) + " %"]};
let pickedAgent = new URLSearchParams(location.search).get("agent");
function chart(title, signal, points, t1, span, anomaly) {
  const [label, fmt] = SIGNALS[signal];
  const W = 300, H = 64, t0 = t1 - span;
  const pts = (points || []).filter(p => p[0] >= t0);
  const vals = pts.map(p => p[1]);
  let lo = Math.min(0, ...vals), hi = Math.max(...vals, 1e-9);
  if (anomaly) { lo = Math.min(lo, anomaly.low); hi = Math.max(hi, anomaly.high); }
  hi = hi + (hi - lo) * 0.1;
  const x = t => ((t - t0) / span * W).toFixed(1);
  const y = v => (H - (v - lo) / (hi - lo) * (H - 2) - 1).toFixed(1);
  const line = pts.map(p => x(p[0]) + "," + y(p[1])).join(" ");
  const band = anomaly ? `<rect class="band" x="0" width="${W}" y="${y(anomaly.high)}" ` +
    `height="${Math.max(1, y(anomaly.low) - y(anomaly.high))}"></rect>` : "";
  const last = vals.length ? fmt(vals[vals.length - 1]) : "no data";
  return `<div class="chart${anomaly ? " anomalous" : ""}" data-signal="${signal}" ` +
    `data-points="${pts.length}"><h3><span>${esc(title)} · ${label}</span><b>${last}</b></h3>` +
    `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">${band}` +
    `<polyline points="${line}"></polyline></svg></div>`;
}
function charts(doc) {
  const t1 = Date.now() / 1000;
  const first = Math.min(t1, ...Object.values(doc.hosts).flatMap(s =>
    Object.values(s).map(points => points.length ? points[0][0] : t1)));
  const span = Math.min(doc.history_s, Math.max(300, t1 - first));  // what is there, >= 5 min
  const flagged = (scope, subject, signal) => (doc.anomalies || []).find(a =>
    a.scope === scope && a.subject === subject && a.signal === signal);
  document.getElementById("series-step").textContent = `one point every ${doc.step_s} s`;
  document.getElementById("host-charts").innerHTML = Object.entries(doc.hosts).sort()
    .flatMap(([h, s]) => ["rate", "latency_p95_s", "error_ratio"].map(sig =>
      chart(h, sig, s[sig], t1, span, flagged("host", h, sig)))).join("");
  const a = doc.agent;
  document.getElementById("agent-charts").innerHTML = a ?
    ["rate", "latency_p95_s", "error_ratio", "heartbeat_gap_s"].map(sig =>
      chart(a, sig, doc.agent_series[sig], t1, span, flagged("agent", a, sig))).join("") :
    "<span class='dim'>no agent has reported yet</span>";
  document.getElementById("gpu-charts").innerHTML = Object.entries(doc.gpus).sort()
    .map(([g, s]) => chart("GPU " + g, "vram_used_bytes", s.vram_used_bytes, t1, span,
      flagged("gpu", g, "vram_used_bytes"))).join("") || "<span class='dim'>no GPU</span>";
  document.getElementById("slo-charts").innerHTML = Object.entries(doc.slos || {}).sort()
    .map(([n, s]) => chart(n, "budget_left", s.budget_left, t1, span, null)).join("") ||
    "<span class='dim'>no SLO in the config (slos:)</span>";
  const pick = document.getElementById("agent-pick");
  if (pick.options.length !== doc.agents.length) {
    pick.innerHTML = doc.agents.map(n => `<option>${esc(n)}</option>`).join("");
  }
  pick.value = a || "";
}
function timeline(events) {
  const t1 = Date.now() / 1000, t0 = t1 - 3600, W = 1000, ROW = 14;
  const x = t => Math.max(0, (t - t0) / 3600 * W);
  const open = {}, bars = [];
  for (const e of events) {
    const d = e.detail || {};
    if (e.kind === "alert.firing") {
      open[d.fingerprint] = {...d, start: e.ts, end: null};
      bars.push(open[d.fingerprint]);
    } else if (e.kind === "alert.resolved") {
      const bar = open[d.fingerprint] || {...d, start: t0};
      if (!open[d.fingerprint]) bars.push(bar);
      bar.end = e.ts; delete open[d.fingerprint];
    }
  }
  const rows = bars.map((a, i) => {
    const start = x(a.start), end = x(a.end || t1);
    const label = a.alertname + " " + Object.values(a.labels || {}).join(" ");
    const color = a.severity === "critical" ? "var(--critical)" : "var(--warning)";
    return `<g class="incident" data-alert="${esc(a.alertname)}"><title>${esc(label)}: ` +
      `${esc(a.description)}</title><rect x="${start.toFixed(1)}" y="${i * ROW + 2}" ` +
      `width="${Math.max(3, end - start).toFixed(1)}" height="${ROW - 4}" fill="${color}" ` +
      `opacity="${a.end ? 0.55 : 1}"></rect>` + (start > W / 2 ?
      `<text text-anchor="end" x="${(start - 4).toFixed(1)}" ` :
      `<text x="${(end + 4).toFixed(1)}" `) +
      `y="${i * ROW + ROW - 3}">${esc(label)}${a.end ? " (resolved)" : ""}</text></g>`;
  });
  const top = bars.length * ROW + 4;
  const marks = events.filter(e => !e.kind.startsWith("alert.") && e.kind !== "health");
  const ticks = marks.map(e =>
    `<g class="event" data-event="${esc(e.kind)}"><title>${esc(e.summary)}</title>` +
    `<line x1="${x(e.ts).toFixed(1)}" x2="${x(e.ts).toFixed(1)}" y1="${top}" ` +
    `y2="${top + 12}" stroke="var(--affected)" stroke-width="2"></line></g>`);
  const axis = [60, 45, 30, 15, 0].map(m => `<text x="${(x(t1 - m * 60) - (m ? 0 : 30))}" ` +
    `y="${top + 26}">${m ? "-" + m + " min" : "now"}</text>`);
  if (!rows.length && !ticks.length) return "no alerts or events in the last hour";
  return `<svg viewBox="0 0 ${W} ${top + 30}">${rows.join("")}${ticks.join("")}` +
    `${axis.join("")}</svg>`;
}
async function refreshCharts() {
  try {
    const q = pickedAgent ? "?agent=" + encodeURIComponent(pickedAgent) : "";
    const [series, log] = await Promise.all([
      fetch("/api/series" + q, {cache: "no-store"}).then(r => r.json()),
      fetch("/api/events?since=1h&limit=1000", {cache: "no-store"}).then(r => r.json())]);
    charts(series);
    document.getElementById("timeline").innerHTML = timeline(log.events || []);
    document.body.dataset.charts = "1";
  } catch (e) {
    document.getElementById("err").textContent = "charts: " + e;
  }
}
document.getElementById("agent-pick").addEventListener("change", e => {
  pickedAgent = e.target.value; refreshCharts();
});
"""
