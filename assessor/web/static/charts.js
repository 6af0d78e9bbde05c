// Draws every figure the server embedded as JSON (<script type="application/json" data-chart>)
// with the plotly.js the app itself serves: no CDN, no network beyond this host.
(function () {
  "use strict";
  document.querySelectorAll("script[data-chart]").forEach(function (node) {
    var target = document.getElementById(node.getAttribute("data-chart"));
    if (!target || !window.Plotly) return;
    var fig = JSON.parse(node.textContent);
    window.Plotly.newPlot(target, fig.data, fig.layout, {
      displaylogo: false,
      responsive: true,
      modeBarButtonsToRemove: ["sendDataToCloud"]
    }).then(function () { target.setAttribute("data-rendered", "1"); });
  });
})();
