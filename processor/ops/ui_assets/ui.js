// The carrier pages: read the worker's JSON API and fill the page. Every value goes in
// through textContent, never as HTML: carrier ids, names and reasons are user data.
// Each figure carries data-field="<contract field>" and its raw value in data-value.
"use strict";

const TOKEN_KEY = "carrierwatch-token";
const REFRESH_MS = 5000;
const PAGE_SIZE = 100;
const SVG = "http://www.w3.org/2000/svg";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(path) {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const resp = await fetch(path, { headers });
  if (resp.status === 401) { showLogin(); throw new Error("unauthorized"); }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return resp.json();
}

function showLogin() {
  $("#login").hidden = false;
  $("#content").hidden = true;
}

function fmt(value, field) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    if (/asr|seer|ratio/.test(field || "")) return (100 * value).toFixed(1) + " %";
    if (Number.isInteger(value)) return value.toLocaleString("en");
    return value.toFixed(2);
  }
  if (Array.isArray(value)) return value.join(", ") || "none";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

// Fill every [data-field] under root from record (only the fields the record has).
function fill(root, record) {
  for (const node of $$("[data-field]", root)) {
    const field = node.dataset.field;
    if (!(field in record)) continue;
    node.dataset.value = JSON.stringify(record[field]);
    if (node.tagName === "UL") {
      node.replaceChildren(...(record[field] || []).map(v => cell("li", v)));
    } else {
      node.textContent = fmt(record[field], field);
    }
  }
}

function cell(tag, value, field, cls) {
  const node = document.createElement(tag);
  node.textContent = fmt(value, field);
  if (field) { node.dataset.field = field; node.dataset.value = JSON.stringify(value ?? null); }
  if (cls) node.className = cls;
  return node;
}

function stamp() {
  $("#updated").textContent = "updated " + new Date().toLocaleTimeString("en-GB");
  $("#error").textContent = "";
}

function fail(err) {
  if (err.message !== "unauthorized") $("#error").textContent = "Could not refresh: " + err.message;
}

// A bar chart (SVG); bars: [{label, value, cls}], line: optional [0..1] values drawn over it.
function chart(box, bars, line) {
  const w = 640, h = 160, pad = 20;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h + pad}`);
  svg.setAttribute("width", "100%");
  const max = Math.max(1, ...bars.map(b => b.value));
  const bw = bars.length ? (w - pad) / bars.length : 0;
  bars.forEach((b, i) => {
    const bh = (h - pad) * b.value / max;
    const r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", pad + i * bw + 1); r.setAttribute("y", h - bh);
    r.setAttribute("width", Math.max(1, bw - 2)); r.setAttribute("height", bh);
    r.setAttribute("class", b.cls || "bar");
    const t = document.createElementNS(SVG, "title");
    t.textContent = `${b.label}: ${b.value}`;
    r.appendChild(t);
    svg.appendChild(r);
    if (bars.length <= 30) {
      const l = document.createElementNS(SVG, "text");
      l.setAttribute("x", pad + i * bw + bw / 2); l.setAttribute("y", h + 14);
      l.setAttribute("text-anchor", "middle");
      l.textContent = b.label;
      svg.appendChild(l);
    }
  });
  if (line && line.length) {
    const pts = line.map((v, i) => `${pad + i * bw + bw / 2},${h - (h - pad) * (v ?? 0)}`);
    const p = document.createElementNS(SVG, "polyline");
    p.setAttribute("points", pts.join(" "));
    p.setAttribute("class", "line");
    svg.appendChild(p);
  }
  box.replaceChildren(svg);
}

// ---- the carriers list ------------------------------------------------------------------
const list = { rows: [], sort: "alerting", desc: true, page: 0 };

function alertingFirst(a, b) {
  return (b.alerts_firing.length - a.alerts_firing.length)
    || (b.consecutive_failures - a.consecutive_failures)
    || a.carrier_id.localeCompare(b.carrier_id);
}

function renderList() {
  const q = $("#filter").value.trim().toLowerCase();
  let rows = list.rows.filter(r => !q || r.carrier_id.toLowerCase().includes(q)
                                   || (r.name || "").toLowerCase().includes(q));
  if (list.sort === "alerting") {
    rows.sort(alertingFirst);
  } else {
    const k = list.sort, sign = list.desc ? -1 : 1;
    rows.sort((a, b) => {
      const x = Array.isArray(a[k]) ? a[k].length : a[k], y = Array.isArray(b[k]) ? b[k].length : b[k];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sign;
    });
  }
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  list.page = Math.min(list.page, pages - 1);
  $("#page").textContent = `page ${list.page + 1} of ${pages}`;
  const count = $("#count");
  count.textContent = `${rows.length.toLocaleString("en")} of ${list.rows.length.toLocaleString("en")} carriers`;
  count.dataset.value = String(list.rows.length);
  const body = $("#carriers tbody");
  body.replaceChildren(...rows.slice(list.page * PAGE_SIZE, (list.page + 1) * PAGE_SIZE).map(r => {
    const tr = document.createElement("tr");
    tr.dataset.carrier = r.carrier_id;
    if (r.alerts_firing.length) tr.className = "alerting";
    const link = document.createElement("a");
    link.href = "/ui/carriers/" + encodeURIComponent(r.carrier_id);
    link.textContent = r.carrier_id;
    link.dataset.field = "carrier_id";
    const first = document.createElement("td");
    first.appendChild(link);
    tr.append(first, cell("td", r.name, "name"),
              cell("td", r.consecutive_failures, "consecutive_failures", "num"),
              cell("td", r.verdict, "verdict", "verdict " + r.verdict),
              cell("td", r.live_attempts, "live_attempts", "num"),
              cell("td", r.live_asr, "live_asr", "num"),
              cell("td", r.live_acd_s, "live_acd_s", "num"),
              cell("td", r.alerts_firing, "alerts_firing"));
    return tr;
  }));
}

async function refreshList() {
  try {
    const doc = await api("/carriers?scope=group");
    list.rows = doc.carriers;
    $("#workers").textContent = `from ${doc.workers} worker${doc.workers === 1 ? "" : "s"}`
      + (doc.unreachable.length ? ` (not answering: ${doc.unreachable.join(", ")})` : "");
    $("#content").hidden = false;
    renderList();
    stamp();
  } catch (err) { fail(err); }
}

function initList() {
  $("#filter").addEventListener("input", () => { list.page = 0; renderList(); });
  $("#prev").addEventListener("click", () => { list.page = Math.max(0, list.page - 1); renderList(); });
  $("#next").addEventListener("click", () => { list.page += 1; renderList(); });
  for (const b of $$("[data-sort]")) {
    b.addEventListener("click", () => {
      list.desc = list.sort === b.dataset.sort ? !list.desc : false;
      list.sort = b.dataset.sort;
      renderList();
    });
  }
  return refreshList;
}

// ---- one carrier ------------------------------------------------------------------------
const page = { id: "", window: "live", calls: [] };

const VERDICTS = {
  "ok": n => `Returns 404 for numbers it cannot reach (${n} final responses): its answers can be trusted.`,
  "no-404": n => `Never returned a 404 in ${n} final responses: its answers can't be trusted (it may answer or mislabel calls it could not complete).`,
  "insufficient-data": n => `Only ${n} final responses so far: too few to judge.`,
};

function renderStatus(doc) {
  const cf = doc.consecutive_failures, cc = doc.code_consistency;
  fill($(".title"), { name: doc.name, carrier_id: doc.carrier_id,
                      alerts_firing: doc.alerts_firing });
  $(".title [data-field=alerts_firing]").replaceChildren(...doc.alerts_firing.map(kind => {
    const since = (doc.alerts_since || {})[kind];
    const li = cell("li", since ? `${kind} since ${since}` : kind);
    li.dataset.alert = kind;
    if (since) li.dataset.since = since;
    return li;
  }));
  $(".title [data-field=name]").hidden = doc.name === null;  // no registry name: the id alone
  $("#alerting").textContent = cf.alerting ? "dead route"
    : (doc.alerts_firing.length ? "alerting" : "no alert");
  $("#alerting").className = "badge " + (cf.alerting || doc.alerts_firing.length ? "bad" : "good");
  fill($("#consecutive"), cf);
  fill($("#consistency"), cc);
  $("#verdict-text").textContent = (VERDICTS[cc.verdict] || (() => ""))(cc.total_final);
  $("#consistency .verdict").className = "verdict " + cc.verdict;
  const codes = Object.entries(cc.codes).map(([code, n]) => ({
    label: code, value: n, cls: code === "200" ? "bar ok" : code === "404" ? "bar notfound" : "bar" }));
  chart($("#codes-chart"), codes);
  const none = document.createElement("tr");
  const noneCell = cell("td", "none in the registry");
  noneCell.colSpan = 4;
  none.append(noneCell);
  $("#contacts tbody").replaceChildren(...(doc.contacts.length ? doc.contacts.map(c => {
    const tr = document.createElement("tr");
    tr.append(cell("td", c.role), cell("td", c.name), cell("td", c.email), cell("td", c.phone));
    return tr;
  }) : [none]));
  page.rates = doc.rates;
  renderRates();
}

function renderRates() {
  const q = $("#rate-search").value.replace(/\D/g, "");
  const rows = (page.rates || []).filter(r => !q || q.startsWith(r.prefix) || r.prefix.startsWith(q));
  $("#rates tbody").replaceChildren(...rows.map(r => {
    const tr = document.createElement("tr");
    tr.append(cell("td", r.prefix, "prefix"), cell("td", r.per_minute, "per_minute", "num"),
              cell("td", r.currency, "currency"), cell("td", r.increment_s, "increment_s", "num"),
              cell("td", r.minimum_s, "minimum_s", "num"));
    return tr;
  }));
}

function renderSummaries(doc) {
  const rows = doc.summaries.slice().reverse();  // newest first
  $("#summaries tbody").replaceChildren(...rows.map(s => {
    const tr = document.createElement("tr");
    tr.dataset.window = s.window;
    tr.append(cell("td", s.start, "start"), cell("td", s.attempts, "attempts", "num"),
              cell("td", s.answered, "answered", "num"), cell("td", s.asr, "asr", "num"),
              cell("td", s.seer, "seer", "num"), cell("td", s.acd_s, "acd_s", "num"),
              cell("td", s.pdd_ms_avg, "pdd_ms_avg", "num"),
              cell("td", s.short_calls, "short_calls", "num"),
              cell("td", s.cost === null ? null : `${s.cost.toFixed(4)} ${s.currency}`, "cost", "num"));
    return tr;
  }));
}

function renderHours(doc) {
  const hours = doc.summaries.slice(-24);
  chart($("#hours-chart"), hours.map(s => ({ label: s.start.slice(11, 13), value: s.attempts })),
        hours.map(s => s.asr));
}

function renderCalls() {
  const q = $("#code-filter").value.trim();
  const rows = page.calls.filter(c => !q || String(c.code).startsWith(q));
  $("#calls tbody").replaceChildren(...rows.map(c => {
    const tr = document.createElement("tr");
    tr.append(cell("td", c.ts, "ts"), cell("td", c.code, "code", "num"),
              cell("td", c.reason, "reason"), cell("td", c.duration_ms, "duration_ms", "num"),
              cell("td", c.pdd_ms, "pdd_ms", "num"), cell("td", c.destination, "destination"),
              cell("td", c.customer_id, "customer_id"), cell("td", c.call_id, "call_id"));
    return tr;
  }));
}

async function downloadCsv() {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const resp = await fetch(`/carriers/${encodeURIComponent(page.id)}/latest-calls?format=csv`, { headers });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await resp.blob());
  a.download = `${page.id}-latest-calls.csv`;
  a.click();
  URL.revokeObjectURL(a.href);
}

async function refreshCarrier() {
  const base = "/carriers/" + encodeURIComponent(page.id);
  try {
    const [status, summary, hours, calls] = await Promise.all([
      api(base), api(`${base}/summary?window=${page.window}`),
      api(`${base}/summary?window=hour`), api(`${base}/latest-calls?limit=100`)]);
    $("#content").hidden = false;
    renderStatus(status);
    renderSummaries(summary);
    renderHours(hours);
    page.calls = calls.calls;
    renderCalls();
    document.title = `carrierwatch · ${status.name || status.carrier_id}`;
    stamp();
  } catch (err) { fail(err); }
}

function initCarrier() {
  page.id = decodeURIComponent(location.pathname.replace(/^\/ui\/carriers\//, "").replace(/\/$/, ""));
  for (const tab of $$("[role=tab]")) {
    tab.addEventListener("click", () => {
      page.window = tab.dataset.window;
      for (const t of $$("[role=tab]")) t.setAttribute("aria-selected", String(t === tab));
      refreshCarrier();
    });
  }
  $("#rate-search").addEventListener("input", renderRates);
  $("#code-filter").addEventListener("input", renderCalls);
  $("#csv").addEventListener("click", downloadCsv);
  return refreshCarrier;
}

// ---- start ------------------------------------------------------------------------------
function start() {
  const refresh = document.body.dataset.page === "carrier" ? initCarrier() : initList();
  $("#login").addEventListener("submit", ev => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value);
    $("#login").hidden = true;
    refresh();
  });
  refresh();
  setInterval(() => { if ($("#login").hidden) refresh(); }, REFRESH_MS);
}

start();
