//! The api's public pool routes (`/config`, `/pool/*`, `/network/stats`) against real
//! components: a pool (light-mode RandomX) mining on a difficulty-1 regtest monerod, the
//! worker's rollups, LMDB found blocks, and MariaDB payout records written by the payments
//! role's own store code. Every route answers reference §7's shapes with values read back
//! through `rxpool::stats::read_*` and SQL; a block the pool finds shows in `/pool/stats` and
//! `/pool/blocks` within 2 s although the worker has not rolled up since; hostile input is a
//! JSON 4xx on every route, never a 5xx.

#[path = "support/api.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod api_support;
#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod pool_db;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use rxpool::config::{FileConfig, Settings};
use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::domain::{
    Atomic, BalanceType, BatchKind, Clock, Difficulty, Hash32, Height, PoolType, SystemClock,
    UnixMillis,
};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::wallet::WalletClient;
use rxpool::stats::{self, PoolScope, Resolution};
use rxpool::store::lmdb::{
    BlockStatus, BlockUpdate, FoundBlock, ShareStore, StoreOptions, WriterConfig,
};
use rxpool::store::mysql::{self, payouts};
use rxpool::worker::cycle::Worker;
use serde_json::{Value, json};
use sqlx::{MySqlPool, Row};
use tokio_util::sync::CancellationToken;

use api_support::{ApiSetup, serve_api};
use stratum::{ADDR, error_of, mine_share, start_pool, test_settings};

/// A second regtest address (a payee).
const OTHER: &str = "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD";

async fn settings_of(db: &MySqlPool) -> Settings {
    mysql::load_settings(db, &Default::default()).await.unwrap()
}

/// GETs `url`: status and body as JSON (a non-JSON body fails the test).
async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{url}: {status} body is not JSON ({e}): {text:?}"));
    (status, body)
}

/// GETs `url`, which must answer 200.
async fn ok(url: &str) -> Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    body
}

fn value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_found_block_shows_in_pool_stats_and_blocks_within_two_seconds_and_routes_match_the_rollups()
 {
    pool_db::logs();
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1,
    })
    .await
    .unwrap();
    let (url, db) = pool_db::database_for("api_pool_found_block", ADDR).await;
    let settings = settings_of(&db).await;
    let pool = start_pool(&[monerod.rpc_url()], test_settings(), 1, None).await;
    let stop = CancellationToken::new();
    let (api, _) = serve_api(
        ApiSetup::offline(&url, pool.store.path()),
        &db,
        settings.clone(),
        &stop,
    )
    .await;
    let config = FileConfig::parse(&format!(
        "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"{}\"]\n\
         [wallet]\nurl = \"http://127.0.0.1:1\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\n\
         hostname = \"test-pool\"\n",
        pool.store.path().display(),
        monerod.rpc_url(),
    ))
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (mut worker, _settings_rx) = Worker::new(
        db.clone(),
        pool.store.clone(),
        pool.store.writer(WriterConfig::default()).unwrap(),
        DaemonClient::new(&[monerod.rpc_url()]).unwrap(),
        WalletClient::new("http://127.0.0.1:1").unwrap(),
        clock.clone(),
        settings.clone(),
        config.overrides.clone(),
    );
    worker.load().await.unwrap();
    // The host and port check-in `pool::run` makes (this in-process pool does not): what
    // the worker's `ports` come from.
    mysql::registry::register_pool(&db, 1, "127.0.0.1", "test-pool")
        .await
        .unwrap();
    mysql::registry::heartbeat(
        &db,
        1,
        "127.0.0.1",
        None,
        &[mysql::PortHeartbeat {
            port: mysql::PortConfig {
                port: pool.addr.port(),
                difficulty: 1,
                description: "test port".into(),
                pool_type: PoolType::Pplns,
                hidden: false,
                tls: false,
            },
            miners: 1,
        }],
    )
    .await
    .unwrap();

    // The worker rolls up before any block; the api's 1 s cache holds that answer.
    worker.cycle().await.unwrap();
    let before = ok(&format!("{api}/pool/stats")).await;
    assert_eq!(before["pool_statistics"]["totalBlocksFound"], 0, "{before}");
    assert_eq!(before["pool_list"], json!(["pplns", "solo"]), "{before}");

    // A websocket client follows /pool/stats; its first frame is the state before the block.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}/ws", api.replace("http://", "ws://")))
            .await
            .unwrap();
    ws.send(Message::text(
        json!({"op": "subscribe", "topic": "/pool/stats"}).to_string(),
    ))
    .await
    .unwrap();
    let first = next_text(&mut ws).await;
    assert_eq!(
        first["data"]["pool_statistics"]["totalBlocksFound"], 0,
        "{first}"
    );

    // A miner finds a block (difficulty 1: its first share is one).
    let mut miner = stratum::connect(&pool).await;
    let login = miner
        .call(
            "login",
            json!({"login": ADDR, "pass": "x", "rigid": "rig1", "agent": "XMRig/6.26.0", "algo": ["rx/0"]}),
        )
        .await;
    assert_eq!(error_of(&login), None, "{login}");
    let job = login["result"]["job"].clone();
    let height = job["height"].as_u64().unwrap();
    let (nonce, result) = mine_share(&pool.verifier, &job).await;
    let found_at = Instant::now();
    let reply = miner
        .call(
            "submit",
            json!({"id": login["result"]["id"], "job_id": job["job_id"], "nonce": nonce, "result": result, "algo": "rx/0"}),
        )
        .await;
    assert_eq!(error_of(&reply), None, "{reply}");

    // Seen within 2 s, with no rollup in between.
    let (stats, blocks) = loop {
        let stats = ok(&format!("{api}/pool/stats")).await;
        let blocks = ok(&format!("{api}/pool/blocks")).await;
        if stats["pool_statistics"]["lastBlockFound"] == height
            && blocks.as_array().is_some_and(|b| !b.is_empty())
        {
            break (stats, blocks);
        }
        assert!(
            found_at.elapsed() < Duration::from_secs(2),
            "not shown within 2 s: {stats} {blocks}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let shown_after = found_at.elapsed();
    println!("the found block was served {shown_after:?} after its share was sent");
    // ... and pushed to the websocket client within 2 s too, with no reload or rollup.
    loop {
        let frame = next_text(&mut ws).await;
        if frame["data"]["pool_statistics"]["lastBlockFound"] == height {
            break;
        }
        assert!(
            found_at.elapsed() < Duration::from_secs(2),
            "not pushed within 2 s: {frame}"
        );
    }
    let pushed_after = found_at.elapsed();
    assert!(
        pushed_after < Duration::from_secs(2),
        "pushed after {pushed_after:?}"
    );
    println!("the found block was pushed {pushed_after:?} after its share was sent");
    assert_eq!(stats["pool_statistics"]["totalBlocksFound"], 1, "{stats}");
    let newest = pool.store.read().unwrap().recent_blocks(1).unwrap();
    let block = &newest[0].record;
    assert_eq!(block.height.0, height);
    let expected_row = json!({
        "ts": block.timestamp.0,
        "hash": block.hash.to_string(),
        "diff": block.network_difficulty.0,
        "shares": block.shares_at_find.map_or(0, |d| d.0),
        "height": height,
        "valid": true,
        "unlocked": false,
        "pool_type": "pplns",
        "value": block.reward.0,
        "status": "pending",
        "effort": blocks[0]["effort"],
    });
    assert_eq!(blocks, json!([expected_row]), "shown after {shown_after:?}");
    assert_eq!(
        stats["pool_statistics"]["lastBlockFoundTime"],
        block.timestamp.as_secs()
    );
    let pplns = ok(&format!("{api}/pool/stats/pplns")).await;
    assert_eq!(
        pplns["pool_statistics"]["lastBlockFound"], height,
        "{pplns}"
    );
    assert_eq!(pplns["pool_statistics"]["fee"], json!(0.6), "{pplns}");
    let solo = ok(&format!("{api}/pool/stats/solo")).await;
    assert_eq!(solo["pool_statistics"]["totalBlocksFound"], 0, "{solo}");
    assert_eq!(ok(&format!("{api}/pool/blocks/pplns")).await, blocks);
    assert_eq!(ok(&format!("{api}/pool/blocks/solo")).await, json!([]));

    // After the next rollup every route serves exactly what the worker wrote.
    worker.cycle().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let snap = pool.store.read().unwrap();
    let now = clock.now();
    let global = stats::read_pool(&snap, PoolScope::Global).unwrap().unwrap();
    assert_eq!(
        (global.total_blocks_found, global.last_block_found),
        (1, height)
    );
    assert_eq!(
        ok(&format!("{api}/pool/stats")).await,
        json!({"pool_list": ["pplns", "solo"], "pool_statistics": value(&global), "last_payment": 0})
    );
    for mode in PoolType::ALL {
        let rolled = stats::read_pool(&snap, PoolScope::Mode(mode))
            .unwrap()
            .unwrap();
        let mut expected = value(&rolled);
        let fee = match mode {
            PoolType::Pplns => json!(0.6),
            PoolType::Pps => json!(6.5),
            PoolType::Solo => json!(0.4),
        };
        expected["fee"] = fee;
        assert_eq!(
            ok(&format!("{api}/pool/stats/{}", mode.as_str())).await,
            json!({ "pool_statistics": expected }),
            "{mode:?}"
        );
    }
    let network = stats::read_network(&snap).unwrap().unwrap();
    assert!(network.height >= height, "{network:?}");
    assert_eq!(ok(&format!("{api}/network/stats")).await, value(&network));
    let ports = stats::read_ports(&snap).unwrap();
    assert_eq!(ports.pplns.len(), 1, "{ports:?}");
    assert_eq!(ports.pplns[0].port, pool.addr.port());
    assert_eq!(ok(&format!("{api}/pool/ports")).await, value(&ports));
    let hashrate = ok(&format!("{api}/pool/chart/hashrate")).await;
    assert_eq!(
        hashrate,
        value(
            &stats::read_pool_hashrate_history(&snap, PoolScope::Global, Resolution::Minute, now)
                .unwrap()
        )
    );
    assert!(
        hashrate.as_array().is_some_and(|p| !p.is_empty()),
        "{hashrate}"
    );
    let miners = ok(&format!("{api}/pool/chart/miners/pplns")).await;
    assert_eq!(
        miners,
        value(
            &stats::read_pool_miners_history(
                &snap,
                PoolScope::Mode(PoolType::Pplns),
                Resolution::Minute,
                now
            )
            .unwrap()
        )
    );
    assert!(miners.as_array().is_some_and(|p| !p.is_empty()), "{miners}");
    for path in [
        "/pool/chart/miners",
        "/pool/chart/hashrate/pplns",
        "/pool/chart/hashrate/solo",
    ] {
        assert!(ok(&format!("{api}{path}")).await.is_array(), "{path}");
    }
    drop(snap);
    stop.cancel();
}

/// Records a found block at `height` of `mode` with `status`, found `at_ms`.
async fn record_block(
    writer: &rxpool::store::lmdb::ShareWriter,
    height: u64,
    mode: PoolType,
    status: BlockStatus,
    at_ms: u64,
) {
    let hash = Hash32([height as u8; 32]);
    writer
        .record_block(FoundBlock {
            height: Height(height),
            hash,
            network_difficulty: Difficulty(1_000 + u128::from(height)),
            reward: Atomic(600_000_000_000 + height),
            pool_type: mode,
            miner: ADDR.into(),
            worker: "rig1".into(),
            timestamp: UnixMillis(at_ms),
            shares_at_find: Some(Difficulty(500 * u128::from(height))),
            status: BlockStatus::Pending,
            blob: Vec::new(),
        })
        .await
        .unwrap();
    if status != BlockStatus::Pending {
        writer
            .update_block(
                Height(height),
                hash,
                BlockUpdate {
                    status,
                    reason: "test".into(),
                    reward: None,
                    at: UnixMillis(at_ms + 1),
                },
            )
            .await
            .unwrap();
    }
}

/// Pays `payees` (address, mode, net amount) in one payout through the payments role's
/// store code (a balance row each, a reserved batch, the signed record). The wallet's
/// signature is stood in by a made-up hash: the api reads only what `record_signed` writes.
async fn pay(db: &MySqlPool, tx_byte: u8, payees: &[(&str, BalanceType, u64)]) -> u64 {
    let mut items = Vec::new();
    for &(address, ty, amount) in payees {
        let balance_id = sqlx::query(
            "INSERT INTO balance (payment_address, payment_id, pool_type, amount) VALUES (?, '', ?, ?)",
        )
        .bind(address)
        .bind(ty.as_str())
        .bind(amount)
        .execute(db)
        .await
        .unwrap()
        .last_insert_id();
        items.push(payouts::NewItem {
            balance_id,
            address: address.into(),
            payment_id: String::new(),
            balance_type: ty,
            destination: address.into(),
            gross: Atomic(amount),
            fee: Atomic(0),
            net: Atomic(amount),
        });
    }
    let batch = payouts::reserve(db, BatchKind::Batched, &items)
        .await
        .unwrap();
    payouts::record_signed(
        db,
        batch,
        &payouts::SignedRecord {
            tx_hash: Hash32([tx_byte; 32]),
            tx_metadata: "00".into(),
            tx_key: payouts::TxKey::default(),
            network_fee: Atomic(30_000_000 + u64::from(tx_byte)),
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_and_payments_pages_are_newest_first_filtered_by_mode_and_match_lmdb_and_mysql() {
    pool_db::logs();
    let (url, db) = pool_db::database_for("api_pool_pages", ADDR).await;
    mysql::set_setting(&db, "general.motdSubject", "Maintenance")
        .await
        .unwrap();
    mysql::set_setting(&db, "general.motdBody", "Down at 10:00 UTC for 5 min.")
        .await
        .unwrap();
    mysql::set_setting(&db, "general.motdCreated", "1764000000")
        .await
        .unwrap();
    let settings = settings_of(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let store = ShareStore::open(&StoreOptions::new(dir.path())).unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    // 30 blocks: every third solo, two orphaned, two unlocked.
    for h in 1..=30u64 {
        let mode = if h % 3 == 0 {
            PoolType::Solo
        } else {
            PoolType::Pplns
        };
        let status = match h {
            4 | 9 => BlockStatus::Orphaned,
            2 | 3 => BlockStatus::Unlocked,
            _ => BlockStatus::Pending,
        };
        record_block(&writer, h, mode, status, 1_700_000_000_000 + h * 1000).await;
    }
    writer.flush().await.unwrap();
    let stop = CancellationToken::new();
    let (api, _) = serve_api(ApiSetup::offline(&url, dir.path()), &db, settings, &stop).await;

    // Blocks: default 25, newest first, paged and filtered, from LMDB.
    let all = ok(&format!("{api}/pool/blocks")).await;
    let heights: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, (6..=30).rev().collect::<Vec<_>>());
    let page = ok(&format!("{api}/pool/blocks?limit=4&page=7")).await;
    let heights: Vec<u64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, vec![2, 1]);
    assert_eq!(
        page[0],
        json!({"ts": 1_700_000_002_000u64, "hash": Hash32([2; 32]).to_string(), "diff": 1002,
               "shares": 1000, "height": 2, "valid": true, "unlocked": true, "pool_type": "pplns",
               "value": 600_000_000_002u64, "status": "confirmed", "effort": 9980})
    );
    let solo = ok(&format!("{api}/pool/blocks/solo?limit=3&page=1")).await;
    let rows: Vec<(u64, &str, bool)> = solo
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["height"].as_u64().unwrap(),
                b["status"].as_str().unwrap(),
                b["valid"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (21, "pending", true),
            (18, "pending", true),
            (15, "pending", true)
        ]
    );
    let deep = ok(&format!("{api}/pool/blocks/solo?limit=3&page=3")).await;
    assert_eq!(
        deep.as_array()
            .unwrap()
            .iter()
            .map(|b| (b["height"].as_u64().unwrap(), b["status"].clone()))
            .collect::<Vec<_>>(),
        vec![(3, json!("confirmed"))]
    );
    assert_eq!(ok(&format!("{api}/pool/blocks/pps")).await, json!([]));
    assert_eq!(
        ok(&format!("{api}/pool/blocks?limit=100&page=99")).await,
        json!([])
    );
    let orphan = &ok(&format!("{api}/pool/blocks/pplns?limit=100")).await;
    let orphan = orphan
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["height"] == 4)
        .unwrap();
    assert_eq!(
        (&orphan["valid"], &orphan["status"]),
        (&json!(false), &json!("orphaned"))
    );

    // Payments: three payouts, one of them paying two modes.
    assert_eq!(ok(&format!("{api}/pool/payments")).await, json!([]));
    let t1 = pay(&db, 1, &[(ADDR, BalanceType::Pplns, 400_000_000_000)]).await;
    let t2 = pay(
        &db,
        2,
        &[
            (ADDR, BalanceType::Solo, 500_000_000_000),
            (OTHER, BalanceType::Pplns, 700_000_000_000),
        ],
    )
    .await;
    let t3 = pay(&db, 3, &[(OTHER, BalanceType::Solo, 900_000_000_000)]).await;
    let rows = sqlx::query(
        "SELECT id, transaction_hash, CAST(mixin AS UNSIGNED) AS mixin, \
                CAST(payees AS UNSIGNED) AS payees, fees, xmr_amt, \
                CAST(UNIX_TIMESTAMP(submitted_time) AS UNSIGNED) AS secs \
         FROM transactions ORDER BY id DESC",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let expected: Vec<Value> = rows
        .iter()
        .zip(["solo", "pplns", "pplns"])
        .map(|(r, mode)| {
            json!({
                "id": r.get::<u64, _>("id"),
                "hash": r.get::<String, _>("transaction_hash"),
                "mixins": r.get::<u64, _>("mixin"),
                "payees": r.get::<u64, _>("payees"),
                "fee": r.get::<u64, _>("fees"),
                "value": r.get::<u64, _>("xmr_amt"),
                "ts": r.get::<u64, _>("secs") * 1000,
                "pool_type": mode,
            })
        })
        .collect();
    assert_eq!(
        expected
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![t3, t2, t1]
    );
    assert_eq!(expected[1]["payees"], 2);
    assert_eq!(expected[1]["value"], 1_200_000_000_000u64);
    // The payments role records the consensus ring's decoys (16 members, 15 decoys).
    assert!(expected.iter().all(|e| e["mixins"] == 15), "{expected:?}");
    assert_eq!(
        ok(&format!("{api}/pool/payments?limit=100")).await,
        json!(expected)
    );
    assert_eq!(
        ok(&format!("{api}/pool/payments?limit=1&page=1")).await,
        json!([expected[1]])
    );
    let mut solo = vec![expected[0].clone(), expected[1].clone()];
    for row in &mut solo {
        row["pool_type"] = json!("solo");
    }
    assert_eq!(ok(&format!("{api}/pool/payments/solo")).await, json!(solo));
    assert_eq!(ok(&format!("{api}/pool/payments/pps")).await, json!([]));
    let last: u64 = rows[0].get("secs");
    assert_eq!(ok(&format!("{api}/pool/stats")).await["last_payment"], last);

    // Config and the message of the day, from the shared settings.
    assert_eq!(
        ok(&format!("{api}/config")).await,
        json!({"pplns_fee": 0.6, "pps_fee": 6.5, "solo_fee": 0.4, "btc_fee": 0,
               "min_wallet_payout": 300_000_000_000u64, "min_btc_payout": 0,
               "min_exchange_payout": 5_000_000_000_000u64, "dev_donation": 0,
               "pool_dev_donation": 0, "maturity_depth": 60, "min_denom": 1_000_000,
               "coin_code": "XMR"})
    );
    assert_eq!(
        ok(&format!("{api}/pool/motd")).await,
        json!({"created": 1_764_000_000u64, "subject": "Maintenance",
               "body": "Down at 10:00 UTC for 5 min."})
    );

    // Address types: any address the pool takes as a login.
    let valid = json!({"valid": true, "address_type": "XMR"});
    assert_eq!(ok(&format!("{api}/pool/address_type/{ADDR}")).await, valid);
    assert_eq!(
        ok(&format!("{api}/pool/address_type/{ADDR}.0123456789abcdef")).await,
        valid
    );
    // Before the worker's first rollup: zeros, and `{}` for the network.
    assert_eq!(ok(&format!("{api}/network/stats")).await, json!({}));
    assert_eq!(ok(&format!("{api}/pool/chart/hashrate")).await, json!([]));
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_on_every_route_is_a_json_4xx_never_a_5xx() {
    pool_db::logs();
    let (url, db) = pool_db::database_for("api_pool_hostile", ADDR).await;
    let settings = settings_of(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let (api, _) = serve_api(ApiSetup::offline(&url, dir.path()), &db, settings, &stop).await;
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM config")
        .fetch_one(&db)
        .await
        .unwrap();

    let pool_types = [
        "PPLNS",
        "Pplns",
        "global",
        "prop",
        "ṗplns",
        "%F0%9F%92%A9",
        "pplns%27%3B%20DROP%20TABLE%20transactions%3B%20--",
        "%FF%FE",
        &"x".repeat(5000),
    ];
    let mut refused = Vec::new();
    for t in pool_types {
        for route in [
            "/pool/stats",
            "/pool/chart/hashrate",
            "/pool/chart/miners",
            "/pool/blocks",
            "/pool/payments",
        ] {
            refused.push(format!("{route}/{t}"));
        }
    }
    let paging = [
        "limit=0",
        "limit=-1",
        "limit=101",
        "limit=99999999999999999999999",
        "limit=1e3",
        "limit=ten",
        "limit=",
        "page=-1",
        "page=100001",
        "page=18446744073709551616",
        "page=1%27%20OR%201%3D1",
        "limit=%FF",
        "limit=%",
    ];
    for q in paging {
        for route in [
            "/pool/blocks",
            "/pool/blocks/pplns",
            "/pool/payments",
            "/pool/payments/solo",
        ] {
            refused.push(format!("{route}?{q}"));
        }
    }
    for q in ["limit=100&page=100", "limit=25&page=400"] {
        refused.push(format!("/pool/blocks?{q}"));
        refused.push(format!("/pool/blocks/solo?{q}"));
    }
    refused.push(format!("/pool/address_type/{}", "4".repeat(300)));
    refused.push("/pool/address_type/%FF".into());
    refused.push(format!("/pool/blocks?limit=1&x={}", "y".repeat(3000)));
    for path in &refused {
        let (status, body) = get(&format!("{api}{path}")).await;
        let shown: String = path.chars().take(80).collect();
        assert!((400..500).contains(&status), "{shown}: {status} {body}");
        assert!(body["error"].is_string(), "{shown}: {body}");
    }
    let (_, body) = get(&format!("{api}/pool/stats/PPLNS")).await;
    assert!(
        body["error"].as_str().unwrap().contains("pplns, pps, solo"),
        "{body}"
    );

    // Bad addresses are `{valid: false}` (the route's answer), never an error.
    let mut upper = ADDR.to_owned();
    upper.replace_range(2..3, &ADDR[2..3].to_ascii_lowercase());
    assert_ne!(upper, ADDR);
    for bad in [
        upper.as_str(),
        &ADDR.to_ascii_uppercase(),
        &ADDR[..90],
        OTHER.replace('4', "8").as_str(),
        &format!("{ADDR}.xyz"),
        &format!("{ADDR}.0123456789ABCDEFG"),
        "%27%20OR%201%3D1%20--",
        "%C3%BCmlaut",
        "9wviCeWe2D8XS82k2ovp5EUYLzBt9pYNW2LXUFsZiv8S3Mt21FZ5qQaAroko1enzw3eGr9qC7X1D7Geoo2RrAotYPwq9Gm8",
    ] {
        let body = ok(&format!("{api}/pool/address_type/{bad}")).await;
        assert_eq!(body, json!({"valid": false}), "{bad}");
    }
    // Unknown extra parameters are ignored; repeated ones take the last.
    assert_eq!(
        ok(&format!("{api}/pool/blocks?limit=5&limit=7&order=1;DROP")).await,
        json!([])
    );
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM config")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(before, after);
    stop.cancel();
}

/// The next text frame of a websocket as JSON (within 3 s).
async fn next_text<S>(ws: &mut S) -> serde_json::Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await
            .expect("a frame within 3 s")
            .expect("socket open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}
