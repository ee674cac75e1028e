// nocwatch's local page: plain JS over the JSON API (docs/api.md). Every value from the API
// goes into the page as text (textContent), never as HTML.
"use strict";

const view = () => document.getElementById("view");
let timers = [];

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the page's CSP, unlike a style attribute
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  const banner = document.getElementById("store-error");
  if (!response.ok) {
    banner.hidden = false;
    banner.textContent = body.error || response.statusText;
    throw new Error(body.error || response.statusText);
  }
  banner.hidden = true;
  return body;
}

const fmt = {
  num(v, digits = 1) { return v === null || v === undefined ? "" : Number(v).toFixed(digits); },
  pct(v) { return v === null || v === undefined ? "" : Number(v).toFixed(1) + " %"; },
  bits(v) {
    if (v === null || v === undefined) return "";
    const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return v.toFixed(i ? 2 : 0) + " " + units[i];
  },
  speed(v) { return v ? fmt.bits(v).replace("/s", "/s") : ""; },
  time(unix) { return unix ? new Date(unix * 1000).toLocaleString() : ""; },
  ago(unix) {
    if (!unix) return "";
    const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
    return s < 90 ? s + " s ago" : s < 5400 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";
  },
};

function statusClass(s) { return s === "up" ? "up" : s === "down" || s === "lower_layer_down" ? "down" : s ? "other" : ""; }

// A table whose columns sort on click. columns: [{key, label, num, value(row), cell(row)}]
function sortableTable(id, columns, rows, initial) {
  let sortKey = initial || columns[0].key, desc = false;
  const tbody = h("tbody");
  const heads = columns.map(c => h("th", { class: c.num ? "num" : "", "data-key": c.key, onclick: () => {
    desc = sortKey === c.key ? !desc : false; sortKey = c.key; render();
  } }, c.label));
  function render() {
    const col = columns.find(c => c.key === sortKey);
    const value = col.value || (r => r[col.key]);
    const sorted = [...rows].sort((a, b) => {
      const x = value(a), y = value(b);
      if (x === y) return 0;
      if (x === null || x === undefined || x === "") return 1;
      if (y === null || y === undefined || y === "") return -1;
      return (x < y ? -1 : 1) * (desc ? -1 : 1);
    });
    heads.forEach(th => th.className = (columns.find(c => c.key === th.dataset.key).num ? "num " : "") +
      (th.dataset.key === sortKey ? (desc ? "sorted-desc" : "sorted-asc") : ""));
    tbody.replaceChildren(...sorted.map(r => h("tr", { "data-id": r.id ?? r.index },
      columns.map(c => h("td", { class: c.num ? "num" : "" }, c.cell ? c.cell(r) : (r[c.key] ?? "")))))); 
  }
  render();
  return h("table", { id }, h("thead", {}, h("tr", {}, heads)), tbody);
}

// ---- charts (inline SVG: no library) ----
function chart(title, lines, format, from, to) {
  const W = 600, H = 170, L = 70, B = 18, T = 6;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const all = lines.flatMap(l => l.points.flatMap(p => [p[2], p[3]])).filter(Number.isFinite);
  const max = all.length ? Math.max(...all, 0) : 1, min = Math.min(0, ...all);
  const span = (max - min) || 1;
  const x = t => L + (t - from) / ((to - from) || 1) * (W - L - 4);
  const y = v => T + (1 - (v - min) / span) * (H - T - B);
  const add = (tag, attrs, text) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
  };
  for (const f of [0, 0.5, 1]) {
    const v = min + span * f;
    add("line", { x1: L, x2: W, y1: y(v), y2: y(v), stroke: "#e3e7ec" });
    add("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#6a7480" }, format(v));
  }
  add("text", { x: L, y: H - 4, "font-size": 11, fill: "#6a7480" }, new Date(from * 1000).toLocaleString());
  add("text", { x: W - 4, y: H - 4, "text-anchor": "end", "font-size": 11, fill: "#6a7480" }, new Date(to * 1000).toLocaleString());
  const colors = ["#2763c4", "#d9822b", "#1f8a4c", "#8e44ad", "#c23b2b"];
  lines.forEach((line, i) => {
    const color = colors[i % colors.length];
    if (!line.points.length) return;
    if (line.points.some(p => p[2] !== p[3])) {
      const top = line.points.map(p => `${x(p[0])},${y(p[3])}`);
      const bottom = line.points.slice().reverse().map(p => `${x(p[0])},${y(p[2])}`);
      add("polygon", { points: top.concat(bottom).join(" "), fill: color, "fill-opacity": 0.12, stroke: "none" });
    }
    add("polyline", { points: line.points.map(p => `${x(p[0])},${y(p[1])}`).join(" "), fill: "none", stroke: color, "stroke-width": 1.5 });
    // A line of one or two points is hard to see: mark them.
    if (line.points.length < 3) line.points.forEach(p => add("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, fill: color }));
  });
  const legend = h("div", { class: "legend" }, lines.map((l, i) => h("span", { style: `color:${colors[i % colors.length]}` }, "■ ", l.label, " ")));
  const empty = lines.every(l => !l.points.length) ? h("div", { class: "muted" }, "no data in this range") : null;
  return h("div", { class: "chart", "data-title": title }, h("h3", {}, title), svg, legend, empty);
}

// ---- views ----
async function devicesView() {
  const { devices } = await api("/api/devices");
  const filter = h("input", { id: "device-filter", type: "search", placeholder: "filter: name, address, vendor, model, profile…" });
  const holder = h("div");
  const columns = [
    { key: "name", label: "Name", value: d => (d.name || d.id).toLowerCase(), cell: d => h("a", { href: "#/device/" + encodeURIComponent(d.id) }, d.name || d.id) },
    { key: "ip_address", label: "Address" },
    { key: "vendor", label: "Vendor" },
    { key: "model", label: "Model" },
    { key: "os", label: "OS" },
    { key: "profile", label: "Profile" },
    { key: "reachable", label: "Reachable", cell: d => d.reachable === null ? "" : h("span", { class: d.reachable ? "up" : "down" }, d.reachable ? "yes" : "no") },
    { key: "last_poll", label: "Last poll", cell: d => h("span", { title: fmt.time(d.last_poll) }, fmt.ago(d.last_poll)) },
    { key: "poll_duration_secs", label: "Duration", num: true, cell: d => d.poll_duration_secs === null ? "" : fmt.num(d.poll_duration_secs, 2) + " s" },
    { key: "cpu", label: "CPU", num: true, cell: d => fmt.pct(d.cpu) },
    { key: "memory", label: "Memory", num: true, cell: d => fmt.pct(d.memory) },
  ];
  function render() {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = devices.filter(d => {
      const text = [d.name, d.id, d.ip_address, d.vendor, d.model, d.os, d.profile].join(" ").toLowerCase();
      return words.every(w => text.includes(w));
    });
    holder.replaceChildren(rows.length ? sortableTable("devices-table", columns, rows) :
      h("p", { class: "muted" }, devices.length ? "No device matches." : "No device yet: configure an snmp source, or wait for its first poll."));
  }
  for (const event of ["input", "change", "search"]) filter.addEventListener(event, render);
  render();
  view().replaceChildren(h("h1", {}, "Devices ", h("span", { class: "muted" }, `(${devices.length})`)), h("div", { class: "toolbar" }, filter), holder);
}

const RANGES = { "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };

async function deviceView(id) {
  const { device, interfaces } = await api("/api/device?id=" + encodeURIComponent(id));
  const facts = [["Address", device.ip_address], ["Vendor", device.vendor], ["Model", device.model], ["OS", device.os],
    ["Profile", device.profile], ["sysObjectID", device.sys_object_id], ["Reachable", device.reachable === null ? "" : device.reachable ? "yes" : "no"],
    ["Last poll", device.last_poll ? `${fmt.time(device.last_poll)} (${fmt.num(device.poll_duration_secs, 2)} s)` : ""],
    ["CPU", fmt.pct(device.cpu)], ["Memory", fmt.pct(device.memory)]]
    .filter(([, v]) => v).flatMap(([k, v]) => [h("span", { class: "muted" }, k), h("span", {}, v)]);
  const ifColumns = [
    { key: "index", label: "#", num: true },
    { key: "name", label: "Name" },
    { key: "alias", label: "Alias" },
    { key: "admin_status", label: "Admin", cell: i => h("span", { class: statusClass(i.admin_status) }, i.admin_status || "") },
    { key: "oper_status", label: "Oper", cell: i => h("span", { class: "oper " + statusClass(i.oper_status) }, i.oper_status || "") },
    { key: "speed_bps", label: "Speed", num: true, cell: i => fmt.speed(i.speed_bps) },
    { key: "in_bps", label: "In", num: true, cell: i => fmt.bits(i.in_bps) },
    { key: "out_bps", label: "Out", num: true, cell: i => fmt.bits(i.out_bps) },
    { key: "in_errors", label: "Errors in/out", num: true, cell: i => [i.in_errors, i.out_errors].map(v => fmt.num(v, 2)).join(" / ") },
    { key: "in_discards", label: "Discards in/out", num: true, cell: i => [i.in_discards, i.out_discards].map(v => fmt.num(v, 2)).join(" / ") },
  ];
  const range = h("select", { id: "range" }, Object.keys(RANGES).map(r => h("option", { value: r }, r)));
  const withTraffic = interfaces.filter(i => i.in_bps !== null || i.out_bps !== null);
  const ifSelect = h("select", { id: "chart-interface" }, (withTraffic.length ? withTraffic : interfaces).map(i =>
    h("option", { value: i.index }, `${i.name || i.index}${i.alias ? " (" + i.alias + ")" : ""}`)));
  const charts = h("div", { class: "charts", id: "charts" });
  async function drawCharts() {
    const to = Math.floor(Date.now() / 1000), from = to - RANGES[range.value];
    const q = `&device=${encodeURIComponent(id)}&from=${from}&to=${to}`;
    const [cpu, mem, traffic] = await Promise.all([
      api("/api/series?metric=snmp.cpu.usage" + q),
      api("/api/series?metric=snmp.memory.usage" + q),
      ifSelect.value ? api(`/api/series?metric=snmp.ifHCInOctets,snmp.ifHCOutOctets,snmp.ifInOctets,snmp.ifOutOctets&interface_index=${ifSelect.value}` + q) : { series: [] },
    ]);
    const bits = s => ({ label: s.name.replace("snmp.", "").replace("Octets", "") + " bit/s", points: s.points.map(p => [p[0], p[1] * 8, p[2] * 8, p[3] * 8]) });
    const hc = traffic.series.filter(s => s.name.includes("HC"));
    const lines = (hc.length ? hc : traffic.series).map(bits);
    const label = s => ({ label: Object.entries(s.tags).filter(([k]) => ["cpu", "mem", "memory", "processor"].some(w => k.includes(w))).map(([k, v]) => v).join(" ") || s.name.replace("snmp.", ""), points: s.points });
    charts.replaceChildren(
      chart("Traffic: " + (ifSelect.selectedOptions[0]?.textContent || "no interface"), lines, fmt.bits, from, to),
      chart("CPU %", cpu.series.map(label), v => v.toFixed(0) + " %", from, to),
      chart("Memory %", mem.series.map(label), v => v.toFixed(0) + " %", from, to));
  }
  range.addEventListener("change", drawCharts);
  ifSelect.addEventListener("change", drawCharts);
  const { logs } = await api("/api/logs?limit=50&device=" + encodeURIComponent(id));
  view().replaceChildren(
    h("h1", {}, device.name || device.id, " ", h("span", { class: "muted" }, device.id)),
    h("div", { class: "facts" }, facts),
    h("h2", {}, "Interfaces"),
    interfaces.length ? sortableTable("interfaces-table", ifColumns, interfaces, "index") : h("p", { class: "muted" }, "No interface metadata yet."),
    h("h2", {}, "Charts"), h("div", { class: "toolbar" }, "Range ", range, " Interface ", ifSelect), charts,
    h("h2", {}, "Recent traps and syslog"), logTable(logs, "device-logs"));
  await drawCharts();
}

function attributesOf(log) {
  const a = log.attributes || {};
  if (log.source !== "snmp-traps" && !a.snmpTrapOID) return null;
  // The raw `variables` repeat the named fields shown here.
  const skip = new Set(["peer", "snmpTrapName", "snmpTrapMIB", "snmpTrapOID", "variables"]);
  const parts = [];
  if (a.snmpTrapName) parts.push(h("b", { class: "trap-name" }, (a.snmpTrapMIB ? a.snmpTrapMIB + "::" : "") + a.snmpTrapName), " ");
  else if (a.snmpTrapOID) parts.push(h("b", {}, a.snmpTrapOID), " ");
  for (const [k, v] of Object.entries(a)) {
    if (skip.has(k)) continue;
    parts.push(h("span", { class: "varbind" }, `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`), " ");
  }
  return h("div", { class: "attrs" }, parts);
}

function logTable(logs, id) {
  if (!logs.length) return h("p", { class: "muted", id }, "Nothing.");
  return h("table", { id, class: "logs" },
    h("thead", {}, h("tr", {}, ["Time", "Host", "Source", "Status", "Message"].map(t => h("th", {}, t)))),
    h("tbody", {}, logs.map(logRow)));
}

function logRow(l) {
  return h("tr", { "data-id": l.id },
    h("td", {}, new Date(l.timestamp).toLocaleString()), h("td", {}, l.host || l.peer || ""), h("td", {}, l.source),
    h("td", { class: "status-" + l.status }, l.status), h("td", { class: "msg" }, l.message, attributesOf(l)));
}

async function logsView(params) {
  const { devices } = await api("/api/devices").catch(() => ({ devices: [] }));
  const q = h("input", { id: "log-q", type: "search", placeholder: "search text (every word)", value: params.get("q") || "" });
  const device = h("select", { id: "log-device" }, h("option", { value: "" }, "any device"),
    devices.map(d => h("option", { value: d.id }, d.name || d.id)));
  const status = h("select", { id: "log-status" }, h("option", { value: "" }, "any status"),
    ["emergency", "alert", "critical", "error", "warn", "notice", "info"].map(s => h("option", { value: s }, s + " or worse")));
  const source = h("select", { id: "log-source" }, h("option", { value: "" }, "any source"),
    ["syslog", "snmp-traps", "nocwatch"].map(s => h("option", { value: s }, s)));
  const from = h("input", { id: "log-from", type: "datetime-local" });
  const to = h("input", { id: "log-to", type: "datetime-local" });
  const tail = h("input", { id: "log-tail", type: "checkbox", checked: true });
  const search = h("button", { id: "log-search" }, "Search");
  const holder = h("div", { id: "log-results" });
  let newest = 0, tbody = null;
  const query = () => {
    const p = new URLSearchParams();
    if (q.value.trim()) p.set("q", q.value.trim());
    if (device.value) p.set("device", device.value);
    if (status.value) p.set("status", status.value);
    if (source.value) p.set("source", source.value);
    if (from.value) p.set("from", new Date(from.value).toISOString());
    if (to.value) p.set("to", new Date(to.value).toISOString());
    return p;
  };
  async function run() {
    const p = query(); p.set("limit", "200");
    const { logs } = await api("/api/logs?" + p);
    newest = logs.length ? logs[0].id : newest;
    const table = logTable(logs, "logs-table");
    tbody = table.querySelector("tbody");
    holder.replaceChildren(h("p", { class: "muted" }, `${logs.length} shown, newest first`), table);
  }
  async function poll() {
    if (!tail.checked || to.value) return;
    const p = query(); p.set("after_id", newest); p.set("limit", "500");
    const { logs } = await api("/api/logs?" + p);
    if (!logs.length) return;
    if (!tbody) return run();
    for (const l of logs) { tbody.prepend(logRow(l)); newest = Math.max(newest, l.id); }
  }
  search.addEventListener("click", run);
  q.addEventListener("keydown", e => { if (e.key === "Enter") run(); });
  for (const el of [device, status, source, from, to]) el.addEventListener("change", run);
  view().replaceChildren(h("h1", {}, "Logs"),
    h("div", { class: "toolbar" }, q, device, status, source, "from", from, "to", to, search, h("label", {}, tail, " live tail")),
    holder);
  await run();
  timers.push(setInterval(() => poll().catch(() => {}), 2000));
}

async function nocwatchView() {
  const holder = h("div");
  let previous = null;
  async function refresh() {
    const status = await api("/api/status");
    const now = Date.now() / 1000;
    const rate = (c, key) => {
      const before = previous && previous.byId[c.kind + c.id];
      if (!before) return null;
      return (c[key] - before[key]) / Math.max(0.001, now - previous.at);
    };
    const rows = status.components.map(c => ({ ...c, key: c.kind + c.id, in_rate: rate(c, "received_events"), out_rate: rate(c, "sent_events") }));
    const columns = [
      { key: "kind", label: "Kind" }, { key: "id", label: "Id" }, { key: "type", label: "Type" }, { key: "state", label: "State" },
      { key: "in_rate", label: "In/s", num: true, cell: c => fmt.num(c.in_rate) },
      { key: "out_rate", label: "Sent/s", num: true, cell: c => c.kind === "sink" ? fmt.num(c.out_rate) : "" },
      { key: "received_events", label: "Received", num: true }, { key: "sent_events", label: "Sent", num: true },
      { key: "dropped_events", label: "Dropped", num: true, cell: c => h("span", { class: c.dropped_events ? "down" : "" }, c.dropped_events) },
      { key: "queue_events", label: "Buffered", num: true },
      { key: "last_error", label: "Last error", cell: c => h("span", { class: "error" }, c.last_error || "") },
    ];
    const s = status.store;
    const store = s ? h("div", { class: "facts", id: "store-facts" }, [
      ["File", s.path], ["On disk", (s.file_bytes / 1048576).toFixed(1) + " MiB"], ["In use", (s.used_bytes / 1048576).toFixed(1) + " MiB"],
      ["Series", s.series], ["Devices", s.devices], ["Logs", s.logs],
      ["Partitions", Object.entries(s.partitions).map(([k, v]) => `${k}: ${v}`).join(", ")],
    ].flatMap(([k, v]) => [h("span", { class: "muted" }, k), h("span", {}, v)])) : h("p", { class: "error", id: "store-facts" }, status.store_error || "store unavailable");
    holder.replaceChildren(sortableTable("components-table", columns, rows, "kind"), h("h2", {}, "Local store"), store);
    previous = { at: now, byId: Object.fromEntries(status.components.map(c => [c.kind + c.id, c])) };
  }
  view().replaceChildren(h("h1", {}, "nocwatch ", h("span", { class: "muted", id: "version" }, "")), holder);
  await refresh();
  timers.push(setInterval(() => refresh().catch(() => {}), 2000));
}

async function route() {
  timers.forEach(clearInterval); timers = [];
  const hash = location.hash.slice(1) || "/devices";
  const [path, search] = hash.split("?");
  const params = new URLSearchParams(search || "");
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", hash.startsWith(a.getAttribute("href").slice(1)));
  try {
    if (path.startsWith("/device/")) await deviceView(decodeURIComponent(path.slice(8)));
    else if (path === "/logs") await logsView(params);
    else if (path === "/nocwatch") await nocwatchView();
    else await devicesView();
    document.body.dataset.ready = path;
  } catch (e) {
    view().replaceChildren(h("p", { class: "error" }, String(e.message || e)));
    document.body.dataset.ready = "error";
  }
}

window.addEventListener("hashchange", route);
route();
