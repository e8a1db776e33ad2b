// 单位批量启用: moves the progress bars of the batch pages. Each element
// with data-batch-url is refreshed from the JSON API (same origin, the
// session cookie) until its batch is closed. A detail page
// (data-reload-on-change) reloads itself when the batch's state changes, so
// that the server draws what the new state allows (the report link, the
// supplement form).
(function () {
  "use strict";
  var CLOSED = { completed: true, refused: true };

  function set(root, field, value) {
    var nodes = root.querySelectorAll('[data-field="' + field + '"]');
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = String(value);
    }
  }

  function watch(root) {
    var url = root.getAttribute("data-batch-url");
    var shownState = root.getAttribute("data-batch-state");
    var reload = root.getAttribute("data-reload-on-change") === "1";
    var row = root.closest("tr") || root.parentNode;
    var delay = 1000;

    function tick() {
      var request = new XMLHttpRequest();
      request.open("GET", url);
      request.setRequestHeader("Accept", "application/json");
      request.onload = function () {
        if (request.status !== 200) {
          setTimeout(tick, 5000);
          return;
        }
        var batch;
        try {
          batch = JSON.parse(request.responseText);
        } catch (e) {
          setTimeout(tick, 5000);
          return;
        }
        var p = batch.progress;
        var bar = root.querySelector("progress");
        if (bar) {
          bar.max = Math.max(p.rows_total, 1);
          bar.value = p.rows_done;
        }
        set(root, "percent", p.percent);
        set(root, "rows_done", p.rows_done);
        set(root, "rows_total", p.rows_total);
        set(root, "rows_succeeded", p.rows_succeeded);
        set(root, "rows_failed", p.rows_failed);
        set(root, "rows_activated", p.rows_activated);
        set(row, "status_label", batch.status_label);
        if (reload && shownState && batch.state !== shownState) {
          // Without the one-time notice of the address (?notice=…).
          window.location.replace(window.location.pathname);
          return;
        }
        if (CLOSED[batch.state]) {
          return;
        }
        // Quick while rows are being processed, slower while waiting for a clerk.
        var working = batch.state === "awaiting_processing" && !p.finished;
        setTimeout(tick, working ? 1000 : 2000);
      };
      request.onerror = function () {
        setTimeout(tick, 5000);
      };
      request.send();
    }
    setTimeout(tick, delay);
  }

  var roots = document.querySelectorAll("[data-batch-url]");
  for (var i = 0; i < roots.length; i++) {
    watch(roots[i]);
  }
})();
