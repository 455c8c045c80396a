/*
 * Confide chat widget. Embed with:
 *   <script src="https://CONFIDE_HOST/widget.js" data-workspace="SLUG" async></script>
 *
 * Talks only to the origin it was loaded from (no third-party request, no cookie). Renders in
 * a shadow root, so the host page's CSS cannot reach it; its own styles are a constructable
 * stylesheet, which a strict `style-src 'self'` does not block. Every text from the network is
 * inserted with textContent, never as HTML.
 *
 * Kept in the host origin's localStorage, per workspace: the visitor's VUID and token, the open
 * conversation, and the page-view count of the engagement rules, written only once the visitor
 * opens the widget (or an engagement rule needs the count). Engagement data (page views,
 * time on site, language, path) stays in the browser until the visitor starts a chat, and is
 * then sent with the conversation only.
 *
 * JS API (calls made before the script loaded are queued):
 *   window.Confide = window.Confide || {q: []};
 *   Confide.q.push(["identify", {name: "Ada", email: "ada@example.org", plan: "pro"}]);
 * and once loaded: Confide.identify({...}), Confide.open(), Confide.close(),
 * Confide.on("message" | "open" | "close" | "ready", fn), Confide.off(event, fn).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src || window.__confideWidget) return;
  window.__confideWidget = true;
  var ORIGIN = new URL(script.src).origin;
  var SLUG = script.getAttribute("data-workspace") || "";
  var API = ORIGIN + "/api/v1";
  var KEY = "confide." + SLUG;
  var MOBILE_MAX_WIDTH = 480;
  var TYPING_IDLE_MS = 4000;
  var TYPING_SHOWN_MS = 8000;
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_CAP_MS = 30000;
  var UNAVAILABLE_RETRY_MS = 2000; // a message refused during an outage goes again after this
  var PREVIEW_DEBOUNCE_MS = 400;    // the typing preview goes once typing pauses this long
  var COBROWSE_CARRY_MS = 20000;    // an agent's navigation keeps co-browsing if the page loads by then
  // The language: the snippet's data-lang, else the page's lang, else the browser's. The server
  // answers with the closest language it has (shipped or defined by the workspace's admins).
  var LANG = (script.getAttribute("data-lang") || document.documentElement.lang ||
    navigator.language || "en").slice(0, 35);

  // -- storage (first-party, per workspace; memory if the browser refuses) ------------------

  var memory = {};
  function readStore(store, key) {
    try { return JSON.parse(store.getItem(key) || "null"); } catch (e) { return memory[key] || null; }
  }
  function writeStore(store, key, value) {
    try {
      if (value === null) store.removeItem(key); else store.setItem(key, JSON.stringify(value));
    } catch (e) { memory[key] = value; }
  }
  // Merely reading window.localStorage throws in sandboxed frames and on opaque origins.
  var local = null, session = null;
  try { local = window.localStorage; session = window.sessionStorage; } catch (e) { /* memory */ }
  var saved = readStore(local, KEY) || {};
  function save() { writeStore(local, KEY, saved); }

  // Page views and session start are counted in memory; they are written to storage only once
  // the visitor opens the widget, or when an engagement rule needs them (min_page_views,
  // after_seconds): a page with the widget on it alone stores nothing (docs/widget.md).
  var pageViews = (readStore(local, KEY + ".views") || 0) + 1;
  var sessionStart = readStore(session, KEY + ".start") || Date.now();
  var engagementStored = false;
  var objected = [];  // processings the visitor objected to: see loadObjections
  var objectionsAsked = null;
  function storeEngagement() {
    if (engagementStored || objected.indexOf("engagement_rules") >= 0) return;
    engagementStored = true;
    writeStore(local, KEY + ".views", pageViews);
    writeStore(session, KEY + ".start", sessionStart);
  }

  // -- state --------------------------------------------------------------------------------

  var config = null;
  var ui = null;
  var isOpen = false;
  var openWhenReady = false;
  var ready = false;
  var listeners = {};
  var view = "";
  var seen = {};          // seq -> true, for every message shown
  var byClientId = {};    // client_id -> message element (own messages)
  var unacked = [];       // own messages not yet acknowledged: {client_id, body}
  var unread = 0;
  var resuming = false;   // replaying history after a reload: not new, not unread
  var lastAgentSeq = 0;
  var agents = {};        // operator id -> alias, learnt from messages and assignments
  var ruleShown = null;
  var ws = null, wsReady = false, attempts = 0, reconnectTimer = null, stopped = false;
  var typingSent = 0, typingTimer = null, agentTypingTimer = null;
  var visitorPromise = null;
  var starting = false;   // the first message is creating the conversation
  var ending = false;     // the end notice waits for the messages sent before the end

  // Strings come with the config, in the language it names (English where one is missing).
  function t(key, arg, arg2) {
    var text = (config && config.strings && config.strings[key]) || key;
    if (arg !== undefined) text = text.split("{0}").join(String(arg));
    return arg2 === undefined ? text : text.split("{1}").join(String(arg2));
  }

  // Times in the visitor's own time zone and clock convention (the browser's Intl does both).
  var timeFormat = null;
  function formatTime(iso) {
    try {
      if (!timeFormat) timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
      return timeFormat.format(iso ? new Date(iso) : new Date());
    } catch (e) { return ""; }
  }
  function stamp(node, iso) {
    var when = iso ? new Date(iso) : new Date();
    node.setAttribute("data-time", formatTime(iso));
    node.setAttribute("title", when.toLocaleString());
    return node;
  }

  function emit(name, data) {
    (listeners[name] || []).slice().forEach(function (fn) {
      try { fn(data); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }

  // -- network ------------------------------------------------------------------------------

  function request(method, path, body, keepalive) {
    var headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (saved.token) headers.Authorization = "Bearer " + saved.token;
    return fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      mode: "cors",
      keepalive: !!keepalive  // a decision sent as the page goes away still arrives
    }).then(readResponse);
  }

  function readResponse(response) {
    return response.text().then(function (text) {
      var data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      if (!response.ok) {
        var error = (data && data.error) || {};
        var failure = new Error(error.message || "Request failed (" + response.status + ")");
        failure.status = response.status;
        failure.code = error.code;
        failure.field = error.field;
        throw failure;
      }
      return data;
    });
  }

  function ensureVisitor() {
    if (saved.token) return Promise.resolve();
    if (!visitorPromise) {
      visitorPromise = request("POST", "/widget/" + encodeURIComponent(SLUG) + "/visitors")
        .then(function (created) {
          saved = { vuid: created.vuid, token: created.token };
          save();
        })
        .finally(function () { visitorPromise = null; });
    }
    return visitorPromise;
  }

  function forgetVisitor() {
    saved = {};
    save();
    resetConversation();
  }

  // The server no longer knows this browser's token (erased, or expired): start afresh, but
  // say under Privacy why earlier requests can no longer be looked up here.
  function forgetIdentity() {
    var hadRequests = !!(saved.requests && saved.requests.length);
    forgetVisitor();
    if (hadRequests) { saved.requests_gone = true; save(); }
  }

  // -- DOM helpers --------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    close: "M6 6l12 12M18 6L6 18",
    send: "M3 11l18-8-8 18-2-8-8-2z",
    clip: "M21 12l-8.5 8.5a5 5 0 0 1-7-7L14 5a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 8"
  };
  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "icon icon-" + name);
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  // -- styles -------------------------------------------------------------------------------

  function luminance(hex) {
    var rgb = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
  }
  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  // Colours are variables: light by default, dark under prefers-color-scheme (theme "auto") or
  // when the workspace forces it. Every pair meets WCAG 2.1 AA (4.5:1 for text, 3:1 for focus
  // rings and borders) in both modes; the accent is adjusted until its text does too.
  var LIGHT = "--bg:#fff;--fg:#1f2328;--muted:#475467;--line:#e4e7ec;--field:#98a2b3;--soft:#f8f9fb;--link:#0b57d0;--focus:#0b57d0;--danger:#b42318";
  var DARK = "--bg:#1b1f24;--fg:#e6e8eb;--muted:#aab2bd;--line:#3a414a;--field:#7d8794;--soft:#121518;--link:#8ab4f8;--focus:#8ab4f8;--danger:#ff8a80";
  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box}",
    ".root{" + LIGHT + ";font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:var(--fg);position:fixed;bottom:20px;z-index:2147483000}",
    ".root.dark{" + DARK + ";color-scheme:dark}",
    "@media (prefers-color-scheme:dark){.root.auto{" + DARK + ";color-scheme:dark}}",
    ".root.right{right:20px}.root.left{left:20px}",
    "button,input,textarea{font:inherit;color:inherit}",
    "button{cursor:pointer}",
    ":focus-visible{outline:3px solid var(--focus);outline-offset:2px}",
    ".icon{width:22px;height:22px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}",
    "[dir=rtl] .icon-send{transform:scaleX(-1)}",
    ".launcher{display:flex;align-items:center;gap:8px;border:0;border-radius:28px;padding:14px 20px 14px 16px;background:var(--accent);color:var(--on-accent);box-shadow:0 6px 20px rgba(15,23,42,.25);font-weight:600;position:relative}",
    ".launcher:hover{filter:brightness(1.06)}",
    ".badge{position:absolute;top:-6px;inset-inline-end:-6px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#b42318;color:#fff;font-size:12px;line-height:22px;text-align:center;border:2px solid #fff}",
    ".badge[hidden]{display:none}",
    ".bubble{position:absolute;bottom:70px;width:280px;background:var(--bg);border-radius:14px;box-shadow:0 10px 30px rgba(15,23,42,.2);padding:14px 38px 14px 16px;border:1px solid var(--line)}",
    ".right .bubble{right:0}.left .bubble{left:0}",
    ".bubble-text{border:0;background:none;padding:0;text-align:start;width:100%;color:var(--fg)}",
    ".bubble-close{position:absolute;top:8px;inset-inline-end:8px;border:0;background:none;padding:2px;border-radius:6px;color:var(--muted);line-height:0}",
    ".bubble-close .icon{width:16px;height:16px}",
    ".panel{position:absolute;bottom:72px;width:380px;height:min(600px,calc(100vh - 112px));display:flex;flex-direction:column;background:var(--bg);border-radius:16px;box-shadow:0 16px 48px rgba(15,23,42,.28);overflow:hidden;border:1px solid var(--line)}",
    ".right .panel{right:0}.left .panel{left:0}",
    ".panel[hidden],.launcher[hidden],.bubble[hidden],.confirm[hidden]{display:none}",
    ".header{display:flex;align-items:center;gap:10px;padding:14px 12px 14px 18px;background:var(--accent);color:var(--on-accent)}",
    ".header :focus-visible{outline-color:currentColor}",
    ".titles{flex:1;min-width:0}",
    ".title{margin:0;font-size:16px;font-weight:650}",
    ".subtitle{margin:0;font-size:13px}",
    ".hbtn{border:0;background:transparent;color:inherit;border-radius:8px;padding:6px 8px;line-height:0}",
    ".hbtn.text{line-height:1.2;font-size:13px;font-weight:600;border:1px solid currentColor}",
    ".hbtn[hidden]{display:none}",
    ".hbtn:hover{background:rgba(127,127,127,.18)}",
    ".body{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:10px;background:var(--soft)}",
    ".notice{font-size:12.5px;color:var(--muted);text-align:center;margin:0}",
    ".log{display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:82%;padding:9px 13px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".msg[data-time]::after{content:attr(data-time);display:block;font-size:11.5px;text-align:end;margin-top:2px}",
    ".msg.them{align-self:flex-start;background:var(--bg);border:1px solid var(--line);border-end-start-radius:4px}",
    ".msg.me{align-self:flex-end;background:var(--accent);color:var(--on-accent);border-end-end-radius:4px}",
    ".msg.pending{opacity:.7}",
    ".msg.failed{outline:2px solid var(--danger)}",
    ".who{display:block;font-size:12px;font-weight:600;color:var(--muted);margin-bottom:2px}",
    ".system{align-self:center;font-size:12.5px;color:var(--muted);margin:0}",
    ".typing{font-size:12.5px;color:var(--muted);min-height:18px;padding:0 16px 4px;background:var(--soft)}",
    ".composer,.confirm{display:flex;gap:8px;align-items:flex-end;padding:10px 12px;border-top:1px solid var(--line);background:var(--bg)}",
    ".confirm{flex-direction:column;align-items:stretch}.confirm p{margin:0;font-weight:600}",
    ".privacy{display:flex;flex-direction:column;gap:8px;padding:12px;border-top:1px solid var(--line);background:var(--bg)}",
    ".privacy[hidden]{display:none}.privacy h3{margin:0;font-size:15px}.privacy p{margin:0}",
    ".privacy h4{margin:4px 0 0;font-size:13.5px}.privacy ul{margin:0;padding-inline-start:18px;display:flex;flex-direction:column;gap:4px}",
    ".privacy .btn{align-self:flex-start;text-align:start}.privacy [role=status]{display:flex;flex-direction:column;gap:4px}",
    ".composer textarea:disabled,.composer button:disabled{opacity:.55;cursor:not-allowed}",
    ".composer[hidden]{display:none}",
    ".composer textarea{flex:1;resize:none;border:1px solid var(--field);border-radius:12px;padding:9px 12px;max-height:120px;min-height:42px;background:var(--bg)}",
    ".attach{border:1px solid var(--field);border-radius:12px;width:44px;height:42px;background:var(--bg);color:var(--fg);display:flex;align-items:center;justify-content:center}",
    ".filein{position:absolute;width:1px;height:1px;opacity:0;pointer-events:none}",
    ".panel.dropping{outline:3px dashed var(--focus);outline-offset:-6px}",
    ".filecard{display:flex;flex-direction:column;gap:6px}",
    ".filecard img{display:block;max-width:100%;max-height:180px;border-radius:10px;background:var(--bg)}",
    ".msg.me .filecard a{color:var(--on-accent)}",
    ".filecard a{color:var(--link);overflow-wrap:anywhere}",
    ".filesize{font-size:12px}",
    ".send{border:0;border-radius:12px;width:44px;height:42px;background:var(--accent);color:var(--on-accent);display:flex;align-items:center;justify-content:center}",
    ".card{background:var(--bg);border:1px solid var(--line);border-radius:12px;padding:16px;display:flex;flex-direction:column;gap:12px}",
    ".card h3{margin:0;font-size:16px}",
    "[tabindex=\"-1\"]:focus{outline:none}",
    ".card p{margin:0;white-space:pre-wrap}",
    ".card form{display:flex;flex-direction:column;gap:12px}",
    ".endbox{display:flex;flex-direction:column;gap:10px}",
    ".row{display:flex;gap:8px;flex-wrap:wrap}",
    ".btn{border-radius:10px;padding:9px 16px;font-weight:600;border:1px solid var(--field);background:var(--bg);color:var(--fg)}",
    ".btn.primary{background:var(--accent);color:var(--on-accent);border-color:var(--accent)}",
    "label{display:flex;flex-direction:column;gap:4px;font-size:13.5px;font-weight:600;color:var(--fg)}",
    "input[type=text],input[type=email],.card textarea{border:1px solid var(--field);border-radius:10px;padding:9px 11px;font-weight:400;background:var(--bg)}",
    ".stars{display:flex;gap:6px;border:0;padding:0;margin:0;flex-wrap:wrap}",
    ".stars legend{font-size:13.5px;font-weight:600;color:var(--fg);margin-bottom:6px;padding:0}",
    ".stars label{flex-direction:row;align-items:center;justify-content:center;width:44px;height:44px;border:1px solid var(--field);border-radius:10px;font-size:16px;cursor:pointer}",
    ".stars input{position:absolute;opacity:0;width:1px;height:1px}",
    ".stars input:checked+span{font-weight:800}",
    ".stars label:has(input:checked){background:var(--accent);color:var(--on-accent);border-color:var(--accent)}",
    ".stars label:has(input:focus-visible){outline:3px solid var(--focus);outline-offset:2px}",
    ".alert{color:var(--danger);font-size:13px;margin:0}",
    ".card.compact{padding:12px;gap:8px;font-size:13.5px}",
    ".link{border:0;background:none;padding:0;color:var(--link);text-decoration:underline;font-size:inherit}",
    ".link.retry{align-self:flex-end;font-size:12.5px;color:var(--danger)}",
    ".alert:empty{display:none}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (max-width:" + MOBILE_MAX_WIDTH + "px){.root.open{inset:0}.panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0;border:0}.bubble{width:calc(100vw - 40px)}}",
    "@media (prefers-reduced-motion:no-preference){.launcher,.panel{transition:transform .15s ease}}"
  ].join("\n");

  // The accent carries text (header, buttons, own messages): keep whichever of white and
  // near-black reads better on it, then darken or lighten the accent itself until that text
  // reaches 4.5:1 (WCAG 2.1 SC 1.4.3). Mid-tone accents (around #767676) need it.
  function shade(hex, factor) {
    return "#" + [1, 3, 5].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16);
      c = factor < 0 ? c * (1 + factor) : c + (255 - c) * factor;
      return ("0" + Math.round(c).toString(16)).slice(-2);
    }).join("");
  }
  function accessibleAccent(accent) {
    var white = "#ffffff", dark = "#111418";
    var onAccent = contrast(accent, white) >= contrast(accent, dark) ? white : dark;
    for (var step = 1; contrast(accent, onAccent) < 4.5 && step <= 20; step++) {
      accent = shade(accent, onAccent === white ? -0.05 : 0.05);
    }
    return { accent: accent, onAccent: onAccent };
  }

  function applyStyles(shadow, accent) {
    var pair = accessibleAccent(accent);
    var text = CSS + "\n:host{--accent:" + pair.accent + ";--on-accent:" + pair.onAccent + "}";
    if (window.CSSStyleSheet && "adoptedStyleSheets" in Document.prototype) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(text);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      shadow.appendChild(el("style", { text: text }));
    }
  }

  // -- building the UI ----------------------------------------------------------------------

  function build() {
    var host = el("div", { id: "confide-widget" });
    var shadow = host.attachShadow({ mode: "open" });
    applyStyles(shadow, config.appearance.accent_color);
    var position = config.appearance.position === "left" ? "left" : "right";
    var u = {};
    u.host = host;
    u.shadow = shadow;
    u.badge = el("span", { className: "badge", hidden: true, "aria-hidden": "true" });
    u.launcherText = el("span", { text: config.appearance.launcher_label });
    u.launcherSr = el("span", { className: "sr" });
    u.launcher = el("button", {
      className: "launcher", type: "button", "aria-expanded": "false",
      "aria-controls": "confide-panel", onclick: function () { open(); }
    }, [icon("chat"), u.launcherText, u.launcherSr, u.badge]);
    u.bubbleText = el("button", { className: "bubble-text", type: "button", onclick: function () { open(); } });
    u.bubble = el("div", { className: "bubble", role: "status", hidden: true }, [
      u.bubbleText,
      el("button", { className: "bubble-close", type: "button", "aria-label": t("dismiss"),
        onclick: function () { u.bubble.hidden = true; } }, [icon("close")])
    ]);
    u.title = el("h2", { className: "title", id: "confide-title", text: config.appearance.title });
    u.subtitle = el("p", { className: "subtitle", text: "" });
    u.end = el("button", { className: "hbtn text", type: "button", hidden: true, text: t("endChat"),
      onclick: confirmEnd });
    u.privacyButton = el("button", { className: "hbtn text", type: "button", text: t("privacy"),
      "aria-expanded": "false", "aria-controls": "confide-privacy", onclick: togglePrivacy });
    u.privacy = el("div", { className: "privacy", id: "confide-privacy", role: "group",
      "aria-labelledby": "confide-privacy-title", hidden: true });
    u.minimize = el("button", { className: "hbtn", type: "button", "aria-label": t("closeWindow"),
      onclick: function () { close(); } }, [icon("close")]);
    u.body = el("div", { className: "body" });
    u.typing = el("div", { className: "typing", role: "status", "aria-live": "polite" });
    u.textarea = el("textarea", {
      rows: "1", "aria-label": t("write"), placeholder: t("write") + "…",
      maxlength: String(config.message_max_chars || 4000),
      onkeydown: onComposerKey, oninput: onComposerInput
    });
    u.send = el("button", { className: "send", type: "submit", "aria-label": t("send") }, [icon("send")]);
    u.fileInput = el("input", { type: "file", className: "filein", tabindex: "-1", "aria-hidden": "true",
      multiple: "multiple", onchange: function () { uploadFiles(u.fileInput.files); u.fileInput.value = ""; } });
    u.attach = el("button", { className: "attach", type: "button", "aria-label": t("attach"),
      onclick: function () { u.fileInput.click(); } }, [icon("clip")]);
    u.textarea.addEventListener("paste", onPasteFiles);
    u.composer = el("form", { className: "composer", hidden: true, onsubmit: function (event) {
      event.preventDefault(); sendFromComposer();
    } }, [u.attach, u.fileInput, u.textarea, u.send]);
    u.panel = el("div", {
      className: "panel", id: "confide-panel", role: "dialog", "aria-labelledby": "confide-title",
      hidden: true, onkeydown: function (event) {
        if (event.key === "Escape") { event.stopPropagation(); close(); }
      }
    }, [
      el("div", { className: "header" }, [
        el("div", { className: "titles" }, [u.title, u.subtitle]), u.end, u.privacyButton, u.minimize
      ]),
      u.body, u.privacy, u.typing, u.composer
    ]);
    u.panel.addEventListener("dragover", onDragFiles);
    u.panel.addEventListener("dragleave", function () { u.panel.classList.remove("dropping"); });
    u.panel.addEventListener("drop", onDropFiles);
    var theme = { light: "light", dark: "dark" }[config.appearance.theme] || "auto";
    u.root = el("div", { className: "root " + position + " " + theme, dir: config.dir || "ltr",
      lang: config.language || "en" }, [u.bubble, u.panel, u.launcher]);
    shadow.appendChild(u.root);
    document.body.appendChild(host);
    return u;
  }

  function clearBody() {
    while (ui.body.firstChild) ui.body.removeChild(ui.body.firstChild);
    ui.alert = null;
  }

  function focusFirst(node) {
    var target = node.querySelector("input,textarea,button:not([disabled])");
    if (target && isOpen) target.focus();
  }

  function setView(name, content, composer) {
    view = name;
    if (name !== "chat") ui.log = null;
    clearBody();
    content.forEach(function (node) { ui.body.appendChild(node); });
    ui.composer.hidden = !composer;
    setComposerEnabled(true);
    ui.end.hidden = !(name === "chat" && saved.conversation);
    ui.typing.textContent = "";
    if (isOpen) {
      if (composer) ui.textarea.focus(); else focusFirst(ui.body);
    }
  }

  function alertLine() {
    ui.alert = el("p", { className: "alert", role: "alert" });
    return ui.alert;
  }
  function showAlert(text) {
    if (!ui.alert) ui.body.appendChild(alertLine());
    ui.alert.textContent = text;
  }

  // -- views --------------------------------------------------------------------------------

  function consentRequest() {
    return config.consent.requests.chat || null;
  }

  function showConsent() {
    var req = consentRequest();
    // The buttons are described by the text, so a screen reader reads it with the first focus.
    var accept = el("button", { className: "btn primary", type: "button", text: t("accept"),
      "aria-describedby": "confide-consent-text" });
    var refuse = el("button", { className: "btn", type: "button", text: t("decline"),
      "aria-describedby": "confide-consent-text" });
    function decide(decision) {
      accept.disabled = refuse.disabled = true;
      ensureVisitor().then(function () {
        // Consenting again in an open chat names it: the agent's console resumes at once.
        return request("POST", "/widget/consent", {
          purpose: "chat", version: req.version, text_hash: req.text_hash, decision: decision,
          conversation_id: saved.conversation || undefined
        });
      }).then(function () {
        saved.chat_consent = decision === "granted" ? req.version : null;
        if (decision === "granted") delete saved.consent_withdrawn;
        save();
        if (decision === "granted") afterConsent(); else showRefused();
      }).catch(function (error) {
        accept.disabled = refuse.disabled = false;
        showAlert(error.message);
      });
    }
    accept.addEventListener("click", function () { decide("granted"); });
    refuse.addEventListener("click", function () { decide("refused"); });
    setView("consent", [
      el("div", { className: "card" }, [
        el("h3", { text: t("consentTitle") }),
        el("p", { className: "consent-text", id: "confide-consent-text", text: req.text }),
        el("p", { className: "notice", text: t("version", req.version) }),
        el("div", { className: "row" }, [accept, refuse])
      ]),
      alertLine()
    ], false);
  }

  function showRefused() {
    setView("refused", [
      el("div", { className: "card", "data-confide": "refused" }, [
        el("h3", { text: t("refusedTitle") }),
        el("p", { text: t("refusedText") }),
        el("p", { text: t("refusedOther", config.workspace.name) }),
        el("div", { className: "row" }, [
          el("button", { className: "btn primary", type: "button", text: t("review"),
            onclick: showConsent })
        ])
      ])
    ], false);
  }

  function showPrechat() {
    var fields = [];
    var name = el("input", { type: "text", name: "name", autocomplete: "name", maxlength: "200" });
    var email = el("input", { type: "email", name: "email", autocomplete: "email", maxlength: "254" });
    if (config.prechat.ask_name) fields.push(el("label", {}, [document.createTextNode(t("yourName")), name]));
    if (config.prechat.ask_email) fields.push(el("label", {}, [document.createTextNode(t("yourEmail")), email]));
    var submit = el("button", { className: "btn primary", type: "submit", text: t("startChat") });
    var form = el("form", { className: "card", novalidate: true, onsubmit: function (event) {
      event.preventDefault();
      var identity = {};
      if (config.prechat.ask_name && name.value.trim()) identity.name = name.value.trim();
      if (config.prechat.ask_email && email.value.trim()) {
        if (!email.checkValidity()) {
          email.setAttribute("aria-invalid", "true");
          showAlert(t("badEmail"));
          email.focus();
          return;
        }
        identity.email = email.value.trim();
      }
      submit.disabled = true;
      var done = Object.keys(identity).length ? identify(identity) : Promise.resolve();
      done.then(function () {
        saved.prechat = true;
        save();
        showChat();
      }).catch(function (error) {
        submit.disabled = false;
        showAlert(error.field ? error.field + ": " + error.message : error.message);
      });
    } }, [el("h3", { text: config.appearance.greeting || config.appearance.title })]
      .concat(fields, [submit]));
    setView("prechat", [form, alertLine()], false);
  }

  function showChat() {
    ui.log = el("div", { className: "log", role: "log", "aria-live": "polite", "aria-label": t("messages") });
    var nodes = [];
    if (!config.transcripts_stored) {
      nodes.push(el("p", { className: "notice", text: t("notRecorded") }));
    }
    if (config.appearance.greeting) {
      ui.log.appendChild(el("div", { className: "msg them greeting", dir: "auto" }, [
        el("span", { className: "who", text: config.workspace.name }),
        document.createTextNode(config.appearance.greeting)
      ]));
    }
    var away = awayNotice();
    if (away) nodes.push(away);
    ui.mirror = el("div", { className: "mirror" });
    nodes.push(ui.mirror, ui.log);
    var keepAlert = ui.alert;
    setView("chat", nodes.concat([alertLine()]), true);
    if (keepAlert && keepAlert.textContent) showAlert(keepAlert.textContent);
    unacked.forEach(function (item) { renderOwn(item.client_id, item.body); });
    updateMirror();
  }

  // -- nobody there: when we open again, and answers by e-mail (its own consent purpose) ------

  function awayNotice() {
    var a = config.availability;
    if (!a || (a.open && a.agents_available) || saved.conversation) return null;
    var lines = [el("h3", { text: a.open ? t("awayTitle") : t("awayClosed") })];
    if (!a.open && a.next_opening) {
      var when = "";
      try {
        // Words in the widget's language, the clock (12/24 h) and the zone of the visitor.
        var cycle = new Intl.DateTimeFormat(undefined, { hour: "numeric" }).resolvedOptions().hourCycle;
        when = new Intl.DateTimeFormat(config.language, { weekday: "long", day: "numeric", month: "long",
          hour: "numeric", minute: "2-digit", hourCycle: cycle }).format(new Date(a.next_opening));
      } catch (e) { when = a.next_opening; }
      lines.push(el("p", { className: "next-opening", text: t("awayNext", when) }));
    } else if (a.expected_reply_minutes) {
      var m = a.expected_reply_minutes;
      lines.push(el("p", { text: t("awayReply", m >= 120 ? t("hours", Math.round(m / 60)) : t("minutes", m)) }));
    }
    var req = config.consent.requests.email;
    if (config.email_replies && req) {
      if (saved.email_replies) lines.push(el("p", { text: t("leaveDone", saved.email_replies) }));
      else lines.push(leaveForm(req));
    }
    ui.away = el("div", { className: "card compact", "data-confide": "away", role: "status" }, lines);
    return ui.away;
  }

  // Somebody answers: the notice no longer holds.
  function hideAway() {
    if (ui.away && ui.away.parentNode) ui.away.parentNode.removeChild(ui.away);
    ui.away = null;
  }

  function leaveForm(req) {
    var email = el("input", { type: "email", name: "email", autocomplete: "email", maxlength: "254",
      required: true, "aria-describedby": "confide-email-consent" });
    var submit = el("button", { className: "btn primary", type: "submit", text: t("leaveSend") });
    var form = el("form", { novalidate: true, onsubmit: function (event) {
      event.preventDefault();
      var address = email.value.trim();
      if (!address || !email.checkValidity()) {
        email.setAttribute("aria-invalid", "true"); showAlert(t("badEmail")); email.focus(); return;
      }
      submit.disabled = true;
      ensureVisitor().then(function () {
        // The consent first: without a current 'email' grant the server never sends a mail.
        return request("POST", "/widget/consent", { purpose: "email", version: req.version,
          text_hash: req.text_hash, decision: "granted", conversation_id: saved.conversation || undefined });
      }).then(function () { return identify({ email: address }); }).then(function () {
        saved.email_replies = address;
        save();
        form.parentNode.replaceChild(el("p", { text: t("leaveDone", address) }), form);
        ui.textarea.focus();
      }).catch(function (error) { submit.disabled = false; showAlert(error.message); });
    } }, [
      el("p", { text: t("leaveIntro") }),
      el("label", {}, [document.createTextNode(t("leaveEmail")), email]),
      el("p", { className: "notice", id: "confide-email-consent", text: req.text }),
      submit
    ]);
    return form;
  }

  // -- sharing: typing preview, page mirroring, co-browsing, each with its own grant ----------
  // The code that reads the page lives in cobrowse.js, loaded from Confide only once the
  // visitor grants one of them. Without a grant nothing typed and nothing of the page is sent.

  var SHARES = [
    { purpose: "preview", on: "previewOn", share: "previewShare" },
    { purpose: "mirroring", on: "mirrorOn", share: "mirrorShare" }
  ];
  var shareDismissed = {};
  var share = null, shareLoading = null;
  var cobrowsing = false, navigating = false, previewTimer = null;

  function shareOffered(purpose) {
    return !!config.consent.requests[purpose] &&
      (purpose === "preview" || config.mirroring_enabled !== false);
  }

  function granted(purpose) {
    var req = config.consent.requests[purpose];
    return !!(req && saved.conversation && shareOffered(purpose) && saved[purpose] === req.version);
  }

  function mirroring() { return granted("mirroring"); }

  function loadShare() {
    if (share) return Promise.resolve(share);
    if (!shareLoading) shareLoading = new Promise(function (resolve, reject) {
      var tag = document.createElement("script");
      tag.src = ORIGIN + "/cobrowse.js";
      tag.async = true;
      tag.onload = function () {
        share = window.__confideShare({ root: ui.host, redaction: config.redaction, t: t,
          send: function (frame) { frame.conversation_id = saved.conversation; sendFrame(frame); },
          onStop: function () { stopCobrowse(); },
          beforeNavigate: function () {
            navigating = true;  // this page's end is not the end of co-browsing
            setTimeout(function () { navigating = false; }, COBROWSE_CARRY_MS);
            writeStore(session, KEY + ".cobrowse", { id: saved.conversation, at: Date.now() });
          } });
        resolve(share);
      };
      tag.onerror = function () { shareLoading = null; reject(new Error("cobrowse.js did not load")); };
      document.head.appendChild(tag);
    });
    return shareLoading;
  }

  function sendMirror() {
    if (!mirroring() || !wsReady) { if (share) share.mirror.stop(); return; }
    loadShare().then(function (s) {
      if (!mirroring() || !wsReady) return;
      if (s.mirror.active) s.mirror.snapshot(); else s.mirror.start();
    }, function () {});
  }

  function decideShare(purpose, decision) {
    var req = config.consent.requests[purpose];
    return request("POST", "/widget/consent", {
      purpose: purpose, version: req.version, text_hash: req.text_hash, decision: decision,
      conversation_id: saved.conversation
    }).then(function () {
      saved[purpose] = decision === "granted" ? req.version : null;
      save();
      updateMirror();
      if (purpose === "mirroring") sendMirror();
      else if (decision === "granted") loadShare().catch(function () {});
    }).catch(function (error) { showAlert(error.message); });
  }

  function updateMirror() {
    if (!ui.mirror) return;
    while (ui.mirror.firstChild) ui.mirror.removeChild(ui.mirror.firstChild);
    if (!saved.conversation || saved.consent_withdrawn) return; // paused: nothing is offered
    SHARES.forEach(function (item) {
      var req = config.consent.requests[item.purpose];
      if (!shareOffered(item.purpose)) return;
      if (granted(item.purpose)) {
        ui.mirror.appendChild(el("p", { className: "notice", "data-share": item.purpose }, [
          document.createTextNode(t(item.on) + " "),
          el("button", { className: "link", type: "button", text: t("mirrorStop"),
            onclick: function () { decideShare(item.purpose, "withdrawn"); } })
        ]));
      } else if (!shareDismissed[item.purpose] && view !== "ended") {  // nothing to share with
        ui.mirror.appendChild(el("div", { className: "card compact", "data-share": item.purpose }, [
          el("p", { text: req.text }),
          el("div", { className: "row" }, [
            el("button", { className: "btn primary", type: "button", text: t(item.share),
              onclick: function () { decideShare(item.purpose, "granted"); } }),
            el("button", { className: "btn", type: "button", text: t("notNow"),
              onclick: function () { shareDismissed[item.purpose] = true; updateMirror(); } })
          ])
        ]));
      }
    });
    if (ui.cobrowseAsk) ui.mirror.appendChild(ui.cobrowseAsk);
  }

  // The preview: what the visitor is typing, debounced, redacted here by the workspace's
  // policy (and again by the server), sent only while the "preview" grant stands.
  function sendPreview() {
    clearTimeout(previewTimer);
    if (!granted("preview")) return;
    previewTimer = setTimeout(function () {
      var text = ui.textarea.value;
      loadShare().then(function (s) {
        if (!granted("preview") || !text) return;
        sendFrame({ type: "typing", conversation_id: saved.conversation, state: true,
          preview: s.redact(text.slice(0, 1000)) });
      }, function () {});
    }, PREVIEW_DEBOUNCE_MS);
  }

  // Co-browsing: an agent asks, the visitor decides in the chat; while it lasts a banner on
  // the page stops it in one click, as does closing the widget or leaving the page. Every
  // start, refusal and stop goes to the consent ledger (and the server audits it).
  function decideCobrowse(decision, keepalive) {
    var req = config.consent.requests.cobrowsing;
    return request("POST", "/widget/consent", { purpose: "cobrowsing", version: req.version,
      text_hash: req.text_hash, decision: decision, conversation_id: saved.conversation }, keepalive);
  }

  function askCobrowse() {
    var req = config.consent.requests.cobrowsing;
    if (!req || cobrowsing || config.mirroring_enabled === false || !ui) return;
    var answer = function (decision) {
      ui.cobrowseAsk = null;
      updateMirror();
      decideCobrowse(decision).then(function () {
        if (decision === "granted") return loadShare().then(startCobrowse);
      }).catch(function (error) { showAlert(error.message); });
    };
    ui.cobrowseAsk = el("div", { className: "card compact", "data-share": "cobrowsing", role: "alertdialog",
      "aria-label": t("cobrowseTitle") }, [
      el("p", { text: req.text }),
      el("div", { className: "row" }, [
        el("button", { className: "btn primary", type: "button", text: t("cobrowseAllow"),
          onclick: function () { answer("granted"); } }),
        el("button", { className: "btn", type: "button", text: t("cobrowseRefuse"),
          onclick: function () { answer("refused"); } })
      ])
    ]);
    if (!isOpen) open();
    updateMirror();
  }

  function startCobrowse() {
    cobrowsing = true;
    share.control.start();
  }

  function stopCobrowse(leaving) {
    if (!cobrowsing) return;
    cobrowsing = false;
    if (share) share.control.stop();
    sendFrame({ type: "cobrowse_end", conversation_id: saved.conversation });
    decideCobrowse("withdrawn", leaving).catch(function () {});
  }

  function onCobrowse(frame) {
    if (frame.action === "request") askCobrowse();
    else if (cobrowsing && share) share.control.act(frame.action, frame.data);
  }

  // After a navigation the agent started, co-browsing goes on on the new page (same visit).
  function resumeCobrowse() {
    var carried = readStore(session, KEY + ".cobrowse");
    writeStore(session, KEY + ".cobrowse", null);
    if (!carried || carried.id !== saved.conversation || Date.now() - carried.at > COBROWSE_CARRY_MS) return;
    if (!config.consent.requests.cobrowsing || cobrowsing) return;
    loadShare().then(startCobrowse, function () {});
  }

  // -- the end of a chat: the log stays, the notice and the survey come below it ---------------
  // Every message delivered before the end is shown above the notice: the closing event
  // carries the conversation's last seq, and whatever the socket has not brought yet is read
  // over REST first. The ended chat stays on screen (and after a reload in the same visit)
  // until the visitor starts a new one.

  function endedState() { return readStore(session, KEY + ".ended"); }
  function setEndedState(done) { writeStore(session, KEY + ".ended", { id: saved.conversation, done: done }); }

  function catchUp(conversationId, lastSeq) {
    var since = watermark();
    if (lastSeq !== undefined && since >= lastSeq) return Promise.resolve();
    return request("GET", "/widget/conversations/" + conversationId + "/messages?since=" + since)
      .then(function (page) {
        (page.messages || []).forEach(onMessage);
        if (page.has_more && watermark() > since) return catchUp(conversationId, lastSeq);
      });
  }

  function endChat(lastSeq) {
    if (ending || view === "ended") return;
    ending = true;
    var conversationId = saved.conversation;
    disconnect();
    if (ui.confirm) ui.confirm.hidden = true;
    var st = endedState();
    if (!st || st.id !== conversationId) setEndedState(false);
    var after = function () { ending = false; showEnd(endedState().done); };
    if (!ui.log) { resuming = true; showChat(); }
    catchUp(conversationId, lastSeq).then(after, after);
  }

  function showEnd(done) {
    view = "ended";
    resuming = false;
    ui.composer.hidden = true;
    ui.end.hidden = true;
    ui.typing.textContent = "";
    if (ui.endBox && ui.endBox.parentNode) ui.endBox.parentNode.removeChild(ui.endBox);
    var heading = el("h3", { tabindex: "-1" });
    var card = el("div", { className: "card" }, [heading]);
    ui.endBox = el("div", { className: "endbox", "data-confide": "ended" }, [
      el("p", { className: "system", role: "status", text: t("ended") }), card
    ]);
    var newChat = el("button", { className: "btn", type: "button", text: t("newChat"), onclick: function () {
      writeStore(session, KEY + ".ended", null);
      resetConversation();
      route();
    } });
    if (!done && config.csat_enabled && objected.indexOf("surveys") < 0) {
      heading.textContent = t("rateTitle");
      card.appendChild(surveyForm(newChat));
    } else {
      heading.textContent = done === "rated" ? t("thanks") : t("ended");
      card.appendChild(el("div", { className: "row" }, [newChat]));
    }
    if (config.transcript_email) ui.endBox.appendChild(transcriptOffer());
    if (ui.alert && ui.alert.parentNode) ui.alert.parentNode.removeChild(ui.alert);
    ui.body.appendChild(ui.endBox);
    ui.body.appendChild(alertLine());
    updateMirror();  // an ended chat offers no more sharing (a running share keeps its Stop)
    // Focus the heading, not the first star: a focused "1" looks pre-selected.
    if (isOpen) heading.focus();
    scrollDown();
  }

  // A copy by e-mail, only when the visitor asks; the address is used once, not stored.
  function transcriptOffer() {
    var box = el("div", { className: "card compact" });
    var ask = el("button", { className: "link", type: "button", text: t("transcriptAsk"), onclick: function () {
      var email = el("input", { type: "email", name: "email", autocomplete: "email", maxlength: "254" });
      var send = el("button", { className: "btn", type: "submit", text: t("transcriptSend") });
      var conversationId = saved.conversation;
      var form = el("form", { novalidate: true, onsubmit: function (event) {
        event.preventDefault();
        var address = email.value.trim();
        if (!address || !email.checkValidity()) { showAlert(t("badEmail")); email.focus(); return; }
        send.disabled = true;
        request("POST", "/widget/conversations/" + conversationId + "/transcript", { email: address })
          .then(function () {
            box.replaceChild(el("p", { role: "status", text: t("transcriptDone", address) }), form);
          }).catch(function (error) { send.disabled = false; showAlert(error.message); });
      } }, [el("label", {}, [document.createTextNode(t("transcriptEmail")), email]), send]);
      box.replaceChild(form, ask);
      email.focus();
      scrollDown();
    } });
    box.appendChild(ask);
    return box;
  }

  function surveyForm(newChat) {
    var conversationId = saved.conversation;
    var choices = [1, 2, 3, 4, 5].map(function (score) {
      return el("label", {}, [
        el("input", { type: "radio", name: "score", value: String(score), "aria-label": t("outOf5", score) }),
        el("span", { text: String(score), "aria-hidden": "true" })
      ]);
    });
    var comment = el("textarea", { name: "comment", rows: "3", maxlength: "2000" });
    var submit = el("button", { className: "btn primary", type: "submit", text: t("sendRating") });
    var skip = el("button", { className: "btn", type: "button", text: t("skip"), onclick: function () {
      setEndedState("skipped"); showEnd("skipped");
    } });
    var form = el("form", { onsubmit: function (event) {
      event.preventDefault();
      var picked = form.querySelector("input[name=score]:checked");
      if (!picked) { showAlert(t("pickRating")); return; }
      var body = { score: Number(picked.value) };
      if (comment.value.trim()) body.comment = comment.value.trim();
      submit.disabled = true;
      request("POST", "/widget/conversations/" + conversationId + "/csat", body)
        .then(function () { setEndedState("rated"); showEnd("rated"); })
        .catch(function (error) { submit.disabled = false; showAlert(error.message); });
    } }, [
      el("fieldset", { className: "stars" }, [el("legend", { text: t("rateQuestion") })].concat(choices)),
      el("label", {}, [document.createTextNode(t("addComment")), comment]),
      el("div", { className: "row" }, [submit, skip, newChat])
    ]);
    return form;
  }

  // Decide what the panel shows: consent first (when required), then the pre-chat form, then chat.
  function route() {
    if (saved.conversation) { showChat(); connect(); return; }
    var req = consentRequest();
    if (config.consent.required && req) {
      if (saved.token && saved.chat_consent === req.version) { afterConsent(); return; }
      if (!saved.token) { showConsent(); return; }
      request("GET", "/widget/consent").then(function (state) {
        // Any current grant counts (a text of another language, say); else the one shown here.
        var chats = (state.requests || []).filter(function (r) { return r.purpose === "chat"; });
        var current = chats.filter(function (r) { return r.decision === "granted"; })[0] ||
          chats.filter(function (r) { return r.version === req.version; })[0];
        if (current && current.decision === "granted") {
          saved.chat_consent = current.version; save(); afterConsent();
        } else if (current && current.decision === "refused" && current.version === req.version) {
          showRefused();
        } else showConsent();
      }).catch(function (error) {
        if (error.status === 401) { forgetVisitor(); showConsent(); } else showAlert(error.message);
      });
      return;
    }
    afterConsent();
  }

  // The server refused a send for want of consent: a newer text may have been published since
  // this page loaded. Ask with the current text, never again with the one shown before.
  function askConsentAgain() {
    saved.chat_consent = null;
    save();
    request("GET", "/widget/" + encodeURIComponent(SLUG) + "/config?lang=" + encodeURIComponent(LANG))
      .then(function (loaded) { config.consent = loaded.consent; showConsent(); })
      .catch(function () { showConsent(); });
  }

  function afterConsent() {
    if (saved.conversation) {
      // The consent card replaced the log: replay the conversation's history from the start.
      disconnect();
      seen = {};
      byClientId = {};
      resumeSaved();
      return;
    }
    if (config.prechat.enabled && !saved.prechat && (config.prechat.ask_name || config.prechat.ask_email)) showPrechat();
    else showChat();
  }

  // -- privacy: withdraw the chat consent, file a data-subject request ------------------------
  // The "Privacy" button in the header opens a small menu between the messages and the
  // composer. A withdrawal is recorded like any decision (POST /widget/consent, "withdrawn");
  // the chat then pauses: the composer stays in view but disabled, and nothing typed is sent
  // until the visitor consents again. Requests go to POST /widget/privacy-requests (GDPR
  // Art. 15 access, Art. 17 erasure) and the answer says what happens next.

  function setComposerEnabled(enabled) {
    ui.textarea.disabled = ui.send.disabled = ui.attach.disabled = !enabled;
    ui.textarea.placeholder = enabled ? t("write") + "…" : t("withdrawnComposer");
    if (enabled) ui.textarea.removeAttribute("aria-describedby");
    else ui.textarea.setAttribute("aria-describedby", "confide-withdrawn-text");
  }

  function canWithdraw() {
    var req = consentRequest();
    return !!(req && saved.token && saved.chat_consent &&
      view !== "consent" && view !== "refused" && view !== "withdrawn");
  }

  function togglePrivacy() {
    if (ui.privacy.hidden) showPrivacyMenu(); else hidePrivacy();
  }

  function hidePrivacy() {
    ui.privacy.hidden = true;
    ui.privacyButton.setAttribute("aria-expanded", "false");
    if (isOpen) ui.privacyButton.focus();
  }

  function privacyBox(heading, nodes) {
    while (ui.privacy.firstChild) ui.privacy.removeChild(ui.privacy.firstChild);
    ui.privacy.appendChild(el("h3", { id: "confide-privacy-title", tabindex: "-1", text: heading }));
    nodes.forEach(function (node) { ui.privacy.appendChild(node); });
    ui.privacy.hidden = false;
    ui.privacyButton.setAttribute("aria-expanded", "true");
  }

  function closeButton(text) {
    return el("button", { className: "btn", type: "button", text: text || t("privacyClose"), onclick: hidePrivacy });
  }

  function showPrivacyMenu() {
    var entries = [];
    if (canWithdraw()) {
      entries.push(el("button", { className: "btn", type: "button", "data-confide": "withdraw",
        text: t("privacyWithdraw"), onclick: confirmWithdraw }));
    }
    entries.push(el("button", { className: "btn", type: "button", text: t("privacyAccess"),
      onclick: function (event) {
        event.currentTarget.disabled = true; // a double click files one request, not two
        filePrivacyRequest("access");
      } }));
    entries.push(el("button", { className: "btn", type: "button", text: t("privacyErasure"),
      onclick: confirmErasure }));
    var mine = myRequests();
    if (mine) entries.push(mine);
    entries.push(closeButton());
    privacyBox(t("privacyTitle"), entries);
    ui.privacy.querySelector("button").focus();
  }

  // Requests filed from this browser (their ids, at most five) and their answers, fetched
  // with the visitor's token (GET /widget/privacy-requests/{id}): a visitor who gave no
  // e-mail address receives the answer here, an export as a fresh 15-minute link.
  function rememberRequest(caseId) {
    saved.requests = (saved.requests || []).filter(function (id) { return id !== caseId; })
      .concat([caseId]).slice(-5);
    save();
  }

  function forgetRequest(caseId) {
    saved.requests = (saved.requests || []).filter(function (id) { return id !== caseId; });
    save();
  }

  function longDate(iso) {
    try {
      return new Intl.DateTimeFormat(config.language, { dateStyle: "long" }).format(new Date(iso));
    } catch (e) { return iso; }
  }

  function myRequests() {
    var ids = saved.requests || [];
    if (saved.requests_gone && !ids.length) {
      return el("div", { className: "mine", "data-confide": "my-requests" }, [
        el("h4", { text: t("requestsTitle") }), el("p", { text: t("requestsGone") })
      ]);
    }
    if (!ids.length || !saved.token) return null;
    var list = el("ul", { className: "requests", "data-confide": "my-requests" });
    ids.forEach(function (id) {
      var ref = id.slice(0, 8);
      var item = el("li", { "data-case": id, text: t("requestChecking", ref) });
      list.appendChild(item);
      request("GET", "/widget/privacy-requests/" + id).then(function (found) {
        item.textContent = "";
        if (found.status === "rejected") item.textContent = t("requestRejected", ref);
        else if (found.status !== "completed") item.textContent = t("requestPending", ref, longDate(found.due_at));
        else if (found.answer === "nothing_held") item.textContent = t("requestNothingHeld", ref);
        else item.textContent = t("requestAnswered", ref);
        if (found.download_url) {
          item.appendChild(document.createTextNode(" "));
          item.appendChild(el("a", { href: ORIGIN + found.download_url, rel: "noopener noreferrer",
            "data-confide": "export-download", text: t("requestDownload") }));
        }
      }, function (error) {
        if (error.status === 404) { forgetRequest(id); list.removeChild(item); }
        else if (error.status === 401) { forgetIdentity(); item.textContent = t("requestsGone"); }
        else item.textContent = error.message;
      });
    });
    return el("div", { className: "mine" }, [el("h4", { text: t("requestsTitle") }), list]);
  }

  function confirmStep(question, yesText, onYes) {
    var yes = el("button", { className: "btn primary", type: "button", text: yesText });
    var alert = el("p", { className: "alert", role: "alert" });
    yes.addEventListener("click", function () {
      yes.disabled = true;
      onYes().catch(function (error) { yes.disabled = false; alert.textContent = error.message; });
    });
    privacyBox(t("privacyTitle"), [
      el("p", { text: question }),
      el("div", { className: "row" }, [yes, el("button", { className: "btn", type: "button",
        text: t("cancel"), onclick: showPrivacyMenu })]),
      alert
    ]);
    yes.focus();
  }

  function confirmWithdraw() {
    confirmStep(t("withdrawQuestion"), t("withdrawYes"), function () {
      var req = consentRequest();
      return request("POST", "/widget/consent", {
        purpose: "chat", version: req.version, text_hash: req.text_hash, decision: "withdrawn",
        conversation_id: saved.conversation || undefined
      }).then(function () {
        saved.chat_consent = null;
        saved.consent_withdrawn = true;  // a reload shows the paused chat, not a live composer
        save();
        // Withdrawing from the chat ends what rides on it: the typing preview and page sharing.
        SHARES.forEach(function (item) {
          if (granted(item.purpose)) decideShare(item.purpose, "withdrawn");
        });
        ui.privacy.hidden = true;
        ui.privacyButton.setAttribute("aria-expanded", "false");
        showWithdrawn();
      });
    });
  }

  function confirmErasure() {
    confirmStep(t("erasureQuestion"), t("erasureYes"), function () {
      return filePrivacyRequest("erasure");
    });
  }

  // The chat pauses: what was said stays on screen, the composer is disabled and says why.
  function showWithdrawn() {
    stopTyping();
    disconnect();
    unacked.slice().forEach(function (item) { failOwn(item.client_id); });
    var card = el("div", { className: "card", "data-confide": "withdrawn", role: "status" }, [
      el("h3", { tabindex: "-1", text: t("withdrawnTitle") }),
      el("p", { id: "confide-withdrawn-text", text: t("withdrawnText") }),
      el("div", { className: "row" }, [el("button", { className: "btn primary", type: "button",
        text: t("consentAgain"), onclick: showConsent })])
    ]);
    if (view === "chat") {
      view = "withdrawn";
      if (ui.confirm) ui.confirm.hidden = true;
      ui.end.hidden = true;
      ui.typing.textContent = "";
      ui.body.appendChild(card);
    } else setView("withdrawn", [card], false);
    ui.composer.hidden = false;
    setComposerEnabled(false);
    if (isOpen) card.querySelector("h3").focus();
    scrollDown();
  }

  function filePrivacyRequest(kind) {
    return ensureVisitor().then(function () {
      return request("POST", "/widget/privacy-requests", { kind: kind });
    }).then(function (filed) {
      rememberRequest(filed.case_id);
      var due = longDate(filed.due_at);
      var box = el("div", { role: "status", "data-confide": "privacy-request", "data-case": filed.case_id }, [
        el("p", { text: t("requestFiled", filed.case_id.slice(0, 8)) }),
        el("p", { text: t(kind === "erasure" ? "requestErasureNext" : "requestAccessNext") }),
        el("p", { text: t("requestDue", due) })
      ]);
      privacyBox(t("privacyTitle"), [box, closeButton()]);
      ui.privacy.querySelector("h3").focus();
    }, function (error) {
      privacyBox(t("privacyTitle"), [el("p", { className: "alert", role: "alert", text: error.message }), closeButton()]);
    });
  }

  // -- messages -----------------------------------------------------------------------------

  function newClientId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "w" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function insertBySeq(node, seq) {
    node.setAttribute("data-seq", String(seq));
    var children = ui.log.children;
    for (var i = 0; i < children.length; i++) {
      var other = children[i].getAttribute("data-seq");
      if (children[i].classList.contains("pending") || (other !== null && Number(other) > seq)) {
        ui.log.insertBefore(node, children[i]);
        return;
      }
    }
    ui.log.appendChild(node);
  }

  function scrollDown() { ui.body.scrollTop = ui.body.scrollHeight; }

  function renderOwn(clientId, body) {
    if (!ui.log) return null;
    var node = el("div", { className: "msg me pending", dir: "auto", "data-client-id": clientId, text: body });
    node.appendChild(el("span", { className: "sr", text: " (" + t("sending") + ")" }));
    byClientId[clientId] = node;
    ui.log.appendChild(node);
    scrollDown();
    return node;
  }

  function markSent(clientId, seq, body, createdAt) {
    var node = byClientId[clientId];
    seen[seq] = true;
    unacked = unacked.filter(function (item) { return item.client_id !== clientId; });
    if (!node) return;
    if (node.classList.contains("pending")) {
      emit("message", { body: typeof body === "string" ? body : node.textContent, author: { kind: "visitor" }, seq: seq });
    }
    node.classList.remove("pending", "failed");
    if (typeof body === "string") node.textContent = body;  // as stored: redacted
    stamp(node, createdAt);
    if (node.parentNode) node.parentNode.removeChild(node);
    insertBySeq(node, seq);
  }

  function watermark() {
    var w = 0;
    while (seen[w + 1]) w++;
    return w;
  }

  function onMessage(message) {
    if (message.conversation_id !== saved.conversation) return;
    var own = message.client_id && byClientId[message.client_id];
    if (own || (message.author && message.author.kind === "visitor" && message.client_id &&
        unacked.some(function (u) { return u.client_id === message.client_id; }))) {
      markSent(message.client_id, message.seq, message.body, message.created_at);
      return;
    }
    if (seen[message.seq] || message.kind === "csat") { seen[message.seq] = true; return; }
    seen[message.seq] = true;
    if (!ui.log) return;
    var mine = message.author && message.author.kind === "visitor";
    var node;
    if (message.kind === "event") {
      node = el("div", { className: "system", text: message.body || "" });
    } else if (message.kind === "file") {
      node = fileMessage(message, mine);
      if (!mine) { ui.typing.textContent = ""; lastAgentSeq = Math.max(lastAgentSeq, message.seq); }
    } else if (mine) {
      node = el("div", { className: "msg me", dir: "auto", text: message.body === null ? "(not kept)" : message.body });
    } else {
      var who = (message.author && message.author.alias) || config.workspace.name;
      if (message.author && message.author.id && message.author.alias) agents[message.author.id] = message.author.alias;
      node = el("div", { className: "msg them", dir: "auto" }, [
        el("span", { className: "who", text: who }),
        document.createTextNode(message.body === null ? "(not kept)" : message.body)
      ]);
      ui.typing.textContent = "";
      hideAway();
      lastAgentSeq = Math.max(lastAgentSeq, message.seq);
      // History replayed after a reload counts only what the visitor never saw.
      if ((!isOpen || document.hidden) && (!resuming || message.seq > (saved.read || 0))) {
        unread++;
        updateBadge();
      }
      markRead();
    }
    if (!resuming) {
      emit("message", { body: message.body, author: message.author, seq: message.seq, created_at: message.created_at });
    }
    if (message.kind !== "event") stamp(node, message.created_at);
    insertBySeq(node, message.seq);
    scrollDown();
  }

  // -- attachments --------------------------------------------------------------------------
  // A file goes to the conversation as the raw request body (its name percent-encoded in
  // X-Confide-Filename); the server judges its type by content and answers with the "file"
  // message that carries it. Cards get their thumbnail and download link from the
  // conversation's listing, whose signed links live a few minutes.
  var fileCache = {};   // message id -> attachment
  var fileListing = null;

  function hasFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") !== -1;
  }
  function onDragFiles(event) {
    if (!hasFiles(event) || ui.composer.hidden) return;
    event.preventDefault();
    ui.panel.classList.add("dropping");
  }
  function onDropFiles(event) {
    ui.panel.classList.remove("dropping");
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length || ui.composer.hidden) return;
    event.preventDefault();
    uploadFiles(files);
  }
  function onPasteFiles(event) {
    var files = event.clipboardData && event.clipboardData.files;
    if (!files || !files.length) return;
    event.preventDefault();
    uploadFiles(files);
  }

  function uploadFiles(files) {
    if (!files || !files.length || view === "withdrawn") return;
    if (!saved.conversation) { showAlert(t("attachFirst")); return; }
    Array.prototype.forEach.call(files, uploadFile);
  }

  function uploadFile(file) {
    var name = file.name || "pasted";
    var node = el("div", { className: "msg me pending", dir: "auto", text: name });
    node.appendChild(el("span", { className: "sr", text: " (" + t("sending") + ")" }));
    ui.log.appendChild(node);
    scrollDown();
    var headers = { "Content-Type": "application/octet-stream", "X-Confide-Filename": encodeURIComponent(name) };
    if (saved.token) headers.Authorization = "Bearer " + saved.token;
    fetch(API + "/widget/conversations/" + saved.conversation + "/attachments", {
      method: "POST", headers: headers, body: file, credentials: "omit", mode: "cors"
    }).then(readResponse).then(function (data) {
      if (node.parentNode) node.parentNode.removeChild(node);
      fileCache[data.message.id] = data.attachment;
      onMessage(data.message);
    }).catch(function (error) {
      if (node.parentNode) node.parentNode.removeChild(node);
      showAlert(error.message);
    });
  }

  function attachmentOf(messageId) {
    if (fileCache[messageId]) return Promise.resolve(fileCache[messageId]);
    if (!fileListing) {
      fileListing = request("GET", "/widget/conversations/" + saved.conversation + "/attachments")
        .then(function (data) {
          (data.attachments || []).forEach(function (a) { if (a.message_id) fileCache[a.message_id] = a; });
        })
        .catch(function () {})
        .then(function () { fileListing = null; });
    }
    return fileListing.then(function () { return fileCache[messageId] || null; });
  }

  function sizeText(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
    if (bytes < 1024) return bytes + (bytes === 1 ? " byte" : " bytes");
    return Math.round(bytes / 1024) + " KB";
  }

  function fileMessage(message, mine) {
    var name = message.body === null ? "(not kept)" : message.body;
    var card = el("div", { className: "filecard" }, [el("span", { text: name })]);
    var children = [card];
    if (!mine) {
      var who = (message.author && message.author.alias) || config.workspace.name;
      children.unshift(el("span", { className: "who", text: who }));
    }
    var node = el("div", { className: "msg file " + (mine ? "me" : "them"), dir: "auto" }, children);
    attachmentOf(message.id).then(function (a) {
      if (!a) return;
      while (card.firstChild) card.removeChild(card.firstChild);
      if (a.thumbnail_url) {
        // The preview repeats the download link below it: hidden from assistive technology.
        card.appendChild(el("a", { href: ORIGIN + a.url, target: "_blank", rel: "noopener noreferrer",
          tabindex: "-1", "aria-hidden": "true" }, [
          el("img", { src: ORIGIN + a.thumbnail_url, alt: a.name || name })
        ]));
      }
      card.appendChild(el("a", { href: ORIGIN + a.download_url, download: a.name || name,
        rel: "noopener noreferrer", text: a.name || name }));
      card.appendChild(el("span", { className: "filesize", text: sizeText(a.size_bytes) }));
    });
    return node;
  }

  function markRead() {
    if (lastAgentSeq && isOpen && !document.hidden) {
      if (lastAgentSeq > (saved.read || 0)) { saved.read = lastAgentSeq; save(); }
      sendFrame({ type: "read", conversation_id: saved.conversation, seq: lastAgentSeq });
    }
  }

  function sendFromComposer() {
    var body = ui.textarea.value.trim();
    if (!body || view === "withdrawn" || ui.textarea.disabled) return;
    var clientId = newClientId();
    ui.textarea.value = "";
    ui.textarea.style.height = "";  // back to one line after a long message
    stopTyping();
    unacked.push({ client_id: clientId, body: body });
    renderOwn(clientId, body);
    if (saved.conversation) { flushUnacked(); return; }
    // Messages typed while the conversation is being created wait in `unacked` and go over
    // the socket once it is subscribed: one conversation, however fast the visitor types.
    if (!starting) startConversation(clientId, body);
  }

  function engagementContext() {
    var context = {};
    if (objected.indexOf("engagement_rules") < 0) {
      context.page_views = Math.min(pageViews, 1000000);
      context.seconds_on_site = Math.min(10000000, Math.max(0, Math.round((Date.now() - sessionStart) / 1000)));
    }
    var path = String(location.pathname || "");
    if (path.charAt(0) === "/") context.path = path.slice(0, 200);  // not "blank", "srcdoc", ...
    if (navigator.language) context.language = String(navigator.language).slice(0, 35);
    if (ruleShown !== null) context.rule = ruleShown;
    return context;
  }

  function startConversation(clientId, body) {
    starting = true;
    ensureVisitor().then(function () {
      return request("POST", "/widget/conversations", {
        message: { client_id: clientId, body: body }, context: engagementContext()
      });
    }).then(function (started) {
      starting = false;
      saved.conversation = started.conversation.id;
      save();
      updateMirror();
      ui.end.hidden = false;
      if (started.message) markSent(clientId, started.message.seq, started.message.body, started.message.created_at);
      connect();
    }).catch(function (error) {
      starting = false;
      // Nothing was stored: every message waiting for this conversation goes back unsent.
      unacked.slice().forEach(function (item) { failOwn(item.client_id); });
      failOwn(clientId);
      if (error.code === "consent_required") { askConsentAgain(); return; }
      if (error.status === 401) forgetVisitor();
      showAlert(error.message);
    });
  }

  function failOwn(clientId) {
    var node = byClientId[clientId];
    unacked = unacked.filter(function (item) { return item.client_id !== clientId; });
    if (node && node.parentNode) node.parentNode.removeChild(node);
    delete byClientId[clientId];
    if (node && !ui.textarea.value) ui.textarea.value = node.firstChild ? node.firstChild.textContent : "";
  }

  function flushUnacked() {
    if (view === "withdrawn") return;
    if (!wsReady) { connect(); return; }
    unacked.forEach(function (item) {
      sendFrame({ type: "message", conversation_id: saved.conversation, client_id: item.client_id, body: item.body });
    });
  }

  // "End chat" asks first, in place of the composer (no window.confirm: it blocks the page).
  function confirmEnd() {
    if (!saved.conversation || view !== "chat") return;
    if (!ui.confirm) {
      ui.confirmYes = el("button", { className: "btn primary", type: "button", text: t("endYes"), onclick: endConversation });
      ui.confirm = el("div", { className: "confirm", role: "group", "aria-labelledby": "confide-confirm-q" }, [
        el("p", { id: "confide-confirm-q", text: t("endQuestion") }),
        el("div", { className: "row" }, [ui.confirmYes,
          el("button", { className: "btn", type: "button", text: t("endNo"), onclick: function () {
            ui.confirm.hidden = true; ui.composer.hidden = false; ui.textarea.focus();
          } })])
      ]);
      ui.panel.insertBefore(ui.confirm, ui.composer);
    }
    ui.confirm.hidden = false;
    ui.composer.hidden = true;
    ui.confirmYes.disabled = false;
    ui.confirmYes.focus();
  }

  function endConversation() {
    var conversationId = saved.conversation;
    if (!conversationId) return;
    ui.confirmYes.disabled = true;
    request("POST", "/widget/conversations/" + conversationId + "/close").then(function (closed) {
      endChat(closed.last_seq);
    }).catch(function (error) { ui.confirmYes.disabled = false; showAlert(error.message); });
  }

  function resetConversation() {
    disconnect();
    delete saved.conversation;
    delete saved.read;
    delete saved.mirroring;
    delete saved.preview;
    save();
    seen = {};
    byClientId = {};
    unacked = [];
    ending = false;
    if (ui) {
      ui.end.hidden = true; ui.subtitle.textContent = "";
      if (ui.confirm) ui.confirm.hidden = true;
      ui.endBox = null;
    }
  }

  // -- typing -------------------------------------------------------------------------------

  function onComposerKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendFromComposer();
    }
  }

  function onComposerInput() {
    ui.textarea.style.height = "auto";
    ui.textarea.style.height = Math.min(ui.textarea.scrollHeight, 120) + "px";
    if (!saved.conversation || !wsReady) return;
    var now = Date.now();
    if (now - typingSent > TYPING_IDLE_MS - 1000) {
      typingSent = now;
      sendFrame({ type: "typing", conversation_id: saved.conversation, state: true });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
    sendPreview();
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent && saved.conversation && wsReady) {
      sendFrame({ type: "typing", conversation_id: saved.conversation, state: false });
    }
    typingSent = 0;
  }

  function onTyping(frame) {
    if (!frame.author || frame.author.kind === "visitor") return;
    clearTimeout(agentTypingTimer);
    if (frame.state) {
      var alias = frame.author.alias || agents[frame.author.id];
      ui.typing.textContent = alias ? t("typing", alias) : t("agentTyping");
      agentTypingTimer = setTimeout(function () { ui.typing.textContent = ""; }, TYPING_SHOWN_MS);
    } else ui.typing.textContent = "";
  }

  // -- the socket: resume from the last seq, resend what was not acknowledged ----------------

  function sendFrame(frame) {
    if (ws && wsReady) ws.send(JSON.stringify(frame));
  }

  function connect() {
    if (ws || !saved.conversation || !saved.token || stopped || ending || view === "ended") return;
    clearTimeout(reconnectTimer);
    // The token goes as a subprotocol, never in the URL: servers and proxies log URLs.
    var url = ORIGIN.replace(/^http/, "ws") + "/api/v1/ws/widget";
    var socket = new WebSocket(url, ["confide.v1", "confide.token." + saved.token]);
    ws = socket;
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      onFrame(frame);
    };
    socket.onclose = function (event) {
      if (ws !== socket) return;
      ws = null;
      wsReady = false;
      if (event.code === 4401) { forgetVisitor(); if (view === "chat") route(); return; }
      if (event.code === 4403 || event.code === 1008) { showAlert(t("notOnSite")); return; }
      scheduleReconnect();
    };
  }

  function disconnect() {
    clearTimeout(reconnectTimer);
    var socket = ws;
    ws = null;
    wsReady = false;
    if (socket) socket.close(1000);
  }

  function scheduleReconnect() {
    if (!saved.conversation) return;
    // Exponential backoff with full jitter: many widgets reconnecting after an outage spread out.
    var ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, attempts));
    attempts++;
    reconnectTimer = setTimeout(connect, Math.random() * ceiling);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "ready":
        attempts = 0;
        wsReady = true;
        ws.send(JSON.stringify({ type: "subscribe", conversation_id: saved.conversation, since: watermark() }));
        break;
      case "subscribed":
        resuming = false;
        flushUnacked();
        sendMirror();
        resumeCobrowse();
        checkEnded();
        break;
      case "message":
        onMessage(frame);
        break;
      case "ack":
        markSent(frame.client_id, frame.seq, frame.body, frame.created_at);
        break;
      case "typing":
        onTyping(frame);
        break;
      case "cobrowse":
        onCobrowse(frame);
        break;
      case "cobrowse_end":
        stopCobrowse(false);
        break;
      case "mirror_resync":
        sendMirror();
        break;
      case "conversation":
        onConversation(frame);
        break;
      case "error":
        onError(frame);
        break;
    }
  }

  // A close published while this socket was not yet (or no longer) subscribed is not replayed
  // with the messages: ask once per subscription, so the end is never missed.
  function checkEnded() {
    var id = saved.conversation;
    request("GET", "/widget/conversations/" + id).then(function (c) {
      if (c.status === "closed" && id === saved.conversation) endChat(c.last_seq);
    }).catch(function () { /* the socket's own events still apply */ });
  }

  function onConversation(frame) {
    var conversation = frame.conversation || {};
    if (conversation.id !== saved.conversation) return;
    if (frame.agent && frame.agent.alias) {
      agents[frame.agent.id] = frame.agent.alias;
      ui.subtitle.textContent = t("chattingWith", frame.agent.alias);
      hideAway();
    }
    if (conversation.status === "closed") endChat(conversation.last_seq);
  }

  function onError(frame) {
    if (frame.client_id && byClientId[frame.client_id] &&
        !unacked.some(function (item) { return item.client_id === frame.client_id; })) {
      // Already acknowledged, so stored: this answers a resend of it (after a reconnect) that
      // was refused, e.g. by the rate limit. The message stays sent.
      return;
    }
    if (frame.code === "service_unavailable" && frame.client_id && byClientId[frame.client_id]) {
      // Not stored (a database outage): it stays pending and goes again, same client id.
      setTimeout(function () { if (wsReady) flushUnacked(); }, UNAVAILABLE_RETRY_MS);
      return;
    }
    if (frame.client_id && byClientId[frame.client_id]) {
      if (frame.code === "consent_required") { failOwn(frame.client_id); askConsentAgain(); return; }
      var node = byClientId[frame.client_id];
      var clientId = frame.client_id;
      node.classList.remove("pending");
      node.classList.add("failed");
      var hint = node.querySelector(".sr");
      if (hint) hint.textContent = " (" + t("notSent") + ")";
      var body = unacked.filter(function (item) { return item.client_id === clientId; })[0];
      unacked = unacked.filter(function (item) { return item.client_id !== clientId; });
      showAlert(frame.message || t("couldNotSend"));
      var next = node.nextSibling;
      if (body && !(next && next.classList && next.classList.contains("retry"))) {
        // Same client id on retry: if the first attempt did get stored, it is not stored twice.
        var retry = el("button", { className: "link retry", type: "button", text: t("retry"),
          onclick: function () {
            retry.parentNode.removeChild(retry);
            node.classList.remove("failed");
            node.classList.add("pending");
            if (hint) hint.textContent = " (" + t("sending") + ")";
            if (ui.alert) ui.alert.textContent = "";
            unacked.push(body);
            flushUnacked();
          } });
        node.parentNode.insertBefore(retry, node.nextSibling);
      }
      return;
    }
    if (frame.field === "conversation_id" || frame.code === "not_found") {
      resetConversation();
      if (view === "chat") route();
    }
  }

  // -- open/close, badge, engagement rules ----------------------------------------------------

  function updateBadge() {
    ui.badge.hidden = unread === 0;
    ui.badge.textContent = unread ? String(unread) : "";
    ui.launcherSr.textContent = unread ? " (" + unread + " unread)" : "";
  }

  function open() {
    if (!ready) { openWhenReady = true; return; }
    if (isOpen) return;
    isOpen = true;
    storeEngagement();
    ui.root.classList.add("open");
    ui.panel.hidden = false;
    ui.bubble.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "true");
    if (window.innerWidth <= MOBILE_MAX_WIDTH) ui.launcher.hidden = true;
    unread = 0;
    updateBadge();
    markRead();
    if (!view) route();
    else if (view === "chat") { ui.textarea.focus(); connect(); }
    else if (view === "ended" && ui.endBox) ui.endBox.querySelector("h3").focus();
    else focusFirst(ui.body);
    scrollDown();
    emit("open");
  }

  function close() {
    if (!ready) { openWhenReady = false; return; }
    if (!isOpen) return;
    isOpen = false;
    ui.root.classList.remove("open");
    ui.panel.hidden = true;
    ui.launcher.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "false");
    // Give focus back to the launcher only if it was in the widget (not when the host page
    // closes the panel from its own code while the visitor is elsewhere).
    if (ui.shadow.activeElement) ui.launcher.focus();
    stopCobrowse(false);
    emit("close");
  }

  function ruleMatches(rule) {
    if (rule.path_prefix && location.pathname.indexOf(rule.path_prefix) !== 0) return false;
    if (rule.min_page_views && pageViews < rule.min_page_views) return false;
    if (rule.languages && rule.languages.length) {
      var lang = String(navigator.language || "").toLowerCase();
      var ok = rule.languages.some(function (wanted) {
        wanted = wanted.toLowerCase();
        return lang === wanted || lang.split("-")[0] === wanted;
      });
      if (!ok) return false;
    }
    return true;
  }

  // What the visitor objected to (GDPR Art. 21: engagement_rules, surveys, enrichment), asked
  // once per page of a visitor who has a token; a new visitor has objected to nothing. When
  // the answer cannot be had (network), neither engagement nor a survey runs on this page.
  function loadObjections() {
    if (!saved.token) return Promise.resolve(objected);
    if (!objectionsAsked) {
      objectionsAsked = request("GET", "/widget/consent").then(function (state) {
        objected = state.objections || [];
        return objected;
      }, function (error) {
        if (error.status === 401) forgetIdentity();
        objected = error.status === 401 ? [] : ["engagement_rules", "surveys", "enrichment"];
        return objected;
      });
    }
    return objectionsAsked;
  }

  function scheduleEngagement() {
    if (objected.indexOf("engagement_rules") >= 0) return;
    var rules = config.engagement_rules || [];
    if (rules.some(function (r) { return r.min_page_views || r.after_seconds; })) storeEngagement();
    if (readStore(session, KEY + ".bubble") || saved.conversation) return;
    for (var i = 0; i < rules.length; i++) {
      if (!ruleMatches(rules[i])) continue;
      var index = i, rule = rules[i];
      var elapsed = (Date.now() - sessionStart) / 1000;
      var wait = Math.max(0, (rule.after_seconds || 0) - elapsed) * 1000;
      setTimeout(function () {
        if (isOpen || saved.conversation) return;
        ruleShown = index;
        writeStore(session, KEY + ".bubble", true);
        ui.bubbleText.textContent = rule.message;
        ui.bubble.hidden = false;
      }, wait);
      return;
    }
  }

  // -- JS API ---------------------------------------------------------------------------------

  function identify(fields) {
    var body = {}, attributes = {};
    Object.keys(fields || {}).forEach(function (key) {
      if (key === "name" || key === "email" || key === "phone") body[key] = fields[key];
      else attributes[key] = fields[key];
    });
    if (Object.keys(attributes).length) body.attributes = attributes;
    return ensureVisitor().then(function () { return request("POST", "/widget/identify", body); });
  }

  var api = {
    identify: identify,
    open: open,
    close: close,
    on: function (name, fn) {
      (listeners[name] = listeners[name] || []).push(fn);
      if (name === "ready" && ready) fn();
      return api;
    },
    off: function (name, fn) {
      listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; });
      return api;
    },
    q: { push: function (call) { run(call); } }
  };

  function run(call) {
    if (!call || typeof api[call[0]] !== "function") return;
    var result = api[call[0]].apply(api, Array.prototype.slice.call(call, 1));
    if (result && typeof result.catch === "function") result.catch(function () {});
  }

  var queued = (window.Confide && window.Confide.q) || [];
  window.Confide = api;
  Array.prototype.slice.call(queued).forEach(run);

  function start() {
    request("GET", "/widget/" + encodeURIComponent(SLUG) + "/config?lang=" + encodeURIComponent(LANG)).then(function (loaded) {
      config = loaded;
      ui = build();
      ready = true;
      var link = /[#&]confide-reopen=([^&]+)/.exec(location.hash);
      if (link) reopenFromLink(decodeURIComponent(link[1]));
      else if (saved.conversation) resumeSaved();
      // Engagement rules wait for the visitor's objections (none asked of a new visitor).
      if ((config.engagement_rules || []).length) loadObjections().then(scheduleEngagement);
      else if (saved.token && config.csat_enabled) loadObjections();
      emit("ready");
      if (openWhenReady) open();
    }).catch(function (error) {
      if (window.console) console.warn("Confide widget unavailable: " + error.message);
    });
  }

  // The link of an e-mailed answer: its token (in the fragment, never sent to a server by the
  // browser) is traded for a visitor token, then removed from the address bar.
  function reopenFromLink(token) {
    try { history.replaceState(null, "", location.pathname + location.search); } catch (e) { /* keep */ }
    request("POST", "/widget/" + encodeURIComponent(SLUG) + "/reopen", { token: token }).then(function (r) {
      saved = { vuid: r.vuid, token: r.token, conversation: r.conversation_id };
      save();
      writeStore(session, KEY + ".ended", { id: r.conversation_id, done: false });
      return resumeSaved();
    }).then(open, open);
  }

  function resumeSaved() {
    if (!saved.conversation) return Promise.resolve();
    // Resume after a reload, if the conversation is still open: its history is replayed
    // from the start (the page kept nothing), then live messages follow.
    return request("GET", "/widget/conversations/" + saved.conversation).then(function (conversation) {
      if (conversation.status === "closed") {
        // Within the same visit the ended chat and its survey come back; later, a new chat.
        var st = endedState();
        var closedAt = Date.parse(conversation.closed_at || "") || 0;
        if ((st && st.id === conversation.id) || closedAt >= sessionStart) {
          resuming = true;
          showChat();
          endChat(conversation.last_seq);
        } else resetConversation();
        return;
      }
      resuming = true;
      showChat();
      // Consent withdrawn before a reload: the history is read once over REST, no socket,
      // and the composer stays paused.
      if (saved.consent_withdrawn) {
        var paused = function () { resuming = false; showWithdrawn(); };
        return catchUp(saved.conversation).then(paused, paused);
      }
      connect();
    }).catch(function () { resetConversation(); });
  }

  window.addEventListener("pagehide", function () { if (ready && !navigating) stopCobrowse(true); });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && isOpen) { unread = 0; updateBadge(); markRead(); }
  });
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
