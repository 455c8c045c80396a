// Files in the open conversation: pick, drop or paste to send one; "file" messages become
// cards with a thumbnail (images) or a download link. Links come from the conversation's
// listing (audited like a message read) and are signed for a few minutes; the server judges
// each file by its content, so a refusal is shown as it is given.
import { ApiError, csrfToken, el, renewSession } from "./common.js";

const main = document.getElementById("main");
const list = document.getElementById("messages");
const composer = document.getElementById("composer");
const picker = document.getElementById("file-input");
const pickButton = document.getElementById("attach-button");
const errorLine = document.getElementById("conv-error");
const input = document.getElementById("composer-input");

const cache = new Map(); // message id -> attachment
let listing = null;

function showError(message) {
  if (!errorLine) return;
  errorLine.textContent = message;
  errorLine.hidden = false;
}

function sizeText(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
  if (bytes < 1024) return bytes === 1 ? "1 byte" : `${bytes} bytes`;
  return `${Math.round(bytes / 1024)} KB`;
}

async function refresh(conversationId) {
  if (!listing) {
    listing = fetch(`/api/v1/conversations/${conversationId}/attachments`, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : { attachments: [] }))
      .then((data) => { for (const a of data.attachments || []) if (a.message_id) cache.set(a.message_id, a); })
      .catch(() => {})
      .finally(() => { listing = null; });
  }
  await listing;
}

async function decorate(conversationId, item) {
  item.dataset.fileReady = "1";
  const id = item.dataset.id;
  if (!id) return;
  if (!cache.has(id)) await refresh(conversationId);
  const a = cache.get(id);
  const body = item.querySelector(".msg-body");
  if (!a || !body) return;
  const card = el("span", { className: "file-card" });
  if (a.thumbnail_url) {
    // The preview repeats the download link below it: hidden from assistive technology.
    card.append(el("a", { href: a.url, target: "_blank", rel: "noopener noreferrer", className: "file-thumb",
      tabindex: "-1", "aria-hidden": "true" },
      el("img", { src: a.thumbnail_url, alt: a.name || "Image" })));
  }
  card.append(
    el("a", { href: a.download_url, download: a.name || "file", className: "file-name", text: a.name || "file" }),
    el("span", { className: "file-size", text: `${a.file_type.toUpperCase()} · ${sizeText(a.size_bytes)}` }),
  );
  body.replaceChildren(card);
}

async function upload(conversationId, file, retry = true) {
  const response = await fetch(`/api/v1/conversations/${conversationId}/attachments`, {
    method: "POST",
    headers: {
      "Content-Type": "application/octet-stream",
      "X-CSRF-Token": csrfToken(),
      "X-Confide-Filename": encodeURIComponent(file.name || "pasted"),
    },
    body: file,
    credentials: "same-origin",
  });
  if (response.status === 401 && retry && (await renewSession())) return upload(conversationId, file, false);
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  cache.set(data.message.id, data.attachment);
  return data;
}

function sendFiles(conversationId, files) {
  if (pickButton.disabled) return; // closed, or the visitor withdrew consent (conversation.js)
  for (const file of files) {
    upload(conversationId, file).catch((error) => showError(error.message));
  }
}

function hasFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes("Files");
}

if (main && main.dataset.conversation && list && composer && picker && pickButton) {
  const conversationId = main.dataset.conversation;
  const scan = () => {
    for (const item of list.querySelectorAll('li[data-kind="file"]:not([data-file-ready])')) {
      decorate(conversationId, item);
    }
  };
  new MutationObserver(scan).observe(list, { childList: true, subtree: false });
  scan();
  pickButton.addEventListener("click", () => picker.click());
  // Rendered disabled until this script ran; then as the reply box (conversation.js ran first).
  pickButton.disabled = Boolean(input?.disabled);
  picker.addEventListener("change", () => {
    sendFiles(conversationId, [...picker.files]);
    picker.value = "";
  });
  const pane = composer.closest("section") || composer;
  pane.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    pane.classList.add("dropping");
  });
  pane.addEventListener("dragleave", () => pane.classList.remove("dropping"));
  pane.addEventListener("drop", (event) => {
    pane.classList.remove("dropping");
    const files = event.dataTransfer?.files;
    if (!files || !files.length) return;
    event.preventDefault();
    sendFiles(conversationId, [...files]);
  });
  input?.addEventListener("paste", (event) => {
    const files = event.clipboardData?.files;
    if (!files || !files.length) return;
    event.preventDefault();
    sendFiles(conversationId, [...files]);
  });
}
