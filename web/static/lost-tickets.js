// "Lost your tickets?" on the checkout and the ticket page: an e-mail address or the M-PESA
// number in, POST /api/tickets/lost, and always the same answer (API.md): the page cannot
// tell, and so never says, whether the address bought anything.

import { log, retryWords } from "./common.js";
import { language, t } from "./i18n.js";

const byId = (id) => document.getElementById(id);

export function lostTickets() {
  const form = byId("lost-form");
  if (!form) return;
  const input = byId("lost-contact");
  const status = byId("lost-status");
  const button = byId("lost-send");
  let busy = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    const contact = input.value.trim();
    if (!contact) {
      status.textContent = t("lost.invalid");
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    busy = true;
    button.setAttribute("aria-disabled", "true");
    status.textContent = t("lost.sending");
    try {
      const response = await fetch("/api/tickets/lost", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ contact, language }),
      });
      if (response.status === 202) {
        input.removeAttribute("aria-invalid");
        status.textContent = t("lost.sent");
      } else if (response.status === 422) {
        input.setAttribute("aria-invalid", "true");
        status.textContent = t("lost.invalid");
        input.focus();
      } else if (response.status === 429) {
        status.textContent = t("lost.tooMany", { when: retryWords(response.headers.get("Retry-After")) });
      } else {
        status.textContent = t("common.ourSide");
      }
    } catch (error) {
      log("lost tickets request failed", String(error));
      status.textContent = t("common.unreachable");
    } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
    }
  });
}
