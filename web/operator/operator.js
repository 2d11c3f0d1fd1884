// The operator console: plain ES module, no framework. Reads the API's
// address from window.APP_CONFIG (served as /app/config.js); draws H3
// cells from the corners the API sends, so no map tiles and no H3 library.

const config = window.APP_CONFIG ?? {};
// `http` is the API's path on this origin (the stage prefix on AWS, empty locally).
const API = `${window.location.origin}${config.http ?? ""}`.replace(/\/$/, "");
const POLL_MS = 5000;
const WINDOW_MS = 15 * 60 * 1000;
// Re-ask a little before the last answer's time: a write in flight then
// is not missed; events are de-duplicated below.
const OVERLAP_MS = 10 * 1000;
const KINDS = ["demand", "offer", "accepted", "unfulfilled"];
const LETTER = { demand: "D", offer: "O", accepted: "A", unfulfilled: "U" };

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("operatorToken");
let pollTimer = null;

// ---- API -------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (response.status === 401) signOut("Your session ended; sign in again.");
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// ---- Formatting --------------------------------------------------------------

const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const hour = (ms) => new Date(ms).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const duration = (ms) => {
  if (ms === null || ms === undefined) return "–";
  if (ms < 60000) return `${Math.round(ms / 1000)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
};
const percent = (rate) => (rate === null || rate === undefined ? "–" : `${Math.round(rate * 100)} %`);
const shortCell = (cell) => cell.slice(0, 9) + "…";
const storeCount = (n) => `${n} ${n === 1 ? "store" : "stores"}`;

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

function signedIn(newToken) {
  token = newToken;
  sessionStorage.setItem("operatorToken", token);
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = "Signed in as an operator.";
  startPolling();
  loadFigures();
  loadStores();
  // A link to the console may name an order: #order=<id>.
  const linked = new URLSearchParams(window.location.hash.slice(1)).get("order");
  if (linked) showAudit(linked);
}

function signOut(message = "") {
  token = null;
  sessionStorage.removeItem("operatorToken");
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
    await api("POST", "/auth/sign-in", { phone: $("phone").value });
    $("verify-form").hidden = false;
    $("code").focus();
    status("sign-in-status", "A code was sent by text message.");
  } catch (e) {
    status("sign-in-status", e.message, true);
  }
});

$("verify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const session = await api("POST", "/auth/sign-in/verify", {
      phone: $("phone").value,
      code: $("code").value,
      role: "operator",
    });
    signedIn(session.access_token);
  } catch (e) {
    status("sign-in-status", e.code === "role_not_held" ? "This number is not an operator." : e.message, true);
  }
});

// The local stack keeps the last text per number at /dev/sms (never on AWS).
$("dev-code").addEventListener("click", async () => {
  try {
    const response = await fetch(`${API}/dev/sms/${encodeURIComponent($("phone").value)}`);
    if (!response.ok) throw new Error("no text found (only the local stack has one)");
    const { text } = await response.json();
    $("code").value = (text.match(/\b\d{6}\b/) ?? [""])[0];
    $("code").focus();
  } catch (e) {
    status("sign-in-status", e.message, true);
  }
});

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signedIn($("token").value.trim());
});

$("sign-out").addEventListener("click", () => signOut("Signed out."));

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
    $("map-summary").textContent = `Activity could not be read: ${e.message}`;
  } finally {
    if (token) pollTimer = setTimeout(poll, POLL_MS);
  }
}

function startPolling() {
  clearTimeout(pollTimer);
  since = null;
  seen.clear();
  poll();
}

function drawMap(now) {
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
    $("map-summary").textContent = "No activity in the last 15 minutes.";
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
    const total = KINDS.filter((kind) => counts[kind]).map((kind) => `${counts[kind]} ${kind}`).join(", ");
    title.textContent = `Cell ${cell}: ${total}; latest ${latest.kind} at ${time(latest.at_ms)}`;
    polygon.append(title);
    group.append(polygon);
    const [cx, cy] = project(shape.center);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", cx);
    label.setAttribute("y", cy);
    label.setAttribute("class", "cell-label");
    label.textContent = busiest.has(cell)
      ? `${LETTER[latest.kind]} ${Object.values(counts).reduce((a, b) => a + b, 0)}`
      : LETTER[latest.kind];
    group.append(label);
    svg.append(group);
  }
  const totals = KINDS.map((kind) => `${[...seen.values()].filter((e) => e.kind === kind).length} ${kind}`);
  $("map-summary").textContent = `${drawn.length} cells active until ${time(now)}: ${totals.join(", ")}.`;
}

function listEvents(fresh) {
  const list = $("events");
  for (const event of fresh.sort((a, b) => a.at_ms - b.at_ms)) {
    const item = document.createElement("li");
    const badge = document.createElement("span");
    badge.className = `swatch ${event.kind}`;
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = LETTER[event.kind];
    const text = document.createElement("span");
    const stores = event.stores ? ` to ${storeCount(event.stores)}` : "";
    text.textContent = `${time(event.at_ms)} ${event.kind}${stores} in cell ${shortCell(event.cell)} `;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = "trail";
    open.setAttribute("aria-label", `Audit trail of order ${event.order_id}`);
    open.addEventListener("click", () => showAudit(event.order_id));
    item.append(badge, text, open);
    list.prepend(item);
  }
  while (list.children.length > 30) list.lastElementChild.remove();
}

// ---- Figures -----------------------------------------------------------------

async function loadFigures() {
  const hours = Number($("figures-hours").value);
  const to = Date.now();
  const body = $("figures").tBodies[0];
  try {
    const answer = await api("GET", `/operator/figures?from=${to - hours * 3600000}&to=${to}`);
    body.replaceChildren();
    $("promise").textContent = Math.round(answer.promised_fulfilment_ms / 60000);
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
    const note = answer.truncated ? " (too many orders: showing the first; pick a shorter span)" : "";
    status("figures-status", `${answer.rows.length} rows${note}.`);
  } catch (e) {
    status("figures-status", e.message, true);
  }
}

$("figures-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadFigures();
});

// ---- Audit trail -------------------------------------------------------------

function who(by) {
  return by.role === "timer" ? "round timer" : `${by.role} ${by.id}`;
}

function what(entry) {
  switch (entry.kind) {
    case "placed":
      return entry.offered_to ? `placed, offered to ${storeCount(entry.offered_to)}` : "placed, no store nearby";
    case "round_closed":
      return entry.offered_to
        ? `round ${entry.round} expired, offered to ${storeCount(entry.offered_to)} more`
        : `round ${entry.round} expired, no store left`;
    case "given_back":
      return entry.offered_to ? `given back, offered to ${storeCount(entry.offered_to)}` : "given back, no store left";
    case "packed":
      return `line ${entry.line + 1}: ${entry.packing.replaceAll("_", " ")}`;
    case "line_dropped":
      return `line ${entry.line + 1} dropped`;
    case "substitute_answered":
      return `line ${entry.line + 1}: substitute ${entry.accepted ? "taken" : "refused"}`;
    case "delivery_chosen":
      return `delivery chosen: ${entry.delivery.replaceAll("_", " ")}`;
    case "reviewed":
      return `reviewed: ${entry.stars} stars`;
    default:
      return entry.kind.replaceAll("_", " ");
  }
}

async function showAudit(orderId) {
  $("order-id").value = orderId;
  history.replaceState(null, "", `#order=${encodeURIComponent(orderId.trim())}`);
  const table = $("audit");
  const body = table.tBodies[0];
  try {
    const answer = await api("GET", `/operator/orders/${encodeURIComponent(orderId.trim())}/audit`);
    body.replaceChildren();
    for (const entry of answer.entries) {
      cells(body, [String(entry.version), time(entry.at_ms), who(entry.by), what(entry), entry.status.replaceAll("_", " ")]);
    }
    table.hidden = false;
    status("audit-status", `Order ${answer.order_id}, placed ${hour(answer.placed_at_ms)}, now ${answer.status.replaceAll("_", " ")}.`);
    $("audit-title").scrollIntoView({ block: "start" });
  } catch (e) {
    table.hidden = true;
    status("audit-status", e.status === 404 ? "No such order." : e.message, true);
  }
}

$("audit-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showAudit($("order-id").value);
});

// ---- Stores awaiting approval ------------------------------------------------

// `note` (what was just done) stays in the status line above the count.
async function loadStores(note = "") {
  const list = $("stores");
  try {
    const answer = await api("GET", "/operator/stores?status=pending");
    list.replaceChildren();
    for (const application of answer.applications) {
      const item = document.createElement("li");
      const name = document.createElement("h3");
      name.textContent = application.store.name;
      const details = document.createElement("p");
      details.textContent = `${application.store.category} · call ${application.phone} · applied ${hour(application.applied_at_ms)}`;
      const approve = document.createElement("button");
      approve.type = "button";
      approve.textContent = `Approve ${application.store.name}`;
      approve.addEventListener("click", async () => {
        approve.disabled = true;
        try {
          await api("POST", `/operator/stores/${encodeURIComponent(application.store.id)}/approve`);
          // The button leaves with its card: focus goes to the list's heading.
          $("stores-title").focus();
          await loadStores(`${application.store.name} approved.`);
        } catch (e) {
          approve.disabled = false;
          status("stores-status", e.message, true);
        }
      });
      item.append(name, details, approve);
      list.append(item);
    }
    const count = answer.applications.length;
    const waiting = count === 0 ? "No store is waiting." : `${storeCount(count)} waiting.`;
    status("stores-status", note ? `${note} ${waiting}` : waiting);
  } catch (e) {
    status("stores-status", e.message, true);
  }
}

$("stores-refresh").addEventListener("click", () => loadStores());

if (token) signedIn(token);
