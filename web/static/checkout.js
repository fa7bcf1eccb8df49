// The checkout page: catalogue from GET /api/events, the form, POST /api/orders, then the
// status page. Field errors are shown next to their field, whether this page or the
// server's 422 found them.

import {
  FORM_FIELDS,
  formatMoment,
  formatMoney,
  lastOrderId,
  loadForm,
  log,
  rememberLastOrder,
  rememberOrder,
  rememberPhone,
  retryWords,
  saveForm,
} from "./common.js";
import { language, languageSwitch, locale, serverWords, t } from "./i18n.js";
import { lostTickets } from "./lost-tickets.js";
import { LABELS, MAX_QUANTITY, nationalNumber, serverMessage, validate } from "./validate.js";

const PAY_LABEL = t("checkout.pay");

// This page's words, from the catalogue of its language (web/static/i18n/).
const WORDS = {
  payAmount: (amount) => t("checkout.payAmount", { amount }),
  paid: t("checkout.paid"),
  alreadyBought: t("checkout.alreadyBought"),
  buyMore: t("checkout.buyMore"),
  viewTickets: t("checkout.viewTickets"),
  salesClosed: (name) => t("checkout.salesClosed", { name }),
  allSalesClosed: t("checkout.allSalesClosed"),
  soldOut: t("checkout.soldOut"),
  typeSoldOut: t("checkout.typeSoldOut"),
  perTicket: (price) => t("checkout.perTicket", { price }),
};

const form = document.getElementById("checkout");
const eventSelect = document.getElementById("event");
const typeSelect = document.getElementById("ticket_type");
const quantityInput = document.getElementById("quantity");
const payButton = document.getElementById("pay");
const formError = document.getElementById("form-error");
const catalogueMessage = document.getElementById("catalogue-message");
const catalogueRetry = document.getElementById("catalogue-retry");
const payStatus = document.getElementById("pay-status");
const phoneInput = document.getElementById("phone");
const phoneHint = document.getElementById("phone-hint");
const PHONE_HINT = phoneHint.textContent;

let catalogue = [];
let closed = []; // listed, but their sales have ended
let submitted = false; // after the first try, fields are checked as they change
let busy = false;

function option(value, text, disabled = false) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  element.disabled = disabled;
  return element;
}

function chosenEvent() {
  return catalogue.find((item) => item.slug === eventSelect.value) ?? null;
}

function chosenType() {
  return chosenEvent()?.ticket_types.find((item) => item.slug === typeSelect.value) ?? null;
}

function maxQuantity() {
  const available = Number(chosenType()?.available);
  return Number.isFinite(available) ? Math.max(0, Math.min(MAX_QUANTITY, available)) : MAX_QUANTITY;
}

function eventLabel(item) {
  const starts = item.starts_at ? new Date(item.starts_at) : null;
  if (!starts || Number.isNaN(starts.getTime())) return item.name;
  return `${item.name} · ${starts.toLocaleDateString(locale, { day: "numeric", month: "short", year: "numeric", timeZone: item.timezone || undefined })}`;
}

function fillTicketTypes(preferred) {
  const types = chosenEvent()?.ticket_types ?? [];
  typeSelect.replaceChildren(
    ...types.map((item) => {
      const soldOut = Number(item.available) === 0;
      const text = `${item.name} · ${formatMoney(item.price, item.currency)}${soldOut ? ` (${WORDS.typeSoldOut})` : ""}`;
      return option(item.slug, text, soldOut);
    }),
  );
  const firstOpen = types.find((item) => Number(item.available) !== 0);
  const wanted = types.find((item) => item.slug === preferred && Number(item.available) !== 0);
  typeSelect.value = (wanted ?? firstOpen ?? types[0] ?? { slug: "" }).slug;
  showEventCard();
  updateTotal();
}

// The chosen event as the ticket will show it: when (at the venue's time) and where.
function showEventCard() {
  const item = chosenEvent();
  document.getElementById("event-card").hidden = !item;
  if (!item) return;
  document.getElementById("event-card-name").textContent = item.name;
  document.getElementById("event-card-when").textContent = formatMoment(item.starts_at, item.timezone);
  document.getElementById("event-card-venue").textContent = item.venue ?? "";
  const note = document.getElementById("event-card-note");
  const soldOut = item.ticket_types.length > 0 && item.ticket_types.every((type) => Number(type.available) === 0);
  note.textContent = soldOut ? WORDS.soldOut : "";
  note.hidden = !soldOut;
}

function updateTotal() {
  const type = chosenType();
  const quantity = Number(quantityInput.value);
  quantityInput.max = String(Math.max(1, maxQuantity()));
  const total = document.getElementById("total");
  const amount =
    type && Number.isInteger(quantity) && quantity > 0 ? formatMoney(type.price * quantity, type.currency) : "";
  total.textContent = amount || "–";
  // Under the ticket list: the price stays readable when the list's own text is cut (200% zoom).
  document.getElementById("ticket-price").textContent = type ? WORDS.perTicket(formatMoney(type.price, type.currency)) : "";
  // The button says what it will take: "Pay KES 600 with M-PESA".
  if (!busy) payButton.textContent = payLabel();
}

function payLabel() {
  const type = chosenType();
  const quantity = Number(quantityInput.value);
  const valid = type && Number.isInteger(quantity) && quantity > 0 && quantity <= maxQuantity();
  return valid ? WORDS.payAmount(formatMoney(type.price * quantity, type.currency)) : PAY_LABEL;
}

function readValues() {
  const data = new FormData(form);
  return Object.fromEntries(FORM_FIELDS.map((name) => [name, String(data.get(name) ?? "").trim()]));
}

function setFieldError(name, message) {
  const input = form.elements.namedItem(name);
  const slot = document.getElementById(`${name}-error`);
  if (!input || !slot) return false;
  slot.textContent = message ?? "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return true;
}

// The summary above the Pay button names the fields still wrong, in words (not "marked in
// red"), and is rebuilt whenever a field's error changes, so it never outlives the mistakes.
function updateSummary(unplaced = []) {
  const wrong = FORM_FIELDS.filter((name) => form.elements.namedItem(name)?.getAttribute("aria-invalid") === "true");
  const parts = [...unplaced];
  if (wrong.length) {
    const names = wrong.map((name) => LABELS[name]).join(", ");
    parts.unshift(wrong.length === 1 ? t("checkout.fixOne", { names }) : t("checkout.fixMany", { count: wrong.length, names }));
  }
  // Only a changed summary is written: the alert region speaks again on every write.
  const text = parts.join(" ");
  if (formError.textContent !== text) formError.textContent = text;
}

// Shows `errors` ({field: message}) in place; returns whether there were any.
function showErrors(errors) {
  const unplaced = [];
  for (const name of FORM_FIELDS) setFieldError(name, errors[name]);
  for (const [name, message] of Object.entries(errors)) {
    if (!FORM_FIELDS.includes(name)) unplaced.push(message);
  }
  updateSummary(unplaced);
  const first = FORM_FIELDS.find((name) => errors[name]);
  if (first) form.elements.namedItem(first).focus();
  else if (unplaced.length) formError.focus();
  return Object.keys(errors).length > 0;
}

function checkField(name) {
  if (!submitted) return;
  const errors = validate(readValues(), maxQuantity());
  setFieldError(name, errors[name]);
  updateSummary();
}

// Under the phone field: the number the prompt will go to, however it was typed
// ("0712 345 678", "+254 712…" and "712345678" all become +254 712 345 678).
function echoPhone() {
  const digits = nationalNumber(phoneInput.value);
  phoneHint.textContent = digits
    ? t("checkout.promptGoesTo", { number: `+254 ${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}` })
    : PHONE_HINT;
}

// A form-level message the customer must not miss: shown, announced (role=alert), focused.
function formMessage(text) {
  formError.textContent = text;
  formError.focus();
}

async function submit(event, { confirmRepeat = false } = {}) {
  event?.preventDefault();
  if (busy) return;
  hideRepeat();
  submitted = true;
  const values = readValues();
  saveForm(values);
  if (showErrors(validate(values, maxQuantity()))) return;

  // Busy without `disabled`: a disabled button fades and drops keyboard focus to <body>.
  busy = true;
  payButton.setAttribute("aria-disabled", "true");
  payButton.textContent = t("checkout.sending");
  payStatus.textContent = t("checkout.sending");
  let leaving = false;
  try {
    const response = await fetch("/api/orders", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({
        ...values,
        quantity: Number(values.quantity),
        phone: `+254${nationalNumber(values.phone)}`,
        // The order's e-mails come in the language the page was read in.
        language,
        ...(confirmRepeat ? { confirm_repeat: true } : {}),
      }),
    });
    const body = await response.json().catch(() => ({}));
    // 202: PayHero's answer to the push was lost, but the prompt may be on the phone: wait as for 201.
    const placed = response.status === 201 || response.status === 202;
    if (placed && typeof body.status_url === "string" && body.status_url.startsWith("/payment/")) {
      log("order created", body.order_number, body.payment_status);
      rememberOrder(body);
      rememberLastOrder(body.order_id);
      rememberPhone(body.order_id, nationalNumber(values.phone));
      leaving = true;
      window.location.assign(body.status_url);
    } else if (response.status === 422) {
      const fields = Object.fromEntries(
        Object.entries(body.fields ?? {}).map(([name, message]) => [name, serverMessage(name, message)]),
      );
      showErrors(fields);
      if (!body.fields) formMessage(serverWords(body.message, "checkout.checkForm"));
    } else if (response.status === 409 && body.error === "already_bought") {
      showRepeat();
    } else if (response.status === 409 && body.error === "sales_closed") {
      formMessage(WORDS.salesClosed(chosenEvent()?.name ?? t("checkout.thisEvent")));
    } else if (response.status === 429) {
      const when = retryWords(response.headers.get("Retry-After"));
      formMessage(body.limit === "ip" ? t("checkout.tooManyNetwork", { when }) : t("checkout.tooManyPhone", { when }));
    } else if (response.status === 502) {
      formMessage(t("checkout.mpesaUnreachable"));
    } else {
      formMessage(serverWords(body.message, "common.ourSide"));
    }
  } catch (error) {
    log("order request failed", String(error));
    formMessage(t("common.unreachable"));
  } finally {
    busy = false;
    if (!leaving) {
      payButton.removeAttribute("aria-disabled");
      payButton.textContent = payLabel();
      payStatus.textContent = "";
    }
  }
}

// Values from the last try in this tab, then from the URL ("Try again" links carry the
// event, ticket and quantity; a shared link may carry more).
function prefill() {
  const query = new URLSearchParams(window.location.search);
  const values = { ...loadForm() };
  for (const name of FORM_FIELDS) if (query.has(name)) values[name] = query.get(name);
  if (catalogue.some((item) => item.slug === values.event)) eventSelect.value = values.event;
  fillTicketTypes(values.ticket_type);
  for (const name of ["quantity", "email", "first_name", "last_name", "phone"]) {
    if (values[name]) form.elements.namedItem(name).value = values[name];
  }
  updateTotal();
  echoPhone();
}

async function loadCatalogue() {
  catalogueMessage.textContent = t("checkout.loading");
  catalogueRetry.hidden = true;
  try {
    const response = await fetch("/api/events", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const listed = (await response.json()).filter((item) => Array.isArray(item.ticket_types));
    // An older service says nothing of `on_sale`: everything it lists is on sale.
    catalogue = listed.filter((item) => item.on_sale !== false);
    closed = listed.filter((item) => item.on_sale === false);
  } catch (error) {
    log("catalogue failed", String(error));
    catalogueMessage.textContent = t("checkout.catalogueFailed");
    catalogueRetry.hidden = false;
    return;
  }
  if (catalogue.length === 0) {
    catalogueMessage.textContent =
      closed.length === 1 ? WORDS.salesClosed(closed[0].name) : closed.length ? WORDS.allSalesClosed : t("checkout.noEvents");
    return;
  }
  eventSelect.replaceChildren(...catalogue.map((item) => option(item.slug, eventLabel(item))));
  prefill();
  catalogueMessage.textContent = "";
  form.hidden = false;
}

eventSelect.addEventListener("change", () => fillTicketTypes(typeSelect.value));
typeSelect.addEventListener("change", () => {
  updateTotal();
  checkField("quantity");
});
quantityInput.addEventListener("input", () => {
  updateTotal();
  checkField("quantity");
});
for (const name of ["email", "first_name", "last_name", "phone"]) {
  const input = form.elements.namedItem(name);
  input.addEventListener("blur", () => checkField(name));
  input.addEventListener("input", () => {
    if (input.getAttribute("aria-invalid") === "true") checkField(name);
  });
}
phoneInput.addEventListener("input", echoPhone);
form.addEventListener("submit", submit);
catalogueRetry.addEventListener("click", loadCatalogue);
document.getElementById("buy-more").addEventListener("click", () => submit(null, { confirmRepeat: true }));
// The other language: what was typed so far comes back after the page is read again.
languageSwitch(() => saveForm(readValues()));
lostTickets();
loadCatalogue();
offerPaidTickets();
// Back from the status page may restore this page as it was left (the back-forward cache):
// Pay still busy, the form filled. Make it usable again and look at the last order afresh.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  busy = false;
  payButton.removeAttribute("aria-disabled");
  payButton.textContent = payLabel();
  payStatus.textContent = "";
  offerPaidTickets();
});

// "You already have tickets for this event. Buy more?": the server's 409 `already_bought`.
function showRepeat() {
  const last = lastOrderId();
  formError.textContent = WORDS.alreadyBought;
  document.getElementById("buy-more").textContent = WORDS.buyMore;
  const tickets = document.getElementById("repeat-tickets");
  tickets.textContent = WORDS.viewTickets;
  tickets.href = last ? `/payment/${encodeURIComponent(last)}` : "/";
  tickets.hidden = !last;
  document.getElementById("repeat").hidden = false;
  formError.focus();
}

function hideRepeat() {
  document.getElementById("repeat").hidden = true;
}

// After paying, Back (or a reload) lands here with the form as it was: say first that this
// tab's last order is paid, with the way to its tickets. Asked of the server, not assumed.
async function offerPaidTickets() {
  const orderId = lastOrderId();
  if (!orderId) return;
  let status = null;
  try {
    const response = await fetch(`/api/orders/${encodeURIComponent(orderId)}`, {
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    if (response.ok) status = (await response.json()).payment_status;
  } catch (error) {
    log("last order check failed", String(error));
  }
  const notice = document.getElementById("paid-notice");
  const link = document.getElementById("paid-link");
  link.textContent = WORDS.paid;
  link.href = `/payment/${encodeURIComponent(orderId)}`;
  notice.hidden = status !== "completed";
}
