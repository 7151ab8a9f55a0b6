// Pemba console: progressive enhancement only; every page works without it.
// The organisation search filters the tree as you type (the form still submits
// to the server, which searches the same list).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var tree = document.getElementById(input.getAttribute("data-filter"));
    if (!tree) { return; }
    var items = Array.prototype.slice.call(tree.querySelectorAll("li[data-org]"));
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      // A match shows itself and its ancestors, so the tree stays readable.
      items.forEach(function (li) { li.hidden = q !== ""; });
      items.forEach(function (li) {
        if (q === "" || li.getAttribute("data-org").toLowerCase().indexOf(q) < 0) { return; }
        for (var n = li; n && n !== tree; n = n.parentElement) {
          if (n.tagName === "LI") { n.hidden = false; }
        }
      });
    });
  });
});
