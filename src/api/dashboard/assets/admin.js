// rxpool dashboard: the operator views (#/admin...), behind the admin login. Owns the login
// form, the operator sub-navigation (who is logged in, log out) and one view per group of
// /admin routes: overview (stats, wallet), blocks, payouts (review queue, set-aside, run-now),
// ports, config items, bans, the mail outbox, admin accounts and the audit log.
//
// Every admin call goes through RX.admin, which sends nothing without a session and takes the
// visitor to the login view on a 401. Writes that cannot be taken back ask first with an
// in-page confirm step (keyboard and tests can drive it; no window.confirm). What the api
// answers is shown in words in the view's status line, its refusals (a viewer's 403, a 409
// the state forbids) with the api's own message. Text from the api (addresses, reasons, mail
// subjects, config values) only ever goes in as text.
"use strict";

(function () {
  const h = RX.h;

  // ---- who is logged in -------------------------------------------------------------------
  // GET /admin/whoami once per access token: {id, name, role}.
  let who = null;
  async function whoami() {
    const s = RX.session.get();
    if (who && s && who.token === s.token) return who.me;
    const me = await RX.admin("admin/whoami");
    who = { token: (RX.session.get() || {}).token, me: me };
    return me;
  }
  // A message for the next login view (after a logout or a password change).
  let loginNotice = null;

  // ---- small helpers ------------------------------------------------------------------------
  // The api's JSON uses BigInt past 2^53; JSON.stringify needs them as text.
  function jsonText(value) {
    if (value === null || value === undefined) return "";
    return JSON.stringify(value, function (_k, v) { return typeof v === "bigint" ? v.toString() : v; });
  }
  function big(value) {
    try {
      return typeof value === "bigint" ? value : BigInt(value);
    } catch (_e) {
      return null;
    }
  }
  // A promise's outcome as {value} or {error}; a 401 still propagates (the login view follows).
  function settle(promise) {
    return promise.then(function (value) { return { value: value }; }, function (error) {
      if (error && error.status === 401) throw error;
      return { error: error };
    });
  }
  function statusBadge(state, field) {
    const s = String(state || "");
    return h("span", { class: "status status-" + s.replace(/[^a-z_]/g, ""), dataset: { field: field || "", value: s } },
      s.replace(/_/g, " "));
  }
  // An identifier (port, batch, ban, mail, balance): a number not grouped like a quantity.
  function ident(value, name) {
    return h("span", { class: "num", dataset: { field: name, value: String(value) } }, String(value));
  }
  function pageOf(query) {
    const n = Number(query.get("page") || "0");
    return Number.isInteger(n) && n >= 0 ? n : 0;
  }
  // "Newer" / "Older" links for a paged list at `path` (the view's hash without the query).
  function pager(path, query, page, full) {
    if (page === 0 && !full) return null;
    const link = function (p, label) {
      const q = new URLSearchParams(query);
      if (p === 0) q.delete("page");
      else q.set("page", String(p));
      const text = q.toString();
      return h("a", { href: "#" + path + (text ? "?" + text : ""), class: "pager-link" }, label);
    };
    return h("p", { class: "pager" }, page > 0 ? link(page - 1, "← Newer") : null,
      h("span", { class: "muted" }, " page " + (page + 1) + " "), full ? link(page + 1, "Older →") : null);
  }
  function field(labelText, input, hint) {
    return h("label", {}, labelText, input, hint ? h("small", { class: "muted" }, hint) : null);
  }
  function button(label, attrs) {
    return h("button", Object.assign({ type: "button" }, attrs || {}), label);
  }
  // Filter buttons (aria-pressed) that move to `path?key=value`.
  function filterTabs(labelText, path, query, key, options) {
    const current = query.get(key) || "";
    return h("div", { class: "tabs", role: "group", "aria-label": labelText }, options.map(function (o) {
      return button(o[1], {
        "aria-pressed": String(o[0] === current),
        dataset: { filter: o[0] || "all" },
        onclick: function () {
          const q = new URLSearchParams(query);
          q.delete("page");
          if (o[0]) q.set(key, o[0]);
          else q.delete(key);
          const text = q.toString();
          RX.go("#" + path + (text ? "?" + text : ""));
        },
      });
    }));
  }

  // ---- the in-page confirm step ---------------------------------------------------------------
  // confirmStep(trigger, {question, label, extra, run}): shows the question under the
  // trigger's table row (or after its toolbar or form), with a confirm button and Cancel.
  // Focus goes to the confirm button; Escape or Cancel closes it and gives focus back.
  let openConfirm = null;
  function closeConfirm() {
    if (openConfirm) openConfirm.remove();
    openConfirm = null;
  }
  function confirmStep(trigger, spec) {
    closeConfirm();
    const yes = button(spec.label, { class: spec.safe ? "" : "danger", dataset: { confirm: trigger.dataset.action || "yes" } });
    const no = button("Cancel", { class: "secondary", dataset: { cancel: "1" } });
    const box = h("div", { class: "confirm", role: "group", "aria-label": "Confirm: " + spec.label },
      h("p", {}, spec.question), spec.extra || null, h("div", { class: "actions" }, yes, no));
    const row = trigger.closest("tr");
    let holder;
    if (row) {
      holder = h("tr", { class: "confirm-row" }, h("td", { colspan: String(row.children.length) }, box));
      row.after(holder);
    } else {
      holder = box;
      (trigger.closest("form, .toolbar") || trigger).after(holder);
    }
    openConfirm = holder;
    const cancel = function () {
      closeConfirm();
      trigger.focus();
    };
    no.addEventListener("click", cancel);
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") cancel();
    });
    yes.addEventListener("click", async function () {
      yes.disabled = true;
      no.disabled = true;
      try {
        await spec.run();
      } finally {
        if (openConfirm === holder) closeConfirm();
      }
    });
    yes.focus();
  }

  // ---- the frame of every admin view --------------------------------------------------------
  const SECTIONS = [
    ["/admin", "Overview"], ["/admin/blocks", "Blocks"], ["/admin/payouts", "Payouts"],
    ["/admin/ports", "Ports"], ["/admin/config", "Config"], ["/admin/bans", "Bans"],
    ["/admin/mail", "Mail"], ["/admin/users", "Accounts"], ["/admin/audit", "Audit log"],
  ];

  function adminBar(path, me) {
    const role = me.role || "";
    const logout = button("Log out", {
      class: "secondary", id: "logout",
      onclick: async function () {
        logout.disabled = true;
        await RX.logout();
        who = null;
        loginNotice = "You are logged out.";
        RX.go("#/admin/login");
      },
    });
    return h("div", { class: "admin-bar" },
      h("nav", { class: "subnav", "aria-label": "Operator pages" }, SECTIONS.map(function (s) {
        return h("a", { href: "#" + s[0], "aria-current": s[0] === path ? "page" : null }, s[1]);
      })),
      h("div", { class: "who" },
        h("span", {}, "Logged in as ", h("strong", { dataset: { field: "admin.name", value: me.name } }, me.name)),
        role ? statusBadge(role, "admin.role") : null,
        role === "viewer" ? h("span", { class: "muted" }, "read-only") : null,
        logout));
  }

  // Registers the admin view `path`: the bar, a heading, a status line for the answers of
  // actions, and the content `load(ctx)` builds (again after each action, by ctx.reload()).
  function page(path, title, load) {
    RX.route(path, async function (main, params, query) {
      closeConfirm();
      const me = await whoami();
      const status = h("div", { class: "admin-status", id: "admin-status", tabindex: "-1", "aria-live": "polite" });
      const content = h("div", { class: "admin-content" });
      const ctx = {
        me: me, params: params, query: query, path: path, status: status, content: content,
        say: function (text) {
          RX.fill(status, h("p", { class: "notice ok", dataset: { result: "ok" } }, text));
        },
        fail: function (e) {
          const shown = RX.error(e);
          shown.dataset.result = "error";
          RX.fill(status, shown);
        },
        reload: async function () {
          let nodes;
          try {
            nodes = await load(ctx);
          } catch (e) {
            if (e && e.status === 401) throw e;
            nodes = [RX.error(e)];
          }
          closeConfirm();
          RX.fill(content, nodes);
        },
        // Runs one write; its answer in words (describe(answer)) or the api's refusal, then
        // the view's data again so the state after it shows.
        act: async function (run, describe) {
          let answer;
          try {
            answer = await run();
          } catch (e) {
            if (e && e.status === 401) return;
            ctx.fail(e);
            status.focus();
            return;
          }
          ctx.say(describe(answer));
          await ctx.reload().catch(function () { /* a 401 took the visitor to the login */ });
          status.focus();
        },
      };
      main.append(adminBar(path, me), h("h1", {}, title), status, content);
      await ctx.reload();
    }, { title: "Operator · " + title });
  }

  // ---- login ----------------------------------------------------------------------------------
  // Where to go after the login: an admin view named by `next`, else the overview.
  function safeNext(next) {
    if (typeof next === "string" && /^#\/admin(?:[/?]|$)/.test(next) && !next.startsWith("#/admin/login")) return next;
    return "#/admin";
  }

  RX.route("/admin/login", async function (main, _params, query) {
    const next = safeNext(query.get("next"));
    const user = h("input", { type: "text", id: "admin-user", name: "username", autocomplete: "username",
      autocapitalize: "none", spellcheck: "false", required: true });
    const pass = h("input", { type: "password", id: "admin-password", name: "password", autocomplete: "current-password", required: true });
    const submit = h("button", { type: "submit", id: "admin-login" }, "Log in");
    const message = h("div", { id: "login-message", "aria-live": "assertive" });
    const form = h("form", { class: "login-form", novalidate: true }, field("Username", user), field("Password", pass), submit);
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      message.replaceChildren();
      if (!user.value.trim() || !pass.value) {
        message.append(RX.error("Enter your username and password."));
        (user.value.trim() ? pass : user).focus();
        return;
      }
      submit.disabled = true;
      try {
        await RX.login(user.value.trim(), pass.value);
        who = null;
        RX.go(next);
      } catch (e) {
        let words = e.message;
        if (e.status === 401) words = "Wrong username or password.";
        else if (e.status === 429) words = "Too many failed logins: " + e.message + ".";
        message.append(RX.error(words));
        pass.value = "";
        pass.focus();
      } finally {
        submit.disabled = false;
      }
    });
    const s = RX.session.get();
    const notice = loginNotice;
    loginNotice = null;
    main.append(h("section", { class: "card login-card" },
      h("h1", {}, "Operator login"),
      notice ? h("p", { class: "notice", role: "status" }, notice) : null,
      s && s.user ? h("p", { class: "muted" }, "This tab is logged in as ", h("strong", {}, s.user), ": ",
        h("a", { href: next }, "continue"), ", or log in as another account.") : null,
      next !== "#/admin" ? h("p", { class: "muted" }, "Log in to open " + next.slice(1) + ".") : null,
      form, message,
      h("p", { class: "muted small" }, "Accounts are made on the pool's server with ", h("code", {}, "rxpool admin user add"),
        ". The session lasts 12 hours in this tab only.")));
    // After the router has focused the view.
    requestAnimationFrame(function () { user.focus(); });
  }, { title: "Operator login" });

  // ---- overview -----------------------------------------------------------------------------
  const MODES = [["pplns", "PPLNS"], ["pps", "PPS"], ["solo", "Solo"], ["global", "All modes"], ["fees", "Pool fees"]];

  page("/admin", "Operator overview", async function () {
    const [stats, wallet] = await Promise.all([RX.admin("admin/stats"), settle(RX.admin("admin/wallet"))]);
    const table = RX.table([
      { label: "Mode", cell: function (m) { return m[1]; } },
      { label: "Owed", class: "right", cell: function (m) { return RX.xmr(stats[m[0]].owed, "stats." + m[0] + ".owed"); } },
      { label: "Paid", class: "right", cell: function (m) { return RX.xmr(stats[m[0]].paid, "stats." + m[0] + ".paid"); } },
      { label: "Mined", class: "right", cell: function (m) { return RX.xmr(stats[m[0]].mined, "stats." + m[0] + ".mined"); } },
      { label: "Shares", class: "right", cell: function (m) { return RX.num(stats[m[0]].shares, "stats." + m[0] + ".shares"); } },
      { label: "Network difficulty", class: "right", cell: function (m) { return RX.num(stats[m[0]].targetShares, "stats." + m[0] + ".targetShares"); } },
      { label: "Effort", class: "right", cell: function (m) {
        const s = stats[m[0]];
        return Number(s.targetShares) > 0 ? RX.percent(Number(s.shares) / Number(s.targetShares), "stats." + m[0] + ".effort") : "—";
      } },
    ], MODES.filter(function (m) { return stats[m[0]]; }));
    const money = h("section", { class: "card" }, h("h2", {}, "Money by payout mode"), table,
      h("p", { class: "muted small" }, "Owed: the miners' balances not yet paid. Paid: paid out of them (net). " +
        "Mined: what blocks and PPS credited to the mode. Shares and network difficulty sum the found blocks " +
        "that are not orphaned; their ratio is the mode's effort."));
    let walletCard;
    if (wallet.error) {
      walletCard = h("section", { class: "card" }, h("h2", {}, "Pool wallet"),
        h("p", { class: "error", role: "alert", dataset: { result: "wallet-error" } }, "The wallet cannot be read: " + wallet.error.message));
    } else {
      const w = wallet.value;
      const owed = big(stats.global ? stats.global.owed : 0);
      const unlocked = big(w.unlocked);
      const short = owed !== null && unlocked !== null && unlocked < owed ? owed - unlocked : null;
      walletCard = h("section", { class: "card" }, h("h2", {}, "Pool wallet"),
        h("div", { class: "stats" },
          RX.stat("Balance", RX.xmr(w.balance, "wallet.balance")),
          RX.stat("Unlocked", RX.xmr(w.unlocked, "wallet.unlocked")),
          RX.stat("Blocks to unlock", RX.num(w.blocks_to_unlock, "wallet.blocks_to_unlock")),
          RX.stat("Wallet height", RX.num(w.height, "wallet.height"))),
        short !== null ? h("p", { class: "notice" }, "The unlocked balance is ", RX.xmr(short, "wallet.shortfall"),
          " short of what the miners are owed; payouts wait for more to unlock.") :
          h("p", { class: "muted small" }, "The unlocked balance covers what the miners are owed."));
    }
    return [money, walletCard];
  });

  // ---- blocks -------------------------------------------------------------------------------
  page("/admin/blocks", "Found blocks", async function (ctx) {
    const query = ctx.query;
    const pg = pageOf(query);
    const status = query.get("status");
    const list = await RX.admin("admin/blocks?limit=50&page=" + pg + (status ? "&status=" + encodeURIComponent(status) : ""));
    const recheck = function (b) {
      if (b.status === "unlocked") return h("span", { class: "muted" }, "credited");
      const act = button("Recheck", {
        class: "secondary", dataset: { action: "recheck", target: b.hash },
        onclick: function () {
          confirmStep(act, {
            question: "Recheck the block at height " + b.height + "? It goes back to pending and the block manager checks it against the chain again.",
            label: "Recheck block",
            run: function () {
              return ctx.act(function () { return RX.admin("admin/blocks/" + b.hash + "/recheck", { method: "POST" }); },
                function (r) { return "Block " + b.height + " (" + String(r.hash).slice(0, 8) + "…): " + r.before + " → " + r.after + "."; });
            },
          });
        },
      });
      return act;
    };
    const blocks = RX.table([
      { label: "Height", cell: function (b) { return RX.num(b.height, "block." + b.hash + ".height"); } },
      { label: "Status", cell: function (b) { return statusBadge(b.status, "block." + b.hash + ".status"); } },
      { label: "Action", cell: recheck },
      { label: "Hash", cell: function (b) { return RX.hash(b.hash, "block." + b.hash + ".hash"); } },
      { label: "Mode", cell: function (b) { return b.pool_type; } },
      { label: "Found", cell: function (b) { return RX.time(b.found_at_ms, "block." + b.hash + ".found"); } },
      { label: "Difficulty", class: "right", cell: function (b) { return RX.num(b.difficulty, "block." + b.hash + ".difficulty"); } },
      { label: "Credited", class: "right", cell: function (b) { return b.credited === null || b.credited === undefined ? h("span", { class: "muted" }, "not yet") : RX.xmr(b.credited, "block." + b.hash + ".credited"); } },
      { label: "Finder", class: "wrap", cell: function (b) { return h("span", { class: "mono small" }, shortAddress(b.miner) + (b.worker ? " · " + b.worker : "")); } },
      { label: "Reason", class: "wrap", cell: function (b) { return b.reason || ""; } },
    ], list.blocks, "No block found yet.");
    const retry = function (i) {
      let spec;
      if (i.kind === "block") {
        spec = { label: "Retry crediting", path: "admin/blocks/" + i.hash + "/retry", body: undefined,
          question: "Retry crediting the block at height " + i.height + " at the block manager's next pass?" };
      } else if (i.kind === "pps") {
        spec = { label: "Retry PPS", path: "admin/pps/" + i.height + "/retry", body: undefined,
          question: "Retry the PPS crediting of height " + i.height + " at the block manager's next pass?" };
      } else if (i.kind === "unrecorded") {
        spec = { label: "Record block", path: "admin/blocks", body: { height: Number(i.height) },
          question: "Record the chain block at height " + i.height + " as found by the pool? The daemon and the wallet are asked first." };
      } else {
        return "";
      }
      const act = button(spec.label, {
        class: "secondary", dataset: { action: "retry", target: String(i.height) },
        onclick: function () {
          confirmStep(act, {
            question: spec.question, label: spec.label, safe: true,
            run: function () {
              return ctx.act(function () { return RX.admin(spec.path, { method: "POST", body: spec.body }); },
                function (r) { return r && r.retry ? "Due at the next pass: " + r.retry + "." : "Recorded the block at height " + i.height + "."; });
            },
          });
        },
      });
      return act;
    };
    const aside = RX.table([
      { label: "Kind", cell: function (i) { return i.kind; } },
      { label: "Height", cell: function (i) { return RX.num(i.height, "issue." + i.kind + "." + i.height + ".height"); } },
      { label: "Hash", cell: function (i) { return RX.hash(i.hash, "issue." + i.kind + "." + i.height + ".hash"); } },
      { label: "Attempts", class: "right", cell: function (i) { return RX.num(i.attempts, "issue." + i.kind + "." + i.height + ".attempts"); } },
      { label: "Reason", class: "wrap", cell: function (i) { return i.reason; } },
      { label: "Action", cell: retry },
    ], list.set_aside, "Nothing set aside: every block was credited or is waiting its turn.");
    return [
      h("section", { class: "card" }, h("h2", {}, "Blocks"),
        filterTabs("Filter by status", ctx.path, query, "status",
          [["", "All"], ["candidate", "Candidate"], ["pending", "Pending"], ["unlocked", "Unlocked"], ["orphaned", "Orphaned"]]),
        blocks, pager(ctx.path, query, pg, list.blocks.length === 50),
        h("p", { class: "muted small" }, "Recheck sends a block back to pending (an orphan the chain may hold after all, or a stuck candidate); a credited block cannot be rechecked.")),
      h("section", { class: "card" }, h("h2", {}, "Set aside by the block manager"), aside),
    ];
  });
  function shortAddress(a) {
    const s = String(a || "");
    return s.length > 20 ? s.slice(0, 8) + "…" + s.slice(-8) : s;
  }

  // ---- payouts ------------------------------------------------------------------------------
  // The statuses an operator acts on, and what each action does from there
  // (domain::payout::BatchStatus's table).
  const QUEUE = ["reserved", "signed", "held", "held_signed", "manual_review"];
  const ACTIONS = {
    reserved: ["hold", "release"],
    signed: ["hold"],
    held: ["retry", "release"],
    held_signed: ["retry"],
    manual_review: ["retry", "release"],
  };
  function actionQuestion(action, b) {
    const n = "batch " + b.id;
    if (action === "hold") {
      return b.status === "signed" ? "Hold " + n + "? Its tx is signed; it is not relayed while held." :
        "Hold " + n + "? It is not signed while held; release or retry it later.";
    }
    if (action === "retry") {
      if (b.status === "held") return "Resume " + n + "? It goes back to reserved and is signed at the next payout cycle.";
      if (b.status === "held_signed") return "Resume " + n + "? Its signed tx is relayed at the next payout cycle.";
      return "Relay " + n + "'s tx again? The same signed tx is sent (it cannot pay twice).";
    }
    if (b.status === "manual_review") {
      return "Revert " + n + "? Only for a tx that failed: the wallet and the daemon are asked first, then the amounts are credited back to the miners' balances.";
    }
    return "Release " + n + "? It is dropped without paying and the balances stay owed (paid in a later batch).";
  }
  const ACTION_LABEL = { hold: "Hold", retry: "Retry", release: "Release" };

  page("/admin/payouts", "Payouts", async function (ctx) {
    const query = ctx.query;
    const pg = pageOf(query);
    const status = query.get("status");
    const [totals, queue, all, aside] = await Promise.all([
      settle(RX.admin("admin/payouts/totals")),
      RX.admin("admin/payouts?limit=200&status=" + QUEUE.join(",")),
      RX.admin("admin/payouts?limit=50&page=" + pg + (status ? "&status=" + encodeURIComponent(status) : "")),
      settle(RX.admin("admin/payouts/set-aside")),
    ]);

    const actionButtons = function (b) {
      const list = ACTIONS[b.status] || [];
      return h("div", { class: "actions" }, list.map(function (action) {
        const act = button(ACTION_LABEL[action], {
          class: "secondary",
          dataset: { action: action, target: String(b.id) },
          onclick: function () {
            const reason = action === "hold" ? h("input", { type: "text", maxlength: "256", class: "hold-reason", placeholder: "held by operator" }) : null;
            confirmStep(act, {
              question: actionQuestion(action, b),
              label: (action === "release" && b.status === "manual_review" ? "Revert" : ACTION_LABEL[action]) + " batch " + b.id,
              extra: reason ? field("Reason (optional, for the log)", reason) : null,
              safe: action === "retry",
              run: function () {
                let body;
                if (action === "hold") body = reason.value.trim() ? { reason: reason.value.trim() } : {};
                if (action === "release") body = { revert: b.status === "manual_review" };
                return ctx.act(function () {
                  return RX.admin("admin/payouts/" + b.id + "/" + action, { method: "POST", body: body });
                }, function (t) { return "Batch " + t.batch + ": " + t.before.replace(/_/g, " ") + " → " + t.after.replace(/_/g, " ") + "."; });
              },
            });
          },
        });
        return act;
      }));
    };
    const details = function (b) {
      const open = button("Show", {
        class: "ghost", "aria-expanded": "false", dataset: { action: "items", target: String(b.id) },
        onclick: async function () {
          const row = open.closest("tr");
          const shown = row.nextElementSibling && row.nextElementSibling.classList.contains("items-row") ? row.nextElementSibling : null;
          if (shown) {
            shown.remove();
            open.setAttribute("aria-expanded", "false");
            return;
          }
          const cell = h("td", { colspan: String(row.children.length) }, h("p", { class: "muted" }, "Loading…"));
          row.after(h("tr", { class: "items-row" }, cell));
          open.setAttribute("aria-expanded", "true");
          try {
            const d = await RX.admin("admin/payouts/" + b.id);
            RX.fill(cell, RX.table([
              { label: "#", cell: function (i) { return String(i.position); } },
              { label: "Address", class: "wrap", cell: function (i) { return h("span", { class: "mono small" }, i.address + (i.payment_id ? "." + i.payment_id : "")); } },
              { label: "Mode", cell: function (i) { return i.balance_type; } },
              { label: "Gross", class: "right", cell: function (i) { return RX.xmr(i.gross, "payout." + b.id + ".item." + i.position + ".gross"); } },
              { label: "Fee", class: "right", cell: function (i) { return RX.xmr(i.fee, "payout." + b.id + ".item." + i.position + ".fee"); } },
              { label: "Net", class: "right", cell: function (i) { return RX.xmr(i.net, "payout." + b.id + ".item." + i.position + ".net"); } },
            ], d.items, "No items."));
          } catch (e) {
            if (e.status !== 401) RX.fill(cell, RX.error(e));
          }
        },
      });
      return open;
    };
    // The queue's figures are named queue.ID.*, the full list's payout.ID.*.
    const batchColumns = function (withActions) {
      const pre = withActions ? "queue." : "payout.";
      const cols = [
        { label: "Batch", cell: function (b) { return ident(b.id, pre + b.id + ".id"); } },
        { label: "Status", cell: function (b) { return statusBadge(b.status, pre + b.id + ".status"); } },
        withActions ? { label: "Action", cell: actionButtons } : null,
        { label: "Items", cell: details },
        { label: "Net", class: "right", cell: function (b) { return RX.xmr(b.net, pre + b.id + ".net"); } },
        withActions ? null : { label: "Gross", class: "right", cell: function (b) { return RX.xmr(b.gross, pre + b.id + ".gross"); } },
        { label: "Dest.", class: "right", cell: function (b) { return RX.num(b.destinations, pre + b.id + ".destinations"); } },
        { label: "Network fee", class: "right", cell: function (b) { return b.network_fee === null ? "—" : RX.xmr(b.network_fee, pre + b.id + ".network_fee"); } },
        { label: "Tx", cell: function (b) { return b.tx_hash ? RX.hash(b.tx_hash, pre + b.id + ".tx_hash") : "—"; } },
        withActions ? null : { label: "Confirmations", class: "right", cell: function (b) { return RX.num(b.confirmations, pre + b.id + ".confirmations"); } },
        { label: "Updated", cell: function (b) { return RX.time(b.updated_at_ms, pre + b.id + ".updated"); } },
        { label: "Last error", class: "wrap", cell: function (b) { return b.last_error || ""; } },
      ];
      return cols.filter(function (c) { return c !== null; });
    };

    const runNow = button("Run a payout cycle now", {
      class: "secondary", dataset: { action: "run-now" },
      onclick: function () {
        confirmStep(runNow, {
          question: "Ask the payments role to run a payout cycle now (instead of waiting for its interval)?",
          label: "Run now", safe: true,
          run: function () {
            return ctx.act(function () { return RX.admin("admin/payouts/run-now", { method: "POST" }); },
              function (r) { return "Payout cycle requested (request " + r.requested + "); the payments role runs it shortly."; });
          },
        });
      },
    });
    const queueCard = h("section", { class: "card" }, h("h2", {}, "Review queue"),
      h("p", { class: "muted small" }, "Batches not yet sent, held, or in manual review (their tx left the pool unconfirmed, or its inputs were spent elsewhere). " +
        "Hold stops a batch; retry resumes it or relays its tx again; release drops an unsigned batch, or reverts a failed one in manual review."),
      h("div", { class: "toolbar" }, runNow),
      RX.table(batchColumns(true), queue, "Nothing waits for the operator."));

    let totalsCard;
    if (totals.error) {
      totalsCard = h("section", { class: "card" }, h("h2", {}, "Totals"), RX.error(totals.error));
    } else {
      const t = totals.value;
      const b = t.books;
      totalsCard = h("section", { class: "card" }, h("h2", {}, "Totals"),
        h("div", { class: "stats" },
          RX.stat("Paid", RX.xmr(t.paid, "totals.paid")),
          RX.stat("Payments", RX.num(t.payments, "totals.payments")),
          RX.stat("Transactions", RX.num(t.transactions, "totals.transactions")),
          RX.stat("Withdrawal fees", RX.xmr(t.withdrawal_fees, "totals.withdrawal_fees")),
          RX.stat("Network fees", RX.xmr(t.network_fees, "totals.network_fees"))),
        h("h3", {}, "The books"),
        h("div", { class: "stats" },
          RX.stat("Credited", RX.xmr(b.credited, "books.credited")),
          RX.stat("Due", RX.xmr(b.due, "books.due")),
          RX.stat("Paid", RX.xmr(b.paid, "books.paid")),
          RX.stat("Fees charged", RX.xmr(b.fees_charged, "books.fees_charged")),
          RX.stat("Network fees", RX.xmr(b.network_fees, "books.network_fees")),
          RX.stat("Fee income", RX.xmr(b.fee_income, "books.fee_income")),
          RX.stat("Unaccounted", RX.xmr(b.unaccounted, "books.unaccounted"), "credited − due − paid − fees; 0 when the books balance")),
        big(b.unaccounted) !== 0n ? h("p", { class: "notice warning", role: "alert" }, "The books do not balance: look at the payments role's log.") : null);
    }

    let asideCard;
    if (aside.error) {
      asideCard = h("section", { class: "card" }, h("h2", {}, "Balances set aside"), RX.error(aside.error));
    } else {
      const releaseBalance = function (s) {
        const act = button("Release", {
          class: "secondary", dataset: { action: "release-balance", target: String(s.balance_id) },
          onclick: function () {
            confirmStep(act, {
              question: "Let balance " + s.balance_id + " be paid again? The wallet refused it before: " + s.reason,
              label: "Release balance", safe: true,
              run: function () {
                return ctx.act(function () { return RX.admin("admin/balances/" + s.balance_id + "/release", { method: "POST" }); },
                  function () { return "Balance " + s.balance_id + " may be paid again."; });
              },
            });
          },
        });
        return act;
      };
      asideCard = h("section", { class: "card" }, h("h2", {}, "Balances set aside"),
        RX.table([
          { label: "Balance", cell: function (s) { return ident(s.balance_id, "aside." + s.balance_id + ".id"); } },
          { label: "Action", cell: releaseBalance },
          { label: "Address", class: "wrap", cell: function (s) { return h("span", { class: "mono small" }, s.address); } },
          { label: "Why", class: "wrap", cell: function (s) { return s.reason; } },
        ], aside.value, "No balance is set aside."));
    }

    const allCard = h("section", { class: "card" }, h("h2", {}, "All batches"),
      filterTabs("Filter by status", ctx.path, query, "status",
        [["", "All"], ["relayed", "Relayed"], ["confirmed", "Confirmed"], ["released", "Released"], ["reverted", "Reverted"], ["manual_review", "Manual review"]]),
      RX.table(batchColumns(false), all, "No payout batch yet."),
      pager(ctx.path, query, pg, all.length === 50));
    return [queueCard, totalsCard, asideCard, allCard];
  });

  // ---- ports --------------------------------------------------------------------------------
  page("/admin/ports", "Stratum ports", async function (ctx) {
    const ports = await RX.admin("admin/ports");
    const port = h("input", { type: "number", id: "port-number", min: "1", max: "65535", required: true, inputmode: "numeric" });
    const diff = h("input", { type: "number", id: "port-diff", min: "1", required: true, inputmode: "numeric" });
    const mode = h("select", { id: "port-mode" }, ["pplns", "pps", "solo"].map(function (m) { return h("option", { value: m }, m); }));
    const desc = h("input", { type: "text", id: "port-desc", maxlength: "200" });
    const ssl = h("input", { type: "checkbox", id: "port-ssl" });
    const hidden = h("input", { type: "checkbox", id: "port-hidden" });
    const proxy = h("input", { type: "checkbox", id: "port-proxy" });
    const save = h("button", { type: "submit", id: "port-save" }, "Add port");
    const cancelEdit = button("Cancel edit", { class: "secondary", hidden: true });
    let editing = false;
    const setEditing = function (p) {
      editing = !!p;
      port.value = p ? String(p.port) : "";
      port.readOnly = editing;
      diff.value = p ? String(p.diff) : "";
      mode.value = p ? p.portType : "pplns";
      desc.value = p ? p.desc : "";
      ssl.checked = !!(p && p.ssl);
      hidden.checked = !!(p && p.hidden);
      proxy.checked = !!(p && p.proxyProtocol);
      save.textContent = editing ? "Save port " + p.port : "Add port";
      cancelEdit.hidden = !editing;
    };
    cancelEdit.addEventListener("click", function () { setEditing(null); });
    const form = h("form", { class: "port-form", novalidate: true },
      field("Port", port), field("Starting difficulty", diff), field("Payout mode", mode), h("label", { class: "grow" }, "Description", desc),
      h("label", { class: "check" }, ssl, "TLS"), h("label", { class: "check" }, hidden, "Hidden"), h("label", { class: "check" }, proxy, "PROXY protocol"),
      save, cancelEdit);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const body = {
        port: Number(port.value), diff: Number(diff.value), desc: desc.value, portType: mode.value,
        hidden: hidden.checked, ssl: ssl.checked, proxyProtocol: proxy.checked,
      };
      const method = editing ? "PUT" : "POST";
      ctx.act(function () { return RX.admin("admin/ports", { method: method, body: body }); },
        function (p) { return "Port " + p.port + (method === "PUT" ? " changed" : " added") + ": difficulty " + p.diff + ", " + p.portType + (p.ssl ? ", TLS" : "") + "."; });
    });
    const actions = function (p) {
      const edit = button("Edit", { class: "secondary", dataset: { action: "edit-port", target: String(p.port) },
        onclick: function () { setEditing(p); port.scrollIntoView({ block: "nearest" }); diff.focus(); } });
      const remove = button("Remove", {
        class: "secondary", dataset: { action: "remove-port", target: String(p.port) },
        onclick: function () {
          confirmStep(remove, {
            question: "Remove port " + p.port + "? Miners connected to it keep mining until they reconnect; the pool stops listening on it when it restarts its listeners.",
            label: "Remove port " + p.port,
            run: function () {
              return ctx.act(function () { return RX.admin("admin/ports", { method: "DELETE", body: { port: p.port } }); },
                function (r) { return "Port " + r.port + " removed."; });
            },
          });
        },
      });
      return h("div", { class: "actions" }, edit, remove);
    };
    return [
      h("section", { class: "card" }, h("h2", {}, "Ports"),
        RX.table([
          { label: "Port", cell: function (p) { return ident(p.port, "port." + p.port + ".port"); } },
          { label: "Difficulty", class: "right", cell: function (p) { return RX.num(p.diff, "port." + p.port + ".diff"); } },
          { label: "Mode", cell: function (p) { return p.portType; } },
          { label: "TLS", cell: function (p) { return p.ssl ? "yes" : "no"; } },
          { label: "Hidden", cell: function (p) { return p.hidden ? "yes" : "no"; } },
          { label: "PROXY", cell: function (p) { return p.proxyProtocol ? "yes" : "no"; } },
          { label: "Description", class: "wrap", cell: function (p) { return p.desc; } },
          { label: "Action", cell: actions },
        ], ports, "No port: the pool listens nowhere.")),
      h("section", { class: "card" }, h("h2", {}, "Add or change a port"), form,
        h("p", { class: "muted small" }, "The starting difficulty must be within the pool's vardiff bounds. The pool picks up port changes at its next listener refresh.")),
    ];
  });

  // ---- config -------------------------------------------------------------------------------
  page("/admin/config", "Config items", async function (ctx) {
    const items = await RX.admin("admin/config");
    const filter = h("input", { type: "search", id: "config-filter", placeholder: "pool, payout, fee…", autocomplete: "off" });
    const editRow = function (entry, trigger) {
      closeConfirm();
      const key = entry.module + "." + entry.item;
      let input;
      if (entry.type === "bool") {
        input = h("select", { id: "config-value" }, ["true", "false"].map(function (v) { return h("option", { value: v, selected: v === entry.value }, v); }));
      } else {
        input = h("input", { type: "text", id: "config-value", class: entry.value.length > 40 ? "address" : "", spellcheck: "false" });
        input.value = entry.value;
      }
      const save = h("button", { type: "submit", dataset: { confirm: "config" } }, "Save");
      const cancel = button("Cancel", { class: "secondary" });
      const form = h("form", { class: "config-edit", novalidate: true }, h("label", { class: "grow" }, "New value of " + key, input), save, cancel);
      const holder = h("tr", { class: "confirm-row" }, h("td", { colspan: "5" }, form,
        entry.desc ? h("p", { class: "muted small" }, entry.desc) : null));
      trigger.closest("tr").after(holder);
      openConfirm = holder;
      cancel.addEventListener("click", function () { closeConfirm(); trigger.focus(); });
      form.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { closeConfirm(); trigger.focus(); } });
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        save.disabled = true;
        ctx.act(function () { return RX.admin("admin/config", { method: "PUT", body: { item: key, value: input.value } }); },
          function (c) { return c.item + ": " + (c.before === null ? "(unset)" : JSON.stringify(c.before)) + " → " + JSON.stringify(c.after) + "."; })
          .finally(function () { save.disabled = false; });
      });
      input.focus();
    };
    const rows = items.map(function (e) {
      const key = e.module + "." + e.item;
      const edit = button("Edit", { class: "secondary", dataset: { action: "edit-config", target: key },
        onclick: function () { editRow(e, edit); } });
      return h("tr", { dataset: { key: key.toLowerCase() + " " + e.desc.toLowerCase() } },
        h("td", {}, h("code", {}, key)),
        h("td", { class: "wrap" }, h("span", { class: "mono", dataset: { field: "config." + key, value: e.value } }, e.value === "" ? "(empty)" : e.value)),
        h("td", {}, e.type),
        h("td", { class: "wrap muted" }, e.desc),
        h("td", {}, edit));
    });
    const tbody = h("tbody", {}, rows);
    filter.addEventListener("input", function () {
      const q = filter.value.trim().toLowerCase();
      closeConfirm();
      for (const tr of tbody.querySelectorAll("tr[data-key]")) tr.hidden = q !== "" && !tr.dataset.key.includes(q);
    });
    return [h("section", { class: "card" },
      h("p", { class: "muted small" }, "The settings the pool's roles read from MySQL. Each value is checked against its item's rule before it is stored; the roles pick it up at their next settings reload."),
      h("form", { class: "toolbar", role: "search", onsubmit: function (ev) { ev.preventDefault(); } }, field("Filter", filter)),
      items.length === 0 ? h("p", { class: "empty" }, "No config item.") :
        h("div", { class: "table-wrap" }, h("table", { class: "config-table" },
          h("thead", {}, h("tr", {}, ["Item", "Value", "Type", "Description", ""].map(function (l) { return h("th", { scope: "col" }, l); }))),
          tbody)))];
  });

  // ---- bans ---------------------------------------------------------------------------------
  page("/admin/bans", "Bans", async function (ctx) {
    const bans = await RX.admin("admin/bans");
    const kind = h("select", { id: "ban-kind" }, h("option", { value: "ip" }, "IP address"), h("option", { value: "address" }, "Payout address"));
    const target = h("input", { type: "text", id: "ban-target", class: "address", spellcheck: "false", autocomplete: "off" });
    const reason = h("input", { type: "text", id: "ban-reason", maxlength: "256" });
    const add = h("button", { type: "submit", id: "ban-add" }, "Ban");
    const form = h("form", { class: "ban-form", novalidate: true }, field("Ban by", kind), h("label", { class: "grow" }, "IP or address", target),
      field("Reason", reason), add);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const body = { reason: reason.value.trim() };
      body[kind.value] = target.value.trim();
      ctx.act(function () { return RX.admin("admin/bans", { method: "POST", body: body }); },
        function (b) { return "Ban " + b.id + " added: " + (b.ip || b.address) + "."; });
    });
    const remove = function (b) {
      const act = button("Lift", {
        class: "secondary", dataset: { action: "lift-ban", target: String(b.id) },
        onclick: function () {
          confirmStep(act, {
            question: "Lift ban " + b.id + " (" + (b.ip || b.address) + ")? Its miners may connect and be paid again.",
            label: "Lift ban " + b.id,
            run: function () {
              return ctx.act(function () { return RX.admin("admin/bans/" + b.id, { method: "DELETE" }); },
                function (r) { return "Ban " + r.id + " lifted: " + (r.ip || r.address) + "."; });
            },
          });
        },
      });
      return act;
    };
    return [
      h("section", { class: "card" }, h("h2", {}, "Active bans"),
        RX.table([
          { label: "Ban", cell: function (b) { return ident(b.id, "ban." + b.id + ".id"); } },
          { label: "Kind", cell: function (b) { return b.ip ? "IP" : "address"; } },
          { label: "Target", class: "wrap", cell: function (b) { return h("span", { class: "mono small", dataset: { field: "ban." + b.id + ".target", value: b.ip || b.address } }, b.ip || b.address); } },
          { label: "Reason", class: "wrap", cell: function (b) { return b.reason; } },
          { label: "Action", cell: remove },
        ], bans, "Nobody is banned.")),
      h("section", { class: "card" }, h("h2", {}, "Ban an IP or a payout address"), form),
    ];
  });

  // ---- mail outbox --------------------------------------------------------------------------
  page("/admin/mail", "Mail outbox", async function (ctx) {
    const query = ctx.query;
    const state = query.get("state");
    const mails = await RX.admin("admin/mail?limit=200" + (state ? "&state=" + encodeURIComponent(state) : ""));
    const actions = function (m) {
      const nodes = [];
      if (m.state === "failed" || m.state === "queued") {
        nodes.push(button("Retry", {
          class: "secondary", dataset: { action: "retry-mail", target: String(m.id) },
          onclick: function () {
            ctx.act(function () { return RX.admin("admin/mail/" + m.id + "/retry", { method: "POST" }); },
              function (r) { return "Mail " + r.id + " is " + r.state + ", due now."; });
          },
        }));
      }
      if (m.state !== "sending") {
        const del = button("Delete", {
          class: "secondary", dataset: { action: "delete-mail", target: String(m.id) },
          onclick: function () {
            confirmStep(del, {
              question: "Delete mail " + m.id + " (" + m.subject + ")? " + (m.state === "sent" ? "It was sent; only the record goes." : "It will never be sent."),
              label: "Delete mail " + m.id,
              run: function () {
                return ctx.act(function () { return RX.admin("admin/mail/" + m.id, { method: "DELETE" }); },
                  function (r) { return "Mail " + r.id + " deleted."; });
              },
            });
          },
        });
        nodes.push(del);
      }
      return h("div", { class: "actions" }, nodes);
    };
    const retryFailed = button("Retry every failed mail", {
      class: "secondary", dataset: { action: "retry-failed" },
      onclick: function () {
        ctx.act(function () { return RX.admin("admin/mail/retry-failed", { method: "POST" }); },
          function (r) { return r.queued + " failed mail" + (Number(r.queued) === 1 ? " is" : "s are") + " queued again."; });
      },
    });
    const days = h("input", { type: "number", id: "purge-days", min: "0", max: "36500", value: "30", inputmode: "numeric" });
    const purge = h("button", { type: "submit", class: "danger", dataset: { action: "purge" } }, "Purge");
    const purgeForm = h("form", { class: "toolbar", novalidate: true }, field("Delete sent mail older than (days)", days), purge);
    purgeForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const n = Number(days.value);
      confirmStep(purge, {
        question: "Delete the record of every mail sent more than " + days.value + " days ago? This cannot be undone.",
        label: "Purge sent mail",
        run: function () {
          return ctx.act(function () { return RX.admin("admin/mail/purge", { method: "POST", body: { sent_before_days: n } }); },
            function (r) { return r.deleted + " sent mail" + (Number(r.deleted) === 1 ? "" : "s") + " deleted."; });
        },
      });
    });
    return [h("section", { class: "card" },
      filterTabs("Filter by state", ctx.path, query, "state", [["", "All"], ["queued", "Queued"], ["sending", "Sending"], ["sent", "Sent"], ["failed", "Failed"]]),
      h("div", { class: "toolbar" }, retryFailed),
      RX.table([
        { label: "Mail", cell: function (m) { return ident(m.id, "mail." + m.id + ".id"); } },
        { label: "State", cell: function (m) { return statusBadge(m.state, "mail." + m.id + ".state"); } },
        { label: "Action", cell: actions },
        { label: "Kind", cell: function (m) { return m.kind; } },
        { label: "To", cell: function (m) { return h("span", { class: "mono small" }, m.to); } },
        { label: "Subject", class: "wrap", cell: function (m) { return m.subject; } },
        { label: "Tries", class: "right", cell: function (m) { return RX.num(m.attempts, "mail." + m.id + ".attempts"); } },
        { label: "Created", cell: function (m) { return RX.time(m.created_at_ms, "mail." + m.id + ".created"); } },
        { label: "Sent / next try", cell: function (m) {
          return m.sent_at_ms ? RX.time(m.sent_at_ms, "mail." + m.id + ".sent") :
            m.state === "failed" ? h("span", { class: "muted" }, "not retried") : RX.time(m.next_attempt_at_ms, "mail." + m.id + ".next");
        } },
        { label: "Last error", class: "wrap", cell: function (m) { return m.last_error || ""; } },
      ], mails, state ? "No " + state + " mail." : "The outbox is empty."),
      h("p", { class: "muted small" }, "Recipients are masked; the bodies (with their unsubscribe links) never leave the database.")),
    h("section", { class: "card" }, h("h2", {}, "Purge"), purgeForm)];
  });

  // ---- admin accounts -----------------------------------------------------------------------
  page("/admin/users", "Admin accounts", async function (ctx) {
    const users = await RX.admin("admin/users");
    const me = ctx.me;
    const remove = function (u) {
      const act = button("Remove", {
        class: "secondary", dataset: { action: "remove-user", target: u.name },
        onclick: function () {
          confirmStep(act, {
            question: "Remove the account " + u.name + "? Its sessions end at once." + (u.name === me.name ? " This is your own account: you are logged out." : ""),
            label: "Remove " + u.name,
            run: function () {
              return ctx.act(function () { return RX.admin("admin/users/" + encodeURIComponent(u.name), { method: "DELETE" }); },
                function (r) { return "Account " + r.name + " removed."; });
            },
          });
        },
      });
      return act;
    };
    const name = h("input", { type: "text", id: "user-name", autocomplete: "off", autocapitalize: "none", spellcheck: "false" });
    const password = h("input", { type: "password", id: "user-password", autocomplete: "new-password" });
    const role = h("select", { id: "user-role" }, h("option", { value: "viewer" }, "viewer (read-only)"), h("option", { value: "admin" }, "admin"));
    const addForm = h("form", { class: "user-form", novalidate: true }, field("Name", name), field("Password", password), field("Role", role),
      h("button", { type: "submit", id: "user-add" }, "Add account"));
    addForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const body = { name: name.value.trim(), password: password.value, role: role.value };
      ctx.act(function () { return RX.admin("admin/users", { method: "POST", body: body }); },
        function (u) { return "Account " + u.name + " added (" + u.role + ")."; });
    });

    const current = h("input", { type: "password", id: "password-current", autocomplete: "current-password" });
    const fresh = h("input", { type: "password", id: "password-new", autocomplete: "new-password" });
    const again = h("input", { type: "password", id: "password-again", autocomplete: "new-password" });
    const passwordForm = h("form", { class: "password-form", novalidate: true }, field("Current password", current), field("New password", fresh),
      field("New password again", again), h("button", { type: "submit", id: "password-change" }, "Change my password"));
    passwordForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      if (fresh.value !== again.value) {
        ctx.fail(new Error("The two new passwords differ."));
        again.focus();
        return;
      }
      try {
        await RX.admin("admin/password", { method: "POST", body: { current: current.value, new: fresh.value } });
      } catch (e) {
        if (e.status !== 401) ctx.fail(e);
        return;
      }
      RX.session.clear();
      who = null;
      loginNotice = "Your password is changed and every session of your account has ended: log in with the new password.";
      RX.go("#/admin/login");
    });

    return [
      h("section", { class: "card" }, h("h2", {}, "Accounts"),
        RX.table([
          { label: "Name", cell: function (u) { return h("span", {}, u.name, u.name === me.name ? h("span", { class: "muted" }, " (you)") : null); } },
          { label: "Role", cell: function (u) { return statusBadge(u.role, "user." + u.name + ".role"); } },
          { label: "Action", cell: remove },
          { label: "Created", cell: function (u) { return RX.time(u.created_ms, "user." + u.name + ".created"); } },
          { label: "Password changed", cell: function (u) { return RX.time(u.password_changed_ms, "user." + u.name + ".password_changed"); } },
        ], users, "No account.")),
      h("section", { class: "card" }, h("h2", {}, "Add an account"), addForm,
        h("p", { class: "muted small" }, "A viewer reads every operator page and changes nothing.")),
      h("section", { class: "card" }, h("h2", {}, "Change my password"), passwordForm,
        h("p", { class: "muted small" }, "Every session of your account ends, this one too: you log in again with the new password.")),
    ];
  });

  // ---- audit log ----------------------------------------------------------------------------
  page("/admin/audit", "Audit log", async function (ctx) {
    const pg = pageOf(ctx.query);
    const rows = await RX.admin("admin/audit?limit=50&page=" + pg);
    return [h("section", { class: "card" },
      h("p", { class: "muted small" }, "Every change made through the api or the command line, newest first: who, what, and the state before and after."),
      RX.table([
        { label: "When", cell: function (a) { return RX.time(a.at_ms, "audit." + a.id + ".at"); } },
        { label: "Who", cell: function (a) { return a.actor; } },
        { label: "Action", cell: function (a) { return h("code", { dataset: { field: "audit." + a.id + ".action", value: a.action } }, a.action); } },
        { label: "Target", class: "wrap", cell: function (a) { return h("span", { class: "mono small" }, a.target); } },
        { label: "Before", class: "wrap", cell: function (a) { return h("code", { class: "json" }, jsonText(a.before)); } },
        { label: "After", class: "wrap", cell: function (a) { return h("code", { class: "json" }, jsonText(a.after)); } },
      ], rows, "Nothing recorded yet."),
      pager(ctx.path, ctx.query, pg, rows.length === 50))];
  });
})();
