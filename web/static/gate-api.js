// The gate's requests, each answered as one plain outcome for the page to show.
// Check-in admits with one request; `check` only asks. The token goes with both (a short
// code is only looked up for gate staff: docs/API.md).

async function answer(response) {
  const body = await response.json().catch(() => ({}));
  return { status: response.status, body };
}

const headers = (token) => ({ Accept: "application/json", Authorization: `Bearer ${token}` });

export async function openSession(token) {
  return answer(await fetch("/api/gate/session", { cache: "no-store", headers: headers(token) }));
}

export async function admit(token, code, door) {
  const response = await fetch("/api/tickets/check-in", {
    method: "POST",
    cache: "no-store",
    headers: { ...headers(token), "Content-Type": "application/json" },
    body: JSON.stringify(door ? { code, gate: door } : { code }),
  });
  return answer(response);
}

export async function check(token, code) {
  const url = `/api/tickets/verify?code=${encodeURIComponent(code)}`;
  return answer(await fetch(url, { cache: "no-store", headers: headers(token) }));
}
