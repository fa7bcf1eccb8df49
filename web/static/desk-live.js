// The desk's live figures: one server-sent event stream read with fetch (an EventSource
// cannot send the desk token). The server pushes new figures when a sale or a check-in
// rings its event's bell; on a dropped stream we connect again after a short pause.

const RETRY_MS = 2000;

function parseEvents(buffer, onEvent) {
  // Events end with a blank line; the server writes CRLF line ends.
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let name = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (data.length) onEvent(name, data.join("\n"));
  }
  return rest;
}

export function followFigures(url, token, { onFigures, onState, onRefused }) {
  let stopped = false;
  let controller = null;

  async function connect() {
    if (stopped) return;
    controller = new AbortController();
    try {
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
        signal: controller.signal,
        cache: "no-store",
      });
      if (response.status === 401 || response.status === 503) {
        onRefused(response.status);
        return;
      }
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      onState(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseEvents(buffer + value, (name, data) => {
          if (name === "figures") onFigures(JSON.parse(data));
        });
      }
    } catch (error) {
      if (stopped) return;
    }
    onState(false);
    if (!stopped) setTimeout(connect, RETRY_MS);
  }

  connect();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}
