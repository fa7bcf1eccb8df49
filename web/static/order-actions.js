// "Send it again" and "Cancel the order" on the status page: POST /api/orders/{id}/push and
// /cancel (API.md). Each answer is a status document or an error the customer reads in words.

import { log, retryWords } from "./common.js";
import { serverWords, t } from "./i18n.js";

const byId = (id) => document.getElementById(id);

async function post(url) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: "{}",
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  return { response, body };
}

export class OrderActions {
  // view: StatusView; tracker: StatusTracker (accept(document), resume())
  constructor(orderId, view, tracker) {
    this.base = `/api/orders/${encodeURIComponent(orderId)}`;
    this.view = view;
    this.tracker = tracker;
    this.busy = false;
    byId("send-again").addEventListener("click", () => this.run(byId("send-again"), t("actions.sending"), () => this.sendAgain()));
    byId("cancel-order").addEventListener("click", () => this.run(byId("cancel-order"), t("actions.cancelling"), () => this.cancel()));
  }

  // One action at a time. The button keeps focus and full contrast while it works (it is
  // aria-disabled, not disabled: a disabled button drops focus to <body>), and the change is
  // announced; when the action hides the button, focus goes to the new heading.
  async run(button, working, action) {
    if (this.busy) return;
    this.busy = true;
    const label = button.textContent;
    button.setAttribute("aria-disabled", "true");
    button.textContent = working;
    this.view.announce(working);
    try {
      await action();
    } catch (error) {
      log("order action failed", String(error));
      this.view.actionError(t("common.unreachable"));
    } finally {
      this.busy = false;
      button.removeAttribute("aria-disabled");
      button.textContent = label;
      if (button.hidden) byId("title").focus();
      else if (byId("action-error").textContent) button.focus();
    }
  }

  // A status document from an action: through the tracker, so versions stay in order, and
  // listening starts again if long polling had ended its round.
  take(document) {
    if (document && typeof document.version === "number") this.tracker.accept(document);
    this.tracker.resume();
  }

  async refresh() {
    const response = await fetch(this.base, { cache: "no-store", headers: { Accept: "application/json" } });
    if (response.ok) this.take(await response.json());
  }

  async sendAgain() {
    log("sending the prompt again");
    const { response, body } = await post(`${this.base}/push`);
    const wait = response.headers.get("Retry-After") ?? body.retry_after;
    if (response.status === 202) {
      this.take(body);
    } else if (body.error === "order_final") {
      await this.refresh();
    } else if (body.error === "prompt_open") {
      this.view.actionError(t("actions.promptOpen", { when: retryWords(wait) }));
    } else if (response.status === 429) {
      this.view.actionError(t("actions.tooMany", { when: retryWords(wait) }));
    } else if (response.status === 502) {
      if (body.payment_status) this.take(body);
      this.view.actionError(t("actions.mpesaFailed"));
    } else {
      this.view.actionError(serverWords(body.message, "actions.sendFailed"));
    }
  }

  async cancel() {
    log("cancelling the order");
    const { response, body } = await post(`${this.base}/cancel`);
    if (response.ok) {
      this.take(body);
    } else if (body.error === "order_final") {
      // Decided meanwhile (perhaps paid at the last second): show what it became.
      await this.refresh();
    } else {
      this.view.actionError(serverWords(body.message, "actions.cancelFailed"));
    }
  }
}
