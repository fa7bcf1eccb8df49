// Who is in, live: "412 of 2,500 in" for each event the gate admits to, and per ticket type
// on a tap. The count is a stream (GET /api/gate/events/{slug}/admitted/stream), read with
// fetch rather than EventSource because it needs the gate token in a header, never in a URL.
// A dropped stream comes back with backoff; the server opens each with the count as it is.

import { log } from "./common.js";

const WORDS = {
  counting: "Counting who is in…",
  count: (admitted, tickets) => `${number(admitted)} of ${number(tickets)} in`,
  byType: "By ticket type",
};
const MAX_BACKOFF_MS = 15000;

const number = (value) => Number(value ?? 0).toLocaleString("en-GB");

async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("\n");
      if (data) yield JSON.parse(data);
    }
  }
}

// Follows one event's count until `stop()`; `onCount(count)` for each newer count.
export function followCount(token, slug, onCount) {
  const abort = new AbortController();
  let backoff = 1000;
  const url = `/api/gate/events/${encodeURIComponent(slug)}/admitted/stream`;
  (async () => {
    while (!abort.signal.aborted) {
      try {
        const response = await fetch(url, {
          cache: "no-store",
          headers: { Accept: "text/event-stream", Authorization: `Bearer ${token}` },
          signal: abort.signal,
        });
        if (response.status === 401 || response.status === 404) return; // the page asks again
        if (!response.ok) throw new Error(`count stream answered ${response.status}`);
        for await (const count of events(response)) {
          backoff = 1000;
          onCount(count);
        }
      } catch (error) {
        if (abort.signal.aborted) return;
        log("count stream dropped", String(error));
      }
      await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random() / 2)));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  })();
  return { stop: () => abort.abort() };
}

// One block per event: a button with the total that shows the types on a tap.
export function countBlock(event) {
  const block = document.createElement("div");
  block.className = "gate-count";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "count-total";
  button.setAttribute("aria-expanded", "false");
  const listId = `count-types-${event.slug}`;
  button.setAttribute("aria-controls", listId);
  const name = document.createElement("span");
  name.className = "count-event";
  name.textContent = event.name;
  const total = document.createElement("span");
  total.className = "count-number";
  total.textContent = WORDS.counting;
  button.append(name, total);
  const list = document.createElement("ul");
  list.id = listId;
  list.className = "count-types";
  list.setAttribute("aria-label", `${WORDS.byType}: ${event.name}`);
  list.hidden = true;
  button.addEventListener("click", () => {
    list.hidden = !list.hidden;
    button.setAttribute("aria-expanded", String(!list.hidden));
  });
  block.append(button, list);
  return {
    element: block,
    show(count) {
      total.textContent = WORDS.count(count.admitted, count.tickets);
      list.replaceChildren(
        ...count.types
          .filter((type) => type.tickets > 0)
          .map((type) => {
            const item = document.createElement("li");
            item.textContent = `${type.name}: ${WORDS.count(type.admitted, type.tickets)}`;
            return item;
          }),
      );
    },
  };
}
