// One ticket as the customer keeps it: its QR, its type as the catalogue names it, its code,
// and a link that saves the QR as an image (for a gate where the network is poor).
//
// A QR image that fails to load (the network dropped) is tried again with backoff, and at
// once when the browser says it is online or the tab is shown again, until it loads; the
// Save link comes back with it.

import { t } from "./i18n.js";

// This module's words, from the catalogue of the page's language.
export const WORDS = {
  qrRetrying: t("ticket.qrRetrying"),
};

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30000;

// An older document names a ticket type only by its slug ("early-bird"): say it as words.
function slugWords(slug) {
  const words = String(slug ?? "").replace(/[-_]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : t("ticket.ticket");
}

// Loads `url` into a fresh <img> until it works; `place(image)` puts the loaded image in
// the page, `failed()` says it is not there yet.
function loadUntilLoaded(url, alt, place, failed) {
  let tries = 0;
  let timer = null;
  let loading = false;
  const stop = () => {
    window.removeEventListener("online", now);
    document.removeEventListener("visibilitychange", whenVisible);
  };
  const attempt = () => {
    if (loading) return;
    loading = true;
    clearTimeout(timer);
    // A new element each time: an element whose load failed is not asked again for the same src.
    const image = new Image(280, 280);
    image.alt = alt;
    image.addEventListener("load", () => {
      loading = false;
      stop();
      place(image);
    });
    image.addEventListener("error", () => {
      loading = false;
      failed();
      const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** tries);
      tries += 1;
      timer = setTimeout(attempt, Math.round(ceiling * (0.5 + Math.random() * 0.5)));
    });
    image.src = url;
  };
  const now = () => attempt();
  const whenVisible = () => {
    if (document.visibilityState === "visible") attempt();
  };
  window.addEventListener("online", now);
  document.addEventListener("visibilitychange", whenVisible);
  attempt();
}

export function ticketItem(ticket, index, count) {
  const item = document.createElement("li");
  const name = typeof ticket.ticket_type_name === "string" && ticket.ticket_type_name ? ticket.ticket_type_name : slugWords(ticket.ticket_type);
  const label = count > 1 ? t("ticket.numbered", { number: index + 1, count, name }) : name;
  const kind = document.createElement("p");
  kind.className = "kind";
  kind.textContent = label;
  item.append(kind);
  const url = typeof ticket.qr_url === "string" && /^\/(?!\/)/.test(ticket.qr_url) ? ticket.qr_url : null;
  if (url) {
    // The QR's place: kept at its size while loading, so nothing jumps when it arrives.
    const slot = document.createElement("div");
    slot.className = "qr";
    const save = document.createElement("a");
    save.className = "save";
    save.href = url;
    save.download = `ticket-${index + 1}.png`;
    save.textContent = count > 1 ? t("ticket.saveNumbered", { number: index + 1 }) : t("ticket.save");
    save.hidden = true;
    loadUntilLoaded(
      url,
      t("ticket.qrAlt", { code: ticket.code }),
      (image) => {
        slot.replaceChildren(image);
        save.hidden = false;
      },
      () => {
        if (slot.querySelector("img")) return;
        const missing = document.createElement("p");
        missing.className = "missing";
        missing.textContent = WORDS.qrRetrying;
        slot.replaceChildren(missing);
      },
    );
    item.append(slot, save);
  }
  // The short code is what an attendant types when the QR will not scan: big, on one line.
  if (typeof ticket.short_code === "string" && ticket.short_code) {
    const label = document.createElement("p");
    label.className = "short-code-label";
    label.textContent = t("ticket.gateCode");
    const short = document.createElement("p");
    short.className = "short-code";
    short.textContent = ticket.short_code;
    item.append(label, short);
  }
  const code = document.createElement("p");
  code.className = "code";
  code.textContent = ticket.code ?? "";
  item.append(code);
  return item;
}
