// The reset link carries its token in the fragment (#token=...), which the browser never sends
// to a server: copy it into the form, hide the code box, and drop it from the address bar.
const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
const field = document.getElementById("token");
if (match && field) {
  field.value = decodeURIComponent(match[1]);
  field.closest(".js-hide-token").hidden = true;
  window.history.replaceState(null, "", window.location.pathname);
  document.getElementById("new_password").focus();
}
