// Porchlight service worker: app shell and offline page. Never caches signed-in pages or API answers.
"use strict";

const VERSION = "__VERSION__";
const SHELL_CACHE = "porchlight-shell-" + VERSION;
const SHELL = ["__SHELL__"];
const OFFLINE_URL = "/offline";
const ICON = SHELL.find(function (url) { return url.endsWith("icon-192.png"); });

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

// --- Web Push -------------------------------------------------------------------------------------------
// Payloads use the Declarative Web Push shape: {"web_push": 8030, "notification": {title, body, navigate, tag}}.
// A notification is always shown; a repeat with the same tag replaces the first silently (at-least-once delivery).
self.addEventListener("push", function (event) {
  let message = null;
  try { message = event.data ? event.data.json() : null; } catch (error) { message = null; }
  const notification = (message && message.notification) || {};
  const title = notification.title || "Porchlight";
  const options = {
    body: notification.body || "You have a new notification. Open Porchlight to see it.",
    tag: notification.tag || "porchlight",
    data: { navigate: notification.navigate || "/notifications" },
    icon: ICON,
    badge: ICON,
  };
  const shown = self.registration.showNotification(title, options);
  const badge = message && message.app_badge && self.navigator.setAppBadge
    ? self.navigator.setAppBadge(Number(message.app_badge)).catch(function () {})
    : Promise.resolve();
  event.waitUntil(Promise.all([shown, badge]));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.navigate) || "/notifications", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      const exact = windows.find(function (w) { return w.url === target.href; });
      if (exact) return exact.focus();
      // Only a window this worker controls can be navigated by it.
      return self.clients.matchAll({ type: "window" }).then(function (controlled) {
        if (!controlled.length) return self.clients.openWindow(target.href);
        return controlled[0].focus().then(function (w) { return w.navigate(target.href); });
      });
    })
  );
});

// The browser renewed (or lost) the subscription: subscribe again and tell the server, proving it with
// the old subscription's auth secret (there is no page, so no CSRF token, here).
self.addEventListener("pushsubscriptionchange", function (event) {
  const old = event.oldSubscription ? event.oldSubscription.toJSON() : null;
  event.waitUntil(
    fetch("/api/v1/push/key").then(function (r) { return r.json(); }).then(function (key) {
      return event.newSubscription || self.registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: key.public_key,
      });
    }).then(function (renewed) {
      if (!old) return;
      return fetch("/api/v1/push/subscription-change", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ old_endpoint: old.endpoint, old_auth: old.keys.auth, subscription: renewed.toJSON() }),
      });
    })
  );
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
