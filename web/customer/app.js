// The customer app: sign in or continue as a guest, say or type a demand,
// check the understood list, order, watch the search, the reveal, packing
// live, hand-over, the bill, the review and the share link; the virtual
// home and order history. No store is named before one accepts: the API
// sends none, and this page shows only what the API sent.

import { Session, LiveSocket, call, requestCode, h, show, guarded, wireSignIn, secondsLeft, taka, quantity, addressText, pageDigits, itemName, itemText, lineItem, reportNote, reportText, unitName, mapUrl } from '../common/client.js';
import { t, translate, toggleLanguage, lang } from '../common/i18n.js';

const session = new Session('customer');
const $ = (id) => document.getElementById(id);
let order = null; // the customer's view of the current order
let ticker = null;
let voice = null; // the last speech result, sent with the text

const socket = new LiveSocket(session, {
  onEvent: (frame) => {
    // A shop's offer: the home lists it at once.
    if (frame.type === 'promotion_received') {
      if (document.body.dataset.view === 'home') guarded(refreshOffers);
      return;
    }
    // Another order's event changes nothing here (an older one of this
    // order neither: showOrder drops it).
    if (!frame.order || (order && frame.order_id !== order.order_id)) return;
    const next = { ...frame.order };
    if (frame.type === 'order_accepted' && frame.store) next.store = frame.store;
    showOrder(next, { background: true });
  },
  // After a drop, read the order again: events missed meanwhile are in it.
  onOpen: () => { if (order) refreshOrder({ background: true }); },
  onState: (state) => { $('status').textContent = state === 'offline' ? t('reconnecting') : ''; },
});

// ---- signing in ----------------------------------------------------------

wireSignIn(session, 'customer', () => start());

$('guest').addEventListener('click', () => guarded(async () => {
  const answer = await call('POST', '/auth/guest');
  session.keep(answer, { kind: 'customer', id: answer.customer_id, guest: true });
  start();
}));

$('sign-out').addEventListener('click', () => {
  socket.stop();
  session.forget();
  localStorage.removeItem('order');
  order = null;
  show('signin');
});

// ---- the demand ----------------------------------------------------------

const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
if (Recognition) {
  const speak = $('speak');
  speak.hidden = false;
  speak.addEventListener('click', () => {
    const recognition = new Recognition();
    recognition.lang = lang === 'bn' ? 'bn-BD' : 'en-IN';
    recognition.onresult = (event) => {
      const best = event.results[0][0];
      $('demand').value = best.transcript;
      voice = { transcript: best.transcript, language: lang, confidence: best.confidence || 0.5 };
    };
    recognition.onend = () => { speak.textContent = t('speak'); };
    speak.textContent = t('listening');
    recognition.start();
  });
}
$('demand').addEventListener('input', () => { voice = null; });

$('demand-form').addEventListener('submit', (e) => {
  e.preventDefault();
  guarded(async () => {
    const text = $('demand').value.trim();
    const body = voice && voice.transcript === text ? { voice } : { text, language: lang };
    const understood = await session.call('POST', '/demand/parse', body);
    $('lines').replaceChildren(...understood.items.map(lineEditor));
    $('order-form').hidden = false;
    showAddress();
    checkLocationPermission();
    $('lines').querySelector('input')?.focus();
  });
});

let lineCount = 0;
/** One editable line of the understood list, flagged as the API flagged it. */
function lineEditor(item = {}) {
  const n = ++lineCount;
  const q = item.quantity || {};
  // Marked for `translate`, so switching language redraws them too.
  const flag = item.status === 'uncertain' ? h('span', { class: 'flag', 'data-i18n': 'uncertain', text: t('uncertain') })
    : item.status === 'unmatched' ? h('span', { class: 'flag unmatched', 'data-i18n': 'unmatched', text: t('unmatched') }) : null;
  const li = h('li', { class: 'line', 'data-status': item.status || 'ok' },
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: `name-${n}`, 'data-i18n': 'item', text: t('item') }),
        // In the page's language: the API reads Bangla names, digits and
        // units back as it reads English ones.
        h('input', { id: `name-${n}`, name: 'name', value: item.name ? itemName(item) : '', required: true, maxlength: 100 })),
      h('div', { class: 'narrow' }, h('label', { for: `amount-${n}`, 'data-i18n': 'amount', text: t('amount') }),
        h('input', { id: `amount-${n}`, name: 'amount', inputmode: 'decimal', value: q.amount ? pageDigits(q.amount) : '' })),
      h('div', { class: 'narrow' }, h('label', { for: `unit-${n}`, 'data-i18n': 'unit', text: t('unit') }),
        h('input', { id: `unit-${n}`, name: 'unit', value: q.unit ? unitName(q.unit) : '' })),
      h('button', { type: 'button', class: 'danger', 'aria-label': t('remove_item', { name: item.name || '' }), text: '✕',
        onclick: () => li.remove() })),
    flag,
    item.said && item.said !== item.name ? h('div', { class: 'muted', text: `“${item.said}”` }) : null);
  return li;
}

$('add-line').addEventListener('click', () => {
  const li = lineEditor();
  $('lines').append(li);
  li.querySelector('input').focus();
});

// ---- where: the phone's position, or a typed address ----------------------
//
// Stores are matched around a point, so an order needs one. The browser's
// position is asked for at each order and the last one found is kept on
// this phone. When location is denied or unavailable, the customer types
// their area (and house, road…): the order is matched around the last
// position this phone had, and the winning store reads the typed address.
// A phone that never shared its position is asked to allow it once.

const LAST_POSITION = 'last-position';

/** Where the customer is (asked once per order; nothing is sent to stores but a rounded distance). */
function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) { resolve(null); return; }
    // The browser's own timeout does not count a prompt left unanswered.
    setTimeout(() => resolve(null), 15000);
    navigator.geolocation.getCurrentPosition(
      (p) => {
        const point = { lat: p.coords.latitude, lng: p.coords.longitude };
        localStorage.setItem(LAST_POSITION, JSON.stringify(point));
        resolve(point);
      },
      () => resolve(null),
      { timeout: 10000, maximumAge: 60000 },
    );
  });
}

/** Shows the address fields: for a delivery, or in place of a position. */
function showAddress() {
  const delivery = new FormData($('order-form')).get('delivery') === 'helper_delivery';
  const noLocation = !$('location-note').hidden;
  $('address').hidden = !delivery && !noLocation;
  $('addr-area').required = noLocation;
}

/** Tells the customer location is off and asks for a typed area. */
function locationOff() {
  $('location-note').hidden = false;
  showAddress();
}

for (const radio of document.querySelectorAll('input[name=delivery]')) radio.addEventListener('change', showAddress);

// Say so before the customer presses the button, where the browser tells.
async function checkLocationPermission() {
  try {
    const state = await navigator.permissions.query({ name: 'geolocation' });
    if (state.state === 'denied') locationOff();
  } catch { /* no Permissions API: found out at ordering */ }
}

/** The typed address, without empty parts; null when nothing was typed. */
function typedAddress() {
  const address = {};
  for (const part of ['house', 'road', 'area', 'landmark', 'note']) {
    const value = $(`addr-${part}`).value.trim();
    if (value) address[part] = value;
  }
  return Object.keys(address).length ? address : null;
}

$('order-form').addEventListener('submit', (e) => {
  e.preventDefault();
  guarded(async () => {
    const items = [...$('lines').querySelectorAll('li.line')].map((li) => {
      const line = { name: li.querySelector('[name=name]').value.trim() };
      const amount = li.querySelector('[name=amount]').value.trim();
      const unit = li.querySelector('[name=unit]').value.trim();
      if (amount) line.amount = amount;
      if (unit) line.unit = unit;
      return line;
    }).filter((line) => line.name);
    const kind = new FormData($('order-form')).get('delivery');
    $('place').disabled = true;
    try {
      let location = await position();
      if (!location) {
        // A typed area stands in only for a position this phone had: one
        // that never shared its position is told at once, before any typing.
        location = JSON.parse(localStorage.getItem(LAST_POSITION) || 'null');
        if (!location) throw new Error(t('location_needed'));
        if ($('location-note').hidden) { locationOff(); $('addr-area').focus(); return; }
        if (!$('addr-area').value.trim()) { $('addr-area').focus(); throw new Error(t('area_needed')); }
      }
      const body = { items, location, delivery: { kind } };
      const address = typedAddress();
      if (address) body.address = address;
      const placed = await session.call('POST', '/orders', body, { 'Idempotency-Key': crypto.randomUUID() });
      $('demand').value = '';
      $('order-form').hidden = true;
      showOrder(placed);
    } finally {
      $('place').disabled = false;
    }
  });
});

$('cancel').addEventListener('click', () => guarded(async () => {
  showOrder(await session.call('POST', `/orders/${order.order_id}/cancel`));
}));

// ---- the order -----------------------------------------------------------

async function refreshOrder(options = {}) {
  await guarded(async () => showOrder(await session.call('GET', `/orders/${order.order_id}`), options));
}

/** Whether `o` ended without a store: cancelled, or none could take it. */
const endedWithoutStore = (o) => ['cancelled', 'unfulfilled'].includes(o.status);

// `background`: a push or a catch-up, not the person's own tap; it updates
// the order but never pulls them away from the home or a new demand.
function showOrder(next, { background = false } = {}) {
  if (order && next.order_id === order.order_id && next.version < order.version) return;
  order = next;
  localStorage.setItem('order', order.order_id);
  if (background && ['home', 'demand'].includes(document.body.dataset.view)) return;
  clearInterval(ticker);
  if (order.status === 'searching') {
    show('waiting');
    $('asked').textContent = t('stores_asked', { n: order.stores_notified || 0 });
    $('round').textContent = t('round', { n: order.round || 1 });
    const tick = () => {
      const left = secondsLeft(order.deadline_ms);
      $('countdown').textContent = pageDigits(left);
      $('countdown-text').textContent = t('seconds_left', { n: left });
    };
    tick();
    ticker = setInterval(tick, 250);
    return;
  }
  show('order');
  const store = order.store && order.store.name;
  const processing = ['accepted', 'preparing'].includes(order.status);
  $('reveal').textContent = store ? t(processing ? 'processing' : 'from_store', { store })
    : order.status === 'unfulfilled' ? t('no_store') : t(`status_${order.status}`);
  $('order-status').textContent = t(`status_${order.status}`);
  // An order that ended without a store: what was asked, nothing to expect.
  const ended = endedWithoutStore(order);
  // Terms to wait by, while there is something to wait for.
  const waiting = !ended && order.status !== 'completed';
  $('delivery-terms').textContent = waiting ? deliveryTerms(order.delivery) : '';
  const address = addressText(order.address);
  $('order-address').textContent = address ? t('deliver_to', { address }) : '';
  $('order-address').hidden = !address;
  // Where to pick it up: the shop's place, shown once it has won.
  const place = order.store && order.store.location;
  const pickup = order.delivery && order.delivery.option && order.delivery.option.kind === 'pickup';
  $('shop-place').hidden = !place || !pickup || ['completed', 'cancelled'].includes(order.status);
  if (place) $('shop-map').href = mapUrl(place);
  // Marked for `translate`, so a language switch keeps the right heading.
  $('packing-title').dataset.i18n = ended ? 'asked_for' : 'packing';
  $('packing-title').textContent = t($('packing-title').dataset.i18n);
  $('packing').replaceChildren(...(ended
    ? order.items.map((i) => h('li', { text: itemText(i) }))
    : (order.packing || []).map((line) => packingLine(line, order.items))));
  $('complete').hidden = !['ready_for_pickup', 'out_for_delivery'].includes(order.status);
  showBill(order.bill);
  const done = order.status === 'completed';
  $('review').hidden = !done || Boolean(order.review) || $('reviewed').hidden === false;
  $('sharing').hidden = !done;
}

/** "Delivery within 60 min · ৳40.00", "Pickup: ready within 30 min". */
function deliveryTerms(delivery) {
  const option = delivery && delivery.option;
  if (!option) return '';
  return option.kind === 'helper_delivery'
    ? t('delivery_terms_customer', { min: option.within_minutes, fee: taka(option.fee_paisa) })
    : t('pickup_terms', { min: option.ready_in_minutes });
}

function packingLine(line, items) {
  const li = h('li', { 'data-line': line.line, 'data-state': line.state },
    h('span', { text: lineItem(items, line) }), ' — ',
    h('span', { class: `line-state state-${line.state}`, text: t(`line_${line.state}`) }),
    reportNote(line));
  if (line.state === 'substitute_offered') {
    // What it costs is part of what the customer says yes to.
    const name = reportText(line);
    li.append(h('div', { class: 'row' },
      h('button', { type: 'button', text: t('accept_substitute', { name }), onclick: () => answerSubstitute(line.line, true) }),
      h('button', { type: 'button', class: 'quiet', text: t('refuse_substitute'), onclick: () => answerSubstitute(line.line, false) })));
  }
  return li;
}

function answerSubstitute(line, accept) {
  guarded(async () => showOrder(await session.call('POST', `/orders/${order.order_id}/substitute`, { line, accept })));
}

function showBill(bill) {
  const box = $('bill');
  // While packing and nothing is billed yet: no bill of a delivery fee
  // alone. Once handed over, whatever is owed is shown.
  box.hidden = !bill || (!bill.lines.length && ['accepted', 'preparing'].includes(order.status));
  if (box.hidden) return;
  const rows = bill.lines.map((l) => h('li', {}, itemText(l), h('strong', { class: 'amount', text: taka(l.price) })));
  // A pickup has no delivery line.
  if (bill.delivery_fee > 0) rows.push(h('li', {}, t('delivery_fee'), h('strong', { class: 'amount', text: taka(bill.delivery_fee) })));
  rows.push(h('li', { class: 'big' }, t('total'), h('span', { class: 'amount', text: taka(bill.total) })));
  box.replaceChildren(h('h3', { text: t('bill') }), h('ul', { class: 'plain' }, rows));
}

$('complete').addEventListener('click', () => guarded(async () => {
  showOrder(await session.call('POST', `/orders/${order.order_id}/complete`));
}));

// Five stars as radio buttons: one tab stop, arrow keys choose.
const starLabel = (n) => t(n === 1 ? 'star_one' : 'stars', { n });
$('stars').append(...[1, 2, 3, 4, 5].map((n) => h('label', {},
  h('input', { type: 'radio', name: 'stars', value: n, required: true, 'aria-label': starLabel(n) }),
  h('span', { 'aria-hidden': 'true', text: '★' }))));

$('review').addEventListener('submit', (e) => {
  e.preventDefault();
  guarded(async () => {
    const form = new FormData($('review'));
    const body = { stars: Number(form.get('stars')) };
    const comment = String(form.get('comment') || '').trim();
    if (comment) body.comment = comment;
    await session.call('POST', `/orders/${order.order_id}/review`, body);
    $('review').hidden = true;
    $('reviewed').hidden = false;
  });
});

$('share').addEventListener('click', () => guarded(async () => {
  const shared = await session.call('POST', `/orders/${order.order_id}/share`);
  const url = $('share-url');
  url.value = shared.url;
  url.hidden = false;
  document.querySelector('label[for=share-url]').hidden = false;
  $('copy-share').hidden = false;
  if (navigator.share) navigator.share({ text: shared.text, url: shared.url }).catch(() => {});
  url.select();
}));

// Where the phone has no share sheet: the link, copied in one tap.
$('copy-share').addEventListener('click', () => guarded(async () => {
  const url = $('share-url');
  // Older phones' web views have no clipboard API outside HTTPS.
  if (navigator.clipboard) await navigator.clipboard.writeText(url.value);
  else { url.select(); document.execCommand('copy'); }
  $('copy-share').textContent = t('copied');
}));

// ---- a guest adds their number: the same customer, orders kept ------------

$('upgrade-phone-form').addEventListener('submit', (e) => {
  e.preventDefault();
  guarded(async () => {
    await requestCode($('upgrade-phone').value.trim());
    $('upgrade-code-form').hidden = false;
    $('upgrade-code').focus();
  });
});

$('upgrade-code-form').addEventListener('submit', (e) => {
  e.preventDefault();
  guarded(async () => {
    const answer = await session.call('POST', '/auth/upgrade',
      { phone: $('upgrade-phone').value.trim(), code: $('upgrade-code').value.trim() });
    session.keep(answer);
    $('upgrade').hidden = true;
    $('upgraded').hidden = false;
    // The socket signs in again with the new session.
    socket.stop();
    socket.start();
  });
});

// ---- home and history ----------------------------------------------------

async function showHome() {
  show('home');
  $('upgrade').hidden = !(session.caller && session.caller.guest);
  await guarded(async () => {
    const [home, history, promotions] = await Promise.all([
      session.call('GET', '/customers/me/home'),
      session.call('GET', '/customers/me/orders?limit=20'),
      session.call('GET', '/customers/me/promotions'),
    ]);
    showOffers(promotions);
    const items = home.items.map((i) => h('li', {}, `${itemName(i)} — ${quantity(i.quantity)}`));
    $('home-items').replaceChildren(...(items.length ? items : [h('li', { class: 'muted', text: t('nothing_yet') })]));
    const orders = history.orders.map((o) => h('li', {},
      h('button', { type: 'button', class: 'quiet wide',
        onclick: () => showOrder(o) },
        `${new Date(o.created_at_ms).toLocaleDateString(lang === 'bn' ? 'bn-BD' : 'en-GB')} · ${o.items.map(itemName).join(', ')} · ${t(`status_${o.status}`)}`)));
    $('history').replaceChildren(...(orders.length ? orders : [h('li', { class: 'muted', text: t('nothing_yet') })]));
  });
}

// ---- offers from shops nearby (promotions) --------------------------------

/** The customer's consent and the offers still valid, each one tap from an order. */
function showOffers(promotions) {
  $('offers-consent').checked = promotions.opted_in;
  const rows = promotions.promotions.map((p) => h('li', { class: 'card', 'data-promotion': p.promotion_id },
    h('p', {}, h('strong', { text: `${itemText(p.item)} · ${taka(p.price)}` })),
    h('p', { text: t('offer_from', { m: p.distance_m }) }),
    h('p', { class: 'muted', text: t('offer_until', { time: new Date(p.valid_until_ms).toLocaleString(lang === 'bn' ? 'bn-BD' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' }) }) }),
    h('button', { type: 'button', text: t('order_this'), onclick: () => orderOffer(p.promotion_id) })));
  const none = promotions.opted_in ? t('no_offers_yet') : t('offers_off');
  $('offers').replaceChildren(...(rows.length ? rows : [h('li', { class: 'muted', text: none })]));
}

/** Orders an offer's item, to pick up; its shop is asked first. */
function orderOffer(promotionId) {
  guarded(async () => {
    const location = await position() || JSON.parse(localStorage.getItem(LAST_POSITION) || 'null');
    if (!location) throw new Error(t('location_needed'));
    const body = { location, delivery: { kind: 'pickup' } };
    const placed = await session.call('POST', `/customers/me/promotions/${promotionId}/order`, body,
      { 'Idempotency-Key': crypto.randomUUID() });
    showOrder(placed);
  });
}

$('offers-consent').addEventListener('change', () => guarded(async () => {
  await session.call('PUT', '/customers/me/promotions/consent', { opted_in: $('offers-consent').checked },
    { 'Idempotency-Key': crypto.randomUUID() });
  await refreshOffers();
}));

async function refreshOffers() {
  showOffers(await session.call('GET', '/customers/me/promotions'));
}

for (const button of document.querySelectorAll('[data-go]')) {
  button.addEventListener('click', () => {
    if (button.dataset.go === 'home') { showHome(); return; }
    clearInterval(ticker);
    // Asking again after no store could take it: the same list, ready to send.
    if (button.dataset.go === 'demand' && order && endedWithoutStore(order) && !$('demand').value.trim()) {
      $('demand').value = order.items.map((i) => (i.quantity ? `${i.quantity.amount} ${i.quantity.unit} ${i.name}` : i.name)).join(', ');
    }
    show(button.dataset.go);
  });
}

$('lang').addEventListener('click', () => {
  toggleLanguage();
  for (const star of document.querySelectorAll('#stars input')) star.setAttribute('aria-label', starLabel(Number(star.value)));
  for (const remove of document.querySelectorAll('#lines .line button.danger')) {
    remove.setAttribute('aria-label', t('remove_item', { name: remove.closest('.line').querySelector('[name=name]').value }));
  }
  if (order && document.body.dataset.view !== 'demand' && document.body.dataset.view !== 'home') showOrder(order);
});

// ---- start ---------------------------------------------------------------

async function start() {
  socket.start();
  const current = localStorage.getItem('order');
  if (current) {
    try {
      order = null;
      showOrder(await session.call('GET', `/orders/${current}`));
      return;
    } catch { localStorage.removeItem('order'); }
  }
  show('demand');
}

translate();
// A receipt's link (`?order=<id>`) opens that order, after sign-in if need
// be; an order of someone else's is simply not found and forgotten.
const linked = new URLSearchParams(location.search).get('order');
if (linked !== null) {
  // Only an id: never a path the app would call with the customer's token.
  if (/^[0-9A-Za-z_-]{1,64}$/.test(linked)) localStorage.setItem('order', linked);
  history.replaceState(null, '', location.pathname);
}
if (session.signedIn) start(); else show('signin');
