// The idle-timeout warning: PORTAL_SESSION_WARN_SECONDS before the session would end, the page
// says "You will be signed out in N minutes" with "Stay signed in", which posts (CSRF token
// from the page) to the keep-alive URL; that request needs the login and second factor like
// any page, so an ended session cannot be revived from here. Served from /static/ (the CSP
// allows no inline script); the times and the translated words come from data- attributes.
(function () {
  "use strict";
  var box = document.getElementById("session-warning");
  if (!box) return;
  var text = document.getElementById("session-warning-text");
  var stay = document.getElementById("session-stay");
  var warnMs = parseInt(box.getAttribute("data-warn-seconds"), 10) * 1000;
  var endsAt = Date.now() + parseInt(box.getAttribute("data-seconds-left"), 10) * 1000;
  var shown = "";

  function say(words) {
    if (words !== shown) {
      text.textContent = words;
      shown = words;
    }
  }

  function tick() {
    var left = endsAt - Date.now();
    if (left <= 0) {
      say(box.getAttribute("data-ended"));
      stay.hidden = true;
      box.hidden = false;
    } else if (left <= warnMs) {
      var minutes = Math.ceil(left / 60000);
      say(
        minutes === 1
          ? box.getAttribute("data-warn-one")
          : box.getAttribute("data-warn-many").replace("__N__", String(minutes))
      );
      stay.hidden = false;
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  stay.addEventListener("click", function () {
    stay.disabled = true;
    fetch(box.getAttribute("data-keep-alive-url"), {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual", // an ended session answers with the login page: not a renewal
      headers: { "X-CSRFToken": box.getAttribute("data-csrf"), Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("session ended");
        return response.json();
      })
      .then(function (answer) {
        endsAt = Date.now() + answer.seconds_left * 1000;
      })
      .catch(function () {
        endsAt = Date.now();
      })
      .then(function () {
        stay.disabled = false;
        tick();
      });
  });

  tick();
  window.setInterval(tick, 10000);
})();
