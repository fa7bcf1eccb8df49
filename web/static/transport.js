// How the status page learns about its order: Server-Sent Events first, long polling when
// the stream cannot be trusted, and a plain read whenever the page must know *now*. The
// policy (DESIGN.md, "The page"):
//
// - Fall back to long polling when EventSource is missing, when the stream fails before its
//   first event, when no event arrives within a few seconds of opening (a proxy that
//   buffers the stream: the server sends the current status at once, so silence means the
//   bytes are held somewhere), or after repeated failures mid-way.
// - Long polling: rounds of at most 4 attempts, 5 s apart, each held by the server; after
//   a round without a final answer the page says so and offers "Check again". Only an
//   answer (or a server that keeps quiet past its hold) is an attempt.
// - A network that is down is not an attempt: the round stops, the page says "Connection
//   lost" and reads the order again with backoff and jitter until the network answers,
//   then listens again. Coming back online, to the tab, or out of the back-forward cache
//   re-checks at once: a stream or a held request opened before may be dead without an
//   error (a phone that changed cells keeps a socket nobody answers on).
// - `checkNow()` is one plain read of the order: what the page uses when it must not act
//   on old news (before offering "Send it again").
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
  // A plain read is answered in milliseconds; past this the network is as good as down.
  checkTimeoutMs: 10000,
  // Offline: read again after 1, 2, 4, 4… s, each 50–100% of that (jitter), so phones
  // that lost the same cell do not all come back in one burst, and no phone waits long.
  retryBaseMs: 1000,
  retryMaxMs: 4000,
});

const TERMINAL = new Set(["completed", "failed", "cancelled", "expired"]);

export function isTerminal(document) {
  return TERMINAL.has(document?.payment_status);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// fetch() rejects with a TypeError when no HTTP answer came at all (offline, refused,
// reset); an abort is our own timeout.
const OFFLINE = "offline";

export class StatusTracker {
  // handlers: onStatus(document), onHeard(), onAttempt(attempt, of), onStillWaiting(),
  //           onNotFound(), onConnectionLost(), onConnectionBack()
  constructor(orderId, handlers, { version = 0, timings = TIMINGS } = {}) {
    this.orderId = orderId;
    this.handlers = handlers;
    this.version = version;
    this.timings = timings;
    this.finished = false;
    this.source = null;
    this.streamBroken = typeof window.EventSource !== "function";
    this.round = 0; // bumping it retires a round that is still sleeping or waiting
    this.pollingRound = 0; // the round that is running, 0 for none
    this.waitController = null; // the held request in flight, aborted when its round retires
    this.lost = false;
    this.retries = 0;
    this.retryTimer = null;
    this.checking = false;
    this.base = `/api/orders/${encodeURIComponent(orderId)}`;
  }

  get polling() {
    return this.pollingRound !== 0;
  }

  start() {
    if (this.streamBroken) log("EventSource is not available: long polling");
    // The page's own signals that the network or the tab came back (DESIGN.md, "The page").
    window.addEventListener("online", () => this.wake("the browser is online again"));
    window.addEventListener("offline", () => this.lose("the browser went offline"));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.wake("the page is visible again");
    });
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) this.wake("the page came back from the back-forward cache");
    });
    this.listen();
  }

  // Opens the stream, or starts a round of long polling, unless something already listens.
  listen() {
    if (this.finished || this.lost || this.source || this.polling) return;
    if (this.streamBroken) this.checkAgain();
    else this.openStream();
  }

  // Takes a status document from any transport; returns whether it was news.
  accept(document) {
    if (this.finished || !document || typeof document.version !== "number") return false;
    // Whatever its version, the server has just answered: what the page shows is current.
    this.handlers.onHeard?.();
    if (document.version <= this.version) return false;
    this.version = document.version;
    if (isTerminal(document)) this.finish(`final status ${document.payment_status}`);
    this.handlers.onStatus(document);
    return true;
  }

  finish(reason) {
    if (this.finished) return;
    this.finished = true;
    this.retire();
    clearTimeout(this.retryTimer);
    log(`done: ${reason}`);
  }

  // Stops whatever listens: the stream, and the round of long polling with its held request.
  retire() {
    this.round += 1;
    this.pollingRound = 0;
    this.waitController?.abort();
    this.waitController = null;
    this.closeStream();
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
      if (!navigator.onLine) {
        clearTimeout(silence);
        this.lose("SSE failed while the browser is offline");
        return;
      }
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
    this.streamBroken = true;
    log(`${reason}: falling back to long polling`);
    this.checkAgain();
  }

  // After the customer acted (sent the prompt again): listen again if nothing is listening.
  resume() {
    this.listen();
  }

  // Starts a new round of long polling (also what the "Check again" button does).
  checkAgain() {
    if (this.finished || this.polling) return;
    if (this.lost) {
      this.checkNow("asked to check again");
      return;
    }
    this.round += 1;
    this.runRound(this.round);
  }

  async runRound(round) {
    const { pollAttempts, pollGapMs } = this.timings;
    this.pollingRound = round;
    const current = () => !this.finished && round === this.round;
    try {
      for (let attempt = 1; attempt <= pollAttempts; attempt += 1) {
        log(`long polling attempt ${attempt}/${pollAttempts} (since v${this.version})`);
        this.handlers.onAttempt?.(attempt, pollAttempts);
        const outcome = await this.waitOnce();
        if (!current()) return;
        if (outcome === OFFLINE) {
          // Not an attempt: the round ends here and starts afresh once the network answers.
          this.pollingRound = 0;
          this.lose("long polling got no answer from the network");
          return;
        }
        // News that is not final (e.g. the prompt was sent) needs no pause before asking again.
        if (outcome !== "news" && attempt < pollAttempts) await sleep(pollGapMs);
        if (!current()) return;
      }
      log(`long polling: no final answer after ${pollAttempts} attempts; waiting for "Check again"`);
      this.handlers.onStillWaiting?.();
    } finally {
      if (this.pollingRound === round) this.pollingRound = 0;
    }
  }

  // One held request. Returns "news", "quiet" (held until the server's timeout), "error"
  // (an answer that is no document, or none in time), or OFFLINE.
  async waitOnce() {
    const controller = new AbortController();
    this.waitController = controller;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timings.pollClientTimeoutMs);
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
      if (timedOut) {
        log("long polling: no answer in time");
        return "error";
      }
      if (controller.signal.aborted) return "error"; // retired by us: the caller sees a new round
      log(`long polling: ${String(error)}`);
      return OFFLINE;
    } finally {
      clearTimeout(timer);
      if (this.waitController === controller) this.waitController = null;
    }
  }

  // The network is down (or as good as): stop listening, say so, read again with backoff.
  lose(reason) {
    if (this.finished) return;
    this.retire();
    if (!this.lost) {
      this.lost = true;
      this.retries = 0;
      log(`connection lost (${reason}): checking again with backoff`);
      this.handlers.onConnectionLost?.();
    }
    this.scheduleRetry();
  }

  scheduleRetry() {
    clearTimeout(this.retryTimer);
    const { retryBaseMs, retryMaxMs } = this.timings;
    const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** this.retries);
    const delay = Math.round(ceiling * (0.5 + Math.random() * 0.5));
    this.retries += 1;
    this.retryTimer = setTimeout(() => this.checkNow("retry"), delay);
  }

  // The tab, the network or the page came back: whatever listened may be dead, so read the
  // order at once and listen afresh.
  wake(reason) {
    if (this.finished) return;
    log(`${reason}: checking now`);
    this.retire();
    this.checkNow(reason);
  }

  // One plain read of the order, answered at once by the server. On an answer the page
  // listens again (if nothing does); on none, the connection is lost and this is retried.
  async checkNow(reason) {
    if (this.finished || this.checking) return;
    clearTimeout(this.retryTimer);
    this.checking = true;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timings.checkTimeoutMs);
    let answered = false;
    try {
      log(`reading the order (${reason})`);
      const response = await fetch(this.base, {
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      answered = true;
      if (response.status === 404) {
        this.finish("the order does not exist");
        this.handlers.onNotFound?.();
        return;
      }
      const document = response.ok ? await response.json().catch(() => null) : null;
      this.back();
      this.accept(document);
    } catch (error) {
      log(`reading the order: ${controller.signal.aborted ? "no answer in time" : String(error)}`);
    } finally {
      clearTimeout(timer);
      this.checking = false;
    }
    if (this.finished) return;
    if (answered) this.listen();
    else this.lose("a read of the order got no answer");
  }

  back() {
    if (!this.lost) return;
    this.lost = false;
    this.retries = 0;
    log("connection back");
    this.handlers.onConnectionBack?.();
  }
}
