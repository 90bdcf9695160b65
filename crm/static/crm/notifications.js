/* Admin notifications: keep the sidebar's unread count fresh and toast each new one.
 * Loaded on every Unfold admin page (settings/unfold.py "SCRIPTS"). */
(function () {
  "use strict";
  var POLL_MS = 1500;
  var HIDDEN_POLL_MS = 15000;
  var LIST_PATH = /\/admin\/crm\/notification\/?$/;

  function start() {
    function findLink(selector) {
      return Array.prototype.find.call(document.querySelectorAll(selector), function (a) {
        return LIST_PATH.test(new URL(a.getAttribute("href"), location.href).pathname);
      });
    }
    var link = findLink("#nav-sidebar-apps a[href]") || findLink("a[href]");
    // No sidebar link: logged out, or not allowed to see notifications.
    if (!link) return;
    var endpoint = new URL(link.getAttribute("href"), location.href).pathname.replace(/\/?$/, "/") + "unread/";
    var seen = null; // ids already on screen; null until the first answer
    var timer = null;
    var stopped = false;

    function badge() {
      var el = document.getElementById("crm-unread-count");
      if (!el) {
        el = document.createElement("span");
        el.id = "crm-unread-count";
        el.setAttribute("aria-live", "polite");
        el.style.cssText = "display:none;background:#ef4444;color:#fff;border-radius:9px;min-width:18px;height:18px;" +
          "line-height:18px;padding:0 5px;font-size:11px;font-weight:600;text-align:center;margin-inline-start:auto";
        link.appendChild(el);
      }
      return el;
    }

    // Below 1280 px Unfold hides the sidebar: a bell beside the header's sidebar toggle carries the count too.
    function headerBell() {
      var el = document.getElementById("crm-unread-header");
      if (el) return el;
      var toggles = Array.prototype.filter.call(document.querySelectorAll('[x-on\\:click="sidebarToggle()"]'), function (t) {
        return !t.closest("#nav-sidebar");
      });
      if (!toggles.length) return null;
      el = document.createElement("a");
      el.id = "crm-unread-header";
      el.href = link.getAttribute("href");
      el.style.cssText = "display:none;align-items:center;gap:4px;margin-inline-start:12px;text-decoration:none;color:#ef4444";
      el.innerHTML = '<span class="material-symbols-outlined" style="font-size:20px">notifications_active</span>' +
        '<span style="background:#ef4444;color:#fff;border-radius:9px;min-width:18px;height:18px;line-height:18px;' +
        'padding:0 5px;font-size:11px;font-weight:600;text-align:center"></span>';
      var anchor = toggles[0].parentElement || toggles[0];
      anchor.parentElement.insertBefore(el, anchor.nextSibling);
      return el;
    }

    var baseTitle = document.title;
    function showCount(count) {
      var text = count > 99 ? "99+" : String(count);
      var title = count + " unread notification" + (count === 1 ? "" : "s");
      var el = badge();
      el.textContent = text;
      el.title = title;
      el.style.display = count > 0 ? "inline-block" : "none";
      var bell = headerBell();
      if (bell) {
        bell.lastChild.textContent = text;
        bell.title = title;
        // Only while the sidebar (and its badge) is out of sight.
        bell.style.display = count > 0 && link.offsetParent === null ? "inline-flex" : "none";
      }
      document.title = (count > 0 ? "(" + text + ") " : "") + baseTitle;
    }

    function toast(item) {
      var box = document.getElementById("crm-notification-toast");
      if (!box) {
        box = document.createElement("div");
        box.id = "crm-notification-toast";
        box.setAttribute("role", "status");
        box.style.cssText = "position:fixed;top:16px;right:16px;z-index:9999;display:flex;flex-direction:column;gap:8px;" +
          "max-width:min(380px,calc(100vw - 32px))";
        document.body.appendChild(box);
      }
      var card = document.createElement("a");
      card.href = item.open_url;
      card.setAttribute("data-notification-id", String(item.id));
      card.className = "bg-white border border-base-200 dark:bg-base-900 dark:border-base-700";
      card.style.cssText = "display:flex;gap:12px;align-items:flex-start;padding:12px 14px;border-radius:8px;" +
        "box-shadow:0 10px 30px rgba(0,0,0,.18);text-decoration:none;color:inherit;border-left:4px solid " +
        (item.kind === "hot_lead" ? "#ef4444" : "#3b82f6");
      var icon = document.createElement("span");
      icon.className = "material-symbols-outlined";
      icon.style.color = item.kind === "hot_lead" ? "#ef4444" : "#3b82f6";
      icon.textContent = item.kind === "hot_lead" ? "local_fire_department" : "notifications";
      var text = document.createElement("span");
      text.style.cssText = "font-size:14px;line-height:1.4";
      text.textContent = item.text;
      var close = document.createElement("button");
      close.type = "button";
      close.setAttribute("aria-label", "Dismiss");
      close.textContent = "\u00d7";
      close.style.cssText = "margin-left:auto;background:none;border:0;font-size:18px;line-height:1;cursor:pointer;color:#9ca3af";
      close.addEventListener("click", function (event) { event.preventDefault(); card.remove(); });
      card.appendChild(icon);
      card.appendChild(text);
      card.appendChild(close);
      box.insertBefore(card, box.firstChild);
      while (box.children.length > 3) box.removeChild(box.lastChild);
      setTimeout(function () { card.remove(); }, 20000);
    }

    function schedule() {
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(poll, document.visibilityState === "hidden" ? HIDDEN_POLL_MS : POLL_MS);
    }

    function poll() {
      fetch(endpoint, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          // 403: not allowed; a redirect means the session ended (the login page answered).
          if (response.status === 403 || response.redirected) { stopped = true; return null; }
          if (!response.ok) return null;
          return response.json();
        })
        .then(function (data) {
          if (!data || typeof data.count !== "number") return;
          showCount(data.count);
          var items = Array.isArray(data.items) ? data.items : [];
          if (seen === null) {
            // What was unread when the page opened is in the count, not toasted again.
            seen = {};
            items.forEach(function (item) { seen[item.id] = true; });
            return;
          }
          items.slice().reverse().forEach(function (item) {
            if (!seen[item.id]) { seen[item.id] = true; toast(item); }
          });
        })
        .catch(function () { /* offline for a moment: try again on the next tick */ })
        .then(schedule);
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && !stopped) { clearTimeout(timer); poll(); }
    });
    poll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
