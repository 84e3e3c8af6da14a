//! Prometheus metrics end to end.
//!
//! - The api's `/metrics` (the real api, its own MariaDB database, LMDB in a temp dir filled
//!   through the real share writer): parses as the text format, every family with `# HELP`
//!   and `# TYPE`, and its values are those seeded in the rollups, the found blocks, MySQL's
//!   balances, payout batches and mail outbox.
//! - A process's own `/metrics`: the real `rxpool all` binary (every role, one listener) on a
//!   config.toml with `[metrics] bind`, a regtest monerod, and a stratum client submitting
//!   real RandomX shares: the pool's share counters move by outcome as shares are accepted or
//!   refused, and the block manager, payments and worker report their passes.

#[path = "support/api.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod api_support;
#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "the binary runs the roles here, not pool::run")]
mod pool_db;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rxpool::devnet::{MariaDb, Monerod, MonerodOptions, free_port};
use rxpool::domain::{
    Atomic, Clock, Difficulty, Hash32, Height, PoolType, SystemClock, UnixMillis,
};
use rxpool::monero::pow::{Verifier, VerifierConfig};
use rxpool::stats::{NetworkStats, PoolScope, PoolStats, StatsBatch};
use rxpool::store::lmdb::{BlockStatus, FoundBlock, ShareStore, StoreOptions, WriterConfig};
use rxpool::store::mysql;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A scrape: `name{labels}` → value text, after checking the format.
fn parse(text: &str) -> BTreeMap<String, String> {
    let mut helped = std::collections::BTreeSet::new();
    let mut typed = std::collections::BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a text");
            assert!(!help.trim().is_empty(), "{line}");
            helped.insert(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.insert(name.to_owned());
        } else {
            assert!(!line.starts_with('#'), "{line}");
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{line}"
            );
            if let Some(labels) = series.strip_prefix(name) {
                assert!(
                    labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                    "{line}"
                );
            }
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                .unwrap_or(name);
            assert!(
                helped.contains(family) && typed.contains(family),
                "{family} sampled before its HELP and TYPE"
            );
            samples.insert(series.to_owned(), value.to_owned());
        }
    }
    samples
}

fn value(samples: &BTreeMap<String, String>, series: &str) -> u64 {
    samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{series}: {e}"))
}

async fn scrape(url: &str) -> (String, BTreeMap<String, String>) {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = r.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

fn found_block(height: u64, status: BlockStatus, at: UnixMillis) -> FoundBlock {
    FoundBlock {
        height: Height(height),
        hash: Hash32([height as u8; 32]),
        network_difficulty: Difficulty(1_000),
        reward: Atomic(600_000_000_000),
        pool_type: PoolType::Pplns,
        miner: Arc::from(stratum::ADDR),
        worker: Arc::from("rig1"),
        timestamp: at,
        shares_at_find: None,
        status,
        blob: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_metrics_parse_and_match_the_rollups_blocks_and_mysql() {
    let url = MariaDb::shared()
        .await
        .unwrap()
        .create_database("metrics_api")
        .await
        .unwrap();
    let db = mysql::connect(&url).await.unwrap();
    mysql::migrate(&db).await.unwrap();
    let lmdb = tempfile::tempdir().unwrap();

    // The worker's rollups and the pool's found blocks, through the real writer.
    let store = ShareStore::open(&StoreOptions::new(lmdb.path())).unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    let mut batch = StatsBatch::new();
    let pools = [
        (PoolScope::Global, 15_000, 7, 11),
        (PoolScope::Mode(PoolType::Pplns), 12_000, 5, 8),
        (PoolScope::Mode(PoolType::Solo), 3_000, 2, 3),
    ];
    for (scope, hash_rate, miners, workers) in pools {
        batch.put_pool(
            scope,
            &PoolStats {
                hash_rate,
                miners,
                workers,
                ..PoolStats::default()
            },
        );
    }
    batch.put_network(&NetworkStats {
        difficulty: 123_456_789,
        height: 3_100_000,
        ..NetworkStats::default()
    });
    let (puts, _) = batch.into_parts();
    writer.put_stats(puts).await.unwrap();
    let now = SystemClock.now();
    let newest = UnixMillis(now.0 - 125_000);
    for (height, status, at) in [
        (100, BlockStatus::Pending, UnixMillis(now.0 - 900_000)),
        (101, BlockStatus::Pending, UnixMillis(now.0 - 600_000)),
        (102, BlockStatus::Candidate, newest),
    ] {
        writer
            .record_block(found_block(height, status, at))
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();

    // Balances, payout batches and the mail outbox in MySQL.
    for (address, mode, amount) in [
        ("4a", "pplns", 1_000u64),
        ("4b", "pplns", 2_500),
        ("4c", "pps", 700),
        ("fee", "fees", 42),
    ] {
        sqlx::query("INSERT INTO balance (payment_address, pool_type, amount) VALUES (?, ?, ?)")
            .bind(address)
            .bind(mode)
            .bind(amount)
            .execute(&db)
            .await
            .unwrap();
    }
    for (status, net) in [
        ("confirmed", 5_000u64),
        ("confirmed", 1_000),
        ("reserved", 300),
    ] {
        sqlx::query(
            "INSERT INTO payout_batches (status, kind, destinations, gross, net, withdrawal_fee) \
             VALUES (?, 'batched', 1, ?, ?, 0)",
        )
        .bind(status)
        .bind(net + 10)
        .bind(net)
        .execute(&db)
        .await
        .unwrap();
    }
    for (i, (state, attempts)) in [("queued", 0), ("queued", 2), ("failed", 5), ("sent", 1)]
        .into_iter()
        .enumerate()
    {
        sqlx::query(
            "INSERT INTO mail_outbox (dedup_key, recipient, kind, event_at, subject, body, \
             message_id, state, attempts, next_attempt_at, created_at) \
             VALUES (?, 'miner@example.org', 'operator', 1, 's', 'b', ?, ?, ?, 0, ?)",
        )
        .bind(format!("k{i}"))
        .bind(format!("m{i}@test"))
        .bind(state)
        .bind(attempts)
        .bind(now.0)
        .execute(&db)
        .await
        .unwrap();
    }

    let settings = mysql::load_settings(&db, &Default::default())
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let (base, _state) = api_support::serve_api(
        api_support::ApiSetup::offline(&url, lmdb.path()),
        &db,
        settings,
        &stop,
    )
    .await;
    let (text, s) = scrape(&format!("{base}/metrics")).await;

    for (mode, hash_rate, miners, workers) in [
        ("global", 15_000, 7, 11),
        ("pplns", 12_000, 5, 8),
        ("solo", 3_000, 2, 3),
    ] {
        assert_eq!(
            value(&s, &format!("rxpool_pool_hashrate{{mode=\"{mode}\"}}")),
            hash_rate
        );
        assert_eq!(
            value(&s, &format!("rxpool_pool_miners{{mode=\"{mode}\"}}")),
            miners
        );
        assert_eq!(
            value(&s, &format!("rxpool_pool_workers{{mode=\"{mode}\"}}")),
            workers
        );
    }
    // No rollup for PPS: no made-up zero.
    assert!(
        !text.contains("rxpool_pool_hashrate{mode=\"pps\"}"),
        "{text}"
    );
    assert_eq!(value(&s, "rxpool_network_height"), 3_100_000);
    assert_eq!(value(&s, "rxpool_network_difficulty"), 123_456_789);

    assert_eq!(value(&s, "rxpool_blocks{status=\"pending\"}"), 2);
    assert_eq!(value(&s, "rxpool_blocks{status=\"candidate\"}"), 1);
    assert_eq!(value(&s, "rxpool_blocks{status=\"unlocked\"}"), 0);
    assert_eq!(value(&s, "rxpool_blocks{status=\"orphaned\"}"), 0);
    let age = value(&s, "rxpool_last_block_age_seconds");
    assert!((125..=135).contains(&age), "{age}");

    // Owed balances per type, as MySQL sums them.
    let owed: Vec<(String, String)> = sqlx::query_as(
        "SELECT pool_type, CAST(SUM(amount) AS CHAR) FROM balance GROUP BY pool_type",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(owed.len(), 3);
    for (mode, sum) in owed {
        assert_eq!(
            s[&format!("rxpool_balance_owed_atomic{{mode=\"{mode}\"}}")],
            sum,
            "{mode}"
        );
    }
    assert_eq!(
        value(&s, "rxpool_balance_owed_atomic{mode=\"pplns\"}"),
        3_500
    );
    let total: u64 = ["pplns", "pps", "fees"]
        .iter()
        .map(|m| value(&s, &format!("rxpool_balance_owed_atomic{{mode=\"{m}\"}}")))
        .sum();
    assert_eq!(
        Atomic(total),
        mysql::credits::owed_total(&db).await.unwrap()
    );

    assert_eq!(value(&s, "rxpool_payout_batches{status=\"confirmed\"}"), 2);
    assert_eq!(value(&s, "rxpool_payout_batches{status=\"reserved\"}"), 1);
    assert_eq!(value(&s, "rxpool_payout_batches{status=\"held\"}"), 0);
    assert_eq!(
        value(&s, "rxpool_payout_batches_net_atomic{status=\"confirmed\"}"),
        6_000
    );
    assert_eq!(
        value(&s, "rxpool_payout_batches_net_atomic{status=\"reserved\"}"),
        300
    );

    let outbox = rxpool::mail::outbox::health(&db).await.unwrap();
    assert_eq!((outbox.pending, outbox.retrying, outbox.failed), (2, 1, 1));
    assert_eq!(value(&s, "rxpool_mail_outbox{state=\"pending\"}"), 2);
    assert_eq!(value(&s, "rxpool_mail_outbox{state=\"retrying\"}"), 1);
    assert_eq!(value(&s, "rxpool_mail_outbox{state=\"failed\"}"), 1);
    // Nothing personal leaks into the figures.
    assert!(
        !text.contains("example.org") && !text.contains(stratum::ADDR),
        "{text}"
    );

    // A change shows after the short cache.
    sqlx::query("UPDATE payout_batches SET status = 'signed' WHERE status = 'reserved'")
        .execute(&db)
        .await
        .unwrap();
    tokio::time::sleep(rxpool::api::metrics::SCRAPE_TTL + Duration::from_millis(200)).await;
    let (_, s) = scrape(&format!("{base}/metrics")).await;
    assert_eq!(value(&s, "rxpool_payout_batches{status=\"reserved\"}"), 0);
    assert_eq!(value(&s, "rxpool_payout_batches{status=\"signed\"}"), 1);
    stop.cancel();
}

/// `rxpool all` as a child process; killed when dropped.
struct Role(Child);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn submit(job: &Value, nonce: &str, result: &str) -> Value {
    json!({"id": job["id"], "job_id": job["job_id"], "nonce": nonce, "result": result})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_serves_its_own_metrics_share_counters_move_by_outcome_and_roles_report() {
    let (url, db, port) = pool_db::pool_database("metrics_pool", stratum::ADDR, 40).await;
    mysql::set_setting(&db, "pool.minDifficulty", "1")
        .await
        .unwrap();
    mysql::set_setting(&db, "payout.feeAddress", stratum::ADDR)
        .await
        .unwrap();
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port().unwrap();
    let toml = format!(
        "{}\n[metrics]\nbind = \"127.0.0.1:{metrics_port}\"\n",
        pool_db::pool_config_toml(
            &url,
            &dir.path().join("lmdb"),
            &monerod.rpc_url(),
            200,
            "pool_id = 3"
        )
    );
    let config = dir.path().join("config.toml");
    std::fs::write(&config, toml).unwrap();
    let log = std::fs::File::create(dir.path().join("all.log")).unwrap();
    let mut role = Role(
        Command::new(env!("CARGO_BIN_EXE_rxpool"))
            .arg("--config")
            .arg(&config)
            .arg("all")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let Some(stream) =
        pool_db::connect_when_open(port, || matches!(role.0.try_wait(), Ok(None))).await
    else {
        let log = std::fs::read_to_string(dir.path().join("all.log")).unwrap_or_default();
        panic!("the pool ended before opening its port: {log}");
    };
    let metrics = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut client = stratum::Client::new(stream);
    let login = client
        .login_when_ready(json!({"login": stratum::ADDR, "pass": "x", "rigid": "rig1"}))
        .await;
    assert!(login["error"].is_null(), "{login}");
    let job = login["result"]["job"].clone();

    let (_, before) = scrape(&metrics).await;
    assert_eq!(
        value(&before, "rxpool_pool_shares_total{outcome=\"accepted\"}"),
        0
    );
    assert_eq!(value(&before, "rxpool_pool_connections"), 1);
    assert_eq!(value(&before, "rxpool_pool_miners_logged_in"), 1);
    assert_eq!(value(&before, "rxpool_pool_verifier_queue"), 0);

    let verifier = Verifier::new(VerifierConfig::light(1));
    let seed: Hash32 = job["seed_hash"].as_str().unwrap().parse().unwrap();
    verifier.set_seeds(seed, None);
    let (low_nonce, low_result) = stratum::mine(&verifier, &job, false).await;
    let r = client
        .call("submit", submit(&job, &low_nonce, &low_result))
        .await;
    assert_eq!(stratum::error_of(&r), Some("Low difficulty share"), "{r}");
    let (nonce, result) = stratum::mine(&verifier, &job, true).await;
    let r = client.call("submit", submit(&job, &nonce, &result)).await;
    assert!(r["error"].is_null(), "{r}");
    let r = client.call("submit", submit(&job, &nonce, &result)).await;
    assert_eq!(stratum::error_of(&r), Some("Duplicate share"), "{r}");
    let mut stale = job.clone();
    stale["job_id"] = json!("not-a-job");
    let r = client.call("submit", submit(&stale, &nonce, &result)).await;
    assert_eq!(stratum::error_of(&r), Some("Invalid job id"), "{r}");

    let (_, after) = scrape(&metrics).await;
    for (outcome, n) in [
        ("accepted", 1),
        ("low_diff", 1),
        ("duplicate", 1),
        ("stale", 1),
        ("wrong_hash", 0),
        ("other", 0),
    ] {
        assert_eq!(
            value(
                &after,
                &format!("rxpool_pool_shares_total{{outcome=\"{outcome}\"}}")
            ),
            n,
            "{outcome}"
        );
    }
    assert_eq!(
        value(
            &after,
            "rxpool_pool_rejections_total{reason=\"low_difficulty\"}"
        ),
        1
    );
    assert_eq!(value(&after, "rxpool_pool_connections"), 1);
    drop(client);
    // The connection gauge follows the miner out.
    let mut open = 1;
    for _ in 0..50 {
        let (_, now) = scrape(&metrics).await;
        open = value(&now, "rxpool_pool_connections");
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, 0);

    // Every other role of the process has run at least one pass (the wallet is down here, so
    // payments counts a failed cycle).
    let families = [
        "rxpool_block_manager_pass_seconds_count",
        "rxpool_worker_cycle_seconds_count",
        "rxpool_payments_cycle_seconds_count",
    ];
    let mut seen = BTreeMap::new();
    for _ in 0..120 {
        let (_, now) = scrape(&metrics).await;
        seen = families
            .iter()
            .filter_map(|f| now.get(*f).map(|v| (*f, v.clone())))
            .collect();
        if seen.len() == families.len() {
            assert!(now.contains_key("rxpool_worker_shares_rolled_up_total"));
            assert!(now.contains_key("rxpool_block_manager_blocks_total{outcome=\"orphaned\"}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(seen.len(), families.len(), "{seen:?}");
    for (family, n) in seen {
        assert!(n.parse::<u64>().unwrap() >= 1, "{family}: {n}");
    }
    drop(role);
}
