// Porchlight's page script: progressive enhancement only; every page works without it.
"use strict";

var PUSH_SYNCED = "porchlight-push-synced";

(function () {
  // The service worker makes the app installable and gives an offline page.
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
    });
  }

  // The app icon's badge follows the unread count this page was given: reading a notification here, or on
  // another device, clears it at the next page.
  var unread = document.body.getAttribute("data-unread");
  if (navigator.setAppBadge && (unread !== null || document.body.hasAttribute("data-signed-out"))) {
    var count = Number(unread || 0);
    (count > 0 ? navigator.setAppBadge(count) : navigator.clearAppBadge()).catch(function () {});
  }

  // After sign-out (or account deletion) nothing from the session may stay in this browser's caches.
  if (document.body.hasAttribute("data-signed-out") && "caches" in window) {
    caches.keys()
      .then(function (keys) { return Promise.all(keys.map(function (key) { return caches.delete(key); })); })
      .then(function () {
        sessionStorage.removeItem(PUSH_SYNCED);
        document.documentElement.setAttribute("data-caches-cleared", "");
        // Let the worker keep the public offline page for next time.
        if (navigator.serviceWorker && navigator.serviceWorker.controller) {
          navigator.serviceWorker.controller.postMessage({ type: "precache-shell" });
        }
      });
  }

  // Chromium: offer installation through our own button.
  var strip = document.getElementById("install-strip");
  var button = document.getElementById("install-button");
  var deferredPrompt = null;
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    deferredPrompt = event;
    if (strip) strip.hidden = false;
  });
  if (button) {
    button.addEventListener("click", function () {
      if (!deferredPrompt) return;
      deferredPrompt.prompt();
      deferredPrompt.userChoice.finally(function () {
        deferredPrompt = null;
        strip.hidden = true;
      });
    });
  }
  window.addEventListener("appinstalled", function () { if (strip) strip.hidden = true; });

  // iOS Safari has no install prompt: explain Share → Add to Home Screen.
  var isIos = /iphone|ipad|ipod/i.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  var standalone = window.navigator.standalone === true ||
    window.matchMedia("(display-mode: standalone)").matches;
  var iosHint = document.getElementById("ios-install-hint");
  if (iosHint && isIos && !standalone) iosHint.hidden = false;

  // Sign-up: record the phone's time zone so times show in local time.
  var zoneInput = document.querySelector("[data-time-zone]");
  if (zoneInput && window.Intl) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) zoneInput.value = zone;
  }

  // "Use my location" fills latitude and longitude from the phone's position.
  document.querySelectorAll("[data-locate]").forEach(function (locate) {
    if (!("geolocation" in navigator)) return;
    var fieldset = locate.closest("fieldset");
    var status = fieldset.querySelector("[data-locate-status]");
    locate.hidden = false;
    locate.addEventListener("click", function () {
      status.textContent = "Finding your location…";
      navigator.geolocation.getCurrentPosition(function (position) {
        fieldset.querySelector("[data-latitude]").value = position.coords.latitude.toFixed(6);
        fieldset.querySelector("[data-longitude]").value = position.coords.longitude.toFixed(6);
        status.textContent = "Position filled in (accurate to about " + Math.round(position.coords.accuracy) + " m).";
      }, function (error) {
        status.textContent = error.code === 1
          ? "Location permission was refused; type the position instead."
          : "Could not get your location; type the position instead.";
      }, { enableHighAccuracy: true, timeout: 15000 });
    });
  });

  // Map pin (only where a tile server is configured): tap the map to place the position.
  document.querySelectorAll("[data-map]").forEach(function (map) { setUpMap(map); });

  // Move focus to the error summary so screen readers announce what needs fixing.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();

// Web Mercator tiles: draws the tiles covering `map` around (lat, lon) at `zoom`, and returns where a position
// falls in the map's box (`place`) and which position a point of the box shows (`position`).
function drawTiles(map, zoom, lat, lon) {
  var TILE = 256, scale = TILE * Math.pow(2, zoom);
  var template = map.getAttribute("data-tile-url");
  function project(la, lo) {
    var sin = Math.sin(la * Math.PI / 180);
    return [(lo + 180) / 360 * scale, (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * scale];
  }
  var center = project(lat, lon);
  var width = map.clientWidth, height = map.clientHeight;
  var left = center[0] - width / 2, top = center[1] - height / 2;
  map.textContent = "";
  for (var tx = Math.floor(left / TILE); tx * TILE < left + width; tx++) {
    for (var ty = Math.floor(top / TILE); ty * TILE < top + height; ty++) {
      var img = document.createElement("img");
      img.alt = "";
      img.className = "map-tile";
      img.src = template.replace("{z}", zoom).replace("{x}", tx).replace("{y}", ty);
      img.style.left = (tx * TILE - left) + "px";
      img.style.top = (ty * TILE - top) + "px";
      map.appendChild(img);
    }
  }
  return {
    place: function (la, lo) { var p = project(la, lo); return [p[0] - left, p[1] - top]; },
    position: function (x, y) {
      var n = Math.PI - 2 * Math.PI * (top + y) / scale;
      return [180 / Math.PI * Math.atan(Math.sinh(n)), (left + x) / scale * 360 - 180];
    },
  };
}

function mapMark(map, className, xy) {
  var mark = document.createElement("span");
  mark.className = className;
  mark.style.left = xy[0] + "px";
  mark.style.top = xy[1] + "px";
  map.appendChild(mark);
  return mark;
}

// A small slippy-map picker: tiles around the current position and a pin; a tap moves the pin.
function setUpMap(map) {
  var fieldset = map.closest("fieldset");
  var latInput = fieldset.querySelector("[data-latitude]");
  var lonInput = fieldset.querySelector("[data-longitude]");
  var fallback = [parseFloat(map.getAttribute("data-default-lat")), parseFloat(map.getAttribute("data-default-lon"))];
  var layer;

  function current() {
    var lat = parseFloat(latInput.value), lon = parseFloat(lonInput.value);
    if (isNaN(lat) || isNaN(lon) || Math.abs(lat) > 85 || Math.abs(lon) > 180) return fallback;
    return [lat, lon];
  }
  function render() {
    var at = current();
    layer = drawTiles(map, 17, at[0], at[1]);
    mapMark(map, "map-pin", layer.place(at[0], at[1])).setAttribute("data-map-pin", "");
  }
  map.hidden = false;
  map.addEventListener("click", function (event) {
    var box = map.getBoundingClientRect();
    var point = layer.position(event.clientX - box.left, event.clientY - box.top);
    latInput.value = point[0].toFixed(6);
    lonInput.value = point[1].toFixed(6);
    render();
  });
  latInput.addEventListener("change", render);
  lonInput.addEventListener("change", render);
  render();
}

// The console's results on a map: the incident point, the search circle, and a dot per camera listed (filled
// where the incident is in its view). The list stays the full record; the map only shows where they are.
(function () {
  var map = document.querySelector("[data-results-map]");
  if (!map) return;
  var lat = parseFloat(map.getAttribute("data-lat")), lon = parseFloat(map.getAttribute("data-lon"));
  var radius = parseFloat(map.getAttribute("data-radius"));
  map.hidden = false;
  // The zoom that fits the circle's diameter in the map's shorter side (metres per pixel halve at each zoom).
  var span = Math.min(map.clientWidth, map.clientHeight) - 24;
  var metresPerPixelAtZero = 156543.03 * Math.cos(lat * Math.PI / 180);
  var zoom = Math.max(1, Math.min(19, Math.floor(Math.log2(metresPerPixelAtZero * span / (2 * radius)))));
  var layer = drawTiles(map, zoom, lat, lon);
  var center = layer.place(lat, lon);
  var circle = mapMark(map, "map-circle", center);
  var diameter = 2 * radius * Math.pow(2, zoom) / metresPerPixelAtZero;
  circle.style.width = circle.style.height = diameter + "px";
  circle.style.margin = (-diameter / 2) + "px 0 0 " + (-diameter / 2) + "px";
  document.querySelectorAll("[data-camera-at]").forEach(function (row) {
    var at = row.getAttribute("data-camera-at").split(",").map(parseFloat);
    var dot = mapMark(map, "map-dot" + (row.hasAttribute("data-in-view") ? " in-view" : ""), layer.place(at[0], at[1]));
    dot.title = row.getAttribute("data-camera-label");
    dot.setAttribute("data-map-dot", "");
  });
  mapMark(map, "map-pin", center).setAttribute("data-map-pin", "");
})();

// Notification settings: subscribe this browser to Web Push, only when the person taps the button.
(function () {
  var panel = document.querySelector("[data-push-panel]");
  if (!panel) return;
  var button = panel.querySelector("[data-push-enable]");
  var status = panel.querySelector("[data-push-status]");
  var iosHint = panel.querySelector("[data-push-ios]");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var ios = /iphone|ipad|ipod/i.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  var standalone = window.navigator.standalone === true || window.matchMedia("(display-mode: standalone)").matches;

  // On iPhone and iPad, Web Push works only in the app opened from the Home Screen.
  if (ios && !standalone) {
    iosHint.hidden = false;
    status.textContent = "Notifications need Porchlight on your Home Screen.";
    return;
  }
  if (!("serviceWorker" in navigator && "PushManager" in window && "Notification" in window)) {
    status.textContent = "This browser cannot receive notifications. Your notification list still shows everything.";
    return;
  }
  if (Notification.permission === "denied") {
    status.textContent = "Notifications are blocked for Porchlight in this browser's site settings. Allow them there, then reload.";
    return;
  }
  button.hidden = false;

  function keyBytes(base64url) {
    var text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4));
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    status.textContent = "Asking your browser for permission…";
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") throw new Error("Permission was not given, so this device will not get notifications.");
      status.textContent = "Subscribing this device…";
      return Promise.all([navigator.serviceWorker.ready, fetch("/api/v1/push/key").then(function (r) { return r.json(); })]);
    }).then(function (ready) {
      return ready[0].pushManager.getSubscription().then(function (existing) {
        if (existing) return existing;
        // A browser that cannot reach its push service may never settle subscribe(): give up after 20 s.
        return new Promise(function (resolve, reject) {
          var timer = setTimeout(function () { reject(new Error("timeout")); }, 20000);
          ready[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(ready[1].public_key) })
            .then(function (subscription) { clearTimeout(timer); resolve(subscription); }, reject);
        });
      }).catch(function () {
        throw new Error("The browser's push service could not be reached. Check the connection and try again.");
      });
    }).then(function (subscription) {
      return fetch("/api/v1/push/subscriptions", {
        method: "POST",
        headers: { "Content-Type": "application/json", "x-csrftoken": csrf },
        body: JSON.stringify(subscription.toJSON()),
      });
    }).then(function (response) {
      if (!response.ok) throw new Error("Porchlight could not save this device (" + response.status + "). Try again.");
      window.location.reload();
    }).catch(function (error) {
      status.textContent = error.message;
      button.disabled = false;
    });
  });
})();

// After signing in again on a browser that already allowed notifications, tie its subscription to the new
// session (signing out removed it from the server). Once per sign-in.
(function () {
  if (!document.body.hasAttribute("data-signed-in") || sessionStorage.getItem(PUSH_SYNCED)) return;
  if (!("serviceWorker" in navigator && "PushManager" in window && window.Notification)) return;
  if (Notification.permission !== "granted") return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  navigator.serviceWorker.ready.then(function (registration) {
    return registration.pushManager.getSubscription();
  }).then(function (subscription) {
    if (!subscription) return;
    return fetch("/api/v1/push/subscriptions", {
      method: "POST",
      headers: { "Content-Type": "application/json", "x-csrftoken": csrf },
      body: JSON.stringify(subscription.toJSON()),
    }).then(function (response) { if (response.ok) sessionStorage.setItem(PUSH_SYNCED, "1"); });
  }).catch(function () {});
})();

// Live status (a device's health): the region is read again from the server every few seconds while the page is
// visible, and replaced when it changed, unless the person is using a control inside it.
(function () {
  var region = document.querySelector("[data-live-region]");
  if (!region || !window.fetch || !window.DOMParser) return;
  var every = 5000;
  function refresh() {
    if (document.hidden || region.contains(document.activeElement)) return;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Porchlight-Background": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html || region.contains(document.activeElement)) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live-region]");
        if (fresh && fresh.innerHTML !== region.innerHTML) region.innerHTML = fresh.innerHTML;
      })
      .catch(function () {});  // offline: keep what is shown and try again at the next tick
  }
  setInterval(refresh, every);
})();

// Agency accounts are signed out after a while unused (the server decides; data-idle-limit-s says how long). A
// minute before, the page offers to stay; at the limit it keeps what was typed in its forms (this tab only), and
// reloads: the server asks for the sign-in and then brings the person back here, where the forms are filled again.
(function () {
  var limit = Number(document.body.getAttribute("data-idle-limit-s"));
  var KEPT = "porchlight-kept-forms";
  var here = location.pathname + location.search;
  restore();
  if (!limit) return;
  var warning = document.getElementById("idle-warning");
  var stay = document.getElementById("idle-stay");
  var timers = [];

  function arm() {
    timers.forEach(clearTimeout);
    timers = [setTimeout(warn, (limit - 60) * 1000), setTimeout(leave, limit * 1000)];
  }
  function warn() {
    warning.hidden = false;
    stay.focus();
  }
  function leave() {
    keep();
    location.reload();
  }
  function keep() {
    var forms = [];
    document.querySelectorAll("main form").forEach(function (form, index) {
      var fields = {};
      form.querySelectorAll("input, textarea, select").forEach(function (field) {
        if (!field.name || field.type === "hidden" || field.type === "password" || field.name === "_csrf_token") return;
        if (field.type === "checkbox" || field.type === "radio") {
          if (field.checked) (fields[field.name] = fields[field.name] || []).push(field.value);
        } else if (field.value) {
          fields[field.name] = field.value;
        }
      });
      if (Object.keys(fields).length) forms.push({ index: index, fields: fields });
    });
    if (forms.length) sessionStorage.setItem(KEPT, JSON.stringify({ page: here, forms: forms }));
  }
  stay.addEventListener("click", function () {
    // Any request to the server counts as use; a session that already ended is answered 401.
    fetch("/api/v1/me", { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) return leave();
      warning.hidden = true;
      arm();
    }).catch(function () { warning.hidden = true; arm(); });
  });
  arm();

  function restore() {
    var kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(KEPT) || "null"); } catch (error) { kept = null; }
    if (!kept || kept.page !== here || !document.body.hasAttribute("data-signed-in")) return;
    sessionStorage.removeItem(KEPT);
    var forms = document.querySelectorAll("main form");
    kept.forms.forEach(function (saved) {
      var form = forms[saved.index];
      if (!form) return;
      Object.keys(saved.fields).forEach(function (name) {
        var value = saved.fields[name];
        form.querySelectorAll('[name="' + CSS.escape(name) + '"]').forEach(function (field) {
          if (field.type === "checkbox" || field.type === "radio") field.checked = value.indexOf(field.value) !== -1;
          else if (field.type !== "hidden") field.value = value;
        });
      });
    });
    var notice = document.getElementById("kept-notice");
    if (notice) notice.hidden = false;
  }
})();

// Console search: "Tick all" and "Tick none" tick the list in place (without them the server does it), and the
// send button counts the owners the ticks would ask (one request each).
(function () {
  var form = document.querySelector("[data-send-form]");
  if (!form) return;
  var boxes = form.querySelectorAll('input[name="camera_ids"]');
  var button = form.querySelector("[data-send-button]");
  var summary = document.querySelector('[data-testid="ticked-summary"]');
  function count() {
    var owners = {};
    boxes.forEach(function (box) { if (box.checked) owners[box.getAttribute("data-owner")] = true; });
    var n = Object.keys(owners).length;
    button.textContent = n ? "Send request to " + n + " owner" + (n === 1 ? "" : "s") : "Send request (no camera ticked)";
  }
  form.addEventListener("change", count);
  document.querySelectorAll("[data-tick]").forEach(function (tick) {
    tick.addEventListener("click", function (event) {
      event.preventDefault();
      var all = tick.getAttribute("data-tick") === "all";
      boxes.forEach(function (box) { box.checked = all; });
      if (summary) summary.textContent = all ? "All cameras listed are ticked." : "No camera is ticked: tick those whose owners to ask.";
      count();
    });
  });
  count();
})();
