// rxpool dashboard: the pool views. `#/` is the overview a visitor lands on (pool and network
// figures, fees and payout rules, the payout modes the pool runs, hashrate and miner charts,
// recent blocks and payouts, the operator's message); `#/start` turns the ports and a
// visitor's address into an xmrig command line and config.json fragment in the login format
// the pool parses (src/pool/login.rs). Every figure comes from an RX.live subscription, so the
// page follows the pool without reloads or polling. Reads only public routes; writes nothing.
"use strict";

(function () {
  const h = RX.h;

  // ---- shared bits ----------------------------------------------------------------------
  // A fee as /config gives it (a number of percent, 0.6 = 0.6 %), exact in data-value.
  function feePercent(value, field) {
    const el = RX.num(value, field);
    el.append(" %");
    return el;
  }
  // An effort in basis points (10,000 = one block's expected work) as a percentage.
  function effort(bps, field) {
    return RX.percent(Number(bps) / 10000, field);
  }
  function statusBadge(status, field) {
    return h("span", { class: "status status-" + status, dataset: { field: field, value: status } }, status);
  }
  const MODE_NAMES = { pplns: "PPLNS", pps: "PPS", solo: "Solo" };
  function modeName(mode) {
    return MODE_NAMES[mode] || String(mode || "—");
  }
  // A card with a heading, appended to `parent`; returns its body element.
  function card(parent, title, id) {
    const body = h("div", { id: id });
    parent.append(h("section", { class: "card" }, title ? h("h2", {}, title) : null, body));
    return body;
  }
  function topicError(target) {
    return function (message) {
      RX.fill(target, RX.error({ message: message }));
    };
  }

  // ---- overview ---------------------------------------------------------------------------
  // What each payout mode means, for the modes pool_list names.
  function modeExplanation(mode, config) {
    const fee = config ? config[mode + "_fee"] : null;
    const feeNode = fee === null || fee === undefined ? "—" : feePercent(fee, "fee-" + mode);
    const texts = {
      pplns: ["PPLNS (pay per last N shares): when the pool finds a block, its reward minus the fee of ",
        " is shared among the miners of the last shares before it, in proportion to their work. " +
        "Payouts follow the pool's luck: nothing while no block is found, more after lucky rounds."],
      pps: ["PPS (pay per share): every accepted share is paid its expected value at once, minus the fee of ",
        ", whether or not the pool finds a block. The pool carries the luck."],
      solo: ["Solo: you mine alone through the pool. A block you find pays you its whole reward minus the fee of ",
        "; shares earn nothing until then. Only for large hashrates, or for the patient."],
    };
    const t = texts[mode];
    if (!t) return null;
    return h("div", { class: "mode", dataset: { mode: mode } },
      h("h3", {}, modeName(mode)), h("p", {}, t[0], feeNode, t[1]));
  }

  function poolStats(target, data) {
    const s = data.pool_statistics || {};
    RX.fill(target, [
      RX.stat("Pool hashrate", RX.hashrate(s.hashRate, "pool-hashrate"), "over the last 10 minutes"),
      RX.stat("Miners", RX.num(s.miners, "pool-miners")),
      RX.stat("Workers", RX.num(s.workers, "pool-workers")),
      RX.stat("Blocks found", RX.num(s.totalBlocksFound, "pool-blocks-found")),
      RX.stat("Last block found", RX.time(s.lastBlockFoundTime, "pool-last-block-time"),
        s.lastBlockFound ? h("span", {}, "at height ", RX.num(s.lastBlockFound, "pool-last-block-height")) : null),
      RX.stat("Current round effort", effort(s.effort, "pool-effort"),
        "100 % = a block's expected work"),
      RX.stat("Miners paid", RX.num(s.totalMinersPaid, "pool-miners-paid")),
      RX.stat("Payouts", RX.num(s.totalPayments, "pool-payments"),
        h("span", {}, "last ", RX.time(data.last_payment, "pool-last-payment"))),
    ]);
  }

  function networkStats(target, n) {
    const difficulty = n.difficulty;
    const known = difficulty !== undefined && difficulty !== null;
    RX.fill(target, [
      RX.stat("Network height", RX.num(n.height, "network-height")),
      RX.stat("Network difficulty", RX.num(known ? difficulty : null, "network-difficulty")),
      RX.stat("Network hashrate", RX.hashrate(known ? Math.round(Number(difficulty) / 120) : undefined, "network-hashrate"),
        "difficulty / 120 s block time"),
      RX.stat("Last block reward", RX.xmr(n.value, "network-reward")),
      RX.stat("Last network block", RX.time(n.ts, "network-time")),
    ]);
  }

  function payoutRules(target, config, modes) {
    if (!config) {
      RX.fill(target, h("p", { class: "muted" }, "The pool's settings are not available."));
      return;
    }
    const fees = (modes && modes.length ? modes : ["pplns", "pps", "solo"]).map(function (m) {
      return RX.stat(modeName(m) + " fee", feePercent(config[m + "_fee"], "fee-" + m));
    });
    RX.fill(target, [
      h("div", { class: "stats" },
        fees,
        RX.stat("Minimum payout", RX.xmr(config.min_wallet_payout, "payout-min"),
          "you may choose a higher threshold on your miner page"),
        RX.stat("Minimum payout (exchanges, integrated addresses)", RX.xmr(config.min_exchange_payout, "payout-min-exchange")),
        RX.stat("Block maturity", RX.num(config.maturity_depth, "maturity-depth"),
          "blocks before a found block is credited"),
        Number(config.dev_donation) > 0 ? RX.stat("Donation to rxpool's developers", feePercent(config.dev_donation, "dev-donation"), "part of the fee") : null),
      h("div", { class: "modes" }, (modes || []).map(function (m) { return modeExplanation(m, config); })),
    ]);
  }

  function blockRows(target, blocks) {
    RX.fill(target, RX.table([
      { label: "Height", cell: function (b) { return RX.num(b.height, "block-height"); } },
      { label: "Hash", cell: function (b) { return RX.hash(b.hash, "block-hash"); } },
      { label: "Found", cell: function (b) { return RX.time(b.ts, "block-time"); } },
      { label: "Effort", cell: function (b) { return effort(b.effort, "block-effort"); } },
      { label: "Reward", cell: function (b) { return RX.xmr(b.value, "block-reward"); } },
      { label: "Mode", cell: function (b) { return modeName(b.pool_type); } },
      { label: "Status", cell: function (b) { return statusBadge(b.status, "block-status"); } },
    ], blocks, "No block found yet."));
    markRows(target, blocks, function (b) { return { height: String(b.height) }; });
  }

  function paymentRows(target, payments) {
    RX.fill(target, RX.table([
      { label: "Sent", cell: function (p) { return RX.time(p.ts, "payment-time"); } },
      { label: "Amount", cell: function (p) { return RX.xmr(p.value, "payment-amount"); } },
      { label: "Payees", cell: function (p) { return RX.num(p.payees, "payment-payees"); } },
      { label: "Network fee", cell: function (p) { return RX.xmr(p.fee, "payment-fee"); } },
      { label: "Mode", cell: function (p) { return modeName(p.pool_type); } },
      { label: "Transaction", cell: function (p) { return RX.hash(p.hash, "payment-tx"); } },
    ], payments, "No payout sent yet."));
  }

  // Puts `dataset(row)` on each body row of the table in `target` (so a row can be found).
  function markRows(target, rows, dataset) {
    const body = target.querySelector("tbody");
    if (!body) return;
    Array.prototype.forEach.call(body.children, function (tr, i) { Object.assign(tr.dataset, dataset(rows[i])); });
  }

  // The chart ranges the api has: one-minute points over general.statsBufferLength (24 h by
  // default), hourly points over worker.historyDays (30 days by default).
  const RANGES = [
    { id: "hour", label: "Hour", query: "", seconds: 3600 },
    { id: "day", label: "Day", query: "", seconds: 86400 },
    { id: "month", label: "Month", query: "?resolution=hour", seconds: 31 * 86400 },
  ];

  // Oldest first, within `seconds` of now: [times (unix s), values]. The range's ends are
  // added as gaps (null), so the axis spans the chosen range however few points there are.
  function series(points, key, seconds) {
    const now = Math.floor(Date.now() / 1000);
    const since = now - seconds;
    const times = [since];
    const values = [null];
    for (let i = (points || []).length - 1; i >= 0; i--) {
      const t = Number(points[i].ts) / 1000;
      if (t < since) continue;
      if (t <= since || t >= now) continue;
      times.push(t);
      values.push(Number(points[i][key]));
    }
    times.push(now);
    values.push(null);
    return [times, values];
  }

  function poolCharts(parent) {
    const section = h("section", { class: "card" });
    parent.append(section);
    const tabs = h("div", { class: "tabs", role: "group", "aria-label": "Chart range" });
    const note = h("p", { class: "muted chart-note" });
    section.append(h("div", { class: "card-head" }, h("h2", {}, "Pool hashrate and miners"), tabs));
    const grid = h("div", { class: "grid" });
    section.append(grid, note);
    const hashBox = h("div", { class: "chart-box" });
    const minerBox = h("div", { class: "chart-box" });
    grid.append(h("div", {}, h("h3", {}, "Hashrate"), hashBox), h("div", {}, h("h3", {}, "Miners"), minerBox));
    const hashChart = RX.chart(hashBox, { title: "Pool hashrate", unit: "H/s", times: [], series: [{ label: "Hashrate", values: [] }] });
    const minerChart = RX.chart(minerBox, { title: "Pool miners", unit: "", times: [], series: [{ label: "Miners", values: [] }] });
    let stops = [];
    function show(range) {
      stops.forEach(function (stop) { stop(); });
      for (const b of tabs.children) b.setAttribute("aria-pressed", String(b.dataset.range === range.id));
      note.textContent = range.query
        ? "One point an hour, as far back as the pool keeps them."
        : "One point a minute" + (range.id === "day" ? ", as far back as the pool keeps them (24 hours by default)." : ".");
      stops = [
        RX.live("/pool/chart/hashrate" + range.query, function (points) {
          const [times, values] = series(points, "hs", range.seconds);
          hashChart.update({ times: times, series: [{ values: values }] });
          hashBox.dataset.points = String(times.length - 2);
        }, topicError(note)),
        RX.live("/pool/chart/miners" + range.query, function (points) {
          const [times, values] = series(points, "cn", range.seconds);
          minerChart.update({ times: times, series: [{ values: values }] });
          minerBox.dataset.points = String(times.length - 2);
        }, topicError(note)),
      ];
    }
    RANGES.forEach(function (range) {
      tabs.append(h("button", { type: "button", dataset: { range: range.id }, "aria-pressed": "false",
        onclick: function () { show(range); } }, range.label));
    });
    show(RANGES[0]);
  }

  RX.route("/", async function (main) {
    const header = h("div", { class: "page-head" }, h("h1", {}, RX.poolName()));
    const motd = h("div", { id: "motd" });
    main.append(header, motd);
    main.append(h("h2", { class: "section-title" }, "Pool"));
    const pool = h("div", { class: "stats", id: "pool-stats" }, h("p", { class: "muted" }, "Loading…"));
    main.append(pool);
    main.append(h("h2", { class: "section-title" }, "Network"));
    const network = h("div", { class: "stats", id: "network-stats" }, h("p", { class: "muted" }, "Loading…"));
    main.append(network);
    poolCharts(main);
    const blocks = card(main, "Recent blocks", "recent-blocks");
    const payments = card(main, "Recent payouts", "recent-payouts");
    const rules = card(main, "Fees and payouts", "payout-rules");

    let config = RX.config;
    let modes = null;
    const drawRules = function () { payoutRules(rules, config, modes); };
    RX.live("/pool/stats", function (data) {
      poolStats(pool, data);
      const list = (data.pool_list || []).join(",");
      if (modes === null || modes.join(",") !== list) {
        modes = data.pool_list || [];
        drawRules();
      }
    }, topicError(pool));
    RX.live("/config", function (c) { config = c; drawRules(); }, topicError(rules));
    RX.live("/network/stats", function (n) { networkStats(network, n || {}); }, topicError(network));
    RX.live("/pool/blocks?limit=10", function (rows) { blockRows(blocks, rows || []); }, topicError(blocks));
    RX.live("/pool/payments?limit=10", function (rows) { paymentRows(payments, rows || []); }, topicError(payments));
    RX.live("/pool/motd", function (m) {
      if (!m || (!m.subject && !m.body)) {
        RX.fill(motd, []);
        return;
      }
      RX.fill(motd, h("aside", { class: "notice motd", "aria-label": "Message from the pool operator" },
        m.subject ? h("strong", {}, m.subject) : null,
        m.body ? h("p", {}, m.body) : null,
        m.created ? h("small", { class: "muted" }, RX.time(m.created, "motd-time")) : null));
    });
  }, { title: "Pool" });

  // ---- start mining -----------------------------------------------------------------------
  // The pool's login format (src/pool/login.rs): `-u ADDRESS[+DIFFICULTY]` (a payment id as
  // `ADDRESS.<16 hex>`), `-p WORKER[:EMAIL]`. Worker names keep letters, digits and `-_.@#`
  // (anything else becomes `_` at the pool), at most 64 characters.
  const WORKER_CHARS = /[^A-Za-z0-9\-_.@#]/g;
  const MINER_KEY = "rxpool.miner";

  // Every port as one row per host: [{host, port, difficulty, tls, pool_type, description, miners}].
  function portRows(ports) {
    const rows = [];
    const seen = new Set();
    for (const mode of ["pplns", "pps", "solo"]) {
      for (const p of (ports && ports[mode]) || []) {
        const host = stratumHost(p.host);
        const key = host + ":" + p.port;
        if (seen.has(key)) continue;
        seen.add(key);
        rows.push({ host: host, port: p.port, difficulty: p.difficulty, tls: !!p.tls, pool_type: p.pool_type || mode,
          description: p.description || "", miners: p.miners });
      }
    }
    rows.sort(function (a, b) { return a.port - b.port || a.host.localeCompare(b.host); });
    return rows;
  }
  // The host miners reach: the pool host's public address (`[pool] public_address`), else its
  // name, else the host this page came from.
  function stratumHost(host) {
    const ip = host && host.ip ? String(host.ip) : "";
    if (ip && ip !== "0.0.0.0" && ip !== "::") return ip.includes(":") && !ip.startsWith("[") ? "[" + ip + "]" : ip;
    if (host && host.hostname) return String(host.hostname);
    return location.hostname;
  }
  // A shell word: left bare when it is safe, else single-quoted.
  function shellWord(text) {
    return /^[A-Za-z0-9_.@#:+\-\/=\[\]]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function copyButton(source, label) {
    const status = h("span", { class: "muted copy-status", role: "status", "aria-live": "polite" });
    const button = h("button", { type: "button", class: "secondary", onclick: async function () {
      const text = source.textContent;
      try {
        if (navigator.clipboard && window.isSecureContext) {
          await navigator.clipboard.writeText(text);
        } else {
          const area = h("textarea", { class: "offscreen", readonly: true });
          area.value = text;
          document.body.append(area);
          area.select();
          const ok = document.execCommand("copy");
          area.remove();
          if (!ok) throw new Error("the browser refused");
        }
        status.textContent = "Copied.";
      } catch (e) {
        status.textContent = "Could not copy (" + e.message + "): select the text and copy it.";
      }
    } }, label);
    return h("div", { class: "copy" }, button, status);
  }

  RX.route("/start", async function (main) {
    main.append(h("h1", {}, "Start mining"));
    main.append(h("p", {}, "Install ", h("strong", {}, "xmrig"),
      " (from xmrig.com or your system's packages; another RandomX miner works too), fill in your Monero address below, " +
      "and run the command line it gives you. Your stats are then on the ", h("a", { href: "#/miner" }, "My stats"),
      " page under your address."));

    const portsBody = card(main, "Ports", "ports");
    const formCard = h("section", { class: "card" }, h("h2", {}, "Your miner"));
    main.append(formCard);
    const outCard = h("section", { class: "card", id: "miner-setup" }, h("h2", {}, "Command line and config"));
    main.append(outCard);

    const address = h("input", { type: "text", class: "address", id: "start-address", name: "address",
      autocomplete: "off", spellcheck: "false", placeholder: "4… or 8… (a payment id as ADDRESS.0123456789abcdef)",
      "aria-describedby": "start-address-check" });
    const addressCheck = h("small", { id: "start-address-check", class: "muted", "aria-live": "polite" },
      "Your wallet address: standard, subaddress or integrated.");
    const worker = h("input", { type: "text", id: "start-worker", name: "worker", maxlength: "64", placeholder: "rig1",
      autocomplete: "off", spellcheck: "false" });
    const email = h("input", { type: "email", id: "start-email", name: "email", placeholder: "optional", autocomplete: "email" });
    const difficulty = h("input", { type: "number", id: "start-difficulty", name: "difficulty", min: "1", step: "1",
      inputmode: "numeric", placeholder: "automatic" });
    const port = h("select", { id: "start-port", name: "port" });
    const workerNote = h("small", { class: "muted", "aria-live": "polite" });
    const form = h("form", { id: "start-form", onsubmit: function (e) { e.preventDefault(); update(); } },
      h("label", { class: "grow", for: "start-address" }, "Monero address", address, addressCheck),
      h("label", { for: "start-port" }, "Port", port),
      h("label", { for: "start-worker" }, "Worker name (optional)", worker, workerNote),
      h("label", { for: "start-email" }, "E-mail for alerts (optional)", email),
      h("label", { for: "start-difficulty" }, "Fixed difficulty (optional)", difficulty));
    formCard.append(form, h("p", { class: "muted" },
      "An e-mail address gets a confirmation link first; alerts (a worker stopped, a payout sent) only go to it once you open it. " +
      "Leave the difficulty empty to let the pool adjust it to your hashrate."));

    const command = h("pre", { id: "xmrig-command", dataset: { field: "xmrig-command", value: "" } });
    const json = h("pre", { id: "xmrig-config", dataset: { field: "xmrig-config", value: "" } });
    const placeholder = h("p", { class: "muted", id: "start-hint" }, "Enter your address to get a command line.");
    outCard.append(placeholder,
      h("h3", {}, "xmrig command line"), command, copyButton(command, "Copy command"),
      h("h3", {}, "config.json “pools” section"), json, copyButton(json, "Copy config"));

    let rows = [];
    let addressValid = null; // null: unchecked; true/false: the api's answer for address.value
    let checkSeq = 0;
    let checkTimer = null;

    function selectedPort() {
      return rows[Number(port.value)] || null;
    }
    function update() {
      const p = selectedPort();
      const addr = address.value.trim();
      const diff = difficulty.value.trim();
      const rawWorker = worker.value.trim();
      const cleanWorker = rawWorker.replace(WORKER_CHARS, "_").slice(0, 64);
      workerNote.textContent = rawWorker && cleanWorker !== rawWorker ? "Shown to the pool as “" + cleanWorker + "”." : "";
      const mail = email.value.trim();
      const ready = p && addr && addressValid === true;
      placeholder.hidden = !!ready;
      placeholder.textContent = !p ? "The pool lists no port yet." :
        !addr ? "Enter your address to get a command line." :
          addressValid === false ? "That is not an address this pool accepts." : "Checking the address…";
      const login = addr + (/^[1-9][0-9]*$/.test(diff) ? "+" + diff : "");
      const pass = (cleanWorker || "x") + (mail ? ":" + mail : "");
      const url = p ? p.host + ":" + p.port : "";
      const cmd = ready ? ["xmrig", "-o", url, "-u", shellWord(login), "-p", shellWord(pass), "-a", "rx/0", "--coin", "monero", "-k"]
        .concat(p.tls ? ["--tls"] : []).join(" ") : "";
      const pools = ready ? JSON.stringify({ pools: [{ url: url, user: login, pass: pass, algo: "rx/0", coin: "monero",
        keepalive: true, tls: p.tls }] }, null, 2) : "";
      command.textContent = cmd;
      command.dataset.value = cmd;
      // The "pools" member of config.json, as a fragment to paste over the file's own.
      const fragment = pools ? pools.replace(/^\{\n/, "").replace(/\n\}$/, "").replace(/^ {2}/gm, "") : "";
      json.textContent = fragment;
      json.dataset.value = fragment;
      outCard.dataset.ready = ready ? "1" : "";
    }
    async function checkAddress() {
      const addr = address.value.trim();
      const seq = ++checkSeq;
      if (!addr) {
        addressValid = null;
        addressCheck.textContent = "Your wallet address: standard, subaddress or integrated.";
        addressCheck.className = "muted";
        update();
        return;
      }
      try {
        const answer = await RX.get("pool/address_type/" + encodeURIComponent(addr));
        if (seq !== checkSeq) return;
        addressValid = !!answer.valid;
        addressCheck.textContent = answer.valid ? "✓ A valid " + (answer.address_type || "XMR") + " address for this pool." :
          "✗ Not an address this pool accepts (check the network and every character).";
      } catch (e) {
        if (seq !== checkSeq) return;
        addressValid = false;
        addressCheck.textContent = "✗ " + e.message;
      }
      addressCheck.className = addressValid ? "ok" : "error";
      address.setAttribute("aria-invalid", String(!addressValid));
      if (addressValid) localStorage.setItem(MINER_KEY, addr);
      update();
    }
    address.addEventListener("input", function () {
      addressValid = null;
      update();
      clearTimeout(checkTimer);
      checkTimer = setTimeout(checkAddress, 300);
    });
    RX.onLeave(function () { clearTimeout(checkTimer); });
    for (const input of [worker, email, difficulty, port]) {
      input.addEventListener("input", update);
      input.addEventListener("change", update);
    }

    RX.live("/pool/ports", function (ports) {
      const previous = selectedPort();
      rows = portRows(ports);
      RX.fill(portsBody, RX.table([
        { label: "Host", cell: function (p) { return h("code", {}, p.host); } },
        { label: "Port", cell: function (p) { return h("span", { class: "num", dataset: { field: "port-number", value: String(p.port) } }, String(p.port)); } },
        { label: "Starting difficulty", cell: function (p) { return RX.num(p.difficulty, "port-difficulty"); } },
        { label: "TLS", cell: function (p) { return h("span", { dataset: { field: "port-tls", value: String(p.tls) } }, p.tls ? "yes" : "no"); } },
        { label: "Mode", cell: function (p) { return h("span", { dataset: { field: "port-mode", value: p.pool_type } }, modeName(p.pool_type)); } },
        { label: "Miners", cell: function (p) { return RX.num(p.miners, "port-miners"); } },
        { label: "Description", class: "wrap", cell: function (p) { return p.description; } },
      ], rows, "The pool lists no port yet (the worker publishes them within a minute of the pool starting)."));
      markRows(portsBody, rows, function (p) { return { port: String(p.port) }; });
      port.replaceChildren(...rows.map(function (p, i) {
        return h("option", { value: String(i) }, p.host + ":" + p.port + " · " + modeName(p.pool_type) + " · difficulty " +
          Number(p.difficulty).toLocaleString() + (p.tls ? " · TLS" : ""));
      }));
      const again = previous ? rows.findIndex(function (p) { return p.host === previous.host && p.port === previous.port; }) : -1;
      port.value = String(again >= 0 ? again : 0);
      update();
    }, topicError(portsBody));

    const remembered = localStorage.getItem(MINER_KEY);
    if (remembered) {
      address.value = remembered;
      checkAddress();
    }
    update();
  }, { title: "Start mining" });
})();
