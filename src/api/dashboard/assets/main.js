// rxpool dashboard: start-up. Loads the pool's /config once (fees, payout minimum, maturity),
// wires the header (theme switch), and renders the view the fragment names, again whenever the
// fragment changes. Runs last, after the views have registered their routes.
"use strict";

(function () {
  // Opened as ".../prefix" without the trailing slash, the relative URLs would resolve one
  // level up: add it (the reverse proxy serves the page at "prefix/").
  if (!location.pathname.endsWith("/") && !location.pathname.endsWith(".html")) {
    location.replace(location.pathname + "/" + location.search + location.hash);
    return;
  }
  RX.applyTheme();
  document.getElementById("theme").addEventListener("click", RX.toggleTheme);
  window.addEventListener("hashchange", RX.render);
  RX.get("config").then(function (config) {
    RX.config = config;
  }).catch(function () {
    RX.config = null;
  }).finally(RX.render);
})();
