// The print button of a page that has one (#print-codes: the backup codes): shown only when
// this script runs, and it opens the browser's print dialog. Served from /static/ (the CSP
// allows no inline script); the print stylesheet (portal.css, @media print) prints the codes
// without the page's header, footer and buttons.
"use strict";
(function () {
  var button = document.getElementById("print-codes");
  if (!button) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    window.print();
  });
})();
