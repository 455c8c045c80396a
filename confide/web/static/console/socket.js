// The console's WebSocket (/api/v1/ws/console): reconnects with backoff, renews the session
// when the server says it ended, re-subscribes every conversation from the last seq it holds
// (so nothing is lost across a reconnect) and re-sends messages not yet acknowledged (the
// client id makes a retry harmless).
import { renewSession } from "./common.js";

const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_FORBIDDEN = 4403;
const MAX_BACKOFF_MS = 30000;
const UNAVAILABLE_RETRY_MS = 2000; // a message refused during an outage goes again after this

export function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ConsoleSocket {
  constructor({ onFrame, onStatus }) {
    this.onFrameHandler = onFrame;
    this.onStatus = onStatus || (() => {});
    this.subscriptions = new Map(); // conversation id -> last seq delivered
    this.pending = new Map(); // client id -> message frame awaiting its ack
    this.attempt = 0;
    this.ready = false;
    this.connect();
  }

  connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${window.location.host}/api/v1/ws/console`);
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      this.receive(frame);
    });
    ws.addEventListener("close", (event) => this.closed(event));
  }

  receive(frame) {
    if (frame.type === "ready") {
      this.ready = true;
      this.attempt = 0;
      for (const [id, since] of this.subscriptions) {
        this.raw({ type: "subscribe", conversation_id: id, since });
      }
      for (const pending of this.pending.values()) this.raw(pending);
      this.onStatus("online");
    } else if (frame.type === "message") {
      const held = this.subscriptions.get(frame.conversation_id);
      if (held !== undefined && frame.seq > held) this.subscriptions.set(frame.conversation_id, frame.seq);
    } else if (frame.type === "error" && frame.code === "service_unavailable" && this.pending.has(frame.client_id)) {
      // Not stored (a database outage): it stays pending and goes again, same client id.
      const retry = this.pending.get(frame.client_id);
      setTimeout(() => this.raw(retry), UNAVAILABLE_RETRY_MS);
      return; // the pane keeps showing it as sending
    } else if (frame.type === "ack" || (frame.type === "error" && frame.client_id)) {
      this.pending.delete(frame.client_id);
    } else if (frame.type === "unsubscribed") {
      this.subscriptions.delete(frame.conversation_id);
    }
    this.onFrameHandler(frame);
  }

  async closed(event) {
    this.ready = false;
    this.onStatus("offline");
    if (event.code === CLOSE_FORBIDDEN) return; // this role has no chat room: do not retry
    if (event.code === CLOSE_UNAUTHENTICATED || event.code === 1006) {
      // A refused handshake (expired access cookie) shows as 1006: renew, then retry.
      const renewed = await renewSession();
      if (!renewed && event.code === CLOSE_UNAUTHENTICATED) {
        window.location.assign("/console/login");
        return;
      }
    }
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    setTimeout(() => this.connect(), delay);
  }

  raw(frame) {
    if (this.ready && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  subscribe(conversationId, since) {
    const held = this.subscriptions.get(conversationId);
    if (held !== undefined && held >= since) return;
    this.subscriptions.set(conversationId, since);
    this.raw({ type: "subscribe", conversation_id: conversationId, since });
  }

  send(frame) {
    this.raw(frame);
  }

  sendMessage(conversationId, body) {
    const clientId = newClientId();
    const frame = { type: "message", conversation_id: conversationId, client_id: clientId, body };
    this.pending.set(clientId, frame);
    this.raw(frame);
    return clientId;
  }
}
