// Destructive actions ask before they post: a form with data-confirm="question" submits only
// when the reader confirms. Served from /static/ (the CSP allows no inline script); without
// JavaScript the form posts as before, and the services still refuse what is not allowed.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form instanceof HTMLFormElement ? form.getAttribute("data-confirm") : null;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
