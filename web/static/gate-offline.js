// The gate with no network. With a valid token the device keeps each event's admission list
// (gate-lists.js); when a check cannot reach the service, the scan is judged against that
// list, and an admission is queued with its time and gate. Back online, the queue is sent
// (POST /api/gate/check-ins) and the lists fetched again. A ticket two offline doors both
// let in is reported on both: "admitted twice: North 16:05, South 16:07".

import { log } from "./common.js";
import { AdmissionList, forgetScans, keptLists, queueScan, queuedScans, saveList } from "./gate-lists.js";
import { clock } from "./gate-verdict.js";

const WORDS = {
  noList: "No ticket list on this phone yet: it is fetched while the network works.",
  list: (tickets, when, ago) => `Ticket list for offline use: ${tickets} tickets, updated ${when}${ago}.`,
  waiting: (count) => (count === 1 ? " 1 check-in waits to be sent." : ` ${count} check-ins wait to be sent.`),
  twice: (type, admissions) => `${type}: admitted twice: ${admissions}`,
  offlineMore: "No network: judged by this phone's ticket list. Sent when the network is back.",
};
const SYNC_EVERY_MS = 15000;
const BATCH = 500;
const SEPARATORS = /[\s\-_\u00b7\u2010-\u2014]+/g;
const AROUND = /^[.,;:!?"'`()[\]{}<>\u00ab\u00bb\u201c\u201d\u2018\u2019]+|[.,;:!?"'`()[\]{}<>\u00ab\u00bb\u201c\u201d\u2018\u2019]+$/g;
const LONG_CODE = /^([A-Za-z0-9_-]{8,32})\.[A-Za-z0-9_-]{8,}$/;

const headers = (token) => ({ Accept: "application/json", Authorization: `Bearer ${token}` });

async function shortHash(slug, compact) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${slug}:${compact}`));
  const text = btoa(String.fromCharCode(...new Uint8Array(digest)));
  return text.replace(/\+/g, "-").replace(/\//g, "_").slice(0, 8);
}

// What was typed or scanned, as the server reads it (server/tickets/typed_codes.py).
function readCode(raw) {
  const text = String(raw).replace(/\s+/g, "").replace(AROUND, "");
  const long = LONG_CODE.exec(text);
  if (long) return { id: long[1] };
  const compact = text.replace(SEPARATORS, "").toUpperCase().replace(/[IL]/g, "1").replace(/O/g, "0");
  return /^[0-9A-HJKMNP-TV-Z]{11}$/.test(compact) ? { short: compact } : null;
}

export class OfflineGate {
  constructor(onChange) {
    this.onChange = onChange; // told when the freshness line or the doubles change
    this.lists = [];
    this.doublesSeen = new Map(); // ticket id -> { type, admissions }
    this.waiting = 0;
    this.timer = null;
    this.syncing = null;
  }

  async load() {
    try {
      this.lists = await keptLists();
      this.waiting = (await queuedScans()).length;
      for (const list of this.lists) this.noteDoubles(list);
    } catch (error) {
      log("offline lists unavailable", String(error));
    }
    this.onChange();
    return this.lists.map((list) => list.event);
  }

  // With a token that worked: fetch each event's list, send what waits, keep trying.
  async start(token, events) {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.sync(token).catch(() => {}), SYNC_EVERY_MS);
    window.addEventListener("online", () => this.sync(token).catch(() => {}));
    await this.sync(token, events).catch((error) => log("sync failed", String(error)));
  }

  stop() {
    clearInterval(this.timer);
  }

  async refresh(token, events = this.lists.map((list) => list.event)) {
    const fresh = [];
    for (const event of events) {
      const response = await fetch(`/api/gate/events/${encodeURIComponent(event.slug)}/admission-list`, {
        cache: "no-store",
        headers: headers(token),
      });
      if (!response.ok) throw new Error(`admission list answered ${response.status}`);
      const list = new AdmissionList(event, await response.json(), Date.now());
      fresh.push(list);
      await saveList(list).catch((error) => log("list not kept", String(error)));
    }
    this.lists = fresh;
    for (const list of fresh) this.noteDoubles(list);
    this.onChange();
  }

  // Send the queue, then fetch the lists again (the queue's admissions are in them then).
  sync(token, events) {
    this.syncing ??= (async () => {
      try {
        const scans = await queuedScans();
        for (let start = 0; start < scans.length; start += BATCH) {
          const batch = scans.slice(start, start + BATCH);
          const response = await fetch("/api/gate/check-ins", {
            method: "POST",
            cache: "no-store",
            headers: { ...headers(token), "Content-Type": "application/json" },
            body: JSON.stringify({
              gate: batch[0].gate || undefined,
              check_ins: batch.map((scan) => ({ code: scan.code, scanned_at: scan.scanned_at })),
            }),
          });
          if (!response.ok) throw new Error(`queue answered ${response.status}`);
          const answer = await response.json();
          answer.results.forEach((result, index) => {
            if (result.result === "admitted_twice") this.noteDouble(result.ticket);
            batch[index].answered = true;
          });
          await forgetScans(batch.filter((scan) => scan.answered).map((scan) => scan.key));
        }
        this.waiting = (await queuedScans()).length;
        await this.refresh(token, events);
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  // A check-in the service answered: the list knows it at once, not only after its refresh,
  // so a ticket let in here online is not let in again here offline.
  noteCheckedIn(ticket) {
    if (!ticket?.checked_in || !ticket.ticket_id) return;
    for (const list of this.lists) {
      const index = list.byId.get(ticket.ticket_id);
      if (index !== undefined && !list.checked.has(index)) {
        list.markIn(index, Date.parse(ticket.checked_in_at), ticket.checked_in_gate);
        saveList(list).catch(() => {});
      }
    }
  }

  noteDouble(ticket) {
    if (!ticket?.ticket_id || !ticket.admissions) return;
    const type = ticket.ticket_type?.name ?? ticket.ticket_type ?? "Ticket";
    this.doublesSeen.set(ticket.ticket_id, { type, admissions: ticket.admissions, zone: ticket.event?.timezone });
  }

  noteDoubles(list) {
    for (const double of list.raw.doubles ?? []) {
      const index = list.byId.get(double.ticket_id);
      this.doublesSeen.set(double.ticket_id, {
        type: index === undefined ? "Ticket" : list.typeName(index),
        admissions: double.admissions,
        zone: list.event.timezone,
      });
    }
  }

  doubles() {
    return [...this.doublesSeen.values()].map(({ type, admissions, zone }) =>
      WORDS.twice(type, admissions.map((a) => `${a.gate ?? "a gate"} ${clock(a.at, zone)}`).join(", ")),
    );
  }

  freshness() {
    if (!this.lists.length) return WORDS.noList;
    const oldest = Math.min(...this.lists.map((list) => list.fetchedAt));
    const tickets = this.lists.reduce((sum, list) => sum + list.size, 0).toLocaleString("en-GB");
    const minutes = Math.floor((Date.now() - oldest) / 60000);
    const ago = minutes < 1 ? " (just now)" : ` (${minutes} min ago)`;
    const zone = this.lists[0].event.timezone;
    const text = WORDS.list(tickets, clock(new Date(oldest).toISOString(), zone), ago);
    return this.waiting ? text + WORDS.waiting(this.waiting) : text;
  }

  // The answer the service would give, from the list; null when no list can tell.
  async judge(mode, raw, door) {
    const code = readCode(raw);
    if (!this.lists.length) return null;
    for (const list of code ? this.lists : []) {
      const index = code.id !== undefined ? list.byId.get(code.id) : list.byHash.get(await shortHash(list.event.slug, code.short));
      if (index === undefined) continue;
      return this.answer(mode, list, index, raw, door);
    }
    return { status: 404, body: { error: "ticket_not_valid" }, offline: true };
  }

  async answer(mode, list, index, raw, door) {
    const event = list.event;
    const ticket = {
      genuine: true,
      event: { name: event.name, timezone: event.timezone, ends_at: event.ends_at },
      ticket_type: { name: list.typeName(index) },
      order: null,
    };
    const seen = list.checked.get(index);
    if (seen) {
      const checkedIn = { ...ticket, checked_in: true, checked_in_at: new Date(seen.at).toISOString(), checked_in_gate: seen.gate };
      if (mode === "check") return { status: 200, body: checkedIn, offline: true };
      return { status: 409, body: { error: "already_checked_in", ticket: checkedIn }, offline: true };
    }
    const over = event.closes_at && Date.now() > Date.parse(event.closes_at);
    if (over) {
      if (mode === "check") return { status: 200, body: { ...ticket, checked_in: false, event_over: true }, offline: true };
      return { status: 409, body: { error: "event_over", ticket }, offline: true };
    }
    if (mode === "check") return { status: 200, body: { ...ticket, checked_in: false }, offline: true };
    const at = Date.now();
    list.markIn(index, at, door);
    await queueScan({ code: raw, scanned_at: new Date(at).toISOString(), gate: door });
    this.waiting += 1;
    await saveList(list).catch(() => {});
    this.onChange();
    return { status: 200, body: { ...ticket, checked_in: true }, offline: true };
  }
}

export const OFFLINE_MORE = WORDS.offlineMore;

// The page and its scripts, kept for a visit with no network (gate-sw.js).
export async function keepPageOffline(extra = []) {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("/gate-sw.js", { scope: "/gate" });
    const cache = await caches.open("gate-v1");
    const ours = performance
      .getEntriesByType("resource")
      .map((entry) => entry.name)
      .filter((url) => new URL(url).origin === location.origin && new URL(url).pathname.startsWith("/static/"));
    await Promise.all(["/gate", ...ours, ...extra].map((url) => cache.add(url).catch(() => {})));
  } catch (error) {
    log("offline page not kept", String(error));
  }
}
