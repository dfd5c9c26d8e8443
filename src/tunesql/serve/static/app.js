// The web page of `tunesql serve`. A plain ES module with no build step and no library, because the page must work
// on a machine with no network: everything it needs (this file, style.css) is served by the tunesql server itself.
// It talks only to the JSON API described in docs/serve-api.md, so what the page can do, a script can do too.

const KEY_STORE = "tunesql.apiKey";
const HISTORY_STORE = "tunesql.history";
const DB_STORE = "tunesql.db";
const HISTORY_MAX = 30;
const SVG_NS = "http://www.w3.org/2000/svg";

const STAGE_TEXT = {
  sql: "Writing the SQL (sampling and voting)…",
  run: "Running the SQL read-only…",
  explain: "Explaining the SQL…",
};

// The API lives next to the page, so a reverse proxy may mount the server under any prefix.
const BASE = new URL(".", location.href.replace(/\/static\/[^/]*$/, "/"));
const api = (path) => new URL(path, BASE).toString();
const $ = (selector) => document.querySelector(selector);

const state = {
  controller: null, // AbortController of the question or run in flight; a newer one cancels it
  generatedSql: "", // the model's SQL, to tell whether the editor now holds an edit
  retry: null, // what to do again once an API key is saved after a 401
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---- storage (a browser may refuse localStorage: then nothing is remembered, and nothing breaks) -------------------

function load(key, fallback) {
  try {
    const text = localStorage.getItem(key);
    return text === null ? fallback : JSON.parse(text);
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage disabled or full: keep going without it */
  }
}

// ---- HTTP -----------------------------------------------------------------------------------------------------

function headers(extra = {}) {
  const out = { ...extra };
  const key = load(KEY_STORE, "");
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

function networkError(err) {
  return new ApiError(0, "network", `The server did not answer (${err.message}). Is \`tunesql serve\` still running?`);
}

// Every server error is {"error": {"code", "message"}}; anything else (a proxy's HTML page) still becomes a message.
async function errorFrom(res) {
  let code = `http_${res.status}`;
  let message = `The server answered ${res.status} ${res.statusText}.`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    } else if (body && body.detail) {
      message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    }
  } catch {
    /* not JSON: keep the status line */
  }
  if (res.status === 429) {
    const wait = res.headers.get("Retry-After");
    if (wait) message += ` (try again in ${wait} s)`;
  }
  return new ApiError(res.status, code, message);
}

async function requestJson(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let res;
  try {
    res = await fetch(api(path), init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw networkError(err);
  }
  if (!res.ok) throw await errorFrom(res);
  return res.json();
}

// EventSource cannot POST, so the stream is read by hand: blocks separated by a blank line, `event:` and `data:`
// fields (several data lines join with "\n"), comments start with ":". Servers may end lines with \n or \r\n.
function parseEventBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}

async function* readEvents(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const boundary = /\r\n\r\n|\n\n|\r\r/;
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let match;
    while ((match = boundary.exec(buffer))) {
      const parsed = parseEventBlock(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
      if (parsed) yield parsed;
    }
  }
  buffer += decoder.decode();
  const last = parseEventBlock(buffer);
  if (last) yield last;
}

// ---- status, errors, auth --------------------------------------------------------------------------------------

function setState(name) {
  document.body.dataset.state = name; // idle | busy | done | error: lets tests and CSS follow along
  $("main").setAttribute("aria-busy", name === "busy" ? "true" : "false");
}

function setStatus(text) {
  $("#status").textContent = text;
}

function clearError() {
  $("#error").hidden = true;
  $("#error-code").textContent = "";
  $("#error-message").textContent = "";
}

function showError({ code, message }) {
  $("#error-code").textContent = code ? `(${code})` : "";
  $("#error-message").textContent = message || "Something went wrong, and the server did not say what.";
  $("#error").hidden = false;
  setState("error");
}

function showAuth(message) {
  $("#auth").hidden = false;
  $("#key-toggle").setAttribute("aria-expanded", "true");
  if (message) $("#auth-help").textContent = message;
  $("#api-key").focus();
}

function hideAuth() {
  $("#auth").hidden = true;
  $("#key-toggle").setAttribute("aria-expanded", "false");
}

function handleError(err, retry = null) {
  if (err.name === "AbortError") return;
  if (!(err instanceof ApiError)) err = new ApiError(0, "internal", `The page failed: ${err.message}`);
  if (err.status === 401) {
    state.retry = retry;
    showAuth(`${err.message} Enter an API key below; it is kept in this browser and sent as a Bearer token.`);
  }
  setStatus("");
  showError(err);
}

// ---- rendering ---------------------------------------------------------------------------------------------------

function formatSeconds(s) {
  return typeof s === "number" ? `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s` : "";
}

function formatCell(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(12)));
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function confidenceText(confidence, samples) {
  if (typeof confidence !== "number") return "";
  const pct = Math.round(confidence * 100);
  return samples ? `${pct}% of ${samples} samples agree` : `${pct}% of the samples agree`;
}

// The confidence and the explanation belong to the model's SQL: once the editor holds something else, say so.
function markEdited() {
  const edited = Boolean(state.generatedSql) && $("#sql").value.trim() !== state.generatedSql.trim();
  $("#confidence").dataset.stale = edited ? "true" : "false";
  $("#confidence").title = edited
    ? "This was the agreement on the model's SQL; the SQL has been edited since."
    : "Share of the sampled SQL queries that returned the same result as this one.";
  $("#explanation-note").hidden = !(edited && $("#explanation").textContent);
}

function showSql(data) {
  state.generatedSql = data.sql || "";
  $("#sql").value = state.generatedSql;
  const samples = data.n ?? data.samples ?? (Array.isArray(data.candidates) ? data.candidates.length : null);
  const box = $("#confidence");
  box.textContent = confidenceText(data.confidence, samples);
  const pct = typeof data.confidence === "number" ? data.confidence * 100 : null;
  box.dataset.level = pct === null ? "" : pct >= 75 ? "high" : pct >= 50 ? "medium" : "low";
  markEdited();
}

function renderTable(columns, rows) {
  const table = document.createElement("table");
  const caption = table.createCaption();
  caption.textContent = "Query result";
  caption.className = "visually-hidden";
  const headRow = table.createTHead().insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    const name = document.createElement("span");
    name.className = "col-name";
    name.textContent = column.name;
    const type = document.createElement("span");
    type.className = "col-type";
    type.textContent = column.type || "";
    th.append(name, type);
    th.dataset.type = column.type || "";
    headRow.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    row.forEach((value, i) => {
      const td = tr.insertCell();
      td.dataset.type = columns[i]?.type || "";
      const text = formatCell(value);
      if (text === null) {
        const span = document.createElement("span");
        span.className = "null";
        span.textContent = "NULL";
        td.append(span);
      } else {
        td.textContent = text;
      }
    });
  }
  return table;
}

function showResult(data) {
  const columns = data.columns || [];
  const rows = data.rows || [];
  const count = typeof data.row_count === "number" ? data.row_count : rows.length;
  const wrap = $("#result .table-wrap");
  if (!columns.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "The query returned no columns.";
    wrap.replaceChildren(p);
  } else {
    wrap.replaceChildren(renderTable(columns, rows));
  }
  const counter = $("#row-count");
  counter.textContent = `${count} ${count === 1 ? "row" : "rows"}`;
  counter.dataset.count = String(count);
  const note = $("#truncated");
  note.hidden = !data.truncated;
  note.textContent = data.truncated
    ? `Truncated: only the first ${rows.length} rows are shown. Add a LIMIT or a filter to see the rest.`
    : "";
  drawChart(data.chart, columns, rows);
}

function clearResult(message) {
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = message;
  $("#result .table-wrap").replaceChildren(p);
  $("#row-count").textContent = "";
  delete $("#row-count").dataset.count;
  $("#truncated").hidden = true;
  drawChart(null, [], []);
}

function showExplanation(text) {
  $("#explanation").textContent = text || "";
  markEdited();
}

function resetAnswer() {
  clearError();
  state.generatedSql = "";
  $("#sql").value = "";
  $("#confidence").textContent = "";
  $("#confidence").dataset.level = "";
  showExplanation("");
  clearResult("Waiting for the answer…");
}

// ---- charts: drawn as inline SVG by hand (no library, works offline) ----------------------------------------------

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

function niceStep(range, count) {
  const raw = range / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

function niceTicks(lo, hi, count = 5) {
  if (lo === hi) {
    lo -= Math.abs(lo) || 1;
    hi += Math.abs(hi) || 1;
  }
  const step = niceStep(hi - lo, count);
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(hi / step) * step;
  const ticks = [];
  for (let v = start; v <= end + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 2 });

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function toNumber(value) {
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) return Number(value);
  return null;
}

// x positions for a line/scatter chart: numbers as they are, dates as time, anything else in row order.
function xScaleOf(values) {
  const numbers = values.map(toNumber);
  if (numbers.every((v) => v !== null)) return { kind: "number", pos: numbers };
  const times = values.map((v) => (typeof v === "string" ? Date.parse(v) : NaN));
  if (times.every((t) => !Number.isNaN(t))) return { kind: "time", pos: times };
  return { kind: "order", pos: values.map((_, i) => i) };
}

function drawChart(chart, columns, rows) {
  const figure = $("#chart");
  const box = figure.querySelector(".chart-box");
  box.replaceChildren();
  figure.hidden = true;
  if (!chart || !chart.type || chart.type === "none") return;
  const xi = columns.findIndex((c) => c.name === chart.x);
  const yi = columns.findIndex((c) => c.name === chart.y);
  if (xi < 0 || yi < 0) return;
  let points = rows
    .map((row) => ({ label: row[xi] === null ? "NULL" : String(formatCell(row[xi])), raw: row[xi], y: toNumber(row[yi]) }))
    .filter((p) => p.y !== null);
  if (!points.length) return;

  const W = 720;
  const H = 360;
  const m = { left: 72, right: 20, top: 16, bottom: chart.type === "bar" && points.length > 8 ? 96 : 64 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const ys = points.map((p) => p.y);
  const ticks = niceTicks(Math.min(0, ...ys), Math.max(0, ...ys));
  const y0 = ticks[0];
  const y1 = ticks[ticks.length - 1];
  const sy = (v) => m.top + plotH - ((v - y0) / (y1 - y0)) * plotH;

  const kindName = { bar: "Bar", line: "Line", scatter: "Scatter" }[chart.type] || chart.type;
  const unit = chart.type === "bar" ? "bars" : "points";
  const description = `${kindName} chart of ${chart.y} by ${chart.x}, ${points.length} ${unit}`;
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": description, class: `chart-svg chart-${chart.type}`,
    "data-chart-type": chart.type, preserveAspectRatio: "xMidYMid meet",
  });
  root.append(svg("title", {}, description));

  // y grid, ticks and axis title
  const grid = svg("g", { class: "grid" });
  for (const t of ticks) {
    grid.append(svg("line", { x1: m.left, x2: W - m.right, y1: sy(t), y2: sy(t) }));
    grid.append(svg("text", { x: m.left - 8, y: sy(t) + 4, "text-anchor": "end", class: "tick" }, compact.format(t)));
  }
  root.append(grid);
  root.append(svg("text", {
    class: "axis-title", "text-anchor": "middle",
    transform: `translate(16 ${m.top + plotH / 2}) rotate(-90)`,
  }, chart.y));
  root.append(svg("text", { class: "axis-title", x: m.left + plotW / 2, y: H - 8, "text-anchor": "middle" }, chart.x));
  root.append(svg("line", { class: "axis", x1: m.left, x2: W - m.right, y1: sy(Math.max(y0, Math.min(0, y1))),
    y2: sy(Math.max(y0, Math.min(0, y1))) }));
  root.append(svg("line", { class: "axis", x1: m.left, x2: m.left, y1: m.top, y2: m.top + plotH }));

  const marks = svg("g", { class: "marks" });
  if (chart.type === "bar") {
    const band = plotW / points.length;
    const rotate = points.length > 8;
    points.forEach((p, i) => {
      const top = sy(Math.max(p.y, 0));
      const bottom = sy(Math.min(p.y, 0));
      const bar = svg("rect", {
        class: "bar", x: m.left + i * band + band * 0.15, y: top, width: Math.max(band * 0.7, 1),
        height: Math.max(bottom - top, 0.5),
      });
      bar.append(svg("title", {}, `${p.label}: ${p.y}`));
      marks.append(bar);
      const cx = m.left + i * band + band / 2;
      const labelY = m.top + plotH + 16;
      marks.append(svg("text", {
        class: "tick", "text-anchor": rotate ? "end" : "middle", x: cx, y: labelY,
        transform: rotate ? `rotate(-40 ${cx} ${labelY})` : "",
      }, shorten(p.label, rotate ? 16 : Math.max(4, Math.floor(band / 7)))));
    });
  } else {
    const scale = xScaleOf(points.map((p) => p.raw));
    points = points.map((p, i) => ({ ...p, x: scale.pos[i] })).sort((a, b) => a.x - b.x);
    let x0 = Math.min(...points.map((p) => p.x));
    let x1 = Math.max(...points.map((p) => p.x));
    if (x0 === x1) {
      x0 -= 1;
      x1 += 1;
    }
    const sx = (v) => m.left + ((v - x0) / (x1 - x0)) * plotW;
    if (chart.type === "line") {
      const d = points.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
      marks.append(svg("path", { class: "line", d }));
    }
    if (chart.type === "scatter" || points.length <= 60) {
      for (const p of points) {
        const dot = svg("circle", { class: "dot", cx: sx(p.x), cy: sy(p.y), r: chart.type === "scatter" ? 4 : 3 });
        dot.append(svg("title", {}, `${p.label}: ${p.y}`));
        marks.append(dot);
      }
    }
    // about six x labels, taken from the data itself so dates read as they are stored
    const every = Math.max(1, Math.ceil(points.length / 6));
    points.forEach((p, i) => {
      const last = i === points.length - 1;
      if (i % every && !last) return;
      if (!last && points.length - 1 - i < every) return; // too close to the last label to fit
      const anchor = last && points.length > 1 ? "end" : "middle";
      marks.append(svg("text", { class: "tick", "text-anchor": anchor, x: sx(p.x), y: m.top + plotH + 16 },
        shorten(p.label, 12)));
    });
  }
  root.append(marks);
  box.append(root);
  const reason = chart.reason ? ` ${chart.reason.charAt(0).toUpperCase()}${chart.reason.slice(1)}.` : "";
  $("#chart-caption").textContent = `${description}.${reason.replace(/\.\.$/, ".")}`;
  figure.hidden = false;
}

// ---- history -------------------------------------------------------------------------------------------------

function addHistory(question, db) {
  const items = load(HISTORY_STORE, []).filter((h) => !(h.question === question && h.db === db));
  items.unshift({ question, db, at: new Date().toISOString() });
  save(HISTORY_STORE, items.slice(0, HISTORY_MAX));
  renderHistory();
}

function renderHistory() {
  const items = load(HISTORY_STORE, []);
  const list = $("#history");
  list.replaceChildren();
  for (const item of items) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "history-item";
    button.title = `Ask again on ${item.db}`;
    const q = document.createElement("span");
    q.className = "history-question";
    q.textContent = item.question;
    const db = document.createElement("span");
    db.className = "history-db";
    db.textContent = item.db;
    button.append(q, db);
    button.addEventListener("click", () => {
      const select = $("#db");
      if ([...select.options].some((o) => o.value === item.db)) select.value = item.db;
      $("#question").value = item.question;
      ask();
    });
    li.append(button);
    list.append(li);
  }
  $("#history-empty").hidden = items.length > 0;
}

// ---- actions ---------------------------------------------------------------------------------------------------

function startRequest() {
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  return state.controller;
}

async function ask() {
  const question = $("#question").value.trim();
  const db = $("#db").value;
  if (!question) {
    showError({ code: "bad_request", message: "Type a question first." });
    $("#question").focus();
    return;
  }
  if (!db) {
    showError({ code: "bad_request", message: "Choose a database first (none is loaded yet)." });
    return;
  }
  const controller = startRequest();
  resetAnswer();
  addHistory(question, db);
  setState("busy");
  setStatus("Sending the question…");
  let finished = false;
  try {
    let res;
    try {
      res = await fetch(api("v1/ask/stream"), {
        method: "POST",
        signal: controller.signal,
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify({ question, db }),
      });
    } catch (err) {
      throw err.name === "AbortError" ? err : networkError(err);
    }
    if (!res.ok) throw await errorFrom(res);
    for await (const { event, data } of readEvents(res)) {
      if (controller !== state.controller) return; // a newer question took over
      if (event === "stage") {
        setStatus(STAGE_TEXT[data.stage] || `${data.stage}…`);
      } else if (event === "sql") {
        showSql(data);
      } else if (event === "result") {
        showResult(data);
      } else if (event === "explanation") {
        showExplanation(data.explanation);
      } else if (event === "done") {
        finished = true;
        setStatus(`Done in ${formatSeconds(data.seconds)}.`);
        setState("done");
      } else if (event === "error") {
        finished = true;
        if (!$("#row-count").dataset.count) clearResult("No rows: see the error above.");
        handleError(new ApiError(200, data.code, data.message));
      }
    }
    if (!finished) {
      throw new ApiError(0, "stream_ended", "The answer stopped before it was complete (the connection closed). Ask again.");
    }
  } catch (err) {
    if (controller !== state.controller) return;
    if (err.name !== "AbortError") clearResult("No rows: see the error above.");
    handleError(err, ask);
  } finally {
    if (controller === state.controller) state.controller = null;
  }
}

async function runSql() {
  const sql = $("#sql").value.trim();
  const db = $("#db").value;
  if (!sql) {
    showError({ code: "bad_request", message: "Write some SQL in the editor first." });
    $("#sql").focus();
    return;
  }
  if (!db) {
    showError({ code: "bad_request", message: "Choose a database first (none is loaded yet)." });
    return;
  }
  const controller = startRequest();
  clearError();
  setState("busy");
  setStatus("Running the SQL read-only…");
  const started = performance.now();
  try {
    const data = await requestJson("v1/sql/run", { method: "POST", body: { sql, db }, signal: controller.signal });
    if (controller !== state.controller) return;
    showResult(data);
    markEdited();
    setStatus(`Ran in ${formatSeconds((performance.now() - started) / 1000)}.`);
    setState("done");
  } catch (err) {
    if (controller !== state.controller) return;
    if (err.name !== "AbortError") clearResult("No rows: see the error above.");
    handleError(err, runSql);
  } finally {
    if (controller === state.controller) state.controller = null;
  }
}

async function loadDatabases() {
  const select = $("#db");
  try {
    const data = await requestJson("v1/databases");
    const wanted = select.value || load(DB_STORE, "");
    select.replaceChildren();
    for (const d of data.databases || []) {
      const tables = typeof d.tables === "number" ? `, ${d.tables} tables` : "";
      select.add(new Option(`${d.name} (${d.dialect}${tables})`, d.name));
    }
    if (!select.options.length) select.add(new Option("no databases configured", ""));
    if ([...select.options].some((o) => o.value === wanted)) select.value = wanted;
    return true;
  } catch (err) {
    select.replaceChildren(new Option("unavailable", ""));
    handleError(err, loadDatabases);
    return false;
  }
}

function init() {
  $("#ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    ask();
  });
  $("#run").addEventListener("click", runSql);
  $("#sql").addEventListener("input", markEdited);
  $("#sql").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      runSql();
    }
  });
  $("#db").addEventListener("change", () => save(DB_STORE, $("#db").value));
  $("#key-toggle").addEventListener("click", () => ($("#auth").hidden ? showAuth() : hideAuth()));
  $("#key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    save(KEY_STORE, $("#api-key").value.trim());
    clearError();
    setStatus("Checking the key…");
    if (await loadDatabases()) {
      hideAuth();
      setStatus("Key saved.");
      setState("idle");
      const retry = state.retry;
      state.retry = null;
      if (retry && retry !== loadDatabases) retry();
    }
  });
  $("#forget-key").addEventListener("click", () => {
    save(KEY_STORE, "");
    $("#api-key").value = "";
    setStatus("Key forgotten.");
  });
  $("#clear-history").addEventListener("click", () => {
    save(HISTORY_STORE, []);
    renderHistory();
  });
  $("#api-key").value = load(KEY_STORE, "");
  setState("idle");
  renderHistory();
  loadDatabases();
}

init();
