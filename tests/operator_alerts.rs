//! Operator alerts against a real throwaway MariaDB (`rxpool::devnet`): each check turns on
//! from real rows (a pool host behind, a stale heartbeat, a block issue, a batch in manual
//! review, a failing outbox, ...) and every transition lands in `mail_outbox` exactly once.

use rxpool::config::Settings;
use rxpool::devnet::{MariaDb, Monerod};
use rxpool::domain::{Atomic, Clock, Hash32, Height, SystemClock, UnixMillis};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::rpc_types::Balance;
use rxpool::monero::wallet::WalletClient;
use rxpool::store::mysql::block_issues::{self, IssueKind};
use rxpool::store::mysql::heartbeats::{self, BeatingRole};
use rxpool::store::mysql::{self};
use std::sync::Arc;

use rxpool::domain::PoolType;
use rxpool::store::lmdb::{MapUsage, NewShare, ShareStore, StoreOptions, WriterConfig};
use rxpool::worker::operator::{Change, OperatorAlerts, Probes, Transition};
use sqlx::{MySqlPool, Row};

const MINUTE: u64 = 60_000;

/// A fresh migrated database on the shared devnet MariaDB: its URL and a pool.
async fn fresh_database(name: &str) -> (String, MySqlPool) {
    let server = MariaDb::shared().await.expect("mariadb starts");
    let url = server
        .create_database(name)
        .await
        .expect("database created");
    let pool = mysql::connect(&url).await.expect("connects");
    mysql::migrate(&pool).await.expect("migrations apply");
    (url, pool)
}

async fn fresh_db(name: &str) -> MySqlPool {
    fresh_database(name).await.1
}

fn settings(admin: &str) -> Settings {
    let mut s = Settings::defaults();
    s.general.admin_email = admin.to_owned();
    s.general.pool_name = "OpsTest".to_owned();
    s.general.admin_alert_reminder_minutes = 30;
    s
}

/// Everything the worker measures is healthy: tip 100, LMDB at 10 %, no wallet.
fn healthy() -> Probes {
    Probes {
        daemon: Ok(Height(100)),
        lmdb: Some(Ok(MapUsage {
            used_bytes: 100,
            map_size: 500,
            max_map_size: 1000,
        })),
        wallet: None,
    }
}

fn now() -> UnixMillis {
    SystemClock.now()
}

/// The operator mails queued for `key`: (subject, event_at), oldest first.
async fn mails(db: &MySqlPool, key: &str) -> Vec<(String, u64)> {
    sqlx::query(
        "SELECT subject, event_at FROM mail_outbox WHERE dedup_key = ? AND kind = 'operator' \
         ORDER BY event_at, id",
    )
    .bind(format!("admin:{key}"))
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("subject"), r.get("event_at")))
    .collect()
}

/// The transitions as (key, change), by key.
fn changes(ts: &[Transition]) -> Vec<(String, Change)> {
    let mut out: Vec<(String, Change)> = ts.iter().map(|t| (t.key.clone(), t.change)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every pool host checks in at `at`, then the alerts are checked at `at`.
async fn checked_in_cycle(
    db: &MySqlPool,
    alerts: &mut OperatorAlerts,
    s: &Settings,
    at: UnixMillis,
) -> Vec<Transition> {
    sqlx::query("UPDATE pools SET last_checkin = FROM_UNIXTIME(? / 1000)")
        .bind(at.0)
        .execute(db)
        .await
        .unwrap();
    alerts.check(db, &healthy(), s, at).await.unwrap()
}

async fn add_pool(db: &MySqlPool, id: u32, block_id: u64, checkin: UnixMillis) {
    sqlx::query(
        "INSERT INTO pools (id, ip, last_checkin, active, blockID, hostname) \
         VALUES (?, '10.0.0.1', FROM_UNIXTIME(? / 1000), 1, ?, ?)",
    )
    .bind(id)
    .bind(checkin.0)
    .bind(block_id)
    .bind(format!("pool{id}"))
    .execute(db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_pool_host_behind_the_chain_mails_on_reminds_and_clears_once_each() {
    let db = fresh_db("opalerts_pool_behind").await;
    let s = settings("ops@example.org");
    let t0 = now();
    add_pool(&db, 3, 90, t0).await;
    add_pool(&db, 4, 99, t0).await;
    let mut alerts = OperatorAlerts::default();

    let ts = alerts.check(&db, &healthy(), &s, t0).await.unwrap();
    assert_eq!(changes(&ts), vec![("pool_behind:3".to_owned(), Change::On)]);
    let first = mails(&db, "pool_behind:3").await;
    assert_eq!(
        first,
        vec![(
            "[OpsTest] ALERT: pool host 3 behind the chain".to_owned(),
            t0.0
        )]
    );

    // Cycles every 10 s: nothing new until the reminder interval (30 min) has passed.
    for later in [10_000, 20_000, 30 * MINUTE - 1] {
        let ts = checked_in_cycle(&db, &mut alerts, &s, UnixMillis(t0.0 + later)).await;
        assert!(ts.is_empty(), "{later}: {ts:?}");
    }
    assert_eq!(mails(&db, "pool_behind:3").await.len(), 1);
    let t1 = UnixMillis(t0.0 + 30 * MINUTE);
    let ts = checked_in_cycle(&db, &mut alerts, &s, t1).await;
    assert_eq!(
        changes(&ts),
        vec![("pool_behind:3".to_owned(), Change::Reminder)]
    );

    sqlx::query("UPDATE pools SET blockID = 101 WHERE id = 3")
        .execute(&db)
        .await
        .unwrap();
    let t2 = UnixMillis(t1.0 + 10_000);
    let ts = checked_in_cycle(&db, &mut alerts, &s, t2).await;
    assert_eq!(
        changes(&ts),
        vec![("pool_behind:3".to_owned(), Change::Off)]
    );
    assert!(
        checked_in_cycle(&db, &mut alerts, &s, UnixMillis(t2.0 + 10_000))
            .await
            .is_empty()
    );
    let all = mails(&db, "pool_behind:3").await;
    let subjects: Vec<&str> = all.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "[OpsTest] ALERT: pool host 3 behind the chain",
            "[OpsTest] still on: pool host 3 behind the chain",
            "[OpsTest] back to normal: pool host 3 behind the chain",
        ]
    );
    assert_eq!(
        all.iter().map(|(_, at)| *at).collect::<Vec<_>>(),
        vec![t0.0, t1.0, t2.0]
    );
    // The mail goes to the admin address and nothing else was mailed.
    let others: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE recipient <> 'ops@example.org'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(others, 0);
}

#[tokio::test]
async fn a_pool_host_that_stops_checking_in_is_silent() {
    let db = fresh_db("opalerts_pool_silent").await;
    let s = settings("ops@example.org");
    let t0 = now();
    add_pool(&db, 7, 100, UnixMillis(t0.0 - 6 * MINUTE)).await;
    add_pool(&db, 8, 100, UnixMillis(t0.0 - MINUTE)).await;
    let mut alerts = OperatorAlerts::default();
    let ts = alerts.check(&db, &healthy(), &s, t0).await.unwrap();
    assert_eq!(changes(&ts), vec![("pool_silent:7".to_owned(), Change::On)]);
    assert_eq!(mails(&db, "pool_silent:7").await.len(), 1);
    assert!(ts[0].detail.contains("last checked in 360 s ago"));
}

#[tokio::test]
async fn a_stale_heartbeat_means_a_stalled_role_and_a_fresh_one_clears_it() {
    let db = fresh_db("opalerts_stalled").await;
    let s = settings("ops@example.org");
    let t0 = now();
    heartbeats::beat(
        &db,
        BeatingRole::BlockManager,
        "bm-host",
        UnixMillis(t0.0 - 11 * MINUTE),
        "passes done",
    )
    .await
    .unwrap();
    // Payments beats per cycle: stalled only after two payout timers (2 × 120 min).
    heartbeats::beat(
        &db,
        BeatingRole::Payments,
        "pay-host",
        UnixMillis(t0.0 - 200 * MINUTE),
        "cycle done: 0 batches sent",
    )
    .await
    .unwrap();
    let mut alerts = OperatorAlerts::default();
    let ts = alerts.check(&db, &healthy(), &s, t0).await.unwrap();
    assert_eq!(
        changes(&ts),
        vec![("stalled:block-manager".to_owned(), Change::On)]
    );
    assert!(ts[0].detail.contains("bm-host"));
    assert_eq!(mails(&db, "stalled:block-manager").await.len(), 1);

    let t1 = UnixMillis(t0.0 + 41 * MINUTE);
    heartbeats::beat(&db, BeatingRole::BlockManager, "bm-host", t1, "passes done")
        .await
        .unwrap();
    let ts = alerts.check(&db, &healthy(), &s, t1).await.unwrap();
    assert_eq!(
        changes(&ts),
        vec![
            ("stalled:block-manager".to_owned(), Change::Off),
            ("stalled:payments".to_owned(), Change::On),
        ]
    );
    assert_eq!(mails(&db, "stalled:block-manager").await.len(), 2);
    assert_eq!(mails(&db, "stalled:payments").await.len(), 1);
}

#[tokio::test]
async fn a_cleaner_silent_for_three_intervals_is_stalled() {
    let db = fresh_db("opalerts_cleaner").await;
    let mut s = settings("ops@example.org");
    s.cleaner.interval_secs = 1_200; // 20 min: stalled after 3 × 20 = 60 min
    let t0 = now();
    heartbeats::beat(
        &db,
        BeatingRole::Cleaner,
        "lmdb-host",
        UnixMillis(t0.0 - 59 * MINUTE),
        "pruned 10 shares (2 heights), 0 stats keys, 0 blocks",
    )
    .await
    .unwrap();
    let mut alerts = OperatorAlerts::default();
    let ts = alerts.check(&db, &healthy(), &s, t0).await.unwrap();
    assert!(changes(&ts).is_empty(), "59 min is within 3 intervals");

    let t1 = UnixMillis(t0.0 + 2 * MINUTE);
    let ts = alerts.check(&db, &healthy(), &s, t1).await.unwrap();
    assert_eq!(
        changes(&ts),
        vec![("stalled:cleaner".to_owned(), Change::On)]
    );
    assert!(ts[0].detail.contains("lmdb-host"), "{}", ts[0].detail);
    assert!(
        ts[0].detail.contains("pruned 10 shares"),
        "{}",
        ts[0].detail
    );
    assert_eq!(mails(&db, "stalled:cleaner").await.len(), 1);

    // A short interval never makes it stalled sooner than the 30-minute floor.
    s.cleaner.interval_secs = 60;
    heartbeats::beat(
        &db,
        BeatingRole::Cleaner,
        "lmdb-host",
        t1,
        "pruned 0 shares (0 heights), 0 stats keys, 0 blocks",
    )
    .await
    .unwrap();
    let t2 = UnixMillis(t1.0 + 29 * MINUTE);
    let ts = alerts.check(&db, &healthy(), &s, t2).await.unwrap();
    assert_eq!(
        changes(&ts),
        vec![("stalled:cleaner".to_owned(), Change::Off)]
    );
}

#[tokio::test]
async fn a_block_that_could_not_be_credited_alerts_until_it_is_settled() {
    let db = fresh_db("opalerts_block_issue").await;
    let s = settings("ops@example.org");
    let t0 = now();
    let hash: Hash32 = "ab".repeat(32).parse().unwrap();
    block_issues::record(
        &db,
        IssueKind::Block,
        Height(1234),
        &hash,
        "unknown miner id 9",
        t0.0,
        |_| MINUTE,
    )
    .await
    .unwrap();
    let key = format!("block_issue:block:1234:{hash}");
    let mut alerts = OperatorAlerts::default();
    let ts = alerts.check(&db, &healthy(), &s, t0).await.unwrap();
    assert_eq!(changes(&ts), vec![(key.clone(), Change::On)]);
    assert!(ts[0].detail.contains("unknown miner id 9"));
    // A retry that fails again does not mail again.
    block_issues::record(
        &db,
        IssueKind::Block,
        Height(1234),
        &hash,
        "unknown miner id 9",
        t0.0 + MINUTE,
        |_| MINUTE,
    )
    .await
    .unwrap();
    let t1 = UnixMillis(t0.0 + MINUTE);
    assert!(
        alerts
            .check(&db, &healthy(), &s, t1)
            .await
            .unwrap()
            .is_empty()
    );
    block_issues::resolve(&db, IssueKind::Block, Height(1234), &hash, t1.0 + 1)
        .await
        .unwrap();
    let ts = alerts
        .check(&db, &healthy(), &s, UnixMillis(t1.0 + 10_000))
        .await
        .unwrap();
    assert_eq!(changes(&ts), vec![(key.clone(), Change::Off)]);
    assert_eq!(mails(&db, &key).await.len(), 2);
}

#[tokio::test]
async fn payouts_in_manual_review_and_set_aside_balances_alert() {
    let db = fresh_db("opalerts_payouts").await;
    let s = settings("ops@example.org");
    sqlx::query(
        "INSERT INTO payout_batches (status, kind, destinations, gross, net, withdrawal_fee, last_error) \
         VALUES ('manual_review', 'batched', 2, 2000, 1900, 100, 'inputs spent elsewhere')",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO payout_set_aside (balance_id, payment_address, reason) VALUES (5, '4Abc', 'invalid address')",
    )
    .execute(&db)
    .await
    .unwrap();
    let mut alerts = OperatorAlerts::default();
    let ts = alerts.check(&db, &healthy(), &s, now()).await.unwrap();
    assert_eq!(
        changes(&ts),
        vec![
            ("payouts_review".to_owned(), Change::On),
            ("payouts_set_aside".to_owned(), Change::On),
        ]
    );
    assert!(ts[0].detail.contains("inputs spent elsewhere"));
    assert!(ts[1].detail.contains("balance 5: invalid address"));
    assert_eq!(mails(&db, "payouts_review").await.len(), 1);
    assert_eq!(mails(&db, "payouts_set_aside").await.len(), 1);
}

#[tokio::test]
async fn the_pps_reserve_is_short_when_the_wallet_holds_less_than_the_pool_owes() {
    let db = fresh_db("opalerts_pps").await;
    let mut s = settings("ops@example.org");
    s.modes.pps_enable = true;
    s.payout.fee_policy = rxpool::config::FeePolicy::PoolPays;
    sqlx::query(
        "INSERT INTO balance (payment_address, pool_type, amount) VALUES ('4Abc', 'pps', 5000000000)",
    )
    .execute(&db)
    .await
    .unwrap();
    let wallet = |balance: u64| Probes {
        wallet: Some(Ok(Balance {
            balance: Atomic(balance),
            unlocked: Atomic(balance / 2),
            blocks_to_unlock: 10,
        })),
        ..healthy()
    };
    let mut alerts = OperatorAlerts::default();
    let t0 = now();
    // Owed 0.005 XMR plus one payee's default network fee (0.0001 XMR).
    let ts = alerts
        .check(&db, &wallet(5_099_999_999), &s, t0)
        .await
        .unwrap();
    assert_eq!(changes(&ts), vec![("pps_reserve".to_owned(), Change::On)]);
    assert!(ts[0].detail.contains("short by"), "{}", ts[0].detail);
    let ts = alerts
        .check(&db, &wallet(5_100_000_000), &s, UnixMillis(t0.0 + 10_000))
        .await
        .unwrap();
    assert_eq!(changes(&ts), vec![("pps_reserve".to_owned(), Change::Off)]);
    // A wallet that cannot be asked changes nothing.
    let unreadable = Probes {
        wallet: Some(Err("connection refused".to_owned())),
        ..healthy()
    };
    assert!(
        alerts
            .check(&db, &unreadable, &s, UnixMillis(t0.0 + 20_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(mails(&db, "pps_reserve").await.len(), 2);
}

#[tokio::test]
async fn a_failing_outbox_is_an_smtp_alert_that_is_still_recorded() {
    let db = fresh_db("opalerts_smtp").await;
    let s = settings("ops@example.org");
    let t0 = now();
    sqlx::query(
        "INSERT INTO mail_outbox (miner, dedup_key, recipient, kind, event_at, subject, body, \
         message_id, state, attempts, next_attempt_at, last_error, created_at) \
         VALUES ('4Abc', '4Abc', 'miner@example.org', 'workers_stopped', ?, 's', 'b', '<m1@test>', \
         'queued', 3, ?, 'connection refused', ?)",
    )
    .bind(t0.0 - 20 * MINUTE)
    .bind(t0.0 + MINUTE)
    .bind(t0.0 - 20 * MINUTE)
    .execute(&db)
    .await
    .unwrap();
    let mut alerts = OperatorAlerts::default();
    let ts = alerts.check(&db, &healthy(), &s, t0).await.unwrap();
    assert_eq!(changes(&ts), vec![("smtp".to_owned(), Change::On)]);
    assert!(ts[0].detail.contains("connection refused"));
    assert!(!ts[0].detail.contains("miner@example.org"));
    // The operator mail cannot arrive while SMTP fails, but it waits in the outbox.
    assert_eq!(mails(&db, "smtp").await.len(), 1);
    let stored = heartbeats::all_alerts(&db).await.unwrap();
    assert!(stored.iter().any(|a| a.key == "smtp" && a.active));
}

#[tokio::test]
async fn an_unreachable_daemon_and_a_full_lmdb_map_alert() {
    let db = fresh_db("opalerts_daemon").await;
    let s = settings("ops@example.org");
    // A real client against a port nothing listens on.
    let port = rxpool::devnet::free_port().unwrap();
    let daemon = DaemonClient::new(&[format!("http://127.0.0.1:{port}")]).unwrap();
    // A real share store whose map may not grow past 1 MiB, filled with shares past 80 %.
    let (roomy_dir, tight_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let roomy = ShareStore::open(&StoreOptions::new(roomy_dir.path())).unwrap();
    let tight = ShareStore::open(&StoreOptions {
        map_size: 1 << 20,
        max_map_size: 1 << 20,
        ..StoreOptions::new(tight_dir.path())
    })
    .unwrap();
    let writer = tight.writer(WriterConfig::default()).unwrap();
    let mut ts = 0;
    while tight.usage().unwrap().used_bytes * 100 <= 80 << 20 {
        for _ in 0..500 {
            ts += 1;
            let share = NewShare {
                height: Height(100 + ts % 7),
                timestamp: UnixMillis(ts),
                miner: Arc::from("miner"),
                worker: Arc::from(format!("w{}", ts % 100).as_str()),
                difficulty: 1,
                job_difficulty: 1,
                pool_type: PoolType::Pplns,
                trusted: false,
                found_block: false,
                host: 1,
            };
            writer.append(share).await.unwrap();
        }
        writer.flush().await.unwrap();
    }
    writer.close().await.unwrap();
    let percent = (tight.usage().unwrap().used_bytes * 100) >> 20;
    let probes = Probes::gather(&daemon, None::<&WalletClient>, Some(&tight)).await;
    assert!(probes.daemon.is_err());
    let mut alerts = OperatorAlerts::default();
    let t0 = now();
    let ts = alerts.check(&db, &probes, &s, t0).await.unwrap();
    assert_eq!(
        changes(&ts),
        vec![
            ("daemon".to_owned(), Change::On),
            ("lmdb_map".to_owned(), Change::On),
        ]
    );
    assert!(
        ts[1].detail.contains(&format!("({percent} %)")),
        "{}",
        ts[1].detail
    );
    let monerod = Monerod::shared().await.expect("monerod starts");
    let daemon = DaemonClient::new(&[monerod.rpc_url()]).unwrap();
    let probes = Probes::gather(&daemon, None::<&WalletClient>, Some(&roomy)).await;
    assert!(probes.daemon.is_ok(), "{:?}", probes.daemon);
    let ts = alerts
        .check(&db, &probes, &s, UnixMillis(t0.0 + 10_000))
        .await
        .unwrap();
    assert_eq!(
        changes(&ts),
        vec![
            ("daemon".to_owned(), Change::Off),
            ("lmdb_map".to_owned(), Change::Off),
        ]
    );
    assert_eq!(mails(&db, "daemon").await.len(), 2);
}

#[tokio::test]
async fn without_an_admin_address_the_state_is_kept_and_nothing_is_mailed() {
    let db = fresh_db("opalerts_no_admin").await;
    let s = settings("");
    let t0 = now();
    add_pool(&db, 3, 50, t0).await;
    let mut alerts = OperatorAlerts::default();
    let ts = alerts.check(&db, &healthy(), &s, t0).await.unwrap();
    assert_eq!(changes(&ts), vec![("pool_behind:3".to_owned(), Change::On)]);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let stored = heartbeats::all_alerts(&db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].active);
    assert_eq!(stored[0].since, t0);
    // Once an address is set, the next notice (the reminder) is mailed.
    let s = settings("ops@example.org");
    let t1 = UnixMillis(t0.0 + 30 * MINUTE);
    let ts = checked_in_cycle(&db, &mut alerts, &s, t1).await;
    assert_eq!(
        changes(&ts),
        vec![("pool_behind:3".to_owned(), Change::Reminder)]
    );
    assert_eq!(mails(&db, "pool_behind:3").await.len(), 1);
}

#[tokio::test]
async fn two_workers_checking_at_once_mail_each_transition_once() {
    let db = fresh_db("opalerts_race").await;
    let s = settings("ops@example.org");
    let t0 = now();
    add_pool(&db, 3, 50, t0).await;
    let (mut a, mut b) = (OperatorAlerts::default(), OperatorAlerts::default());
    let probes = healthy();
    let (ra, rb) = tokio::join!(a.check(&db, &probes, &s, t0), b.check(&db, &probes, &s, t0));
    let applied = ra.unwrap().len() + rb.unwrap().len();
    assert_eq!(applied, 1);
    assert_eq!(mails(&db, "pool_behind:3").await.len(), 1);
}

/// Waits up to 20 s for `role`'s first heartbeat.
async fn first_beat(db: &MySqlPool, role: BeatingRole) -> heartbeats::LastBeat {
    for _ in 0..200 {
        if let Some(beat) = heartbeats::last_beat(db, role).await.unwrap() {
            return beat;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{} never beat", role.as_str());
}

#[tokio::test]
async fn the_block_manager_and_payments_loops_beat_even_when_their_passes_fail() {
    let (url, db) = fresh_database("opalerts_loops").await;
    let lmdb = tempfile::tempdir().unwrap();
    // monerod and wallet-rpc on ports nothing listens on: every pass fails.
    let daemon = format!("http://127.0.0.1:{}", rxpool::devnet::free_port().unwrap());
    let wallet = format!("http://127.0.0.1:{}", rxpool::devnet::free_port().unwrap());
    let mut s = settings("ops@example.org");
    s.payout.fee_address = "fee".to_owned();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let bm = tokio::spawn(rxpool::block_manager::run_with(
        rxpool::block_manager::RoleConfig {
            mysql_url: url.clone(),
            mysql_max_connections: 4,
            lmdb: rxpool::store::lmdb::StoreOptions::new(lmdb.path()),
            daemon_urls: vec![daemon],
            wallet_url: wallet.clone(),
            params: rxpool::block_manager::params_from_settings(&s).unwrap(),
            unlock_interval: std::time::Duration::from_millis(200),
            reload_settings: None,
        },
        shutdown.clone(),
    ));
    let processor = rxpool::payments::processor::Processor::new(
        db.clone(),
        WalletClient::new(&wallet).unwrap(),
        rxpool::payments::processor_config(&s),
    );
    let payments_db = db.clone();
    let payments_stop = shutdown.clone();
    let payments = tokio::spawn(async move {
        rxpool::payments::run_loop(
            &processor,
            &payments_db,
            rxpool::payments::Schedule::default(),
            None,
            payments_stop,
        )
        .await
    });
    let started = now();
    let bm_beat = first_beat(&db, BeatingRole::BlockManager).await;
    let pay_beat = first_beat(&db, BeatingRole::Payments).await;
    shutdown.cancel();
    bm.await.unwrap().unwrap();
    payments.await.unwrap();
    assert!(bm_beat.detail.starts_with("failed: "), "{}", bm_beat.detail);
    assert_eq!(pay_beat.detail, "cycle failed");
    assert!(bm_beat.at >= started && pay_beat.at >= started);
    assert_eq!(bm_beat.host, heartbeats::host_name());

    // Fresh beats: nothing stalled; eleven minutes of block-manager silence: stalled.
    let mut alerts = OperatorAlerts::default();
    let t0 = now();
    assert!(
        alerts
            .check(&db, &healthy(), &s, t0)
            .await
            .unwrap()
            .is_empty()
    );
    let ts = alerts
        .check(&db, &healthy(), &s, UnixMillis(t0.0 + 11 * MINUTE))
        .await
        .unwrap();
    assert_eq!(
        changes(&ts),
        vec![("stalled:block-manager".to_owned(), Change::On)]
    );
}

#[tokio::test]
async fn smtp_failing_is_mailed_once_smtp_is_back_and_so_is_its_end() {
    use rxpool::config::SmtpConfig;
    use rxpool::devnet::Smtp;
    use rxpool::mail::sender::{self, SenderOptions};

    let db = fresh_db("opalerts_smtp_e2e").await;
    let s = settings("ops@example.org");
    let smtp_at = |port: u16| {
        sender::transport(&SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            username: None,
            password: None,
            from: "OpsTest <pool@example.org>".into(),
            security: "none".into(),
        })
        .unwrap()
    };
    let from: lettre::message::Mailbox = "OpsTest <pool@example.org>".parse().unwrap();
    let options = SenderOptions {
        backoff_first: std::time::Duration::from_millis(200),
        backoff_max: std::time::Duration::from_secs(2),
        ..SenderOptions::default()
    };
    let t0 = now();
    add_pool(&db, 3, 50, t0).await;
    let mut alerts = OperatorAlerts::default();
    assert_eq!(checked_in_cycle(&db, &mut alerts, &s, t0).await.len(), 1);

    // SMTP is down: the pool alert's delivery fails and waits.
    let down = smtp_at(rxpool::devnet::free_port().unwrap());
    // (The outbox stamps rows with the real clock, a few ms after t0.)
    let claimed = sender::deliver_due(&db, &down, &from, &s, &options, now())
        .await
        .unwrap();
    assert_eq!(claimed, 1);
    let t1 = UnixMillis(t0.0 + 16 * MINUTE);
    let ts = checked_in_cycle(&db, &mut alerts, &s, t1).await;
    assert_eq!(changes(&ts), vec![("smtp".to_owned(), Change::On)]);

    // SMTP is back: both mails arrive, then the SMTP alert clears and that arrives too.
    let sink = Smtp::start().await.expect("smtp sink starts");
    let up = smtp_at(sink.port());
    sender::deliver_due(&db, &up, &from, &s, &options, t1)
        .await
        .unwrap();
    let t2 = UnixMillis(t1.0 + 10_000);
    let ts = checked_in_cycle(&db, &mut alerts, &s, t2).await;
    assert_eq!(changes(&ts), vec![("smtp".to_owned(), Change::Off)]);
    sender::deliver_due(&db, &up, &from, &s, &options, t2)
        .await
        .unwrap();
    let got = sink
        .wait_for_messages(3, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let got_all = sink.messages().unwrap();
    assert_eq!(got_all.len(), 3, "{got:?}");
    let mut subjects: Vec<&str> = got_all
        .iter()
        .map(|mail| {
            assert_eq!(mail.rcpt_tos, ["ops@example.org"]);
            mail.data
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap()
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "[OpsTest] ALERT: SMTP delivery failing",
            "[OpsTest] ALERT: pool host 3 behind the chain",
            "[OpsTest] back to normal: SMTP delivery failing",
        ]
    );
}
