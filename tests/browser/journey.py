"""The web apps by hand, in headless Chromium, in one of two scenarios
(the first argument):

`journey`: the whole journey by hand: a customer and a store
in two browser contexts at 360 px. The store signs in with its SMS code and
goes online; the customer continues as a guest, checks the understood list
(an unmatched line is flagged and removed), orders for pickup and waits
(how many stores were asked, the round's countdown running); the offer
rings at the store and is spoken (speechSynthesis.speak is recorded by an
init script), its countdown runs, the store accepts; the customer sees the
reveal, packing progress line by line as the store packs, hand-over,
completion, the bill, the review and the share link, then home and history.
No store name or id is in the customer's DOM or WebSocket frames before
acceptance. Every screen is saved to SCREENSHOTS. The customer app's first
load (compressed bytes over the wire) is printed and must stay under 150 KB,
and its answers carry the Content-Security-Policy. The list screen is
walked with the Tab key: focus reaches each of its main controls in order.

`offers`: two stores (a short, single offer round on this stack) and a
customer: an order cancelled while searching (both offers withdrawn); an
order one store declines and the other leaves unanswered until the round
closes (declined, expired; the customer is told no store could take it);
then, with location denied, the customer types an address and orders a
delivery (1 h, 40 Taka), one store accepts and the other sees "taken",
the winner reads the address and offers a substitute, the customer takes
it, hand-over and completion with the fee on the bill; finally the guest
adds their phone number with an SMS code and keeps their orders.

On every screen saved: named controls, 44 px buttons, no sideways scroll,
axe-core's color-contrast, label, button-name (and a few more) rules with
no violation, and no Content-Security-Policy violation.

Run by tests/tests/browser.rs, which starts the stack and makes the stores;
it reads BASE_URL, STORE_PHONE, STORE_NAME, STORE_ID (and OTHER_STORE_*
and CUSTOMER_PHONE for `offers`), SMS_SOURCE ("dev" or "moto:<endpoint>"),
CUSTOMER_LAT, CUSTOMER_LNG and SCREENSHOTS.
"""

import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

BASE = os.environ["BASE_URL"].rstrip("/")
PHONE = os.environ["STORE_PHONE"]
STORE_NAME = os.environ["STORE_NAME"]
STORE_ID = os.environ["STORE_ID"]
SMS_SOURCE = os.environ["SMS_SOURCE"]
LAT = float(os.environ["CUSTOMER_LAT"])
LNG = float(os.environ["CUSTOMER_LNG"])
SHOTS = os.environ["SCREENSHOTS"]
# The console's part of `journey`.
OPERATOR_PHONE = os.environ.get("OPERATOR_PHONE")
PENDING_STORE_NAME = os.environ.get("PENDING_STORE_NAME")
ORDER_MAP_CELL = os.environ.get("ORDER_MAP_CELL")
ORDER_AREA = os.environ.get("ORDER_AREA")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FIRST_LOAD_LIMIT = 150 * 1024
WAIT_MS = 20_000
AXE = Axe()
# axe-core's rules run on every screen: contrast, names of controls, and
# the few that catch a broken accessibility tree.
AXE_RULES = [
    "color-contrast",
    "label",
    "button-name",
    "link-name",
    "select-name",
    "html-has-lang",
    "document-title",
    "aria-valid-attr-value",
    "nested-interactive",
]

# Records every Content-Security-Policy violation the page meets.
CSP_RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""

# Records what the page asks to be spoken (headless Chromium has no voices).
SPEECH_RECORDER = """
window.__spoken = [];
const record = (utterance) => window.__spoken.push({ text: utterance.text, lang: utterance.lang });
if ('speechSynthesis' in window) {
  window.speechSynthesis.speak = record;
} else {
  Object.defineProperty(window, 'speechSynthesis', { value: { speak: record, cancel() {}, getVoices: () => [] } });
}
"""

expect.set_options(timeout=WAIT_MS)


def last_text(phone):
    """The last SMS to `phone`: the local stack's dev route, or moto's record."""
    if SMS_SOURCE == "dev":
        url = f"{BASE}/dev/sms/{urllib.parse.quote(phone)}"
        try:
            with urllib.request.urlopen(url) as answer:
                return json.load(answer).get("text")
        except urllib.error.HTTPError:
            return None
    endpoint = SMS_SOURCE.removeprefix("moto:").rstrip("/")
    with urllib.request.urlopen(f"{endpoint}/test-api/sms") as answer:
        texts = [t for t in json.load(answer) if t.get("phone_number") == phone]
    return texts[-1]["message"] if texts else None


def new_code(phone, before):
    """The six digits of the first text to `phone` other than `before`."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        text = last_text(phone)
        if text and text != before:
            return re.search(r"\b\d{6}\b", text).group(0)
        time.sleep(0.1)
    raise AssertionError(f"no new sign-in text to {phone}")


# The quality bar, checked on every screen saved: each visible control has
# a name (a label, aria-label or its text), buttons are at least 44 px
# square, and nothing is wider than the 360 px screen.
SCREEN_FAULTS = """
() => {
  const faults = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  for (const el of document.querySelectorAll('button, input, select, textarea, a[href]')) {
    if (!visible(el) && !(el.type === 'radio' && visible(el.closest('label')))) continue;
    const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.textContent.trim();
    if (!named) faults.push(`unnamed ${el.tagName} ${el.id || el.name || ''}`);
    if (el.tagName === 'BUTTON') {
      const box = el.getBoundingClientRect();
      if (box.width < 44 || box.height < 44) faults.push(`small button "${el.textContent.trim()}" ${box.width}x${box.height}`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth) faults.push(`page is ${document.documentElement.scrollWidth} px wide`);
  return faults;
}
"""


def shot(page, name):
    faults = page.evaluate(SCREEN_FAULTS)
    assert not faults, f"{name}: {faults}"
    blocked = page.evaluate("window.__csp")
    assert not blocked, f"{name}: the Content-Security-Policy blocked {blocked}"
    found = AXE.run(page, options={"runOnly": {"type": "rule", "values": AXE_RULES}, "resultTypes": ["violations"]})
    violations = [
        f"{v['id']}: {[n['target'] for n in v['nodes']]} {v['nodes'][0].get('failureSummary', '')}"
        for v in found.response["violations"]
    ]
    assert not violations, f"{name}: axe-core found {violations}"
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)
    print(f"screenshot {name}.png")


# What has focus, as a short name: the id, a radio's value, or the text.
FOCUSED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'body';
  if (el.type === 'radio') return `radio:${el.value}`;
  return el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}:${el.textContent.trim()}`;
}
"""


def tab_reaches(page, start, wanted, limit=40):
    """From `start`, the Tab key reaches each of `wanted` (focus names, in
    this order) within `limit` presses."""
    page.locator(start).focus()
    reached = []
    remaining = list(wanted)
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        reached.append(focused)
        if remaining and re.fullmatch(remaining[0], focused):
            remaining.pop(0)
            if not remaining:
                return reached
    raise AssertionError(f"Tab never reached {remaining}; focus went {reached}")


def countdown_runs(page, selector):
    """The number in `selector` goes down (the page's clock, not ours)."""
    first = int(page.locator(selector).first.inner_text())
    page.wait_for_function(
        "([selector, first]) => { const el = document.querySelector(selector); return el && Number(el.textContent) < first; }",
        arg=[selector, first],
        timeout=WAIT_MS,
    )
    return first


class SocketTap:
    """The customer's sockets, routed through Playwright: every frame from
    the server is recorded (and passed on), and the line can be dropped and
    held down (each reconnect refused) until restored."""

    def __init__(self):
        self.frames = []
        self.open = []
        self.down = False

    def route(self, page_side):
        if self.down:
            page_side.close(code=1011, reason="network down")
            return
        server_side = page_side.connect_to_server()

        def from_server(message):
            self.frames.append(message)
            page_side.send(message)

        server_side.on_message(from_server)
        self.open.append(page_side)

    def drop(self):
        self.down = True
        for page_side in self.open:
            page_side.close(code=1011, reason="network down")
        self.open.clear()

    def restore(self):
        self.down = False


def watch(page, name, problems, frames=None):
    page.on("pageerror", lambda e: problems.append(f"{name}: {e}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"{name} console: {m.text}"))
    if frames is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))


def main(scenario):
    os.makedirs(SHOTS, exist_ok=True)
    pages = {}
    playwright = sync_playwright().start()
    started = time.monotonic()
    try:
        SCENARIOS[scenario](playwright, pages)
        print(f"browser scenario {scenario}: passed in {time.monotonic() - started:.1f} s")
    except Exception:
        # What each page showed when it failed, beside the screenshots.
        for name, page in pages.items():
            try:
                page.screenshot(path=os.path.join(SHOTS, f"failed-{scenario}-{name}.png"), full_page=True)
                print(f"--- {name} at failure:\n{page.content()}", file=sys.stderr)
            except Exception as e:  # the page may be gone
                print(f"no failure screenshot of {name}: {e}", file=sys.stderr)
        raise
    finally:
        playwright.stop()


def launch(playwright):
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )


PHONE_SIZE = {"viewport": {"width": 360, "height": 780}, "locale": "en-US", "device_scale_factor": 1}


def new_store_page(browser, name, pages, problems, frames=None):
    context = browser.new_context(**PHONE_SIZE)
    context.add_init_script(SPEECH_RECORDER)
    context.add_init_script(CSP_RECORDER)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    watch(page, name, problems, frames)
    pages[name] = page
    return page


def new_customer_page(browser, pages, problems):
    context = browser.new_context(
        **PHONE_SIZE, geolocation={"latitude": LAT, "longitude": LNG}, permissions=["geolocation"]
    )
    context.add_init_script(CSP_RECORDER)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    watch(page, "customer", problems)
    pages["customer"] = page
    return page


def store_signs_in(store, phone, name, screenshot=None, problems=None):
    """The store signs in with its SMS code and shows its counter; with
    `problems`, after mistyping the code once (its 401 is expected there)."""
    store.goto(f"{BASE}/app/store/")
    expect(store.get_by_role("heading", name="Sign in")).to_be_visible()
    if screenshot:
        shot(store, screenshot)
    store.get_by_label("Mobile number").fill(phone)
    before = last_text(phone)
    store.get_by_role("button", name="Send code").click()
    code = new_code(phone, before)
    if problems is not None:
        # A mistyped code is told in the app's words, not the server's.
        seen = len(problems)
        store.get_by_label("Code from the SMS").fill(code[:-1] + str((int(code[-1]) + 1) % 10))
        store.get_by_role("button", name="Sign in").click()
        expect(store.locator("#problem")).to_have_text("That code is wrong or has expired. Ask for a new one.")
        expected = [p for p in problems[seen:] if "status of 401" in p]
        assert len(expected) == 1, problems[seen:]
        problems.remove(expected[0])
    store.get_by_label("Code from the SMS").fill(code)
    store.get_by_role("button", name="Sign in").click()
    expect(store.locator("#store-name")).to_have_text(name)


def new_operator_page(browser, pages, problems):
    context = browser.new_context(**PHONE_SIZE)
    context.add_init_script(CSP_RECORDER)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    watch(page, "console", problems)
    pages["console"] = page
    return page


def operator_signs_in(console, phone):
    """The operator signs in to the console with their SMS code."""
    console.goto(f"{BASE}/app/operator/")
    expect(console.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(console, "console-sign-in")
    console.get_by_label("Operator phone number").fill(phone)
    before = last_text(phone)
    console.get_by_role("button", name="Send code").click()
    console.get_by_label("Six-digit code from the text message").fill(new_code(phone, before))
    console.get_by_role("button", name="Sign in", exact=True).click()
    expect(console.get_by_role("heading", name="Live map")).to_be_visible()


# Focus is drawn: an outline of at least 2 px on the focused element.
FOCUS_RING = """
() => {
  const style = getComputedStyle(document.activeElement);
  return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
}
"""


def console_on_the_map(console, kinds):
    """The order's cell is drawn on the live map, coloured by one of
    `kinds` (its latest), and each of `kinds` has an event row."""
    cell = console.locator(f'#map polygon[data-cell="{ORDER_MAP_CELL}"]')
    expect(cell).to_have_attribute("class", re.compile(rf"\bcell ({'|'.join(kinds)})\b"))
    for kind in kinds:
        expect(console.locator("#events li", has_text=re.compile(rf"\b{kind}\b")).first).to_be_visible()


def console_checks_the_order(console, customer_id):
    """After the journey: the trail, the figures, a shop approved, the
    keyboard, and nothing personal on the map."""
    console_on_the_map(console, ["accepted"])
    # The map and its events name no customer and no point.
    activity = console.locator("section", has=console.locator("#map")).inner_html()
    for secret in (customer_id, str(LAT), str(LNG), f"{LAT:.3f}", f"{LNG:.3f}"):
        assert secret not in activity, f"{secret} in the console's live map"
    shot(console, "console-live-map-accepted")

    # The trail, from the accepted event's button.
    accepted = console.locator("#events li", has_text=re.compile(r"\baccepted\b")).first
    accepted.get_by_role("button", name=re.compile("^Audit trail of order")).click()
    trail = console.locator("#audit tbody tr")
    expect(console.locator("#audit")).to_be_visible()
    expect(console.locator("#audit-status")).to_contain_text("Status: Completed")
    rows = [[cell.strip() for cell in row] for row in trail.evaluate_all(
        "(rows) => rows.map((r) => [...r.children].map((c) => c.textContent))"
    )]
    print(f"console trail: {rows}")
    # Columns: #, when, what, status after, who.
    what = [row[2] for row in rows]
    expected = [
        "placed, offered to 1 store",
        "accepted",
        "line 1: packed",
        "line 2: partly packed",
        "handed over",
        "completed",
        "reviewed: 5 stars",
        "shared",
    ]
    assert what == expected, what
    by = {row[2]: row[4] for row in rows}
    assert by["placed, offered to 1 store"] == f"customer {customer_id}", by
    assert by["accepted"] == f"store {STORE_ID}", by
    assert by["line 1: packed"] == f"store {STORE_ID}", by
    assert by["completed"] == f"customer {customer_id}", by
    assert [row[0] for row in rows] == [str(n) for n in range(1, len(rows) + 1)], rows
    assert all(re.fullmatch(r"\d{1,2}:\d{2}:\d{2}( [AP]M)?", row[1]) for row in rows), rows
    assert [row[3] for row in rows] == ["Finding a store", "Accepted"] + ["Packing"] * 2 + ["Ready for pickup"] + ["Completed"] * 3, rows
    order_id = console.locator("#order-id").input_value()
    assert console.evaluate("location.hash") == f"#order={order_id}"
    shot(console, "console-trail")

    # The figures of the last hour: a row for the order's area with the
    # time it took a store to accept.
    console.get_by_label("Last").select_option("1")
    console.get_by_role("button", name="Show", exact=True).click()
    row = console.locator(f'#figures tbody tr:has(td[title="{ORDER_AREA}"])')
    expect(row).to_have_count(1)
    figures = [c.strip() for c in row.locator("th, td").all_inner_texts()]
    print(f"console figures row: {figures}")
    assert figures[2] == "1", figures
    assert re.fullmatch(r"\d+ s|\d+\.\d min", figures[3]), figures
    assert figures[5] == "100 %", figures
    shot(console, "console-figures")

    # A waiting shop, approved: it leaves the list.
    waiting = console.locator("#stores li", has_text=PENDING_STORE_NAME)
    expect(waiting).to_have_count(1)
    # What it sells and where, before anyone approves it.
    expect(waiting.locator(".store-sells")).to_contain_text("rice")
    expect(waiting.locator(".store-place")).to_have_attribute("href", re.compile(r"mlat=23\.\d+&mlon=90\.\d+"))
    expect(console.locator("#stores-status")).to_have_text("1 store waiting.")
    waiting.get_by_role("button", name=f"Approve {PENDING_STORE_NAME}").click()
    expect(console.locator("#stores-status")).to_have_text(f"{PENDING_STORE_NAME} approved. No store is waiting.")
    expect(waiting).to_have_count(0)
    expect(console.get_by_role("heading", name="Stores awaiting approval")).to_be_focused()
    shot(console, "console-store-approved")

    # The keyboard reaches every control of the console, focus drawn.
    walked = tab_reaches(
        console,
        "#sign-out",
        [r"button:trail", r"#figures-hours", r"button:Show", r"#figures-region", r"#order-id", r"button:Show trail", r"#audit-region", r"#stores-refresh"],
        limit=80,
    )
    print(f"Tab walk on the console: {walked}")
    console.locator("#order-id").focus()
    console.keyboard.press("Shift+Tab")
    console.keyboard.press("Tab")
    assert console.evaluate(FOCUS_RING), "no visible focus on the order id"

    # In Bangla: the page's words and what the script wrote (the trail,
    # redrawn), then back.
    console.get_by_role("button", name="Switch to Bangla").click()
    expect(console.get_by_role("heading", name="সরাসরি মানচিত্র")).to_be_visible()
    assert console.evaluate("document.documentElement.lang") == "bn"
    expect(console.locator("#audit-status")).to_contain_text("অবস্থা: সম্পন্ন")
    expect(console.locator("#audit tbody tr").first).to_contain_text("অর্ডার দেওয়া হয়েছে, ১টি দোকানকে অফার")
    expect(console.locator("#events li").first).to_contain_text("গৃহীত")
    shot(console, "console-bangla")
    console.get_by_role("button", name="ইংরেজিতে দেখুন").click()
    expect(console.get_by_role("heading", name="Live map")).to_be_visible()
    expect(console.locator("#audit-status")).to_contain_text("Status: Completed")

    # A reload keeps the session, and the address names the order shown.
    console.reload()
    expect(console.get_by_role("heading", name="Live map")).to_be_visible()
    expect(console.locator("#audit-status")).to_contain_text(f"Order {order_id}")

    # On an operator's desk: the same console, wide.
    console.set_viewport_size({"width": 1280, "height": 900})
    console.get_by_role("heading", name="Live map").scroll_into_view_if_needed()
    shot(console, "console-desk")


def journey(playwright, pages):
    problems = []
    tap = SocketTap()
    store_frames = []
    browser = launch(playwright)
    store = new_store_page(browser, "store", pages, problems, store_frames)
    customer = new_customer_page(browser, pages, problems)
    customer.route_web_socket(re.compile(r"/ws\?"), tap.route)

    # --- the store signs in and goes online ---------------------------
    store_signs_in(store, PHONE, STORE_NAME, "store-sign-in", problems)
    # An approved store starts open; going offline and online again is
    # what a shopkeeper does at the start of a day.
    expect(store.locator("#online")).to_have_attribute("aria-pressed", re.compile("true|false"))
    if store.locator("#online").get_attribute("aria-pressed") == "true":
        store.get_by_role("button", name="Go offline").click()
        expect(store.locator("#online")).to_have_attribute("aria-pressed", "false")
    expect(store.locator("#online-state")).to_have_text("Offline — no offers")
    shot(store, "store-offline")
    store.get_by_role("button", name="Go online").click()
    expect(store.locator("#online")).to_have_attribute("aria-pressed", "true")
    expect(store.locator("#online-state")).to_have_text("Online — offers ring here")
    shot(store, "store-online")

    # --- the operator opens the console -------------------------------
    console = new_operator_page(browser, pages, problems)
    operator_signs_in(console, OPERATOR_PHONE)
    expect(console.locator("#stores li", has_text=PENDING_STORE_NAME)).to_have_count(1)
    shot(console, "console-signed-in")

    # --- the customer's first load, measured --------------------------
    loaded = []
    customer.on("requestfinished", lambda request: loaded.append(request))
    customer.goto(f"{BASE}/app/customer/")
    customer.wait_for_load_state("networkidle")
    first_load = 0
    for request in loaded:
        sizes = request.sizes()
        first_load += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    encodings = {request.url.rsplit("/app/", 1)[-1]: request.response().headers.get("content-encoding") for request in loaded}
    print(f"customer app first load: {first_load} bytes over the wire (gzip) in {len(loaded)} responses: {encodings}")
    assert first_load < FIRST_LOAD_LIMIT, f"first load {first_load} bytes"
    assert encodings.get("customer/app.js") == "gzip", encodings
    page_answer = next(r for r in loaded if r.resource_type == "document").response()
    policy = page_answer.headers.get("content-security-policy", "")
    assert "script-src 'self';" in policy and "style-src 'self';" in policy, policy

    # Bangla, then back to English.
    customer.get_by_role("button", name="Switch to Bangla").click()
    expect(customer.get_by_role("heading", name="সাইন ইন")).to_be_visible()
    assert customer.evaluate("document.documentElement.lang") == "bn"
    shot(customer, "customer-sign-in-bangla")
    customer.get_by_role("button", name="ইংরেজিতে দেখুন").click()
    expect(customer.get_by_role("heading", name="Sign in")).to_be_visible()

    # --- the demand -----------------------------------------------------
    customer.get_by_role("button", name="Continue as a guest").click()
    customer.get_by_label("Your list").fill("2 kg rice, 1 kg dal, ঢেঁড়স")
    customer.get_by_role("button", name="Check my list").click()
    lines = customer.locator("#lines li.line")
    expect(lines).to_have_count(3)
    unmatched = customer.locator('#lines li[data-status="unmatched"]')
    expect(unmatched).to_have_count(1)
    expect(unmatched.locator(".flag")).to_be_visible()
    shot(customer, "customer-list")
    unmatched.get_by_role("button", name=re.compile("^Remove")).click()
    expect(lines).to_have_count(2)
    # The keyboard alone reaches every main control of this screen.
    walked = tab_reaches(
        customer,
        "#demand",
        [r"button:Check my list", r"#name-\d+", r"#amount-\d+", r"#unit-\d+", r"button:✕", r"#add-line", r"radio:pickup", r"#place"],
    )
    print(f"Tab walk on the list screen: {walked}")
    customer.get_by_label("I will pick it up").check()
    customer.get_by_role("button", name="Place order").click()

    # --- waiting: stores asked, the countdown runs, no store named -----
    expect(customer.get_by_role("heading", name="Finding nearby stores…")).to_be_visible()
    expect(customer.locator("#asked")).to_have_text("Stores asked: 1")
    first = countdown_runs(customer, "#countdown")
    assert 50 <= first <= 60, first
    shot(customer, "customer-waiting")
    # The console draws the demand and the offer in the order's cell
    # (within a poll or two).
    console_on_the_map(console, ["demand", "offer"])
    expect(console.locator("#events li", has_text="offer to 1 store").first).to_be_visible()
    shot(console, "console-live-map")

    # --- the offer rings and is spoken at the store ---------------------
    offer = store.locator('[data-offer][data-state="open"]')
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("rice")
    store.wait_for_function("window.__spoken.length > 0")
    spoken = store.evaluate("window.__spoken")
    offers = [json.loads(f)["offer"] for f in store_frames if '"type":"offer"' in f]
    assert offers, store_frames
    assert spoken[0]["text"] == offers[0]["speak"], (spoken, offers[0])
    assert spoken[0]["lang"] == "bn-BD", spoken
    countdown_runs(store, '[data-offer] .countdown')
    shot(store, "store-offer")

    # Before acceptance the customer's page and frames name no store.
    html = customer.content()
    for secret in (STORE_NAME, STORE_ID):
        assert secret not in html, f"{secret} in the customer's DOM before acceptance"
        assert tap.frames, "the customer's socket carried the search"
        assert not any(secret in f for f in tap.frames), f"{secret} in a frame before acceptance"

    offer.get_by_role("button", name="Accept").click()

    # --- the reveal ------------------------------------------------------
    expect(customer.locator("#reveal")).to_have_text(f"{STORE_NAME} is processing your order")
    assert STORE_NAME in customer.content()
    expect(customer.locator("#order-status")).to_have_text("Accepted")
    # A pickup: where the shop is, now that it is named.
    expect(customer.locator("#shop-map")).to_be_visible()
    expect(customer.locator("#shop-map")).to_have_attribute("href", re.compile(r"mlat=23\.\d+&mlon=90\.\d+"))
    shot(customer, "customer-accepted")

    # --- packing, live ---------------------------------------------------
    card = store.locator("[data-order]")
    expect(card).to_be_visible()
    # The shop's phone reloads the page: the won order comes back with its
    # packing forms, not only as a line of history.
    store.reload()
    card = store.locator("[data-order]")
    expect(card.locator('form[data-line="0"]')).to_be_visible()
    rice = card.locator('form[data-line="0"]')
    price = rice.get_by_label("Price (৳)")
    # Not a price: said on the field, nothing sent.
    price.fill("abc")
    rice.get_by_role("button", name="Save").click()
    assert price.evaluate("el => el.validationMessage") == "Give the price in Taka, like 140."
    # Typed on a Bangla keyboard: ১৩০ is 130 Taka.
    price.fill("১৩০")
    rice.get_by_role("button", name="Save").click()
    expect(customer.locator('#packing li[data-line="0"]')).to_have_attribute("data-state", "packed")
    expect(customer.locator('#packing li[data-line="1"]')).to_have_attribute("data-state", "pending")
    expect(customer.locator("#order-status")).to_have_text("Packing")
    shot(customer, "customer-packing")
    # In Bangla the lines name the items in Bangla, with Bangla digits and
    # units; back in English, as the server wrote them.
    customer.get_by_role("button", name="Switch to Bangla").click()
    expect(customer.locator('#packing li[data-line="0"]')).to_contain_text("চাল ২ কেজি")
    expect(customer.locator('#packing li[data-line="1"]')).to_contain_text("ডাল ১ কেজি")
    shot(customer, "customer-packing-bangla")
    customer.get_by_role("button", name="ইংরেজিতে দেখুন").click()
    expect(customer.locator('#packing li[data-line="0"]')).to_contain_text("2 kg rice")
    # The customer's network drops; the next line is packed meanwhile.
    tap.drop()
    expect(customer.locator("#status")).to_have_text("Reconnecting…")
    shot(customer, "customer-reconnecting")
    dal = card.locator('form[data-line="1"]')
    dal.locator("select").select_option("partly_packed")
    dal.get_by_label("Amount").fill("0.5")
    dal.get_by_label("Unit").fill("kg")
    dal.get_by_label("Price (৳)").fill("70")
    shot(store, "store-packing")
    dal.get_by_role("button", name="Save").click()
    expect(card.locator('li[data-line="1"]')).to_have_attribute("data-state", "partly_packed")
    # The shop's own screen in Bangla: its lines, units and total.
    store.get_by_role("button", name="Switch to Bangla").click()
    expect(card.locator('li[data-line="0"]')).to_contain_text("চাল ২ কেজি")
    shot(store, "store-packing-bangla")
    store.get_by_role("button", name="ইংরেজিতে দেখুন").click()
    expect(card.locator('li[data-line="0"]')).to_contain_text("2 kg rice")
    # Missed while down; caught up (the order read again) once back.
    expect(customer.locator('#packing li[data-line="1"]')).to_have_attribute("data-state", "pending")
    tap.restore()
    expect(customer.locator("#status")).to_have_text("")
    expect(customer.locator('#packing li[data-line="1"]')).to_have_attribute("data-state", "partly_packed")
    expect(customer.locator('#packing li[data-line="1"]')).to_contain_text("0.5 kg")

    # --- hand-over and completion ---------------------------------------
    card.get_by_role("button", name="Hand over").click()
    expect(customer.locator("#order-status")).to_have_text("Ready for pickup")
    customer.get_by_role("button", name="I have received it").click()
    expect(customer.locator("#order-status")).to_have_text("Completed")
    expect(customer.locator("#bill")).to_contain_text("৳200.00")
    shot(customer, "customer-bill")

    # --- review and share -----------------------------------------------
    customer.locator("#stars label").nth(4).click()
    customer.get_by_label("Comment (optional)").fill("Fast and friendly")
    customer.get_by_role("button", name="Send review").click()
    expect(customer.locator("#reviewed")).to_be_visible()
    customer.get_by_role("button", name="Share").click()
    share_url = customer.locator("#share-url")
    expect(share_url).to_have_value(re.compile(r"/share/"))
    shot(customer, "customer-review-share")
    card_page = urllib.request.Request(share_url.input_value(), headers={"Accept": "text/html"})
    with urllib.request.urlopen(card_page) as answer:
        assert STORE_NAME in answer.read().decode(), "the share page names the store"

    # --- home and history -----------------------------------------------
    customer.get_by_role("button", name="My home").click()
    expect(customer.locator("#home-items")).to_contain_text("rice")
    expect(customer.locator("#history li")).to_have_count(1)
    expect(customer.locator("#history")).to_contain_text("Completed")
    shot(customer, "customer-home")

    # A receipt's tracking link opens the order's page (the id leaves the
    # address once read), even when the app had forgotten the order.
    order_id = customer.evaluate("localStorage.getItem('order')")
    customer.evaluate("localStorage.removeItem('order')")
    customer.goto(f"{BASE}/app/customer/?order={order_id}")
    expect(customer.locator("#order-status")).to_have_text("Completed")
    assert customer.evaluate("location.search") == "", "the link's id is not kept in the address"

    store.reload()
    expect(store.locator("#history li")).to_have_count(1)
    expect(store.locator("#history")).to_contain_text("Completed")
    expect(store.locator("#rating")).to_contain_text("5.0")
    shot(store, "store-history")

    # --- the operator follows the order -----------------------------------
    customer_id = customer.evaluate("JSON.parse(localStorage.getItem('session:customer')).caller.id")
    console_checks_the_order(console, customer_id)

    # --- an offer from the shop, one tap from an order --------------------
    customer.get_by_role("button", name="My home").click()
    customer.get_by_label("Tell me about offers from shops near where I bought").check()
    expect(customer.locator("#offers")).to_contain_text("No offers right now.")
    sent = api_post(
        f"/stores/{STORE_ID}/promotions",
        f"store:{STORE_ID}",
        {"item": {"name": "rice", "amount": "5", "unit": "kg"}, "price": 42000,
         "valid_until_ms": int(time.time() * 1000) + 3_600_000},
    )
    assert sent["recipients"] == 1, sent
    # Pushed while the home is open: listed without a reload.
    offer_row = customer.locator("#offers [data-promotion]")
    expect(offer_row).to_contain_text("৳420.00")
    expect(offer_row).to_contain_text("a shop about")
    shot(customer, "customer-offers")
    offer_row.get_by_role("button", name="Order this (pick up)").click()
    expect(customer.get_by_role("heading", name="Finding nearby stores…")).to_be_visible()
    promised = store.locator('[data-offer][data-state="open"] .promised')
    expect(promised).to_have_text("Your offer promised ৳420.00: charge at most that")
    shot(store, "store-offer-promised")

    assert not problems, problems


def api_post(path, caller, body):
    """A call to the API as `caller`, with a local dev token."""
    def post(url, payload, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read().decode())
    token = post(f"{BASE}/dev/tokens", {"caller": caller})["token"]
    return post(f"{BASE}{path}", body, token)



def go_online(store):
    """An approved store starts open; if not, it goes online."""
    expect(store.locator("#online")).to_have_attribute("aria-pressed", re.compile("true|false"))
    if store.locator("#online").get_attribute("aria-pressed") == "false":
        store.get_by_role("button", name="Go online").click()
    expect(store.locator("#online")).to_have_attribute("aria-pressed", "true")


def ask(customer, text, delivery="I will pick it up"):
    """The customer types a list, checks it, chooses how and orders."""
    customer.get_by_label("Your list").fill(text)
    customer.get_by_role("button", name="Check my list").click()
    expect(customer.locator("#order-form")).to_be_visible()
    customer.get_by_label(delivery).check()
    customer.get_by_role("button", name="Place order").click()


def open_offer(store):
    offer = store.locator('[data-offer][data-state="open"]')
    expect(offer).to_have_count(1)
    return offer


def offers(playwright, pages):
    other_phone = os.environ["OTHER_STORE_PHONE"]
    other_name = os.environ["OTHER_STORE_NAME"]
    customer_phone = os.environ["CUSTOMER_PHONE"]
    problems = []
    browser = launch(playwright)
    first = new_store_page(browser, "first-store", pages, problems)
    second = new_store_page(browser, "second-store", pages, problems)
    customer = new_customer_page(browser, pages, problems)
    store_signs_in(first, PHONE, STORE_NAME)
    store_signs_in(second, other_phone, other_name)
    go_online(first)
    go_online(second)
    customer.goto(f"{BASE}/app/customer/")
    customer.get_by_role("button", name="Continue as a guest").click()

    # --- cancelled while searching: both offers are withdrawn ------------
    ask(customer, "2 kg rice")
    expect(customer.get_by_role("heading", name="Finding nearby stores…")).to_be_visible()
    expect(customer.locator("#asked")).to_have_text("Stores asked: 2")
    open_offer(first)
    open_offer(second)
    customer.get_by_role("button", name="Cancel order").click()
    expect(customer.locator("#order-status")).to_have_text("Cancelled")
    shot(customer, "offers-customer-cancelled")
    for store in (first, second):
        withdrawn = store.locator('[data-offer][data-state="offer_withdrawn"]')
        expect(withdrawn).to_have_count(1)
        expect(withdrawn).to_contain_text("The customer cancelled")
    shot(first, "offers-store-withdrawn")

    # --- one store declines, the other lets the round close --------------
    customer.get_by_role("button", name="New order").first.click()
    ask(customer, "1 kg dal")
    expect(customer.get_by_role("heading", name="Finding nearby stores…")).to_be_visible()
    open_offer(first).get_by_role("button", name="Decline").click()
    declined = first.locator('[data-offer][data-state="offer_declined"]')
    expect(declined).to_contain_text("Declined")
    shot(first, "offers-store-declined")
    # The second store answers nothing; its round closes (a 20 s window).
    open_offer(second)
    expired = second.locator('[data-offer][data-state="offer_expired"]')
    expect(expired).to_contain_text("Expired", timeout=WAIT_MS + 20_000)
    shot(second, "offers-store-expired")
    expect(customer.locator("#order-status")).to_have_text("No store could take it")
    expect(customer.locator("#reveal")).to_have_text("No store nearby could take this order. Try again later.")
    shot(customer, "offers-customer-unfulfilled")
    # A declined offer stays declined when its round closes.
    expect(declined).to_have_count(1)

    # --- location denied: a typed address, a delivery --------------------
    # As a person who answered "Block" to the browser's location prompt.
    customer.context.clear_permissions()
    cdp = customer.context.new_cdp_session(customer)
    browser_context = cdp.send("Target.getTargetInfo")["targetInfo"]["browserContextId"]
    cdp.send(
        "Browser.setPermission",
        {
            "permission": {"name": "geolocation"},
            "setting": "denied",
            "origin": BASE,
            "browserContextId": browser_context,
        },
    )
    assert customer.evaluate("navigator.permissions.query({name: 'geolocation'}).then((s) => s.state)") == "denied"
    customer.get_by_role("button", name="New order").first.click()
    customer.get_by_label("Your list").fill("2 kg rice, 1 kg dal")
    customer.get_by_role("button", name="Check my list").click()
    customer.get_by_label("Deliver to me").check()
    expect(customer.get_by_role("heading", name="Where to bring it")).to_be_visible()
    customer.get_by_role("button", name="Place order").click()
    expect(customer.locator("#location-note")).to_be_visible()
    expect(customer.locator("#location-note")).to_contain_text("Your location is off")
    expect(customer.get_by_label("Area")).to_be_focused()
    shot(customer, "offers-customer-location-off")
    customer.get_by_label("House or flat").fill("House 12")
    customer.get_by_label("Road", exact=True).fill("Road 5")
    customer.get_by_label("Area").fill("Gulshan 1")
    customer.get_by_label("Landmark (optional)").fill("near the mosque")
    customer.get_by_label("Note for the rider (optional)").fill("ring twice")
    customer.get_by_role("button", name="Place order").click()
    expect(customer.get_by_role("heading", name="Finding nearby stores…")).to_be_visible()
    expect(customer.locator("#asked")).to_have_text("Stores asked: 2")

    # --- the second store accepts; the first sees the order taken -------
    open_offer(first)
    open_offer(second).get_by_role("button", name="Accept").click()
    taken = first.locator('[data-offer][data-state="offer_taken"]')
    expect(taken).to_contain_text("Another store took this order")
    shot(first, "offers-store-taken")
    expect(customer.locator("#reveal")).to_have_text(f"{other_name} is processing your order")
    expect(customer.locator("#delivery-terms")).to_have_text("Delivery within 60 min · ৳40.00")
    expect(customer.locator("#order-address")).to_have_text(
        "Deliver to: House 12, Road 5, Gulshan 1 (near the mosque) — ring twice"
    )
    card = second.locator("[data-order]")
    expect(card.locator(".terms")).to_have_text("Delivery: deliver to the customer")
    expect(card.locator(".address")).to_contain_text("House 12, Road 5, Gulshan 1")

    # --- the winner gives it back; the store that lost the race takes it --
    card.get_by_label("Why you give it back (the customer is told)").fill("out of rice")
    card.get_by_role("button", name="Give the order back").click()
    expect(second.locator("[data-order]")).to_have_count(0)
    expect(customer.get_by_role("heading", name="Finding nearby stores…")).to_be_visible()
    open_offer(first).get_by_role("button", name="Accept").click()
    expect(customer.locator("#reveal")).to_have_text(f"{STORE_NAME} is processing your order")
    card = first.locator("[data-order]")
    expect(card.locator(".address")).to_contain_text("House 12, Road 5, Gulshan 1")

    # --- a substitute, offered and taken ---------------------------------
    rice = card.locator('form[data-line="0"]')
    rice.locator("select").select_option("substitute")
    rice.get_by_label("Name").fill("basmati rice")
    rice.get_by_label("Amount").fill("2")
    rice.get_by_label("Unit").fill("kg")
    rice.get_by_label("Price (৳)").fill("300")
    shot(first, "offers-store-substitute")
    rice.get_by_role("button", name="Save").click()
    line = customer.locator('#packing li[data-line="0"]')
    expect(line).to_have_attribute("data-state", "substitute_offered")
    take = line.get_by_role("button", name="Take basmati rice 2 kg")
    expect(take).to_be_visible()
    shot(customer, "offers-customer-substitute")
    take.click()
    expect(line).to_have_attribute("data-state", "substituted")
    expect(card.locator('li[data-line="0"]')).to_have_attribute("data-state", "substituted")
    shot(first, "offers-store-substituted")
    dal = card.locator('form[data-line="1"]')
    dal.get_by_label("Price (৳)").fill("150")
    dal.get_by_role("button", name="Save").click()
    expect(customer.locator('#packing li[data-line="1"]')).to_have_attribute("data-state", "packed")

    # --- hand-over: on the way; received; the fee on the bill ------------
    card.get_by_role("button", name="Hand over").click()
    expect(customer.locator("#order-status")).to_have_text("On the way")
    customer.get_by_role("button", name="I have received it").click()
    expect(customer.locator("#order-status")).to_have_text("Completed")
    expect(customer.locator("#bill")).to_contain_text("basmati rice")
    expect(customer.locator("#bill")).to_contain_text("৳40.00")
    expect(customer.locator("#bill")).to_contain_text("৳490.00")
    shot(customer, "offers-customer-delivered")

    # --- the guest adds their number and keeps their orders --------------
    customer.get_by_role("button", name="My home").first.click()
    expect(customer.locator("#history li")).to_have_count(3)
    upgrade = customer.locator("#upgrade")
    expect(upgrade).to_be_visible()
    shot(customer, "offers-customer-home-guest")
    upgrade.get_by_label("Mobile number").fill(customer_phone)
    before = last_text(customer_phone)
    upgrade.get_by_role("button", name="Send code").click()
    upgrade.get_by_label("Code from the SMS").fill(new_code(customer_phone, before))
    upgrade.get_by_role("button", name="Confirm my number").click()
    expect(customer.locator("#upgraded")).to_be_visible()
    expect(upgrade).to_be_hidden()
    shot(customer, "offers-customer-number-saved")
    # The same customer after a reload: history kept, no longer a guest.
    customer.reload()
    customer.get_by_role("button", name="My home").first.click()
    expect(customer.locator("#history li")).to_have_count(3)
    expect(upgrade).to_be_hidden()

    assert not problems, problems


SCENARIOS = {"journey": journey, "offers": offers}


if __name__ == "__main__":
    scenario = sys.argv[1] if len(sys.argv) > 1 else "journey"
    try:
        main(scenario)
    except AssertionError as failure:
        print(f"browser scenario {scenario} failed: {failure}", file=sys.stderr)
        raise
