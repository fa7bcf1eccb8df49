// One ticket as the customer keeps it: its QR, its type as the catalogue names it, its code,
// a link that saves it as a card image (event, time, venue, type, name, QR, code: for a gate
// where the network is poor), printing (one ticket per page) and its own link to pass on
// (the Web Share API where the phone offers it, copied otherwise).
//
// A QR image that fails to load (the network dropped) is tried again with backoff, and at
// once when the browser says it is online or the tab is shown again, until it loads; the
// Save link comes back with it.

import { formatMoment, log } from "./common.js";
import { language, t } from "./i18n.js";

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

// `demo-fest-2026-early-bird-1.png`, as the server names the card (server/tickets/shared_tickets.py).
function slug(text) {
  return String(text ?? "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "ticket";
}

function cardName(ticket, index, event) {
  if (typeof ticket.card_name === "string" && ticket.card_name) return ticket.card_name;
  return `${slug(event?.name ?? event?.slug)}-${slug(ticket.ticket_type)}-${index + 1}.png`;
}

const sameOrigin = (url) => (typeof url === "string" && /^\/(?!\/)/.test(url) ? url : null);

// The ticket's own link: shared through the phone's share sheet where there is one, else
// copied; if copying is refused too, shown in a field to copy by hand.
async function shareTicket(url, title, status) {
  const link = new URL(url, window.location.origin).href;
  if (navigator.share) {
    try {
      await navigator.share({ title, text: t("ticket.shareText", { title }), url: link });
      return;
    } catch (error) {
      if (error?.name === "AbortError") return; // the customer closed the share sheet
      log("share failed", String(error));
    }
  }
  try {
    await navigator.clipboard.writeText(link);
    status.textContent = t("ticket.copied");
  } catch {
    const field = document.createElement("input");
    field.readOnly = true;
    field.value = link;
    field.setAttribute("aria-label", t("ticket.linkLabel"));
    status.replaceChildren(t("ticket.copyByHand"), field);
    field.select();
  }
}

export function ticketItem(ticket, index, count, event = null) {
  const item = document.createElement("li");
  if (event) {
    // On paper each ticket is a page of its own: its event goes with it (print only).
    const header = document.createElement("div");
    header.className = "print-only";
    for (const text of [event.name, formatMoment(event.starts_at, event.timezone), event.venue]) {
      const line = document.createElement("p");
      line.textContent = text ?? "";
      header.append(line);
    }
    item.append(header);
  }
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
    // The card in the page's language; a document without cards saves the bare QR.
    const card = sameOrigin(ticket.card_url);
    save.href = card ? `${card}?lang=${language}` : url;
    save.download = card ? cardName(ticket, index, event) : `ticket-${index + 1}.png`;
    save.textContent = count > 1 ? t("ticket.saveNumbered", { number: index + 1 }) : t("ticket.save");
    // Unseen until its QR is here, but in its place: were it to appear then, everything below
    // (Lost your tickets?, the next ticket) would jump under a finger about to tap it.
    save.style.visibility = "hidden";
    loadUntilLoaded(
      url,
      t("ticket.qrAlt", { code: ticket.code }),
      (image) => {
        slot.replaceChildren(image);
        save.style.visibility = "";
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
  const share = sameOrigin(ticket.share_url);
  if (share) {
    const actions = document.createElement("div");
    actions.className = "ticket-actions";
    const status = document.createElement("p");
    status.className = "share-status";
    status.setAttribute("role", "status");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = count > 1 ? t("ticket.shareNumbered", { number: index + 1 }) : t("ticket.share");
    const title = event?.name ?? t("ticket.ticket");
    button.addEventListener("click", () => shareTicket(share, title, status));
    const print = document.createElement("button");
    print.type = "button";
    print.className = "secondary";
    print.textContent = t("ticket.print");
    print.addEventListener("click", () => window.print());
    actions.append(button, print, status);
    item.append(actions);
  }
  return item;
}
