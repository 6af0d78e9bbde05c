// Sorts tables with class "sortable" in the browser by each cell's data-sort value.
// The header links still work without JavaScript: the server sorts by ?sort=&dir=.
(function () {
  "use strict";
  function value(cell, numeric) {
    var raw = cell ? cell.getAttribute("data-sort") : "";
    if (raw === null || raw === "") return null;
    if (numeric) {
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw;
  }
  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-type") === "num";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[index], numeric), y = value(b.cells[index], numeric);
      if (x === null && y === null) return 0;
      if (x === null) return 1;  // empty cells last, whichever direction
      if (y === null) return -1;
      var c = numeric ? x - y : String(x).localeCompare(String(y), document.documentElement.lang);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th) {
      var link = th.querySelector("a.sort");
      if (!link) return;
      link.addEventListener("click", function (ev) {
        ev.preventDefault();
        sortBy(table, th);
      });
    });
  });
})();
