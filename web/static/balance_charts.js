/* The balance history's charts: each element with a data-chart attribute (JSON: label, kind
   "line" or "bars", days as UTC midnights in seconds, values) is drawn with uPlot, in UTC, at
   its container's width, and redrawn when the window is resized. */
(function () {
  "use strict";

  var HEIGHT = 240;
  var HALF_DAY = 43200;

  function options(spec, width) {
    var series = { label: spec.label, stroke: "#1f5fae", width: 2 };
    if (spec.kind === "bars") {
      series.fill = "rgba(31, 95, 174, 0.35)";
      series.paths = uPlot.paths.bars({ size: [0.6, 40] });
      series.points = { show: false };
    }
    return {
      width: width,
      height: HEIGHT,
      tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"); },
      legend: { show: false },
      cursor: { show: false },
      scales: {
        // Half a day either side, so the first and last days' bars are drawn whole.
        x: { time: true, range: function (u, min, max) { return [min - HALF_DAY, max + HALF_DAY]; } },
        y: { range: function (u, min, max) { return [0, Math.max(1, max) * 1.1]; } }
      },
      axes: [{}, { size: 70 }],
      series: [{}, series]
    };
  }

  function draw(element) {
    var spec = JSON.parse(element.dataset.chart);
    var plot = new uPlot(options(spec, element.clientWidth), [spec.days, spec.values], element);
    element.dataset.drawn = "true";
    window.addEventListener("resize", function () {
      plot.setSize({ width: element.clientWidth, height: HEIGHT });
    });
  }

  document.querySelectorAll("[data-chart]").forEach(draw);
})();
