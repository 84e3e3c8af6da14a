//! The dashboard's operator pages (`src/api/dashboard/assets/admin.js`) in headless Chromium,
//! against the real api over HTTP on a fresh MariaDB database per test and a real LMDB store,
//! with admin `alice` and viewer `vic` made as `rxpool admin user add` makes them. No
//! wallet-rpc runs: the overview must say so in words.
//!
//! Proves: without a session every operator view shows the login form, fetches nothing under
//! `/admin/` and no session exists; after the login each view loads, and the overview shows
//! exactly `/admin/stats` (past 2^53 too); the review-queue actions clicked in the page (after
//! the in-page confirm step) move the payout in MySQL; a ban added and lifted and a config item
//! edited in the page reach the api; a viewer reads every page but its writes are refused with
//! the api's own message. Screenshots of each view (light, dark, phone) are saved under
//! `target/test-artifacts/dashboard/`.

#[path = "support/api.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod api_support;
#[path = "support/browser.rs"]
mod browser;

use api_support::{ApiSetup, serve_api};
use browser::Browser;
use rxpool::admin::users::{UserCommand, run_with_input};
use rxpool::api::ApiState;
use rxpool::devnet::MariaDb;
use rxpool::domain::{
    Atomic, BalanceType, BatchKind, BatchStatus, Difficulty, Hash32, Height, PoolType, UnixMillis,
};
use rxpool::store::lmdb::{BlockStatus, BlockUpdate, FoundBlock};
use rxpool::store::mysql::{self, payouts};
use serde_json::{Value, json};
use sqlx::{MySqlPool, Row};
use tokio_util::sync::CancellationToken;

const ALICE_PASSWORD: &str = "correct horse battery staple";
const VIEWER_PASSWORD: &str = "read only but long enough";

/// Every operator view, the login's `next` last so the login lands on the overview.
const VIEWS: [&str; 9] = [
    "/admin/blocks",
    "/admin/payouts",
    "/admin/ports",
    "/admin/config",
    "/admin/bans",
    "/admin/mail",
    "/admin/users",
    "/admin/audit",
    "/admin",
];

/// The api serving a fresh database with two accounts.
struct Pool {
    api: String,
    db: MySqlPool,
    state: ApiState,
    http: reqwest::Client,
    _lmdb: tempfile::TempDir,
    _stop: tokio_util::sync::DropGuard,
}

/// `rxpool admin user add NAME [--viewer]` with `password` on its stdin.
async fn add_user(db: &MySqlPool, name: &str, viewer: bool, password: &str) {
    let cmd = UserCommand::Add {
        name: name.into(),
        viewer,
    };
    let mut stdin = std::io::Cursor::new(format!("{password}\n").into_bytes());
    run_with_input(db, cmd, &mut stdin, false).await.unwrap();
}

async fn pool(name: &str) -> Pool {
    let url = MariaDb::shared()
        .await
        .unwrap()
        .create_database(name)
        .await
        .unwrap();
    let db = mysql::connect(&url).await.unwrap();
    mysql::migrate(&db).await.unwrap();
    add_user(&db, "alice", false, ALICE_PASSWORD).await;
    add_user(&db, "vic", true, VIEWER_PASSWORD).await;
    let settings = mysql::load_settings(&db, &Default::default())
        .await
        .unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let (api, state) = serve_api(ApiSetup::offline(&url, lmdb.path()), &db, settings, &stop).await;
    Pool {
        api,
        db,
        state,
        http: reqwest::Client::new(),
        _lmdb: lmdb,
        _stop: stop.drop_guard(),
    }
}

impl Pool {
    /// An access token for `user`, straight from the api.
    async fn token(&self, user: &str, password: &str) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/admin/login", self.api))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["token"].as_str().unwrap().to_owned()
    }

    /// `method path` with `token` and `body`: the status and the JSON answer.
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let (status, body) = self.call(token, "GET", path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn balance(&self, address: &str, ty: BalanceType, amount: u64) -> u64 {
        sqlx::query(
            "INSERT INTO balance (payment_address, payment_id, pool_type, amount) VALUES (?, '', ?, ?)",
        )
        .bind(address)
        .bind(ty.as_str())
        .bind(amount)
        .execute(&self.db)
        .await
        .unwrap()
        .last_insert_id()
    }

    /// A reserved batch paying `amount` from a new balance of `address`.
    async fn reserved_batch(&self, address: &str, amount: u64) -> u64 {
        let id = self.balance(address, BalanceType::Pplns, amount).await;
        let item = payouts::NewItem {
            balance_id: id,
            address: address.to_owned(),
            payment_id: String::new(),
            balance_type: BalanceType::Pplns,
            destination: address.to_owned(),
            gross: Atomic(amount),
            fee: Atomic::ZERO,
            net: Atomic(amount),
        };
        payouts::reserve(&self.db, BatchKind::Single, &[item])
            .await
            .unwrap()
    }

    /// A batch in manual review: signed, then its relay refused.
    async fn manual_review_batch(&self, address: &str, amount: u64, tx_byte: &str) -> u64 {
        let batch = self.reserved_batch(address, amount).await;
        let record = payouts::SignedRecord {
            tx_hash: tx_byte.repeat(32).parse().unwrap(),
            tx_metadata: "00".into(),
            tx_key: payouts::TxKey::default(),
            network_fee: Atomic(30_000_000),
        };
        payouts::record_signed(&self.db, batch, &record)
            .await
            .unwrap();
        payouts::to_manual_review(
            &self.db,
            batch,
            BatchStatus::Signed,
            "inputs spent elsewhere",
        )
        .await
        .unwrap();
        batch
    }

    async fn status_of(&self, batch: u64) -> BatchStatus {
        payouts::get(&self.db, batch).await.unwrap().unwrap().status
    }

    /// The audit log's actions and actors, oldest first, after the accounts were made.
    async fn audit(&self) -> Vec<(String, String)> {
        let mut rows = mysql::audit::recent(&self.db, 1000, 0).await.unwrap();
        rows.reverse();
        rows.into_iter()
            .filter(|r| !r.action.starts_with("admin.user."))
            .map(|r| (r.action, r.actor))
            .collect()
    }
}

fn hash(byte: &str) -> Hash32 {
    byte.repeat(32).parse().unwrap()
}

/// Money in every mode (PPLNS owed past 2^53, so only exact integers match), two found blocks
/// (one orphaned), batches for the review queue, a failed mail and a ban: each view has
/// something to show.
async fn seed_everything(p: &Pool) -> (u64, u64) {
    let miner = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
    p.balance(miner, BalanceType::Pplns, 12_345_678_901_234_567)
        .await;
    p.balance("B", BalanceType::Pps, 500_000_000_000).await;
    p.balance("C", BalanceType::Solo, 7).await;
    p.balance("F", BalanceType::Fees, 40_000_000).await;
    sqlx::query(
        "INSERT INTO payments (pool_type, payment_address, transaction_id, amount) \
         VALUES ('pplns', ?, 1, 300000000000), ('solo', 'C', 1, 11)",
    )
    .bind(miner)
    .execute(&p.db)
    .await
    .unwrap();
    let writer = p.state.store.writer(Default::default()).unwrap();
    for (height, byte, pool_type, shares) in [
        (10, "0a", PoolType::Pplns, 900_u128),
        (11, "0b", PoolType::Solo, 1_200),
    ] {
        writer
            .record_block(FoundBlock {
                height: Height(height),
                hash: hash(byte),
                network_difficulty: Difficulty(1_000),
                reward: Atomic(600_000_000_000),
                pool_type,
                miner: miner.into(),
                worker: "rig".into(),
                timestamp: UnixMillis(1_700_000_000_000 + height),
                shares_at_find: Some(Difficulty(shares)),
                status: BlockStatus::Pending,
                blob: Vec::new(),
            })
            .await
            .unwrap();
    }
    writer
        .update_block(
            Height(11),
            hash("0b"),
            BlockUpdate {
                status: BlockStatus::Orphaned,
                reason: "not on the chain".into(),
                reward: None,
                at: UnixMillis(1_700_000_100_000),
            },
        )
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let reserved = p.reserved_batch("D", 2_000_000_000).await;
    let review = p.manual_review_batch("E", 3_000_000_000, "22").await;
    sqlx::query(
        "INSERT INTO mail_outbox (miner, dedup_key, recipient, kind, event_at, subject, body, \
         message_id, state, attempts, next_attempt_at, created_at, sent_at, last_error) \
         VALUES (NULL, 'k1', 'ops@example.org', 'operator', 1, 'Block 10 found', 'body', 'm1@test', \
         'failed', 5, 0, 1700000000000, NULL, 'smtp: connection refused')",
    )
    .execute(&p.db)
    .await
    .unwrap();
    rxpool::admin::ops::ban_add(
        &p.db,
        rxpool::store::mysql::BanTarget::Ip("198.51.100.7".parse().unwrap()),
        "flooding",
        None,
    )
    .await
    .unwrap();
    for (port, diff, pool_type, tls) in [
        (3333, 5_000, PoolType::Pplns, false),
        (9000, 100_000, PoolType::Solo, true),
    ] {
        let spec = rxpool::admin::ops::PortSpec {
            port,
            diff,
            desc: format!("{pool_type:?} port"),
            pool_type,
            hidden: false,
            tls,
            proxy_protocol: false,
        };
        rxpool::admin::ops::port_set(&p.db, spec, None, rxpool::admin::ops::PortWrite::Upsert)
            .await
            .unwrap();
    }
    (reserved, review)
}

/// Logs in on the login view the browser shows and waits for the admin view it leads to.
async fn log_in(b: &Browser, user: &str, password: &str) {
    b.type_into("#admin-user", user).await;
    b.type_into("#admin-password", password).await;
    b.click("#admin-login").await;
    b.wait_css(".admin-bar").await;
    b.ready().await;
}

/// Clicks the row action `action` for `target`, then the confirm step's button.
async fn confirmed(b: &Browser, action: &str, target: &str) {
    b.click(&format!(
        "button[data-action=\"{action}\"][data-target=\"{target}\"]"
    ))
    .await;
    b.click(&format!(".confirm button[data-confirm=\"{action}\"]"))
        .await;
}

async fn hash_now(b: &Browser) -> String {
    b.script("return location.hash;")
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

async fn set_theme(b: &Browser, theme: &str) {
    b.script(&format!(
        "localStorage.setItem('rxpool.theme', '{theme}'); RX.applyTheme(); RX.render(); return true;"
    ))
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    b.ready().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_view_asks_for_the_login_first_and_loads_after_it_showing_the_apis_numbers()
{
    let p = pool("dashboard_admin_views").await;
    seed_everything(&p).await;
    let b = Browser::start(1280, 900).await;

    // Without a session: each view becomes the login form, naming the view to come back to.
    b.open(&format!("{}/#{}", p.api, VIEWS[0])).await;
    for view in VIEWS {
        b.go(&format!("#{view}")).await;
        b.wait_css("#admin-user").await;
        // encodeURIComponent's form.
        let next = format!("#{view}").replace('#', "%23").replace('/', "%2F");
        assert_eq!(hash_now(&b).await, format!("#/admin/login?next={next}"));
        assert!(
            b.all(".admin-bar, .admin-content, [data-field]")
                .await
                .is_empty(),
            "{view} showed operator data before the login"
        );
    }
    // Nothing under /admin/ was even requested, and no session (so no token) exists.
    let requested = b
        .script(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => new URL(n).pathname.startsWith('/admin'));",
        )
        .await;
    assert_eq!(requested, json!([]), "admin requests before the login");
    let sessions: i64 = sqlx::query("SELECT COUNT(*) AS n FROM admin_sessions")
        .fetch_one(&p.db)
        .await
        .unwrap()
        .get("n");
    assert_eq!(sessions, 0);

    // A wrong password is refused in words; the login page on a phone's width.
    b.type_into("#admin-user", "alice").await;
    b.type_into("#admin-password", "not the password").await;
    b.click("#admin-login").await;
    b.wait_text("Wrong username or password.").await;
    b.client.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    b.screenshot("admin-login-phone.png").await;
    b.client.set_window_size(1280, 900).await.unwrap();

    // The login leads to the overview, whose every figure is the api's.
    log_in(&b, "alice", ALICE_PASSWORD).await;
    assert_eq!(hash_now(&b).await, "#/admin");
    assert_eq!(b.value("admin.name").await, "alice");
    assert_eq!(b.value("admin.role").await, "admin");
    let token = p.token("alice", ALICE_PASSWORD).await;
    let stats = p.get(&token, "/admin/stats").await;
    for mode in ["pplns", "pps", "solo", "global", "fees"] {
        for field in ["owed", "paid", "mined", "shares", "targetShares"] {
            let api = stats[mode][field].to_string();
            assert_eq!(
                b.value(&format!("stats.{mode}.{field}")).await,
                api,
                "stats.{mode}.{field}"
            );
        }
    }
    // The seeded balance and the reserved batch's, past 2^53: shown rounded, exact on hover.
    assert_eq!(
        stats["pplns"]["owed"],
        json!(12_345_678_901_234_567_u64 + 2_000_000_000)
    );
    assert_eq!(b.text("stats.pplns.owed").await, "12345.680901 XMR");
    let exact = b
        .wait_css("[data-field=\"stats.pplns.owed\"]")
        .await
        .attr("title")
        .await
        .unwrap()
        .unwrap();
    assert!(exact.contains("12345.680901234567 XMR"), "{exact}");
    // No wallet-rpc: said in words, the rest of the page intact.
    b.wait_text("The wallet cannot be read: wallet-rpc did not answer")
        .await;
    b.screenshot_full("admin-overview.png").await;

    // Every view loads for the logged-in operator, with no error.
    for (view, heading) in [
        ("/admin/blocks", "Found blocks"),
        ("/admin/payouts", "Review queue"),
        ("/admin/ports", "9000"),
        ("/admin/config", "pool.targetTime"),
        ("/admin/bans", "198.51.100.7"),
        ("/admin/mail", "Block 10 found"),
        ("/admin/users", "vic"),
        ("/admin/audit", "admin.user.add"),
    ] {
        b.go(&format!("#{view}")).await;
        b.wait_css(".admin-bar").await;
        b.wait_text(heading).await;
        assert!(
            b.all(".admin-content .error").await.is_empty(),
            "{view}: {}",
            b.body_text().await
        );
        let name = view.trim_start_matches("/admin/");
        b.screenshot_full(&format!("admin-{name}.png")).await;
    }

    // The recheck of the orphaned block, from the blocks page.
    b.go("#/admin/blocks").await;
    let orphan = hash("0b").to_string();
    assert_eq!(b.value(&format!("block.{orphan}.status")).await, "orphaned");
    confirmed(&b, "recheck", &orphan).await;
    b.wait_text("orphaned → pending").await;
    b.value_until(&format!("block.{orphan}.status"), |v| v == "pending")
        .await;
    let blocks = p.get(&token, "/admin/blocks?status=pending").await;
    assert_eq!(blocks["blocks"].as_array().unwrap().len(), 2, "{blocks}");

    // Dark, and a phone's width.
    set_theme(&b, "dark").await;
    b.go("#/admin/payouts").await;
    b.screenshot_full("admin-payouts-dark.png").await;
    b.go("#/admin").await;
    b.screenshot_full("admin-overview-dark.png").await;
    b.client.set_window_size(390, 844).await.unwrap();
    b.go("#/admin/payouts").await;
    b.screenshot_full("admin-payouts-phone-dark.png").await;
    set_theme(&b, "light").await;
    b.go("#/admin/blocks").await;
    b.screenshot_full("admin-blocks-phone.png").await;

    // Logging out ends the session: the views ask for the login again.
    b.click("#logout").await;
    b.wait_css("#admin-user").await;
    b.go("#/admin/payouts").await;
    b.wait_css("#admin-user").await;
    assert!(b.all(".admin-bar").await.is_empty());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_queue_actions_clicked_in_the_page_hold_retry_and_release_the_payout() {
    let p = pool("dashboard_admin_queue").await;
    let batch = p.reserved_batch("A", 2_000_000_000).await;
    let review = p.manual_review_batch("B", 3_000_000_000, "33").await;
    let b = Browser::start(1280, 900).await;
    b.open(&format!("{}/#/admin/payouts", p.api)).await;
    log_in(&b, "alice", ALICE_PASSWORD).await;
    assert_eq!(hash_now(&b).await, "#/admin/payouts");
    let queue_status = |id: u64| format!("queue.{id}.status");
    assert_eq!(b.value(&queue_status(batch)).await, "reserved");
    assert_eq!(b.value(&queue_status(review)).await, "manual_review");

    // The confirm step comes first: cancelled, nothing is sent.
    b.click(&format!(
        "button[data-action=\"hold\"][data-target=\"{batch}\"]"
    ))
    .await;
    b.wait_css(".confirm").await;
    b.click(".confirm button[data-cancel]").await;
    assert!(b.all(".confirm").await.is_empty());
    assert_eq!(p.status_of(batch).await, BatchStatus::Reserved);
    assert!(p.audit().await.is_empty());

    // Hold (with a reason), retry, release: each click moves the batch in MySQL.
    b.click(&format!(
        "button[data-action=\"hold\"][data-target=\"{batch}\"]"
    ))
    .await;
    b.type_into(".confirm .hold-reason", "check the address")
        .await;
    b.screenshot("admin-payouts-confirm.png").await;
    b.click(".confirm button[data-confirm=\"hold\"]").await;
    b.wait_text(&format!("Batch {batch}: reserved → held."))
        .await;
    assert_eq!(p.status_of(batch).await, BatchStatus::Held);
    b.value_until(&queue_status(batch), |v| v == "held").await;
    let row = payouts::get(&p.db, batch).await.unwrap().unwrap();
    assert_eq!(row.last_error.as_deref(), Some("check the address"));

    confirmed(&b, "retry", &batch.to_string()).await;
    b.wait_text(&format!("Batch {batch}: held → reserved."))
        .await;
    assert_eq!(p.status_of(batch).await, BatchStatus::Reserved);
    b.value_until(&queue_status(batch), |v| v == "reserved")
        .await;

    confirmed(&b, "release", &batch.to_string()).await;
    b.wait_text(&format!("Batch {batch}: reserved → released."))
        .await;
    assert_eq!(p.status_of(batch).await, BatchStatus::Released);
    // Out of the queue, listed among all batches as released.
    b.value_until(&format!("payout.{batch}.status"), |v| v == "released")
        .await;
    assert!(
        b.all(&format!("[data-field=\"{}\"]", queue_status(batch)))
            .await
            .is_empty()
    );

    // A batch in manual review: retry relays its tx again (back to signed).
    confirmed(&b, "retry", &review.to_string()).await;
    b.wait_text(&format!("Batch {review}: manual review → signed."))
        .await;
    assert_eq!(p.status_of(review).await, BatchStatus::Signed);
    b.value_until(&queue_status(review), |v| v == "signed")
        .await;
    // Held again after signing: its tx recorded, not relayed while held.
    confirmed(&b, "hold", &review.to_string()).await;
    b.wait_text(&format!("Batch {review}: signed → held signed."))
        .await;
    assert_eq!(p.status_of(review).await, BatchStatus::HeldSigned);
    b.screenshot_full("admin-payouts-after-actions.png").await;

    let audit = p.audit().await;
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "payout.hold",
            "payout.retry",
            "payout.release",
            "payout.retry",
            "payout.hold"
        ]
    );
    assert!(audit.iter().all(|(_, actor)| actor == "alice"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_added_and_lifted_and_a_config_item_edited_in_the_page_reach_the_api() {
    let p = pool("dashboard_admin_writes").await;
    let token = p.token("alice", ALICE_PASSWORD).await;
    let b = Browser::start(1280, 900).await;
    b.open(&format!("{}/#/admin/bans", p.api)).await;
    log_in(&b, "alice", ALICE_PASSWORD).await;

    // A ban added in the page is the api's; lifted in the page, it is gone.
    b.type_into("#ban-target", "203.0.113.9").await;
    b.type_into("#ban-reason", "scanning the port").await;
    b.click("#ban-add").await;
    b.wait_text("added: 203.0.113.9.").await;
    let bans = p.get(&token, "/admin/bans").await;
    assert_eq!(bans.as_array().unwrap().len(), 1, "{bans}");
    assert_eq!(bans[0]["ip"], "203.0.113.9");
    assert_eq!(bans[0]["reason"], "scanning the port");
    let id = bans[0]["id"].to_string();
    assert_eq!(b.value(&format!("ban.{id}.target")).await, "203.0.113.9");
    // A malformed one is refused with the api's message.
    b.type_into("#ban-target", "999.1.1.1").await;
    b.click("#ban-add").await;
    b.wait_text("ip: not an IPv4 or IPv6 address").await;
    confirmed(&b, "lift-ban", &id).await;
    b.wait_text(&format!("Ban {id} lifted: 203.0.113.9.")).await;
    assert_eq!(p.get(&token, "/admin/bans").await, json!([]));

    // A config item edited in the page: the api answers the new value.
    let item = "pool.targetTime";
    let before = p.get(&token, "/admin/config").await;
    let old = before
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["module"] == "pool" && e["item"] == "targetTime")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = if old == "45" { "50" } else { "45" };
    b.go("#/admin/config").await;
    b.click(&format!(
        "button[data-action=\"edit-config\"][data-target=\"{item}\"]"
    ))
    .await;
    // A value the item's rule refuses: the api's message, nothing stored.
    b.type_into("#config-value", "abc").await;
    b.click("button[data-confirm=\"config\"]").await;
    b.wait_css("[data-result=\"error\"]").await;
    let (status, refused) = p
        .call(
            &token,
            "PUT",
            "/admin/config",
            Some(json!({"item": item, "value": "abc"})),
        )
        .await;
    assert_eq!(status, 400);
    b.wait_text(refused["error"].as_str().unwrap()).await;
    b.type_into("#config-value", new).await;
    b.screenshot("admin-config-edit.png").await;
    b.click("button[data-confirm=\"config\"]").await;
    b.wait_text(&format!("{item}: \"{old}\" → \"{new}\"."))
        .await;
    b.value_until(&format!("config.{item}"), |v| v == new).await;
    let after = p.get(&token, "/admin/config").await;
    let stored = after
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["module"] == "pool" && e["item"] == "targetTime")
        .unwrap();
    assert_eq!(stored["value"], new);
    let actions: Vec<String> = p.audit().await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(actions, ["ban.add", "ban.remove", "config.set"]);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_the_operator_pages_but_its_writes_are_refused_with_the_apis_message() {
    let p = pool("dashboard_admin_viewer").await;
    let batch = p.reserved_batch("A", 2_000_000_000).await;
    let viewer = p.token("vic", VIEWER_PASSWORD).await;
    let (status, refused) = p
        .call(
            &viewer,
            "POST",
            &format!("/admin/payouts/{batch}/hold"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let message = refused["error"].as_str().unwrap().to_owned();

    let b = Browser::start(1280, 900).await;
    b.open(&format!("{}/#/admin/payouts", p.api)).await;
    log_in(&b, "vic", VIEWER_PASSWORD).await;
    assert_eq!(b.value("admin.role").await, "viewer");
    assert_eq!(b.value(&format!("queue.{batch}.status")).await, "reserved");

    confirmed(&b, "hold", &batch.to_string()).await;
    b.wait_css("[data-result=\"error\"]").await;
    b.wait_text(&message).await;
    assert_eq!(p.status_of(batch).await, BatchStatus::Reserved);
    b.screenshot("admin-viewer-refused.png").await;

    b.go("#/admin/bans").await;
    b.type_into("#ban-target", "203.0.113.9").await;
    b.click("#ban-add").await;
    b.wait_text(&message).await;
    assert!(
        rxpool::admin::ops::ban_list(&p.db)
            .await
            .unwrap()
            .is_empty()
    );
    // Every page still reads.
    for view in VIEWS {
        b.go(&format!("#{view}")).await;
        b.wait_css(".admin-bar").await;
        // (The overview's one error is the wallet-rpc that does not run here.)
        if view != "/admin" {
            assert!(
                b.all(".admin-content .error").await.is_empty(),
                "{view}: {}",
                b.body_text().await
            );
        }
    }
    assert!(p.audit().await.is_empty());
    b.close().await;
}
