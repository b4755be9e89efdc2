// Porchlight service worker: app shell and offline page. Never caches signed-in pages or API answers.
"use strict";

const VERSION = "__VERSION__";
const SHELL_CACHE = "porchlight-shell-" + VERSION;
const SHELL = ["__SHELL__"];
const OFFLINE_URL = "/offline";

function precacheShell() {
  return caches.open(SHELL_CACHE).then(function (cache) { return cache.addAll(SHELL); });
}

self.addEventListener("install", function (event) {
  event.waitUntil(precacheShell().then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys()
      .then(function (keys) {
        return Promise.all(keys.filter(function (key) { return key !== SHELL_CACHE; })
          .map(function (key) { return caches.delete(key); }));
      })
      .then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("message", function (event) {
  // The page clears every cache at sign-out; keep only the public shell for offline use.
  if (event.data && event.data.type === "precache-shell") event.waitUntil(precacheShell());
});

self.addEventListener("fetch", function (event) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  // Versioned static files never change under the same URL: cache first.
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(
      caches.match(request).then(function (cached) {
        if (cached) return cached;
        return fetch(request).then(function (response) {
          if (response.ok) {
            const copy = response.clone();
            caches.open(SHELL_CACHE).then(function (cache) { cache.put(request, copy); });
          }
          return response;
        });
      })
    );
    return;
  }

  // Pages: always from the network (never stored); the offline page when there is none.
  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request).catch(function () {
        return caches.match(OFFLINE_URL).then(function (cached) {
          return cached || new Response("You are offline.", { status: 503, headers: { "Content-Type": "text/plain" } });
        });
      })
    );
  }
  // Everything else (API calls, manifest) goes to the network untouched.
});
