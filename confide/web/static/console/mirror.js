// The visitor's page, as the widget mirrors it (with the visitor's consent), and co-browsing.
//
// The page is rendered from the relayed JSON tree into an <iframe sandbox=""> (no scripts, an
// opaque origin) through srcdoc, with a Content-Security-Policy that forbids every fetch but
// Confide's own mirror stylesheet: the console never loads anything from the visitor's site.
// Images, frames and private fields arrive as sized placeholders; text is escaped here (and
// was redacted by the widget and again by the server). Nothing of the page is stored.
//
// Co-browsing: "Ask for control" makes the widget show the visitor its own consent prompt;
// the visitor's decision arrives as a "consent" frame. While granted, the agent may point at
// an element of the mirrored page, scroll it, or open another address on the same site.
const RENDER_DELAY_MS = 80;
const POINTABLE = new Set(["a", "button", "h1", "h2", "h3", "h4", "label", "input", "summary", "li", "p", "img"]);
const VOID = new Set(["area", "br", "col", "hr", "input", "wbr"]);
const MAX_POINTS = 200;

function escapeText(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function escapeAttr(text) {
  return escapeText(text).replace(/"/g, "&quot;");
}

export class MirrorView {
  constructor(panel, socket, conversationId) {
    this.panel = panel;
    this.socket = socket;
    this.id = conversationId;
    this.frame = panel.querySelector("iframe");
    this.viewport = panel.querySelector(".mirror-viewport");
    this.status = panel.querySelector(".mirror-status");
    this.where = panel.querySelector(".mirror-where");
    this.controls = panel.querySelector(".cobrowse-controls");
    this.ask = panel.querySelector('[data-cobrowse="request"]');
    this.pointSelect = panel.querySelector("#cobrowse-point");
    this.cssUrl = new URL("/static/console/mirror-frame.css", window.location.href).href;
    this.tree = null;
    this.index = new Map(); // node id -> [node, parent]
    this.scroll = { x: 0, y: 0, w: 1280, h: 800, page_h: 0 };
    this.cobrowsing = panel.dataset.cobrowsing === "granted";
    this.bind();
    this.showControl();
  }

  bind() {
    this.ask.addEventListener("click", () => {
      this.send("request", {});
      this.setStatus("Asked the visitor for control: waiting for their answer…");
    });
    this.panel.querySelector('[data-cobrowse="highlight"]').addEventListener("click", () => {
      const node = Number(this.pointSelect.value);
      if (node) this.send("highlight", { node });
    });
    this.panel.querySelector("#cobrowse-navigate").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = event.target.querySelector("input");
      const typed = input.value.trim();
      if (!typed) return;
      let url = null;
      try { url = new URL(typed, this.page || undefined); } catch (error) { url = null; }
      const site = this.page ? new URL(this.page).origin : null;
      if (!url || !site || url.origin !== site || !/^https?:$/.test(url.protocol)) {
        // The widget and the server would refuse it too: say so instead of nothing happening.
        this.setStatus(`Only addresses on the visitor's site${site ? ` (${site})` : ""} can be opened.`);
        return;
      }
      this.setStatus(`Opening ${url.pathname} on the visitor's page.`);
      this.send("navigate", { url: url.href });
    });
    this.panel.querySelector('[data-cobrowse="end"]').addEventListener("click", () => {
      this.socket.send({ type: "cobrowse_end", conversation_id: this.id });
      this.endCobrowse("You ended co-browsing.");
    });
  }

  // After (re)subscribing: a whole copy, if the visitor shares their page (else refused quietly).
  resync() {
    this.quiet = true;
    this.socket.send({ type: "mirror_resync", conversation_id: this.id });
  }

  send(action, data) {
    this.socket.send({ type: "cobrowse", conversation_id: this.id, action, data });
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  showControl() {
    this.controls.hidden = !this.cobrowsing;
    this.ask.hidden = this.cobrowsing || !this.tree || this.panel.dataset.cobrowseOffered !== "1";
    this.panel.dataset.cobrowsing = this.cobrowsing ? "granted" : "";
  }

  endCobrowse(text) {
    this.cobrowsing = false;
    this.setStatus(text);
    this.showControl();
  }

  // -- frames ----------------------------------------------------------------------------

  onFrame(frame) {
    if (frame.conversation_id !== this.id) return;
    if (frame.type === "mirror") this.onMirror(frame);
    else if (frame.type === "cobrowse_end") this.endCobrowse("The visitor stopped co-browsing.");
    else if (frame.type === "consent") this.onConsent(frame);
    else if (frame.type === "error" && ["consent_required", "mirroring_disabled"].includes(frame.code)) {
      if (this.quiet) this.quiet = false; // the answer to resync(): nothing is shared yet
      else this.setStatus(frame.message);
    }
  }

  onConsent(frame) {
    if (frame.purpose === "cobrowsing") {
      if (frame.decision === "granted") {
        this.cobrowsing = true;
        this.setStatus("Co-browsing: the visitor sees a banner and can stop it at any time.");
        this.showControl();
      } else {
        this.endCobrowse(frame.decision === "refused" ? "The visitor refused co-browsing." : "The visitor stopped co-browsing.");
      }
    } else if (frame.purpose === "mirroring" && frame.decision !== "granted") {
      this.tree = null;
      this.index.clear();
      this.panel.hidden = true;
      this.cobrowsing = false;
      this.showControl();
    }
  }

  onMirror(frame) {
    this.quiet = false;
    if (frame.kind === "page" || frame.kind === "snapshot") {
      this.page = frame.url;
      this.where.textContent = frame.title ? `${frame.title} — ${frame.url}` : frame.url;
      this.panel.hidden = false;
    }
    if (frame.kind === "snapshot") {
      this.tree = frame.tree;
      this.scroll.w = frame.viewport.w;
      this.scroll.h = frame.viewport.h;
      this.reindex();
      this.showControl();
    } else if (frame.kind === "diff" && this.tree) {
      for (const op of frame.ops) this.apply(op);
    } else if (frame.kind === "scroll") {
      this.scroll = frame;
      this.place();
      return;
    } else {
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.render(), RENDER_DELAY_MS);
  }

  reindex() {
    this.index.clear();
    const walk = (node, parent) => {
      this.index.set(node.i, [node, parent]);
      for (const child of node.c || []) walk(child, node);
    };
    if (this.tree) walk(this.tree, null);
  }

  apply(op) {
    if (op.op === "remove") {
      const found = this.index.get(op.id);
      if (!found || !found[1]) return;
      found[1].c = found[1].c.filter((child) => child.i !== op.id);
      this.index.delete(op.id);
    } else if (op.op === "text") {
      const found = this.index.get(op.id);
      if (found && "x" in found[0]) found[0].x = op.text;
    } else if (op.op === "attr") {
      const found = this.index.get(op.id);
      if (!found || !found[0].a) return;
      if (op.value === null) delete found[0].a[op.name];
      else found[0].a[op.name] = op.value;
    } else if (op.op === "add") {
      const parent = this.index.get(op.parent);
      if (!parent || !parent[0].c || !op.node) return;
      const siblings = parent[0].c.filter((child) => child.i !== op.node.i);
      const at = op.before === null ? -1 : siblings.findIndex((child) => child.i === op.before);
      if (at < 0) siblings.push(op.node); else siblings.splice(at, 0, op.node);
      parent[0].c = siblings;
      const walk = (node, up) => {
        this.index.set(node.i, [node, up]);
        for (const child of node.c || []) walk(child, node);
      };
      walk(op.node, parent[0]);
    }
  }

  // -- rendering ------------------------------------------------------------------------

  html(node) {
    if ("x" in node) return escapeText(node.x);
    if ("p" in node) {
      // A sized box in place of what the visitor keeps to themselves (or an image).
      const w = Math.min(node.w || 0, 4000), h = Math.min(node.h || 0, 4000);
      return `<svg class="confide-ph confide-ph--${escapeAttr(node.p)}" width="${w}" height="${h}" data-ph="${escapeAttr(node.p)}">` +
        `<rect width="100%" height="100%"></rect><text x="6" y="16">${escapeText(node.p)}</text></svg>`;
    }
    if (!/^[a-z][a-z0-9-]*$/.test(node.t)) return "";
    const attrs = Object.entries(node.a || {})
      .filter(([name]) => /^[a-z-]+$/.test(name) && !name.startsWith("on"))
      .map(([name, value]) => ` ${name}="${escapeAttr(value)}"`).join("");
    const tag = node.t === "body" ? "div" : node.t;
    const open = `<${tag}${attrs} data-mirror-id="${node.i}"${node.t === "body" ? ' class="confide-body"' : ""}>`;
    if (VOID.has(tag)) return open;
    return open + (node.c || []).map((child) => this.html(child)).join("") + `</${tag}>`;
  }

  render() {
    if (!this.tree) return;
    const origin = new URL(this.cssUrl).origin;
    // No script, no frame, no fetch but Confide's own stylesheet (the page's own styles are
    // not mirrored: the copy shows text and structure, drawn by Confide).
    const policy = `default-src 'none'; style-src ${origin}; img-src data:; font-src 'none'`;
    this.frame.srcdoc = `<!doctype html><html><head><meta charset="utf-8">` +
      `<meta http-equiv="Content-Security-Policy" content="${escapeAttr(policy)}">` +
      `<link rel="stylesheet" href="${escapeAttr(this.cssUrl)}"></head>` +
      `<body>${this.html(this.tree)}</body></html>`;
    this.place();
    this.listPoints();
  }

  // The visitor's viewport, scaled to the panel; the panel scrolls where the visitor is.
  place() {
    const width = Math.max(320, this.scroll.w || 1280);
    const scale = Math.min(1, this.viewport.clientWidth / width) || 1;
    const height = Math.max(this.scroll.page_h || 0, this.scroll.h || 0, 600);
    this.frame.style.width = `${width}px`;
    this.frame.style.height = `${height}px`;
    this.frame.style.transform = `scale(${scale})`;
    this.viewport.style.height = `${Math.round(Math.min(this.scroll.h || 600, 900) * scale)}px`;
    this.viewport.scrollTop = Math.round((this.scroll.y || 0) * scale);
  }

  // Elements the agent can point at: their kind and visible text, from the mirrored tree.
  listPoints() {
    const chosen = this.pointSelect.value;
    const options = [];
    const textOf = (node) => ("x" in node ? node.x : (node.c || []).map(textOf).join(" "));
    const walk = (node) => {
      if (options.length >= MAX_POINTS || !node.t) return;
      if (POINTABLE.has(node.t)) {
        const label = (textOf(node) || node.a?.placeholder || node.a?.["aria-label"] || "").replace(/\s+/g, " ").trim();
        if (label) options.push(new Option(`${node.t}: ${label.slice(0, 60)}`, String(node.i)));
      }
      for (const child of node.c || []) walk(child);
    };
    walk(this.tree);
    this.pointSelect.replaceChildren(...options);
    if (chosen && options.some((o) => o.value === chosen)) this.pointSelect.value = chosen;
  }
}
