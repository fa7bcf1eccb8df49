// The gate page at /gate: staff enter their gate token once (kept in this tab's
// sessionStorage only), then check tickets by camera or by typing the code.
// Verify is public (GET /api/tickets/verify); check-in needs `Authorization: Bearer <token>`.

import { log } from "./common.js";
import { Scanner, canScan } from "./gate-scanner.js";

const TOKEN_KEY = "gate:token";
const byId = (id) => document.getElementById(id);
const root = byId("gate");
const tokenForm = byId("token-form");
const codeForm = byId("code-form");
const codeInput = byId("code");
const verdict = byId("verdict");
const checkInButton = byId("check-in");
let current = null; // the code the verdict is about
let busy = false;

function readToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return memoryToken;
  }
}
let memoryToken = "";
function writeToken(token) {
  memoryToken = token;
  try {
    if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
    else window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage off (private mode): the token lives as long as this page.
  }
}

function announce(text) {
  const region = byId("gate-announce");
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50);
}

function showToken(message = "") {
  root.dataset.state = "token";
  tokenForm.hidden = false;
  byId("checker").hidden = true;
  verdict.hidden = true;
  byId("token-error").textContent = message;
  if (message) byId("token").setAttribute("aria-invalid", "true");
  byId("token").focus();
}

function showChecker() {
  root.dataset.state = "checking";
  tokenForm.hidden = true;
  byId("checker").hidden = false;
  byId("scanner").hidden = !canScan();
  nextTicket();
}

function nextTicket() {
  current = null;
  verdict.hidden = true;
  codeInput.value = "";
  byId("code-error").textContent = "";
  codeInput.removeAttribute("aria-invalid");
  codeInput.focus();
}

const clock = (iso) => {
  const moment = new Date(String(iso ?? ""));
  return Number.isNaN(moment.getTime())
    ? ""
    : moment.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
};
const about = (ticket) => [ticket?.event?.name, ticket?.ticket_type?.name].filter(Boolean).join(" · ");

// The answer, over the whole screen: `kind` picks the colour (gate.css), words say it all.
function showVerdict(kind, mark, title, detail, { canCheckIn = false } = {}) {
  root.dataset.state = "verdict";
  verdict.dataset.verdict = kind;
  byId("verdict-mark").textContent = mark;
  byId("verdict-title").textContent = title;
  byId("verdict-detail").textContent = detail;
  checkInButton.hidden = !canCheckIn;
  verdict.hidden = false;
  (canCheckIn ? checkInButton : byId("next")).focus();
  announce(`${title}. ${detail}`);
}

function showTicket(ticket) {
  if (ticket.checked_in) {
    showVerdict("already-in", "✕", `Already checked in at ${clock(ticket.checked_in_at)}`, `${about(ticket)}. Do not let this ticket in again.`);
  } else {
    showVerdict("genuine", "✓", "Genuine ticket, not yet in", about(ticket), { canCheckIn: true });
  }
}

function problem(title, detail) {
  showVerdict("problem", "!", title, detail);
}

async function verify(code) {
  current = code;
  const response = await fetch(`/api/tickets/verify?code=${encodeURIComponent(code)}`, {
    cache: "no-store",
    headers: { Accept: "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok && body.genuine) showTicket(body);
  else if (response.status === 404) showVerdict("not-valid", "✕", "Not a valid ticket", "This code is not a ticket of this event. Do not let it in.");
  else problem("Could not check this ticket", body.message ?? `The service answered ${response.status}. Try again.`);
}

async function checkIn() {
  const response = await fetch("/api/tickets/check-in", {
    method: "POST",
    cache: "no-store",
    headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: `Bearer ${readToken()}` },
    body: JSON.stringify({ code: current }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    showVerdict("checked-in", "✓", "Checked in: let them in", `${about(body)} · at ${clock(body.checked_in_at)}`);
  } else if (response.status === 409 && body.ticket) {
    showTicket(body.ticket);
  } else if (response.status === 404) {
    showVerdict("not-valid", "✕", "Not a valid ticket", "This code is not a ticket of this event. Do not let it in.");
  } else if (response.status === 401) {
    writeToken("");
    showToken("The gate token was not accepted. Enter it again, then check the ticket again.");
  } else if (response.status === 503 && body.error === "check_in_disabled") {
    problem("Check-in is turned off", "This service has no gate token set up. Ask the organiser.");
  } else {
    problem("Could not check in", body.message ?? `The service answered ${response.status}. Try again.`);
  }
}

// One request at a time; a failed connection is said in words, never left silent.
async function guarded(action) {
  if (busy) return;
  busy = true;
  root.setAttribute("aria-busy", "true");
  try {
    await action();
  } catch (error) {
    log("gate request failed", String(error));
    problem("No connection", "The check did not reach the service. Check the connection and try again.");
  } finally {
    busy = false;
    root.removeAttribute("aria-busy");
  }
}

tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = byId("token").value.trim();
  if (!token) {
    showToken("Enter the gate token.");
    return;
  }
  writeToken(token);
  byId("token").value = "";
  byId("token").removeAttribute("aria-invalid");
  showChecker();
});

codeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const code = codeInput.value.trim();
  if (!code) {
    byId("code-error").textContent = "Type or paste the ticket's code.";
    codeInput.setAttribute("aria-invalid", "true");
    codeInput.focus();
    return;
  }
  guarded(() => verify(code));
});

checkInButton.addEventListener("click", () => guarded(checkIn));
byId("next").addEventListener("click", nextTicket);
byId("forget").addEventListener("click", () => {
  writeToken("");
  showToken();
});

const scanner = new Scanner(byId("camera"), (code) => {
  codeInput.value = code;
  guarded(() => verify(code));
});
byId("scan").addEventListener("click", async () => {
  try {
    await scanner.start();
  } catch (error) {
    log("camera unavailable", String(error));
    byId("code-error").textContent = "The camera could not be opened: type or paste the code instead.";
  }
});

if (readToken()) showChecker();
else showToken();
