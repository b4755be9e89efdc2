// The live desk: the list of shares that updates itself and alerts on a new one, and one share's live video played
// over WHEP (the relay passes the owner's H.264 through, so the browser must offer H.264).
"use strict";

var PorchlightLive = (function () {
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";

  // "1 h 5 min", "12 min", "45 s": as the server's `duration` filter writes a time left.
  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 90) return seconds + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    var minutes = Math.round(seconds / 60), hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return minutes ? hours + " h " + minutes + " min" : hours + " h";
  }

  function problemDetail(response) {
    return response.json().then(function (problem) { return problem.detail || problem.title || ""; },
      function () { return ""; });
  }

  function send(method, url, body) {
    var headers = { "x-csrftoken": csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: method, credentials: "same-origin", headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  // --- the alert for a new share: a short beep (WebAudio; browsers allow it after the first click) ------------
  var audio = null;
  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume().catch(function () {});
    return audio;
  }
  function beep() {
    var context = audioContext();
    if (!context) return false;
    [0, 0.25].forEach(function (at) {
      var oscillator = context.createOscillator(), gain = context.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, context.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.3, context.currentTime + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + at + 0.18);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(context.currentTime + at);
      oscillator.stop(context.currentTime + at + 0.2);
    });
    return context.state === "running";
  }

  // --- the list of shares on now ----------------------------------------------------------------------------
  function setUpDesk(desk) {
    var list = desk.querySelector("[data-live-list]");
    var empty = desk.querySelector("[data-live-empty]");
    var blank = desk.querySelector("[data-live-item-template]");
    var alertRegion = document.querySelector("[data-live-alert]");
    var labels = JSON.parse(desk.getAttribute("data-trigger-labels") || "{}");
    var title = document.title;
    var known = {};
    var unseen = 0;
    list.querySelectorAll("[data-share-id]").forEach(function (item) { known[item.getAttribute("data-share-id")] = true; });

    var updating = document.querySelector("[data-live-updating]");
    if (updating) updating.hidden = false;
    var soundButton = document.querySelector("[data-live-sound]");
    if (soundButton) {
      soundButton.hidden = false;
      soundButton.addEventListener("click", beep);
    }
    // Any click or key on the page: audio may play from now on, and the operator has seen the alert.
    function seen() {
      audioContext();
      if (!unseen) return;
      unseen = 0;
      document.title = title;
      list.querySelectorAll(".live-new").forEach(function (item) { item.classList.remove("live-new"); });
    }
    document.addEventListener("click", seen);
    document.addEventListener("keydown", seen);

    function field(item, name) { return item.querySelector('[data-field="' + name + '"]'); }

    function fill(item, share) {
      item.setAttribute("data-share-id", share.id);
      field(item, "link").href = "/live/" + share.id;
      field(item, "site_name").textContent = share.site_name;
      field(item, "state").textContent = share.state === "live" ? "Live" : "Waiting for video";
      field(item, "address").textContent = share.address;
      var left = field(item, "time_left");
      left.setAttribute("data-seconds-left", share.seconds_left);
      left.textContent = duration(share.seconds_left);
      field(item, "cameras").textContent = share.cameras.map(function (c) { return c.name; }).join(", ");
      field(item, "trigger").textContent = labels[share.trigger] || share.trigger;
      field(item, "acknowledged").textContent = share.acknowledged_by
        ? share.acknowledged_by + " told the owner they are watching"
        : "Nobody has told the owner they are watching yet";
      field(item, "note").textContent = share.note;
      field(item, "note").hidden = field(item, "note_label").hidden = !share.note;
    }

    function render(shares) {
      var fresh = [];
      var items = {};
      list.querySelectorAll("[data-share-id]").forEach(function (item) { items[item.getAttribute("data-share-id")] = item; });
      shares.forEach(function (share, index) {
        var item = items[share.id];
        if (!item) {
          item = blank.content.firstElementChild.cloneNode(true);
          if (!known[share.id]) {
            known[share.id] = true;
            item.classList.add("live-new");
            fresh.push(share);
          }
        }
        delete items[share.id];
        fill(item, share);
        if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
      });
      Object.keys(items).forEach(function (id) { items[id].remove(); });  // ended since the last look
      empty.hidden = shares.length > 0;
      if (fresh.length) {
        unseen += fresh.length;
        document.title = "(" + unseen + " new) " + title;
        alertRegion.textContent = fresh.map(function (share) {
          var how = share.trigger === "button" ? "panic button" : "owner";
          return "New live share (" + how + "): " + share.site_name + ", " + share.address + ".";
        }).join(" ");
        beep();
      }
    }

    function poll() {
      fetch(desk.getAttribute("data-api"), { credentials: "same-origin", headers: { "Accept": "application/json", "X-Porchlight-Background": "1" } })
        .then(function (response) {
          if (response.status === 401 || response.status === 403) { window.location.reload(); return null; }
          return response.ok ? response.json() : null;
        })
        .then(function (shares) { if (shares) render(shares); })
        .catch(function () {})  // offline for a moment: keep what is shown, look again at the next tick
        .then(function () { setTimeout(poll, 2000); });
    }
    // Between looks at the server, the time left counts down on its own.
    setInterval(function () {
      list.querySelectorAll("[data-seconds-left]").forEach(function (left) {
        var seconds = Math.max(0, parseInt(left.getAttribute("data-seconds-left"), 10) - 1);
        left.setAttribute("data-seconds-left", seconds);
        left.textContent = duration(seconds);
      });
    }, 1000);
    setTimeout(poll, 2000);
  }

  // --- one camera's video over WHEP -------------------------------------------------------------------------
  function iceGathered(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(resolve, timeoutMs);  // send what was gathered so far rather than wait forever
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  function Player(figure, iceServers, onEnded) {
    this.figure = figure;
    this.video = figure.querySelector("video");
    this.status = figure.querySelector("[data-camera-status]");
    this.url = figure.getAttribute("data-whep");
    this.iceServers = iceServers;
    this.onEnded = onEnded;
    this.pc = null;
    this.location = null;
    this.frames = 0;
    this.stopped = false;
    this.retry = null;
    this.countFrames();
  }

  Player.prototype.say = function (text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  };

  // Decoded frames, for the operator's "is it moving" and for tests: data-frames grows while video plays.
  Player.prototype.countFrames = function () {
    var player = this, video = this.video;
    function record() {
      if (player.stopped) return;
      video.setAttribute("data-frames", player.frames);
      video.setAttribute("data-size", video.videoWidth + "x" + video.videoHeight);
    }
    if (video.requestVideoFrameCallback) {
      var onFrame = function () {
        if (player.stopped) return;
        player.frames += 1;
        record();
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    } else {
      setInterval(function () {
        var quality = video.getVideoPlaybackQuality && video.getVideoPlaybackQuality();
        if (quality) player.frames = Math.max(player.frames, quality.totalVideoFrames);
        record();
      }, 250);
    }
  };

  Player.prototype.start = function () {
    var player = this;
    if (this.stopped) return;
    var capabilities = window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video");
    var codecs = capabilities ? capabilities.codecs.filter(function (c) { return /h264|rtx/i.test(c.mimeType); }) : [];
    if (!window.RTCPeerConnection || !codecs.some(function (c) { return /h264/i.test(c.mimeType); })) {
      this.say("This browser cannot play the camera's H.264 video; use a current Chrome, Edge, Firefox or Safari.");
      return;
    }
    var pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    var transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    transceiver.setCodecPreferences(codecs);
    pc.ontrack = function (event) {
      player.video.srcObject = event.streams[0] || new MediaStream([event.track]);
    };
    pc.onconnectionstatechange = function () {
      if (player.pc !== pc || player.stopped) return;
      if (pc.connectionState === "connected") player.say("Live");
      if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        player.say("The connection dropped; reconnecting…");
        player.again(1000);
      }
    };
    this.say("Connecting…");
    pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return iceGathered(pc, 2000); })
      .then(function () {
        return fetch(player.url, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/sdp", "x-csrftoken": csrf },
          body: pc.localDescription.sdp,
        });
      })
      .then(function (response) {
        if (player.pc !== pc || player.stopped) return null;
        if (response.status === 201) {
          player.location = response.headers.get("Location");
          return response.text().then(function (sdp) {
            return pc.setRemoteDescription({ type: "answer", sdp: sdp });
          });
        }
        return problemDetail(response).then(function (detail) {
          if (response.status === 409) {  // the camera's video has not reached Porchlight yet
            player.say("Waiting for the camera's video…");
            player.again(1000);
          } else if (response.status === 410) {
            player.onEnded(detail || "This share has ended");
          } else {
            player.close();
            player.say(detail || "The video could not start (" + response.status + ").");
          }
        });
      })
      .catch(function () {
        if (player.pc === pc && !player.stopped) {
          player.say("Cannot reach Porchlight; trying again…");
          player.again(2000);
        }
      });
  };

  Player.prototype.again = function (afterMs) {
    var player = this;
    this.close();
    clearTimeout(this.retry);
    this.retry = setTimeout(function () { player.start(); }, afterMs);
  };

  // Close the peer connection and end the WHEP session on the server (best effort; the relay also ends it).
  Player.prototype.close = function (keepalive) {
    if (this.location) {
      fetch(this.location, { method: "DELETE", credentials: "same-origin", keepalive: !!keepalive,
        headers: { "x-csrftoken": csrf } }).catch(function () {});
      this.location = null;
    }
    if (this.pc) {
      var pc = this.pc;
      this.pc = null;
      pc.close();
    }
  };

  Player.prototype.stop = function (text) {
    this.close();
    clearTimeout(this.retry);
    this.stopped = true;
    this.video.pause();
    this.video.srcObject = null;  // blank, not the last frame
    this.video.setAttribute("data-ended", "");
    this.say(text || "Ended");
  };

  // --- one share's page -------------------------------------------------------------------------------------
  var players = [];

  function setUpShare(root) {
    var ended = root.hasAttribute("data-ended");
    var message = document.querySelector("[data-ended-message]");
    var state = document.querySelector("[data-share-state]");
    var timeLeft = root.querySelector("[data-time-left]");
    var acknowledged = root.querySelector("[data-acknowledged]");
    var moreTime = root.querySelector("[data-more-time]");
    var actionError = root.querySelector("[data-action-error]");
    var iceServers = JSON.parse(root.getAttribute("data-ice-servers") || "[]");
    var askedByMe = false, askedAt = 0;

    function endAll(text) {
      if (ended) return;
      ended = true;
      root.setAttribute("data-ended", "");
      players.forEach(function (player) { player.stop("Ended"); });
      message.textContent = text;
      state.textContent = "Ended";
      if (timeLeft) timeLeft.parentNode.textContent = "None";
      moreTime.textContent = "";
      root.querySelectorAll("[data-live-action] button").forEach(function (button) { button.disabled = true; });
    }

    var map = root.querySelector("[data-live-map]");
    if (map && typeof drawTiles === "function") {
      map.hidden = false;
      var lat = parseFloat(map.getAttribute("data-lat")), lon = parseFloat(map.getAttribute("data-lon"));
      var layer = drawTiles(map, 17, lat, lon);
      mapMark(map, "map-pin", layer.place(lat, lon)).setAttribute("data-map-pin", "");
    }

    root.querySelectorAll("[data-camera]").forEach(function (figure) {
      players.push(new Player(figure, iceServers, function (detail) { endAll(detail); }));
    });
    if (ended) return;
    players.forEach(function (player) { player.start(); });

    // The share as the server sees it, every second: the time left, who said they are watching, and its end.
    function poll() {
      if (ended) return;
      var sentAt = Date.now();
      fetch(root.getAttribute("data-api"), { credentials: "same-origin", headers: { "Accept": "application/json", "X-Porchlight-Background": "1" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (share) {
          if (!share || ended) return;
          if (share.state === "ended") {
            endAll("This share has ended — " + (share.ended_how || "ended"));
            return;
          }
          state.textContent = share.state === "live" ? "Live" : "Waiting for video";
          if (timeLeft && timeLeft.getAttribute("data-seconds-left") !== String(share.seconds_left)) {
            timeLeft.setAttribute("data-seconds-left", share.seconds_left);
            timeLeft.textContent = duration(share.seconds_left);
          }
          if (share.acknowledged_by && !acknowledged.textContent) {
            acknowledged.textContent = share.acknowledged_by + " told the owner they are watching";
          }
          if (share.extension_asked_minutes && !moreTime.textContent) {
            moreTime.textContent = "Asked the owner; waiting for their answer";
          } else if (!share.extension_asked_minutes && askedByMe && sentAt > askedAt && moreTime.textContent) {
            // (a look sent before the ask was saved cannot know of it: only a later one tells of an answer)
            moreTime.textContent = "The owner has answered; see the time left";
            askedByMe = false;
          }
        })
        .catch(function () {})
        .then(function () { if (!ended) setTimeout(poll, 1000); });
    }
    setTimeout(poll, 1000);

    // The buttons work without scripts (post and come back); here they stay on the page so the video keeps playing.
    root.querySelectorAll("[data-live-action]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var action = form.getAttribute("data-live-action");
        var button = event.submitter || form.querySelector("button");
        var body = action === "more-time" ? { minutes: parseInt(button.value, 10) } : undefined;
        actionError.textContent = "";
        button.disabled = true;
        send("POST", root.getAttribute("data-api") + "/" + action, body)
          .then(function (response) {
            if (response.ok) {
              if (action === "acknowledge") acknowledged.textContent = "You told the owner you are watching";
              else { moreTime.textContent = "Asked the owner; waiting for their answer"; askedByMe = true; askedAt = Date.now(); }
              return;
            }
            return problemDetail(response).then(function (detail) {
              if (response.status === 410) endAll(detail || "This share has ended");
              else actionError.textContent = detail || "That did not work (" + response.status + "). Try again.";
            });
          })
          .catch(function () { actionError.textContent = "Cannot reach Porchlight. Check the connection and try again."; })
          .then(function () { if (!ended) button.disabled = false; });
      });
    });

    // Leaving the page ends its WHEP sessions at once, rather than when the relay notices.
    window.addEventListener("pagehide", function () {
      players.forEach(function (player) { player.close(true); });
    });
  }

  // --- for latency measurements: the simulated camera's clock, read back from the video -------------------------
  // The edge simulator draws the wall clock (ms since the epoch) as 48 blocks 13 px wide from x=8 in the top 32
  // rows, white = 1, black = 0, most significant bit first. Returns that number, or null if no frame is shown.
  var canvas = null;
  function readBarcode(video) {
    if (!video || !video.videoWidth) return null;
    canvas = canvas || document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = 32;
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, video.videoWidth, 32, 0, 0, video.videoWidth, 32);
    var pixels = context.getImageData(0, 0, video.videoWidth, 32).data;
    var value = 0;
    for (var bit = 0; bit < 48; bit++) {
      var sum = 0, count = 0;
      for (var y = 10; y < 22; y += 2) {  // the middle of each block, away from compression at its edges
        for (var x = 8 + bit * 13 + 4; x < 8 + bit * 13 + 9; x++) {
          var i = (y * video.videoWidth + x) * 4;
          sum += 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
          count++;
        }
      }
      value = value * 2 + (sum / count > 128 ? 1 : 0);  // 48 bits fit exactly in a double
    }
    return value;
  }

  // The video elements' latency now: Date.now() minus the clock drawn in the frame shown (ms), one per camera.
  function latencies() {
    return players.map(function (player) {
      var drawn = readBarcode(player.video);
      return drawn === null ? null : Date.now() - drawn;
    });
  }

  var desk = document.querySelector("[data-live-desk]");
  if (desk) setUpDesk(desk);
  var share = document.querySelector("[data-live-share]");
  if (share) setUpShare(share);

  return { players: players, readBarcode: readBarcode, latencies: latencies, beep: beep, duration: duration };
})();
