// rxpool dashboard: start-up. Loads the pool's /config once (fees, payout minimum, maturity),
// wires the header (theme switch), and renders the view the fragment names, again whenever the
// fragment changes. Runs last, after the views have registered their routes.
"use strict";

(function () {
  RX.applyTheme();
  document.getElementById("theme").addEventListener("click", RX.toggleTheme);
  window.addEventListener("hashchange", RX.render);
  RX.get("config").then(function (config) {
    RX.config = config;
  }).catch(function () {
    RX.config = null;
  }).finally(RX.render);
})();
