// The open conversation: history by seq, live messages, acknowledged sends, typing both ways,
// read receipts and the assign / transfer / close / reopen buttons. The API decides what an
// operator may do; the buttons only hide what the role cannot do, and a refusal is shown.
import { api, el, linkify, timeElement } from "./common.js";
import { SavedReplies } from "./saved_replies.js";

const TYPING_IDLE_MS = 3000;
const TYPING_SHOWN_MS = 6000;
const PAGE = 50;

export function starsOf(score) {
  return [
    el("span", { className: "stars", "aria-hidden": "true", text: "★".repeat(score) + "☆".repeat(5 - score) }),
    " ",
    el("span", { className: "rating-score", text: `${score}/5` }),
  ];
}

export class ConversationPane {
  constructor(main, socket) {
    this.main = main;
    this.socket = socket;
    this.id = main.dataset.conversation;
    this.me = main.dataset.me;
    this.role = main.dataset.role;
    this.status = main.dataset.status;
    this.assignee = main.dataset.assignee || null;
    this.visitorLabel = main.dataset.visitorLabel || "Visitor";
    this.csat = Number(main.dataset.csat || "0") || null;
    this.firstSeq = Number(main.dataset.firstSeq || "1");
    // The visitor withdrew chat consent where it is required: nothing more is sent or stored.
    this.consentRequired = main.dataset.consentRequired === "1";
    this.consentWithdrawn = main.dataset.consentWithdrawn === "1";
    this.list = document.getElementById("messages");
    this.scroller = document.getElementById("messages-scroll");
    this.input = document.getElementById("composer-input");
    this.typingLine = document.getElementById("typing");
    this.errorLine = document.getElementById("conv-error");
    this.typingSent = false;
    // Before bind(): its Enter key handler must see the suggestion list first.
    this.savedReplies = new SavedReplies(this.input, document.getElementById("reply-suggestions"));
    this.bind();
    this.updateActions();
    this.scrollToEnd();
    socket.subscribe(this.id, this.lastSeq());
  }

  lastSeq() {
    let last = 0;
    for (const item of this.list.querySelectorAll("li[data-seq]")) last = Math.max(last, Number(item.dataset.seq));
    return Math.max(last, this.firstSeq - 1);
  }

  bind() {
    document.getElementById("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendFromComposer();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendFromComposer();
      }
    });
    this.input.addEventListener("input", () => this.typing());
    for (const button of document.querySelectorAll("#conv-actions [data-action]")) {
      button.addEventListener("click", () => this.act(button.dataset.action, button));
    }
    const transfer = document.getElementById("transfer-panel");
    transfer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.transfer(transfer);
    });
    transfer.querySelector('[data-action="transfer-cancel"]').addEventListener("click", () => this.toggleTransfer(false));
    const labelsForm = document.getElementById("labels-panel");
    labelsForm?.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveLabels(labelsForm);
    });
    const noteForm = document.getElementById("note-form");
    noteForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.addNote(noteForm);
    });
    const earlier = document.getElementById("load-earlier");
    earlier.addEventListener("click", () => this.loadEarlier(earlier));
    const toggle = document.querySelector(".visitor-toggle");
    const showVisitor = (open) => {
      this.main.classList.toggle("show-visitor", open);
      toggle.setAttribute("aria-expanded", String(open));
      if (open) document.getElementById("visitor-title").focus();
      else toggle.focus();
    };
    toggle.addEventListener("click", () => showVisitor(!this.main.classList.contains("show-visitor")));
    document.querySelector(".visitor-close").addEventListener("click", () => showVisitor(false));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.main.classList.contains("show-visitor")) showVisitor(false);
    });
    // The page renders these disabled: a click (or a reply sent) before this script ran would be
    // lost or, for a form, sent as a plain page request. Send follows the status (updateActions).
    for (const button of [noteForm.querySelector('[type="submit"]'), earlier, toggle,
      document.querySelector(".visitor-close"), document.querySelector('#conv-actions [data-action="labels"]')]) {
      if (button) button.disabled = false;
    }
  }

  // -- messages -------------------------------------------------------------------------

  authorLabel(author) {
    if (!author) return "";
    if (author.kind === "visitor") return this.visitorLabel;
    if (author.kind === "operator") return author.alias || "Agent";
    return author.kind.charAt(0).toUpperCase() + author.kind.slice(1);
  }

  // The visitor's satisfaction rating: score (from the conversation) and comment (a message).
  ratingNode(message) {
    const title = el("p", { className: "rating-title", text: "Satisfaction rating" });
    if (this.csat) title.append(": ", ...starsOf(this.csat));
    const inner = el("div", { className: "bubble" }, title);
    if (message && message.body) inner.append(el("p", { className: "msg-body", text: message.body }));
    if (message) inner.append(el("p", { className: "msg-meta" }, timeElement(message.created_at)));
    return el("li", {
      className: "msg msg--rating",
      id: "rating",
      "data-seq": message ? message.seq : null,
      "data-id": message ? message.id || null : null,
    }, inner);
  }

  showRating(score) {
    if (!score || this.csat === score) return;
    this.csat = score;
    const current = document.getElementById("rating");
    if (current) {
      const seq = current.dataset.seq;
      const message = seq ? { seq, id: current.dataset.id, created_at: current.querySelector("time")?.getAttribute("datetime"),
        body: current.querySelector(".msg-body")?.textContent } : null;
      current.replaceWith(this.ratingNode(message));
    } else {
      this.list.append(this.ratingNode(null));
    }
    this.scrollToEnd();
  }

  bubble(message, pending = false) {
    if (message.kind === "csat") return this.ratingNode(message);
    const kind = message.author ? message.author.kind : "operator";
    const body = message.body === null || message.body === undefined
      ? "(not stored: transcripts are off)" : message.body;
    const meta = el("p", { className: "msg-meta" },
      el("span", { className: "msg-author", text: pending ? "You" : this.authorLabel(message.author) }),
      " · ",
      pending ? el("span", { className: "msg-state", text: "sending" }) : timeElement(message.created_at));
    const inner = el("div", { className: "bubble" }, el("p", { className: "msg-body" }, linkify(body)));
    const masked = Object.entries(message.redactions || {}).filter(([, count]) => count > 0).map(([kind]) => kind);
    if (masked.length) {
      inner.append(el("p", { className: "msg-note", text: `Masked before storage: ${masked.join(", ")}` }));
    }
    inner.append(meta);
    return el("li", {
      className: `msg msg--${kind}${pending ? " msg--pending" : ""}`,
      "data-seq": pending ? null : message.seq,
      "data-id": message.id || null,
      "data-kind": message.kind || null,
      "data-client-id": message.client_id || null,
    }, inner);
  }

  onMessage(message) {
    if (this.left) return;
    if (this.list.querySelector(`li[data-seq="${message.seq}"]`)) return;
    const pending = message.client_id
      ? this.list.querySelector(`li[data-client-id="${CSS.escape(message.client_id)}"]`) : null;
    const node = this.bubble(message);
    const scoreOnly = message.kind === "csat" ? document.querySelector("#rating:not([data-seq])") : null;
    if (pending) pending.replaceWith(node);
    else if (scoreOnly) scoreOnly.replaceWith(node);
    else this.insertInOrder(node, message.seq);
    if (message.author && message.author.kind === "visitor") {
      this.clearTyping();
      if (document.visibilityState === "visible") {
        this.socket.send({ type: "read", conversation_id: this.id, seq: message.seq });
      }
    }
    this.scrollToEnd();
  }

  insertInOrder(node, seq) {
    const later = [...this.list.querySelectorAll("li[data-seq]")].find((li) => Number(li.dataset.seq) > seq);
    const firstPending = this.list.querySelector("li.msg--pending");
    this.list.insertBefore(node, later || firstPending || null);
  }

  onAck(frame) {
    const pending = this.list.querySelector(`li[data-client-id="${CSS.escape(frame.client_id)}"]`);
    if (!pending) return;
    if (this.list.querySelector(`li[data-seq="${frame.seq}"]`)) { pending.remove(); return; }
    pending.classList.remove("msg--pending");
    pending.dataset.seq = frame.seq;
    pending.querySelector(".msg-body").replaceChildren(linkify(frame.body));
    const state = pending.querySelector(".msg-state");
    if (state) state.replaceWith(timeElement(new Date().toISOString()));
  }

  onSendError(frame) {
    const pending = this.list.querySelector(`li[data-client-id="${CSS.escape(frame.client_id)}"]`);
    if (pending) {
      pending.classList.add("msg--failed");
      const state = pending.querySelector(".msg-state");
      if (state) state.textContent = "not sent";
    }
    this.showError(frame.message);
    if (frame.code === "consent_withdrawn") { this.consentWithdrawn = true; this.updateActions(); }
  }

  // The visitor's chat decision, live: a withdrawal (or refusal) pauses the reply box.
  onConsent(frame) {
    if (frame.purpose !== "chat" || !this.consentRequired) return;
    this.consentWithdrawn = frame.decision !== "granted";
    this.updateActions();
  }

  sendFromComposer() {
    const body = this.input.value.trim();
    if (!body || this.status === "closed" || this.consentWithdrawn) return;
    const clientId = this.socket.sendMessage(this.id, body);
    this.list.append(this.bubble({ client_id: clientId, body, author: { kind: "operator" } }, true));
    this.input.value = "";
    this.stopTyping();
    this.scrollToEnd();
  }

  async loadEarlier(button) {
    const since = Math.max(0, this.firstSeq - 1 - PAGE);
    const limit = this.firstSeq - 1 - since;
    if (limit <= 0) { button.hidden = true; return; }
    try {
      const page = await api("GET", `/api/v1/conversations/${this.id}/messages?since=${since}&limit=${limit}`);
      const first = this.list.firstElementChild;
      for (const message of page.messages) this.list.insertBefore(this.bubble(message), first);
      this.firstSeq = since + 1;
      button.hidden = this.firstSeq <= 1;
    } catch (error) {
      this.showError(error.message);
    }
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  // -- typing ---------------------------------------------------------------------------

  typing() {
    if (!this.typingSent) {
      this.typingSent = true;
      this.socket.send({ type: "typing", conversation_id: this.id, state: true });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSent) {
      this.typingSent = false;
      this.socket.send({ type: "typing", conversation_id: this.id, state: false });
    }
  }

  onTyping(frame) {
    if (!frame.author || frame.author.kind !== "visitor") return;
    clearTimeout(this.typingShown);
    if (!frame.state) { this.clearTyping(); return; }
    this.typingLine.textContent = frame.preview
      ? `${this.visitorLabel} is typing: ${frame.preview}` : `${this.visitorLabel} is typing…`;
    this.typingShown = setTimeout(() => this.clearTyping(), TYPING_SHOWN_MS);
  }

  clearTyping() {
    this.typingLine.textContent = "";
  }

  // -- status and actions ---------------------------------------------------------------

  onConversation(facts, agent) {
    if (this.left) return;
    if (facts.csat_score) this.showRating(facts.csat_score);
    this.status = facts.status;
    this.assignee = facts.assignee_id;
    this.main.dataset.status = facts.status;
    const status = document.getElementById("conv-status");
    status.textContent = facts.status;
    status.className = `status status--${facts.status}`;
    if (agent !== undefined) {
      document.getElementById("conv-agent").textContent = agent
        ? `with ${agent.alias || "an agent"}` : (facts.assignee_id ? "assigned" : "unassigned");
    }
    this.updateActions();
  }

  // The conversation is no longer this operator's (transferred by them or by someone else):
  // it leaves the view, and a notice says where it went. Nothing stays that suggests it is
  // closed or still theirs.
  leave(notice) {
    if (this.left) return;
    this.left = true;
    this.stopTyping();
    this.socket.unsubscribe?.(this.id);
    const item = document.querySelector(`.conv-item[data-id="${CSS.escape(this.id)}"]`);
    if (item) item.remove();
    const pane = document.querySelector(".conversation-pane");
    const back = el("a", { href: "/console/" + window.location.search, text: "Back to the inbox" });
    const panel = el("div", { className: "empty-state left-state" },
      el("p", { className: "empty-title", role: "status", text: notice }),
      el("p", {}, back));
    pane.classList.add("empty-pane");
    pane.replaceChildren(panel);
    document.getElementById("visitor-pane")?.remove();
    this.main.classList.remove("show-visitor");
    delete this.main.dataset.conversation;
    document.body.classList.replace("has-conversation", "no-conversation");
    window.history.replaceState(null, "", "/console/" + window.location.search);
    back.focus();
    this.onLeave?.();
  }

  onRevoked() {
    // Our own transfer's event may arrive before the API's answer: name where it went.
    this.leave(this.handedTo || "This conversation was handed to someone else; it is no longer in your inbox.");
  }

  updateActions() {
    const show = (name, visible) => {
      const button = document.querySelector(`#conv-actions [data-action="${name}"]`);
      if (button) button.hidden = !visible;
    };
    const live = this.status !== "closed";
    show("assign", live && this.assignee !== this.me && (this.role !== "agent" || this.status === "waiting"));
    show("transfer", live);
    show("close", live);
    show("reopen", !live);
    const canSend = live && !this.consentWithdrawn;
    this.input.disabled = !canSend;
    document.querySelector("#composer .send").disabled = !canSend;
    const attach = document.getElementById("attach-button");
    if (attach) attach.disabled = !canSend; // attachments.js follows it for drops and pastes
    document.getElementById("consent-withdrawn").hidden = !this.consentWithdrawn;
    const note = document.getElementById("composer-note");
    note.hidden = live;
    note.textContent = live ? "" : "This conversation is closed. Reopen it to reply.";
  }

  toggleTransfer(open) {
    const panel = document.getElementById("transfer-panel");
    panel.hidden = !open;
    document.querySelector('#conv-actions [data-action="transfer"]').setAttribute("aria-expanded", String(open));
    if (open) panel.querySelector("select").focus();
  }

  async act(action, button) {
    if (action === "transfer") { this.toggleTransfer(document.getElementById("transfer-panel").hidden); return; }
    if (action === "labels") { this.toggleLabels(button); return; }
    const paths = { assign: "assign", close: "close", reopen: "reopen" };
    if (!paths[action]) return;
    const body = action === "assign" ? { operator_id: this.me } : undefined;
    await this.call(`/api/v1/conversations/${this.id}/${paths[action]}`, body, button);
  }

  async transfer(form) {
    const select = form.querySelector("select");
    const [kind, id] = select.value.split(":");
    if (!id) return;
    const body = kind === "group" ? { group_id: id } : { operator_id: id };
    const target = select.selectedOptions[0] ? select.selectedOptions[0].textContent.replace(/ \(\w+\)$/, "") : "";
    const where = kind === "group" ? `the ${target} queue` : target;
    this.handedTo = `Transferred to ${where}. It is no longer in your inbox.`;
    await this.call(`/api/v1/conversations/${this.id}/transfer`, body, form.querySelector('button[type="submit"]'));
    if (!this.left) this.toggleTransfer(false);
  }

  async call(path, body, button) {
    this.showError("");
    button.disabled = true;
    try {
      const result = await api("POST", path, body);
      if (result.handed_over) {
        this.leave(this.handedTo || "This conversation is no longer in your inbox.");
      } else {
        this.onConversation(result, result.agent);
      }
    } catch (error) {
      this.handedTo = null;
      this.showError(error.status === 403 ? `Not allowed: ${error.message}` : error.message);
    } finally {
      button.disabled = false;
    }
  }

  // Internal notes: for operators only, sent over the REST API (never the conversation's
  // socket channel, which the visitor's widget also listens to).
  async addNote(form) {
    const input = form.querySelector("textarea");
    const error = document.getElementById("note-error");
    const body = input.value.trim();
    if (!body) return;
    const button = form.querySelector("button");
    button.disabled = true;
    error.hidden = true;
    try {
      const note = await api("POST", `/api/v1/conversations/${this.id}/notes`, { body });
      const author = (note.author && note.author.alias) || "Operator";
      document.getElementById("notes").append(el("li", { className: "note" },
        el("p", { className: "note-body", text: note.body }),
        el("p", { className: "msg-meta" }, `${author} · `, timeElement(note.created_at))));
      input.value = "";
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  toggleLabels(button) {
    const panel = document.getElementById("labels-panel");
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) panel.querySelector("input")?.focus();
  }

  async saveLabels(form) {
    const ids = [...form.querySelectorAll('input[name="label_ids"]:checked')].map((box) => box.value);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    this.showError("");
    try {
      const result = await api("PUT", `/api/v1/conversations/${this.id}/labels`, { label_ids: ids });
      document.getElementById("conv-labels").replaceChildren(
        ...result.labels.map((label) => el("li", { className: "chip", text: label.name })));
      form.hidden = true;
      document.querySelector('#conv-actions [data-action="labels"]').setAttribute("aria-expanded", "false");
    } catch (error) {
      this.showError(error.message);
    } finally {
      button.disabled = false;
    }
  }

  showError(message) {
    this.errorLine.textContent = message || "";
    this.errorLine.hidden = !message;
  }
}
