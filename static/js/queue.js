// The review queue: the "Time left" cells count down every 30 s from their data-due, and after
// a while the page offers to reload (new requests may have arrived). The strict CSP allows no
// inline script: the words (translated) and the server's clock come from data- attributes of
// table#queue, the same words as requests_app.notifications.format_duration.
(function () {
  "use strict";

  var table = document.getElementById("queue");
  if (!table) return;
  var words = table.dataset;
  // The reader's clock may be off: count from the server's time when the page was made.
  var skew = Date.parse(words.now) - Date.now();
  if (isNaN(skew)) skew = 0;

  function fill(text, name, value) {
    return text.replace("%(" + name + ")s", String(value));
  }

  function duration(ms) {
    var minutes = Math.floor(ms / 60000);
    var overdue = minutes < 0;
    minutes = Math.abs(minutes);
    var days = Math.floor(minutes / 1440);
    var rest = minutes % 1440;
    var hours = Math.floor(rest / 60);
    var parts = [];
    if (days) parts.push(fill(words.days, "days", days));
    if (hours || days) parts.push(fill(words.hours, "hours", hours));
    parts.push(fill(words.minutes, "minutes", rest % 60));
    var text = parts.join(" ");
    return overdue ? fill(words.overdue, "duration", text) : fill(words.left, "duration", text);
  }

  function tick() {
    var now = Date.now() + skew;
    var cells = table.querySelectorAll("td.time-left[data-due]");
    for (var i = 0; i < cells.length; i++) {
      var badge = cells[i].querySelector(".status-badge");
      var due = Date.parse(cells[i].dataset.due);
      if (!badge || isNaN(due)) continue;
      var left = due - now;
      var seconds = left / 1000;
      badge.textContent = duration(left);
      badge.classList.remove("status-ok", "status-warn", "status-bad");
      badge.classList.add(
        seconds < 3600 ? "status-bad" : seconds < 86400 ? "status-warn" : "status-ok"
      );
    }
  }

  tick();
  window.setInterval(tick, 30000);

  var reload = document.getElementById("queue-reload");
  if (reload) {
    var after = parseInt(reload.dataset.after, 10) || 300;
    window.setTimeout(function () {
      reload.hidden = false;
    }, after * 1000);
  }
})();
