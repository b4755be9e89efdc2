// The owner's live share screen: the countdown ticks every second, and the share is read again from the API every
// 3 s so the owner sees the live desk arrive, a request for more time, a camera start sending, or the end. Without
// this script the page shows the same facts as of its loading (and a reload brings them up to date).
"use strict";

(function () {
  var root = document.querySelector("[data-share]");
  if (!root || !window.fetch) return;
  var api = root.getAttribute("data-share-api");
  var clockEl = root.querySelector("[data-share-clock]");
  var announcer = root.querySelector("[data-share-announce]");
  var endsAt = Date.now() + parseInt(root.getAttribute("data-seconds-left"), 10) * 1000;
  var last = null;
  var reloading = false;
  var EVERY = 3000;

  function clock(seconds) {
    var hours = Math.floor(seconds / 3600), minutes = Math.floor(seconds % 3600 / 60), secs = seconds % 60;
    var mm = hours ? (minutes < 10 ? "0" : "") + minutes : String(minutes);
    return (hours ? hours + ":" : "") + mm + ":" + (secs < 10 ? "0" : "") + secs;
  }

  function minutesLabel(minutes) {
    var hours = Math.floor(minutes / 60), rest = minutes % 60;
    if (!hours) return rest + " min";
    return rest ? hours + " h " + rest + " min" : hours + " h";
  }

  function time(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }

  function person(watcher) { return watcher.agency + " — " + watcher.display_name; }

  function show(selector, visible) {
    var element = root.querySelector(selector);
    if (element) element.hidden = !visible;
  }

  function say(text) {
    // Cleared first so that the same words said twice are announced twice.
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function reload() {
    if (reloading) return;
    reloading = true;
    window.location.reload();  // the server renders the summary
  }

  function tick() {
    var left = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    clockEl.textContent = clock(left);
    if (left === 0) refresh();
  }

  function renderWatching(share) {
    var list = root.querySelector("[data-share-watching]");
    var before = last ? last.watching.map(person) : null;
    var now = share.watching.map(person);
    if (before && before.join("|") === now.join("|")) return;
    list.textContent = "";
    share.watching.forEach(function (watcher) {
      var item = document.createElement("li");
      item.textContent = person(watcher) + ", since " + time(watcher.since);
      list.appendChild(item);
    });
    if (before) {
      var arrived = now.filter(function (name) { return before.indexOf(name) < 0; });
      if (arrived.length) say(arrived.join(", ") + (arrived.length > 1 ? " are" : " is") + " watching your cameras.");
    }
  }

  function renderCameras(share) {
    share.cameras.forEach(function (camera) {
      var item = root.querySelector('[data-camera-id="' + camera.id + '"]');
      var badge = item && item.querySelector(".badge");
      if (!badge) return;
      var sending = badge.classList.contains("ok");
      if (sending === camera.sending) return;
      badge.className = camera.sending ? "badge ok" : "badge";
      badge.textContent = camera.sending ? "Sending" : "Waiting for video";
      if (camera.sending) say(camera.name + " is sending video to the live desk.");
    });
  }

  function render(share) {
    if (share.state === "ended" || share.seconds_left <= 0) return reload();
    endsAt = Date.now() + share.seconds_left * 1000;
    renderWatching(share);
    renderCameras(share);

    var ackWho = root.querySelector("[data-share-ack-who]");
    if (share.acknowledged_at) ackWho.textContent = share.acknowledged_by || "The live desk";
    show("[data-share-ack]", !!share.acknowledged_at);
    if (last && share.acknowledged_at && !last.acknowledged_at) say(ackWho.textContent + " said they are watching.");
    show("[data-share-nobody]", !share.watching.length && !share.acknowledged_at);

    show("[data-share-unanswered]", share.nobody_answered);
    if (last && share.nobody_answered && !last.nobody_answered) {
      say("Nobody at the live desk has answered yet. If you need help now, call 911.");
    }

    var asked = share.extension_asked_minutes;
    if (asked) {
      root.querySelector("[data-share-ask-who]").textContent = share.extension_asked_by || "The live desk";
      root.querySelector("[data-share-ask-minutes]").textContent = minutesLabel(asked);
    }
    show("[data-share-ask]", !!asked);
    if (last && asked && !last.extension_asked_minutes) say("The live desk asks for " + minutesLabel(asked) + " more.");
    last = share;
  }

  function refresh() {
    if (reloading || (document.hidden && last)) return;
    fetch(api, { credentials: "same-origin", headers: { "Accept": "application/json", "X-Porchlight-Background": "1" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (share) { if (share) render(share); })
      .catch(function () {});  // offline: keep counting down and try again at the next tick
  }

  window.setInterval(tick, 1000);
  window.setInterval(refresh, EVERY);
  refresh();
})();
