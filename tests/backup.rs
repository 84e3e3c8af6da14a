//! Backups and restore against the real components: a throwaway MariaDB (`mariadb-dump` out,
//! the `mariadb` client in), LMDB share stores in temp dirs, and for the money test a regtest
//! monerod with a funded pool wallet-rpc and receiving wallets.
//!
//! The money test backs up, keeps going (a block credited, a payout sent), restores into a
//! fresh database and a fresh LMDB directory, and runs the block-manager and payments from
//! the restored state: every credit and every payout exactly once, and the miners' wallets
//! received nothing more. The others: a damaged backup is refused, an incomplete one is
//! never listed as good, retention keeps `keep`, and a restore over a store in use refuses
//! without its flags.

#[path = "payments/common.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod common;
#[path = "block_manager/support.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rxpool::admin::backup::{BackupCommand, execute};
use rxpool::backup::{self, BackupError, Health, RestoreOptions};
use rxpool::config::FileConfig;
use rxpool::devnet::MariaDb;
use rxpool::domain::{Clock, PoolType, SystemClock, UnixMillis};
use rxpool::monero::daemon::DaemonClient;
use rxpool::payments::planner::FeePolicy;
use rxpool::payments::processor::Processor;
use rxpool::store::lmdb::{ShareStore, StoreOptions, WriterConfig};
use rxpool::store::mysql;
use sqlx::{MySqlPool, Row};

/// A clock that moves one second at every reading, so that backups get distinct ids.
#[derive(Debug)]
struct Ticking(AtomicU64);

impl Clock for Ticking {
    fn now(&self) -> UnixMillis {
        UnixMillis(self.0.fetch_add(1_000, Ordering::Relaxed))
    }
}

/// A config for one host on database `url`, share store `lmdb` and backups in `dir`.
fn config(url: &str, lmdb: &Path, dir: &Path, daemon: &str, wallet: &str) -> FileConfig {
    FileConfig::parse(&format!(
        "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"{daemon}\"]\n\
         [wallet]\nurl = \"{wallet}\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"t\"\n\
         [backup]\ndir = \"{}\"\nkeep = 2\n",
        lmdb.display(),
        dir.display()
    ))
    .expect("test config")
}

/// An empty database (no tables) on the shared MariaDB: a restore target.
async fn empty_database(name: &str) -> String {
    MariaDb::shared()
        .await
        .unwrap()
        .create_database(name)
        .await
        .unwrap()
}

/// A migrated database with a few rows, and a share store with shares and a found block.
async fn small_stores(name: &str) -> (tempfile::TempDir, String, MySqlPool, Arc<ShareStore>) {
    let (db, url) = common::database_with_url(name).await;
    common::seed_balance(
        &db,
        "4minerA",
        "",
        rxpool::domain::BalanceType::Pplns,
        common::xmr("1.5"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path().join("lmdb"));
    options.map_size = 16 << 20;
    let store = ShareStore::open(&options).unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    for h in 100..110 {
        writer
            .append(support::share(h, h * 1000, "4minerA", 10, PoolType::Pplns))
            .await
            .unwrap();
    }
    let hash = rxpool::domain::Hash32([7; 32]);
    writer
        .record_block(support::found(
            rxpool::domain::Height(105),
            hash,
            PoolType::Pplns,
            "4minerA",
        ))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    writer.close().await.unwrap();
    (dir, url, db, store)
}

async fn take(dir: &Path, store: &Arc<ShareStore>, url: &str, clock: &dyn Clock) -> backup::Taken {
    backup::take(dir, store, url, None::<&DaemonClient>, clock)
        .await
        .expect("backup")
}

#[tokio::test]
async fn a_backup_restores_into_a_fresh_database_and_lmdb_with_the_same_contents() {
    let (tmp, url, db, store) = small_stores("backup_roundtrip").await;
    let dir = tmp.path().join("backups");
    let started = std::time::Instant::now();
    let taken = take(&dir, &store, &url, &SystemClock).await;
    let m = &taken.manifest;
    assert_eq!(
        (
            m.lmdb.shares,
            m.lmdb.share_heights,
            m.lmdb.newest_block_height
        ),
        (10, Some((100, 109)), Some(105))
    );
    assert!(m.files["mysql.sql"].bytes > 0 && m.files["lmdb/data.mdb"].bytes > 0);
    assert_eq!(m.rxpool_version, env!("CARGO_PKG_VERSION"));
    // The manifest on disk says the same, and the credentials file is gone.
    let on_disk: backup::Manifest =
        serde_json::from_str(&std::fs::read_to_string(taken.path.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(&on_disk, m);
    let text = std::fs::read_to_string(taken.path.join("mysql.sql")).unwrap();
    assert!(text.contains("INSERT INTO `balance`") && text.contains("4minerA"));

    let url2 = empty_database("backup_roundtrip_into").await;
    let lmdb2 = tmp.path().join("restored");
    let restored = backup::restore(
        &dir,
        &m.id,
        &url2,
        &lmdb2,
        RestoreOptions::default(),
        &SystemClock,
    )
    .await
    .expect("restore");
    assert_eq!((restored.dropped_tables, restored.lmdb_moved_to), (0, None));
    let db2 = mysql::connect(&url2).await.unwrap();
    let sum = |db: MySqlPool| async move {
        sqlx::query("SELECT CAST(SUM(amount) AS UNSIGNED) AS s, COUNT(*) AS n FROM balance")
            .fetch_one(&db)
            .await
            .map(|r| (r.get::<u64, _>("s"), r.get::<i64, _>("n")))
            .unwrap()
    };
    assert_eq!(sum(db.clone()).await, sum(db2.clone()).await);
    let open = mysql::restores::open(&db2).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].backup_id, m.id);
    let copy = ShareStore::open(&StoreOptions::new(&lmdb2)).unwrap();
    let snap = copy.read().unwrap();
    assert_eq!(snap.share_count().unwrap(), 10);
    assert_eq!(snap.recent_blocks(5).unwrap().len(), 1);
    eprintln!(
        "small backup: {} bytes in {:?}; test {:?}",
        m.bytes(),
        taken.elapsed,
        started.elapsed()
    );
}

#[tokio::test]
async fn a_damaged_backup_is_refused_by_restore_and_listed_as_damaged() {
    let (tmp, url, _db, store) = small_stores("backup_damaged").await;
    let dir = tmp.path().join("backups");
    let taken = take(&dir, &store, &url, &SystemClock).await;
    let dump = taken.path.join("mysql.sql");
    let mut bytes = std::fs::read(&dump).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&dump, bytes).unwrap();
    let url2 = empty_database("backup_damaged_into").await;
    let err = backup::restore(
        &dir,
        &taken.manifest.id,
        &url2,
        &tmp.path().join("restored"),
        RestoreOptions {
            yes: true,
            force: true,
        },
        &SystemClock,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "backup {} is damaged: mysql.sql does not match its sha256 in the manifest; it cannot be restored",
            taken.manifest.id
        )
    );
    // Nothing was touched.
    assert!(!tmp.path().join("restored").exists());
    let db2 = mysql::connect(&url2).await.unwrap();
    let tables: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .fetch_one(&db2)
    .await
    .unwrap()
    .get("n");
    assert_eq!(tables, 0);
    // A truncated LMDB copy is named by its size.
    let lmdb = taken.path.join("lmdb/data.mdb");
    let len = std::fs::metadata(&lmdb).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&lmdb)
        .unwrap()
        .set_len(len - 4096)
        .unwrap();
    let listed = backup::list(&dir).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        matches!(&listed[0].health, Health::Damaged(why) if why.contains("lmdb/data.mdb") && why.contains("bytes")),
        "{:?}",
        listed[0].health
    );
    // Hostile ids never reach the file system.
    let refused = |id: &'static str| {
        let (dir, url2, into) = (dir.clone(), url2.clone(), tmp.path().join("restored"));
        async move {
            let options = RestoreOptions::default();
            backup::restore(&dir, id, &url2, &into, options, &SystemClock)
                .await
                .unwrap_err()
        }
    };
    for id in ["../etc", "20261202T083005Z/../x", ""] {
        let err = refused(id).await;
        assert!(matches!(err, BackupError::BadId(_)), "{id}: {err}");
    }
    let err = refused("20000101T000000Z").await;
    assert!(
        err.to_string().starts_with("no backup 20000101T000000Z in"),
        "{err}"
    );
}

#[tokio::test]
async fn list_never_calls_an_incomplete_backup_good_and_retention_keeps_keep() {
    let (tmp, url, _db, store) = small_stores("backup_retention").await;
    let dir = tmp.path().join("backups");
    // 2026-12-02 08:30:05 UTC, one second later at every reading.
    let clock = Ticking(AtomicU64::new(1_796_200_205_000));
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(take(&dir, &store, &url, &clock).await.manifest.id);
    }
    // Leftovers: an interrupted backup (still under its temp name, older than all) and a
    // directory with a backup's name but no manifest.
    std::fs::create_dir_all(dir.join(".partial-20261202T000000Z/lmdb")).unwrap();
    std::fs::create_dir_all(dir.join("20261201T000000Z/lmdb")).unwrap();
    let listed = backup::list(&dir).unwrap();
    let states: Vec<(&str, bool)> = listed
        .iter()
        .map(|l| (l.id.as_str(), l.health == Health::Good))
        .collect();
    assert_eq!(
        states,
        vec![
            ("20261201T000000Z", false),
            (ids[0].as_str(), true),
            (ids[1].as_str(), true),
            (ids[2].as_str(), true)
        ]
    );
    assert!(matches!(&listed[0].health, Health::Incomplete(why) if why.contains("manifest.json")));
    let text = execute(
        &config(
            &url,
            &tmp.path().join("lmdb"),
            &dir,
            "http://127.0.0.1:1",
            "http://127.0.0.1:1",
        ),
        BackupCommand::List,
    )
    .await
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("20261201T000000Z") && lines[0].contains("INCOMPLETE"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("{:<20} 2026-12-02 08:30:", ids[0])),
        "{text}"
    );
    assert!(lines[1..].iter().all(|l| l.ends_with(" ok")), "{text}");

    let deleted = backup::prune(&dir, 2).unwrap();
    assert_eq!(
        deleted,
        vec![
            ".partial-20261202T000000Z".to_owned(),
            "20261201T000000Z".to_owned(),
            ids[0].clone()
        ]
    );
    let left: Vec<String> = backup::list(&dir)
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(left, ids[1..].to_vec());
    // Fewer good backups than `keep`: nothing goes.
    assert!(backup::prune(&dir, 5).unwrap().is_empty());
}

#[tokio::test]
async fn a_restore_over_a_store_in_use_needs_its_flags_and_moves_the_old_lmdb_aside() {
    let (tmp, url, db, store) = small_stores("backup_in_use").await;
    let dir = tmp.path().join("backups");
    let id = take(&dir, &store, &url, &SystemClock).await.manifest.id;
    let lmdb = tmp.path().join("lmdb");
    let cfg = config(
        &url,
        &lmdb,
        &dir,
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
    );
    // Changed after the backup: the restore brings the old value back.
    sqlx::query("UPDATE balance SET amount = 1")
        .execute(&db)
        .await
        .unwrap();
    mysql::heartbeats::beat(
        &db,
        mysql::heartbeats::BeatingRole::Payments,
        "host1",
        SystemClock.now(),
        "cycle done",
    )
    .await
    .unwrap();
    let restore = |yes, force| BackupCommand::Restore {
        id: id.clone(),
        yes,
        force,
    };
    sqlx::query("INSERT INTO pools (id, ip, last_checkin, active, hostname) VALUES (7, '10.0.0.7', NOW(), 1, 'stratum7')")
        .execute(&db)
        .await
        .unwrap();
    let err = execute(&cfg, restore(false, false)).await.unwrap_err();
    assert!(err.to_string().contains("pool 7 on stratum7"), "{err}");
    assert!(
        err.to_string()
            .starts_with("roles are running against backup_in_use_")
            && err.to_string().contains("payments on host1"),
        "{err}"
    );
    let err = execute(&cfg, restore(false, true)).await.unwrap_err();
    assert!(
        err.to_string().contains("is not empty") && err.to_string().contains("--yes drops them"),
        "{err}"
    );
    drop(store);
    let text = execute(&cfg, restore(true, true)).await.unwrap();
    assert!(text.contains(&format!("restored backup {id}")), "{text}");
    assert!(text.contains("previous tables were dropped"), "{text}");
    let aside = backup::lmdb_aside(&lmdb, &id);
    assert!(text.contains(&aside.display().to_string()), "{text}");
    assert!(aside.join("data.mdb").exists() && lmdb.join("data.mdb").exists());
    let db = mysql::connect(&url).await.unwrap();
    let amount: u64 = sqlx::query("SELECT CAST(amount AS UNSIGNED) AS a FROM balance")
        .fetch_one(&db)
        .await
        .unwrap()
        .get("a");
    assert_eq!(amount, common::xmr("1.5").0);
    // The restored database has no fresh heartbeat; a second restore of the same backup is
    // the operator's choice again.
    let unknown = execute(&cfg, BackupCommand::Unknown).await.unwrap();
    assert!(
        unknown.contains(&format!("of backup {id}")) && unknown.contains("OPEN"),
        "{unknown}"
    );
}

/// `rxpool admin backup resolve TX --debit`.
async fn debit(
    cfg: &FileConfig,
    tx: rxpool::domain::Hash32,
) -> Result<String, rxpool::admin::backup::AdminBackupError> {
    let cmd = BackupCommand::Resolve {
        tx,
        debit: true,
        ignore: false,
    };
    execute(cfg, cmd).await
}

/// Every balance row, by (address, payment id, type).
async fn balances(db: &MySqlPool) -> BTreeMap<(String, String, String), u64> {
    sqlx::query(
        "SELECT payment_address, payment_id, pool_type, CAST(amount AS UNSIGNED) AS amount FROM balance",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            (
                r.get("payment_address"),
                r.get("payment_id"),
                r.get("pool_type"),
            ),
            r.get("amount"),
        )
    })
    .collect()
}

/// Payments by address (sum of amounts, rows), credited blocks, credit lines.
async fn books(db: &MySqlPool) -> (BTreeMap<String, (u64, i64)>, i64, i64) {
    let paid = sqlx::query(
        "SELECT payment_address, CAST(SUM(amount) AS UNSIGNED) AS s, COUNT(*) AS n FROM payments GROUP BY payment_address",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("payment_address"), (r.get("s"), r.get("n"))))
    .collect();
    (
        paid,
        support::count(db, "paid_blocks").await,
        support::count(db, "block_credits").await,
    )
}

#[tokio::test]
async fn a_restored_pool_credits_and_pays_everything_exactly_once() {
    let started = std::time::Instant::now();
    let chain = common::Chain::start().await;
    let payees = chain.receivers(&["a", "b"]).await;
    let (a, b) = (payees[0].standard.clone(), payees[1].standard.clone());
    let (db, url) = common::database_with_url("backup_money").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(tmp.path().join("lmdb"));
    options.map_size = 64 << 20;
    let store = ShareStore::open(&options).unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    let daemon = DaemonClient::new(&[chain.daemon_url()]).unwrap();
    let params = Arc::new(support::params(1_000, 2, 30));
    let processor = chain.processor(&db, FeePolicy::PoolPaysNetworkFee);

    // A found block with its window (a 600, b 400); credited, then paid and confirmed.
    let found_block = |height: rxpool::domain::Height, hash| {
        let writer = writer.clone();
        let (a, b) = (a.clone(), b.clone());
        async move {
            writer
                .append(support::share(height.0, 1, &a, 600, PoolType::Pplns))
                .await
                .unwrap();
            writer
                .append(support::share(height.0, 2, &b, 400, PoolType::Pplns))
                .await
                .unwrap();
            writer
                .record_block(support::found(height, hash, PoolType::Pplns, &a))
                .await
                .unwrap();
            writer.flush().await.unwrap();
        }
    };
    let (h1, x1) = support::mine(&daemon, &chain.pool_address).await;
    found_block(h1, x1).await;
    chain.mine(3).await;
    let unlocker = support::unlocker(chain.daemon_url(), &store, &writer, &db, &params);
    assert_eq!(unlocker.pass().await.unwrap().credited, 1);
    let first = processor.run_cycle().await.expect("cycle");
    assert_eq!((first.batches_sent, first.payees_paid), (1, 2), "{first:?}");
    chain.mine(10).await;
    processor.run_cycle().await.expect("cycle");

    // A second block is found, still pending, when the backup is taken.
    let (h2, x2) = support::mine(&daemon, &chain.pool_address).await;
    found_block(h2, x2).await;
    let backup_dir = tmp.path().join("backups");
    let taken = backup::take(&backup_dir, &store, &url, Some(&daemon), &SystemClock)
        .await
        .expect("backup");
    assert_eq!(taken.manifest.chain_height, Some(h2.0));

    // The pool goes on: the block is credited and paid.
    chain.mine(3).await;
    assert_eq!(unlocker.pass().await.unwrap().credited, 1);
    let second = processor.run_cycle().await.expect("cycle");
    assert_eq!(
        (second.batches_sent, second.payees_paid),
        (1, 2),
        "{second:?}"
    );
    let lost_tx = mysql::payouts::list(&db, &[rxpool::payments::batch::BatchStatus::Relayed], 1)
        .await
        .unwrap()[0]
        .tx_hash
        .unwrap();
    chain.mine(10).await;
    processor.run_cycle().await.expect("cycle");
    let truth = (balances(&db).await, books(&db).await);
    let received = |r: usize| {
        let chain = &chain;
        let payee = payees[r].clone();
        async move {
            chain
                .received(&payee)
                .await
                .iter()
                .map(|t| t.amount)
                .sum::<u64>()
        }
    };
    let wallets = (received(0).await, received(1).await);
    assert!(wallets.0 > 0 && wallets.1 > 0);
    drop(unlocker);
    writer.close().await.unwrap();

    // Disaster: both stores are lost. Restore into a fresh database and LMDB directory.
    let url2 = empty_database("backup_money_restored").await;
    let lmdb2 = tmp.path().join("lmdb2");
    let cfg = config(
        &url2,
        &lmdb2,
        &backup_dir,
        &chain.daemon_url(),
        &chain.pool_wallet_url(),
    );
    let text = execute(
        &cfg,
        BackupCommand::Restore {
            id: taken.manifest.id.clone(),
            yes: false,
            force: false,
        },
    )
    .await
    .expect("restore");
    assert!(text.contains("payments will sign nothing"), "{text}");
    let db2 = mysql::connect(&url2).await.unwrap();
    let store2 = ShareStore::open(&StoreOptions::new(&lmdb2)).unwrap();
    let writer2 = store2.writer(WriterConfig::default()).unwrap();

    // The block-manager credits the block the backup had pending, once; the first one is
    // already unlocked in the copy.
    let unlocker2 = support::unlocker(chain.daemon_url(), &store2, &writer2, &db2, &params);
    let pass = unlocker2.pass().await.unwrap();
    assert_eq!((pass.pending, pass.credited), (1, 1), "{pass:?}");
    assert_eq!(unlocker2.pass().await.unwrap().pending, 0);

    // Payments finds the payout the backup does not know and signs nothing.
    let processor2 = Processor::new(
        db2.clone(),
        chain.pool_wallet.clone(),
        common::processor_config(FeePolicy::PoolPaysNetworkFee),
    );
    let held = processor2.run_cycle().await.expect("cycle");
    assert!(held.restore_hold && held.batches_sent == 0, "{held:?}");
    let held_again = processor2.run_cycle().await.expect("cycle");
    assert!(
        held_again.restore_hold && held_again.batches_sent == 0,
        "{held_again:?}"
    );
    let unknown = execute(&cfg, BackupCommand::Unknown).await.unwrap();
    assert!(
        unknown.contains(&format!("tx {lost_tx}")) && unknown.contains("OPEN"),
        "{unknown}"
    );
    assert_eq!(
        unknown.matches("\ntx ").count() + usize::from(unknown.starts_with("tx ")),
        1,
        "{unknown}"
    );
    // The worker mails the operator about it (its `restore_hold` alert).
    let alert = |db: MySqlPool| async move {
        let open = mysql::restores::unknown(&db, true).await.unwrap();
        rxpool::worker::operator::checks::restore_hold(&open).observations[0].clone()
    };
    let on = alert(db2.clone()).await;
    assert!(
        on.on && on.key == "restore_hold" && on.detail.contains(&lost_tx.to_string()),
        "{on:?}"
    );
    // Hostile or wrong resolutions change nothing.
    let not_noted = rxpool::domain::Hash32([9; 32]);
    let err = debit(&cfg, not_noted).await.unwrap_err();
    assert!(err.to_string().contains("no unknown transfer"), "{err}");

    let text = debit(&cfg, lost_tx).await.expect("resolve");
    assert!(text.contains("recorded as payout batch"), "{text}");
    let err = debit(&cfg, lost_tx).await.unwrap_err();
    assert!(
        err.to_string().contains("already resolved (debited)"),
        "{err}"
    );

    let resumed = processor2.run_cycle().await.expect("cycle");
    assert!(
        !resumed.restore_hold && resumed.batches_sent == 0,
        "{resumed:?}"
    );
    assert!(mysql::restores::open(&db2).await.unwrap().is_empty());
    assert!(!alert(db2.clone()).await.on);
    chain.mine(10).await;
    let last = processor2.run_cycle().await.expect("cycle");
    assert_eq!(last.batches_sent, 0, "{last:?}");

    assert_eq!((balances(&db2).await, books(&db2).await), truth);
    assert_eq!((received(0).await, received(1).await), wallets);
    writer2.close().await.unwrap();
    eprintln!("restore money test: {:?}", started.elapsed());
}

#[tokio::test]
async fn the_cleaner_schedule_takes_backups_and_keeps_keep() {
    let (tmp, url, _db, store) = small_stores("backup_schedule").await;
    let dir = tmp.path().join("backups");
    let mut cfg = config(
        &url,
        &tmp.path().join("lmdb"),
        &dir,
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
    );
    cfg.backup.interval = Some("1s".into());
    let stop = tokio_util::sync::CancellationToken::new();
    let daemon = DaemonClient::with_timeout(
        &["http://127.0.0.1:1".to_owned()],
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    let schedule = tokio::spawn(backup::run_schedule(
        cfg,
        Arc::clone(&store),
        daemon,
        Arc::new(SystemClock),
        stop.clone(),
    ));
    // The first at once, then one a second; keep = 2.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "backups seen: {seen:?}"
        );
        let good: Vec<String> = backup::list(&dir)
            .unwrap()
            .into_iter()
            .filter(|b| b.health == Health::Good)
            .map(|b| b.id)
            .collect();
        // Between a backup and its pruning there may be keep + 1.
        assert!(good.len() <= 3, "more than keep: {good:?}");
        seen.extend(good);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    stop.cancel();
    schedule.await.unwrap();
    let good = backup::list(&dir)
        .unwrap()
        .into_iter()
        .filter(|b| b.health == Health::Good)
        .count();
    assert!((2..=3).contains(&good), "{good}");
}

#[test]
fn the_binary_lists_backups_and_names_a_bad_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let config_path = tmp.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "[mysql]\nurl = \"mysql://u:p@127.0.0.1:1/db\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"http://127.0.0.1:1\"]\n\
             [wallet]\nurl = \"http://127.0.0.1:1\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\n[backup]\ndir = \"{}\"\n",
            tmp.path().join("lmdb").display(),
            dir.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rxpool"))
            .arg("--config")
            .arg(&config_path)
            .args(["admin", "backup"])
            .args(args)
            .output()
            .unwrap()
    };
    let listed = run(&["list"]);
    assert!(listed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        format!("no backups in {}\n", dir.display())
    );
    let bad = run(&["restore", "../../etc"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("\"../../etc\" is not a backup id (like 20261202T083000Z)"),
        "{stderr}"
    );
    let missing = run(&["resolve", &"ab".repeat(32)]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("--debit"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// Figures for the README: a backup of what a pruned store holds in production (the cleaner
/// keeps about a day: `SHARES` shares, 864,000 by default, 10 shares/s from 300 miners) and
/// a database with 1,000 balances. `cargo test --test backup -- --ignored --nocapture figures`
#[tokio::test]
#[ignore = "a benchmark: run by hand"]
async fn figures_backup_of_a_day_of_shares() {
    let shares: u64 = std::env::var("SHARES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(864_000);
    let (db, url) = common::database_with_url("backup_figures").await;
    for i in 0..1_000 {
        let address = format!("4bench{i:04}");
        let balance = rxpool::domain::BalanceType::Pplns;
        common::seed_balance(&db, &address, "", balance, common::xmr("0.01")).await;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = ShareStore::open(&StoreOptions::new(tmp.path().join("lmdb"))).unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    let miners: Vec<String> = (0..300).map(|i| format!("4bench{i:04}")).collect();
    let started = std::time::Instant::now();
    for i in 0..shares {
        let mut s = support::share(
            1 + i / 1200,
            i * 100,
            &miners[(i % 300) as usize],
            100_000,
            PoolType::Pplns,
        );
        s.trusted = true;
        writer.append(s).await.unwrap();
    }
    writer.flush().await.unwrap();
    eprintln!(
        "{shares} shares written in {:?}; file {} MiB",
        started.elapsed(),
        store.usage().unwrap().used_bytes >> 20
    );
    let dir = tmp.path().join("backups");
    for _ in 0..2 {
        let taken = take(&dir, &store, &url, &SystemClock).await;
        let m = &taken.manifest;
        eprintln!(
            "backup {} in {:?}: lmdb {} bytes, mysql {} bytes",
            m.id, taken.elapsed, m.files["lmdb/data.mdb"].bytes, m.files["mysql.sql"].bytes
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let listed = std::time::Instant::now();
    let n = backup::list(&dir).unwrap().len();
    eprintln!("list (verifies {n} backups) in {:?}", listed.elapsed());
    writer.close().await.unwrap();
}
