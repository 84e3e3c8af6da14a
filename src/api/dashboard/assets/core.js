// rxpool dashboard: the shared core (window.RX). Owns the api client (REST with exact
// integers, the admin session), the one websocket and its topics, the view router, number,
// money and time formatting, DOM building, charts and the light/dark theme. The views live in
// pool.js, miner.js and admin.js; each registers its routes with RX.route. Every URL is
// relative to the page, so the dashboard works under any path prefix behind a reverse proxy.
"use strict";

(function () {
  const RX = {};
  window.RX = RX;

  // ---- JSON with exact integers ---------------------------------------------------------
  // Atomic amounts and difficulties can pass 2^53; JSON.parse's reviver sees each number's
  // source text (Chromium 114+, Firefox 135+), so integers too large for a double become
  // BigInt instead of being rounded. Everything else stays a plain number.
  RX.parseJSON = function (text) {
    return JSON.parse(text, function (_key, value, context) {
      if (typeof value === "number" && !Number.isSafeInteger(value) && context && context.source &&
          /^-?\d+$/.test(context.source)) {
        return BigInt(context.source);
      }
      return value;
    });
  };

  // ---- REST -------------------------------------------------------------------------------
  // A refused request as the api explained it: `status` and the api's `error` message.
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }
  RX.ApiError = ApiError;

  // GET or send `path` (relative, no leading slash: "pool/stats") and return its JSON. Options:
  // method, body (sent as JSON), token (an admin access token). Throws ApiError.
  RX.request = async function (path, options) {
    const opts = options || {};
    const headers = { accept: "application/json" };
    const init = { method: opts.method || "GET", headers: headers, credentials: "omit" };
    if (opts.body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    if (opts.token) headers.authorization = "Bearer " + opts.token;
    let response;
    try {
      response = await fetch(RX.url(path), init);
    } catch (e) {
      throw new ApiError(0, "the pool's api cannot be reached (" + e.message + ")");
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? RX.parseJSON(text) : null;
    } catch (_e) {
      json = null;
    }
    if (!response.ok) {
      const message = json && typeof json.error === "string" ? json.error : "HTTP " + response.status;
      throw new ApiError(response.status, message);
    }
    return json;
  };
  RX.get = function (path) {
    return RX.request(path);
  };
  // The absolute URL of an api path, relative to the page (so a path prefix is kept).
  RX.url = function (path) {
    return new URL(String(path).replace(/^\/+/, ""), document.baseURI).href;
  };

  // ---- admin session ----------------------------------------------------------------------
  // The access token lives 15 minutes and the refresh token 12 hours (api::auth::login); both
  // are kept in sessionStorage (this tab only, gone when it closes). RX.admin(path, opts) adds
  // the token, refreshes it once on a 401, and sends the visitor to the login view if that fails.
  const SESSION_KEY = "rxpool.admin";
  RX.session = {
    get: function () {
      try {
        return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      } catch (_e) {
        return null;
      }
    },
    set: function (issued) {
      sessionStorage.setItem(SESSION_KEY, JSON.stringify({
        token: issued.token,
        refresh: issued.refresh_token,
        user: issued.user || (RX.session.get() || {}).user || null,
      }));
    },
    clear: function () {
      sessionStorage.removeItem(SESSION_KEY);
    },
  };
  RX.login = async function (username, password) {
    const issued = await RX.request("admin/login", { method: "POST", body: { username: username, password: password } });
    issued.user = username;
    RX.session.set(issued);
    return issued;
  };
  RX.logout = async function () {
    const s = RX.session.get();
    RX.session.clear();
    if (s && s.refresh) {
      try {
        await RX.request("admin/logout", { method: "POST", token: s.token, body: { refresh_token: s.refresh } });
      } catch (_e) { /* the session is gone locally either way */ }
    }
  };
  async function refreshSession() {
    const s = RX.session.get();
    if (!s || !s.refresh) return false;
    try {
      const issued = await RX.request("admin/refresh", { method: "POST", body: { refresh_token: s.refresh } });
      RX.session.set(issued);
      return true;
    } catch (_e) {
      RX.session.clear();
      return false;
    }
  }
  RX.admin = async function (path, options) {
    const opts = Object.assign({}, options || {});
    const s = RX.session.get();
    if (!s) {
      RX.needLogin();
      throw new ApiError(401, "log in first");
    }
    opts.token = s.token;
    try {
      return await RX.request(path, opts);
    } catch (e) {
      if (e.status !== 401) throw e;
      if (await refreshSession()) {
        opts.token = RX.session.get().token;
        return RX.request(path, opts);
      }
      RX.needLogin();
      throw e;
    }
  };
  // Sends the visitor to the login view, to come back to the current one.
  RX.needLogin = function () {
    const back = location.hash || "#/admin";
    if (!back.startsWith("#/admin/login")) {
      location.hash = "#/admin/login?next=" + encodeURIComponent(back);
    }
  };

  // ---- websocket --------------------------------------------------------------------------
  // One socket for the page. RX.live(topic, onData, onError) subscribes (topic: a public route
  // path such as "/pool/stats") and returns an unsubscribe function. The socket reconnects with
  // a growing delay and subscribes again to what is live; the server answers each subscribe
  // with the topic's current JSON, so a reconnect refreshes every view.
  const live = new Map(); // topic -> Set of {onData, onError}
  const latest = new Map(); // topic -> the last data pushed, for a second subscriber
  let socket = null;
  let retry = 500;
  let reconnectTimer = null;
  RX.socketState = "idle";

  function setSocketState(state) {
    RX.socketState = state;
    document.documentElement.dataset.live = state;
    const badge = document.getElementById("live");
    if (badge) {
      badge.textContent = state === "open" ? "live" : state === "connecting" ? "connecting…" :
        state === "idle" ? "" : "offline";
      badge.className = "live live-" + state;
    }
  }
  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }
  function connect() {
    if (socket || live.size === 0) return;
    const url = new URL("ws", document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    setSocketState("connecting");
    socket = new WebSocket(url.href);
    socket.onopen = function () {
      retry = 500;
      setSocketState("open");
      for (const topic of live.keys()) send({ op: "subscribe", topic: topic });
    };
    socket.onmessage = function (event) {
      let frame;
      try {
        frame = RX.parseJSON(event.data);
      } catch (_e) {
        return;
      }
      if (!frame.topic) {
        if (frame.error) console.warn("websocket:", frame.error);
        return;
      }
      const handlers = live.get(frame.topic);
      if (!handlers) return;
      if ("data" in frame) latest.set(frame.topic, frame.data);
      for (const h of handlers) {
        try {
          if ("data" in frame) h.onData(frame.data);
          else if (h.onError) h.onError(frame.error);
        } catch (e) {
          console.error("view update failed for", frame.topic, e);
        }
      }
    };
    socket.onclose = function () {
      socket = null;
      setSocketState(live.size === 0 ? "idle" : "closed");
      if (live.size === 0) return;
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
    socket.onerror = function () { /* onclose follows and reconnects */ };
  }
  RX.live = function (topic, onData, onError) {
    const handler = { onData: onData, onError: onError };
    let handlers = live.get(topic);
    if (!handlers) {
      handlers = new Set();
      live.set(topic, handlers);
      send({ op: "subscribe", topic: topic });
    }
    handlers.add(handler);
    connect();
    // The server pushes a topic's state at the first subscribe only: a later subscriber to a
    // topic already live gets the last state from here.
    if (latest.has(topic)) {
      const data = latest.get(topic);
      queueMicrotask(function () {
        if (handlers.has(handler)) handler.onData(data);
      });
    }
    const stop = function () {
      const set = live.get(topic);
      if (!set || !set.delete(handler) || set.size > 0) return;
      live.delete(topic);
      latest.delete(topic);
      send({ op: "unsubscribe", topic: topic });
      // Nothing live any more (a view without live figures): close the socket.
      if (live.size === 0 && socket) socket.close();
    };
    leaveHooks.push(stop);
    return stop;
  };

  // ---- router -----------------------------------------------------------------------------
  // Views are chosen by the fragment: "#/miner/ADDR" matches RX.route("/miner/:address", fn).
  // A view function gets (container, params, query) and may register cleanups with
  // RX.onLeave; its live subscriptions are dropped when the visitor moves to another view.
  const routes = [];
  let leaveHooks = [];
  RX.route = function (pattern, view, options) {
    const names = [];
    const source = "^" + pattern.replace(/:([a-zA-Z]+)/g, function (_m, name) {
      names.push(name);
      return "([^/]+)";
    }) + "$";
    routes.push({ regex: new RegExp(source), names: names, view: view, options: options || {} });
  };
  RX.onLeave = function (fn) {
    leaveHooks.push(fn);
  };
  RX.go = function (hash) {
    if (location.hash === hash) RX.render();
    else location.hash = hash;
  };
  // Each render builds into a fresh container: a view still awaiting the api when the visitor
  // moves on writes into its detached container, never into the next view.
  let generation = 0;
  RX.render = async function () {
    const mine = ++generation;
    for (const fn of leaveHooks.splice(0)) {
      try { fn(); } catch (e) { console.error(e); }
    }
    const raw = location.hash.replace(/^#/, "") || "/";
    const [path, queryString] = raw.split("?");
    const query = new URLSearchParams(queryString || "");
    const main = document.getElementById("view");
    const container = RX.h("div", { class: "view" });
    main.replaceChildren(container);
    main.removeAttribute("data-ready");
    const done = function () {
      if (mine !== generation) return;
      main.dataset.ready = "1";
    };
    for (const r of routes) {
      const m = r.regex.exec(path);
      if (!m) continue;
      const params = {};
      try {
        r.names.forEach(function (name, i) { params[name] = decodeURIComponent(m[i + 1]); });
      } catch (_e) {
        continue; // a malformed %-escape: no view takes it
      }
      markNav(path);
      document.title = (r.options.title || "rxpool") + " · " + RX.poolName();
      try {
        await r.view(container, params, query);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        container.append(RX.error(e));
      }
      done();
      if (mine === generation) main.focus({ preventScroll: true });
      return;
    }
    markNav(path);
    container.append(RX.h("section", { class: "card" }, RX.h("h1", {}, "Not found"),
      RX.h("p", {}, "There is no page here. ", RX.h("a", { href: "#/" }, "Back to the pool overview"), ".")));
    done();
  };
  function markNav(path) {
    for (const a of document.querySelectorAll("nav a[data-nav]")) {
      const prefix = a.dataset.nav;
      const on = prefix === "/" ? path === "/" : path.startsWith(prefix);
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  // ---- DOM ----------------------------------------------------------------------------------
  // RX.h("a", {href: "#/", class: "x", onclick: fn, dataset: {field: "f"}}, "text", child, ...)
  RX.h = function (tag, attrs) {
    const el = document.createElement(tag);
    const a = attrs || {};
    for (const key of Object.keys(a)) {
      const value = a[key];
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "text") el.textContent = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (let i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  };
  function append(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(el, c); });
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
  // A table: columns [{label, cell: row => node|text, class}], rows; `empty` when none.
  RX.table = function (columns, rows, empty) {
    if (!rows || rows.length === 0) return RX.h("p", { class: "empty" }, empty || "Nothing yet.");
    return RX.h("div", { class: "table-wrap" },
      RX.h("table", {},
        RX.h("thead", {}, RX.h("tr", {}, columns.map(function (c) {
          return RX.h("th", { scope: "col", class: c.class }, c.label);
        }))),
        RX.h("tbody", {}, rows.map(function (row) {
          return RX.h("tr", {}, columns.map(function (c) { return RX.h("td", { class: c.class }, c.cell(row)); }));
        }))));
  };
  // A labelled figure: <div class="stat"><span>label</span><strong data-field=...>value</strong>
  RX.stat = function (label, valueNode, hint) {
    return RX.h("div", { class: "stat" }, RX.h("span", { class: "stat-label" }, label), valueNode,
      hint ? RX.h("small", {}, hint) : null);
  };
  RX.error = function (e) {
    return RX.h("p", { class: "error", role: "alert" }, e && e.message ? e.message : String(e));
  };
  // Replaces the children of the element with id/element `target`.
  RX.fill = function (target, content) {
    const el = typeof target === "string" ? document.getElementById(target) : target;
    if (el) el.replaceChildren(...[].concat(content).filter(function (c) { return c !== null && c !== undefined; }));
    return el;
  };

  // ---- numbers, money, time -------------------------------------------------------------------
  // Every displayed number is an element with data-field (its name) and data-value (the exact
  // raw value from the api), so a test or a person's inspector can compare it with the api.
  const ATOMIC_PER_XMR = 1000000000000n;
  function big(value) {
    if (typeof value === "bigint") return value;
    if (typeof value === "number" && Number.isFinite(value)) return BigInt(Math.trunc(value));
    if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
    return null;
  }
  // "1.234567890123": every digit of an atomic amount in XMR (trailing zeros trimmed).
  RX.xmrExact = function (atomic) {
    const a = big(atomic);
    if (a === null) return "—";
    const negative = a < 0n;
    const abs = negative ? -a : a;
    const whole = abs / ATOMIC_PER_XMR;
    const frac = (abs % ATOMIC_PER_XMR).toString().padStart(12, "0").replace(/0+$/, "");
    return (negative ? "-" : "") + whole.toString() + (frac ? "." + frac : "");
  };
  // The amount rounded to `digits` decimals (default 6) for display.
  RX.xmrShort = function (atomic, digits) {
    const a = big(atomic);
    if (a === null) return "—";
    const d = digits === undefined ? 6 : digits;
    const step = 10n ** BigInt(12 - d);
    const rounded = ((a < 0n ? -a : a) + step / 2n) / step;
    const s = rounded.toString().padStart(d + 1, "0");
    const text = s.slice(0, s.length - d) + (d > 0 ? "." + s.slice(s.length - d) : "");
    return (a < 0n ? "-" : "") + text;
  };
  // An amount in XMR, its exact atomic value on hover (title) and in data-value.
  RX.xmr = function (atomic, field) {
    const a = big(atomic);
    return RX.h("span", {
      class: "num xmr",
      title: a === null ? null : a.toString() + " atomic units = " + RX.xmrExact(a) + " XMR",
      dataset: { field: field || "", value: a === null ? "" : a.toString() },
    }, a === null ? "—" : RX.xmrShort(a) + " XMR");
  };
  // A hashrate in H/s with its unit.
  RX.hashrateText = function (h) {
    const n = Number(h);
    if (!Number.isFinite(n)) return "—";
    const units = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s"];
    let v = n;
    let i = 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    // Three significant digits at most, without trailing zeros ("1.5 H/s", "12.3 kH/s").
    const text = v === 0 ? "0" : String(Number(v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)));
    return text + " " + units[i];
  };
  RX.hashrate = function (h, field) {
    return RX.h("span", { class: "num", title: String(h) + " H/s", dataset: { field: field || "", value: String(h) } },
      RX.hashrateText(h));
  };
  // A count or plain number, grouped by the visitor's locale.
  RX.num = function (n, field) {
    const text = n === null || n === undefined ? "—" :
      typeof n === "bigint" ? n.toLocaleString() : Number(n).toLocaleString();
    return RX.h("span", { class: "num", dataset: { field: field || "", value: n === null || n === undefined ? "" : String(n) } }, text);
  };
  // A percentage from a ratio (0.5 → "50.0 %").
  RX.percent = function (ratio, field) {
    const n = Number(ratio);
    return RX.h("span", { class: "num", dataset: { field: field || "", value: String(ratio) } },
      Number.isFinite(n) ? (n * 100).toFixed(1) + " %" : "—");
  };
  // Seconds or milliseconds since the epoch → milliseconds (values under 1e11 are seconds).
  RX.millis = function (t) {
    const n = Number(t);
    if (!Number.isFinite(n) || n <= 0) return null;
    return n < 1e11 ? n * 1000 : n;
  };
  // A time in the visitor's zone, "3 minutes ago" beside it, the ISO time on hover.
  RX.time = function (t, field) {
    const ms = RX.millis(t);
    if (ms === null) return RX.h("span", { class: "time", dataset: { field: field || "", value: "" } }, "never");
    const d = new Date(ms);
    return RX.h("time", {
      datetime: d.toISOString(), title: d.toISOString(), class: "time",
      dataset: { field: field || "", value: String(t) },
    }, d.toLocaleString() + " (" + RX.ago(ms) + ")");
  };
  RX.ago = function (ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    const abs = Math.abs(s);
    const unit = abs < 60 ? [abs, "second"] : abs < 3600 ? [Math.round(abs / 60), "minute"] :
      abs < 86400 ? [Math.round(abs / 3600), "hour"] : [Math.round(abs / 86400), "day"];
    const text = unit[0] + " " + unit[1] + (unit[0] === 1 ? "" : "s");
    return s >= 0 ? text + " ago" : "in " + text;
  };
  // A block or transaction hash, shortened, in full on hover, copyable.
  RX.hash = function (hash, field) {
    const h = String(hash || "");
    return RX.h("code", { class: "hash", title: h, dataset: { field: field || "", value: h } },
      h.length > 16 ? h.slice(0, 8) + "…" + h.slice(-8) : h);
  };

  // ---- charts ---------------------------------------------------------------------------------
  // RX.chart(container, {series: [{label, values}], times (unix seconds), unit: "H/s"|""}):
  // a uPlot line chart sized to its container, following the theme; returns {update(data)}.
  RX.chart = function (container, spec) {
    const box = RX.h("div", { class: "chart", role: "img", "aria-label": spec.title || "chart" });
    container.append(box);
    const style = getComputedStyle(document.documentElement);
    const colors = ["--accent", "--accent-2", "--accent-3"].map(function (v) { return style.getPropertyValue(v).trim() || "#f60"; });
    const fmt = spec.unit === "H/s" ? RX.hashrateText : function (v) { return v === null ? "—" : Number(v).toLocaleString(); };
    function toData(d) {
      return [d.times].concat(d.series.map(function (s) { return s.values; }));
    }
    const opts = {
      width: Math.max(box.clientWidth || container.clientWidth || 300, 200),
      height: spec.height || 220,
      series: [{}].concat(spec.series.map(function (s, i) {
        return { label: s.label, stroke: colors[i % colors.length], width: 2, fill: i === 0 ? colors[0] + "22" : undefined,
          value: function (_u, v) { return fmt(v); } };
      })),
      axes: [
        { stroke: style.getPropertyValue("--muted").trim(), grid: { stroke: style.getPropertyValue("--grid").trim() } },
        { stroke: style.getPropertyValue("--muted").trim(), grid: { stroke: style.getPropertyValue("--grid").trim() },
          size: 70, values: function (_u, ticks) { return ticks.map(fmt); } },
      ],
      scales: { y: { range: function (_u, _min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      legend: { show: spec.series.length > 1 || !!spec.legend },
    };
    const plot = new uPlot(opts, toData(spec), box);
    const resize = function () { plot.setSize({ width: Math.max(box.clientWidth, 200), height: opts.height }); };
    const observer = new ResizeObserver(resize);
    observer.observe(box);
    RX.onLeave(function () { observer.disconnect(); plot.destroy(); });
    return { update: function (d) { plot.setData(toData(d)); }, plot: plot };
  };

  // ---- page chrome ------------------------------------------------------------------------
  RX.poolName = function () {
    return RX.config && RX.config.pool_name ? RX.config.pool_name : "rxpool";
  };
  const THEME_KEY = "rxpool.theme";
  RX.applyTheme = function () {
    const chosen = localStorage.getItem(THEME_KEY);
    if (chosen === "light" || chosen === "dark") document.documentElement.dataset.theme = chosen;
    else delete document.documentElement.dataset.theme;
  };
  RX.toggleTheme = function () {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    localStorage.setItem(THEME_KEY, dark ? "light" : "dark");
    RX.applyTheme();
    RX.render();
  };
})();
