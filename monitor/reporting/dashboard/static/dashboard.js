(function () {
  "use strict";
  // Filters: a changed menu applies at once; empty fields stay out of the URL, so links stay short.
  document.querySelectorAll("form.filters").forEach(function (form) {
    if (form.method !== "get") { return; }
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.requestSubmit(); });
    });
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name && el.value === "") { el.disabled = true; }
      });
    });
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.filters [disabled]").forEach(function (el) { el.disabled = false; });
  });
  document.body.setAttribute("data-dashboard-ready", "yes");
})();
