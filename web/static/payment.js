// The status page at /payment/{order_id}: shows what the checkout already knows at once,
// then follows the order until a final status (see transport.js for how).

import { log, rememberOrder, rememberedOrder } from "./common.js";
import { languageSwitch, t } from "./i18n.js";
import { lostTickets } from "./lost-tickets.js";
import { OrderActions } from "./order-actions.js";
import { StatusView } from "./status-view.js";
import { StatusTracker, isTerminal } from "./transport.js";

// The same shape the server accepts (server/routes/pages.py); anything else is no order.
const ORDER_ID = /^[A-Za-z0-9_-]{16,64}$/;

languageSwitch();
lostTickets();

const orderId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() ?? "");
const view = new StatusView();
const known = ORDER_ID.test(orderId) ? rememberedOrder(orderId) : null;
if (known) view.show(known);

if (!ORDER_ID.test(orderId)) {
  log("not an order id: nothing to follow");
  view.notFound();
} else if (known && isTerminal(known)) {
  log(`final status ${known.payment_status} already known`);
} else {
  const tracker = new StatusTracker(
    orderId,
    {
      onStatus: (doc) => {
        // Kept for this tab: a reload (or Back to the checkout) knows at once what it became.
        rememberOrder(doc);
        view.show(doc);
        if (isTerminal(doc)) view.transport("");
      },
      onHeard: () => view.heard(),
      onAttempt: (attempt, of) => {
        // A new round (after "Check again", or the tracker's own re-check): no longer stale.
        if (attempt === 1 && view.stale) view.checkingAgain();
        if (!tracker.lost) view.transport(t("status.attempt", { attempt, of }));
      },
      onStillWaiting: () => view.stillWaiting(),
      onNotFound: () => view.notFound(),
      onConnectionLost: () => view.connectionLost(),
      onConnectionBack: () => view.connectionBack(),
    },
    { version: known ? known.version : 0 },
  );
  new OrderActions(orderId, view, tracker);
  // The prompt's window is over: "Send it again" waits for the server's word that it is unpaid.
  view.onConfirmationNeeded = () => tracker.checkNow("the prompt's window is over");

  const checkAgain = () => {
    if (tracker.finished || tracker.polling) return;
    log("checking again");
    view.checkingAgain();
    tracker.checkAgain();
    // The button has just hidden itself: keep keyboard and screen-reader focus on the page.
    document.getElementById("title").focus();
  };
  document.getElementById("check-again").addEventListener("click", checkAgain);
  // Coming back online, to the tab or through Back is handled by the tracker (transport.js).
  tracker.start();
}
