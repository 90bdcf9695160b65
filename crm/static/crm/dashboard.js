/* The dashboard (templates/admin/index.html): a click on a chart segment opens the admin list
 * behind it (data-chart-links: one URL per dataset and label, set by crm/admin/dashboard.py), and
 * picking a preset range clears the custom dates (custom dates win when both are sent). */
(function () {
  "use strict";

  function linkCharts() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("[data-chart-links]").forEach(function (wrapper) {
      var canvas = wrapper.querySelector("canvas");
      var chart = canvas && Chart.getChart(canvas);
      var links = JSON.parse(wrapper.getAttribute("data-chart-links") || "[]");
      if (!chart || !links.length) return;
      chart.options.onClick = function (event, elements) {
        if (!elements.length) return;
        var row = links[elements[0].datasetIndex] || [];
        if (row[elements[0].index]) window.location.href = row[elements[0].index];
      };
      chart.options.onHover = function (event, elements) {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      };
      chart.update();
    });
  }

  function presetClearsDates() {
    var preset = document.getElementById("range-preset");
    if (!preset) return;
    preset.addEventListener("change", function () {
      document.getElementById("range-start").value = "";
      document.getElementById("range-end").value = "";
    });
  }

  window.addEventListener("load", function () {
    presetClearsDates();
    // Unfold draws its charts on load too; link them once they exist.
    window.setTimeout(linkCharts, 0);
  });
})();
