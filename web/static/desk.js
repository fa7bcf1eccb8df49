// The organiser's desk at /desk: the desk token is entered once (kept in this tab's
// sessionStorage only) and sent as `Authorization: Bearer` on every /api/desk call.
// Sales and the door are pushed by the server (desk-live.js); nothing here polls.

import { formatMoney } from "./common.js";
import { followFigures } from "./desk-live.js";
import { el, renderStory, showFieldError, statusWords } from "./desk-story.js";

const TOKEN_KEY = "desk:token";
const byId = (id) => document.getElementById(id);
const root = byId("desk");
let memoryToken = "";
let stopLive = null;
let currentOrder = null;

function readToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) ?? memoryToken;
  } catch {
    return memoryToken;
  }
}
function writeToken(token) {
  memoryToken = token;
  try {
    if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
    else window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage off (private mode): the token lives as long as this page.
  }
}

function announce(text) {
  const region = byId("desk-announce");
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50);
}

class Refused extends Error {}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${readToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  if (response.status === 401 || response.status === 503) throw new Refused(String(response.status));
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(answer.message || `The service answered ${response.status}.`);
    error.answer = answer;
    throw error;
  }
  return answer;
}

function refusedWords(status) {
  return status === "503"
    ? "The desk is turned off on this service: no DESK_TOKEN is configured."
    : "The desk token was not accepted. Check it and try again.";
}

function showToken(message = "") {
  if (stopLive) stopLive();
  stopLive = null;
  root.dataset.state = "token";
  byId("token-form").hidden = false;
  byId("workspace").hidden = true;
  byId("token-error").textContent = message;
  byId("token").setAttribute("aria-invalid", message ? "true" : "false");
  byId("token").focus();
}

async function open() {
  try {
    const me = await api("/api/desk/me");
    byId("who").textContent = me.name;
  } catch (error) {
    writeToken("");
    showToken(error instanceof Refused ? refusedWords(error.message) : "The desk could not be reached. Try again.");
    return;
  }
  root.dataset.state = "open";
  byId("token-form").hidden = true;
  byId("workspace").hidden = false;
  show(location.hash.slice(1) || "sales");
  stopLive = followFigures("/api/desk/live", readToken(), {
    onFigures: drawFigures,
    onState: (on) => {
      const state = byId("live-state");
      state.dataset.live = on ? "on" : "off";
      state.textContent = on ? "Live: figures change as payments and check-ins happen." : "Reconnecting…";
    },
    onRefused: (status) => showToken(refusedWords(String(status))),
  });
  loadReviews();
}

// -- screens -------------------------------------------------------------------------------

function show(screen) {
  const known = ["sales", "orders", "review", "door", "exports"];
  if (!known.includes(screen)) screen = "sales";
  for (const name of known) byId(name).hidden = name !== screen;
  for (const tab of document.querySelectorAll(".tab")) {
    if (tab.dataset.screen === screen) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  root.dataset.screen = screen;
  if (screen === "review") loadReviews();
}

// -- figures -------------------------------------------------------------------------------

function card(title, rows, dataset) {
  return el(
    "article",
    { class: "figure-card", dataset },
    el("h4", { text: title }),
    el("dl", {}, rows.map(([term, value, name, more = {}]) => [el("dt", { text: term }), el("dd", { dataset: { figure: name, ...more }, text: value })])),
  );
}

// A check-in whose device named no gate (or from before gates were recorded) has gate null.
const gateWords = (gate) => (gate === null ? "Unnamed gate" : `${gate} gate`);
const gateRows = (gates) => gates.map((g) => [gateWords(g.gate), String(g.checked_in), "gate", { gate: g.gate ?? "" }]);

function drawCards(containerId, events, rows) {
  byId(containerId).replaceChildren(
    ...events.flatMap((event) => [
      el("h3", { text: event.name }),
      el("div", { class: "figures" }, event.ticket_types.map((t) => card(t.name, rows(t, event), { type: t.slug, event: event.slug }))),
    ]),
  );
}

function drawFigures(figures) {
  drawCards("sales-figures", figures.events, (t, event) => [
    ["Sold", String(t.sold), "sold"],
    ["Being paid now", String(t.processing), "processing"],
    ["Seats left", `${t.seats_left} of ${t.capacity}`, "seats-left"],
    ["Revenue", formatMoney(t.revenue, event.currency), "revenue"],
    ["Paid in the last hour", String(t.paid_last_hour), "last-hour"],
  ]);
  drawCards("door-figures", figures.door, (t) => [
    ["Checked in", String(t.checked_in), "checked-in"],
    ["Tickets issued", String(t.issued), "issued"],
    ["Still to come", String(Math.max(0, t.issued - t.checked_in)), "to-come"],
    ...gateRows(t.gates),
  ]);
  // Each event's gates, all ticket types together, after its ticket types.
  const grids = byId("door-figures").querySelectorAll(".figures");
  figures.door.forEach((event, index) => {
    const rows = event.gates.length ? gateRows(event.gates) : [["No check-ins yet", "0", "gate-none"]];
    grids[index].append(card("Every ticket, per gate", rows, { type: "all", event: event.slug }));
  });
}

// -- orders --------------------------------------------------------------------------------

function orderButton(order, extra = "") {
  const button = el(
    "button",
    { type: "button", class: "secondary", dataset: { order: order.order_id } },
    el("span", { text: `${order.order_number} · ${order.name}` }),
    el("span", { class: "sub", text: `${formatMoney(order.amount, order.currency)} · ${statusWords(order.payment_status)}${extra}` }),
  );
  button.addEventListener("click", () => openOrder(order.order_id));
  return el("li", {}, button);
}

async function search(query) {
  showFieldError("q", "");
  try {
    const found = await api(`/api/desk/orders?q=${encodeURIComponent(query)}`);
    byId("results").replaceChildren(...found.orders.map((order) => orderButton(order)));
    announce(found.orders.length ? `${found.orders.length} order(s) found.` : "No order matches.");
    if (found.orders.length === 1) openOrder(found.orders[0].order_id);
  } catch (error) {
    if (error instanceof Refused) return showToken(refusedWords(error.message));
    showFieldError("q", error.message);
  }
}

async function openOrder(orderId, { focus = true } = {}) {
  show("orders");
  currentOrder = orderId;
  const container = byId("story");
  try {
    const story = await api(`/api/desk/orders/${encodeURIComponent(orderId)}`);
    renderStory(container, story, act);
    container.hidden = false;
    if (focus) container.focus();
  } catch (error) {
    if (error instanceof Refused) return showToken(refusedWords(error.message));
    container.hidden = false;
    container.replaceChildren(el("p", { class: "form-error", text: error.message }));
  }
}

const ACTION_DONE = {
  "ask-payhero": "PayHero's answer is recorded below.",
  complete: "Completed: the tickets and e-mails are on their way.",
  close: "Closed: the note is recorded.",
  "resend-tickets": "The tickets are being sent again.",
};

async function act(action, body, button) {
  if (button.getAttribute("aria-disabled") === "true") return;
  button.setAttribute("aria-disabled", "true");
  try {
    await api(`/api/desk/orders/${encodeURIComponent(currentOrder)}/${action}`, { method: "POST", body });
    await openOrder(currentOrder, { focus: false });
    announce(ACTION_DONE[action]);
    loadReviews();
  } catch (error) {
    button.removeAttribute("aria-disabled");
    if (error instanceof Refused) return showToken(refusedWords(error.message));
    const fields = (error.answer && error.answer.fields) || {};
    if (fields.receipt) return showFieldError("receipt", error.message);
    if (fields.note) return showFieldError(action === "close" ? "close-note" : "complete-note", error.message);
    announce(error.message);
    alertIn(button, error.message);
  }
}

function alertIn(button, message) {
  const holder = button.closest("form, .actions");
  let note = holder.querySelector(".form-error");
  if (!note) {
    note = el("p", { class: "form-error", role: "alert" });
    holder.append(note);
  }
  note.textContent = message;
}

async function loadReviews() {
  try {
    const found = await api("/api/desk/reviews");
    byId("review-count").textContent = found.held.length ? String(found.held.length) : "";
    byId("held").replaceChildren(
      ...(found.held.length
        ? found.held.map((item) => orderButton(item.order, ` · ${item.reason}`))
        : [el("li", { class: "hint", text: "Nothing is held for review." })]),
    );
  } catch (error) {
    if (error instanceof Refused) showToken(refusedWords(error.message));
  }
}

// -- exports -------------------------------------------------------------------------------

async function download(kind, button) {
  byId("export-error").textContent = "";
  button.setAttribute("aria-disabled", "true");
  try {
    const response = await fetch(`/api/desk/exports/${kind}.csv`, { headers: { Authorization: `Bearer ${readToken()}` } });
    if (!response.ok) throw new Error(`The export failed (${response.status}).`);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `${kind}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    announce(`The ${kind} file is downloaded.`);
  } catch (error) {
    byId("export-error").textContent = error.message;
  } finally {
    button.removeAttribute("aria-disabled");
  }
}

// -- wiring --------------------------------------------------------------------------------

byId("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = byId("token").value.trim();
  if (!token) return showToken("Enter the desk token.");
  writeToken(token);
  byId("token").value = "";
  open();
});
byId("forget").addEventListener("click", () => {
  writeToken("");
  showToken();
});
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    history.replaceState(null, "", `#${tab.dataset.screen}`);
    show(tab.dataset.screen);
  });
}
byId("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = byId("q").value.trim();
  if (!query) return showFieldError("q", "Type an order number, the last digits of a phone, or an e-mail.");
  search(query);
});
for (const button of document.querySelectorAll("[data-export]")) {
  button.addEventListener("click", () => download(button.dataset.export, button));
}

if (readToken()) open();
else showToken();
