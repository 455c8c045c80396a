// The privacy portal: ask for a one-time link, trade the link's token (from the URL fragment,
// never sent to a server) for a portal session, then file a request. The session lives in
// this page's memory only.
const root = document.getElementById("portal");
const workspace = root.dataset.workspace;
const api = `/api/v1/portal/${encodeURIComponent(workspace)}`;
const statusBox = document.getElementById("portal-status");
const errorBox = document.getElementById("portal-error");
const linkForm = document.getElementById("link-form");
const requestForm = document.getElementById("request-form");
const kind = document.getElementById("kind");
let session = null;

function say(text) {
  errorBox.hidden = true;
  statusBox.textContent = text;
  statusBox.hidden = false;
}

function fail(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

async function post(path, body, headers = {}) {
  const response = await fetch(api + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error((data.error && data.error.message) || "Something went wrong; try again.");
  }
  return data;
}

linkForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const data = await post("/link", { email: document.getElementById("email").value });
    say(data.message);
  } catch (error) {
    fail(error.message);
  }
});

kind.addEventListener("change", () => {
  document.getElementById("processing-field").hidden = kind.value !== "objection";
});

requestForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { kind: kind.value };
  if (kind.value === "objection") body.processing = document.getElementById("processing").value;
  try {
    const data = await post("/requests", body, { Authorization: `Bearer ${session}` });
    requestForm.hidden = true;
    if (data.download_url) {
      say(`Your data is ready (reference ${data.case_id}). The link works for a short while.`);
      const link = document.createElement("a");
      link.href = data.download_url;
      link.textContent = "Download your data (ZIP)";
      link.id = "download";
      statusBox.after(link);
      link.focus();
      return;
    }
    const due = new Date(data.due_at).toLocaleDateString();
    say(`Your request is filed (reference ${data.case_id}). We answer by ${due} at the latest.`);
  } catch (error) {
    fail(error.message);
  }
});

function verifyFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  window.history.replaceState(null, "", window.location.pathname);
  post("/verify", { token: decodeURIComponent(match[1]) })
    .then((data) => {
      session = data.session;
      linkForm.hidden = true;
      requestForm.hidden = false;
      say("Your address is verified. Choose your request.");
      kind.focus();
    })
    .catch((error) => fail(error.message));
}

// The link opens the page (a new load) or, in a tab already showing it, changes the fragment.
window.addEventListener("hashchange", verifyFromFragment);
verifyFromFragment();
