// The store app: sign in with the approved number, go online (the socket
// is open and the store is open for orders), hear and see each offer with
// its 60-second countdown, accept or decline, then pack line by line, hand
// over and complete; the store's history and rating.

import { Session, LiveSocket, h, show, guarded, problem, wireSignIn, secondsLeft, taka, addressText, latinDigits, pageDigits, itemName, itemText, lineItem, reportNote, unitName } from '../common/client.js';
import { t, translate, toggleLanguage } from '../common/i18n.js';

const session = new Session('store');
const $ = (id) => document.getElementById(id);
let store = null; // the store's profile
const offers = new Map(); // order id -> {offer, state}
const orders = new Map(); // order id -> the store's view of a won order
let pastOrders = []; // the store's last orders, as listed
let wakeLock = null;
let ticker = null;

const storeId = () => session.caller && session.caller.id;

const socket = new LiveSocket(session, {
  onEvent,
  // After every (re)connect: every open offer again.
  onOpen: () => socket.send({ action: 'sync' }),
  onState: (state) => { $('status').textContent = state === 'offline' ? t('reconnecting') : ''; },
});

// ---- signing in ----------------------------------------------------------

wireSignIn(session, 'store', () => start());

$('sign-out').addEventListener('click', () => guarded(async () => {
  if (store && store.open) await setOnline(false);
  session.forget();
  show('signin');
}));

// ---- online and offline --------------------------------------------------

async function setOnline(online) {
  store = await session.call('PATCH', `/stores/${storeId()}`, { open: online });
  if (online) {
    socket.start();
    soundReady();
    await keepAwake();
  } else {
    socket.stop();
    if (wakeLock) wakeLock.release().catch(() => {});
    wakeLock = null;
  }
  showStore();
}

/** Keeps the screen on while online, where the browser allows it. */
async function keepAwake() {
  if (!('wakeLock' in navigator)) return;
  try {
    wakeLock = await navigator.wakeLock.request('screen');
    $('wake-note').hidden = false;
  } catch { wakeLock = null; }
}
// A wake lock ends when the page is hidden; take it again on return.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && store && store.open) keepAwake();
});

$('online').addEventListener('click', () => guarded(() => setOnline(!(store && store.open))));

function showStore() {
  $('store-name').textContent = store.name;
  const stats = store.stats || {};
  const stars = stats.rating_count ? (stats.rating_sum / stats.rating_count).toFixed(1) : '–';
  $('rating').textContent = t('rating_value', { stars: pageDigits(stars), n: stats.rating_count || 0 });
  const online = Boolean(store.open);
  $('online-state').textContent = online ? t('online') : t('offline');
  $('online').textContent = online ? t('go_offline') : t('go_online');
  $('online').setAttribute('aria-pressed', String(online));
}

// ---- offers --------------------------------------------------------------

function onEvent(frame) {
  switch (frame.type) {
    case 'offer': {
      const known = offers.get(frame.order_id);
      // A card that ended opens again only for a later round (a give-back);
      // a late copy of the same round's offer leaves it as it ended.
      if (!known || (known.state !== 'open' && frame.offer.round > known.offer.round)) {
        offers.set(frame.order_id, { offer: frame.offer, state: 'open' });
        if (!known) announce(frame.offer);
      } else if (known.state === 'open' && frame.offer.version > known.offer.version) {
        // The same offer, changed while open (the customer chose a kind
        // of delivery): the card says so, without ringing again.
        known.offer = frame.offer;
      }
      break;
    }
    case 'offer_taken':
    case 'offer_expired':
    case 'offer_withdrawn':
      // An offer this store declined stays "declined".
      if (offers.has(frame.order_id) && offers.get(frame.order_id).state === 'open') offers.get(frame.order_id).state = frame.type;
      break;
    case 'offer_won':
      offers.delete(frame.order_id);
      loadOrder(frame.order_id);
      break;
    case 'store_order_updated':
      keepOrder(frame.order);
      break;
    case 'error':
      problem(Object.assign(new Error(frame.message), { code: frame.code }));
      break;
    default:
      return;
  }
  render();
}

// One sound for every offer. A browser lets it play only after a tap on
// the page (a saved sign-in opens the app without one): until then a
// notice asks for that tap.
let audio = null;
function soundReady() {
  try { audio = audio || new AudioContext(); } catch { return; }
  $('sound-off').hidden = audio.state !== 'suspended';
}
// A tap counts for sound where it ends (touchend, click), not where it starts.
for (const gesture of ['click', 'touchend', 'keydown']) {
  document.addEventListener(gesture, () => {
    if (audio && audio.state === 'suspended') audio.resume().then(soundReady, () => {});
  }, { capture: true });
}

/** Rings and says the offer aloud in the store's language. */
function announce(offer) {
  try {
    soundReady();
    for (const at of [0, 0.35]) {
      const tone = audio.createOscillator();
      tone.frequency.value = 880;
      tone.connect(audio.destination);
      tone.start(audio.currentTime + at);
      tone.stop(audio.currentTime + at + 0.2);
    }
  } catch { /* no audio: the card still shows */ }
  if ('speechSynthesis' in window) {
    const words = new SpeechSynthesisUtterance(offer.speak);
    words.lang = store && store.language === 'bn' ? 'bn-BD' : 'en-IN';
    window.speechSynthesis.speak(words);
  }
}

function offerCard([orderId, { offer, state }]) {
  const open = state === 'open';
  return h('article', { class: `card${open ? ' ringing' : ''}`, 'data-offer': orderId, 'data-state': state, 'aria-label': t('new_offer') },
    h('h4', { text: t('new_offer') }),
    h('ul', { class: 'plain' }, offer.items.map((i) => h('li', { text: itemText(i) }))),
    h('p', { class: 'muted', text: t('distance', { m: offer.distance_m }) }),
    offer.delivery ? h('p', { class: 'terms', text: t('delivery_terms', { kind: t(`store_${offer.delivery}`) }) }) : null,
    offer.promised_price ? h('p', { class: 'terms promised', text: t('promised_price', { price: taka(offer.promised_price) }) }) : null,
    open
      ? [h('p', {}, h('span', { class: 'countdown', 'aria-hidden': 'true', 'data-deadline': offer.deadline_ms, text: pageDigits(secondsLeft(offer.deadline_ms)) })),
        h('div', { class: 'row' },
          h('button', { type: 'button', text: t('accept'), onclick: () => accept(orderId) }),
          h('button', { type: 'button', class: 'danger', text: t('decline'), onclick: () => decline(orderId) }))]
      : h('p', { class: 'notice', text: t(state) }));
}

function accept(orderId) {
  guarded(async () => {
    try {
      await session.call('POST', `/orders/${orderId}/accept`);
    } catch (e) {
      if (['offer_taken', 'offer_expired', 'order_cancelled'].includes(e.code)) {
        offers.get(orderId).state = e.code === 'order_cancelled' ? 'offer_withdrawn' : e.code;
        render();
        return;
      }
      throw e;
    }
    offers.delete(orderId);
    await loadOrder(orderId);
  });
}

function decline(orderId) {
  guarded(async () => {
    await session.call('POST', `/orders/${orderId}/decline`);
    offers.get(orderId).state = 'offer_declined';
    render();
  });
}

// ---- won orders: packing, hand-over, completion ---------------------------

async function loadOrder(orderId) {
  await guarded(async () => {
    orders.set(orderId, await session.call('GET', `/orders/${orderId}`));
    render();
  });
}

async function step(orderId, action, body) {
  await guarded(async () => {
    keepOrder(await session.call('POST', `/orders/${orderId}/${action}`, body));
    render();
  });
}

/**
 * A won order stays on the working list while there is work on it; once
 * done with, it leaves for the history below (reloaded with the rating,
 * which a completion moves).
 */
function keepOrder(order) {
  if (!['completed', 'cancelled'].includes(order.status)) {
    orders.set(order.order_id, order);
    return;
  }
  if (dropOrder(order.order_id)) guarded(loadStore);
}

/** Taka typed in Latin or Bangla digits as paisa, or NaN for anything else. */
const paisa = (value) => {
  const text = latinDigits(value).trim();
  return /^[0-9]+(\.[0-9]{1,2})?$/.test(text) ? Math.round(Number(text) * 100) : NaN;
};

/** The unit a line was asked in, as the page writes it (the API reads it back). */
const unitWord = (item) => {
  const unit = item && item.quantity && item.quantity.unit;
  return unit ? unitName(unit) : '';
};

function packingForm(order, line) {
  const id = `${order.order_id}-${line.line}`;
  const field = (name, label, attrs = {}) => h('div', {},
    h('label', { for: `${name}-${id}`, text: t(label) }),
    h('input', { id: `${name}-${id}`, name, ...attrs }));
  const form = h('form', { class: 'stack', 'data-line': line.line },
    h('label', { for: `outcome-${id}`, text: lineItem(order.items, line) }),
    line.promised_price ? h('p', { class: 'terms promised', text: t('promised_price', { price: taka(line.promised_price) }) }) : null,
    h('select', { id: `outcome-${id}`, name: 'outcome' },
      h('option', { value: 'packed', text: t('packed') }),
      h('option', { value: 'partly_packed', text: t('partly') }),
      h('option', { value: 'unavailable', text: t('unavailable') }),
      h('option', { value: 'substitute', text: t('substitute') })),
    h('div', { class: 'row' },
      field('price', 'price', { inputmode: 'decimal', required: true,
        ...(line.promised_price ? { value: pageDigits((line.promised_price / 100).toFixed(2)) } : {}) }),
      field('amount', 'amount', { inputmode: 'decimal' }),
      field('unit', 'unit', { value: unitWord(order.items[line.line]) }),
      field('name', 'name')),
    h('button', { type: 'submit', text: t('save_line') }));
  const sync = () => {
    const outcome = form.outcome.value;
    // A hidden price must not hold the form back with an old complaint.
    form.price.setCustomValidity('');
    form.querySelector(`#price-${CSS.escape(id)}`).parentElement.hidden = outcome === 'unavailable';
    form.price.required = outcome !== 'unavailable';
    form.amount.parentElement.hidden = !['partly_packed', 'substitute'].includes(outcome);
    form.unit.parentElement.hidden = form.amount.parentElement.hidden;
    form.amount.required = outcome === 'partly_packed';
    form.name.parentElement.hidden = outcome !== 'substitute';
    form.name.required = outcome === 'substitute';
  };
  form.outcome.addEventListener('change', sync);
  form.price.addEventListener('input', () => form.price.setCustomValidity(''));
  sync();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const outcome = form.outcome.value;
    const body = { line: line.line, outcome };
    if (outcome !== 'unavailable') {
      body.price = paisa(form.price.value);
      if (Number.isNaN(body.price)) {
        form.price.setCustomValidity(t('bad_price'));
        form.price.reportValidity();
        return;
      }
    }
    if (outcome === 'partly_packed' || (outcome === 'substitute' && form.amount.value)) {
      body.amount = form.amount.value.trim();
      body.unit = form.unit.value.trim();
    }
    if (outcome === 'substitute') body.name = form.name.value.trim();
    step(order.order_id, 'pack', body);
  });
  return form;
}

/** Gives a won order back with the reason typed: it goes to other stores. */
function giveBack(orderId, reason) {
  guarded(async () => {
    await session.call('POST', `/orders/${orderId}/store-cancel`, { text: reason });
    dropOrder(orderId);
  });
}

/** Takes an order off the working list and the screen; whether it was on it. */
function dropOrder(orderId) {
  const card = $('orders').querySelector(`[data-order="${CSS.escape(orderId)}"]`);
  if (card) card.remove();
  return orders.delete(orderId);
}

function giveBackForm(order) {
  const id = `reason-${order.order_id}`;
  const form = h('form', { class: 'stack give-back' },
    h('label', { for: id, text: t('give_back_reason') }),
    h('input', { id, name: 'reason', required: true, maxlength: 1000 }),
    h('button', { type: 'submit', class: 'danger', text: t('give_back') }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    giveBack(order.order_id, form.reason.value.trim());
  });
  return form;
}

function orderCard(order) {
  const kind = order.delivery && order.delivery.option && order.delivery.option.kind;
  const settled = order.packing.every((l) => !['pending', 'substitute_offered'].includes(l.state));
  // Something to hand over: a line on the bill the server keeps.
  const billed = Boolean(order.bill && order.bill.lines.length);
  const packing = ['accepted', 'preparing'].includes(order.status);
  return h('article', { class: 'card', 'data-order': order.order_id, 'data-status': order.status },
    h('h4', { text: `${t(`status_${order.status}`)} · ${t('item_count', { n: order.items.length })}` }),
    kind ? h('p', { class: 'terms', text: t('delivery_terms', { kind: t(`store_${kind}`) }) }) : null,
    order.address ? h('p', { class: 'address', text: t('deliver_to', { address: addressText(order.address) }) }) : null,
    order.customer_phone ? h('p', {}, h('a', { class: 'call', href: `tel:${order.customer_phone}`, text: t('customer_phone', { phone: order.customer_phone }) })) : null,
    h('ul', { class: 'plain' }, order.packing.map((line) => h('li', { 'data-line': line.line, 'data-state': line.state },
      line.state === 'pending' && ['accepted', 'preparing'].includes(order.status)
        ? packingForm(order, line)
        : [h('span', { text: lineItem(order.items, line) }), ' — ', h('span', { class: `line-state state-${line.state}`, text: t(`line_${line.state}`) }),
          // A substitute says what and for how much, as the customer saw it.
          reportNote(line)]))),
    // A total once something is billed, not of a delivery fee alone.
    order.bill && (billed || !packing)
      ? h('p', {}, t('total'), ': ', h('strong', { text: taka(order.bill.total) })) : null,
    packing && settled && billed && kind
      ? h('button', { type: 'button', text: t('hand_over'), onclick: () => step(order.order_id, 'handover') }) : null,
    packing && settled && !billed ? h('p', { class: 'notice', text: t('nothing_to_hand_over') }) : null,
    // Before hand-over a store may give the order back, with a reason.
    packing ? giveBackForm(order) : null,
    ['ready_for_pickup', 'out_for_delivery'].includes(order.status)
      ? h('button', { type: 'button', text: t('complete'), onclick: () => step(order.order_id, 'complete') }) : null);
}

// ---- rendering -----------------------------------------------------------

/**
 * What the shopkeeper typed into lines still to pack survives the card
 * being redrawn for another line's change: prices typed ahead are kept.
 */
function keepTyped(from, to) {
  for (const field of from.querySelectorAll('form[data-line] input, form[data-line] select, form.give-back input')) {
    const twin = field.id && to.querySelector(`#${CSS.escape(field.id)}`);
    if (twin && field.value !== field.defaultValue) twin.value = field.value;
  }
  for (const form of to.querySelectorAll('form[data-line] select')) form.dispatchEvent(new Event('change'));
}

/** Offers that ended and are still shown, newest last. */
const ENDED_SHOWN = 3;

function render() {
  // A ringing offer comes first; of those that ended, the last few stay
  // for the record, and older ones leave the screen (and memory).
  const ended = [...offers].filter(([, o]) => o.state !== 'open');
  for (const [orderId] of ended.slice(0, Math.max(0, ended.length - ENDED_SHOWN))) offers.delete(orderId);
  const shown = [...offers].sort(([, a], [, b]) => Number(a.state !== 'open') - Number(b.state !== 'open'));
  $('offers').replaceChildren(...shown.map(offerCard));
  $('no-offers').hidden = offers.size > 0;
  // Keep a half-typed packing form: redraw an order only when it changed.
  const holder = $('orders');
  for (const order of orders.values()) {
    const existing = holder.querySelector(`[data-order="${CSS.escape(order.order_id)}"]`);
    if (existing && existing.dataset.version === String(order.version)) continue;
    const card = orderCard(order);
    card.dataset.version = String(order.version);
    if (existing) keepTyped(existing, card);
    if (existing) existing.replaceWith(card); else holder.prepend(card);
  }
  clearInterval(ticker);
  ticker = setInterval(() => {
    for (const el of document.querySelectorAll('[data-deadline]')) el.textContent = pageDigits(secondsLeft(Number(el.dataset.deadline)));
  }, 250);
}

/** The store (its rating moves on completion) and its history, read together. */
async function loadStore() {
  const [profile, page] = await Promise.all([
    session.call('GET', `/stores/${storeId()}`),
    session.call('GET', `/stores/${storeId()}/orders?limit=20`),
  ]);
  store = profile;
  showStore();
  // Orders won and not yet handed over or completed come back after a
  // reload or on another device, with their packing forms.
  const open = page.orders.filter((o) => ['accepted', 'preparing', 'ready_for_pickup', 'out_for_delivery'].includes(o.status) && !orders.has(o.order_id));
  for (const o of await Promise.all(open.map((o) => session.call('GET', `/orders/${o.order_id}`)))) {
    // A push that came while this was read is newer: it stays.
    if (!orders.has(o.order_id) || orders.get(o.order_id).version < o.version) orders.set(o.order_id, o);
  }
  if (open.length) render();
  pastOrders = page.orders;
  showHistory();
}

/** The store's last orders, in the page's language. */
function showHistory() {
  const rows = pastOrders.map((o) => h('li', { text: `${o.items.map(itemName).join(', ')} · ${t(`status_${o.status}`)}${o.bill && o.bill.total ? ` · ${taka(o.bill.total)}` : ''}` }));
  $('history').replaceChildren(...(rows.length ? rows : [h('li', { class: 'muted', text: t('nothing_yet') })]));
}

$('lang').addEventListener('click', () => {
  toggleLanguage();
  if (store) { showStore(); showHistory(); $('orders').replaceChildren(); render(); }
});

async function start() {
  show('counter');
  await loadStore();
  if (store.open) { socket.start(); soundReady(); keepAwake(); }
}

translate();
if (session.signedIn) guarded(start); else show('signin');
