// What the gate says about one ticket: a kind (colour and shape in gate.css), a word that
// settles it at arm's length, and the detail. Times are the event's clock, not the phone's.

import { locale, serverWords, t } from "./i18n.js";

export const EVENT_TIMEZONE_FALLBACK = "Africa/Nairobi";

export function clock(iso, timeZone = EVENT_TIMEZONE_FALLBACK) {
  const moment = new Date(String(iso ?? ""));
  if (Number.isNaN(moment.getTime())) return "";
  try {
    return moment.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone });
  } catch {
    return moment.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }
}

function inOrder(ticket) {
  const order = ticket?.order;
  if (!order || !(order.tickets > 1)) return "";
  return t("gate.inOrder", { admitted: order.admitted, tickets: order.tickets });
}

function alreadyIn(ticket) {
  const zone = ticket?.event?.timezone;
  const time = clock(ticket?.checked_in_at, zone);
  return {
    kind: "already-in",
    title: t("gate.alreadyIn"),
    detail: ticket?.checked_in_gate ? t("gate.checkedInAtDoor", { time, door: ticket.checked_in_gate }) : t("gate.checkedInAt", { time }),
    more: t("gate.notAgain", { type: ticket?.ticket_type?.name ?? t("gate.ticket") }),
  };
}

function eventOver(ticket) {
  const ends = ticket?.event?.ends_at;
  const name = ticket?.event?.name ?? t("gate.thisEvent");
  return {
    kind: "event-over",
    title: t("gate.eventOver"),
    detail: ends ? t("gate.overEndedAt", { name, time: clock(ends, ticket?.event?.timezone) }) : t("gate.over", { name }),
    more: t("gate.doNotAdmit"),
  };
}

const NOT_VALID = {
  kind: "not-valid",
  title: t("gate.notValid"),
  detail: t("gate.notValidDetail"),
  more: t("gate.notValidMore"),
};

function problem(title, detail) {
  return { kind: "problem", title, detail, more: t("gate.notCheckedIn") };
}

// `mode`: "admit" (the answer of a check-in) or "check" (of a verify).
export function verdictOf(mode, { status, body }) {
  if (status === 200 && body?.genuine) {
    if (mode === "admit") {
      return {
        kind: "admit",
        title: t("gate.admit"),
        detail: `${body.ticket_type?.name ?? t("gate.ticket")}${inOrder(body)}`,
        more: body.event?.name ?? "",
      };
    }
    if (body.checked_in) return alreadyIn(body);
    if (body.event_over) return eventOver(body);
    return {
      kind: "valid",
      title: t("gate.valid"),
      detail: `${body.ticket_type?.name ?? t("gate.ticket")}${inOrder(body)}`,
      more: t("gate.validMore"),
    };
  }
  if (status === 409 && body?.error === "event_over") return eventOver(body.ticket);
  if (status === 409 && body?.ticket) return alreadyIn(body.ticket);
  if (status === 404) return NOT_VALID;
  if (status === 429) {
    return problem(t("gate.tooMany"), t("gate.tooManyDetail", { seconds: body?.retry_after ?? 10 }));
  }
  if (status === 503 && body?.error === "check_in_disabled") {
    return problem(t("gate.disabled"), t("gate.disabledDetail"));
  }
  return problem(t("gate.failed"), serverWords(body?.message, "gate.answered", { status }));
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
