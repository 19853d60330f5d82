/*
 * The service worker: keeps the app shell (index.html and the hashed bundle it names) so that a
 * reload while the server is down still opens the app, with the unsent changes it keeps in
 * localStorage, instead of the browser's error page. The page is always fetched from the
 * network first; the copy is only the fallback. The API and the WebSocket are never touched.
 */
const CACHE = "tandem-shell-v1";
const SHELL = "/";

/** The same-origin /assets/ files an index.html names. */
function assetsOf(html) {
  return [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
}

/** Keeps this index.html and its assets, and forgets the assets of older builds. */
async function keepShell(response) {
  const cache = await caches.open(CACHE);
  const html = await response.clone().text();
  const wanted = new Set(assetsOf(html));
  await cache.put(SHELL, response);
  for (const url of wanted) if (!(await cache.match(url))) await cache.add(url);
  for (const req of await cache.keys()) {
    const path = new URL(req.url).pathname;
    if (path.startsWith("/assets/") && !wanted.has(path)) await cache.delete(req);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    fetch(SHELL, { cache: "no-cache" })
      .then((r) => (r.ok ? keepShell(r) : undefined))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (req.mode === "navigate") {
    event.respondWith(
      fetch(req)
        .then((r) => {
          if (r.ok && (r.headers.get("content-type") || "").startsWith("text/html")) event.waitUntil(keepShell(r.clone()));
          return r;
        })
        .catch(async () => (await caches.match(SHELL)) || Response.error()),
    );
  } else if (url.pathname.startsWith("/assets/")) {
    // Hashed names never change content: the kept copy is as good as the network's.
    event.respondWith(caches.match(req).then((hit) => hit || fetch(req)));
  }
});
