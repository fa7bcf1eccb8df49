// The checkout page: catalogue from GET /api/events, the form, POST /api/orders, then the
// status page. Field errors are shown next to their field, whether this page or the
// server's 422 found them.

import { FORM_FIELDS, formatMoney, loadForm, log, rememberOrder, saveForm } from "./common.js";
import { MAX_QUANTITY, nationalNumber, serverMessage, validate } from "./validate.js";

const PAY_LABEL = "Pay with M-PESA";

const form = document.getElementById("checkout");
const eventSelect = document.getElementById("event");
const typeSelect = document.getElementById("ticket_type");
const quantityInput = document.getElementById("quantity");
const payButton = document.getElementById("pay");
const formError = document.getElementById("form-error");
const catalogueMessage = document.getElementById("catalogue-message");
const catalogueRetry = document.getElementById("catalogue-retry");

let catalogue = [];
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
  return `${item.name} · ${starts.toLocaleDateString("en-KE", { day: "numeric", month: "short", year: "numeric" })}`;
}

function fillTicketTypes(preferred) {
  const types = chosenEvent()?.ticket_types ?? [];
  typeSelect.replaceChildren(
    ...types.map((item) => {
      const soldOut = Number(item.available) === 0;
      const text = `${item.name} · ${formatMoney(item.price, item.currency)}${soldOut ? " (sold out)" : ""}`;
      return option(item.slug, text, soldOut);
    }),
  );
  const firstOpen = types.find((item) => Number(item.available) !== 0);
  const wanted = types.find((item) => item.slug === preferred && Number(item.available) !== 0);
  typeSelect.value = (wanted ?? firstOpen ?? types[0] ?? { slug: "" }).slug;
  updateTotal();
}

function updateTotal() {
  const type = chosenType();
  const quantity = Number(quantityInput.value);
  quantityInput.max = String(Math.max(1, maxQuantity()));
  const total = document.getElementById("total");
  total.textContent =
    type && Number.isInteger(quantity) && quantity > 0 ? formatMoney(type.price * quantity, type.currency) : "–";
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

// Shows `errors` ({field: message}) in place; returns whether there were any.
function showErrors(errors, fallbackMessage = "") {
  const unplaced = [];
  for (const name of FORM_FIELDS) setFieldError(name, errors[name]);
  for (const [name, message] of Object.entries(errors)) {
    if (!FORM_FIELDS.includes(name)) unplaced.push(message);
  }
  const names = Object.keys(errors);
  formError.textContent = unplaced.length ? unplaced.join(" ") : names.length ? fallbackMessage : "";
  const first = FORM_FIELDS.find((name) => errors[name]);
  if (first) form.elements.namedItem(first).focus();
  return names.length > 0;
}

function checkField(name) {
  if (!submitted) return;
  const errors = validate(readValues(), maxQuantity());
  setFieldError(name, errors[name]);
}

async function submit(event) {
  event.preventDefault();
  if (busy) return;
  submitted = true;
  const values = readValues();
  saveForm(values);
  if (showErrors(validate(values, maxQuantity()), "Please correct the fields marked in red.")) return;

  busy = true;
  payButton.disabled = true;
  payButton.textContent = "Sending the prompt to your phone…";
  let leaving = false;
  try {
    const response = await fetch("/api/orders", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ ...values, quantity: Number(values.quantity), phone: `+254${nationalNumber(values.phone)}` }),
    });
    const body = await response.json().catch(() => ({}));
    // 202: PayHero's answer to the push was lost, but the prompt may be on the phone: wait as for 201.
    const placed = response.status === 201 || response.status === 202;
    if (placed && typeof body.status_url === "string" && body.status_url.startsWith("/payment/")) {
      log("order created", body.order_number, body.payment_status);
      rememberOrder(body);
      leaving = true;
      window.location.assign(body.status_url);
    } else if (response.status === 422) {
      const fields = Object.fromEntries(
        Object.entries(body.fields ?? {}).map(([name, message]) => [name, serverMessage(name, message)]),
      );
      showErrors(fields, "Please correct the fields marked in red.");
      if (!body.fields) formError.textContent = body.message ?? "Please check the form.";
    } else if (response.status === 502) {
      formError.textContent =
        "M-PESA could not be reached, so no prompt was sent and nothing was charged. Please try again in a moment.";
    } else {
      formError.textContent = body.message ?? "Something went wrong on our side. Please try again.";
    }
  } catch (error) {
    log("order request failed", String(error));
    formError.textContent = "We could not reach the service. Check your connection and try again.";
  } finally {
    busy = false;
    if (!leaving) {
      payButton.disabled = false;
      payButton.textContent = PAY_LABEL;
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
}

async function loadCatalogue() {
  catalogueMessage.textContent = "Loading events…";
  catalogueRetry.hidden = true;
  try {
    const response = await fetch("/api/events", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    catalogue = (await response.json()).filter((item) => Array.isArray(item.ticket_types));
  } catch (error) {
    log("catalogue failed", String(error));
    catalogueMessage.textContent = "We could not load the events. Check your connection and try again.";
    catalogueRetry.hidden = false;
    return;
  }
  if (catalogue.length === 0) {
    catalogueMessage.textContent = "No events are on sale right now.";
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
form.addEventListener("submit", submit);
catalogueRetry.addEventListener("click", loadCatalogue);
loadCatalogue();
