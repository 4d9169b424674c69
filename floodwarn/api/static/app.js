// floodwarn forecaster dashboard: vanilla JS + inline SVG, no external assets.
// Every piece of data goes into the page through textContent / setAttribute, never as an HTML string.
"use strict";

const LEVELS = [
  { key: null, ko: "정상", en: "normal" },
  { key: "attwl", ko: "관심", en: "Watch" },
  { key: "wrnwl", ko: "주의보", en: "Advisory" },
  { key: "almwl", ko: "경보", en: "Warning" },
  { key: "srswl", ko: "심각", en: "Serious" },
];
const COLORS = ["#9aa5b1", "#2b8cbe", "#e6b800", "#f07800", "#d7191c"];
const SVGNS = "http://www.w3.org/2000/svg";
const REFRESH_MS = 60000;
const state = { stations: [], selected: null };

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function chip(level) {
  const lv = Math.max(0, Math.min(4, Number(level) || 0));
  return el("span", { class: "chip lv" + lv, title: LEVELS[lv].en }, LEVELS[lv].ko);
}

function kst(iso) {
  if (!iso) return "–";
  const d = new Date(Date.parse(iso) + 9 * 3600 * 1000);
  return d.toISOString().slice(0, 16).replace("T", " ");
}

async function getJSON(url) {
  const resp = await fetch(url, { headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error(url + ": HTTP " + resp.status);
  return resp.json();
}

// -- cycle status -----------------------------------------------------------------------
async function loadCycle() {
  const box = document.getElementById("cycle");
  try {
    const resp = await fetch("/healthz");
    const h = await resp.json();
    const cycles = await getJSON("/api/cycles?limit=1");
    const last = cycles[0];
    let text = "last cycle: " + (h.last_cycle_at ? kst(h.last_cycle_at) + " KST" : "none");
    if (last) text += " · " + last.status;
    if (h.status !== "ok") text += " · STALE (" + h.status + ")";
    box.textContent = text;
    box.className = "cycle " + (h.status !== "ok" ? "stale" : last && last.status === "degraded" ? "degraded" : "ok");
  } catch (err) {
    box.textContent = "cycle status unavailable";
    box.className = "cycle stale";
  }
}

// -- stations -----------------------------------------------------------------------------
function levelOf(s) {
  return Math.max(Number(s.level) || 0, Number(s.observed_level) || 0);
}

function renderStations() {
  const tbody = document.querySelector("#stations tbody");
  const q = document.getElementById("filter").value.trim().toLowerCase();
  const rows = state.stations
    .filter((s) => !q || s.code.includes(q) || String(s.name).toLowerCase().includes(q))
    .sort((a, b) => levelOf(b) - levelOf(a) || String(a.name).localeCompare(String(b.name), "ko"));
  tbody.replaceChildren();
  for (const s of rows) {
    const tr = el("tr", { "data-code": s.code });
    if (state.selected === s.code) tr.classList.add("selected");
    const lv = el("td");
    lv.appendChild(chip(levelOf(s)));
    tr.appendChild(lv);
    tr.appendChild(el("td", { class: "name" }, s.name));
    tr.appendChild(el("td", {}, s.code));
    tr.appendChild(el("td", { class: "num" }, s.latest && s.latest.stage !== null ? s.latest.stage.toFixed(2) : "–"));
    tr.addEventListener("click", () => selectStation(s.code));
    tbody.appendChild(tr);
  }
  document.getElementById("station-count").textContent = "(" + rows.length + ")";
}

async function loadStations() {
  try {
    state.stations = await getJSON("/api/stations");
    renderStations();
  } catch (err) {
    document.getElementById("station-count").textContent = "(unavailable)";
  }
}

// -- alerts ---------------------------------------------------------------------------------
async function loadAlerts() {
  const list = document.getElementById("alerts");
  let alerts = [];
  try {
    alerts = await getJSON("/api/alerts");
  } catch (err) {
    list.replaceChildren(el("li", {}, "alerts unavailable"));
    return;
  }
  list.replaceChildren();
  for (const a of alerts) {
    const li = el("li", { "data-id": a.id });
    li.appendChild(chip(a.level));
    li.appendChild(document.createTextNode(" " + (a.name || a.target) + " · " + a.msg_type + " · " + kst(a.sent) + " KST"));
    const why = el("div", { class: "why" }, a.rule || a.reason || "");
    li.appendChild(why);
    li.addEventListener("click", () => selectStation(a.station));
    list.appendChild(li);
  }
  if (!alerts.length) list.appendChild(el("li", { class: "why" }, "no active alerts"));
  document.getElementById("alert-count").textContent = "(" + alerts.length + ")";
}

// -- hydrograph -------------------------------------------------------------------------------
function niceStep(raw, steps) {
  for (const s of steps) if (s >= raw) return s;
  return steps[steps.length - 1] * Math.ceil(raw / steps[steps.length - 1]);
}

function drawChart(data) {
  const W = 900, H = 380, m = { l: 56, r: 70, t: 12, b: 44 };
  const root = svg("svg", { id: "hydrograph", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": "hydrograph of " + data.name });
  const obs = data.observed.filter((p) => p.stage !== null);
  const fc = data.forecast ? data.forecast.points : [];
  const times = [Date.parse(data.from), Date.parse(data.to)];
  fc.forEach((p) => times.push(Date.parse(p.time)));
  const x0 = Math.min(...times), x1 = Math.max(...times);
  const ys = [];
  obs.forEach((p) => ys.push(p.stage));
  fc.forEach((p) => [p.q05, p.q50, p.q95].forEach((v) => v !== null && ys.push(v)));
  const th = Object.entries(data.thresholds || {});
  th.forEach(([, v]) => ys.push(v));
  let y0 = ys.length ? Math.min(...ys) : 0, y1 = ys.length ? Math.max(...ys) : 1;
  if (y1 - y0 < 0.5) { y0 -= 0.25; y1 += 0.25; }
  const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad;
  const X = (t) => m.l + ((t - x0) / Math.max(1, x1 - x0)) * (W - m.l - m.r);
  const Y = (v) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);

  // grid and axes: round stage steps, time ticks on whole KST hours
  const yStep = niceStep((y1 - y0) / 6, [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10]);
  for (let v = Math.ceil(y0 / yStep) * yStep; v <= y1; v += yStep) {
    root.appendChild(svg("line", { class: "grid", x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v) }));
    root.appendChild(svg("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, v.toFixed(yStep < 1 ? 2 : 1)));
  }
  const HOUR = 3600 * 1000, KST_MS = 9 * HOUR;
  const tStep = niceStep((x1 - x0) / 7, [1, 2, 3, 6, 12, 24, 48, 96].map((h) => h * HOUR));
  for (let t = Math.ceil((x0 + KST_MS) / tStep) * tStep - KST_MS; t <= x1; t += tStep) {
    root.appendChild(svg("line", { class: "grid", x1: X(t), x2: X(t), y1: m.t, y2: H - m.b }));
    root.appendChild(svg("text", { x: X(t), y: H - m.b + 16, "text-anchor": "middle" }, kst(new Date(t).toISOString()).slice(5)));
  }
  root.appendChild(svg("line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }));
  root.appendChild(svg("line", { class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
  root.appendChild(svg("text", { x: 14, y: m.t + (H - m.t - m.b) / 2, transform: `rotate(-90 14 ${m.t + (H - m.t - m.b) / 2})`, "text-anchor": "middle" }, "stage (m)"));
  root.appendChild(svg("text", { x: (W - m.r + m.l) / 2, y: H - 6, "text-anchor": "middle" }, "time (KST)"));

  // thresholds
  th.forEach(([key, v]) => {
    const lv = LEVELS.findIndex((l) => l.key === key);
    root.appendChild(svg("line", { class: "threshold", "data-level": key, x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v),
      stroke: COLORS[lv] || "#999", "stroke-width": 1.5, "stroke-dasharray": "6 4" }));
    root.appendChild(svg("text", { x: W - m.r + 4, y: Y(v) + 4, fill: COLORS[lv] || "#999" }, (LEVELS[lv] ? LEVELS[lv].ko : key) + " " + v.toFixed(2)));
  });

  // forecast fan (q05..q95) and median
  const band = fc.filter((p) => p.q05 !== null && p.q95 !== null);
  if (band.length) {
    const pts = band.map((p) => `${X(Date.parse(p.time))},${Y(p.q95)}`)
      .concat(band.slice().reverse().map((p) => `${X(Date.parse(p.time))},${Y(p.q05)}`));
    root.appendChild(svg("polygon", { class: "fan", points: pts.join(" "), fill: "#7fb3e0", "fill-opacity": 0.35, stroke: "none" }));
  }
  const med = fc.filter((p) => p.q50 !== null);
  if (med.length) {
    root.appendChild(svg("path", { class: "median", d: "M" + med.map((p) => `${X(Date.parse(p.time))},${Y(p.q50)}`).join("L"),
      fill: "none", stroke: "#1f5f99", "stroke-width": 2, "stroke-dasharray": "5 3" }));
    const tIssued = Date.parse(data.forecast.issued_at);
    root.appendChild(svg("line", { class: "issued", x1: X(tIssued), x2: X(tIssued), y1: m.t, y2: H - m.b, stroke: "#555", "stroke-dasharray": "2 3" }));
  }

  // observed stage (a gap of more than 30 minutes breaks the line)
  if (obs.length) {
    let d = "", prev = null;
    for (const p of obs) {
      const t = Date.parse(p.time);
      d += (prev === null || t - prev > 30 * 60 * 1000 ? "M" : "L") + X(t).toFixed(1) + "," + Y(p.stage).toFixed(1);
      prev = t;
    }
    root.appendChild(svg("path", { class: "observed", d, fill: "none", stroke: "#0b2545", "stroke-width": 2 }));
  }
  return root;
}

async function selectStation(code) {
  if (!code) return;
  state.selected = code;
  renderStations();
  const title = document.getElementById("chart-title");
  const meta = document.getElementById("chart-meta");
  const box = document.getElementById("chart");
  const s = state.stations.find((x) => x.code === code);
  title.textContent = (s ? s.name : code) + " (" + code + ")";
  try {
    const data = await getJSON("/api/stations/" + encodeURIComponent(code) + "/series");
    let text = data.observed.length + " observations";
    if (data.forecast) text += " · forecast issued " + kst(data.forecast.issued_at) + " KST (" + data.forecast.method + ")";
    else text += " · no forecast";
    meta.textContent = text;
    box.replaceChildren(drawChart(data));
  } catch (err) {
    meta.textContent = "series unavailable: " + err.message;
    box.replaceChildren();
  }
}

function legend() {
  const box = document.getElementById("legend");
  LEVELS.forEach((_, i) => box.appendChild(chip(i)));
}

async function refresh() {
  await Promise.all([loadCycle(), loadStations(), loadAlerts()]);
  document.body.setAttribute("data-loaded", "1");
}

document.addEventListener("DOMContentLoaded", () => {
  legend();
  document.getElementById("filter").addEventListener("input", renderStations);
  refresh();
  setInterval(refresh, REFRESH_MS);
});
