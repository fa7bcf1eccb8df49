// What the status page shows for each state an order can be in, in plain words.
// Everything from the server is written with textContent: no HTML is ever built from data.
//
// While an order is `processing` the words follow the prompt on the phone, which lives for a
// window (the document's `prompt_expires_at`): "Check your phone" (or "We sent the prompt
// again") with a countdown, then "Didn't get the prompt?" with Send it again and Cancel.
// So the customer is never left without something to press for longer than that window.
//
// "Send it again" and "Cancel" are offered only when the server has answered since the
// window ended and the order was still unpaid then: never from a document kept in the tab,
// and never while the connection is lost (the payment may have landed meanwhile). A paid
// order stays paid on the page whatever arrives after.

import { formatMoney, formatMoment, phoneEnding, retryHref } from "./common.js";
import { serverWords, t } from "./i18n.js";
import { ticketItem } from "./tickets.js";

// How long M-PESA's prompt stays on the phone, when the document does not say.
export const PIN_PROMPT_MS = 60000;

// result_code -> why, in words. The service files 1032/1031 as `cancelled` and 1037/1019 as
// `expired` (the prompt timed out); the words follow the code whatever the status says.
const UNREACHABLE = t("status.unreachable");
const FAILURE_REASONS = {
  1: (amount) => t("status.reason1", { amount }),
  2001: () => t("status.reason2001"),
  1037: () => UNREACHABLE,
  1001: () => t("status.reason1001"),
};
const CANCELLED_CODES = new Set([1031, 1032]);
const EXPIRED_REASONS = {
  1037: t("status.expired1037", { reason: UNREACHABLE }),
  1019: t("status.expired1019"),
};
// Expired by the service itself: nobody answered, so a late payment is still possible.
const EXPIRED_UNANSWERED = t("status.expiredUnanswered");

// Words for the network's ups and downs, from the catalogue of the page's language.
export const WORDS = {
  connectionLost: t("status.connectionLost"),
  offlineTitle: t("status.offlineTitle"),
  offlineMessage: t("status.offlineMessage"),
  confirmingTitle: t("status.confirmingTitle"),
  confirmingMessage: t("status.confirmingMessage"),
  connectionBack: t("status.connectionBack"),
  eventEnded: t("status.eventEnded"),
};

const BADGES = {
  loading: "…", pending: "…", processing: "…", resent: "…", "no-prompt": "?", waiting: "!",
  completed: "✓", failed: "✕", cancelled: "✕", expired: "✕", "not-found": "?", confirming: "…", offline: "!",
};

const byId = (id) => document.getElementById(id);

// When the latest prompt's window ends, by our clock. The server's `prompt_expires_at` is
// read against its own `updated_at`, so a phone whose clock is off still counts the right
// number of seconds; an older service without the field gives a full window from the change.
function promptDeadline(doc, now = Date.now()) {
  const changed = Date.parse(doc.updated_at);
  const expires = Date.parse(doc.prompt_expires_at ?? "");
  let window = PIN_PROMPT_MS;
  if (Number.isFinite(expires) && Number.isFinite(changed)) window = Math.max(0, expires - changed);
  let deadline = Number.isFinite(changed) ? changed + window : now + window;
  // A clock far ahead of the server's would otherwise count down much longer than the prompt.
  if (deadline > now + window) deadline = now + window;
  return deadline;
}

export class StatusView {
  constructor() {
    this.root = byId("status");
    this.document = null;
    this.countdownTimer = null;
    this.announced = "";
    this.stale = false; // long polling gave up its round: "Check again" is offered
    this.orderId = null;
    this.lost = false; // the network does not answer: nothing the page shows is confirmed
    this.heardAt = -Infinity; // when the server last answered (Date.now())
    this.deadline = null; // when the current prompt's window ends
    this.onConfirmationNeeded = null; // set by the page: read the order now
  }

  get state() {
    return this.root.dataset.state;
  }

  // The one place a state is drawn: title, message, details, actions, announcement.
  render(state, title, message, { details = true, retry = false, checkAgain = false, resend = false } = {}) {
    this.root.dataset.state = state;
    byId("badge").textContent = BADGES[state] ?? "";
    byId("title").textContent = title;
    byId("message").textContent = message;
    byId("details").hidden = !(details && this.document);
    byId("try-again").hidden = !retry;
    byId("try-again").href = retryHref();
    byId("check-again").hidden = !checkAgain;
    byId("send-again").hidden = !resend;
    byId("cancel-order").hidden = !resend;
    if (state !== "processing" && state !== "resent") this.stopCountdown();
    if (state !== "completed") byId("tickets").hidden = true;
    if (!["processing", "resent", "no-prompt", "waiting"].includes(state)) byId("sent-to").hidden = true;
    document.title = `${title} · M-PESA`;
    this.announce(`${title}. ${message}`);
  }

  announce(text) {
    if (text === this.announced) return;
    this.announced = text;
    // Emptied first so that a screen reader hears the new sentence as a change.
    const region = byId("announce");
    region.textContent = "";
    setTimeout(() => (region.textContent = text), 50);
  }

  // A message about an action (Send it again, Cancel) that did not work; "" clears it.
  actionError(text) {
    byId("action-error").textContent = text;
  }

  // The server has just answered (with news or not): a state waiting for that is drawn again.
  heard() {
    this.heardAt = Date.now();
    if (this.state === "confirming" && this.document) this.show(this.document);
  }

  connectionLost() {
    this.lost = true;
    byId("connection").textContent = WORDS.connectionLost;
    byId("connection").hidden = false;
    this.transport(WORDS.connectionLost);
    // What offered an action on the strength of the last answer offers it no more.
    if (["no-prompt", "confirming", "waiting"].includes(this.state) && this.document) this.show(this.document);
    else this.announce(WORDS.connectionLost);
  }

  connectionBack() {
    this.lost = false;
    byId("connection").hidden = true;
    this.transport("");
    if (this.state === "offline" && this.document) this.show(this.document);
    else this.announce(WORDS.connectionBack);
  }

  show(doc) {
    // Paid is final: no later (or older) document draws anything else over it.
    if (this.document?.payment_status === "completed" && doc.payment_status !== "completed") return;
    const previous = this.document;
    this.document = doc;
    if (previous?.version !== doc.version) this.actionError("");
    const amount = formatMoney(doc.amount, doc.currency);
    byId("order-number").textContent = doc.order_number ?? "";
    byId("amount").textContent = amount;
    byId("receipt-row").hidden = !doc.receipt_number;
    byId("receipt").textContent = doc.receipt_number ?? "";
    this.showEvent(doc);
    const code = Number(doc.result_code);
    const status = doc.payment_status;

    if (status === "completed") {
      this.stale = false;
      const tickets = Array.isArray(doc.tickets) ? doc.tickets : [];
      const where = tickets.length ? t("status.ticketsBelow") : t("status.ticketsByEmail");
      this.render("completed", t("status.paidTitle"), t("status.paidMessage", { amount, where }));
      const paidAt = formatMoment(doc.updated_at, doc.event?.timezone);
      byId("paid-at").textContent = paidAt;
      byId("paid-at-row").hidden = !paidAt;
      const event = doc.event && typeof doc.event === "object" ? doc.event : null;
      byId("ticket-list").replaceChildren(...tickets.map((ticket, index) => ticketItem(ticket, index, tickets.length, event)));
      byId("tickets").hidden = !tickets.length;
    } else if (status === "cancelled" || (status === "failed" && CANCELLED_CODES.has(code))) {
      this.render("cancelled", t("status.cancelledTitle"), t("status.cancelledMessage"), {
        retry: true,
      });
    } else if (status === "expired") {
      this.render("expired", t("status.expiredTitle"), EXPIRED_REASONS[code] ?? EXPIRED_UNANSWERED, { retry: true });
    } else if (status === "failed") {
      // PayHero's own description is English: a Kiswahili reader gets the general words.
      const described = FAILURE_REASONS[code]?.(amount) ?? serverWords(doc.result_desc, "status.notAccepted");
      this.render("failed", t("status.failedTitle"), t("status.failedMessage", { reason: described }), { retry: true });
    } else if (status === "processing") {
      this.showPrompt(doc, amount);
    } else {
      this.render("pending", t("status.pendingTitle"), t("status.pendingMessage"));
    }
    if (status !== "completed") byId("paid-at-row").hidden = true;
  }

  showEvent(doc) {
    const event = doc.event && typeof doc.event === "object" ? doc.event : null;
    byId("event").hidden = !event;
    if (!event) return;
    byId("event-name").textContent = event.name ?? "";
    byId("event-when").textContent = formatMoment(event.starts_at, event.timezone);
    byId("event-venue").textContent = event.venue ?? "";
    // After the event's end (by this phone's clock) the ticket page says so: no more gate.
    const ended = byId("event-ended");
    const endsAt = Date.parse(event.ends_at ?? "");
    ended.textContent = WORDS.eventEnded;
    ended.hidden = !(Number.isFinite(endsAt) && endsAt <= Date.now());
    const calendar = byId("add-to-calendar");
    // Only for a paid order: before that, the customer has nothing to go to yet.
    calendar.hidden = doc.payment_status !== "completed";
    calendar.href = `/api/orders/${encodeURIComponent(doc.order_id)}/calendar.ics`;
    calendar.download = `${event.slug || "event"}.ics`;
  }

  showPrompt(doc, amount) {
    const ending = phoneEnding(doc.order_id);
    const sentTo = byId("sent-to");
    sentTo.textContent = ending ? t("status.sentTo", { ending }) : "";
    sentTo.hidden = !ending;
    const deadline = promptDeadline(doc);
    this.deadline = deadline;
    if (deadline <= Date.now()) {
      this.promptOver();
      return;
    }
    if (Number(doc.pushes) > 1) {
      this.render("resent", t("status.resentTitle"), t("status.resentMessage", { amount }));
    } else {
      this.render("processing", t("status.processingTitle"), t("status.processingMessage", { amount }));
    }
    this.startCountdown(deadline);
  }

  // The prompt's window has passed and no answer came: the customer decides what next, once
  // the server confirms, after the window, that the order is still unpaid.
  promptOver() {
    this.stopCountdown();
    if (this.lost) {
      this.render("offline", WORDS.offlineTitle, WORDS.offlineMessage);
      return;
    }
    if (!(this.heardAt >= (this.deadline ?? Infinity))) {
      this.render("confirming", WORDS.confirmingTitle, WORDS.confirmingMessage);
      this.onConfirmationNeeded?.();
      return;
    }
    this.render(
      "no-prompt",
      t("status.noPromptTitle"),
      t("status.noPromptMessage"),
      { resend: true, checkAgain: this.stale },
    );
  }

  startCountdown(deadline) {
    this.stopCountdown();
    const element = byId("countdown");
    element.hidden = false;
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (left > 0) {
        const seconds = String(left % 60).padStart(2, "0");
        element.textContent = t("status.countdown", { time: `${Math.floor(left / 60)}:${seconds}` });
      } else {
        this.promptOver();
      }
    };
    tick();
    this.countdownTimer = setInterval(tick, 1000);
  }

  stopCountdown() {
    clearInterval(this.countdownTimer);
    this.countdownTimer = null;
    byId("countdown").hidden = true;
  }

  stillWaiting() {
    this.stale = true;
    if (this.state === "confirming" && this.document) this.show(this.document);
    if (this.state === "no-prompt" || this.state === "confirming") {
      byId("check-again").hidden = false;
      return;
    }
    this.render(
      "waiting",
      t("status.waitingTitle"),
      t("status.waitingMessage"),
      { checkAgain: true },
    );
    this.transport("");
  }

  checkingAgain() {
    this.stale = false;
    if (this.document) this.show(this.document);
    else this.render("loading", t("status.loadingTitle"), t("status.loadingMessage"));
  }

  notFound() {
    this.document = null;
    this.render("not-found", t("status.notFoundTitle"), t("status.notFoundMessage"), {
      details: false,
      retry: true,
    });
    byId("event").hidden = true;
    byId("try-again").textContent = t("status.goToCheckout");
    // Nothing is being checked any more: no "Checking with M-PESA (1 of 4)" under this.
    this.transport("");
  }

  // A quiet line under everything saying how the page is listening.
  transport(text) {
    byId("transport").textContent = text;
  }
}
