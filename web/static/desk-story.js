// One order's whole story at the desk, and the actions a person takes on it.
// Everything is written with textContent: names and callback bodies come from customers
// and from PayHero, never as HTML.

import { formatMoney } from "./common.js";

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) if (child !== null && child !== undefined && child !== "") node.append(child);
  return node;
}

const STATUS_WORDS = {
  pending: "Placed",
  processing: "Being paid",
  completed: "Paid",
  failed: "Failed",
  cancelled: "Cancelled",
  expired: "Expired",
};
const ACTION_WORDS = {
  ask_payhero: "Asked PayHero again",
  complete: "Completed after checking the M-PESA statement",
  close: "Closed: refunded outside the service",
  resend_tickets: "Sent the tickets again",
};

export function when(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return moment.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" });
}

export const statusWords = (status) => STATUS_WORDS[status] || status;

function list(title, items, render, empty) {
  return [
    el("h3", { text: title }),
    items.length ? el("ol", {}, items.map((item) => el("li", {}, render(item)))) : el("p", { class: "hint", text: empty }),
  ];
}

function field(id, label, { required = false, multiline = false, hint = "" } = {}) {
  const input = multiline
    ? el("textarea", { id, name: id, required, "aria-describedby": `${id}-error` })
    : el("input", { id, name: id, required, autocomplete: "off", autocapitalize: "characters", spellcheck: "false", "aria-describedby": `${id}-hint ${id}-error` });
  return el(
    "div",
    { class: "field" },
    el("label", { for: id, text: label }),
    input,
    hint ? el("p", { class: "hint", id: `${id}-hint`, text: hint }) : null,
    el("p", { class: "field-error", id: `${id}-error` }),
  );
}

function heldBox(story, act) {
  const box = el("div", { class: "held-box", role: "group", "aria-labelledby": "held-title" });
  box.append(
    el("h3", { id: "held-title", text: "Held for review" }),
    el("p", { id: "held-reason", text: story.review_reason }),
  );
  const ask = el("button", { type: "button", class: "secondary", id: "ask-payhero", text: "Ask PayHero again" });
  ask.addEventListener("click", () => act("ask-payhero", {}, ask));
  box.append(el("div", { class: "actions" }, ask));

  const complete = el(
    "form",
    { id: "complete-form", novalidate: true },
    field("receipt", "M-PESA receipt number", { required: true, hint: "As it shows on the M-PESA statement, e.g. SAE3YULR0Y." }),
    field("complete-note", "Note (optional)", { multiline: true }),
    el("button", { type: "submit", text: "Complete: I have checked the M-PESA statement" }),
  );
  complete.addEventListener("submit", (event) => {
    event.preventDefault();
    const receipt = complete.querySelector("#receipt");
    if (!receipt.value.trim()) return showFieldError("receipt", "Type the receipt number from the M-PESA statement.");
    const body = { receipt: receipt.value.trim().toUpperCase() };
    const note = complete.querySelector("#complete-note").value.trim();
    if (note) body.note = note;
    act("complete", body, complete.querySelector("button"));
  });

  const close = el(
    "form",
    { id: "close-form", novalidate: true },
    field("close-note", "What was refunded, and how", { required: true, multiline: true }),
    el("button", { type: "submit", class: "secondary", text: "Close: refunded outside the service" }),
  );
  close.addEventListener("submit", (event) => {
    event.preventDefault();
    const note = close.querySelector("#close-note").value.trim();
    if (!note) return showFieldError("close-note", "Say what was refunded, and how, for the record.");
    act("close", { note }, close.querySelector("button"));
  });
  box.append(complete, close);
  return box;
}

export function showFieldError(id, message) {
  const input = document.getElementById(id);
  const error = document.getElementById(`${id}-error`);
  if (!input || !error) return;
  error.textContent = message;
  input.setAttribute("aria-invalid", message ? "true" : "false");
  if (message) input.focus();
}

export function renderStory(container, story, act) {
  const order = story.order;
  container.replaceChildren(
    el("h3", { id: "story-title", class: "story-title", text: `${order.order_number} · ${statusWords(order.payment_status)}` }),
    el(
      "dl",
      { class: "details" },
      [
        ["Name", order.name],
        ["E-mail", order.email || ""],
        ["Phone", order.phone || ""],
        ["Tickets", `${order.quantity} × ${order.ticket_type} · ${order.event}`],
        ["Amount", formatMoney(order.amount, order.currency)],
        ["Placed", when(order.created_at)],
      ].map(([term, value]) => el("div", {}, el("dt", { text: term }), el("dd", { text: value }))),
    ),
  );
  if (story.review_open) container.append(heldBox(story, act));
  if (order.payment_status === "completed") {
    const resend = el("button", { type: "button", class: "secondary", id: "resend", text: "Send the tickets again" });
    resend.addEventListener("click", () => act("resend-tickets", {}, resend));
    container.append(el("div", { class: "actions" }, resend));
  }
  container.append(
    ...list("What the desk did", story.actions, (a) => [
      el("strong", { text: ACTION_WORDS[a.action] || a.action }),
      ` by ${a.actor}, ${when(a.at)}`,
      a.receipt_number ? ` · receipt ${a.receipt_number}` : "",
      a.note ? el("p", { class: "note", text: `Note: ${a.note}` }) : null,
      a.action === "ask_payhero" ? el("details", {}, el("summary", { text: "PayHero's answer" }), el("pre", { text: JSON.stringify(a.evidence, null, 2) })) : null,
    ], "Nothing yet."),
    ...list("Status changes", story.changes, (c) =>
      `${when(c.at)}: ${c.from_status ? statusWords(c.from_status) + " → " : ""}${statusWords(c.to_status)} (${c.source})${c.note ? " · " + c.note : ""}`,
    "None."),
    ...list("M-PESA prompts (STK pushes)", story.pushes, (p) =>
      `#${p.attempt} sent ${when(p.sent_at)}: PayHero ${p.outcome}${p.error ? " (" + p.error + ")" : ""}${p.result ? " · result " + p.result : ""}${p.receipt_number ? " · receipt " + p.receipt_number : ""}`,
    "No prompt was sent."),
    ...list("Callbacks from PayHero", story.callbacks, (c) => [
      `${when(c.received_at)}: ${c.outcome || "not applied yet"}${c.replay_of ? " (replay of " + c.replay_of + ")" : ""}`,
      el("details", {}, el("summary", { text: "Body as received" }), el("pre", { text: c.body })),
    ], "No callback has arrived."),
    ...list("E-mails", story.emails, (m) =>
      `${m.kind} to ${m.recipient}: queued ${when(m.queued_at)}, ${m.sent_at ? "sent " + when(m.sent_at) : `not sent yet (${m.attempts} attempt(s)${m.last_error ? ": " + m.last_error : ""})`}`,
    "No e-mail."),
    ...list("Tickets", story.tickets, (t) =>
      `${order.ticket_type} · ${t.code || "not issued"} · ${t.checked_in_at ? "checked in " + when(t.checked_in_at) + (t.gate ? " at the " + t.gate + " gate" : "") : "not checked in"}`,
    "No tickets yet."),
  );
}
