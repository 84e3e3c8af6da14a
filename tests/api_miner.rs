//! The api's miner routes (`/miner/:address/*`) and miner settings (`/user/*`) against the
//! real pool (a stratum miner logging in with workers and an e-mail), the real worker's
//! rollups in LMDB, MariaDB balances, payments and block credits, and a real SMTP sink: every
//! route answers nodejs-pool's shapes with the values the stores hold; every spelling of an
//! address is the same miner; thresholds and e-mail changes are refused with a 4xx JSON error
//! that changes nothing, unless valid; hostile input is a 400 JSON error, never a 5xx.

#[path = "support/api.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod api_support;
#[path = "support/mailbox.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod mailbox;
#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod pool_db;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;

use std::time::Duration;

use rxpool::config::{FileConfig, Settings};
use rxpool::devnet::{Monerod, MonerodOptions, Smtp};
use rxpool::domain::address::{PaymentId, WalletAddress};
use rxpool::domain::{Atomic, BalanceType, Clock, Hash32, Height, Network, PoolType, SystemClock};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::wallet::WalletClient;
use rxpool::pool::state::EmailRegistration;
use rxpool::stats::{self, Resolution};
use rxpool::store::lmdb::WriterConfig;
use rxpool::store::mysql::{self, credits, miner_settings};
use rxpool::worker::cycle::Worker;
use serde_json::{Value, json};
use sqlx::MySqlPool;
use tokio_util::sync::CancellationToken;

use stratum::{ADDR, error_of, mine_share, start_pool_with, test_settings};

const PID: &str = "0123456789abcdef";
const ME: &str = "me@example.org";
const NEW: &str = "new@example.org";
const XMR: u64 = 1_000_000_000_000;

/// The api on `lmdb` with `general.publicUrl` set to it (so mailed links lead there).
async fn serve(
    url: &str,
    db: &MySqlPool,
    lmdb: &std::path::Path,
    stop: &CancellationToken,
) -> (String, Settings) {
    let (listener, api) = api_support::listener().await;
    mysql::set_setting(db, "general.publicUrl", &api)
        .await
        .unwrap();
    let settings = mysql::load_settings(db, &Default::default()).await.unwrap();
    api_support::serve_on(
        listener,
        api_support::ApiSetup::offline(url, lmdb),
        db,
        settings.clone(),
        stop,
    );
    (api, settings)
}

/// A valid mainnet address of our own making (`n` picks its keys).
fn address(n: u8, subaddress: bool) -> String {
    let key = |b: u8| {
        let mut bytes = [0u8; 32];
        bytes[0] = b;
        monero::PublicKey::from_private_key(&monero::PrivateKey::from_slice(&bytes).unwrap())
    };
    let (spend, view) = (key(n), key(n + 1));
    if subaddress {
        monero::Address::subaddress(monero::Network::Mainnet, spend, view).to_string()
    } else {
        monero::Address::standard(monero::Network::Mainnet, spend, view).to_string()
    }
}

/// The integrated address `ADDR.PID` makes (what the pool keys that miner by).
fn integrated() -> String {
    WalletAddress::parse(ADDR, Network::Mainnet)
        .unwrap()
        .integrated_with(PaymentId::parse(PID).unwrap())
        .unwrap()
        .text
}

/// GET: status and JSON body.
async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

async fn get_ok(url: &str) -> Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    body
}

/// POST a JSON body (raw text, sent as application/json).
async fn post(url: &str, body: impl Into<String>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.into())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// A 4xx with `{"error": "..."}` naming something.
fn assert_refused(what: &str, (status, body): &(u16, Value)) {
    assert!((400..500).contains(status), "{what}: {status} {body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{what}: {body}");
}

async fn sql_u64(db: &MySqlPool, sql: &str, miner: &str) -> u64 {
    sqlx::query_scalar::<_, u64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(miner)
        .fetch_one(db)
        .await
        .unwrap()
}

/// A payment to `miner` as the payments role records one (transaction + payment row).
async fn record_payment(db: &MySqlPool, miner: &str, net: u64, fee: u64, at_s: u64, tx: u8) {
    let t = sqlx::query(
        "INSERT INTO transactions (xmr_amt, transaction_hash, fees, payees, mixin) \
         VALUES (?, ?, 30000000, 1, 15)",
    )
    .bind(net)
    .bind(hex::encode([tx; 32]))
    .execute(db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO payments (unlocked_time, paid_time, pool_type, payment_address, \
         transaction_id, amount, payment_id, transfer_fee) \
         VALUES (FROM_UNIXTIME(?), FROM_UNIXTIME(?), 'pplns', ?, ?, ?, '', ?)",
    )
    .bind(at_s)
    .bind(at_s)
    .bind(miner)
    .bind(t.last_insert_id())
    .bind(net)
    .bind(fee)
    .execute(db)
    .await
    .unwrap();
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

fn spawn_sender(db: &MySqlPool, smtp: &Smtp, settings: &Settings, stop: &CancellationToken) {
    let (_tx, rx) = tokio::sync::watch::channel(settings.clone());
    let (db, config, stop) = (db.clone(), mailbox::smtp_config(smtp.port()), stop.clone());
    tokio::spawn(async move {
        let _keep = _tx;
        rxpool::mail::sender::run_with(db, config, rx, mailbox::fast(), stop).await
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_miner_route_answers_nodejs_pool_shapes_with_the_values_of_the_rollups_and_mysql() {
    pool_db::logs();
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let smtp = Smtp::start().await.unwrap();
    let (url, db) = pool_db::database_for("api_miner_routes", ADDR).await;
    let stop = CancellationToken::new();

    // The pool's login e-mails go to the double opt-in, as `pool::run` wires them.
    let (emails, mut registrations) = tokio::sync::mpsc::channel::<EmailRegistration>(16);
    let pool = start_pool_with(&[monerod.rpc_url()], test_settings(), 1, None, move |s| {
        s.emails = Some(emails);
    })
    .await;
    let (api, settings) = serve(&url, &db, pool.store.path(), &stop).await;
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
    spawn_sender(&db, &smtp, &settings, &stop);

    // One miner (`ADDR.PID`, keyed by its integrated address) with two workers, one of them
    // giving an e-mail address at login; each submits a share.
    // `rig2` logs in with the integrated address itself: the same miner. `rig3` mines to the
    // plain address, which is another miner.
    let miner = integrated();
    for (worker, login, pass) in [
        ("rig1", format!("{ADDR}.{PID}"), format!("rig1:{ME}")),
        ("rig2", miner.clone(), "rig2".to_owned()),
        ("rig3", ADDR.to_owned(), "rig3".to_owned()),
    ] {
        let mut client = stratum::connect(&pool).await;
        let login = client
            .call(
                "login",
                json!({"login": login, "pass": pass, "agent": "XMRig/6.26.0", "algo": ["rx/0"]}),
            )
            .await;
        assert_eq!(error_of(&login), None, "{worker}: {login}");
        let job = login["result"]["job"].clone();
        let (nonce, result) = mine_share(&pool.verifier, &job).await;
        let r = client
            .call(
                "submit",
                json!({"id": login["result"]["id"], "job_id": job["job_id"], "nonce": nonce, "result": result, "algo": "rx/0"}),
            )
            .await;
        assert_eq!(error_of(&r), None, "{worker}: {r}");
    }
    pool.shared.sink.flush().await.unwrap();

    // The worker rolls them up.
    let config = FileConfig::parse(&format!(
        "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"{}\"]\n\
         [wallet]\nurl = \"http://127.0.0.1:1\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\n\
         hostname = \"test-pool\"\n",
        pool.store.path().display(),
        monerod.rpc_url(),
    ))
    .unwrap();
    let writer = pool.store.writer(WriterConfig::default()).unwrap();
    let (mut worker, _settings_rx) = Worker::new(
        db.clone(),
        pool.store.clone(),
        writer,
        DaemonClient::new(&[monerod.rpc_url()]).unwrap(),
        WalletClient::new("http://127.0.0.1:1").unwrap(),
        std::sync::Arc::new(SystemClock),
        settings.clone(),
        config.overrides.clone(),
    );
    worker.load().await.unwrap();
    worker.cycle().await.unwrap();

    // Money in MySQL: a credited block (the credit ledger and the balance) and two payments.
    let block_hash: Hash32 = "ab".repeat(32).parse().unwrap();
    let fee_address = address(20, false);
    credits::credit_block(
        &db,
        &credits::PaidBlock {
            hash: block_hash,
            height: Height(5),
            pool_type: PoolType::Pplns,
            reward: Atomic(3 * XMR),
            window: None,
        },
        &[
            credits::LedgerLine {
                address: &miner,
                payment_id: "",
                balance_type: BalanceType::Pplns,
                amount: Atomic(XMR),
            },
            credits::LedgerLine {
                address: &fee_address,
                payment_id: "",
                balance_type: BalanceType::Fees,
                amount: Atomic(2 * XMR),
            },
        ],
        |_| {},
    )
    .await
    .unwrap();
    record_payment(&db, &miner, 400_000_000_000, 11_000_000, 1_700_000_000, 1).await;
    record_payment(&db, &miner, 500_000_000_000, 0, 1_700_003_600, 2).await;

    // Every spelling of the miner gives the same answers; the first is compared with the
    // stores below.
    let spellings = [format!("{ADDR}.{PID}"), miner.clone()];
    let routes = [
        "identifiers",
        "payments",
        "payments?limit=1&page=1",
        "block_payments",
        "stats",
        "stats/allWorkers",
        "stats/rig1",
        "chart/hashrate",
        "chart/hashrate/allWorkers",
        "chart/hashrate/rig2",
    ];
    let mut answers = Vec::new();
    for route in routes {
        let first = get_ok(&format!("{api}/miner/{}/{route}", spellings[0])).await;
        let second = get_ok(&format!("{api}/miner/{}/{route}", spellings[1])).await;
        assert_eq!(first, second, "{route}");
        answers.push(first);
    }
    let user = get_ok(&format!("{api}/user/{}", spellings[0])).await;
    assert_eq!(user, get_ok(&format!("{api}/user/{}", spellings[1])).await);

    // The rollups, read back.
    let now = SystemClock.now();
    let (me, rig1, rig2_chart, my_chart, rig1_chart) = {
        let snap = pool.store.read().unwrap();
        (
            stats::read_miner(&snap, &miner).unwrap().unwrap(),
            stats::read_worker(&snap, &miner, "rig1").unwrap().unwrap(),
            stats::read_worker_history(&snap, &miner, "rig2", Resolution::Minute, now).unwrap(),
            stats::read_miner_history(&snap, &miner, Resolution::Minute, now).unwrap(),
            stats::read_worker_history(&snap, &miner, "rig1", Resolution::Minute, now).unwrap(),
        )
    };
    assert_eq!(me.valid_shares, 2, "{me:?}");
    let paid = sql_u64(
        &db,
        "SELECT CAST(SUM(amount) AS UNSIGNED) FROM payments WHERE payment_address = ?",
        &miner,
    )
    .await;
    let due = sql_u64(
        &db,
        "SELECT CAST(SUM(amount) AS UNSIGNED) FROM balance WHERE payment_address = ?",
        &miner,
    )
    .await;
    assert_eq!((paid, due), (900_000_000_000, XMR));

    assert_eq!(answers[0], json!(["rig1", "rig2"]));
    assert_eq!(
        get_ok(&format!("{api}/miner/{ADDR}/identifiers")).await,
        json!(["rig3"])
    );
    assert_eq!(
        get_ok(&format!("{api}/miner/{ADDR}/stats")).await["amtDue"],
        json!(0)
    );
    let payments = answers[1].as_array().unwrap();
    assert_eq!(payments.len(), 2);
    assert_eq!(
        payments[0],
        json!({"pt": "pplns", "ts": 1_700_003_600u64, "amount": 500_000_000_000u64,
               "txnHash": hex::encode([2u8; 32]), "mixin": 15})
    );
    assert_eq!(answers[2], json!([payments[1]]));
    assert_eq!(payments[1]["amount"], json!(400_000_000_000u64));
    let (block_id, credited_at): (u64, u64) = sqlx::query_as(
        "SELECT id, CAST(UNIX_TIMESTAMP(credited_at) AS UNSIGNED) FROM paid_blocks WHERE hash = ?",
    )
    .bind(block_hash.to_string())
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        answers[3],
        json!([{"id": block_id, "ts": credited_at, "ts_found": credited_at, "port": 18081,
                "hash": block_hash.to_string(), "height": 5, "pool_type": "pplns",
                "value_percent": 33.333333, "value": XMR}])
    );
    assert_eq!(
        answers[4],
        json!({"hash": me.hash, "identifier": "global", "lastHash": me.last_hash / 1000,
               "totalHashes": me.total_hashes, "validShares": me.valid_shares,
               "invalidShares": me.invalid_shares, "amtPaid": paid, "amtDue": due, "txnCount": 2})
    );
    let entry = |name: &str, s: &stats::EntityStats| {
        json!({"lts": s.last_hash / 1000, "identifer": name, "hash": s.hash,
               "totalHash": s.total_hashes, "validShares": s.valid_shares,
               "invalidShares": s.invalid_shares})
    };
    let rig2 = {
        let snap = pool.store.read().unwrap();
        stats::read_worker(&snap, &miner, "rig2").unwrap().unwrap()
    };
    assert_eq!(
        answers[5],
        json!({"global": entry("global", &me), "rig1": entry("rig1", &rig1), "rig2": entry("rig2", &rig2)})
    );
    assert_eq!(answers[6], entry("rig1", &rig1));
    assert_eq!(answers[7], serde_json::to_value(&my_chart).unwrap());
    assert_eq!(
        answers[8],
        json!({"global": my_chart, "rig1": rig1_chart, "rig2": rig2_chart})
    );
    assert_eq!(answers[9], serde_json::to_value(&rig2_chart).unwrap());

    // The login's e-mail is pending: a confirmation went out, nothing is enabled yet.
    // An integrated address with no threshold of its own is paid from the exchange minimum.
    assert_eq!(
        user,
        json!({"payout_threshold": settings.payout.exchange_min.0, "payout_threshold_lock": 0, "email_enabled": 0})
    );
    let got = mails(&smtp, 1).await;
    assert_eq!(got[0].rcpt_tos, vec![ME.to_string()]);
    let confirm = mailbox::link(&mailbox::body(&got[0]), "/user/confirmEmail/");
    assert_eq!(reqwest::get(&confirm).await.unwrap().status().as_u16(), 200);
    let user = get_ok(&format!("{api}/user/{miner}")).await;
    assert_eq!(user["email_enabled"], json!(1));
    assert!(!user.to_string().contains('@'), "{user}");

    // A miner the pool has no data for (an address, a subaddress): zeros and empty lists.
    for other in [address(30, false), address(40, true)] {
        let base = format!("{api}/miner/{other}");
        assert_eq!(get_ok(&format!("{base}/identifiers")).await, json!([]));
        assert_eq!(get_ok(&format!("{base}/payments")).await, json!([]));
        assert_eq!(get_ok(&format!("{base}/block_payments")).await, json!([]));
        assert_eq!(
            get_ok(&format!("{base}/stats")).await,
            json!({"hash": 0, "identifier": "global", "lastHash": 0, "totalHashes": 0,
                   "validShares": 0, "invalidShares": 0, "amtPaid": 0, "amtDue": 0, "txnCount": 0})
        );
        assert_eq!(
            get_ok(&format!("{base}/stats/allWorkers")).await,
            json!({"global": {"lts": 0, "identifer": "global", "hash": 0, "totalHash": 0,
                              "validShares": 0, "invalidShares": 0}})
        );
        assert_eq!(
            get_ok(&format!("{base}/stats/rig1")).await["identifer"],
            json!("rig1")
        );
        assert_eq!(get_ok(&format!("{base}/chart/hashrate")).await, json!([]));
        assert_eq!(
            get_ok(&format!("{base}/chart/hashrate/allWorkers")).await,
            json!({"global": []})
        );
        assert_eq!(
            get_ok(&format!("{base}/chart/hashrate/rig1")).await,
            json!([])
        );
        assert_eq!(
            get_ok(&format!("{api}/user/{other}")).await,
            json!({"payout_threshold": settings.payout.wallet_min.0, "payout_threshold_lock": 0, "email_enabled": 0})
        );
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_is_set_exactly_and_every_bad_one_is_refused_and_changes_nothing() {
    pool_db::logs();
    let (url, db) = pool_db::database_for("api_miner_threshold", ADDR).await;
    let lmdb = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let (api, settings) = serve(&url, &db, lmdb.path(), &stop).await;
    let miner = address(50, false);
    sqlx::query("INSERT INTO balance (payment_address, pool_type, amount) VALUES (?, 'pplns', 5)")
        .bind(&miner)
        .execute(&db)
        .await
        .unwrap();
    let update = format!("{api}/user/updateThreshold");
    let stored = || {
        let (db, miner) = (&db, &miner);
        async move {
            miner_settings::user_settings(db, miner)
                .await
                .unwrap()
                .map(|u| u.payout_threshold.0)
        }
    };

    // The pool minimum applies until the miner chooses.
    let user = get_ok(&format!("{api}/user/{miner}")).await;
    assert_eq!(
        user["payout_threshold"],
        json!(settings.payout.wallet_min.0)
    );

    let (status, body) = post(
        &update,
        json!({"username": miner, "threshold": "0.5"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, &body),
        (200, &json!({"msg": "Threshold updated, set to: 0.5"}))
    );
    assert_eq!(stored().await, Some(XMR / 2));
    // The cached answer is dropped by the write.
    let user = get_ok(&format!("{api}/user/{miner}")).await;
    assert_eq!(user["payout_threshold"], json!(XMR / 2));
    // A JSON number is taken as the decimal it writes; the integrated spelling is one miner.
    let (status, _) = post(
        &update,
        json!({"username": miner, "threshold": 0.75}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stored().await, Some(750_000_000_000));

    assert_eq!(settings.payout.wallet_min.0, 300_000_000_000);
    // Just over the api's body limit (`[api] max_body_bytes`): the server refuses from the
    // declared length without reading the body, so a body much larger than the socket buffers
    // could reset the connection under the client before it reads the 413.
    let huge = format!(
        "{{\"username\": \"{miner}\", \"threshold\": \"{}\"}}",
        "9".repeat(rxpool::config::ApiConfig::default().max_body_bytes + 4096)
    );
    let bad_bodies = [
        (
            "below the minimum",
            json!({"username": miner, "threshold": "0.299999999999"}).to_string(),
        ),
        (
            "above the maximum",
            json!({"username": miner, "threshold": "1000.000000000001"}).to_string(),
        ),
        (
            "negative text",
            json!({"username": miner, "threshold": "-1"}).to_string(),
        ),
        (
            "negative number",
            json!({"username": miner, "threshold": -1}).to_string(),
        ),
        (
            "exponent text",
            json!({"username": miner, "threshold": "1e3"}).to_string(),
        ),
        (
            "sub-atomic",
            json!({"username": miner, "threshold": "0.0000000000001"}).to_string(),
        ),
        (
            "sub-atomic number",
            "{\"username\": \"M\", \"threshold\": 0.0000000000001}".replace('M', &miner),
        ),
        (
            "unicode digits",
            json!({"username": miner, "threshold": "０.５"}).to_string(),
        ),
        (
            "SQL",
            json!({"username": miner, "threshold": "1; DROP TABLE users; --"}).to_string(),
        ),
        (
            "null",
            json!({"username": miner, "threshold": null}).to_string(),
        ),
        ("missing", json!({"username": miner}).to_string()),
        (
            "malformed JSON",
            format!("{{\"username\": \"{miner}\", \"threshold\": "),
        ),
        ("not JSON", "threshold=1".to_owned()),
        (
            "long amount",
            json!({"username": miner, "threshold": "1".repeat(10_000)}).to_string(),
        ),
        ("huge body", huge),
        (
            "case-altered username",
            json!({"username": miner.to_lowercase(), "threshold": "1"}).to_string(),
        ),
        (
            "unicode username",
            json!({"username": format!("{miner}ü"), "threshold": "1"}).to_string(),
        ),
        (
            "SQL username",
            json!({"username": "' OR 1=1 --", "threshold": "1"}).to_string(),
        ),
        (
            "10 kB username",
            json!({"username": "4".repeat(10_000), "threshold": "1"}).to_string(),
        ),
        (
            "truncated username",
            json!({"username": &miner[..94], "threshold": "1"}).to_string(),
        ),
        (
            "username with a bad payment ID",
            json!({"username": format!("{miner}.xyz"), "threshold": "1"}).to_string(),
        ),
        (
            "unknown miner",
            json!({"username": address(60, false), "threshold": "1"}).to_string(),
        ),
    ];
    for (what, body) in &bad_bodies {
        let answer = post(&update, body.clone()).await;
        assert_refused(what, &answer);
        assert_eq!(stored().await, Some(750_000_000_000), "{what}");
    }
    // Wrong content type.
    let r = reqwest::Client::new()
        .post(&update)
        .header("content-type", "text/plain")
        .body(json!({"username": miner, "threshold": "1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // The maximum is a setting; the operator's lock refuses every change.
    let (status, _) = post(
        &update,
        json!({"username": miner, "threshold": "1000"}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    miner_settings::set_threshold_lock(&db, &miner, true)
        .await
        .unwrap();
    let answer = post(
        &update,
        json!({"username": miner, "threshold": "2"}).to_string(),
    )
    .await;
    assert_refused("locked", &answer);
    assert_eq!(answer.0, 403);
    assert_eq!(stored().await, Some(1000 * XMR));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let user = get_ok(&format!("{api}/user/{miner}")).await;
    assert_eq!(
        user,
        json!({"payout_threshold": 1000 * XMR, "payout_threshold_lock": 1, "email_enabled": 0})
    );
    miner_settings::set_threshold_lock(&db, &miner, false)
        .await
        .unwrap();
    let (status, _) = post(
        &update,
        json!({"username": miner, "threshold": "2"}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stored().await, Some(2 * XMR));
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_subscription_sends_a_confirmation_and_enables_nothing_until_it_is_followed() {
    pool_db::logs();
    let smtp = Smtp::start().await.unwrap();
    let (url, db) = pool_db::database_for("api_miner_email", ADDR).await;
    let lmdb = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let (api, settings) = serve(&url, &db, lmdb.path(), &stop).await;
    spawn_sender(&db, &smtp, &settings, &stop);
    let miner = address(70, false);
    sqlx::query("INSERT INTO balance (payment_address, pool_type, amount) VALUES (?, 'pplns', 5)")
        .bind(&miner)
        .execute(&db)
        .await
        .unwrap();
    let subscribe = format!("{api}/user/subscribeEmail");
    let outbox = || {
        let db = &db;
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mail_outbox")
                .fetch_one(db)
                .await
                .unwrap()
        }
    };

    // Switching alerts needs a confirmed address first; bad input is refused.
    for (what, body) in [
        (
            "no address yet",
            json!({"username": miner, "enabled": 1, "from": "", "to": ""}),
        ),
        (
            "bad to",
            json!({"username": miner, "enabled": 1, "from": "", "to": "not an address"}),
        ),
        (
            "unicode to",
            json!({"username": miner, "enabled": 1, "from": "", "to": "mé@example.org"}),
        ),
        (
            "from without to",
            json!({"username": miner, "enabled": 1, "from": ME, "to": ""}),
        ),
        (
            "bad enabled",
            json!({"username": miner, "enabled": "maybe", "from": "", "to": ""}),
        ),
        (
            "unknown miner",
            json!({"username": address(80, false), "enabled": 1, "from": "", "to": ME}),
        ),
        (
            "hostile miner",
            json!({"username": "'; DELETE FROM users; --", "enabled": 1, "from": "", "to": ME}),
        ),
    ] {
        assert_refused(what, &post(&subscribe, body.to_string()).await);
    }
    assert_refused("malformed JSON", &post(&subscribe, "{\"username\":").await);
    assert_eq!(outbox().await, 0);

    // A new address: a confirmation link goes out, nothing is enabled until it is opened.
    let (status, body) = post(
        &subscribe,
        json!({"username": miner, "enabled": 1, "from": "", "to": ME}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["msg"].as_str().unwrap().contains("confirmation"),
        "{body}"
    );
    let got = mails(&smtp, 1).await;
    assert_eq!(got[0].rcpt_tos, vec![ME.to_string()]);
    assert_eq!(
        get_ok(&format!("{api}/user/{miner}")).await["email_enabled"],
        json!(0)
    );
    assert!(
        rxpool::mail::confirmed(&db, &miner)
            .await
            .unwrap()
            .is_none()
    );
    // Asking again at once is throttled, as the double opt-in throttles logins.
    let again = post(
        &subscribe,
        json!({"username": miner, "enabled": 1, "from": "", "to": ME}).to_string(),
    )
    .await;
    assert_eq!(again.0, 429, "{}", again.1);
    let confirm = mailbox::link(&mailbox::body(&got[0]), "/user/confirmEmail/");
    assert_eq!(reqwest::get(&confirm).await.unwrap().status().as_u16(), 200);
    assert_eq!(
        get_ok(&format!("{api}/user/{miner}")).await["email_enabled"],
        json!(1)
    );

    // Changing it needs the current address in `from`; a wrong one changes and sends nothing.
    let before = outbox().await;
    for (what, from) in [
        ("no from", ""),
        ("wrong from", "other@example.org"),
        ("case-altered from", "ME@example.org"),
    ] {
        let answer = post(
            &subscribe,
            json!({"username": miner, "enabled": 1, "from": from, "to": NEW}).to_string(),
        )
        .await;
        assert_refused(what, &answer);
        assert_eq!(answer.0, 403, "{what}");
    }
    assert_eq!(outbox().await, before);
    // The right one, an hour after the first request (the double opt-in sends one mail per
    // miner an hour): the current address is asked to approve; the new one gets nothing yet.
    sqlx::query(
        "UPDATE mail_subscriptions SET last_request_mail_at = last_request_mail_at - 7200000 \
         WHERE miner = ?",
    )
    .bind(&miner)
    .execute(&db)
    .await
    .unwrap();
    let (status, body) = post(
        &subscribe,
        json!({"username": miner, "enabled": 1, "from": ME, "to": NEW}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got = mails(&smtp, 2).await;
    assert_eq!(got[1].rcpt_tos, vec![ME.to_string()]);
    assert!(mailbox::body(&got[1]).contains("/user/approveEmail/"));
    assert_eq!(
        rxpool::mail::confirmed(&db, &miner)
            .await
            .unwrap()
            .unwrap()
            .email,
        ME
    );
    // Approved by the current address, the new one gets its own link; only that switches.
    let approve = mailbox::link(&mailbox::body(&got[1]), "/user/approveEmail/");
    assert_eq!(reqwest::get(&approve).await.unwrap().status().as_u16(), 200);
    let got = mails(&smtp, 3).await;
    assert_eq!(got[2].rcpt_tos, vec![NEW.to_string()]);
    let current = || {
        let (db, miner) = (&db, &miner);
        async move { rxpool::mail::confirmed(db, miner).await.unwrap().unwrap() }
    };
    assert_eq!(current().await.email, ME);
    let confirm = mailbox::link(&mailbox::body(&got[2]), "/user/confirmEmail/");
    assert_eq!(reqwest::get(&confirm).await.unwrap().status().as_u16(), 200);
    assert_eq!(current().await.email, NEW);

    // Switching alerts off and on touches only the switches.
    let (status, _) = post(
        &subscribe,
        json!({"username": miner, "enabled": false, "from": "", "to": ""}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let sub = rxpool::mail::confirmed(&db, &miner).await.unwrap().unwrap();
    assert!(!sub.worker_alerts && !sub.payments && sub.email == NEW);
    let (status, _) = post(
        &subscribe,
        json!({"username": miner, "enabled": "1", "from": "", "to": ""}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let sub = rxpool::mail::confirmed(&db, &miner).await.unwrap().unwrap();
    assert!(sub.worker_alerts && sub.payments);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_addresses_and_paging_on_every_route_are_a_400_in_json() {
    pool_db::logs();
    let (url, db) = pool_db::database_for("api_miner_hostile", ADDR).await;
    let lmdb = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let (api, _) = serve(&url, &db, lmdb.path(), &stop).await;
    let swapped: String = ADDR
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let testnet = monero::Address::standard(
        monero::Network::Testnet,
        monero::PublicKey::from_private_key(&monero::PrivateKey::from_slice(&[3; 32]).unwrap()),
        monero::PublicKey::from_private_key(&monero::PrivateKey::from_slice(&[4; 32]).unwrap()),
    )
    .to_string();
    let mut last_changed = ADDR.to_owned();
    last_changed.pop();
    last_changed.push(if ADDR.ends_with('A') { 'B' } else { 'A' });
    let hostile = [
        ADDR.to_lowercase(),
        swapped,
        ADDR[..90].to_owned(),
        last_changed,
        format!("{ADDR}ü"),
        "ädresse".to_owned(),
        "%27%20OR%201%3D1%20--".to_owned(),
        "1%3B%20DROP%20TABLE%20users".to_owned(),
        "4".repeat(10_000),
        format!("{ADDR}.zz"),
        format!("{ADDR}.{}", "ab".repeat(32)),
        format!("{}.{PID}", integrated()),
        testnet,
        "%FF%FE".to_owned(),
        "%00".to_owned(),
    ];
    let routes = [
        "/miner/{}/identifiers",
        "/miner/{}/payments",
        "/miner/{}/block_payments",
        "/miner/{}/stats",
        "/miner/{}/stats/allWorkers",
        "/miner/{}/stats/rig1",
        "/miner/{}/chart/hashrate",
        "/miner/{}/chart/hashrate/allWorkers",
        "/miner/{}/chart/hashrate/rig1",
        "/user/{}",
    ];
    for route in routes {
        for address in &hostile {
            let path = route.replace("{}", address);
            let answer = get(&format!("{api}{path}")).await;
            assert_refused(&path[..path.len().min(120)], &answer);
            assert_eq!(answer.0, 400, "{path:.120}: {}", answer.1);
        }
    }
    // Paging and worker names.
    for query in [
        "limit=0",
        "limit=-1",
        "limit=101",
        "limit=1e3",
        "limit=99999999999999999999999",
        "page=-1",
        "page=100001",
        "page=x%27%20OR%201%3D1",
        "limit=%FF",
    ] {
        for list in ["payments", "block_payments"] {
            let answer = get(&format!("{api}/miner/{ADDR}/{list}?{query}")).await;
            assert_refused(query, &answer);
        }
    }
    let long_worker = "w".repeat(65);
    for route in ["stats", "chart/hashrate"] {
        let answer = get(&format!("{api}/miner/{ADDR}/{route}/{long_worker}")).await;
        assert_refused("long worker", &answer);
        let answer = get(&format!("{api}/miner/{ADDR}/{route}/%FF")).await;
        assert_refused("non-UTF-8 worker", &answer);
    }
    // A unicode or SQL-looking worker name is just a worker with no data.
    let answer = get_ok(&format!("{api}/miner/{ADDR}/stats/r%C3%BCg%27%3B--")).await;
    assert_eq!(answer["identifer"], json!("rüg';--"));
    // Nothing was written.
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(users, 0);
    stop.cancel();
}
