// What the status page shows for each state an order can be in, in plain words.
// Everything from the server is written with textContent: no HTML is ever built from data.

import { formatMoney, retryHref } from "./common.js";

// How long M-PESA's prompt stays on the phone before it gives up.
export const PIN_PROMPT_MS = 60000;

// result_code -> why, in words. The service files 1032/1031 as `cancelled` and 1037/1019 as
// `expired` (the prompt timed out); the words follow the code whatever the status says.
const UNREACHABLE = "We could not reach your phone: it may be off or out of network, or the prompt timed out.";
const FAILURE_REASONS = {
  1: (amount) => `Your M-PESA balance was not enough to pay ${amount}.`,
  2001: () => "The M-PESA PIN entered was wrong, so the payment did not go through.",
  1037: () => UNREACHABLE,
  1001: () => "Another M-PESA payment was in progress on your phone. Wait a minute, then try again.",
};
const CANCELLED_CODES = new Set([1031, 1032]);
const EXPIRED_REASONS = {
  1037: `${UNREACHABLE} No money was taken.`,
  1019: "The M-PESA prompt expired before the PIN was entered. No money was taken.",
};
// Expired by the service itself: nobody answered, so a late payment is still possible.
const EXPIRED_UNANSWERED =
  "M-PESA did not confirm the payment in time. If money left your account after all, your tickets will be e-mailed to you.";

const BADGES = {
  loading: "…", pending: "…", processing: "…", waiting: "!",
  completed: "✓", failed: "✕", cancelled: "✕", expired: "✕", "not-found": "?",
};

const byId = (id) => document.getElementById(id);

// The document names a ticket type by its slug ("early-bird"): say it as words.
function ticketLabel(slug) {
  const words = String(slug ?? "").replace(/[-_]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "Ticket";
}

function ticketItem(ticket) {
  const item = document.createElement("li");
  const url = typeof ticket.qr_url === "string" && /^\/(?!\/)/.test(ticket.qr_url) ? ticket.qr_url : null;
  if (url) {
    const image = document.createElement("img");
    image.src = url;
    image.width = 280;
    image.height = 280;
    image.alt = `QR code of ticket ${ticket.code}`;
    image.addEventListener("error", () => {
      const missing = document.createElement("p");
      missing.className = "missing";
      missing.textContent = "The QR code is not ready yet: show the ticket code below, or the one in your e-mail.";
      image.replaceWith(missing);
    });
    item.append(image);
  }
  const kind = document.createElement("p");
  kind.className = "kind";
  kind.textContent = ticketLabel(ticket.ticket_type);
  const code = document.createElement("p");
  code.className = "code";
  code.textContent = ticket.code ?? "";
  item.append(kind, code);
  return item;
}

export class StatusView {
  constructor() {
    this.root = byId("status");
    this.document = null;
    this.countdownTimer = null;
    this.announced = "";
  }

  get state() {
    return this.root.dataset.state;
  }

  // The one place a state is drawn: title, message, details, actions, announcement.
  render(state, title, message, { details = true, retry = false, checkAgain = false } = {}) {
    this.root.dataset.state = state;
    byId("badge").textContent = BADGES[state] ?? "";
    byId("title").textContent = title;
    byId("message").textContent = message;
    byId("details").hidden = !(details && this.document);
    byId("try-again").hidden = !retry;
    byId("try-again").href = retryHref();
    byId("check-again").hidden = !checkAgain;
    if (state !== "processing") this.stopCountdown();
    if (state !== "completed") byId("tickets").hidden = true;
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

  show(doc) {
    this.document = doc;
    const amount = formatMoney(doc.amount, doc.currency);
    byId("order-number").textContent = doc.order_number ?? "";
    byId("amount").textContent = amount;
    byId("receipt-row").hidden = !doc.receipt_number;
    byId("receipt").textContent = doc.receipt_number ?? "";
    const code = Number(doc.result_code);
    const status = doc.payment_status;

    if (status === "completed") {
      const tickets = Array.isArray(doc.tickets) ? doc.tickets : [];
      const where = tickets.length ? "Your tickets are below." : "Your tickets are on their way to your e-mail.";
      this.render("completed", "Payment received", `Thank you! ${amount} is paid. ${where}`);
      byId("ticket-list").replaceChildren(...tickets.map(ticketItem));
      byId("tickets").hidden = !tickets.length;
    } else if (status === "cancelled" || (status === "failed" && CANCELLED_CODES.has(code))) {
      this.render("cancelled", "Payment cancelled", "The M-PESA prompt was cancelled, so no money was taken.", {
        retry: true,
      });
    } else if (status === "expired") {
      this.render("expired", "Payment request expired", EXPIRED_REASONS[code] ?? EXPIRED_UNANSWERED, { retry: true });
    } else if (status === "failed") {
      const reason = FAILURE_REASONS[code]?.(amount) ?? doc.result_desc ?? "M-PESA did not accept the payment.";
      this.render("failed", "Payment failed", `${reason} No money was taken.`, { retry: true });
    } else if (status === "processing") {
      this.render("processing", "Check your phone", `Enter your M-PESA PIN in the prompt on your phone to pay ${amount}.`);
      this.startCountdown(doc);
    } else {
      this.render("pending", "Sending the payment request", "We are asking M-PESA to send a prompt to your phone…");
    }
  }

  // The prompt's deadline comes from when the order became `processing`, by the server's
  // clock; a clock too far off ours falls back to a full minute from now.
  startCountdown(doc) {
    if (this.countdownTimer) return;
    const now = Date.now();
    const changed = Date.parse(doc.updated_at);
    let deadline = changed + PIN_PROMPT_MS;
    if (!Number.isFinite(deadline) || deadline > now + PIN_PROMPT_MS) deadline = now + PIN_PROMPT_MS;
    const element = byId("countdown");
    element.hidden = false;
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (left > 0) {
        const seconds = String(left % 60).padStart(2, "0");
        element.textContent = `The prompt expires in ${Math.floor(left / 60)}:${seconds}`;
      } else {
        element.textContent =
          "The prompt has probably expired on your phone. We will show the result here as soon as M-PESA tells us.";
        this.stopCountdown(false);
      }
    };
    tick();
    this.countdownTimer = setInterval(tick, 1000);
  }

  stopCountdown(hide = true) {
    clearInterval(this.countdownTimer);
    this.countdownTimer = null;
    if (hide) byId("countdown").hidden = true;
  }

  stillWaiting() {
    this.render(
      "waiting",
      "Still waiting for M-PESA",
      "M-PESA has not told us the result yet. If you entered your PIN, the payment may still go through: check again in a moment.",
      { checkAgain: true },
    );
    this.transport("");
  }

  checkingAgain() {
    if (this.document) this.show(this.document);
    else this.render("loading", "Checking your payment…", "One moment while we ask M-PESA.");
  }

  notFound() {
    this.document = null;
    this.render("not-found", "We cannot find this payment", "Check the link you followed, or start a new order.", {
      details: false,
      retry: true,
    });
    byId("try-again").textContent = "Go to the checkout";
  }

  // A quiet line under everything saying how the page is listening.
  transport(text) {
    byId("transport").textContent = text;
  }
}
