// What the gate says about one ticket: a kind (colour and shape in gate.css), a word that
// settles it at arm's length, and the detail. Times are the event's clock, not the phone's.

export const EVENT_TIMEZONE_FALLBACK = "Africa/Nairobi";

export function clock(iso, timeZone = EVENT_TIMEZONE_FALLBACK) {
  const moment = new Date(String(iso ?? ""));
  if (Number.isNaN(moment.getTime())) return "";
  try {
    return moment.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone });
  } catch {
    return moment.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }
}

function inOrder(ticket) {
  const order = ticket?.order;
  if (!order || !(order.tickets > 1)) return "";
  return ` · ${order.admitted} of ${order.tickets} in this order`;
}

function alreadyIn(ticket) {
  const zone = ticket?.event?.timezone;
  const door = ticket?.checked_in_gate ? ` at ${ticket.checked_in_gate}` : "";
  return {
    kind: "already-in",
    title: "ALREADY IN",
    detail: `Checked in at ${clock(ticket?.checked_in_at, zone)}${door}.`,
    more: `${ticket?.ticket_type?.name ?? "Ticket"}. Do not let this ticket in again.`,
  };
}

function eventOver(ticket) {
  const ends = ticket?.event?.ends_at;
  const when = ends ? ` It ended at ${clock(ends, ticket?.event?.timezone)}.` : "";
  return {
    kind: "event-over",
    title: "EVENT OVER",
    detail: `${ticket?.event?.name ?? "This event"} is over.${when}`,
    more: "Do not let this ticket in.",
  };
}

const NOT_VALID = {
  kind: "not-valid",
  title: "NOT VALID",
  detail: "This code is not a ticket of this event. Do not let it in.",
  more: "If you typed it, check each character and try again.",
};

function problem(title, detail) {
  return { kind: "problem", title, detail, more: "The ticket was not checked in." };
}

// `mode`: "admit" (the answer of a check-in) or "check" (of a verify).
export function verdictOf(mode, { status, body }) {
  if (status === 200 && body?.genuine) {
    if (mode === "admit") {
      return {
        kind: "admit",
        title: "ADMIT",
        detail: `${body.ticket_type?.name ?? "Ticket"}${inOrder(body)}`,
        more: body.event?.name ?? "",
      };
    }
    if (body.checked_in) return alreadyIn(body);
    if (body.event_over) return eventOver(body);
    return {
      kind: "valid",
      title: "VALID, NOT IN YET",
      detail: `${body.ticket_type?.name ?? "Ticket"}${inOrder(body)}`,
      more: "Only checked, not let in. Choose “Let it in” above to admit.",
    };
  }
  if (status === 409 && body?.error === "event_over") return eventOver(body.ticket);
  if (status === 409 && body?.ticket) return alreadyIn(body.ticket);
  if (status === 404) return NOT_VALID;
  if (status === 429) {
    return problem("Too many checks", `Wait ${body?.retry_after ?? "a few"} seconds, then scan again.`);
  }
  if (status === 503 && body?.error === "check_in_disabled") {
    return problem("Check-in is turned off", "This service has no gate token set up. Ask the organiser.");
  }
  return problem("Could not check this ticket", body?.message ?? `The service answered ${status}. Try again.`);
}

// A short buzz and a high beep for ADMIT; a long double buzz and a low tone for the rest.
let audio = null;
export function unlockSound() {
  // Browsers allow sound only after a tap: made then, used on every verdict after.
  try {
    audio ??= new (window.AudioContext || window.webkitAudioContext)();
  } catch {
    audio = null;
  }
}

export function signal(kind) {
  const good = kind === "admit" || kind === "valid";
  try {
    navigator.vibrate?.(good ? 80 : [220, 90, 220]);
  } catch {
    // Vibration not allowed here: the screen says it all.
  }
  if (!audio) return;
  try {
    const tone = audio.createOscillator();
    const volume = audio.createGain();
    tone.frequency.value = good ? 880 : 220;
    volume.gain.value = 0.2;
    tone.connect(volume).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + (good ? 0.12 : 0.4));
  } catch {
    // No sound: the screen says it all.
  }
}
