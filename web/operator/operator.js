// The operator console: plain ES module, no framework. Calls the API and
// keeps its session with web/common/client.js (the API's address from
// window.APP_CONFIG, served as /app/config.js; a 401 refreshes the session
// once), speaks Bangla or English with web/common/i18n.js, and draws H3
// cells from the corners the API sends, so no map tiles and no H3 library.

import { Session, apiBase, mapUrl, requestCode, verifyCode } from "../common/client.js";
import { addStrings, has, lang, t, toggleLanguage, translate } from "../common/i18n.js";
import { STRINGS } from "./strings.js";

addStrings(STRINGS);

const POLL_MS = 5000;
const WINDOW_MS = 15 * 60 * 1000;
// Re-ask a little before the last answer's time: a write in flight then
// is not missed; events are de-duplicated below.
const OVERLAP_MS = 10 * 1000;
const KINDS = ["demand", "offer", "accepted", "unfulfilled"];

const $ = (id) => document.getElementById(id);
const session = new Session("operator");
let pollTimer = null;

// ---- API -------------------------------------------------------------------

/** An operator's call; a session that cannot be refreshed signs out. */
async function api(method, path, body) {
  try {
    return await session.call(method, path, body, { Accept: "application/json" });
  } catch (e) {
    if (e.status === 401) signOut(t("session_ended"));
    throw e;
  }
}

// ---- Formatting --------------------------------------------------------------

// Dates and numbers in the page's language (Bangla digits in Bangla).
const locale = () => (lang === "bn" ? "bn-BD" : undefined);
const time = (ms) =>
  new Date(ms).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const hour = (ms) =>
  new Date(ms).toLocaleString(locale(), { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const duration = (ms) => {
  if (ms === null || ms === undefined) return "–";
  if (ms < 60000) return t("seconds", { n: Math.round(ms / 1000) });
  return t("minutes", { n: Number((ms / 60000).toFixed(1)) });
};
const percent = (rate) =>
  rate === null || rate === undefined ? "–" : `${Math.round(rate * 100).toLocaleString(locale())} %`;
const shortCell = (cell) => cell.slice(0, 9) + "…";
/** "1 store", "2 stores": `one` and `many` name texts with {n}. */
const count = (n, one, many) => t(n === 1 ? one : many, { n });
const storeCount = (n) => count(n, "one_store", "many_stores");
/** The page's word for an API value (`prefix_value`), or the value itself. */
const word = (prefix, value) => (has(`${prefix}_${value}`) ? t(`${prefix}_${value}`) : value.replaceAll("_", " "));

function cells(row, values) {
  const tr = document.createElement("tr");
  values.forEach((value, i) => {
    const cell = document.createElement(i === 0 ? "th" : "td");
    if (i === 0) cell.scope = "row";
    cell.textContent = value;
    tr.append(cell);
  });
  row.append(tr);
  return tr;
}

function status(id, text, isError = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// ---- Sign-in -----------------------------------------------------------------

function signedIn() {
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = t("signed_in_operator");
  startPolling();
  loadFigures();
  loadStores();
  // A link to the console may name an order: #order=<id>.
  const linked = new URLSearchParams(window.location.hash.slice(1)).get("order");
  if (linked) showAudit(linked);
}

function signOut(message = "") {
  session.forget();
  clearTimeout(pollTimer);
  $("sign-in").hidden = false;
  $("console").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  status("sign-in-status", message);
}

$("code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await requestCode($("phone").value);
    $("verify-form").hidden = false;
    $("code").focus();
    status("sign-in-status", t("code_sent_text"));
  } catch (e) {
    status("sign-in-status", e.message, true);
  }
});

$("verify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    session.keep(await verifyCode($("phone").value, $("code").value, "operator"));
    signedIn();
  } catch (e) {
    status("sign-in-status", e.code === "role_not_held" ? t("not_operator") : e.message, true);
  }
});

// The local stack keeps the last text per number at /dev/sms (never on AWS).
$("dev-code").addEventListener("click", async () => {
  try {
    const response = await fetch(`${apiBase}/dev/sms/${encodeURIComponent($("phone").value)}`);
    if (!response.ok) throw new Error(t("no_dev_text"));
    const { text } = await response.json();
    $("code").value = (text.match(/\b\d{6}\b/) ?? [""])[0];
    $("code").focus();
  } catch (e) {
    status("sign-in-status", e.message, true);
  }
});

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  // A pasted token has no refresh token: when it expires, sign in again.
  session.keep({ access_token: $("token").value.trim() }, { kind: "operator" });
  signedIn();
});

$("sign-out").addEventListener("click", () => signOut(t("signed_out")));

// ---- Live map ----------------------------------------------------------------

const seen = new Map(); // event key -> event
const shapes = new Map(); // cell -> { center, boundary }
let since = null;

async function poll() {
  try {
    const from = since === null ? Date.now() - WINDOW_MS : since - OVERLAP_MS;
    const answer = await api("GET", `/operator/activity?since=${Math.max(0, Math.floor(from))}`);
    for (const shape of answer.cells) shapes.set(shape.cell, shape);
    const fresh = [];
    for (const event of answer.events) {
      const key = `${event.order_id}|${event.kind}|${event.at_ms}`;
      if (!seen.has(key)) {
        seen.set(key, event);
        fresh.push(event);
      }
    }
    since = answer.now_ms;
    for (const [key, event] of seen) if (event.at_ms < since - WINDOW_MS) seen.delete(key);
    drawMap(since);
    listEvents(fresh);
  } catch (e) {
    $("map-summary").textContent = t("activity_unreadable", { error: e.message });
  } finally {
    if (session.signedIn) pollTimer = setTimeout(poll, POLL_MS);
  }
}

function startPolling() {
  clearTimeout(pollTimer);
  since = null;
  seen.clear();
  poll();
}

function drawMap(now = since) {
  const svg = $("map");
  svg.replaceChildren();
  const perCell = new Map();
  for (const event of seen.values()) {
    const entry = perCell.get(event.cell) ?? { counts: {}, latest: event };
    entry.counts[event.kind] = (entry.counts[event.kind] ?? 0) + 1;
    if (event.at_ms >= entry.latest.at_ms) entry.latest = event;
    perCell.set(event.cell, entry);
  }
  const drawn = [...perCell.keys()].filter((c) => shapes.has(c));
  if (drawn.length === 0) {
    $("map-summary").textContent = t(now === null ? "no_activity_yet" : "no_activity");
    return;
  }
  // Equirectangular projection around the cells' mean latitude, fitted
  // to the 360 × 360 view with a margin.
  const points = drawn.flatMap((c) => shapes.get(c).boundary);
  const meanLat = points.reduce((s, p) => s + p[0], 0) / points.length;
  const k = Math.cos((meanLat * Math.PI) / 180);
  const xs = points.map((p) => p[1] * k);
  const ys = points.map((p) => -p[0]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(maxX - minX, maxY - minY, 0.01);
  const scale = 320 / span;
  const project = ([lat, lng]) => [
    20 + (lng * k - minX) * scale + (320 - (maxX - minX) * scale) / 2,
    20 + (-lat - minY) * scale + (320 - (maxY - minY) * scale) / 2,
  ];
  const ns = "http://www.w3.org/2000/svg";
  // The busiest cells get a label with their count; the rest a letter.
  const busiest = new Set(
    drawn
      .map((c) => [c, Object.values(perCell.get(c).counts).reduce((a, b) => a + b, 0)])
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([c]) => c),
  );
  for (const cell of drawn) {
    const { counts, latest } = perCell.get(cell);
    const shape = shapes.get(cell);
    const group = document.createElementNS(ns, "g");
    const polygon = document.createElementNS(ns, "polygon");
    polygon.setAttribute("points", shape.boundary.map((p) => project(p).join(",")).join(" "));
    polygon.setAttribute("class", `cell ${latest.kind}`);
    polygon.dataset.cell = cell;
    const title = document.createElementNS(ns, "title");
    const total = KINDS.filter((kind) => counts[kind])
      .map((kind) => `${counts[kind].toLocaleString(locale())} ${t(`kind_${kind}`)}`)
      .join(", ");
    title.textContent = t("cell_title", { cell, counts: total, kind: t(`kind_${latest.kind}`), time: time(latest.at_ms) });
    polygon.append(title);
    group.append(polygon);
    const [cx, cy] = project(shape.center);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", cx);
    label.setAttribute("y", cy);
    label.setAttribute("class", "cell-label");
    const letter = t(`letter_${latest.kind}`);
    const sum = Object.values(counts).reduce((a, b) => a + b, 0);
    label.textContent = busiest.has(cell) ? `${letter} ${sum.toLocaleString(locale())}` : letter;
    group.append(label);
    svg.append(group);
  }
  const totals = Object.fromEntries(KINDS.map((kind) => [kind, [...seen.values()].filter((e) => e.kind === kind).length]));
  $("map-summary").textContent = t("map_summary", {
    cells: count(drawn.length, "one_cell", "many_cells"),
    time: time(now),
    ...totals,
  });
}

function listEvents(fresh) {
  const list = $("events");
  for (const event of fresh.sort((a, b) => a.at_ms - b.at_ms)) {
    const item = document.createElement("li");
    const badge = document.createElement("span");
    badge.className = `swatch ${event.kind}`;
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = t(`letter_${event.kind}`);
    const text = document.createElement("span");
    text.className = "event-text";
    const what = event.stores ? t("offer_to", { stores: storeCount(event.stores) }) : t(`kind_${event.kind}`);
    text.textContent = t("event_line", { time: time(event.at_ms), what, cell: shortCell(event.cell) });
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = t("trail");
    open.setAttribute("aria-label", t("trail_label", { id: event.order_id }));
    open.addEventListener("click", () => showAudit(event.order_id));
    item.append(badge, text, open);
    list.prepend(item);
  }
  while (list.children.length > 30) list.lastElementChild.remove();
}

// ---- Figures -----------------------------------------------------------------

let promisedMinutes = 30;
const figuresHint = () => {
  $("figures-hint").textContent = t("figures_hint", { min: promisedMinutes });
};

// The last answers read, so a language switch redraws without reading again.
let figuresAnswer = null;
let storesAnswer = null;
let storesNote = "";
let auditAnswer = null;

async function loadFigures() {
  const hours = Number($("figures-hours").value);
  const to = Date.now();
  try {
    figuresAnswer = await api("GET", `/operator/figures?from=${to - hours * 3600000}&to=${to}`);
    drawFigures();
  } catch (e) {
    status("figures-status", e.message, true);
  }
}

function drawFigures() {
  const answer = figuresAnswer;
  if (!answer) return;
  const body = $("figures").tBodies[0];
  body.replaceChildren();
  promisedMinutes = Math.round(answer.promised_fulfilment_ms / 60000);
  figuresHint();
  for (const row of [...answer.rows].reverse()) {
    const tr = cells(body, [
      hour(row.hour_start_ms),
      shortCell(row.area),
      String(row.orders),
      duration(row.accept_p50_ms),
      duration(row.accept_p90_ms),
      percent(row.acceptance_rate),
      percent(row.unfulfilled_rate),
      duration(row.average_fulfilment_ms),
    ]);
    tr.children[1].title = row.area;
    if (row.average_fulfilment_ms > answer.promised_fulfilment_ms) tr.children[7].classList.add("late");
  }
  const rows = count(answer.rows.length, "one_row", "many_rows");
  status("figures-status", t(answer.truncated ? "figures_truncated" : "figures_rows", { rows }));
}

$("figures-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadFigures();
});

// ---- Audit trail -------------------------------------------------------------

function who(by) {
  return t(`role_${by.role}`, { id: by.id });
}

function what(entry) {
  const stores = storeCount(entry.offered_to);
  const line = entry.line + 1;
  switch (entry.kind) {
    case "placed":
      return t(entry.offered_to ? "what_placed" : "what_placed_alone", { stores });
    case "round_closed":
      return t(entry.offered_to ? "what_round_closed" : "what_round_closed_last", { round: entry.round, stores });
    case "given_back":
      return t(entry.offered_to ? "what_given_back" : "what_given_back_last", { stores });
    case "packed":
      return t("what_packed", { line, packing: word("packing", entry.packing) });
    case "line_dropped":
      return t("what_line_dropped", { line });
    case "substitute_answered":
      return t(entry.accepted ? "what_substitute_taken" : "what_substitute_refused", { line });
    case "delivery_chosen":
      return t("what_delivery_chosen", { delivery: word("store", entry.delivery) });
    case "reviewed":
      return t("what_reviewed", { stars: entry.stars });
    default:
      return word("what", entry.kind);
  }
}

async function showAudit(orderId, { scroll = true } = {}) {
  $("order-id").value = orderId;
  history.replaceState(null, "", `#order=${encodeURIComponent(orderId.trim())}`);
  try {
    auditAnswer = await api("GET", `/operator/orders/${encodeURIComponent(orderId.trim())}/audit`);
    drawAudit();
    if (scroll) $("audit-title").scrollIntoView({ block: "start" });
  } catch (e) {
    $("audit").hidden = true;
    auditAnswer = null;
    status("audit-status", e.status === 404 ? t("no_such_order") : e.message, true);
  }
}

function drawAudit() {
  const answer = auditAnswer;
  if (!answer) return;
  const table = $("audit");
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const entry of answer.entries) {
    // What happened first, who last: on a phone the long ids scroll off.
    cells(body, [entry.version.toLocaleString(locale()), time(entry.at_ms), what(entry), word("status", entry.status), who(entry.by)]);
  }
  table.hidden = false;
  status(
    "audit-status",
    t("audit_status", { id: answer.order_id, when: hour(answer.placed_at_ms), status: word("status", answer.status) }),
  );
}

$("audit-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showAudit($("order-id").value);
});

// ---- Stores awaiting approval ------------------------------------------------

// `note` (what was just done) stays in the status line above the count.
async function loadStores(note = "") {
  try {
    storesAnswer = await api("GET", "/operator/stores?status=pending");
    storesNote = note;
    drawStores();
  } catch (e) {
    status("stores-status", e.message, true);
  }
}

function drawStores() {
  const answer = storesAnswer;
  if (!answer) return;
  const list = $("stores");
  list.replaceChildren();
  for (const application of answer.applications) {
    const item = document.createElement("li");
    const name = document.createElement("h3");
    name.textContent = application.store.name;
    const details = document.createElement("p");
    details.textContent = t("store_details", {
      category: application.store.category,
      phone: application.phone,
      when: hour(application.applied_at_ms),
    });
    // What it sells and where, so an operator approves knowing both.
    const sells = document.createElement("p");
    sells.className = "store-sells";
    sells.textContent = t("store_sells", { tags: (application.store.tags || []).join(", ") || "–" });
    const { lat, lng } = application.store.location;
    const place = document.createElement("a");
    place.className = "store-place";
    place.href = mapUrl(application.store.location);
    place.target = "_blank";
    place.rel = "noopener";
    place.textContent = t("store_place", { lat: lat.toFixed(5), lng: lng.toFixed(5) });
    const approve = document.createElement("button");
    approve.type = "button";
    approve.textContent = t("approve", { name: application.store.name });
    approve.addEventListener("click", async () => {
      approve.disabled = true;
      try {
        await api("POST", `/operator/stores/${encodeURIComponent(application.store.id)}/approve`);
        // The button leaves with its card: focus goes to the list's heading.
        $("stores-title").focus();
        await loadStores(t("approved", { name: application.store.name }));
      } catch (e) {
        approve.disabled = false;
        status("stores-status", e.message, true);
      }
    });
    const where = document.createElement("p");
    where.append(place);
    item.append(name, details, sells, where, approve);
    list.append(item);
  }
  const n = answer.applications.length;
  const waiting = n === 0 ? t("no_store_waiting") : t("stores_waiting", { stores: storeCount(n) });
  status("stores-status", storesNote ? `${storesNote} ${waiting}` : waiting);
}

$("stores-refresh").addEventListener("click", () => loadStores());

// ---- Language ----------------------------------------------------------------

/** Writes every text in the current language: the marked ones, and what
 * the script wrote (redrawn from what it last read). */
function translateAll() {
  translate();
  document.title = t("operator_title");
  figuresHint();
  if (!session.signedIn) return;
  $("who").textContent = t("signed_in_operator");
  drawMap();
  $("events").replaceChildren();
  listEvents([...seen.values()]);
  drawFigures();
  // What was just done was said in the other language: only the count.
  storesNote = "";
  drawStores();
  drawAudit();
}

$("lang").addEventListener("click", () => {
  toggleLanguage();
  translateAll();
});

translateAll();
if (session.signedIn) signedIn();
