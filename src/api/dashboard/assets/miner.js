// rxpool dashboard: the miner views. `#/miner` asks for an address (and offers the last one
// used on this browser, kept in localStorage); `#/miner/:address` shows that miner's figures,
// workers, charts, payouts and block credits live (RX.live), and its settings: the payout
// threshold (POST user/updateThreshold) and e-mail alerts (POST user/subscribeEmail, a double
// opt-in: the api only ever sends a confirmation link). The address may be a standard address,
// a subaddress, an integrated address or ADDRESS.<16-hex payment id>; the api parses it and
// its refusal is shown in words.
"use strict";

(function () {
  const h = RX.h;
  const MINER_KEY = "rxpool.miner";
  const MODE_NAMES = { pplns: "PPLNS", pps: "PPS", solo: "Solo" };
  function modeName(mode) {
    return MODE_NAMES[mode] || String(mode || "—");
  }
  function card(parent, title, id) {
    const body = h("div", { id: id });
    parent.append(h("section", { class: "card" }, h("h2", {}, title), body));
    return body;
  }
  function topicError(target) {
    return function (message) {
      RX.fill(target, RX.error({ message: message }));
    };
  }
  function markRows(target, rows, dataset) {
    const body = target.querySelector("tbody");
    if (!body) return;
    Array.prototype.forEach.call(body.children, function (tr, i) { Object.assign(tr.dataset, dataset(rows[i])); });
  }
  // A form's answer line: the api's message, or its error.
  function answer(target, text, ok) {
    target.className = ok ? "answer ok" : "answer error";
    target.setAttribute("role", ok ? "status" : "alert");
    target.textContent = text;
  }

  // ---- #/miner ----------------------------------------------------------------------------
  function addressForm(main, initial) {
    const input = h("input", { type: "text", class: "address", id: "miner-address", name: "address", autocomplete: "off",
      spellcheck: "false", required: true, placeholder: "4… / 8… or ADDRESS.0123456789abcdef" });
    input.value = initial || "";
    const form = h("form", { id: "miner-form", onsubmit: function (e) {
      e.preventDefault();
      const address = input.value.trim();
      if (address) RX.go("#/miner/" + encodeURIComponent(address));
    } },
    h("label", { class: "grow", for: "miner-address" }, "Your Monero address", input),
    h("button", { type: "submit" }, "Show my stats"));
    main.append(h("section", { class: "card" }, h("h2", {}, "Look up a miner"), form,
      h("p", { class: "muted" }, "A standard address, a subaddress, an integrated address, or an address with a payment id as ADDRESS.0123456789abcdef — as you logged in.")));
    return input;
  }

  RX.route("/miner", async function (main) {
    main.append(h("h1", {}, "My stats"));
    const last = localStorage.getItem(MINER_KEY);
    const input = addressForm(main, "");
    if (last) {
      main.append(h("section", { class: "card", id: "miner-last" }, h("h2", {}, "Last used on this browser"),
        h("p", {}, h("a", { href: "#/miner/" + encodeURIComponent(last), class: "address-link" }, last)),
        h("button", { type: "button", class: "ghost", onclick: function () {
          localStorage.removeItem(MINER_KEY);
          RX.render();
        } }, "Forget it")));
    }
    input.focus();
  }, { title: "My stats" });

  // ---- #/miner/:address -------------------------------------------------------------------
  function minerStats(target, s) {
    RX.fill(target, [
      RX.stat("Hashrate", RX.hashrate(s.hash, "miner-hashrate"), "over the last 10 minutes"),
      RX.stat("Balance due", RX.xmr(s.amtDue, "miner-due")),
      RX.stat("Total paid", RX.xmr(s.amtPaid, "miner-paid"), h("span", {}, RX.num(s.txnCount, "miner-payouts"), " payouts")),
      RX.stat("Total hashes", RX.num(s.totalHashes, "miner-total-hashes")),
      RX.stat("Last share", RX.time(s.lastHash, "miner-last-share")),
      RX.stat("Valid shares", RX.num(s.validShares, "miner-valid")),
      RX.stat("Invalid shares", RX.num(s.invalidShares, "miner-invalid")),
    ]);
  }

  function workerTable(target, all) {
    const rows = Object.keys(all || {}).filter(function (k) { return k !== "global"; }).sort()
      .map(function (name) { return Object.assign({ name: name }, all[name]); });
    RX.fill(target, RX.table([
      { label: "Worker", class: "wrap", cell: function (w) { return h("span", { class: "worker-name", dataset: { field: "worker-name", value: w.name } }, w.name); } },
      { label: "Hashrate", cell: function (w) { return RX.hashrate(w.hash, "worker-hashrate"); } },
      { label: "Last share", cell: function (w) { return RX.time(w.lts, "worker-last-share"); } },
      { label: "Valid shares", cell: function (w) { return RX.num(w.validShares, "worker-valid"); } },
      { label: "Invalid shares", cell: function (w) { return RX.num(w.invalidShares, "worker-invalid"); } },
      { label: "Total hashes", cell: function (w) { return RX.num(w.totalHash, "worker-total-hashes"); } },
    ], rows, "No worker has sent a share in the last 30 minutes."));
    markRows(target, rows, function (w) { return { worker: w.name }; });
    return rows.map(function (w) { return w.name; });
  }

  // The hashrate chart: the miner's total or one worker's, over the last hour or day (the api
  // serves one-minute points over general.statsBufferLength, 24 h by default).
  function hashrateChart(parent, base) {
    const section = h("section", { class: "card" });
    parent.append(section);
    const workerTabs = h("div", { class: "tabs", role: "group", "aria-label": "Which worker" });
    const rangeTabs = h("div", { class: "tabs", role: "group", "aria-label": "Chart range" });
    section.append(h("div", { class: "card-head" }, h("h2", {}, "Hashrate"), rangeTabs), workerTabs);
    const box = h("div", { class: "chart-box" });
    section.append(box, h("p", { class: "muted chart-note" }, "One point a minute."));
    const chart = RX.chart(box, { title: "Hashrate", unit: "H/s", times: [], series: [{ label: "Hashrate", values: [] }] });
    let data = {};
    let who = "global";
    let seconds = 3600;
    function draw() {
      const points = data[who] || [];
      // The range's ends as gaps, so the axis spans the chosen range however few points.
      const now = Math.floor(Date.now() / 1000);
      const since = now - seconds;
      const times = [since];
      const values = [null];
      for (let i = points.length - 1; i >= 0; i--) {
        const t = Number(points[i].ts) / 1000;
        if (t <= since || t >= now) continue;
        times.push(t);
        values.push(Number(points[i].hs));
      }
      times.push(now);
      values.push(null);
      chart.update({ times: times, series: [{ values: values }] });
      box.dataset.points = String(times.length - 2);
      for (const b of workerTabs.children) b.setAttribute("aria-pressed", String(b.dataset.worker === who));
      for (const b of rangeTabs.children) b.setAttribute("aria-pressed", String(Number(b.dataset.seconds) === seconds));
    }
    [["Hour", 3600], ["Day", 86400]].forEach(function (r) {
      rangeTabs.append(h("button", { type: "button", dataset: { seconds: String(r[1]) }, "aria-pressed": "false",
        onclick: function () { seconds = r[1]; draw(); } }, r[0]));
    });
    RX.live(base + "/chart/hashrate/allWorkers", function (all) {
      data = all || {};
      const names = ["global"].concat(Object.keys(data).filter(function (k) { return k !== "global"; }).sort());
      if (!names.includes(who)) who = "global";
      const have = Array.prototype.map.call(workerTabs.children, function (b) { return b.dataset.worker; }).join("\n");
      if (have !== names.join("\n")) {
        workerTabs.replaceChildren(...names.map(function (name) {
          return h("button", { type: "button", dataset: { worker: name }, "aria-pressed": "false",
            onclick: function () { who = name; draw(); } }, name === "global" ? "All workers" : name);
        }));
      }
      draw();
    }, topicError(box));
    draw();
  }

  function paymentTable(target, rows) {
    RX.fill(target, RX.table([
      { label: "Sent", cell: function (p) { return RX.time(p.ts, "payout-time"); } },
      { label: "Amount", cell: function (p) { return RX.xmr(p.amount, "payout-amount"); } },
      { label: "Mode", cell: function (p) { return modeName(p.pt); } },
      { label: "Transaction", cell: function (p) { return RX.hash(p.txnHash, "payout-tx"); } },
    ], rows, "No payout yet: one is sent when the balance due reaches the payout threshold."));
  }

  function blockPaymentTable(target, rows) {
    RX.fill(target, RX.table([
      { label: "Height", cell: function (b) { return RX.num(b.height, "credit-height"); } },
      { label: "Block", cell: function (b) { return RX.hash(b.hash, "credit-hash"); } },
      { label: "Found", cell: function (b) { return RX.time(b.ts_found, "credit-found"); } },
      { label: "Credited", cell: function (b) { return RX.time(b.ts, "credit-time"); } },
      { label: "Mode", cell: function (b) { return modeName(b.pool_type); } },
      { label: "Your part", cell: function (b) { return RX.percent(Number(b.value_percent) / 100, "credit-percent"); } },
      { label: "Credit", cell: function (b) { return RX.xmr(b.value, "credit-amount"); } },
    ], rows, "No block has been credited to you yet."));
  }

  function settings(parent, address) {
    let reload = function () {};
    const section = h("section", { class: "card", id: "miner-settings" }, h("h2", {}, "Settings"));
    parent.append(section);
    const current = h("div", { class: "stats" });
    section.append(current);

    // Payout threshold.
    const threshold = h("input", { type: "text", id: "threshold", name: "threshold", inputmode: "decimal",
      autocomplete: "off", placeholder: "0.5" });
    const thresholdAnswer = h("p", { class: "answer", id: "threshold-answer", "aria-live": "polite" });
    const thresholdButton = h("button", { type: "submit" }, "Set threshold");
    const min = RX.config ? RX.config.min_wallet_payout : null;
    section.append(h("h3", {}, "Payout threshold"),
      h("form", { id: "threshold-form", onsubmit: async function (e) {
        e.preventDefault();
        const value = threshold.value.trim();
        if (!value) return;
        thresholdButton.disabled = true;
        try {
          const reply = await RX.request("user/updateThreshold", { method: "POST", body: { username: address, threshold: value } });
          answer(thresholdAnswer, reply && reply.msg ? reply.msg : "Threshold updated.", true);
          reload();
        } catch (err) {
          answer(thresholdAnswer, err.message, false);
        } finally {
          thresholdButton.disabled = false;
        }
      } },
      h("label", { for: "threshold" }, "New threshold in XMR", threshold), thresholdButton),
      h("p", { class: "muted" }, "You are paid once your balance due reaches it", min !== null && min !== undefined ?
        h("span", {}, " (at least ", RX.xmr(min, "threshold-min"), ")") : null, "."),
      thresholdAnswer);

    // E-mail alerts.
    const to = h("input", { type: "email", id: "email-to", name: "to", autocomplete: "email", placeholder: "you@example.org" });
    const from = h("input", { type: "email", id: "email-from", name: "from", autocomplete: "off", placeholder: "only to change a confirmed address" });
    const emailAnswer = h("p", { class: "answer", id: "email-answer", "aria-live": "polite" });
    async function send(body, button) {
      button.disabled = true;
      try {
        const reply = await RX.request("user/subscribeEmail", { method: "POST", body: Object.assign({ username: address }, body) });
        answer(emailAnswer, reply && reply.msg ? reply.msg : "Done.", true);
        reload();
      } catch (err) {
        answer(emailAnswer, err.message, false);
      } finally {
        button.disabled = false;
      }
    }
    const subscribe = h("button", { type: "submit" }, "Send confirmation link");
    const on = h("button", { type: "button", class: "secondary", onclick: function () { send({ enabled: true }, on); } }, "Turn alerts on");
    const off = h("button", { type: "button", class: "secondary", onclick: function () { send({ enabled: false }, off); } }, "Turn alerts off");
    section.append(h("h3", {}, "E-mail alerts"),
      h("p", { class: "muted" }, "Alerts tell you when a worker stops or resumes and when a payout is sent. " +
        "The address you give is sent a confirmation link first; nothing else goes to it until you open that link."),
      h("form", { id: "email-form", onsubmit: function (e) {
        e.preventDefault();
        if (to.value.trim()) send({ to: to.value.trim(), from: from.value.trim() }, subscribe);
      } },
      h("label", { for: "email-to" }, "E-mail address", to),
      h("label", { for: "email-from" }, "Current address (when changing it)", from),
      subscribe),
      h("div", { class: "buttons" }, on, off),
      emailAnswer);

    // /user/* is not a websocket topic (the api keeps settings off the push): read once, and
    // again after each change made here.
    async function load() {
      let u;
      try {
        u = await RX.get("user/" + encodeURIComponent(address));
      } catch (err) {
        RX.fill(current, RX.error(err));
        return;
      }
      RX.fill(current, [
        RX.stat("Payout threshold", RX.xmr(u.payout_threshold, "miner-threshold"),
          u.payout_threshold_lock ? "locked by the pool operator" : null),
        RX.stat("E-mail alerts", h("strong", { dataset: { field: "miner-email", value: String(u.email_enabled) } },
          u.email_enabled ? "on (confirmed address)" : "off")),
      ]);
      threshold.disabled = !!u.payout_threshold_lock;
      thresholdButton.disabled = !!u.payout_threshold_lock;
      threshold.placeholder = RX.xmrExact(u.payout_threshold);
    }
    reload = load;
    load();
  }

  RX.route("/miner/:address", async function (main, params) {
    const address = params.address.trim();
    const base = "/miner/" + encodeURIComponent(address);
    main.append(h("h1", {}, "Miner"), h("p", { class: "address-line" }, h("code", { class: "address-text", dataset: { field: "miner-address", value: address } }, address)));
    // Checked once by REST first, so that an address the api refuses is said in words.
    let first;
    try {
      first = await RX.get(base.slice(1) + "/stats");
    } catch (e) {
      main.append(h("section", { class: "card", id: "miner-refused" }, RX.error(e),
        h("p", {}, "Check the address (as you typed it in your miner's login), or ", h("a", { href: "#/miner" }, "look up another"), ".")));
      addressForm(main, address);
      return;
    }
    localStorage.setItem(MINER_KEY, address);
    const stats = h("div", { class: "stats", id: "miner-stats" });
    main.append(stats);
    minerStats(stats, first);
    RX.live(base + "/stats", function (s) { minerStats(stats, s); }, topicError(stats));

    const workers = card(main, "Workers", "miner-workers");
    RX.live(base + "/stats/allWorkers", function (all) { workerTable(workers, all); }, topicError(workers));
    hashrateChart(main, base);

    const grid = h("div", { class: "grid" });
    main.append(grid);
    const payouts = card(grid, "Payouts", "miner-payouts-list");
    RX.live(base + "/payments", function (rows) { paymentTable(payouts, rows || []); }, topicError(payouts));
    const credits = card(grid, "Block credits", "miner-credits");
    RX.live(base + "/block_payments", function (rows) { blockPaymentTable(credits, rows || []); }, topicError(credits));

    settings(main, address);
  }, { title: "Miner" });
})();
