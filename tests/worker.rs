//! The worker role end to end, against a real pool, MariaDB, regtest monerod, wallet-rpc and
//! the devnet SMTP sink: a miner who gives an e-mail at login confirms it through the api's
//! link, is told once when its worker stops and once when it resumes, cannot have its alerts
//! redirected by another login, hears nothing after unsubscribing; a payout is told once with
//! the amount and the tx hash the wallet shows; stats rollups land in LMDB for the api.

#[path = "support/api.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod api_support;
#[path = "payments/common.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod common;
#[path = "support/mailbox.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod mailbox;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rxpool::config::{FileConfig, Settings};
use rxpool::devnet::{MariaDb, Monerod, MonerodOptions, Smtp};
use rxpool::domain::{Clock, SystemClock, UnixMillis};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::wallet::WalletClient;
use rxpool::pool::state::EmailRegistration;
use rxpool::stats::{self, PoolScope};
use rxpool::store::lmdb::WriterConfig;
use rxpool::store::mysql;
use rxpool::worker::cycle::Worker;
use serde_json::json;
use sqlx::MySqlPool;
use tokio_util::sync::CancellationToken;

use mailbox::{body, link};
use stratum::{ADDR, error_of, mine_share, start_pool_with, test_settings};

const ME: &str = "me@example.org";
const EVIL: &str = "evil@example.org";

/// Real time plus an offset the test moves forward: the pool stamps shares and the worker
/// judges silence on the same clock, so "ten minutes later" takes no ten minutes.
#[derive(Debug, Default)]
struct ShiftedClock(AtomicU64);

impl ShiftedClock {
    fn skip(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> UnixMillis {
        UnixMillis(SystemClock.now().0 + self.0.load(Ordering::SeqCst))
    }
}

/// Role logs in the test output (shown for a failing test).
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("rxpool=info")
        .try_init();
}

async fn database(name: &str) -> (String, MySqlPool) {
    let maria = MariaDb::shared().await.unwrap();
    let url = maria.create_database(name).await.unwrap();
    let db = mysql::connect(&url).await.unwrap();
    mysql::migrate(&db).await.unwrap();
    (url, db)
}

/// The api's link routes on a free port, with `general.publicUrl` set to it so every mail's
/// links lead there; returns the api's base URL and the settings as now stored.
async fn serve_api(
    url: &str,
    db: &MySqlPool,
    stop: &CancellationToken,
) -> (String, Settings, tempfile::TempDir) {
    let (listener, api) = api_support::listener().await;
    mysql::set_setting(db, "general.publicUrl", &api)
        .await
        .unwrap();
    let settings = mysql::load_settings(db, &Default::default()).await.unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    api_support::serve_on(
        listener,
        api_support::ApiSetup::offline(url, lmdb.path()),
        db,
        settings.clone(),
        stop,
    );
    (api, settings, lmdb)
}

async fn get(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

/// Waits until the sink holds `n` messages (30 s at most) and returns them all.
async fn mails(smtp: &Smtp, n: usize) -> Vec<rxpool::devnet::ReceivedMail> {
    for _ in 0..300 {
        let got = smtp.messages().unwrap();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = smtp.messages().unwrap();
    panic!("expected {n} mails, got {}: {got:#?}", got.len());
}

/// Runs worker cycles while the sink settles, then checks it holds exactly `n` mails.
async fn settle(worker: &mut Worker, smtp: &Smtp, n: usize) -> Vec<rxpool::devnet::ReceivedMail> {
    for _ in 0..3 {
        worker.cycle().await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let got = smtp.messages().unwrap();
    assert_eq!(got.len(), n, "{got:#?}");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_miner_hears_once_of_a_stop_and_once_of_a_resume_and_nothing_once_unsubscribed()
{
    logs();
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let smtp = Smtp::start().await.unwrap();
    let (url, db) = database("worker_alerts_e2e").await;
    mysql::set_setting(&db, "pool.address", ADDR).await.unwrap();
    mysql::set_setting(&db, "email.workerNotHashingDelay", "1")
        .await
        .unwrap();
    mysql::set_setting(&db, "general.poolName", "TestPool")
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let (_, settings, _api_lmdb) = serve_api(&url, &db, &stop).await;

    // The pool's login e-mails go to the double opt-in, as `pool::run` wires them.
    let clock = Arc::new(ShiftedClock::default());
    let (emails, mut registrations) = tokio::sync::mpsc::channel::<EmailRegistration>(16);
    {
        let (db, settings) = (db.clone(), settings.clone());
        tokio::spawn(async move {
            while let Some(reg) = registrations.recv().await {
                rxpool::mail::request(&db, &settings, &reg.payout, &reg.email, SystemClock.now())
                    .await
                    .unwrap();
            }
        });
    }
    let pool_clock = clock.clone();
    let pool = start_pool_with(&[monerod.rpc_url()], test_settings(), 1, None, move |s| {
        s.clock = pool_clock;
        s.emails = Some(emails);
    })
    .await;

    let config = FileConfig::parse(&format!(
        r#"
[mysql]
url = "{url}"
[lmdb]
path = "{}"
[daemon]
urls = ["{}"]
[wallet]
url = "http://127.0.0.1:1"
[pool]
bind = "127.0.0.1"
pool_id = 1
hostname = "test-pool"
[smtp]
host = "127.0.0.1"
port = {}
from = "TestPool <pool@example.org>"
security = "none"
"#,
        pool.store.path().display(),
        monerod.rpc_url(),
        smtp.port(),
    ))
    .unwrap();
    let writer = pool.store.writer(WriterConfig::default()).unwrap();
    let (mut worker, settings_rx) = Worker::new(
        db.clone(),
        pool.store.clone(),
        writer,
        DaemonClient::new(&[monerod.rpc_url()]).unwrap(),
        WalletClient::new("http://127.0.0.1:1").unwrap(),
        clock.clone(),
        settings.clone(),
        config.overrides.clone(),
    );
    worker.load().await.unwrap();
    let sender = {
        let (db, smtp_config, stop) = (db.clone(), config.smtp.clone().unwrap(), stop.clone());
        tokio::spawn(async move {
            rxpool::mail::sender::run_with(db, smtp_config, settings_rx, mailbox::fast(), stop)
                .await
        })
    };

    // Login with `worker:email`: a confirmation mail only, whose link confirms.
    let mut miner = stratum::connect(&pool).await;
    let login = miner
        .call(
            "login",
            json!({"login": ADDR, "pass": format!("rig1:{ME}"), "agent": "XMRig/6.26.0", "algo": ["rx/0"]}),
        )
        .await;
    assert_eq!(error_of(&login), None, "{login}");
    let job = login["result"]["job"].clone();
    let got = mails(&smtp, 1).await;
    assert_eq!(got[0].rcpt_tos, vec![ME.to_string()]);
    let confirm = link(&body(&got[0]), "/user/confirmEmail/");
    assert_eq!(get(&confirm).await, 200);

    // Another login naming the same address with another e-mail cannot take the alerts: the
    // new address is sent nothing (the current one may be asked to approve, at most once an
    // hour), and the alerts below all go to the confirmed address.
    let mut thief = stratum::connect(&pool).await;
    let r = thief
        .call(
            "login",
            json!({"login": ADDR, "pass": format!("rig9:{EVIL}"), "agent": "XMRig/6.26.0", "algo": ["rx/0"]}),
        )
        .await;
    assert_eq!(error_of(&r), None, "{r}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let to_thief: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE recipient = ?")
        .bind(EVIL)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(to_thief, 0);
    let told = smtp.messages().unwrap().len();
    drop(thief);

    // The miner hashes: tracked silently, and the rollup sees it.
    let (nonce, result) = mine_share(&pool.verifier, &job).await;
    let r = miner
        .call(
            "submit",
            json!({"id": job["id"], "job_id": job["job_id"], "nonce": nonce, "result": result, "algo": "rx/0"}),
        )
        .await;
    assert_eq!(error_of(&r), None, "{r}");
    pool.shared.sink.flush().await.unwrap();
    settle(&mut worker, &smtp, told).await;
    {
        let snap = pool.store.read().unwrap();
        let global = stats::read_pool(&snap, PoolScope::Global).unwrap().unwrap();
        // One difficulty-1 share: floor(1 / 600 s) is 0 H/s, but it is counted.
        assert_eq!(
            (global.miners, global.workers, global.total_hashes),
            (1, 1, 1),
            "{global:?}"
        );
        let me = stats::read_miner(&snap, ADDR).unwrap().unwrap();
        assert_eq!(me.valid_shares, 1, "{me:?}");
        assert_eq!(stats::read_identifiers(&snap, ADDR).unwrap(), vec!["rig1"]);
    }

    // Two minutes of silence against a one-minute delay: exactly one "stopped" mail.
    clock.skip(Duration::from_secs(120));
    let got = settle(&mut worker, &smtp, told + 1).await;
    assert_eq!(got[told].rcpt_tos, vec![ME.to_string()]);
    let text = body(&got[told]);
    assert!(text.contains("rig1") && text.contains("stopped"), "{text}");
    let unsubscribe = link(&text, "/user/unsubscribeEmail/");
    assert!(
        got[told].data.contains("List-Unsubscribe"),
        "{}",
        got[told].data
    );

    // A share again: exactly one "resumed" mail.
    let job = miner
        .call("getjob", json!({"id": login["result"]["id"]}))
        .await["result"]
        .clone();
    let (nonce, result) = mine_share(&pool.verifier, &job).await;
    let r = miner
        .call(
            "submit",
            json!({"id": login["result"]["id"], "job_id": job["job_id"], "nonce": nonce, "result": result, "algo": "rx/0"}),
        )
        .await;
    assert_eq!(error_of(&r), None, "{r}");
    pool.shared.sink.flush().await.unwrap();
    let got = settle(&mut worker, &smtp, told + 2).await;
    assert_eq!(got[told + 1].rcpt_tos, vec![ME.to_string()]);
    let text = body(&got[told + 1]);
    assert!(text.contains("rig1") && text.contains("started"), "{text}");

    // Unsubscribed through the link: a later stop is not told.
    assert_eq!(get(&unsubscribe).await, 200);
    clock.skip(Duration::from_secs(120));
    settle(&mut worker, &smtp, told + 2).await;
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE state <> 'sent'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(queued, 0);

    stop.cancel();
    let _ = sender.await;
}

/// A worker on `db` with an empty LMDB in `dir`, monerod at `daemon`, the wallet at `wallet`,
/// and its mail sender delivering to `smtp` until `stop`.
async fn worker_on(
    db: &MySqlPool,
    dir: &std::path::Path,
    daemon: &str,
    wallet: &str,
    smtp: &Smtp,
    stop: &CancellationToken,
) -> Worker {
    let store = rxpool::store::lmdb::ShareStore::open(&rxpool::store::lmdb::StoreOptions {
        map_size: 64 << 20,
        ..rxpool::store::lmdb::StoreOptions::new(dir)
    })
    .unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    let settings = mysql::load_settings(db, &Default::default()).await.unwrap();
    let (mut worker, settings_rx) = Worker::new(
        db.clone(),
        store,
        writer,
        DaemonClient::new(&[daemon]).unwrap(),
        WalletClient::new(wallet).unwrap(),
        Arc::new(SystemClock),
        settings,
        Default::default(),
    );
    worker.load().await.unwrap();
    let (db, smtp_config, stop) = (db.clone(), mailbox::smtp_config(smtp.port()), stop.clone());
    tokio::spawn(async move {
        rxpool::mail::sender::run_with(db, smtp_config, settings_rx, mailbox::fast(), stop).await
    });
    worker
}

/// Subscribes `miner` to `email` the way a miner does: the login's request, then the link of
/// the confirmation mail (the `n`-th mail of the sink).
async fn subscribe(db: &MySqlPool, smtp: &Smtp, api: &str, miner: &str, email: &str, n: usize) {
    let mut settings = mysql::load_settings(db, &Default::default()).await.unwrap();
    settings.general.public_url = api.to_owned();
    rxpool::mail::request(db, &settings, miner, email, SystemClock.now())
        .await
        .unwrap();
    let got = mails(smtp, n).await;
    let confirm = link(&body(&got[n - 1]), "/user/confirmEmail/");
    assert_eq!(get(&confirm).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_is_told_once_with_the_amount_and_tx_hash_the_wallet_shows() {
    logs();
    let chain = common::Chain::start().await;
    let smtp = Smtp::start().await.unwrap();
    let (db, url) = common::database_with_url("worker_payment_mail").await;
    let stop = CancellationToken::new();
    let (api, _, _api_lmdb) = serve_api(&url, &db, &stop).await;
    let lmdb = tempfile::tempdir().unwrap();
    let mut worker = worker_on(
        &db,
        lmdb.path(),
        &chain.daemon_url(),
        &chain.pool_wallet_url(),
        &smtp,
        &stop,
    )
    .await;
    let payee = chain.receivers(&["alice"]).await.remove(0);
    subscribe(&db, &smtp, &api, &payee.standard, ME, 1).await;
    worker.cycle().await.unwrap();

    let id = common::seed_balance(
        &db,
        &payee.standard,
        "",
        rxpool::domain::BalanceType::Pplns,
        common::xmr("0.5"),
    )
    .await;
    let processor = chain.processor(
        &db,
        rxpool::payments::planner::FeePolicy::PoolPaysNetworkFee,
    );
    let report = processor.run_cycle().await.unwrap();
    assert_eq!(report.batches_sent, 1, "{report:?}");
    assert_eq!(common::balance(&db, id).await, rxpool::domain::Atomic::ZERO);

    let got = settle(&mut worker, &smtp, 2).await;
    assert_eq!(got[1].rcpt_tos, vec![ME.to_string()]);
    let text = body(&got[1]);
    let received = chain.received(&payee).await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(text.contains(&received[0].txid), "{text}");
    let amount = rxpool::domain::Atomic(received[0].amount).to_string();
    assert!(text.contains(&amount), "{amount} not in {text}");
    assert!(text.contains(&payee.standard), "{text}");

    // Unsubscribed: the next payout is not told.
    let unsubscribe = link(&text, "/user/unsubscribeEmail/");
    assert_eq!(get(&unsubscribe).await, 200);
    common::credit(&db, id, common::xmr("0.5")).await;
    chain.mine(1).await;
    let report = processor.run_cycle().await.unwrap();
    assert_eq!(report.batches_sent, 1, "{report:?}");
    settle(&mut worker, &smtp, 2).await;
    stop.cancel();
}

/// The worker binary killed right after committing an alert (state and outbox row), then
/// restarted: the mail arrives once, and nothing is queued twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_noticing_a_stop_and_sending_mails_it_once_after_a_restart() {
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let smtp = Smtp::start().await.unwrap();
    let (url, db) = database("worker_alert_crash").await;
    mysql::set_setting(&db, "email.workerNotHashingDelay", "1")
        .await
        .unwrap();
    mysql::set_setting(&db, "worker.statsInterval", "1")
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let (api, settings, _api_lmdb) = serve_api(&url, &db, &stop).await;

    // A share two minutes old, from a worker the miner was last told is hashing.
    let dir = tempfile::tempdir().unwrap();
    let lmdb = dir.path().join("lmdb");
    {
        let store = rxpool::store::lmdb::ShareStore::open(&rxpool::store::lmdb::StoreOptions {
            map_size: 64 << 20,
            ..rxpool::store::lmdb::StoreOptions::new(&lmdb)
        })
        .unwrap();
        let writer = store.writer(WriterConfig::default()).unwrap();
        let at = UnixMillis(SystemClock.now().0 - 120_000);
        writer
            .append(rxpool::store::lmdb::NewShare {
                height: rxpool::domain::Height(10),
                timestamp: at,
                miner: ADDR.into(),
                worker: "rig1".into(),
                difficulty: 1000,
                job_difficulty: 1000,
                pool_type: rxpool::domain::PoolType::Pplns,
                trusted: false,
                found_block: false,
                host: 1,
            })
            .await
            .unwrap();
        writer.close().await.unwrap();
    }
    let smtp_for_subscribe = &smtp;
    let sender_stop = CancellationToken::new();
    {
        // Confirm through the real flow, with a sender of the test's own.
        let (_keep, rx) = tokio::sync::watch::channel(settings.clone());
        let (db2, cfg, s) = (
            db.clone(),
            mailbox::smtp_config(smtp.port()),
            sender_stop.clone(),
        );
        tokio::spawn(async move {
            let _keep = _keep;
            rxpool::mail::sender::run_with(db2, cfg, rx, mailbox::fast(), s).await
        });
        subscribe(&db, smtp_for_subscribe, &api, ADDR, ME, 1).await;
        sender_stop.cancel();
    }
    sqlx::query(
        "INSERT INTO worker_alert_state (miner, worker, hashing, changed_at) VALUES (?, 'rig1', 1, 0)",
    )
    .bind(ADDR)
    .execute(&db)
    .await
    .unwrap();

    let config = dir.path().join("config.toml");
    let write_config = |with_smtp: bool| {
        let smtp_section = if with_smtp {
            format!(
                "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"pool@example.org\"\nsecurity = \"none\"\n",
                smtp.port()
            )
        } else {
            String::new()
        };
        std::fs::write(
            &config,
            format!(
                "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"{}\"]\n\
                 [wallet]\nurl = \"http://127.0.0.1:1\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"t\"\n{smtp_section}",
                lmdb.display(),
                monerod.rpc_url(),
            ),
        )
        .unwrap();
    };
    let run = |failpoint: Option<&str>| {
        let log = dir.path().join("worker.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rxpool"));
        command
            .arg("--config")
            .arg(&config)
            .arg("worker")
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        match failpoint {
            Some(p) => command.env("RXPOOL_FAILPOINT", p),
            None => command.env_remove("RXPOOL_FAILPOINT"),
        };
        command.spawn().unwrap()
    };

    // First run: the stop is noticed and committed with its mail, then the process dies.
    write_config(false);
    let mut child = run(Some("worker:after_alert_commit"));
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(dir.path().join("worker.log")).unwrap();
    assert!(
        log.contains("fail point worker:after_alert_commit: aborting"),
        "{log}"
    );
    let queued: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM mail_outbox WHERE kind = 'workers_stopped' AND state = 'queued'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(queued, 1);
    assert_eq!(
        smtp.messages().unwrap().len(),
        1,
        "only the confirmation so far"
    );

    // Restarted with SMTP: the one mail arrives, and later cycles add none.
    write_config(true);
    let mut child = run(None);
    let got = mails(&smtp, 2).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(smtp.messages().unwrap().len(), 2);
    assert!(body(&got[1]).contains("rig1"), "{}", body(&got[1]));
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE kind = 'workers_stopped'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(rows, 1);
    // SIGTERM: a clean stop.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solo_block_is_told_once_and_only_to_a_finder_who_opted_in() {
    logs();
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let smtp = Smtp::start().await.unwrap();
    let (url, db) = database("worker_solo_mail").await;
    let stop = CancellationToken::new();
    let (api, _, _api_lmdb) = serve_api(&url, &db, &stop).await;
    let lmdb = tempfile::tempdir().unwrap();
    let mut worker = worker_on(
        &db,
        lmdb.path(),
        &monerod.rpc_url(),
        "http://127.0.0.1:1",
        &smtp,
        &stop,
    )
    .await;
    subscribe(&db, &smtp, &api, ADDR, ME, 1).await;
    worker.cycle().await.unwrap();

    let store =
        rxpool::store::lmdb::ShareStore::open(&rxpool::store::lmdb::StoreOptions::new(lmdb.path()))
            .unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    let block = |height: u64, byte: &str| rxpool::store::lmdb::FoundBlock {
        height: rxpool::domain::Height(height),
        hash: byte.repeat(32).parse().unwrap(),
        network_difficulty: rxpool::domain::Difficulty(1_000_000),
        reward: rxpool::domain::Atomic(600_000_000_000),
        pool_type: rxpool::domain::PoolType::Solo,
        miner: ADDR.into(),
        worker: "rig7".into(),
        timestamp: SystemClock.now(),
        shares_at_find: None,
        status: rxpool::store::lmdb::BlockStatus::Pending,
        blob: Vec::new(),
    };
    // Solo block mails are opt-in: the first block is not told, now or later.
    writer.record_block(block(20, "aa")).await.unwrap();
    settle(&mut worker, &smtp, 1).await;
    rxpool::mail::subscriptions::set_switches(&db, ADDR, true, true, true)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    writer.record_block(block(21, "bb")).await.unwrap();
    let got = settle(&mut worker, &smtp, 2).await;
    let text = body(&got[1]);
    assert!(
        text.contains("rig7") && text.contains("21") && text.contains(&"bb".repeat(32)),
        "{text}"
    );
    assert!(!text.contains(&"aa".repeat(32)), "{text}");
    settle(&mut worker, &smtp, 2).await;
    stop.cancel();
}
