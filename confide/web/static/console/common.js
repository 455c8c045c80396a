// Shared by every console page: the CSRF token, REST calls with session renewal, small DOM
// helpers, and progressive enhancements of the server-rendered pages. User data only ever
// reaches the DOM through textContent (never innerHTML).

export const CSRF_COOKIE = "confide_csrf";

export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return "";
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The request failed (${status}).`);
    this.status = status;
    this.code = error.code || "";
    this.field = error.field || null;
  }
}

let renewing = null;

// The access cookie lives 15 minutes; the refresh cookie renews it (and the CSRF cookie).
export function renewSession() {
  if (!renewing) {
    renewing = fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "X-CSRF-Token": csrfToken() },
      credentials: "same-origin",
    })
      .then((response) => response.ok)
      .catch(() => false)
      .finally(() => setTimeout(() => { renewing = null; }, 0));
  }
  return renewing;
}

export async function api(method, path, body, retry = true) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401 && retry) {
    if (await renewSession()) return api(method, path, body, false);
    window.location.assign("/console/login");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Message text with its http(s) URLs as safe links (same rule as confide/web/console/links.py):
// built with createElement and textContent, never innerHTML; no other scheme becomes a link.
const URL_PATTERN = /https?:\/\/[^\s<>"]+/gi;
const TRAILING = ".,;:!?)]}'";
export const LINK_REL = "noopener noreferrer nofollow";

export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of String(text).matchAll(URL_PATTERN)) {
    let url = match[0];
    let end = url.length;
    while (end > 0 && TRAILING.includes(url[end - 1])) end -= 1;
    const trailing = url.slice(end);
    url = url.slice(0, end);
    if (url.length <= "https://".length) continue;
    fragment.append(text.slice(last, match.index));
    fragment.append(el("a", { href: url, rel: LINK_REL, target: "_blank", text: url }));
    fragment.append(trailing);
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

export function formatTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  const today = new Date();
  if (when.toDateString() === today.toDateString()) {
    return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  return when.toLocaleDateString([], { day: "numeric", month: "short" });
}

export function timeElement(iso) {
  return el("time", { datetime: iso, text: formatTime(iso) });
}

function localiseTimes(root) {
  for (const node of root.querySelectorAll("time[datetime]")) {
    const text = formatTime(node.getAttribute("datetime"));
    if (text) node.textContent = text;
  }
}

function enhanceForms() {
  // A renewed session has a new CSRF cookie: forms send the current one.
  document.addEventListener("submit", (event) => {
    const field = event.target.querySelector && event.target.querySelector('input[name="csrf_token"]');
    const token = csrfToken();
    if (field && token) field.value = token;
  }, true);
  for (const select of document.querySelectorAll("#group-select, #label-select")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const node of document.querySelectorAll(".js-hide")) node.hidden = true;
  for (const button of document.querySelectorAll("button[data-copy]")) {
    if (!navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText(document.getElementById(button.dataset.copy).textContent);
      button.textContent = "Copied";
    });
  }
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();
}

localiseTimes(document);
enhanceForms();
