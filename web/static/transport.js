// How the status page learns about its order: Server-Sent Events first, long polling when
// the stream cannot be trusted. The policy (DESIGN.md, "The page"):
//
// - Fall back to long polling when EventSource is missing, when the stream fails before its
//   first event, when no event arrives within a few seconds of opening (a proxy that
//   buffers the stream: the server sends the current status at once, so silence means the
//   bytes are held somewhere), or after repeated failures mid-way.
// - Long polling: rounds of at most 4 attempts, 5 s apart, each held by the server; after
//   a round without a final answer the page says so and offers "Check again".
//
// Every step is logged to the console so a developer can follow the transport.

import { log } from "./common.js";

export const TIMINGS = Object.freeze({
  firstEventMs: 4000, // "a few seconds": the first event normally arrives in milliseconds
  sseMaxErrors: 3, // consecutive stream errors (after it worked once) before giving up on it
  pollAttempts: 4,
  pollGapMs: 5000,
  // The server holds a wait for at most ~28 s; past this a proxy has swallowed the answer.
  pollClientTimeoutMs: 40000,
});

const TERMINAL = new Set(["completed", "failed", "cancelled", "expired"]);

export function isTerminal(document) {
  return TERMINAL.has(document?.payment_status);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class StatusTracker {
  // handlers: onStatus(document), onAttempt(attempt, of), onStillWaiting(), onNotFound()
  constructor(orderId, handlers, { version = 0, timings = TIMINGS } = {}) {
    this.orderId = orderId;
    this.handlers = handlers;
    this.version = version;
    this.timings = timings;
    this.finished = false;
    this.source = null;
    this.round = 0; // bumping it retires a round that is still sleeping
    this.polling = false;
    this.base = `/api/orders/${encodeURIComponent(orderId)}`;
  }

  start() {
    if (typeof window.EventSource !== "function") {
      log("EventSource is not available: long polling");
      this.checkAgain();
      return;
    }
    this.openStream();
  }

  // Takes a status document from either transport; returns whether it was news.
  accept(document) {
    if (this.finished || !document || typeof document.version !== "number") return false;
    if (document.version <= this.version) return false;
    this.version = document.version;
    if (isTerminal(document)) this.finish(`final status ${document.payment_status}`);
    this.handlers.onStatus(document);
    return true;
  }

  finish(reason) {
    if (this.finished) return;
    this.finished = true;
    this.round += 1;
    this.closeStream();
    log(`done: ${reason}`);
  }

  openStream() {
    const source = new EventSource(`${this.base}/events`);
    this.source = source;
    let received = false;
    let errors = 0;
    log("SSE opening");
    const silence = setTimeout(() => {
      this.fallBack(`no event within ${this.timings.firstEventMs / 1000} s (a proxy may be buffering the stream)`);
    }, this.timings.firstEventMs);
    source.onopen = () => {
      // A successful (re)connection: a reconnect with Last-Event-ID may bring no event at
      // all when nothing is new, so an open, not an event, clears the error count.
      errors = 0;
      log(received ? "SSE reconnected" : "SSE connected");
    };
    source.addEventListener("status", (event) => {
      if (!received) {
        received = true;
        clearTimeout(silence);
      }
      errors = 0;
      let document;
      try {
        document = JSON.parse(event.data);
      } catch {
        log("SSE sent an event that is not JSON; ignored");
        return;
      }
      log(`SSE status v${document.version} ${document.payment_status}`);
      this.accept(document);
    });
    source.onerror = () => {
      if (this.finished || this.source !== source) return;
      if (!received) {
        clearTimeout(silence);
        this.fallBack("SSE failed before its first event");
        return;
      }
      errors += 1;
      if (errors >= this.timings.sseMaxErrors || source.readyState === EventSource.CLOSED) {
        this.fallBack(`SSE failed ${errors} times in a row`);
      } else {
        log(`SSE error ${errors}/${this.timings.sseMaxErrors}: the browser reconnects`);
      }
    };
  }

  closeStream() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  fallBack(reason) {
    if (this.finished || !this.source) return;
    this.closeStream();
    log(`${reason}: falling back to long polling`);
    this.checkAgain();
  }

  // After the customer acted (sent the prompt again): listen again if nothing is listening.
  resume() {
    if (this.finished || this.source || this.polling) return;
    this.checkAgain();
  }

  // Starts a new round of long polling (also what the "Check again" button does).
  checkAgain() {
    if (this.finished || this.polling) return;
    this.round += 1;
    this.runRound(this.round);
  }

  async runRound(round) {
    const { pollAttempts, pollGapMs } = this.timings;
    this.polling = true;
    try {
      for (let attempt = 1; attempt <= pollAttempts; attempt += 1) {
        log(`long polling attempt ${attempt}/${pollAttempts} (since v${this.version})`);
        this.handlers.onAttempt?.(attempt, pollAttempts);
        const outcome = await this.waitOnce();
        if (this.finished || round !== this.round) return;
        // News that is not final (e.g. the prompt was sent) needs no pause before asking again.
        if (outcome !== "news" && attempt < pollAttempts) await sleep(pollGapMs);
        if (this.finished || round !== this.round) return;
      }
      log(`long polling: no final answer after ${pollAttempts} attempts; waiting for "Check again"`);
      this.handlers.onStillWaiting?.();
    } finally {
      this.polling = false;
    }
  }

  // One held request. Returns "news", "quiet" (held until the server's timeout), or "error".
  async waitOnce() {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timings.pollClientTimeoutMs);
    try {
      const response = await fetch(`${this.base}/wait?since=${this.version}`, {
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      if (response.status === 404) {
        this.finish("the order does not exist");
        this.handlers.onNotFound?.();
        return "error";
      }
      if (!response.ok) {
        log(`long polling: HTTP ${response.status}`);
        return "error";
      }
      return this.accept(await response.json()) ? "news" : "quiet";
    } catch (error) {
      log(`long polling: ${controller.signal.aborted ? "no answer in time" : String(error)}`);
      return "error";
    } finally {
      clearTimeout(timer);
    }
  }
}
