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

function svgEl(tag, attrs, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// A round top for the left axis: 1, 2 or 5 times a power of ten, at least ``v``.
function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(Math.max(1, v)));
  return [1, 2, 5, 10].map(m => m * p).find(m => m >= v);
}

// A bar chart (SVG) with values on its axes, a legend and each bar's exact figures.
// bars: [{value, tick, detail, cls, data}] (tick: the x label, "" for none; detail: the
// figures in words, shown on hover or focus; data: data-* attributes); line: optional
// [0..1 or null] per bar, drawn on a right axis in %; names: legend entries.
function chart(box, bars, { line = null, barName = "", lineName = "" } = {}) {
  const w = 640, h = 190, left = 46, right = line ? 42 : 10, top = 10, bottom = 26;
  const ph = h - top - bottom, pw = w - left - right;
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}`, width: "100%" });
  const max = niceMax(Math.max(1, ...bars.map(b => b.value)));
  for (const f of [0, 0.5, 1]) {
    const y = top + ph * (1 - f);
    svg.appendChild(svgEl("line", { x1: left, x2: w - right, y1: y, y2: y, class: "grid" }));
    svg.appendChild(svgEl("text", { x: left - 6, y: y + 4, "text-anchor": "end",
                                    class: "axis left" }, (max * f).toLocaleString("en")));
    if (line) {
      svg.appendChild(svgEl("text", { x: w - right + 6, y: y + 4, class: "axis right" },
                            `${f * 100} %`));
    }
  }
  const readout = document.createElement("p");
  readout.className = "readout muted";
  readout.setAttribute("aria-live", "polite");
  const bw = pw / Math.max(1, bars.length);
  bars.forEach((b, i) => {
    const bh = ph * b.value / max, x = left + i * bw;
    const g = svgEl("g", { class: "slot", tabindex: "0", role: "img", "aria-label": b.detail });
    Object.assign(g.dataset, b.data || {});
    g.appendChild(svgEl("rect", { x: x, y: top, width: bw, height: ph, class: "hit" }));
    g.appendChild(svgEl("rect", { x: x + 1, y: top + ph - bh, width: Math.max(1, bw - 2),
                                  height: bh, class: b.cls || "bar" }));
    g.appendChild(svgEl("title", {}, b.detail));
    const show = () => { readout.textContent = b.detail; };
    g.addEventListener("mouseenter", show);
    g.addEventListener("focus", show);
    svg.appendChild(g);
    if (b.tick) {
      svg.appendChild(svgEl("text", { x: x + bw / 2, y: h - 8, "text-anchor": "middle",
                                      class: "axis x" }, b.tick));
    }
  });
  if (line) {  // broken where there is no value (an hour without calls)
    let run = [];
    const flush = () => {
      if (run.length) svg.appendChild(svgEl("polyline", { points: run.join(" "), class: "line" }));
      run = [];
    };
    line.forEach((v, i) => {
      if (v === null) { flush(); return; }
      const x = left + i * bw + bw / 2, y = top + ph * (1 - v);
      run.push(`${x},${y}`);
      svg.appendChild(svgEl("circle", { cx: x, cy: y, r: 2.5, class: "dot" }));
    });
    flush();
  }
  const legend = document.createElement("p");
  legend.className = "legend";
  for (const [cls, name] of [["bar", barName], ["line", line ? lineName : ""]]) {
    if (!name) continue;
    const key = document.createElement("span");
    key.className = "key " + cls;
    const label = document.createElement("span");
    label.textContent = name;
    legend.append(key, label);
  }
  readout.textContent = "Hover over or focus a bar for its figures.";
  box.replaceChildren(svg, legend, readout);
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
const page = { id: "", window: "live", destWindow: "live", foWindow: "live", calls: [], callsNext: null,
               callWindow: "live", callsMore: false, asOf: null };

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
  fill($("#streak-text").parentNode, { streak_explained: doc.streak_explained });
  // Why: the streak's failures and the last 24 hours', by class and busiest customers.
  const noStreak = { by_class: {}, top_customers: [] };
  for (const [row, b] of [["#streak-now", cf.streak || noStreak],
                          ["#streak-live", doc.failures_live || noStreak]]) {
    fill($(row), b.by_class);
    $(`${row} .customers`).replaceChildren(...b.top_customers.map(c => {
      const li = cell("li", `${c.customer_id}: ${c.failures.toLocaleString("en")}`);
      li.dataset.customer = c.customer_id;
      li.dataset.failures = c.failures;
      return li;
    }));
  }
  renderFas(doc.anomalies);
  fill($("#consistency"), cc);
  $("#verdict-text").textContent = (VERDICTS[cc.verdict] || (() => ""))(cc.total_final);
  $("#consistency .verdict").className = "verdict " + cc.verdict;
  const codes = Object.entries(cc.codes).map(([code, n]) => ({
    value: n, tick: code, detail: `${code}: ${n.toLocaleString("en")} final responses`,
    data: { code: code, count: n },
    cls: code === "200" ? "bar ok" : code === "404" ? "bar notfound" : "bar" }));
  chart($("#codes-chart"), codes, { barName: "final responses by code (left axis)" });
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

// False answer supervision: the verdict in words, then each signal now, usually and where
// it becomes suspect (text, not numbers to format: shares as percentages).
function renderFas(a) {
  const card = $("#fas-card");
  card.hidden = !a;
  if (!a) return;
  fill(card, { verdict: a.verdict, score: a.score, explanation: a.explanation });
  card.querySelector(".verdict").className = "verdict " + a.verdict;
  const s = a.signals, b = a.baseline, t = a.thresholds;
  const pct = v => v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)} %`;
  const num = v => v === null || v === undefined ? "–" : v.toFixed(1);
  const share = (n, d) => d ? n / d : null;
  const rows = {
    "#fas-short6": [pct(share(s.short_6s, s.answered)), pct(share(b.short_6s, b.answered)), "–"],
    "#fas-ratio": [num(s.short_ratio), num(b.short_ratio),
                   b.short_ratio ? num(t.short_ratio_factor * b.short_ratio) : "–"],
    "#fas-instant": [pct(s.instant_share), "–", pct(t.instant_share)],
    "#fas-noring": [pct(s.no_ring_share), "–", pct(t.no_ring_share)],
    "#fas-ring": [s.median_ring_ms === null ? "–" : (s.median_ring_ms / 1000).toFixed(1), "–", "–"],
    "#fas-acd": [num(s.acd_s), num(b.acd_s), "–"],
  };
  for (const [id, [now, usual, limit]] of Object.entries(rows)) {
    const tr = $(id);
    tr.querySelector("[data-field=now]").textContent = now;
    tr.querySelector("[data-field=usual]").textContent = usual;
    tr.querySelector("[data-field=limit]").textContent = limit;
  }
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

// A row of figures (a window's, or a destination group's): ``first`` names it, ``pdd`` is
// the field that holds its average PDD.
function figuresRow(r, first, pdd) {
  const tr = document.createElement("tr");
  tr.append(cell("td", r[first], first), cell("td", r.attempts, "attempts", "num"),
            cell("td", r.answered, "answered", "num"), cell("td", r.asr, "asr", "num"),
            cell("td", r.seer, "seer", "num"), cell("td", r.acd_s, "acd_s", "num"),
            cell("td", r[pdd], pdd, "num"), cell("td", r.short_calls, "short_calls", "num"),
            cell("td", r.cost === null ? null : `${r.cost.toFixed(4)} ${r.currency}`, "cost", "num"));
  return tr;
}

function renderSummaries(doc) {
  const rows = doc.summaries.slice().reverse();  // newest first
  $("#summaries tbody").replaceChildren(...rows.map(s => {
    const tr = figuresRow(s, "start", "pdd_ms_avg");
    tr.dataset.window = s.window;
    return tr;
  }));
}

// The live window's 24 hours on a time axis: an hour without traffic is an empty bar, not
// a missing one. ``live``: the status's live window (its end is the carrier's clock).
function renderHours(doc, live) {
  const HOUR = 3600e3;
  const byStart = new Map(doc.summaries.map(s => [Date.parse(s.start), s]));
  const newest = Math.max(0, ...byStart.keys());
  const end = live && live.end ? Date.parse(live.end) : newest + HOUR;
  const bars = [], asr = [];
  for (let i = 0; i < 24; i++) {
    const t = end - (24 - i) * HOUR, s = byStart.get(t), when = new Date(t);
    const hh = String(when.getUTCHours()).padStart(2, "0");
    const attempts = s ? s.attempts : 0, ratio = s && s.asr !== null ? s.asr : null;
    const day = when.toISOString().slice(0, 10);
    bars.push({ value: attempts, tick: i % 3 === 0 ? `${hh}:00` : "",
                data: { start: t, attempts: attempts, asr: ratio === null ? "" : ratio },
                detail: `${day} ${hh}:00 UTC: ${attempts.toLocaleString("en")} attempts, ASR ` +
                        (ratio === null ? "none" : `${(ratio * 100).toFixed(1)} %`) });
    asr.push(ratio);
  }
  chart($("#hours-chart"), bars, { line: asr, barName: "attempts (left axis)",
                                   lineName: "ASR in % (right axis)" });
}

// Quality per destination group of the chosen window (the newest one of its kind).
function renderDestinations(doc) {
  const starts = doc.destinations.map(d => d.start).sort();
  const newest = starts[starts.length - 1];
  const rows = doc.destinations.filter(d => d.start === newest);
  $("#dest-window").textContent = newest ? `${doc.window === "live" ? "24 hours from" : "window starting"} ${newest}` : "no traffic in this window";
  $("#destinations tbody").replaceChildren(...rows.map(d => {
    const tr = figuresRow(d, "group", "pdd_ms");
    tr.dataset.group = d.group;
    return tr;
  }));
  chart($("#dest-chart"), rows.map(d => ({
    value: d.asr === null ? 0 : Math.round(d.asr * 1000) / 10, tick: rows.length <= 12 ? d.group : "",
    data: { group: d.group, asr: d.asr === null ? "" : d.asr },
    detail: `${d.group}: ASR ${d.asr === null ? "none" : (d.asr * 100).toFixed(1) + " %"} of ${d.attempts.toLocaleString("en")} attempts` })),
    { barName: "ASR in % by group (left axis)" });
}

// Where this carrier's failed calls went: the chosen window's (newest) figures and pairs.
function renderFailover(doc) {
  const rows = doc.failover.slice().sort((a, b) => a.start < b.start ? -1 : 1);
  const f = rows[rows.length - 1] || { calls: 0, asr_per_call: null, asr_per_attempt: null,
                                        rescued_elsewhere: 0, rescued_here: 0, pairs: [] };
  fill($("#failover"), f);
  $("#fo-text").textContent = !f.calls ? "No call that tried this carrier has ended in this window."
    : `${f.rescued_elsewhere.toLocaleString("en")} of ${f.calls.toLocaleString("en")} calls that tried this carrier failed here and were then answered on another carrier; ` +
      `${f.rescued_here.toLocaleString("en")} failed elsewhere and were answered here.`;
  $("#fo-pairs tbody").replaceChildren(...f.pairs.map(p => {
    const tr = document.createElement("tr");
    tr.append(cell("td", p.answered_on), cell("td", p.calls, "calls", "num"));
    tr.dataset.carrier = p.answered_on;
    tr.dataset.calls = p.calls;
    return tr;
  }));
}

// ---- the call log -------------------------------------------------------------------------
// Window buttons ask the API for a range of the carrier's clock (``as_of`` of its last
// answer: the wall clock, or a replay's newest ts); "Load more" follows the ``next``
// cursor; the CSV holds the whole filtered range, not just the rows shown.
const HOUR_MS = 3600e3;

function isoInput(ms) { return new Date(ms).toISOString().slice(0, 19); }
function fromInput(value) { return value ? Date.parse(value + "Z") : null; }

// The query of the chosen window and code filter (null: the custom range is incomplete).
function callsQuery() {
  const q = new URLSearchParams();
  const code = $("#code-filter").value.trim().replace(/\s+/g, "");
  if (code) q.set("code", code);
  const asOf = page.asOf ?? Date.now();
  if (page.callWindow === "hour") q.set("from", String(asOf - HOUR_MS));
  if (page.callWindow === "today") q.set("from", String(asOf - asOf % (24 * HOUR_MS)));
  if (page.callWindow === "custom") {
    const from = fromInput($("#calls-from").value), to = fromInput($("#calls-to").value);
    if (from !== null) q.set("from", String(from));
    if (to !== null) q.set("to", String(to));
  }
  return q;
}

function callRow(c) {
  const tr = document.createElement("tr");
  tr.append(cell("td", c.ts, "ts"), cell("td", c.code, "code", "num"),
            cell("td", c.reason, "reason"), cell("td", c.duration_ms, "duration_ms", "num"),
            cell("td", c.pdd_ms, "pdd_ms", "num"), cell("td", c.destination, "destination"),
            cell("td", c.customer_id, "customer_id"), cell("td", c.call_id, "call_id"));
  return tr;
}

function renderCalls() {
  $("#calls tbody").replaceChildren(...page.calls.map(callRow));
  $("#calls-more").hidden = !page.callsNext;
  const n = page.calls.length;
  $("#calls-count").textContent = n ? `${n.toLocaleString("en")} calls shown` +
    (page.callsNext ? ", more in this range" : ", all in this range") : "no calls in this range";
  const q = callsQuery();
  $("#calls-window").textContent = q.has("from") || q.has("to")
    ? `${q.has("from") ? new Date(Number(q.get("from"))).toISOString() : "oldest kept"} to ` +
      `${q.has("to") ? new Date(Number(q.get("to"))).toISOString() : "now"}`
    : "everything kept, newest first";
}

// The first page of the log (``more``: the next page, added below).
async function loadCalls(more = false) {
  const q = callsQuery();
  if (more) q.set("cursor", page.callsNext);
  q.set("limit", String(PAGE_SIZE));
  try {
    const doc = await api(`/carriers/${encodeURIComponent(page.id)}/calls?${q}`);
    $("#calls-error").textContent = "";
    page.asOf = doc.as_of ? Date.parse(doc.as_of) : page.asOf;
    page.calls = more ? page.calls.concat(doc.calls) : doc.calls;
    page.callsNext = doc.next;
    page.callsMore = more || page.callsMore;
    renderCalls();
  } catch (err) {
    if (err.message !== "unauthorized") $("#calls-error").textContent = err.message;
  }
}

async function downloadCsv() {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const q = callsQuery();
  q.set("format", "csv");
  const resp = await fetch(`/carriers/${encodeURIComponent(page.id)}/calls?${q}`, { headers });
  if (!resp.ok) { $("#calls-error").textContent = "CSV: " + resp.statusText; return; }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await resp.blob());
  a.download = `${page.id}-calls.csv`;
  a.click();
  URL.revokeObjectURL(a.href);
}

function initCalls() {
  for (const tab of $$("#calls-card [role=tab]")) {
    tab.addEventListener("click", () => {
      page.callWindow = tab.dataset.window;
      for (const t of $$("#calls-card [role=tab]")) t.setAttribute("aria-selected", String(t === tab));
      $("#calls-range").hidden = page.callWindow !== "custom";
      if (page.callWindow === "custom" && !$("#calls-from").value) {
        const asOf = page.asOf ?? Date.now();
        $("#calls-from").value = isoInput(asOf - HOUR_MS);
        $("#calls-to").value = isoInput(asOf);
      }
      page.callsMore = false;
      loadCalls();
    });
  }
  $("#calls-form").addEventListener("submit", ev => { ev.preventDefault(); page.callsMore = false; loadCalls(); });
  $("#calls-more").addEventListener("click", () => loadCalls(true));
  $("#csv").addEventListener("click", downloadCsv);
}

async function refreshCarrier() {
  const base = "/carriers/" + encodeURIComponent(page.id);
  try {
    const [status, summary, hours, dests, failover] = await Promise.all([
      api(base), api(`${base}/summary?window=${page.window}`),
      api(`${base}/summary?window=hour`),
      api(`${base}/destinations?window=${page.destWindow}`),
      api(`${base}/failover?window=${page.foWindow}`)]);
    $("#content").hidden = false;
    renderStatus(status);
    renderSummaries(summary);
    renderHours(hours, status.live);
    renderDestinations(dests);
    renderFailover(failover);
    // The log follows the traffic until a range is fixed or more pages were loaded.
    if (page.callWindow !== "custom" && !page.callsMore) await loadCalls();
    document.title = `carrierwatch · ${status.name || status.carrier_id}`;
    stamp();
  } catch (err) { fail(err); }
}

function initCarrier() {
  page.id = decodeURIComponent(location.pathname.replace(/^\/ui\/carriers\//, "").replace(/\/$/, ""));
  for (const [tabs, key] of [["#summary [role=tab]", "window"], ["#dest-card [role=tab]", "destWindow"],
                             ["#fo-card [role=tab]", "foWindow"]]) {
    for (const tab of $$(tabs)) {
      tab.addEventListener("click", () => {
        page[key] = tab.dataset.window;
        for (const t of $$(tabs)) t.setAttribute("aria-selected", String(t === tab));
        refreshCarrier();
      });
    }
  }
  $("#rate-search").addEventListener("input", renderRates);
  initCalls();
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
