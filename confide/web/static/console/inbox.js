// The inbox page: three live lists (waiting, open, closed) fed by the console socket, unread
// counts, the operator's presence, desktop notifications and a short sound on a new waiting
// conversation. Lists are rendered by the server first; this module only applies changes.
import { api, el, timeElement } from "./common.js";
import { ConsoleSocket } from "./socket.js";
import { ConversationPane } from "./conversation.js";
import { MirrorView } from "./mirror.js";
import { Alerts } from "./alerts.js";

const main = document.getElementById("main");
const me = main.dataset.me;
const groupFilter = main.dataset.groupFilter || "";
const labelFilter = main.dataset.labelFilter || "";
const listQuery = main.dataset.query || "";
const selected = main.dataset.conversation || null;
const UNREAD_KEY = "confide.unread"; // conversation id -> count (ids and numbers only)
const PREVIEW_CHARS = 80;

const alerts = new Alerts(document.getElementById("notify-enable"));
const live = document.getElementById("inbox-live");
let pane = null;
let mirror = null; // the visitor's page and co-browsing (mirror.js), when the workspace allows it

function loadUnread() {
  try { return JSON.parse(sessionStorage.getItem(UNREAD_KEY) || "{}"); } catch { return {}; }
}
const unread = loadUnread();
function saveUnread() { sessionStorage.setItem(UNREAD_KEY, JSON.stringify(unread)); }

function itemOf(id) {
  return document.querySelector(`.conv-item[data-id="${CSS.escape(id)}"]`);
}

function showBadge(item) {
  const badge = item.querySelector(".badge");
  const count = unread[item.dataset.id] || 0;
  badge.hidden = count === 0;
  badge.textContent = count ? String(count) : "";
  badge.setAttribute("aria-label", `${count} unread`);
}

const baseTitle = document.title;

function refreshCounts() {
  for (const status of ["waiting", "open", "closed"]) {
    const list = document.getElementById(`list-${status}`);
    const count = list.children.length;
    document.getElementById(`count-${status}`).textContent = String(count);
    document.getElementById(`empty-${status}`).hidden = count > 0;
  }
  const waiting = document.getElementById("list-waiting").children.length;
  document.title = waiting ? `(${waiting}) ${baseTitle}` : baseTitle;
}

// Arrow keys move between conversations (Tab still walks through everything).
document.querySelector(".list-pane").addEventListener("keydown", (event) => {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const links = [...document.querySelectorAll(".conv-link")];
  const index = links.indexOf(document.activeElement);
  if (index === -1) return;
  event.preventDefault();
  const next = links[index + (event.key === "ArrowDown" ? 1 : -1)];
  if (next) next.focus();
});

function visitorLabel(visitor) {
  if (!visitor) return "Visitor";
  return visitor.name || visitor.email || visitor.phone || `Visitor ${String(visitor.vuid || "").slice(-4)}`;
}

function buildItem(facts, visitor) {
  const label = visitorLabel(visitor);
  const link = el("a", { className: "conv-link", href: `/console/conversations/${facts.id}${listQuery}` },
    el("span", { className: "avatar", "aria-hidden": "true", text: label.charAt(0).toUpperCase() }),
    el("span", { className: "conv-main" },
      el("span", { className: "conv-top" },
        el("span", { className: "conv-name", text: label }),
        el("span", { className: "conv-time" }, timeElement(facts.created_at))),
      el("span", { className: "conv-preview", text: `${facts.channel} · ${facts.status}` })),
    el("span", { className: "badge", hidden: true }));
  if (facts.id === selected) link.setAttribute("aria-current", "true");
  return el("li", {
    className: "conv-item",
    "data-id": facts.id,
    "data-status": facts.status,
    "data-group": facts.group_id || "",
    "data-last-seq": facts.last_seq,
  }, link);
}

function showListRating(item, score) {
  if (!score || item.querySelector(".conv-rating")) return;
  const rating = el("span", {
    className: "conv-rating",
    "aria-label": `Rated ${score} out of 5`,
    text: "★".repeat(score) + "☆".repeat(5 - score),
  });
  item.querySelector(".conv-preview").after(rating);
}

function place(item, status) {
  const list = document.getElementById(`list-${status}`);
  item.dataset.status = status;
  if (item.parentElement !== list || list.firstElementChild !== item) list.prepend(item);
  refreshCounts();
}

async function upsert(event) {
  const facts = event.conversation;
  if (groupFilter && facts.group_id !== groupFilter) {
    const stale = itemOf(facts.id);
    if (stale) { stale.remove(); refreshCounts(); }
    return;
  }
  let item = itemOf(facts.id);
  const isNew = !item;
  if (isNew && labelFilter) return; // a new conversation carries no label yet
  if (isNew) {
    let visitor = null;
    try {
      visitor = (await api("GET", `/api/v1/conversations/${facts.id}`)).visitor;
    } catch { /* shown as "Visitor" until the page is reloaded */ }
    if (itemOf(facts.id)) item = itemOf(facts.id);
    else item = buildItem(facts, visitor);
  }
  const preview = item.querySelector(".conv-preview");
  if (!item.dataset.previewed) preview.textContent = `${facts.channel} · ${facts.status}`;
  showListRating(item, facts.csat_score);
  place(item, facts.status);
  if (facts.status !== "closed") socket.subscribe(facts.id, isNew ? 0 : Number(item.dataset.lastSeq || 0));
  if (facts.status === "waiting" && (isNew || event.change === "requeued" || event.change === "transferred")) {
    const name = item.querySelector(".conv-name").textContent;
    live.textContent = `New conversation waiting: ${name}`;
    alerts.notify("New conversation waiting", name, `/console/conversations/${facts.id}`);
  }
  if (facts.id === selected && pane) pane.onConversation(facts, event.agent);
}

function remove(id) {
  const item = itemOf(id);
  if (item) { item.remove(); refreshCounts(); }
  delete unread[id];
  saveUnread();
  if (id === selected && pane) pane.onRevoked();
}

function onMessage(frame) {
  const item = itemOf(frame.conversation_id);
  if (item) {
    item.dataset.lastSeq = frame.seq;
    if (frame.body) {
      const preview = item.querySelector(".conv-preview");
      const text = frame.body.length > PREVIEW_CHARS ? `${frame.body.slice(0, PREVIEW_CHARS)}…` : frame.body;
      if (frame.kind === "csat") preview.textContent = `Rating comment: ${text}`;
      else preview.textContent = frame.author && frame.author.kind === "operator" ? `${frame.author.alias || "Agent"}: ${text}` : text;
      item.dataset.previewed = "1";
    }
    if (frame.conversation_id !== selected && frame.author && frame.author.kind === "visitor") {
      unread[frame.conversation_id] = (unread[frame.conversation_id] || 0) + 1;
      saveUnread();
      showBadge(item);
    }
  }
  if (frame.conversation_id === selected && pane) pane.onMessage(frame);
}

function onFrame(frame) {
  switch (frame.type) {
    case "message": onMessage(frame); break;
    case "ack": if (pane && frame.conversation_id === selected) pane.onAck(frame); break;
    case "error":
      if (pane && frame.client_id) pane.onSendError(frame);
      else if (mirror) mirror.onFrame({ ...frame, conversation_id: selected });
      break;
    case "conversation": upsert(frame); break;
    case "conversation_removed": remove(frame.conversation_id); break;
    case "subscribed": if (mirror && frame.conversation_id === selected) mirror.resync(); break;
    case "unsubscribed": if (frame.conversation_id === selected && pane) pane.onRevoked(); break;
    case "typing": if (pane && frame.conversation_id === selected) pane.onTyping(frame); break;
    case "consent":
      if (frame.conversation_id === selected) { showConsent(frame); pane?.onConsent(frame); }
      if (mirror) mirror.onFrame(frame);
      break;
    case "mirror": case "cobrowse_end": if (mirror) mirror.onFrame(frame); break;
    case "presence": if (frame.operator_id === me) presence.show(frame.availability); break;
    default: break;
  }
}

// The visitor pane's consent list follows the visitor's decisions live.
function showConsent(frame) {
  for (const item of document.querySelectorAll(".consent-list li")) {
    if (item.firstElementChild?.textContent !== frame.purpose) continue;
    const granted = frame.decision === "granted";
    const pill = item.querySelector(".pill");
    pill.textContent = frame.decision; // granted, withdrawn or refused
    pill.className = `pill ${granted ? "pill--ok" : "pill--no"}`;
  }
}

function onStatus(state) {
  document.body.classList.toggle("offline", state !== "online");
  document.body.dataset.socket = state; // "online" once the socket said ready
}

class Presence {
  constructor(button) {
    this.button = button;
    button.addEventListener("click", () => this.toggle());
    button.disabled = false; // rendered disabled: a click before this script ran would be lost
  }
  show(availability) {
    this.button.dataset.availability = availability;
    this.button.setAttribute("aria-pressed", String(availability === "available"));
    this.button.querySelector(".presence-label").textContent = availability === "available" ? "Available" : "Away";
  }
  async toggle() {
    const next = this.button.dataset.availability === "available" ? "away" : "available";
    try {
      const result = await api("PUT", "/api/v1/me/presence", { availability: next });
      this.show(result.availability);
    } catch (error) {
      live.textContent = error.message;
    }
  }
}

const presence = new Presence(document.getElementById("presence"));
const socket = new ConsoleSocket({ onFrame, onStatus });
for (const item of document.querySelectorAll(".conv-item")) {
  if (item.dataset.id === selected) { delete unread[selected]; saveUnread(); }
  showBadge(item);
  if (item.dataset.status !== "closed" && item.dataset.id !== selected) {
    socket.subscribe(item.dataset.id, Number(item.dataset.lastSeq || 0));
  }
}
refreshCounts();
const mirrorPanel = document.getElementById("mirror-panel");
if (selected && mirrorPanel) mirror = new MirrorView(mirrorPanel, socket, selected);
if (selected) {
  pane = new ConversationPane(main, socket);
  pane.onLeave = () => refreshCounts();
}
