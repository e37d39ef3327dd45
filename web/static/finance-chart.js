// The finance page's revenue chart: revenue per UTC day, one line per currency, drawn with
// uPlot from the figures the page carries in #revenue-chart's data-chart attribute.
(function () {
  "use strict";
  var COLOURS = ["#1f5fae", "#9a5b00", "#1b6b3a", "#a3161a", "#5b6776"];

  function draw() {
    var target = document.getElementById("revenue-chart");
    if (!target || typeof uPlot === "undefined") return;
    var chart = JSON.parse(target.getAttribute("data-chart"));
    var xs = chart.days.map(function (day) { return Date.parse(day + "T00:00:00Z") / 1000; });
    var series = [{ label: "Day (UTC)" }];
    var data = [xs];
    chart.series.forEach(function (one, index) {
      series.push({
        label: "Revenue " + one.currency,
        stroke: COLOURS[index % COLOURS.length],
        width: 2,
        points: { show: xs.length <= 31 },
        value: function (u, v) { return v == null ? "-" : v.toFixed(2) + " " + one.currency; },
      });
      data.push(one.revenue);
    });
    var width = Math.max(280, target.clientWidth);
    var plot = new uPlot({
      width: width,
      height: 240,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      series: series,
      axes: [{}, { size: 70 }],
    }, data, target);
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(280, target.clientWidth), height: 240 });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
