// Certa: the message list follows the mailbox in real time (issue 18 item 7).
// The server says "cambiamento" on /eventi when the box changes; the list and the folder
// tree are then fetched again (the same page) and swapped in, the ticked messages kept.
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var busy = false;
  var again = false;

  function ticked() {
    var out = {};
    document.querySelectorAll("section.list input[type=checkbox]:checked").forEach(function (c) {
      out[c.name + "=" + c.value] = true;
    });
    return out;
  }

  function swap(doc, selector) {
    var fresh = doc.querySelector(selector);
    var old = document.querySelector(selector);
    if (fresh && old) {
      old.replaceWith(document.importNode(fresh, true));
    }
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    var keep = ticked();
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        return r.ok && !r.redirected ? r.text() : null;
      })
      .then(function (html) {
        if (!html) {
          return;
        }
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (!doc.querySelector("section.list")) {
          return;
        }
        swap(doc, "section.list");
        swap(doc, "nav.folders");
        swap(doc, "div.quota");
        document.querySelectorAll("section.list input[type=checkbox]").forEach(function (c) {
          if (keep[c.name + "=" + c.value]) {
            c.checked = true;
          }
        });
        document.body.setAttribute("data-live-updates",
          String(Number(document.body.getAttribute("data-live-updates") || "0") + 1));
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  // Opened once the page has been looked at for a moment: a page left at once (a click
  // through to the next) never holds a connection.
  window.setTimeout(function () {
    var events = new EventSource("/eventi");
    events.addEventListener("cambiamento", refresh);
    window.addEventListener("pagehide", function () { events.close(); });
    document.body.setAttribute("data-live", "on");
  }, 1000);
})();
