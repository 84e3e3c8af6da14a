//! The operator routes under `/admin` (`api::admin::operator_routes`), served through
//! `oneshot` with a tiny layer that puts an `AdminIdentity` in each request (authentication
//! is `api::auth`'s and tested there), against a real MariaDB (one database per test) and a
//! real LMDB store in a temp dir. Each route's answer is checked against MySQL/LMDB; each
//! write against the same typed operation the CLI runs and against exactly one audit row;
//! hostile input against a 4xx JSON answer that changed nothing.

#[path = "payments/common.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::{Extension, Router};
use rxpool::api::ApiState;
use rxpool::api::auth::AdminIdentity;
use rxpool::config::FileConfig;
use rxpool::devnet::MariaDb;
use rxpool::domain::{
    Atomic, BalanceType, BatchKind, BatchStatus, Difficulty, Hash32, Height, PoolType, SystemClock,
    UnixMillis,
};
use rxpool::store::lmdb::{BlockStatus, BlockUpdate, FoundBlock, ShareStore};
use rxpool::store::mysql::{self, audit, payouts};
use serde_json::{Value, json};
use sqlx::{MySqlPool, Row};
use tower::ServiceExt;

const POOL_ADDRESS: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

/// A served admin api over its own database and LMDB.
struct Fixture {
    db: MySqlPool,
    state: ApiState,
    app: Router,
    store: Arc<ShareStore>,
    _dir: tempfile::TempDir,
}

async fn fixture(name: &str) -> Fixture {
    // Nothing listens on port 1: the routes that need monerod or wallet-rpc answer 503.
    fixture_on(name, "http://127.0.0.1:1", "http://127.0.0.1:1").await
}

/// [`fixture`] with the daemon and wallet-rpc at these URLs.
async fn fixture_on(name: &str, daemon_url: &str, wallet_url: &str) -> Fixture {
    let maria = MariaDb::shared().await.unwrap();
    let url = maria.create_database(name).await.unwrap();
    let db = mysql::connect(&url).await.unwrap();
    mysql::migrate(&db).await.unwrap();
    mysql::set_setting(&db, "pool.address", POOL_ADDRESS)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = FileConfig::parse(&format!(
        "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"{daemon_url}\"]\n\
         [wallet]\nurl = \"{wallet_url}\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\n\
         hostname = \"test-pool\"\n[api]\nbind = \"127.0.0.1:0\"\n",
        dir.path().display()
    ))
    .unwrap();
    let store = ShareStore::open(&config.lmdb_options()).unwrap();
    let settings = mysql::load_settings(&db, &config.overrides).await.unwrap();
    let state = ApiState::new(
        db.clone(),
        store.clone(),
        settings,
        config,
        Arc::new(SystemClock),
    );
    let app = rxpool::api::admin::operator_routes()
        .layer(Extension(AdminIdentity {
            id: 7,
            name: "alice".into(),
            role: rxpool::store::mysql::admins::Role::Admin,
            session: 0,
        }))
        .with_state(state.clone());
    Fixture {
        db,
        state,
        app,
        store,
        _dir: dir,
    }
}

impl Fixture {
    /// Sends one request; the answer must be JSON whatever its status.
    async fn call(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{method} {uri}: {status} not JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, value)
    }

    async fn get(&self, uri: &str) -> Value {
        let (status, value) = self.call("GET", uri, None).await;
        assert_eq!(status, StatusCode::OK, "GET {uri}: {value}");
        value
    }

    /// A refused request: a 4xx with `{"error": "..."}`.
    async fn refused(&self, method: &str, uri: &str, body: Option<&str>) -> StatusCode {
        let (status, value) = self.call(method, uri, body).await;
        assert!(
            status.is_client_error(),
            "{method} {uri} {body:?}: {status} {value}"
        );
        assert!(
            value["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {uri}: {value}"
        );
        status
    }

    /// A 503 in JSON that names the service down and not its URL.
    async fn unavailable(&self, method: &str, uri: &str, body: Option<&str>) {
        let (status, value) = self.call(method, uri, body).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {uri}: {value}"
        );
        let error = value["error"].as_str().unwrap();
        assert!(!error.contains("127.0.0.1"), "{error}");
    }

    async fn audit_rows(&self) -> Vec<audit::AuditRow> {
        let mut rows = audit::recent(&self.db, 1000, 0).await.unwrap();
        rows.reverse();
        rows
    }
}

fn hash(byte: &str) -> Hash32 {
    byte.repeat(32).parse().unwrap()
}

/// Inputs no route may take: SQL-looking, unicode, oversized, negative, huge.
const HOSTILE: &[&str] = &[
    "-1",
    "0x10",
    "1e3",
    "99999999999999999999999999",
    "1%27%3B%20DROP%20TABLE%20config%3B%20--",
    "%27%20OR%201%3D1",
    "%C3%BCml%C3%A4ut",
    "%F0%9F%92%A3",
    "%FF%FE",
];

#[tokio::test]
async fn config_writes_are_validated_like_admin_config_set_and_each_leaves_one_audit_row() {
    let f = fixture("api_admin_config").await;
    let list = f.get("/admin/config").await;
    let rows = list.as_array().unwrap();
    let target = rows
        .iter()
        .find(|r| r["module"] == "pool" && r["item"] == "targetTime")
        .expect("pool.targetTime listed");
    for field in ["id", "module", "item", "value", "type", "desc"] {
        assert!(target.get(field).is_some(), "{field} in {target}");
    }
    let before = target["value"].as_str().unwrap().to_owned();

    // Refused values: the item's rule judges them, nothing is stored, nothing audited.
    for bad in [
        json!({"item": "pool.targetTime", "value": "-5"}),
        json!({"item": "pool.targetTime", "value": "abc"}),
        json!({"item": "pool.targetTime", "value": "30'; DROP TABLE config; --"}),
        json!({"item": "pool.targetTime", "value": "ünï©ødé"}),
        json!({"item": "pool.targetTime", "value": 1e300}),
        json!({"item": "pool.targetTime", "value": [1]}),
        json!({"item": "pool.targetTime", "value": null}),
        json!({"item": "pool.targetTime"}),
        json!({"value": "30"}),
        json!({"item": "pool.targetTime", "id": 1, "value": "30"}),
        json!({"item": "pool.address", "value": "4notanaddress"}),
        json!({"item": "POOL.TARGETTIME", "value": "30"}),
        json!({"item": "nosuch.item", "value": "1"}),
        json!({"item": "x".repeat(5000), "value": "1"}),
        json!({"id": 999_999, "value": "1"}),
        json!({"id": -1, "value": "1"}),
    ] {
        f.refused("PUT", "/admin/config", Some(&bad.to_string()))
            .await;
    }
    for bad in [
        "",
        "{",
        "[]",
        "nul",
        "{\"item\": \"pool.targetTime\", \"value\": \"3",
    ] {
        f.refused("PUT", "/admin/config", Some(bad)).await;
    }
    assert_eq!(
        f.refused(
            "PUT",
            "/admin/config",
            Some(&json!({"item": "pool.targetTime", "value": "abc"}).to_string())
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    let stored = |db: MySqlPool| async move {
        mysql::setting_rows(&db)
            .await
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "pool.targetTime")
            .unwrap()
            .1
    };
    assert_eq!(stored(f.db.clone()).await, before);
    assert!(f.audit_rows().await.is_empty());

    // A good value by item, then one by nodejs-pool's row id.
    let (status, change) = f
        .call(
            "PUT",
            "/admin/config",
            Some(&json!({"item": "pool.targetTime", "value": "45"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{change}");
    assert_eq!(change["after"], "45");
    assert_eq!(stored(f.db.clone()).await, "45");
    assert_eq!(
        f.state.settings().pool.target_time_secs,
        45,
        "settings reloaded"
    );
    let id = target["id"].as_u64().unwrap();
    let (status, _) = f
        .call(
            "PUT",
            "/admin/config",
            Some(&json!({"id": id, "value": 50}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(f.db.clone()).await, "50");

    let audit = f.audit_rows().await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0].actor, "alice");
    assert_eq!(audit[0].action, "config.set");
    assert_eq!(audit[0].target, "pool.targetTime");
    assert_eq!(audit[0].before, Some(json!({"value": before})));
    assert_eq!(audit[0].after, Some(json!({"value": "45"})));
    assert_eq!(audit[1].before, Some(json!({"value": "45"})));
    assert_eq!(audit[1].after, Some(json!({"value": "50"})));
}

#[tokio::test]
async fn ports_are_added_changed_and_removed_within_the_vardiff_bounds_with_an_audit_row_each() {
    let f = fixture("api_admin_ports").await;
    sqlx::query("DELETE FROM port_config")
        .execute(&f.db)
        .await
        .unwrap();
    let port = json!({"port": 4444, "diff": 5000, "desc": "rigs", "portType": "pps", "hidden": false, "ssl": true, "proxyProtocol": true});
    let (status, added) = f
        .call("POST", "/admin/ports", Some(&port.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let listed = f.get("/admin/ports").await;
    assert_eq!(
        listed,
        json!([{"port": 4444, "diff": 5000, "desc": "rigs", "portType": "pps", "hidden": false, "ssl": true, "proxyProtocol": true}])
    );
    // The same code as `rxpool admin port list` reads it back.
    let stored = rxpool::admin::ops::port_list(&f.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].proxy_protocol && stored[0].ssl);

    // Refused: twice, out of the vardiff bounds (pool.minDifficulty 100 .. maxDifficulty
    // 500000 by default), bad numbers, bad types, hostile text.
    assert_eq!(
        f.refused("POST", "/admin/ports", Some(&port.to_string()))
            .await,
        StatusCode::CONFLICT
    );
    for bad in [
        json!({"port": 4445, "diff": 99, "portType": "pplns"}),
        json!({"port": 4445, "diff": 500_001, "portType": "pplns"}),
        json!({"port": 4445, "diff": -5, "portType": "pplns"}),
        json!({"port": 4445, "diff": "1000", "portType": "pplns"}),
        json!({"port": 0, "diff": 1000, "portType": "pplns"}),
        json!({"port": 70000, "diff": 1000, "portType": "pplns"}),
        json!({"port": -1, "diff": 1000, "portType": "pplns"}),
        json!({"port": 4445, "diff": 1000, "portType": "prop"}),
        json!({"port": 4445, "diff": 1000, "portType": "PPLNS'; --"}),
        json!({"port": 4445, "diff": 1000, "portType": "pplns", "desc": "x".repeat(300)}),
        json!({"port": 4445, "diff": 1000, "portType": "pplns", "desc": "bell\u{7}"}),
        json!({"port": 4445, "diff": 1000, "portType": "pplns", "hidden": "yes"}),
        json!({"diff": 1000, "portType": "pplns"}),
    ] {
        f.refused("POST", "/admin/ports", Some(&bad.to_string()))
            .await;
    }
    assert_eq!(
        f.refused(
            "PUT",
            "/admin/ports",
            Some(&json!({"portNum": 4446, "diff": 1000, "portType": "pplns"}).to_string())
        )
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.refused(
            "DELETE",
            "/admin/ports",
            Some(&json!({"portNum": 4446}).to_string())
        )
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(rxpool::admin::ops::port_list(&f.db).await.unwrap().len(), 1);
    assert_eq!(f.audit_rows().await.len(), 1);

    let (status, changed) = f
        .call(
            "PUT",
            "/admin/ports",
            Some(
                &json!({"portNum": 4444, "diff": 7000, "desc": "big rigs", "portType": "solo"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["portType"], "solo");
    assert_eq!(changed["proxyProtocol"], false);
    let (status, removed) = f
        .call(
            "DELETE",
            "/admin/ports",
            Some(&json!({"portNum": 4444}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(f.get("/admin/ports").await, json!([]));

    let audit = f.audit_rows().await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["port.add", "port.update", "port.remove"]);
    assert_eq!(audit[0].before, None);
    assert_eq!(audit[0].after.as_ref().unwrap()["diff"], 5000);
    assert_eq!(audit[1].before.as_ref().unwrap()["diff"], 5000);
    assert_eq!(audit[1].after.as_ref().unwrap()["diff"], 7000);
    assert_eq!(audit[2].before.as_ref().unwrap()["diff"], 7000);
    assert_eq!(audit[2].after, None);
    assert!(
        audit
            .iter()
            .all(|a| a.actor == "alice" && a.target == "4444")
    );
}

#[tokio::test]
async fn bans_are_added_listed_and_lifted_and_hostile_targets_are_refused() {
    let f = fixture("api_admin_bans").await;
    let (status, ip) = f
        .call(
            "POST",
            "/admin/bans",
            Some(&json!({"ip": "203.0.113.9", "reason": "flood"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ip}");
    let (status, addr) = f
        .call(
            "POST",
            "/admin/bans",
            Some(&json!({"address": POOL_ADDRESS}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{addr}");
    let case_altered = POOL_ADDRESS.to_ascii_lowercase();
    for bad in [
        json!({"ip": "203.0.113.999"}),
        json!({"ip": "203.0.113.9; DROP TABLE bans"}),
        json!({"address": "4abc'; DROP TABLE bans; --"}),
        json!({"address": case_altered}),
        json!({"address": "ümlaut"}),
        json!({"address": ""}),
        json!({"address": "4".repeat(10_000)}),
        json!({"ip": "203.0.113.9", "address": POOL_ADDRESS}),
        json!({}),
        json!({"ip": "203.0.113.10", "reason": "r".repeat(257)}),
        json!({"ip": 3_405_803_785_u64}),
    ] {
        f.refused("POST", "/admin/bans", Some(&bad.to_string()))
            .await;
    }
    let listed = f.get("/admin/bans").await;
    assert_eq!(
        listed,
        json!([
            {"id": ip["id"], "ip": "203.0.113.9", "address": null, "reason": "flood"},
            {"id": addr["id"], "ip": null, "address": POOL_ADDRESS, "reason": ""},
        ])
    );
    for bad in HOSTILE {
        f.refused("DELETE", &format!("/admin/bans/{bad}"), None)
            .await;
    }
    assert_eq!(
        f.refused("DELETE", "/admin/bans/424242", None).await,
        StatusCode::NOT_FOUND
    );
    let id = ip["id"].as_u64().unwrap();
    let (status, lifted) = f.call("DELETE", &format!("/admin/bans/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{lifted}");
    assert_eq!(
        f.refused("DELETE", &format!("/admin/bans/{id}"), None)
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(rxpool::admin::ops::ban_list(&f.db).await.unwrap().len(), 1);
    let audit = f.audit_rows().await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["ban.add", "ban.add", "ban.remove"]);
    assert_eq!(audit[2].before.as_ref().unwrap()["ip"], "203.0.113.9");
    assert_eq!(audit[2].after, None);
}

async fn seed_balance(db: &MySqlPool, address: &str, ty: BalanceType, amount: u64) -> u64 {
    sqlx::query(
        "INSERT INTO balance (payment_address, payment_id, pool_type, amount) VALUES (?, '', ?, ?)",
    )
    .bind(address)
    .bind(ty.as_str())
    .bind(amount)
    .execute(db)
    .await
    .unwrap()
    .last_insert_id()
}

fn item(balance_id: u64, address: &str, gross: u64) -> payouts::NewItem {
    payouts::NewItem {
        balance_id,
        address: address.to_owned(),
        payment_id: String::new(),
        balance_type: BalanceType::Pplns,
        destination: address.to_owned(),
        gross: Atomic(gross),
        fee: Atomic::ZERO,
        net: Atomic(gross),
    }
}

async fn status_of(db: &MySqlPool, batch: u64) -> BatchStatus {
    payouts::get(db, batch).await.unwrap().unwrap().status
}

#[tokio::test]
async fn the_payout_review_queue_moves_batches_as_the_cli_does_and_refuses_what_the_state_forbids()
{
    let f = fixture("api_admin_payouts").await;
    let a = seed_balance(&f.db, "A", BalanceType::Pplns, 2_000).await;
    let b = seed_balance(&f.db, "B", BalanceType::Pplns, 3_000).await;
    let batch = payouts::reserve(&f.db, BatchKind::Single, &[item(a, "A", 2_000)])
        .await
        .unwrap();

    let (status, held) = f
        .call(
            "POST",
            &format!("/admin/payouts/{batch}/hold"),
            Some(&json!({"reason": "check the address"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{held}");
    assert_eq!(
        held,
        json!({"batch": batch, "before": "reserved", "after": "held"})
    );
    assert_eq!(status_of(&f.db, batch).await, BatchStatus::Held);
    // Holding a held batch is a transition the table refuses: 409, unchanged.
    assert_eq!(
        f.refused("POST", &format!("/admin/payouts/{batch}/hold"), None)
            .await,
        StatusCode::CONFLICT
    );
    let (status, _) = f
        .call("POST", &format!("/admin/payouts/{batch}/retry"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_of(&f.db, batch).await, BatchStatus::Reserved);
    assert_eq!(
        f.refused("POST", &format!("/admin/payouts/{batch}/retry"), None)
            .await,
        StatusCode::CONFLICT
    );
    let (status, released) = f
        .call(
            "POST",
            &format!("/admin/payouts/{batch}/release"),
            Some("{\"revert\": false}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(status_of(&f.db, batch).await, BatchStatus::Released);
    assert_eq!(
        f.refused("POST", &format!("/admin/payouts/{batch}/release"), None)
            .await,
        StatusCode::CONFLICT
    );

    // A signed batch: its tx key shows only when asked for; it cannot be released; revert of
    // a manual-review batch needs the wallet, which is down here (503, nothing changed).
    let signed = payouts::reserve(&f.db, BatchKind::Single, &[item(b, "B", 3_000)])
        .await
        .unwrap();
    let record = payouts::SignedRecord {
        tx_hash: hash("22"),
        tx_metadata: "00".into(),
        tx_key: payouts::TxKey("5ec7e7".repeat(10)),
        network_fee: Atomic(1),
    };
    payouts::record_signed(&f.db, signed, &record)
        .await
        .unwrap();
    let shown = f.get(&format!("/admin/payouts/{signed}")).await;
    assert_eq!(shown["tx_key"], Value::Null);
    assert!(!shown.to_string().contains("5ec7e7"), "{shown}");
    assert_eq!(shown["batch"]["status"], "signed");
    assert_eq!(shown["items"][0]["address"], "B");
    assert_eq!(shown["items"][0]["net"], 3_000);
    let with_key = f.get(&format!("/admin/payouts/{signed}?tx_key=1")).await;
    assert_eq!(with_key["tx_key"], "5ec7e7".repeat(10));
    assert_eq!(
        f.refused("POST", &format!("/admin/payouts/{signed}/release"), None)
            .await,
        StatusCode::CONFLICT
    );
    payouts::to_manual_review(&f.db, signed, BatchStatus::Signed, "test")
        .await
        .unwrap();
    f.unavailable(
        "POST",
        &format!("/admin/payouts/{signed}/release"),
        Some("{\"revert\": true}"),
    )
    .await;
    assert_eq!(status_of(&f.db, signed).await, BatchStatus::ManualReview);

    // Lists and totals match MySQL.
    let listed = f.get("/admin/payouts?status=released").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], batch);
    let all = f.get("/admin/payouts?limit=1&page=1").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["id"], batch, "page 1 of 1 skips the newest");
    let totals = f.get("/admin/payouts/totals").await;
    let t = payouts::pool_totals(&f.db).await.unwrap();
    assert_eq!(totals["paid"], t.paid.0);
    assert_eq!(totals["transactions"], t.transactions);
    assert_eq!(f.get("/admin/payouts/set-aside").await, json!([]));
    assert_eq!(
        f.refused("POST", &format!("/admin/balances/{a}/release"), None)
            .await,
        StatusCode::NOT_FOUND
    );
    payouts::set_aside(&f.db, a, "A", "wallet refused it")
        .await
        .unwrap();
    let aside = f.get("/admin/payouts/set-aside").await;
    assert_eq!(aside[0]["balance_id"], a);
    let (status, _) = f
        .call("POST", &format!("/admin/balances/{a}/release"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f.get("/admin/payouts/set-aside").await, json!([]));
    let (status, run) = f.call("POST", "/admin/payouts/run-now", None).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let requests: i64 = sqlx::query("SELECT COUNT(*) AS n FROM payout_run_requests")
        .fetch_one(&f.db)
        .await
        .unwrap()
        .get("n");
    assert_eq!(requests, 1);

    // Hostile ids, statuses and bodies: 4xx, nothing moved.
    for bad in HOSTILE {
        f.refused("POST", &format!("/admin/payouts/{bad}/hold"), None)
            .await;
        f.refused("GET", &format!("/admin/payouts/{bad}"), None)
            .await;
        f.refused("GET", &format!("/admin/payouts?status={bad}"), None)
            .await;
        f.refused("GET", &format!("/admin/payouts?limit={bad}"), None)
            .await;
        f.refused("GET", &format!("/admin/payouts?page={bad}"), None)
            .await;
        f.refused("POST", &format!("/admin/balances/{bad}/release"), None)
            .await;
    }
    assert_eq!(
        f.refused("GET", "/admin/payouts/424242", None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.refused("POST", "/admin/payouts/424242/hold", None).await,
        StatusCode::NOT_FOUND
    );
    for body in [
        "{",
        "[1]",
        "{\"reason\": 5}",
        "{\"reasn\": \"typo\"}",
        "{\"reason\": \"bell\\u0007\"}",
    ] {
        f.refused("POST", &format!("/admin/payouts/{signed}/hold"), Some(body))
            .await;
    }
    let long = json!({"reason": "x".repeat(100_000)}).to_string();
    f.refused(
        "POST",
        &format!("/admin/payouts/{signed}/hold"),
        Some(&long),
    )
    .await;
    f.refused("GET", &format!("/admin/payouts/{signed}?tx_key=yes"), None)
        .await;
    assert_eq!(status_of(&f.db, signed).await, BatchStatus::ManualReview);

    let audit = f.audit_rows().await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "payout.hold",
            "payout.retry",
            "payout.release",
            "balance.release",
            "payout.run_now"
        ]
    );
    assert_eq!(audit[0].before, Some(json!({"status": "reserved"})));
    assert_eq!(audit[0].after, Some(json!({"status": "held"})));
    assert_eq!(audit[2].after, Some(json!({"status": "released"})));
    assert!(audit.iter().all(|a| a.actor == "alice"));
}

fn found(height: u64, hash: Hash32, pool_type: PoolType, shares: u128) -> FoundBlock {
    FoundBlock {
        height: Height(height),
        hash,
        network_difficulty: Difficulty(1_000),
        reward: Atomic(600),
        pool_type,
        miner: "minerA".into(),
        worker: "rig".into(),
        timestamp: UnixMillis(1_700_000_000_000 + height),
        shares_at_find: Some(Difficulty(shares)),
        status: BlockStatus::Pending,
        blob: Vec::new(),
    }
}

#[tokio::test]
async fn blocks_are_listed_shown_and_rechecked_from_lmdb_and_mysql() {
    let f = fixture("api_admin_blocks").await;
    let writer = f.store.writer(Default::default()).unwrap();
    writer
        .record_block(found(10, hash("0a"), PoolType::Pplns, 900))
        .await
        .unwrap();
    writer
        .record_block(found(11, hash("0b"), PoolType::Solo, 1_200))
        .await
        .unwrap();
    writer
        .update_block(
            Height(11),
            hash("0b"),
            BlockUpdate {
                status: BlockStatus::Orphaned,
                reason: "not on the chain".into(),
                reward: None,
                at: UnixMillis(5),
            },
        )
        .await
        .unwrap();
    writer.flush().await.unwrap();

    let list = f.get("/admin/blocks").await;
    let blocks = list["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0]["hash"], hash("0b").to_string());
    assert_eq!(blocks[0]["status"], "orphaned");
    assert_eq!(blocks[0]["pool_type"], "solo");
    assert_eq!(blocks[1]["height"], 10);
    assert_eq!(blocks[1]["credited"], Value::Null);
    assert_eq!(list["set_aside"], json!([]));
    let pending = f.get("/admin/blocks?status=pending").await;
    assert_eq!(pending["blocks"].as_array().unwrap().len(), 1);
    let paged = f.get("/admin/blocks?limit=1&page=1").await;
    assert_eq!(paged["blocks"][0]["height"], 10);
    let shown = f.get(&format!("/admin/blocks/{}", hash("0a"))).await;
    assert_eq!(shown["block"]["miner"], "minerA");
    assert_eq!(shown["credit"], Value::Null);

    let stats = f.get("/admin/stats").await;
    assert_eq!(stats["pplns"]["shares"], 900, "{stats}");
    assert_eq!(stats["pplns"]["targetShares"], 1_000);
    assert_eq!(
        stats["solo"]["shares"], 0,
        "an orphaned block is not counted"
    );

    let (status, done) = f
        .call(
            "POST",
            &format!("/admin/blocks/{}/recheck", hash("0b")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["before"], "orphaned");
    assert_eq!(done["after"], "pending");
    let status_now = f
        .store
        .read()
        .unwrap()
        .block(Height(11), hash("0b"))
        .unwrap()
        .unwrap()
        .record
        .status;
    assert_eq!(status_now, BlockStatus::Pending);

    for bad in HOSTILE
        .iter()
        .copied()
        .chain(["zz".repeat(32).as_str(), "ab".repeat(33).as_str()])
    {
        f.refused("GET", &format!("/admin/blocks/{bad}"), None)
            .await;
        f.refused("POST", &format!("/admin/blocks/{bad}/recheck"), None)
            .await;
        f.refused("POST", &format!("/admin/blocks/{bad}/retry"), None)
            .await;
        f.refused("POST", &format!("/admin/pps/{bad}/retry"), None)
            .await;
        f.refused("GET", &format!("/admin/blocks?status={bad}"), None)
            .await;
        f.refused("GET", &format!("/admin/blocks?limit={bad}"), None)
            .await;
    }
    assert_eq!(
        f.refused("GET", &format!("/admin/blocks/{}", hash("0c")), None)
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.refused("POST", &format!("/admin/blocks/{}/retry", hash("0a")), None)
            .await,
        StatusCode::NOT_FOUND,
        "nothing is set aside"
    );
    assert_eq!(
        f.refused("POST", "/admin/pps/12/retry", None).await,
        StatusCode::NOT_FOUND
    );
    // Set aside by the block-manager (here: recorded as it records one), then retried now.
    use rxpool::store::mysql::block_issues::{self, IssueKind};
    block_issues::record(
        &f.db,
        IssueKind::Block,
        Height(10),
        &hash("0a"),
        "crediting failed",
        1_000,
        |_| 3_600_000,
    )
    .await
    .unwrap();
    block_issues::record(
        &f.db,
        IssueKind::Pps,
        Height(12),
        &hash("0d"),
        "pps failed",
        1_000,
        |_| 3_600_000,
    )
    .await
    .unwrap();
    let listed = f.get("/admin/blocks").await;
    assert_eq!(listed["set_aside"].as_array().unwrap().len(), 2);
    assert_eq!(listed["set_aside"][0]["reason"], "crediting failed");
    let (status, _) = f
        .call("POST", &format!("/admin/blocks/{}/retry", hash("0a")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f.call("POST", "/admin/pps/12/retry", None).await;
    assert_eq!(status, StatusCode::OK);
    for issue in block_issues::open(&f.db, None).await.unwrap() {
        assert_eq!(issue.retry_at_ms, 0, "{issue:?} is due now");
    }
    // Adding needs the daemon and the wallet, down here: 503, nothing recorded.
    f.unavailable("POST", "/admin/blocks", Some("{\"height\": 12}"))
        .await;
    for body in [
        "{\"height\": -1}",
        "{\"height\": \"12\"}",
        "{}",
        "{\"height\": 1e99}",
    ] {
        f.refused("POST", "/admin/blocks", Some(body)).await;
    }
    assert_eq!(
        f.store
            .read()
            .unwrap()
            .recent_blocks(usize::MAX)
            .unwrap()
            .len(),
        2
    );
    let audit = f.audit_rows().await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["block.recheck", "block.retry", "pps.retry"]);
    assert_eq!(audit[2].target, "12");
    assert_eq!(audit[0].before, Some(json!({"status": "orphaned"})));
    assert_eq!(audit[0].after, Some(json!({"status": "pending"})));
}

async fn seed_mail(db: &MySqlPool, n: u64, state: &str, sent_at: Option<u64>) -> u64 {
    sqlx::query(
        "INSERT INTO mail_outbox (miner, dedup_key, recipient, kind, event_at, subject, body, \
         message_id, state, attempts, next_attempt_at, created_at, sent_at) \
         VALUES (NULL, ?, 'ops@example.org', 'operator', ?, 'subject', 'secret body', ?, ?, 1, 0, 0, ?)",
    )
    .bind(format!("k{n}"))
    .bind(n)
    .bind(format!("m{n}@test"))
    .bind(state)
    .bind(sent_at)
    .execute(db)
    .await
    .unwrap()
    .last_insert_id()
}

async fn mail_state(db: &MySqlPool, id: u64) -> Option<String> {
    sqlx::query("SELECT state FROM mail_outbox WHERE id = ?")
        .bind(id)
        .fetch_optional(db)
        .await
        .unwrap()
        .map(|r| r.get::<String, _>("state"))
}

#[tokio::test]
async fn the_mail_outbox_is_listed_masked_and_retried_deleted_and_purged_with_an_audit_row_each() {
    let f = fixture("api_admin_mail").await;
    let failed = seed_mail(&f.db, 1, "failed", None).await;
    let sent = seed_mail(&f.db, 2, "sent", Some(1)).await;
    let sending = seed_mail(&f.db, 3, "sending", None).await;
    let other_failed = seed_mail(&f.db, 4, "failed", None).await;

    let listed = f.get("/admin/mail").await;
    assert_eq!(listed.as_array().unwrap().len(), 4);
    let text = listed.to_string();
    assert!(!text.contains("ops@example.org"), "{text}");
    assert!(!text.contains("secret body"), "{text}");
    let only_failed = f.get("/admin/mail?state=failed&limit=1").await;
    assert_eq!(only_failed.as_array().unwrap().len(), 1);
    assert_eq!(only_failed[0]["id"], other_failed);

    let (status, retried) = f
        .call("POST", &format!("/admin/mail/{failed}/retry"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(mail_state(&f.db, failed).await.as_deref(), Some("queued"));
    assert_eq!(
        f.refused("POST", &format!("/admin/mail/{sent}/retry"), None)
            .await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        f.refused("DELETE", &format!("/admin/mail/{sending}"), None)
            .await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        f.refused("POST", "/admin/mail/424242/retry", None).await,
        StatusCode::NOT_FOUND
    );
    let (status, n) = f.call("POST", "/admin/mail/retry-failed", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(n, json!({"queued": 1}));
    let (status, _) = f
        .call("DELETE", &format!("/admin/mail/{failed}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mail_state(&f.db, failed).await, None);
    let (status, purged) = f
        .call(
            "POST",
            "/admin/mail/purge",
            Some("{\"sent_before_days\": 1}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(purged, json!({"deleted": 1}));
    assert_eq!(mail_state(&f.db, sent).await, None);

    for bad in HOSTILE {
        f.refused("POST", &format!("/admin/mail/{bad}/retry"), None)
            .await;
        f.refused("DELETE", &format!("/admin/mail/{bad}"), None)
            .await;
        f.refused("GET", &format!("/admin/mail?state={bad}"), None)
            .await;
        f.refused("GET", &format!("/admin/mail?limit={bad}"), None)
            .await;
    }
    for body in [
        "{}",
        "{\"sent_before_days\": -1}",
        "{\"sent_before_days\": 99999999}",
        "{\"sent_before_days\": \"1\"}",
        "{\"sent_before\": 1}",
        "{",
    ] {
        f.refused("POST", "/admin/mail/purge", Some(body)).await;
    }
    assert_eq!(mail_state(&f.db, sending).await.as_deref(), Some("sending"));
    let audit = f.audit_rows().await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "mail.retry",
            "mail.retry_failed",
            "mail.delete",
            "mail.purge"
        ]
    );
    assert_eq!(audit[0].before, Some(json!({"state": "failed"})));
    assert_eq!(audit[0].after, Some(json!({"state": "queued"})));
    assert!(
        !audit
            .iter()
            .any(|a| format!("{:?}{:?}", a.before, a.after).contains("ops@example.org")),
        "no e-mail address in the audit log"
    );
}

#[tokio::test]
async fn stats_and_the_user_list_match_mysql_and_the_wallet_route_answers_503_without_wallet_rpc() {
    let f = fixture("api_admin_stats").await;
    seed_balance(&f.db, "A", BalanceType::Pplns, 2_000).await;
    seed_balance(&f.db, "A", BalanceType::Pps, 500).await;
    seed_balance(&f.db, "B", BalanceType::Solo, 7).await;
    seed_balance(&f.db, "F", BalanceType::Fees, 40).await;
    sqlx::query(
        "INSERT INTO payments (pool_type, payment_address, transaction_id, amount) \
         VALUES ('pplns', 'A', 1, 300), ('solo', 'C', 1, 11)",
    )
    .execute(&f.db)
    .await
    .unwrap();

    let stats = f.get("/admin/stats").await;
    for mode in ["pplns", "pps", "solo", "global", "fees"] {
        for field in ["owed", "paid", "mined", "shares", "targetShares"] {
            assert!(stats[mode][field].is_u64(), "{mode}.{field} in {stats}");
        }
    }
    assert_eq!(stats["pplns"]["owed"], 2_000);
    assert_eq!(stats["pplns"]["paid"], 300);
    assert_eq!(stats["pps"]["owed"], 500);
    assert_eq!(stats["solo"]["owed"], 7);
    assert_eq!(stats["solo"]["paid"], 11);
    assert_eq!(stats["fees"]["owed"], 40);
    assert_eq!(stats["global"]["owed"], 2_507);
    assert_eq!(stats["global"]["paid"], 311);

    // The worker's rollups for miner A and its worker (ids interned by a share).
    let writer = f.store.writer(Default::default()).unwrap();
    writer
        .append(rxpool::store::lmdb::NewShare {
            height: Height(1),
            timestamp: UnixMillis(1_000),
            miner: Arc::from("A"),
            worker: Arc::from("rig1"),
            difficulty: 10,
            job_difficulty: 10,
            pool_type: PoolType::Pplns,
            trusted: false,
            found_block: false,
            host: 1,
        })
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let (miner, worker) = {
        let snap = f.store.read().unwrap();
        let miner = snap.miner_id("A").unwrap().unwrap();
        (miner, snap.worker_id(miner, "rig1").unwrap().unwrap())
    };
    let figures = |hash: u64| rxpool::stats::EntityStats {
        hash,
        last_hash: 1_700_000_000_000,
        total_hashes: hash * 100,
        valid_shares: 5,
        invalid_shares: 1,
    };
    let mut batch = rxpool::stats::StatsBatch::new();
    batch.put_miner(miner, &figures(900));
    batch.put_worker(worker, &figures(800));
    writer.put_stats(batch.into_parts().0).await.unwrap();

    let users = f.get("/admin/userList").await;
    assert_eq!(
        users[0],
        json!({
            "paid": 300, "due": 2_500, "address": "A",
            "workers": [{"worker": "rig1", "hashRate": 800, "lastHash": 1_700_000_000_u64,
                         "totalHashes": 80_000, "goodShares": 5, "badShares": 1}],
            "lastHash": 1_700_000_000_u64, "totalHashes": 90_000, "hashRate": 900,
            "goodShares": 5, "badShares": 1,
        })
    );
    assert_eq!(
        users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (
                u["address"].as_str().unwrap(),
                u["due"].as_u64().unwrap(),
                u["paid"].as_u64().unwrap()
            ))
            .collect::<Vec<_>>(),
        [("A", 2_500, 300), ("B", 7, 0), ("C", 0, 11)]
    );
    for field in [
        "workers",
        "lastHash",
        "totalHashes",
        "hashRate",
        "goodShares",
        "badShares",
    ] {
        assert!(users[0].get(field).is_some(), "{field}");
    }
    let page = f.get("/admin/userList?limit=1&page=2").await;
    assert_eq!(page[0]["address"], "C");
    for bad in HOSTILE {
        f.refused("GET", &format!("/admin/userList?limit={bad}"), None)
            .await;
        f.refused("GET", &format!("/admin/wallet/history?page={bad}"), None)
            .await;
    }
    assert_eq!(f.get("/admin/wallet/history").await, json!([]));
    f.unavailable("GET", "/admin/wallet", None).await;
    assert!(f.audit_rows().await.is_empty(), "reads are not audited");
}

#[tokio::test]
async fn a_hold_retry_and_release_through_the_api_leave_a_batch_exactly_as_the_cli_leaves_its_twin()
{
    use rxpool::admin::payments::{PaymentsCommand, execute};
    use rxpool::monero::wallet::WalletClient;
    let f = fixture("api_admin_cli_twin").await;
    let a = seed_balance(&f.db, "A", BalanceType::Pplns, 1_000).await;
    let b = seed_balance(&f.db, "B", BalanceType::Pplns, 1_000).await;
    let by_cli = payouts::reserve(&f.db, BatchKind::Single, &[item(a, "A", 1_000)])
        .await
        .unwrap();
    let by_api = payouts::reserve(&f.db, BatchKind::Single, &[item(b, "B", 1_000)])
        .await
        .unwrap();
    let cli = |cmd| execute::<WalletClient>(&f.db, None, None, None, cmd);
    let same = |db: MySqlPool| async move {
        let c = payouts::get(&db, by_cli).await.unwrap().unwrap();
        let p = payouts::get(&db, by_api).await.unwrap().unwrap();
        assert_eq!(
            (c.status, &c.last_error, c.relay_attempts),
            (p.status, &p.last_error, p.relay_attempts)
        );
        c.status
    };

    cli(PaymentsCommand::Hold {
        batch: by_cli,
        reason: "looks odd".into(),
    })
    .await
    .unwrap();
    let (status, _) = f
        .call(
            "POST",
            &format!("/admin/payouts/{by_api}/hold"),
            Some("{\"reason\": \"looks odd\"}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same(f.db.clone()).await, BatchStatus::Held);

    cli(PaymentsCommand::Retry { batch: by_cli }).await.unwrap();
    let (status, _) = f
        .call("POST", &format!("/admin/payouts/{by_api}/retry"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same(f.db.clone()).await, BatchStatus::Reserved);

    cli(PaymentsCommand::Release {
        batch: Some(by_cli),
        revert: false,
        balance: None,
    })
    .await
    .unwrap();
    let (status, _) = f
        .call("POST", &format!("/admin/payouts/{by_api}/release"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same(f.db.clone()).await, BatchStatus::Released);
    assert_eq!(
        payouts::items(&f.db, by_cli).await.unwrap().len(),
        payouts::items(&f.db, by_api).await.unwrap().len()
    );
    // Only the api's writes are audited (the CLI runs on the operator's own shell).
    assert_eq!(f.audit_rows().await.len(), 3);
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_in_json_and_change_nothing() {
    let f = fixture("api_admin_bodies").await;
    let a = seed_balance(&f.db, "A", BalanceType::Pplns, 1_000).await;
    let batch = payouts::reserve(&f.db, BatchKind::Single, &[item(a, "A", 1_000)])
        .await
        .unwrap();
    let huge = format!("{{\"reason\": \"{}\"}}", "x".repeat(3 << 20));
    assert_eq!(
        f.refused("POST", &format!("/admin/payouts/{batch}/hold"), Some(&huge))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let huge_config = format!(
        "{{\"item\": \"pool.targetTime\", \"value\": \"{}\"}}",
        "9".repeat(3 << 20)
    );
    assert_eq!(
        f.refused("PUT", "/admin/config", Some(&huge_config)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let huge_port = format!(
        "{{\"port\": 4000, \"diff\": 1000, \"portType\": \"pplns\", \"desc\": \"{}\"}}",
        "d".repeat(3 << 20)
    );
    assert_eq!(
        f.refused("POST", "/admin/ports", Some(&huge_port)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for body in [
        "\u{0}",
        "{\"reason\": \"\\ud800\"}",
        "null",
        "\"held\"",
        "{\"reason\": null, \"x\": 1}",
    ] {
        f.refused("POST", &format!("/admin/payouts/{batch}/hold"), Some(body))
            .await;
    }
    // Writes without a JSON content type are refused too.
    let request = Request::builder()
        .method("PUT")
        .uri("/admin/config")
        .body(Body::from(
            "{\"item\": \"pool.targetTime\", \"value\": \"30\"}",
        ))
        .unwrap();
    let response = f.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(status_of(&f.db, batch).await, BatchStatus::Reserved);
    assert!(f.audit_rows().await.is_empty());
}

#[tokio::test]
async fn the_wallet_route_and_block_add_answer_from_a_real_regtest_daemon_and_wallet() {
    use rxpool::monero::wallet::Wallet;
    // Heights 1..=3 pay the pool wallet, 4..=8 a burn address.
    let chain = common::Chain::start_with(rxpool::devnet::MonerodOptions::default(), 3, 5).await;
    chain.pool_wallet.refresh().await.unwrap();
    let f = fixture_on(
        "api_admin_chain",
        &chain.daemon_url(),
        &chain.pool_wallet_url(),
    )
    .await;

    let shown = f.get("/admin/wallet").await;
    let balance = chain.pool_wallet.get_balance().await.unwrap();
    let height = chain.pool_wallet.height().await.unwrap();
    assert_eq!(
        shown,
        json!({
            "balance": balance.balance.0,
            "unlocked": balance.unlocked.0,
            "blocks_to_unlock": balance.blocks_to_unlock,
            "height": height.0,
        })
    );
    assert!(balance.balance.0 > 0);

    let (status, added) = f
        .call("POST", "/admin/blocks", Some("{\"height\": 2}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["height"], 2);
    assert_eq!(added["status"], "pending");
    let hash: Hash32 = added["hash"].as_str().unwrap().parse().unwrap();
    let recorded = f
        .store
        .read()
        .unwrap()
        .block(Height(2), hash)
        .unwrap()
        .unwrap();
    assert_eq!(recorded.record.status, BlockStatus::Pending);
    assert_eq!(recorded.record.pool_type, PoolType::Pplns);

    assert_eq!(
        f.refused("POST", "/admin/blocks", Some("{\"height\": 2}"))
            .await,
        StatusCode::CONFLICT,
        "a block is added once"
    );
    assert_eq!(
        f.refused("POST", "/admin/blocks", Some("{\"height\": 6}"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "its coinbase does not pay the pool"
    );
    assert_eq!(
        f.refused("POST", "/admin/blocks", Some("{\"height\": 1000000}"))
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.store
            .read()
            .unwrap()
            .recent_blocks(usize::MAX)
            .unwrap()
            .len(),
        1
    );
    let audit = f.audit_rows().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "block.add");
    assert_eq!(audit[0].target, hash.to_string());
}

#[tokio::test]
async fn a_threshold_lock_set_by_the_operator_stops_the_miner_changing_it_and_is_audited() {
    let f = fixture("api_admin_threshold_lock").await;
    let (status, after) = f
        .call(
            "POST",
            &format!("/admin/miners/{POOL_ADDRESS}/threshold-lock"),
            Some(r#"{"locked": true}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after, json!({"miner": POOL_ADDRESS, "locked": true}));
    let locked: i8 =
        sqlx::query_scalar("SELECT payout_threshold_lock FROM users WHERE username = ?")
            .bind(POOL_ADDRESS)
            .fetch_one(&f.db)
            .await
            .unwrap();
    assert_eq!(locked, 1);

    // The miner's own route sees the lock and refuses a change.
    let public = rxpool::api::miner::routes().with_state(f.state.clone());
    let shown = public
        .clone()
        .oneshot(
            Request::get(format!("/user/{POOL_ADDRESS}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let shown: Value = serde_json::from_slice(
        &axum::body::to_bytes(shown.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(shown["payout_threshold_lock"], json!(1), "{shown}");
    let update = public
        .oneshot(
            Request::post("/user/updateThreshold")
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"username": POOL_ADDRESS, "threshold": "0.5"}).to_string(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(update.status(), StatusCode::FORBIDDEN);

    for (uri, body) in [
        ("/admin/miners/4abc/threshold-lock", r#"{"locked": true}"#),
        (
            &*format!(
                "/admin/miners/{}/threshold-lock",
                POOL_ADDRESS.to_ascii_lowercase()
            ),
            r#"{"locked": true}"#,
        ),
        (
            &*format!("/admin/miners/{POOL_ADDRESS}/threshold-lock"),
            r#"{"locked": "yes"}"#,
        ),
        (
            &*format!("/admin/miners/{POOL_ADDRESS}/threshold-lock"),
            "{",
        ),
    ] {
        f.refused("POST", uri, Some(body)).await;
    }
    let rows = audit::recent(&f.db, 10, 0).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].action, "miner.threshold_lock");
    assert_eq!(
        rows[0].before,
        Some(json!({"miner": POOL_ADDRESS, "locked": false}))
    );
    assert_eq!(
        rows[0].after,
        Some(json!({"miner": POOL_ADDRESS, "locked": true}))
    );
}
