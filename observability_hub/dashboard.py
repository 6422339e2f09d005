"""The dashboard: one self-contained page (HTML, CSS, JS; no CDN) that polls /api/health, and
for its charts and timeline /api/series and /api/alerts (``dashboard_charts``)."""

from __future__ import annotations

from observability_hub.dashboard_charts import CHARTS_CSS, CHARTS_HTML, CHARTS_JS

__all__ = ["DASHBOARD_HTML", "REFRESH_MS"]

REFRESH_MS = 2000

DASHBOARD_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>agentmesh hub</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root { --bg:#0f1419; --card:#182029; --line:#2a3541; --text:#e6edf3; --dim:#8b98a5;
  --passing:#2ea043; --warning:#d29922; --critical:#f85149; --affected:#a371f7;
  --unknown:#6e7681; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.4 "DejaVu Sans", system-ui, sans-serif; background:var(--bg);
  color:var(--text); }
header { display:flex; align-items:center; gap:16px; padding:12px 20px;
  border-bottom:1px solid var(--line); }
h1 { font-size:18px; margin:0; }
.pill { padding:3px 10px; border-radius:12px; font-weight:bold; color:#0b0f14;
  text-transform:uppercase; font-size:12px; }
.passing { background:var(--passing); } .warning { background:var(--warning); }
.critical { background:var(--critical); } .affected { background:var(--affected); }
.unknown { background:var(--unknown); }
.dim { color:var(--dim); }
main { padding:14px 20px; display:grid; gap:14px; }
.hosts { display:grid; grid-template-columns:repeat(auto-fit, minmax(420px, 1fr)); gap:14px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px; }
.card h2 { font-size:16px; margin:0 0 8px; display:flex; gap:10px; align-items:center; }
.counts span { margin-right:12px; }
.dot { display:inline-block; width:9px; height:9px; border-radius:50%; margin-right:4px; }
.tiles { display:flex; flex-wrap:wrap; gap:6px; margin-top:8px; }
.tile { border-radius:6px; padding:5px 8px; min-width:120px; max-width:260px;
  background:#0f1419; border-left:5px solid var(--unknown); font-size:12px; }
.tile b { display:block; font-size:13px; overflow:hidden; text-overflow:ellipsis;
  white-space:nowrap; }
.tile.passing { border-color:var(--passing); } .tile.warning { border-color:var(--warning); }
.tile.critical { border-color:var(--critical); background:#2d1315; }
.tile.affected { border-color:var(--affected); }
.tile.unknown { border-color:var(--unknown); }
.tile { background:#0f1419; }
.group { margin-top:8px; font-size:12px; color:var(--dim); text-transform:uppercase; }
.bar { height:14px; background:#0f1419; border-radius:4px; overflow:hidden;
  border:1px solid var(--line); }
.bar div { height:100%; background:var(--passing); }
.gpu { margin:6px 0; font-size:12px; }
table { width:100%; border-collapse:collapse; font-size:12px; }
td, th { text-align:left; padding:3px 6px; border-bottom:1px solid var(--line); }
.alert-critical { color:var(--critical); font-weight:bold; }
.alert-warning { color:var(--warning); font-weight:bold; }
#err { color:var(--critical); }
%(charts_css)s</style></head>
<body>
<header><h1>agentmesh</h1><span id="mesh" class="pill unknown">loading</span>
<span id="counts" class="counts"></span><span class="dim" id="hub"></span>
<span class="dim" id="updated"></span><span id="err"></span></header>
<main>
<section class="card"><h2>Active alerts</h2><div id="alerts" class="dim">none</div></section>
%(charts_html)s<section class="hosts" id="hosts"></section>
<section class="card"><h2>Recent events</h2><div id="events" class="dim">none</div></section>
<section class="card"><h2>Refused peers</h2><div id="refused" class="dim">none</div></section>
</main>
<script>
"use strict";
const ORDER = ["critical", "affected", "warning", "unknown", "passing"];
const esc = s => String(s ?? "").replace(/[&<>"']/g,
  c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const gib = b => (b / 1073741824).toFixed(1) + " GiB";
%(charts_js)sfunction shown(a) { return a.affected ? "affected" : a.state; }
function counts(c) {
  return ORDER.filter(s => c[s]).map(s =>
    `<span><i class="dot ${s}"></i>${c[s]} ${s}</span>`).join("");
}
function tile(a) {
  const s = shown(a);
  let why = a.affected ? "root cause: " + a.root_cause.join(", ") : (a.reasons || []).join("; ");
  const age = a.heartbeat_age_s == null ? "never" : a.heartbeat_age_s.toFixed(1) + " s";
  return `<div class="tile ${s}" title="${esc(why)}"><b>${esc(a.name)}</b>` +
    `<span class="dim">${s} · hb ${age}${a.restarts ? " · " + a.restarts + " restarts" : ""}` +
    `</span>${why ? "<div>" + esc(why) + "</div>" : ""}</div>`;
}
function gpus(list) {
  return list.map(g => {
    const pct = g.total_bytes ? 100 * g.used_bytes / g.total_bytes : 0;
    const color = pct > 95 ? "var(--critical)" : pct > 80 ? "var(--warning)" : "var(--passing)";
    return `<div class="gpu">GPU ${esc(g.gpu)} ${gib(g.used_bytes)} / ${gib(g.total_bytes)}` +
      ` (${pct.toFixed(0)}%)<div class="bar"><div style="width:${pct}%;background:${color}">` +
      `</div></div></div>`;
  }).join("");
}
function host(h, agents) {
  const mine = agents.filter(a => a.host === h.name);
  const groups = ORDER.map(s => {
    const list = mine.filter(a => shown(a) === s);
    return list.length ? `<div class="group">${s} (${list.length})</div>` +
      `<div class="tiles">${list.map(tile).join("")}</div>` : "";
  }).join("");
  return `<div class="card" data-host="${esc(h.name)}"><h2>${esc(h.name)}` +
    `<span class="pill ${h.status}">${h.status}</span></h2>` +
    `<div class="counts">${counts(h.counts)}</div>${gpus(h.gpus || [])}${groups}</div>`;
}
function alerts(list) {
  if (!list.length) return "none";
  return "<table><tr><th>alert</th><th>state</th><th>labels</th><th>description</th></tr>" +
    list.map(a => `<tr><td class="alert-${a.severity}">${esc(a.alertname)}</td>` +
      `<td>${a.state}${a.silenced ? " (silenced)" : ""}${a.acked_by ? " (acked)" : ""}</td>` +
      `<td>${esc(Object.entries(a.labels).map(([k, v]) => k + "=" + v).join(" "))}</td>` +
      `<td>${esc(a.description)}</td></tr>`).join("") + "</table>";
}
function events(list) {
  if (!list.length) return "none";
  return "<table><tr><th>time</th><th>host</th><th>agent</th><th>event</th><th>code</th></tr>" +
    list.slice(0, 15).map(e => `<tr><td>${new Date(e.ts * 1000).toLocaleTimeString()}</td>` +
      `<td>${esc(e.host)}</td><td>${esc(e.agent)}</td><td>${esc(e.event)}</td>` +
      `<td>${esc(e.code)}</td></tr>`).join("") + "</table>";
}
function refused(sec) {
  if (!sec || !sec.rejected_total) return "none";
  return `${sec.rejected_total} refused (key not on the allow-list)` +
    "<table><tr><th>time</th><th>agent</th><th>address</th><th>identity</th><th>key</th></tr>" +
    (sec.recent || []).slice(0, 10).map(r => `<tr><td>${new Date(r.ts * 1000)
      .toLocaleTimeString()}</td><td>${esc(r.agent)}</td><td>${esc(r.address)}</td>` +
      `<td>${esc(r.identity || "unknown")}</td><td>${esc(String(r.key || "none").slice(0, 12))}` +
      "</td></tr>").join("") + "</table>";
}
function render(doc) {
  const mesh = document.getElementById("mesh");
  mesh.className = "pill " + doc.status; mesh.textContent = "mesh " + doc.status;
  document.getElementById("counts").innerHTML = counts(doc.counts);
  const hub = doc.hub || {};
  document.getElementById("hub").textContent =
    `hub ${hub.name} · ${hub.role} · ${hub.state}` + (hub.peer ? ` · peer ${hub.peer_state}` : "");
  document.getElementById("updated").textContent =
    "updated " + new Date(doc.generated_at * 1000).toLocaleTimeString();
  document.getElementById("hosts").innerHTML = doc.hosts.map(h => host(h, doc.agents)).join("");
  document.getElementById("alerts").innerHTML = alerts(doc.alerts || []);
  document.getElementById("events").innerHTML = events(doc.events || []);
  document.getElementById("refused").innerHTML = refused(doc.security);
  document.body.dataset.ready = "1";
  refreshCharts();
}
async function refresh() {
  try {
    const resp = await fetch("/api/health", {cache: "no-store"});
    render(await resp.json());
    document.getElementById("err").textContent = "";
  } catch (e) {
    document.getElementById("err").textContent = "hub unreachable: " + e;
  }
}
refresh();
setInterval(refresh, %(refresh_ms)d);
</script></body></html>
""".replace("%(refresh_ms)d", str(REFRESH_MS)).replace("%(charts_css)s", CHARTS_CSS) \
    .replace("%(charts_html)s", CHARTS_HTML).replace("%(charts_js)s", CHARTS_JS)
