/* Confide: typing preview redaction, page mirroring and co-browsing, in the visitor's browser.
 *
 * widget.js loads this script (from Confide's own origin) only once the visitor granted the
 * typing preview, page mirroring or co-browsing; a visitor who never does never downloads it.
 *
 * What leaves the browser, and only while the visitor's grant stands (docs/widget.md):
 * - mirroring: a JSON tree of the page's body (tags, a short list of attributes, text), then
 *   its changes (MutationObserver), scroll position and viewport size, and a new snapshot on
 *   pushState navigation. Never: scripts, styles (the console draws the copy with its own),
 *   event handlers, frames, links' targets, images (sized placeholders), form values (input values, textarea text, select
 *   state are properties, never serialised). Elements marked data-confide-hide, password
 *   fields and payment card fields (autocomplete="cc-*") become placeholders with their size
 *   only: nothing inside them is read, and changes inside them are not observed. Text is
 *   redacted by the workspace's policy here, and again by the server.
 * - co-browsing: nothing more is sent; the agent's highlight, scroll and navigation (same
 *   origin only) are applied here, with a banner that stops it in one click.
 */
(function () {
  "use strict";
  if (window.__confideShare) return;

  var HIDE = "data-confide-hide";
  var UI = "data-confide-ui"; // our own banner and highlight: never mirrored
  var DROPPED = { script: 1, noscript: 1, template: 1, style: 1, link: 1, meta: 1, base: 1,
    title: 1, head: 1, object: 1, embed: 1, applet: 1, portal: 1, frameset: 1 };
  var PLACED = { img: "image", picture: "image", svg: "image", canvas: "media", video: "media",
    audio: "media", iframe: "frame", frame: "frame", select: "field", textarea: "field" };
  var ATTRIBUTES = ["class", "id", "role", "dir", "lang", "title", "alt", "width", "height",
    "colspan", "rowspan", "type", "placeholder", "aria-label", "aria-hidden", "for", "disabled",
    "hidden", "span"];
  var SNAPSHOT_MAX_CHARS = 180000; // the server closes a socket on a frame over 256 KiB
  var TEXT_MAX_CHARS = 10000;
  var DIFF_DELAY_MS = 150;   // with the scroll delay: well under the server's 1200 frames a minute
  var SCROLL_DELAY_MS = 200;
  var MAX_OPS = 400;
  var HIGHLIGHT_MS = 6000;

  // -- redaction: the workspace's policy, as the server applies it to messages ---------------

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = +digits.charAt(digits.length - 1 - i);
      if (i % 2) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function ibanValid(text) {
    var s = text.replace(/\s/g, "").toUpperCase();
    s = s.slice(4) + s.slice(0, 4);
    var rest = 0;
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      var part = c >= 65 ? String(c - 55) : s.charAt(i);
      for (var j = 0; j < part.length; j++) rest = (rest * 10 + +part.charAt(j)) % 97;
    }
    return rest === 1;
  }

  function redactor(policy) {
    policy = policy || {};
    var rules = [];
    if (policy.emails) rules.push(["email", /[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:".]{2,}/g, null]);
    if (policy.ibans) rules.push(["iban", /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g, ibanValid]);
    if (policy.cards) {
      rules.push(["card", /\d(?:[ -]?\d){12,18}/g, function (m) { return luhn(m.replace(/\D/g, "")); }]);
    }
    if (policy.phones) rules.push(["phone", /\+?\d(?:[ ().-]{0,2}\d){7,14}/g, null]);
    (policy.patterns || []).forEach(function (pattern) {
      try { rules.push(["custom", new RegExp(pattern, "g"), null]); } catch (e) { /* Python-only syntax: the server applies it */ }
    });
    return function (text) {
      if (!text || !/\S/.test(text)) return text;
      rules.forEach(function (rule) {
        text = text.replace(rule[1], function (match) {
          return !match || (rule[2] && !rule[2](match)) ? match : "[redacted " + rule[0] + "]";
        });
      });
      return text;
    };
  }

  // -- the mirror ------------------------------------------------------------------------------

  function Mirror(host) {
    this.host = host;           // { send(frame), root: the widget's own element, redact(text) }
    this.ids = new WeakMap();   // node -> id, for diffs
    this.nodes = {};            // id -> node, for the agent's highlight
    this.placeholders = new WeakSet();
    this.next = 1;
    this.ops = [];
    this.active = false;
  }

  Mirror.prototype.idOf = function (node) {
    var id = this.ids.get(node);
    if (!id) { id = this.next++; this.ids.set(node, id); }
    this.nodes[id] = node;
    return id;
  };

  Mirror.prototype.excluded = function (node) {
    return node === this.host.root || (node.nodeType === 1 && node.hasAttribute(UI));
  };

  // Why a placeholder: the element holds what the visitor types or keeps private.
  function placeholderKind(node) {
    var tag = node.localName;
    if (node.hasAttribute(HIDE)) return "hidden";
    if (tag === "input" && String(node.type).toLowerCase() === "password") return "password";
    if (/^cc-/i.test(node.getAttribute("autocomplete") || "")) return "card";
    // A rich-text box (contenteditable, or inside a designMode document) holds what the visitor
    // types, like a textarea: its whole subtree becomes one placeholder.
    if (node.isContentEditable) return "field";
    return PLACED[tag] || null;
  }

  Mirror.prototype.serialize = function (node, budget) {
    if (budget.left <= 0) return null;
    if (node.nodeType === 3) {
      var text = node.nodeValue || "";
      budget.left -= text.length + 16;
      return { i: this.idOf(node), x: this.host.redact(text.slice(0, TEXT_MAX_CHARS)) };
    }
    if (node.nodeType !== 1 || this.excluded(node)) return null;
    var tag = node.localName;
    if (DROPPED[tag]) return null;
    var kind = placeholderKind(node);
    if (kind) {
      var box = node.getBoundingClientRect();
      this.placeholders.add(node);
      budget.left -= 40;
      return { i: this.idOf(node), p: kind, w: Math.max(0, Math.round(box.width)), h: Math.max(0, Math.round(box.height)) };
    }
    var attrs = {};
    for (var a = 0; a < ATTRIBUTES.length; a++) {
      var value = node.getAttribute(ATTRIBUTES[a]);
      if (value === null || /^\s*javascript:/i.test(value)) continue;
      if (ATTRIBUTES[a] === "title" || ATTRIBUTES[a] === "alt" || ATTRIBUTES[a] === "placeholder" ||
        ATTRIBUTES[a] === "aria-label") value = this.host.redact(value);
      attrs[ATTRIBUTES[a]] = value.slice(0, 2000);
      budget.left -= value.length + 8;
    }
    budget.left -= tag.length + 24;
    var out = { i: this.idOf(node), t: tag, a: attrs, c: [] };
    // An input's value is a property, not an attribute: it is never read here.
    for (var child = node.firstChild; child; child = child.nextSibling) {
      var item = this.serialize(child, budget);
      if (item) out.c.push(item);
    }
    return out;
  };

  function pageUrl() { return (location.origin + location.pathname).slice(0, 2000); }

  Mirror.prototype.snapshot = function () {
    if (!this.active || !document.body) return;
    this.ops = [];
    this.nodes = {}; // ids stay (a WeakMap); nodes no longer on the page are let go
    var tree = this.serialize(document.body, { left: SNAPSHOT_MAX_CHARS });
    this.host.send({ type: "mirror", kind: "snapshot", url: pageUrl(), title: document.title.slice(0, 300),
      tree: tree, viewport: { w: window.innerWidth, h: window.innerHeight } });
    this.scroll();
  };

  Mirror.prototype.scroll = function () {
    if (!this.active) return;
    this.host.send({ type: "mirror", kind: "scroll", x: Math.max(0, Math.round(window.scrollX)),
      y: Math.max(0, Math.round(window.scrollY)), w: window.innerWidth, h: window.innerHeight,
      page_h: Math.round(document.documentElement.scrollHeight) });
  };

  // Whether a node is mirrored as itself (not inside a placeholder, not ours, not dropped).
  Mirror.prototype.mirrored = function (node) {
    return !!node && this.ids.has(node) && !this.placeholders.has(node) && node.isConnected;
  };

  Mirror.prototype.record = function (records) {
    var self = this;
    records.forEach(function (r) {
      var target = r.target;
      if (r.type === "characterData") {
        if (self.ids.has(target) && self.mirrored(target.parentNode)) {
          self.ops.push({ op: "text", id: self.ids.get(target), text: self.host.redact((target.nodeValue || "").slice(0, TEXT_MAX_CHARS)) });
        }
      } else if (r.type === "attributes") {
        if (!self.ids.has(target) || self.excluded(target)) return;
        var name = r.attributeName;
        if (name === HIDE || name === "type" || name === "autocomplete" || name === "contenteditable") {
          self.replace(target); // it may have become (or stopped being) private
        } else if (ATTRIBUTES.indexOf(name) >= 0 && self.mirrored(target)) {
          var value = target.getAttribute(name);
          if (value !== null && /^\s*javascript:/i.test(value)) value = null;
          if (value !== null && (name === "title" || name === "alt" || name === "placeholder" || name === "aria-label")) value = self.host.redact(value);
          self.ops.push({ op: "attr", id: self.ids.get(target), name: name, value: value === null ? null : value.slice(0, 2000) });
        }
      } else if (r.type === "childList") {
        if (!self.mirrored(target)) return;
        Array.prototype.forEach.call(r.removedNodes, function (node) {
          if (!self.ids.has(node)) return;
          self.ops.push({ op: "remove", id: self.ids.get(node) });
          delete self.nodes[self.ids.get(node)];
        });
        Array.prototype.forEach.call(r.addedNodes, function (node) {
          if (node.parentNode !== target) return; // moved again since: a later record adds it
          self.add(node);
        });
      }
    });
    if (this.ops.length > MAX_OPS) { this.snapshot(); return; }
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.flush(); }, DIFF_DELAY_MS);
  };

  Mirror.prototype.add = function (node) {
    var tree = this.serialize(node, { left: SNAPSHOT_MAX_CHARS / 4 });
    if (!tree) return;
    var before = node.nextSibling;
    while (before && !this.ids.has(before)) before = before.nextSibling;
    this.ops.push({ op: "add", parent: this.ids.get(node.parentNode), before: before ? this.ids.get(before) : null, node: tree });
  };

  Mirror.prototype.replace = function (node) {
    if (!this.mirrored(node.parentNode)) return;
    this.ops.push({ op: "remove", id: this.ids.get(node) });
    this.placeholders.delete(node);
    this.ids.delete(node);
    this.add(node);
  };

  Mirror.prototype.flush = function () {
    if (!this.active || !this.ops.length) return;
    var ops = this.ops;
    this.ops = [];
    if (JSON.stringify(ops).length > SNAPSHOT_MAX_CHARS) { this.snapshot(); return; }
    this.host.send({ type: "mirror", kind: "diff", ops: ops });
  };

  Mirror.prototype.start = function () {
    if (this.active) return;
    var self = this;
    this.active = true;
    this.observer = new MutationObserver(function (records) { self.record(records); });
    this.observer.observe(document.body, { childList: true, subtree: true, attributes: true, characterData: true });
    this.onScroll = function () {
      clearTimeout(self.scrollTimer);
      self.scrollTimer = setTimeout(function () { self.scroll(); }, SCROLL_DELAY_MS);
    };
    this.onNavigate = function () { setTimeout(function () { self.snapshot(); }, 0); };
    window.addEventListener("scroll", this.onScroll, { passive: true });
    window.addEventListener("resize", this.onScroll);
    window.addEventListener("popstate", this.onNavigate);
    this.snapshot();
  };

  Mirror.prototype.stop = function () {
    if (!this.active) return;
    this.active = false;
    this.observer.disconnect();
    clearTimeout(this.timer);
    clearTimeout(this.scrollTimer);
    window.removeEventListener("scroll", this.onScroll);
    window.removeEventListener("resize", this.onScroll);
    window.removeEventListener("popstate", this.onNavigate);
    this.ops = [];
  };

  // pushState and replaceState fire no event: wrapped once, they tell every live mirror.
  var mirrors = [];
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    if (typeof original !== "function") return;
    history[name] = function () {
      var result = original.apply(this, arguments);
      mirrors.forEach(function (m) { if (m.active) m.onNavigate(); });
      return result;
    };
  });

  // -- co-browsing: what the agent may do, and the banner that stops it ----------------------

  function styled(tag, styles, attrs) {
    var node = document.createElement(tag);
    node.setAttribute(UI, "");
    Object.keys(styles).forEach(function (k) { node.style.setProperty(k, styles[k], "important"); });
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function Control(mirror, host) {
    this.mirror = mirror;
    this.host = host;   // also: t(key), onStop()
    this.active = false;
  }

  Control.prototype.start = function () {
    if (this.active) return;
    this.active = true;
    var host = this.host;
    // CSSOM properties, not style attributes: allowed under a host page's strict CSP.
    this.banner = styled("div", { position: "fixed", top: "0", left: "0", right: "0", "z-index": "2147483646",
      background: "#1d3557", color: "#fff", font: "14px/1.4 system-ui, sans-serif", padding: "8px 12px",
      display: "flex", gap: "12px", "align-items": "center", "justify-content": "center" },
      { role: "status", id: "confide-cobrowse-banner" });
    var text = document.createElement("span");
    text.textContent = host.t("cobrowseOn");
    var stop = document.createElement("button");
    stop.type = "button";
    stop.textContent = host.t("cobrowseStop");
    stop.setAttribute("data-confide-stop", "");
    ["background:#fff", "color:#1d3557", "border:0", "border-radius:4px", "padding:4px 12px", "font:inherit",
      "font-weight:600", "cursor:pointer"].forEach(function (rule) {
      var at = rule.indexOf(":");
      stop.style.setProperty(rule.slice(0, at), rule.slice(at + 1), "important");
    });
    stop.addEventListener("click", function () { host.onStop(); });
    this.banner.appendChild(text);
    this.banner.appendChild(stop);
    document.body.appendChild(this.banner);
    // Push the page down by the banner's height, so it covers nothing the agent may point at.
    var root = document.documentElement.style;
    this.savedPadding = [root.getPropertyValue("padding-top"), root.getPropertyPriority("padding-top")];
    var current = parseFloat(getComputedStyle(document.documentElement).paddingTop) || 0;
    root.setProperty("padding-top", (current + this.banner.offsetHeight) + "px", "important");
  };

  Control.prototype.stop = function () {
    if (!this.active) return;
    this.active = false;
    if (this.banner && this.banner.parentNode) this.banner.parentNode.removeChild(this.banner);
    if (this.savedPadding) {
      document.documentElement.style.setProperty("padding-top", this.savedPadding[0], this.savedPadding[1]);
      this.savedPadding = null;
    }
    this.clearHighlight();
  };

  Control.prototype.clearHighlight = function () {
    clearTimeout(this.highlightTimer);
    if (this.outline && this.outline.parentNode) this.outline.parentNode.removeChild(this.outline);
    this.outline = null;
  };

  Control.prototype.highlight = function (id) {
    var node = this.mirror.nodes[id];
    if (!node || !node.isConnected || node.nodeType !== 1 || this.mirror.excluded(node)) return;
    this.clearHighlight();
    node.scrollIntoView({ block: "center", behavior: "auto" });
    var box = node.getBoundingClientRect();
    var under = this.banner ? this.banner.offsetHeight + 8 : 0;
    if (box.top < under) { // still under the banner (a fixed header): bring it below
      window.scrollBy(0, box.top - under);
      box = node.getBoundingClientRect();
    }
    this.outline = styled("div", { position: "fixed", top: (box.top - 4) + "px", left: (box.left - 4) + "px",
      width: (box.width + 8) + "px", height: (box.height + 8) + "px", outline: "3px solid #e63946",
      "border-radius": "4px", "box-shadow": "0 0 0 6px rgba(230,57,70,.25)", "pointer-events": "none",
      "z-index": "2147483645" }, { id: "confide-cobrowse-highlight", "data-node": String(id) });
    document.body.appendChild(this.outline);
    var self = this;
    this.highlightTimer = setTimeout(function () { self.clearHighlight(); }, HIGHLIGHT_MS);
  };

  Control.prototype.act = function (action, data) {
    if (!this.active) return;
    data = data || {};
    if (action === "highlight") this.highlight(data.node);
    else if (action === "scroll") window.scrollTo(Number(data.x) || 0, Number(data.y) || 0);
    else if (action === "navigate") {
      var target;
      try { target = new URL(String(data.url), location.href); } catch (e) { return; }
      // Same site only (checked by the server too): an agent cannot send the visitor away.
      if (target.origin !== location.origin) return;
      this.host.beforeNavigate();
      location.assign(target.href);
    }
  };

  window.__confideShare = function (host) {
    var redact = redactor(host.redaction);
    var mirrorHost = { root: host.root, redact: redact, send: function (frame) { host.send(frame); } };
    var mirror = new Mirror(mirrorHost);
    mirrors.push(mirror);
    var control = new Control(mirror, host);
    return { redact: redact, mirror: mirror, control: control };
  };
})();
