(function () {
  "use strict";

  function tooltips() {
    var tip = document.getElementById("tip");
    document.querySelectorAll("[data-tip]").forEach(function (el) {
      el.addEventListener("mousemove", function (event) {
        tip.textContent = el.getAttribute("data-tip");
        tip.hidden = false;
        tip.style.left = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
        tip.style.top = event.clientY + 14 + "px";
      });
      el.addEventListener("mouseleave", function () { tip.hidden = true; });
    });
  }

  function cellValue(row, index) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-value");
    return raw !== null ? parseFloat(raw) : cell.textContent.trim().toLowerCase();
  }

  function sortable() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("th").forEach(function (th, index) {
        th.addEventListener("click", function () {
          var descending = th.getAttribute("aria-sort") !== "descending";
          table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", descending ? "descending" : "ascending");
          var body = table.tBodies[0];
          Array.prototype.slice.call(body.rows).sort(function (a, b) {
            var x = cellValue(a, index), y = cellValue(b, index);
            var order = x < y ? -1 : x > y ? 1 : 0;
            return descending ? -order : order;
          }).forEach(function (row) { body.appendChild(row); });
        });
      });
    });
  }

  function chartsDrawn() {
    var charts = document.querySelectorAll("svg.chart"), drawn = 0;
    charts.forEach(function (svg) {
      var box = svg.getBoundingClientRect();
      var marks = Array.prototype.filter.call(svg.querySelectorAll(".mark"), function (mark) {
        var b = mark.getBBox();
        return b.width > 0 && b.height > 0;
      });
      if (box.width > 0 && box.height > 0 && marks.length > 0) { drawn += 1; }
    });
    return [charts.length, drawn];
  }

  function ready() {
    tooltips();
    sortable();
    var counts = chartsDrawn();
    var body = document.body;
    body.setAttribute("data-charts", String(counts[0]));
    body.setAttribute("data-charts-drawn", String(counts[1]));
    body.setAttribute("data-script-errors", String(window.reportErrors.length));
    body.setAttribute("data-report-ready", "yes");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
