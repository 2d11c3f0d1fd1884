// The API as the apps use it: a session kept per app in localStorage
// (refreshed once at a time on 401), and a socket that reconnects by
// itself, drops duplicate events and tells the app to catch up.

import { t, has, lang } from './i18n.js';

const config = window.APP_CONFIG || {};
export const apiBase = config.http || '';

/** Where the WebSocket API is: the deployment's URL, or this origin's /ws. */
export function socketUrl() {
  if (config.ws) return config.ws;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${apiBase}/ws`;
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const error = (body && body.error) || {};
    super(error.message || (body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || String(status);
    this.field = error.field;
    // Seconds to wait, from a 429's or an in-progress 409's Retry-After.
    this.retryAfter = retryAfter;
  }
}

/** The network failed: no answer came back at all. */
export class NetworkError extends Error {}

export class Session {
  constructor(app) {
    this.key = `session:${app}`;
    this.data = JSON.parse(localStorage.getItem(this.key) || 'null');
    this.refreshing = null;
  }

  get signedIn() { return Boolean(this.data && this.data.access); }
  get caller() { return this.data && this.data.caller; }

  /** Keeps a sign-in or guest answer: access and refresh tokens, and who. */
  keep(answer, caller) {
    this.data = {
      access: answer.access_token || answer.token,
      refresh: answer.refresh_token,
      caller: caller || answer.caller,
    };
    localStorage.setItem(this.key, JSON.stringify(this.data));
  }

  forget() {
    const refresh = this.data && this.data.refresh;
    this.data = null;
    localStorage.removeItem(this.key);
    if (refresh) call('POST', '/auth/sign-out', { refresh_token: refresh }).catch(() => {});
  }

  /** A new access token for the refresh token; one refresh at a time (two would look like a stolen token). */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = call('POST', '/auth/refresh', { refresh_token: this.data.refresh })
        .then((answer) => this.keep(answer, this.data.caller))
        .finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  /** An authenticated call; a 401 refreshes the session once and retries. */
  async call(method, path, body, headers = {}) {
    if (!this.signedIn) throw new ApiError(401, null);
    try {
      return await call(method, path, body, { ...headers, Authorization: `Bearer ${this.data.access}` });
    } catch (e) {
      if (e.status !== 401 || !this.data.refresh) throw e;
      await this.refresh();
      return call(method, path, body, { ...headers, Authorization: `Bearer ${this.data.access}` });
    }
  }
}

/** One HTTP call: JSON in, JSON out, an ApiError for anything but 2xx. */
export async function call(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiBase + path, init);
  } catch (e) {
    throw new NetworkError(e.message);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) {
    const wait = Number(response.headers.get('Retry-After'));
    throw new ApiError(response.status, json, Number.isFinite(wait) && wait > 0 ? wait : undefined);
  }
  return json;
}

/** Asks for a sign-in code, then signs in with it. */
export const requestCode = (phone) => call('POST', '/auth/sign-in', { phone });
export const verifyCode = (phone, code, role) => call('POST', '/auth/sign-in/verify', { phone, code, role });

/**
 * A socket that stays up: on a drop it reconnects (1 s, doubling to 30 s),
 * calls `onOpen` so the app can catch up (`sync`, or reading its order
 * again), pings every 4 minutes (idle sockets close after 10), and hands
 * each event to `onEvent` once (by `event_id`).
 */
export class LiveSocket {
  constructor(session, { onEvent, onOpen, onState }) {
    Object.assign(this, { session, onEvent, onOpen, onState });
    this.seen = new Set();
    this.wanted = false;
    this.delay = 1000;
  }

  start() {
    this.wanted = true;
    this.connect();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.retry);
    clearInterval(this.pinger);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  connect() {
    if (!this.wanted || !this.session.signedIn) return;
    const socket = new WebSocket(`${socketUrl()}?token=${encodeURIComponent(this.session.data.access)}`);
    this.socket = socket;
    socket.onopen = () => {
      this.delay = 1000;
      this.onState && this.onState('online');
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ action: 'ping' }), 240000);
      this.onOpen && this.onOpen();
    };
    socket.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (frame.event_id) {
        if (this.seen.has(frame.event_id)) return;
        this.seen.add(frame.event_id);
      }
      this.onEvent(frame);
    };
    socket.onclose = async (closed) => {
      clearInterval(this.pinger);
      if (this.socket !== socket || !this.wanted) return;
      this.onState && this.onState('offline');
      // A refused handshake is usually an expired token: refresh first.
      if (closed.code === 1006 && this.session.data.refresh) await this.session.refresh().catch(() => {});
      this.retry = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 30000);
    };
  }
}

/** Builds an element: h('li', {class: 'x'}, 'text', child). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'text') el.textContent = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Shows one screen (a <section data-screen>) and moves focus to its heading. */
export function show(name) {
  for (const section of document.querySelectorAll('section[data-screen]')) {
    section.hidden = section.dataset.screen !== name;
  }
  document.body.dataset.view = name;
  const heading = document.querySelector(`[data-screen="${name}"] h2`);
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

/** Seconds left until `deadlineMs`, never below zero. */
export const secondsLeft = (deadlineMs) => Math.max(0, Math.ceil((deadlineMs - Date.now()) / 1000));

/** Paisa as Taka: 9600 -> "৳96.00". */
export const taka = (paisa) => `৳${pageDigits((Number(paisa || 0) / 100).toFixed(2))}`;

/** "House 12, Road 5, Gulshan (near the mosque) — ring twice" from an address. */
export function addressText(address) {
  if (!address) return '';
  const place = ['house', 'road', 'area'].map((part) => address[part]).filter(Boolean).join(', ');
  return [place, address.landmark ? `(${address.landmark})` : '', address.note ? `— ${address.note}` : '']
    .filter(Boolean).join(' ');
}

/** Text typed with Bangla digits, in Latin digits ("১৪০" -> "140"). */
export const latinDigits = (text) => String(text).replace(/[০-৯]/g, (d) => String(d.charCodeAt(0) - 0x09e6));

/** Latin digits as the page's language writes them. */
export const pageDigits = (text) => (lang === 'bn' ? String(text).replace(/[0-9]/g, (d) => String.fromCharCode(0x09e6 + Number(d))) : String(text));

/** "1.2 kg" from {amount, unit}; "১.২ কেজি" in Bangla. */
/** A unit as the page writes it ("কেজি" on a Bangla page); the API reads it back. */
export const unitName = (unit) => (has(`unit_${unit}`) ? t(`unit_${unit}`) : unit);

export const quantity = (q) => (q ? `${pageDigits(q.amount)} ${unitName(q.unit)}` : '');

/** An item's name in the page's language: the catalogue's Bangla name on a Bangla page, when the server sent one. */
export const itemName = (item) => (lang === 'bn' && item.name_bn) || item.name;

/** A demand line as the page says it: "চাল ১.২ কেজি", "rice 1.2 kg". */
export const itemText = (item) => `${itemName(item)} ${quantity(item.quantity)}`.trim();

/**
 * A packing line's item as the page says it: on a Bangla page, built from
 * the order's own line ("চাল ১.২ কেজি"); else the server's text.
 */
export const lineItem = (items, line) => {
  const item = lang === 'bn' && items && items[line.line];
  return item ? itemText(item) : line.item;
};

/** What a store reported on a line beyond its state: what it packed instead, how much, for how much. */
export const reportText = (line) => [line.name, quantity(line.quantity), line.name && line.price != null ? taka(line.price) : ''].filter(Boolean).join(' ');

/** reportText beside a line's state, where the store reported more than a state: " (0.5 kg)". */
export const reportNote = (line) => (line.quantity || line.name ? h('span', { class: 'muted', text: ` (${reportText(line)})` }) : null);

/** A place on a map, for a person to open. */
export const mapUrl = ({ lat, lng }) => `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lng}#map=18/${lat}/${lng}`;

/**
 * What went wrong, for a person in the page's language: the error's code
 * where the apps know it (with the wait of a limit), a dropped network, or
 * the server's own words.
 */
export function sayProblem(error) {
  if (error instanceof NetworkError) return t('err_network');
  const wait = waitText(error.retryAfter);
  if (error.code && has(`err_${error.code}`)) return `${t(`err_${error.code}`)}${wait ? ` ${wait}` : ''}`;
  return t('error', { message: error.message || String(error) });
}

/** "Try again in 2 minutes." for a Retry-After of `seconds`, or nothing. */
function waitText(seconds) {
  if (!seconds) return '';
  if (seconds >= 3600) return t('err_wait_h', { n: Math.ceil(seconds / 3600) });
  if (seconds >= 60) return t('err_wait_min', { n: Math.ceil(seconds / 60) });
  return t('err_wait_s', { n: seconds });
}

/** Shows `error` in the page's `#problem` box, in view, or hides the box. */
export function problem(error) {
  const box = document.getElementById('problem');
  if (!error) { box.hidden = true; return; }
  box.textContent = sayProblem(error);
  box.hidden = false;
  // A refusal of a form low on the page is shown where the person looks.
  box.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

/** Runs `action`, showing what went wrong in the page instead of throwing. */
export async function guarded(action) {
  problem(null);
  try { await action(); } catch (e) { problem(e); }
}

/**
 * The page's sign-in forms (`#phone`, `#code` in `#phone-form` and
 * `#code-form`): a code by SMS, then a session in `role` kept in `session`,
 * then `onSignedIn`.
 */
export function wireSignIn(session, role, onSignedIn) {
  const $ = (id) => document.getElementById(id);
  $('phone-form').addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(async () => {
      await requestCode($('phone').value.trim());
      $('code-form').hidden = false;
      $('code').focus();
    });
  });
  $('code-form').addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(async () => {
      session.keep(await verifyCode($('phone').value.trim(), $('code').value.trim(), role));
      await onSignedIn();
    });
  });
}
