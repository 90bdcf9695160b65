// The lead page's work panel: outcome shortcuts, saved replies filling the reply box, and
// the calls list refreshing itself while a call is in progress.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var button = document.querySelector('#outcome-form button[data-shortcut="' + event.key.toLowerCase() + '"]');
    if (!button) return;
    event.preventDefault();
    var when = document.getElementById("id_callback_at");
    if (button.dataset.needsTime && when && !when.value) {
      when.focus();  // a callback needs its time first; Enter then submits it
      when.dataset.pending = "1";
      return;
    }
    button.click();
  });

  // Enter in the callback time after the shortcut: log the callback.
  document.addEventListener("keydown", function (event) {
    var when = event.target;
    if (event.key !== "Enter" || !when || when.id !== "id_callback_at" || !when.value) return;
    event.preventDefault();
    var button = document.querySelector('#outcome-form button[value="callback"]');
    if (button) button.click();
  });

  document.addEventListener("click", function (event) {
    var picked = event.target.closest("[data-saved-reply]");
    if (!picked) return;
    var box = picked.closest("form").querySelector("textarea[name=body]");
    if (!box) return;
    box.value = picked.dataset.savedReply;
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // While a call rings or talks, re-read the page's calls list every 2 s until it ends.
  function refreshCalls() {
    var list = document.getElementById("lead-calls");
    if (!list || !list.dataset.callActive) return;
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("lead-calls");
        if (!fresh) return;
        list.replaceWith(fresh);
        if (!fresh.dataset.callActive) {
          // The call ended: a refusal that only said "a call is in progress" no longer holds.
          var refusal = document.getElementById("call-refusal");
          if (refusal && refusal.dataset.code === "in_progress") refusal.remove();
          var call = document.getElementById("call-button");
          if (call && !document.getElementById("call-refusal")) call.disabled = false;
          return;
        }
        window.setTimeout(refreshCalls, 2000);
      })
      .catch(function () { window.setTimeout(refreshCalls, 5000); });
  }
  window.setTimeout(refreshCalls, 2000);
})();
