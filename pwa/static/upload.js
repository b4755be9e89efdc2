// Sending clips for a footage request: a small tus 1.0 client (creation, core) with a real progress bar.
// Files go one after another in 8 MB pieces; a dropped connection is retried and continues from the byte the
// server has; the upload's address is kept per file, so choosing the same file again after closing the app
// continues it too.
"use strict";

(function () {
  var panel = document.querySelector("[data-upload]");
  if (!panel || !window.XMLHttpRequest) return;
  var TUS = "1.0.0";
  var PIECE = 8 * 1024 * 1024;
  var requestId = panel.getAttribute("data-request-id");
  var maxBytes = Number(panel.getAttribute("data-max-bytes"));
  var timeZone = panel.getAttribute("data-time-zone") || undefined;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var input = panel.querySelector("[data-upload-input]");
  var list = panel.querySelector("[data-upload-list]");
  var queue = Promise.resolve();
  panel.querySelector("[data-upload-field]").hidden = false;
  Array.prototype.forEach.call(document.querySelectorAll("[data-share-receipt]"), offerShare);

  // Where the phone has a share sheet, a receipt's Share button hands it the receipt's text (fetched beforehand:
  // a share must start within the tap).
  function offerShare(button) {
    if (!navigator.share) return;
    fetch(button.getAttribute("data-share-receipt"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(new Error("receipt")); })
      .then(function (text) {
        button.hidden = false;
        button.addEventListener("click", function () {
          navigator.share({ title: "Clip receipt", text: text }).catch(function () { /* closed without sharing */ });
        });
      })
      .catch(function () { /* no receipt to share: the button stays hidden */ });
  }

  // A time as the server's pages show it, in the owner's zone with its abbreviation: "Dec 3, 2026 9:30 PM CST".
  function localTime(iso) {
    var parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: timeZone, year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
      timeZoneName: "short",
    }).formatToParts(new Date(iso)).forEach(function (part) { parts[part.type] = part.value; });
    return parts.month + " " + parts.day + ", " + parts.year + " " + parts.hour + ":" + parts.minute + " " +
      parts.dayPeriod + " " + parts.timeZoneName;
  }

  // The request's state badge follows what the server says once a clip has arrived.
  function refreshState() {
    return fetch("/api/v1/requests/" + requestId, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (request) {
        var badge = document.querySelector('[data-testid="state"]');
        if (request && badge) badge.textContent = request.state_label;
      })
      .catch(function () { /* the badge is right again at the next load */ });
  }

  input.addEventListener("change", function () {
    Array.prototype.forEach.call(input.files, function (file) {
      var item = new Item(file);
      queue = queue.then(function () { return send(file, item); });
    });
    input.value = "";
  });

  function size(bytes) {
    if (bytes < 1000) return bytes + " bytes";
    var units = ["kB", "MB", "GB", "TB"];
    for (var i = 0; i < units.length; i++) {
      bytes /= 1000;
      if (bytes < 1000 || i === units.length - 1) return bytes.toFixed(1) + " " + units[i];
    }
  }

  // One file's line: its name, a progress bar and what is happening, announced politely to screen readers.
  function Item(file) {
    var id = "upload-" + Math.random().toString(36).slice(2);
    this.file = file;
    this.element = document.createElement("li");
    this.element.setAttribute("data-testid", "upload");
    var name = document.createElement("p");
    name.className = "camera-name";
    name.id = id;
    name.textContent = file.name;
    this.bar = document.createElement("progress");
    this.bar.max = file.size || 1;
    this.bar.value = 0;
    this.bar.setAttribute("aria-labelledby", id);
    this.status = document.createElement("p");
    this.status.className = "hint";
    this.status.setAttribute("aria-live", "polite");
    this.status.textContent = "Waiting to send…";
    this.element.append(name, this.bar, this.status);
    list.appendChild(this.element);
  }
  Item.prototype.progress = function (sent) {
    this.bar.value = sent;
    var percent = this.file.size ? Math.floor(sent * 100 / this.file.size) : 100;
    this.status.textContent = size(sent) + " of " + size(this.file.size) + " sent (" + percent + "%)";
  };
  Item.prototype.say = function (text) { this.status.textContent = text; };
  Item.prototype.fail = function (text) {
    this.status.className = "error";
    this.status.setAttribute("role", "alert");
    this.status.textContent = text;
    this.bar.remove();
  };
  // The receipt, as the page shows it after a reload: size, SHA-256 (wrapping on a narrow screen), time with its
  // zone, and the receipt to save or share.
  Item.prototype.done = function (receipt) {
    this.bar.remove();
    var box = document.createElement("div");
    box.setAttribute("data-testid", "receipt-status");
    box.appendChild(this.status);
    this.element.appendChild(box);
    this.status.className = "notice";
    this.status.textContent = "Received.";
    var facts = document.createElement("dl");
    facts.className = "facts";
    var sha = document.createElement("code");
    sha.setAttribute("data-testid", "sha256");
    sha.textContent = receipt.sha256;
    [["Size", size(receipt.size_bytes)], ["SHA-256", sha], ["Received", localTime(receipt.received_at)]]
      .forEach(function (fact) {
        var term = document.createElement("dt");
        var value = document.createElement("dd");
        term.textContent = fact[0];
        if (typeof fact[1] === "string") value.textContent = fact[1]; else value.appendChild(fact[1]);
        if (fact[0] === "Received") value.setAttribute("data-testid", "received-at");
        facts.append(term, value);
      });
    var url = "/requests/" + requestId + "/clips/" + receipt.id + "/receipt";
    var actions = document.createElement("p");
    actions.className = "actions";
    var save = document.createElement("a");
    save.className = "button secondary small";
    save.href = url;
    save.setAttribute("download", "");
    save.textContent = "Save receipt";
    var share = document.createElement("button");
    share.type = "button";
    share.className = "button secondary small";
    share.hidden = true;
    share.textContent = "Share";
    share.setAttribute("data-share-receipt", url);
    actions.append(save, share);
    box.append(facts, actions);
    offerShare(share);
  };

  // A request that settles with the finished XHR whatever its status; it fails only when the network does.
  function call(method, url, headers, body, onUpload) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", TUS);
      Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
      if (onUpload) xhr.upload.onprogress = function (event) { onUpload(event.loaded); };
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
        var error = new Error("network");
        error.retry = true;
        reject(error);
      };
      xhr.send(body === undefined ? null : body);
    });
  }

  // An answer the server gave that waiting will not change: its message is what the person must act on.
  function refusal(xhr) {
    var detail = "";
    try { detail = JSON.parse(xhr.responseText).detail || ""; } catch (ignored) { detail = ""; }
    var error = new Error(detail || "The server refused this file (" + xhr.status + ").");
    error.retry = xhr.status >= 500 || xhr.status === 423 || xhr.status === 408 || xhr.status === 429;
    return error;
  }

  function b64(text) { return btoa(unescape(encodeURIComponent(text))); }

  function send(file, item) {
    if (file.size === 0) { item.fail("This file is empty; choose the exported video."); return Promise.resolve(); }
    if (file.size > maxBytes) {
      item.fail("This file is " + size(file.size) + "; clips may be at most " + size(maxBytes) +
        ". Export a shorter part of the video.");
      return Promise.resolve();
    }
    var key = "porchlight-upload:" + requestId + ":" + file.name + ":" + file.size + ":" + file.lastModified;

    function create() {
      var metadata = "filename " + b64(file.name) + (file.type ? ",filetype " + b64(file.type) : "");
      return call("POST", "/api/v1/requests/" + requestId + "/uploads",
        { "Upload-Length": String(file.size), "Upload-Metadata": metadata, "x-csrftoken": csrf })
        .then(function (xhr) {
          if (xhr.status !== 201) throw refusal(xhr);
          var url = xhr.getResponseHeader("Location");
          localStorage.setItem(key, url);
          return { url: url, offset: 0 };
        });
    }

    // Where this file stands: a known upload continues from the server's offset; otherwise a new one starts.
    function locate() {
      var url = localStorage.getItem(key);
      if (!url) return create();
      return call("HEAD", url, {}).then(function (xhr) {
        if (xhr.status === 200) return { url: url, offset: Number(xhr.getResponseHeader("Upload-Offset")) };
        if (xhr.status === 404) { localStorage.removeItem(key); return create(); }
        throw refusal(xhr);
      });
    }

    function push(upload) {
      item.progress(upload.offset);
      if (upload.offset >= file.size) return upload;
      var end = Math.min(upload.offset + PIECE, file.size);
      return call("PATCH", upload.url, {
        "Upload-Offset": String(upload.offset),
        "Content-Type": "application/offset+octet-stream",
        "x-csrftoken": csrf,
      }, file.slice(upload.offset, end), function (loaded) { item.progress(upload.offset + loaded); })
        .then(function (xhr) {
          if (xhr.status === 204) {
            upload.offset = Number(xhr.getResponseHeader("Upload-Offset"));
            return push(upload);
          }
          // 409: the server has a different offset (a piece half-arrived), or the request closed (a new start says so).
          if (xhr.status === 409) return locate().then(push);
          throw refusal(xhr);
        });
    }

    function receipt(upload) {
      localStorage.removeItem(key);
      return fetch("/api/v1/requests/" + requestId + "/clips", { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (clips) {
          var id = upload.url.split("/").pop();
          var found = clips.filter(function (clip) { return clip.id === id; })[0];
          if (found && found.complete) item.done(found);
          else item.say("Sent. Reload the page to see the receipt.");
          return refreshState();
        });
    }

    var delay = 1000;
    function attempt() {
      return locate().then(push).then(receipt).catch(function (error) {
        if (!error.retry) {
          if (error.message !== "network") localStorage.removeItem(key);
          item.fail(error.message);
          return;
        }
        // Offline or the server is busy: try again, sooner when the phone says it is back online.
        item.say("Connection lost. Sending continues when it is back…");
        return new Promise(function (resolve) {
          var timer = setTimeout(done, delay);
          function done() { clearTimeout(timer); window.removeEventListener("online", done); resolve(); }
          window.addEventListener("online", done);
          delay = Math.min(delay * 2, 30000);
        }).then(attempt);
      });
    }
    return attempt();
  }
})();
