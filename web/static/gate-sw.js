// The gate's service worker (served at /gate-sw.js, scope /gate): the gate page and its
// scripts keep working with no network. Static files are versioned and immutable, so they
// are answered from the cache first; the page itself is fetched first and kept, and
// answered from the cache only when the network fails. API calls are never cached: the page
// judges offline scans against its own admission list (gate-offline.js).

const CACHE = "gate-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put("/gate", response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match("/gate");
    if (kept) return kept;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/")) event.respondWith(cacheFirst(event.request));
  else if (url.pathname === "/gate") event.respondWith(networkFirst(event.request));
});
