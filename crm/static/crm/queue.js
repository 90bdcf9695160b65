/* "My queue" (crm/admin/queue.py): refresh the counts and rows from the rows endpoint every
 * data-poll-ms while the tab is visible, tick the speed-to-lead timers every second, and fetch
 * the rep's numbers for the month once. */
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function elapsed(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? h + " h " + pad(m) + " min" : m + ":" + pad(s % 60);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("#queue-live [data-timer]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      var reached = el.getAttribute("data-reached");
      if (isNaN(since)) return;
      el.textContent = reached ? "Reached in " + elapsed(Date.parse(reached) - since)
                               : "Waiting " + elapsed(now - since);
    });
  }

  function start() {
    var live = document.getElementById("queue-live");
    if (!live) return;
    var url = live.getAttribute("data-rows-url");
    var pollMs = parseInt(live.getAttribute("data-poll-ms"), 10) || 1500;
    var busy = false;

    function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { live.innerHTML = html; tick(); } })
        .catch(function () {})
        .then(function () { busy = false; });
    }

    var numbers = document.getElementById("queue-numbers-box");
    if (numbers) {  // the month's numbers: once, after the queue is on screen
      fetch(numbers.getAttribute("data-numbers-url"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) numbers.innerHTML = html; })
        .catch(function () {});
    }
    tick();
    setInterval(tick, 1000);
    setInterval(refresh, pollMs);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
