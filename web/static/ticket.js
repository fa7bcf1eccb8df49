// One ticket by its own link, /ticket/{share_id}: the ticket only (its event, type, holder's
// first name, QR and code), to show at the gate, save as a card, print or pass on. Never the
// order it came from. The data: GET /api/tickets/shared/{share_id} (API.md).

import { formatMoment, log } from "./common.js";
import { languageSwitch, t } from "./i18n.js";
import { ticketItem } from "./tickets.js";

const byId = (id) => document.getElementById(id);
const shareId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() ?? "");

languageSwitch();

function say(state, title, message = "") {
  byId("shared").dataset.state = state;
  byId("shared-title").textContent = title;
  byId("shared-message").textContent = message;
  document.title = title;
}

async function load() {
  let response;
  try {
    response = await fetch(`/api/tickets/shared/${encodeURIComponent(shareId)}`, {
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
  } catch (error) {
    log("shared ticket request failed", String(error));
    say("offline", t("shared.offlineTitle"), t("common.unreachable"));
    window.addEventListener("online", load, { once: true });
    return;
  }
  if (!response.ok) {
    say("not-found", t("shared.notFoundTitle"), t("shared.notFoundMessage"));
    return;
  }
  const ticket = await response.json();
  const event = ticket.event ?? {};
  say("ticket", event.name ?? t("ticket.ticket"));
  byId("event-name").textContent = ticket.ticket_type_name ?? "";
  byId("event-when").textContent = formatMoment(event.starts_at, event.timezone);
  byId("event-venue").textContent = event.venue ?? "";
  const ended = byId("event-ended");
  const endsAt = Date.parse(event.ends_at ?? "");
  ended.textContent = t("status.eventEnded");
  ended.hidden = !(Number.isFinite(endsAt) && endsAt <= Date.now());
  byId("event").hidden = false;
  const holder = byId("holder");
  holder.textContent = ticket.holder_first_name ? t("shared.holder", { name: ticket.holder_first_name }) : "";
  holder.hidden = !ticket.holder_first_name;
  // The same ticket as on the order's page: QR, codes, save, print, share.
  const item = ticketItem(ticket, ticket.number - 1, ticket.count, event);
  byId("ticket-list").replaceChildren(item);
  byId("tickets").hidden = false;
}

load();
