// Shared by the pages: logging, money, times, and what one browser tab remembers between them.
//
// Personal data (name, e-mail, phone) stays in this tab's sessionStorage: it is never put
// in the status page's URL or sent to a status route (API.md: those carry no personal data).

import { locale, t } from "./i18n.js";

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
  return `${currency || "KES"} ${number.toLocaleString(locale, { maximumFractionDigits: 2 })}`;
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

// A moment in the event's own timezone, e.g. "Sat, 12 Dec 2026 at 16:00 (Nairobi time)" or
// "Jumamosi, 12 Des 2026, saa 16:00 (saa za Nairobi)": a customer abroad, or a phone set to
// UTC, still reads the time on the ticket.
export function formatMoment(iso, timeZone) {
  const moment = new Date(String(iso ?? ""));
  if (Number.isNaN(moment.getTime())) return "";
  const day = { weekday: "short", day: "numeric", month: "short", year: "numeric" };
  const time = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  let zone = timeZone || undefined;
  try {
    new Intl.DateTimeFormat(locale, { timeZone: zone });
  } catch {
    zone = undefined; // a timezone this browser lacks: the phone's own clock, unnamed
  }
  const date = new Intl.DateTimeFormat(locale, { ...day, timeZone: zone }).format(moment);
  const clock = new Intl.DateTimeFormat(locale, { ...time, timeZone: zone }).format(moment);
  const city = zone ? zone.split("/").pop().replace(/_/g, " ") : "";
  return t(city ? "moment.atIn" : "moment.at", { date, time: clock, city });
}

// "in 45 seconds", "in 4 minutes (at 14:32)": when a refused request may be tried again,
// from its Retry-After header (seconds).
export function retryWords(seconds, now = Date.now()) {
  const wait = Math.max(1, Math.ceil(Number(seconds) || 60));
  if (wait < 90) return t("retry.seconds", { count: wait });
  const at = new Date(now + wait * 1000).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  return t("retry.minutes", { count: Math.ceil(wait / 60), at });
}

// The last three digits of the number an order's prompt went to, kept in this tab only, so
// the status page can say where the prompt went without a status route ever carrying it.
const PHONE_KEY_PREFIX = "order-phone:";

export function rememberPhone(orderId, nationalDigits) {
  writeJSON(PHONE_KEY_PREFIX + orderId, String(nationalDigits ?? "").slice(-3));
}

export function phoneEnding(orderId) {
  const ending = readJSON(PHONE_KEY_PREFIX + orderId);
  return typeof ending === "string" && /^\d{3}$/.test(ending) ? ending : "";
}

// The last order this tab placed: its id only (an order id is not personal data, and it
// never goes into a URL but its own status page's). Back on the checkout after paying, the
// page offers that order's tickets instead of a second charge.
const LAST_ORDER_KEY = "checkout:last-order";

export function rememberLastOrder(orderId) {
  writeJSON(LAST_ORDER_KEY, String(orderId));
}

export function lastOrderId() {
  const id = readJSON(LAST_ORDER_KEY);
  return typeof id === "string" && /^[A-Za-z0-9_-]{16,64}$/.test(id) ? id : null;
}
