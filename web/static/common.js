// Shared by both pages: logging, money, and what one browser tab remembers between them.
//
// Personal data (name, e-mail, phone) stays in this tab's sessionStorage: it is never put
// in the status page's URL or sent to a status route (API.md: those carry no personal data).

const FORM_KEY = "checkout:form";
const ORDER_KEY_PREFIX = "order:";

export const FORM_FIELDS = ["event", "ticket_type", "quantity", "email", "first_name", "last_name", "phone"];
// What may travel in a URL: it says nothing about who is buying.
const PUBLIC_FIELDS = ["event", "ticket_type", "quantity"];

export function log(...parts) {
  console.info("[payment]", ...parts);
}

export function formatMoney(amount, currency) {
  const number = Number(amount);
  if (!Number.isFinite(number)) return "";
  return `${currency || "KES"} ${number.toLocaleString("en-KE", { maximumFractionDigits: 2 })}`;
}

function readJSON(key) {
  try {
    const raw = window.sessionStorage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null; // storage disabled (private mode) or a value we did not write
  }
}

function writeJSON(key, value) {
  try {
    window.sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Without storage the pages still work; "Try again" just starts from an empty form.
  }
}

export function saveForm(values) {
  writeJSON(FORM_KEY, values);
}

export function loadForm() {
  const saved = readJSON(FORM_KEY);
  return saved && typeof saved === "object" ? saved : {};
}

// The checkout URL that "Try again" leads to: only the non-personal choices ride in it;
// the rest comes back from this tab's storage.
export function retryHref() {
  const saved = loadForm();
  const query = new URLSearchParams();
  for (const name of PUBLIC_FIELDS) {
    if (saved[name] !== undefined && saved[name] !== "") query.set(name, String(saved[name]));
  }
  const text = query.toString();
  return text ? `/?${text}` : "/";
}

// The status document the checkout received with its 201: the status page shows it at once
// and starts its cursor there, instead of asking for what it already knows.
export function rememberOrder(document) {
  writeJSON(ORDER_KEY_PREFIX + document.order_id, document);
}

export function rememberedOrder(orderId) {
  const document = readJSON(ORDER_KEY_PREFIX + orderId);
  return document && document.order_id === orderId ? document : null;
}
