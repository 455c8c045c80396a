// Saved replies in the composer: typing "/" and a shortcut lists the matching replies (the
// operator's own first); Enter or Tab inserts the chosen one in place of "/shortcut", arrows
// move, Escape closes. Replies are read once from /api/v1/saved-replies; text goes to the DOM
// only through textContent.
import { api, el } from "./common.js";

const TOKEN = /(^|\s)\/([a-z0-9_-]{0,32})$/;
const SHOWN = 8;

export class SavedReplies {
  constructor(input, box) {
    this.input = input;
    this.box = box;
    this.replies = null;
    this.matches = [];
    this.active = 0;
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", box.id);
    input.addEventListener("input", () => this.update());
    input.addEventListener("keydown", (event) => this.key(event));
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  async load() {
    if (!this.replies) {
      this.replies = api("GET", "/api/v1/saved-replies")
        .then((data) => data.saved_replies)
        .catch(() => []);
    }
    return this.replies;
  }

  token() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = TOKEN.exec(before);
    return match ? { prefix: match[2], start: before.length - match[2].length - 1 } : null;
  }

  async update() {
    const token = this.token();
    if (!token) { this.close(); return; }
    const replies = await this.load();
    const seen = new Set();
    this.matches = replies.filter((reply) => {
      if (!reply.shortcut.startsWith(token.prefix) || seen.has(reply.shortcut)) return false;
      seen.add(reply.shortcut);
      return true;
    }).slice(0, SHOWN);
    this.active = 0;
    this.render();
  }

  render() {
    if (!this.matches.length) { this.close(); return; }
    this.box.replaceChildren(...this.matches.map((reply, index) => {
      const option = el("li", {
        id: `reply-option-${index}`,
        role: "option",
        className: "reply-option",
        "aria-selected": String(index === this.active),
      }, el("code", { text: `/${reply.shortcut}` }), " ", el("span", { className: "muted", text: reply.body }));
      option.addEventListener("mousedown", (event) => { event.preventDefault(); this.insert(index); });
      return option;
    }));
    this.box.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-activedescendant", `reply-option-${this.active}`);
  }

  close() {
    this.matches = [];
    this.box.hidden = true;
    this.box.replaceChildren();
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  isOpen() {
    return !this.box.hidden && this.matches.length > 0;
  }

  key(event) {
    if (!this.isOpen()) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      this.active = (this.active + moves[event.key] + this.matches.length) % this.matches.length;
      this.render();
    } else if (event.key === "Enter" || event.key === "Tab") {
      this.insert(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    // Handled here: the composer must not also send or move focus.
    event.preventDefault();
    event.stopImmediatePropagation();
  }

  insert(index) {
    const reply = this.matches[index];
    const token = this.token();
    if (!reply || !token) { this.close(); return; }
    const value = this.input.value;
    const end = this.input.selectionStart;
    this.input.value = value.slice(0, token.start) + reply.body + value.slice(end);
    const caret = token.start + reply.body.length;
    this.input.setSelectionRange(caret, caret);
    this.close();
    this.input.dispatchEvent(new Event("input"));
  }
}
