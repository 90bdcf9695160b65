/* First-party preview tracker: views only when the page is visible, visible time, button
 * clicks and sections seen. No dependencies; never throws; never delays navigation. */
(function () {
  "use strict";
  try {
    var script = document.currentScript || document.querySelector("script[data-endpoint][data-nonce]");
    var endpoint = script && script.getAttribute("data-endpoint");
    var nonce = script && script.getAttribute("data-nonce");
    if (!endpoint || !window.JSON || !window.fetch) return;

    var VISIT_GAP_MS = 30 * 60 * 1000;
    var PING_MS = 15 * 1000;
    var tokenMatch = /\/p\/([^/]+)\/t\/?$/.exec(new URL(endpoint, location.href).pathname);
    var storageKey = "crm_pv_" + (tokenMatch ? tokenMatch[1].slice(-12) : "page");

    function randomId() {
      var bytes = new Uint8Array(16);
      (window.crypto || window.msCrypto).getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    }

    // One visit = events without a 30-minute gap; the id lives in localStorage.
    var memoryVisit = null;
    function visitId() {
      var now = Date.now();
      var visit = memoryVisit;
      try { visit = JSON.parse(localStorage.getItem(storageKey) || "null") || memoryVisit; } catch (e) { /* private mode */ }
      if (!visit || typeof visit.id !== "string" || visit.id.length < 16 || !(now - visit.last < VISIT_GAP_MS)) {
        visit = { id: randomId(), last: now };
      }
      visit.last = now;
      memoryVisit = visit;
      try { localStorage.setItem(storageKey, JSON.stringify(visit)); } catch (e) { /* storage full or blocked */ }
      return visit.id;
    }

    function body(type, seconds, target) {
      return JSON.stringify({ type: type, session: visitId(), seconds: seconds || 0, target: target || "", nonce: nonce });
    }

    function send(type, seconds, target) {
      try {
        fetch(endpoint, {
          method: "POST", keepalive: true, credentials: "same-origin",
          headers: { "Content-Type": "application/json" }, body: body(type, seconds, target),
        }).catch(function () {});
      } catch (e) { /* never break the page */ }
    }

    function beacon(type, seconds, target) {
      var json;
      try {
        json = body(type, seconds, target);
        if (navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([json], { type: "application/json" }))) return;
      } catch (e) { /* some browsers refuse a JSON Blob in a beacon: fall back to fetch */ }
      try {
        fetch(endpoint, { method: "POST", keepalive: true, credentials: "same-origin",
                          headers: { "Content-Type": "application/json" }, body: json }).catch(function () {});
      } catch (e) { /* never break the page */ }
    }

    // Visible time not yet reported, in milliseconds.
    var visibleSince = null;
    var unreportedMs = 0;
    function startVisible() { if (visibleSince === null) visibleSince = performance.now(); }
    function stopVisible() {
      if (visibleSince !== null) { unreportedMs += performance.now() - visibleSince; visibleSince = null; }
    }
    function takeSeconds() {
      if (visibleSince !== null) { var now = performance.now(); unreportedMs += now - visibleSince; visibleSince = now; }
      var seconds = Math.round(unreportedMs / 1000);
      unreportedMs -= seconds * 1000;
      if (unreportedMs < 0) unreportedMs = 0;
      return seconds;
    }

    var viewSent = false;
    var pingTimer = null;
    var pendingSections = [];
    var seenSections = {};
    var leaveSent = false;

    function onVisible() {
      leaveSent = false;
      startVisible();
      if (!viewSent) { viewSent = true; send("view"); }
      while (pendingSections.length) send("section", 0, pendingSections.shift());
      if (pingTimer === null) {
        pingTimer = setInterval(function () {
          if (document.visibilityState === "visible") send("ping", takeSeconds());
        }, PING_MS);
      }
    }

    function onHidden() {
      if (pingTimer !== null) { clearInterval(pingTimer); pingTimer = null; }
      stopVisible();
      // Only a page that was really seen has something to report when it goes away.
      if (viewSent && !leaveSent) { leaveSent = true; beacon("leave", takeSeconds()); }
    }

    document.addEventListener("visibilitychange", function () {
      try { document.visibilityState === "visible" ? onVisible() : onHidden(); } catch (e) { /* ignore */ }
    });
    window.addEventListener("pagehide", function () { try { onHidden(); } catch (e) { /* ignore */ } });
    window.addEventListener("pageshow", function (event) {
      // Back/forward cache: the same page load comes back; resume timing without a new view.
      try { if (event.persisted && document.visibilityState === "visible") onVisible(); } catch (e) { /* ignore */ }
    });

    document.addEventListener("click", function (event) {
      try {
        var el = event.target && event.target.closest ? event.target.closest("[data-cta]") : null;
        if (el) send("cta_click", 0, String(el.getAttribute("data-cta") || "").slice(0, 64));
      } catch (e) { /* ignore */ }
    }, true);

    function sectionSeen(name) {
      if (!name || seenSections[name]) return;
      seenSections[name] = true;
      if (document.visibilityState === "visible" && viewSent) send("section", 0, name);
      else pendingSections.push(name);
    }

    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(function (entries) {
        try {
          entries.forEach(function (entry) {
            if (!entry.isIntersecting) return;
            var viewport = entry.rootBounds ? entry.rootBounds.height : window.innerHeight;
            // Half the section, or half the screen for a section taller than the screen.
            if (entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= viewport * 0.5) {
              observer.unobserve(entry.target);
              sectionSeen(String(entry.target.getAttribute("data-section") || "").slice(0, 64));
            }
          });
        } catch (e) { /* ignore */ }
      }, { threshold: [0, 0.1, 0.25, 0.5, 0.75, 1] });
      Array.prototype.forEach.call(document.querySelectorAll("[data-section]"), function (el) { observer.observe(el); });
    }

    if (document.visibilityState === "visible") onVisible();
  } catch (e) { /* a tracker must never break the page */ }
})();
