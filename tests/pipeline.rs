//! The whole pool end to end, the way an operator runs it: the `rxpool` binary's `pool`,
//! `block-manager` and `payments` subcommands as child processes on one `config.toml`, one
//! MySQL database (devnet MariaDB) and one LMDB directory, against a regtest monerod with a
//! fixed difficulty, the pool's monero-wallet-rpc and a second wallet-rpc holding the
//! miners' receiving wallets.
//!
//! Miners (this process) connect over TCP to the three ports the pool reads from
//! `port_config` (pplns, pps, solo), log in with every address form (standard, subaddress,
//! integrated, and a standard address with a 16-hex payment ID, which the pool pays as the
//! integrated address the two make) and several worker names, and mine
//! real light-mode RandomX until the chain holds blocks of each port type. `generateblocks`
//! buries them `payout.blocksRequired` deep; the block manager credits; the test recomputes
//! the expected split on its own from the shares and blocks in LMDB (read through a
//! `store::lmdb` snapshot), the block headers from monerod and the fee settings, and checks
//! the `balance` table against it to the atomic unit, fee and donation addresses included.
//! Then the payments role pays, and each receiving wallet must see exactly its balance, with
//! its payment ID where it has one (`get_payments` and `get_bulk_payments`), and MySQL's
//! `payments`/`transactions` match the chain.

#[path = "payments/common.rs"]
#[expect(
    dead_code,
    reason = "this binary uses a subset of the payments fixtures"
)]
mod common;
#[path = "pipeline/miner.rs"]
#[expect(
    dead_code,
    reason = "this binary mines without stopping the pool under load"
)]
mod miner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::Chain;
use miner::MinerSpec;
use rxpool::devnet::{MonerodOptions, free_port};
use rxpool::domain::{Atomic, Bps, Difficulty, Hash32, Height, PoolType};
use rxpool::monero::daemon::{Daemon, DaemonClient};
use rxpool::monero::pow::{Verifier, VerifierConfig};
use rxpool::store::lmdb::{Block, BlockStatus, ShareStore, StoreOptions};
use rxpool::store::mysql::{self, PortConfig, credits, payouts};
use sqlx::{MySqlPool, Row};
use tokio_util::sync::CancellationToken;

/// Low enough that light-mode RandomX finds blocks in seconds (and `generateblocks` buries
/// them quickly), high enough that most shares are not blocks.
const NETWORK_DIFFICULTY: u64 = 5;
const BLOCKS_REQUIRED: u64 = 10;
const SHARE_MULTI: u64 = 3;
const PPLNS_FEE: Bps = Bps(150);
const PPS_FEE: Bps = Bps(500);
const SOLO_FEE: Bps = Bps(50);
/// `payout.devDonation`: this share of every fee goes to the dev address.
const DEV_DONATION: Bps = Bps(1_000);
/// The LMDB map every process opens (the test reads the same environment).
const MAP_SIZE_MB: usize = 64;

/// A role of the `rxpool` binary running as a child process; killed if the test fails.
struct Role {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Role {
    fn spawn(config: &Path, name: &'static str, log: PathBuf) -> Role {
        let file = std::fs::File::create(&log).expect("role log");
        let child = Command::new(env!("CARGO_BIN_EXE_rxpool"))
            .arg("--config")
            .arg(config)
            .arg(name)
            .env("RUST_LOG", "info")
            .env_remove("RXPOOL_FAILPOINT")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn rxpool {name}: {e}"));
        Role { name, child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the role's log.
    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Panics with the role's log if it has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "{} exited early ({status}):\n{}",
                self.name,
                self.log_text()
            );
        }
    }

    /// SIGTERM, then waits for a clean exit.
    async fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} did not stop cleanly ({status}):\n{}",
                    self.name,
                    self.log_text()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} ignored SIGTERM:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn open_store(path: &Path) -> std::sync::Arc<ShareStore> {
    ShareStore::open(&StoreOptions {
        map_size: MAP_SIZE_MB << 20,
        ..StoreOptions::new(path)
    })
    .expect("open the pool's LMDB")
}

/// One share as the test reads it back from LMDB.
#[derive(Debug, Clone)]
struct StoredShare {
    height: Height,
    miner: String,
    difficulty: u64,
    pool_type: PoolType,
}

/// Everything in the share store, read from one snapshot: shares newest first (the order
/// the store yields them: heights descending, time descending within a height) and blocks.
fn read_store(store: &ShareStore) -> (Vec<StoredShare>, Vec<Block>) {
    let snap = store.read().unwrap();
    let mut shares = Vec::new();
    for item in snap
        .shares_in(Height(0)..=Height(u64::from(u32::MAX)))
        .unwrap()
    {
        let (height, rec) = item.unwrap();
        shares.push(StoredShare {
            height,
            miner: snap.miner(rec.miner()).unwrap().unwrap().to_owned(),
            difficulty: rec.difficulty(),
            pool_type: rec.pool_type().unwrap(),
        });
    }
    let blocks = snap.blocks_in(Height(0)..=Height(u64::MAX >> 1)).unwrap();
    (shares, blocks)
}

/// The balance owner of a stored payout key: `address` or `address.paymentid`.
fn owner(key: &str) -> (String, String) {
    match key.split_once('.') {
        Some((address, pid)) => (address.to_owned(), pid.to_owned()),
        None => (key.to_owned(), String::new()),
    }
}

/// Expected balances: (address, payment id, balance type) → atomic units.
type Balances = BTreeMap<(String, String, String), u64>;

struct Fees {
    fee_address: String,
    dev_address: String,
}

impl Fees {
    /// Credits `fee` atomic units of fee income: the dev donation (rounded down), the rest to
    /// the fee address (whose line exists even at zero).
    fn credit(&self, out: &mut Balances, fee: u64) {
        let dev = (u128::from(fee) * u128::from(DEV_DONATION.0) / 10_000) as u64;
        add(out, (&self.dev_address, ""), "fees", dev);
        add(out, (&self.fee_address, ""), "fees", fee - dev);
    }
}

fn add(out: &mut Balances, (address, pid): (&str, &str), ty: &str, amount: u64) {
    let line = out
        .entry((address.to_owned(), pid.to_owned(), ty.to_owned()))
        .or_insert(0);
    *line += amount;
}

/// `amount × bps / 10 000`, rounded down.
fn part(amount: u64, bps: Bps) -> u64 {
    (u128::from(amount) * u128::from(bps.0) / 10_000) as u64
}

/// The split the block manager must have credited, recomputed from the store, the chain and
/// the fee settings: PPLNS blocks over their window (newest shares first, the crossing share
/// cut to fit), solo blocks to their finder, PPS shares per chain height at the height's base
/// reward over its difficulty; orphaned blocks credit nothing. Also returns the blocks on
/// the chain per pool type.
async fn expected_split(
    daemon: &DaemonClient,
    shares: &[StoredShare],
    blocks: &[Block],
    fees: &Fees,
) -> (Balances, BTreeMap<PoolType, usize>) {
    let mut out = Balances::new();
    let mut on_chain = BTreeMap::new();
    for block in blocks {
        let height = block.record.height;
        // A candidate above the tip (recorded before its submission) is not on the chain.
        let on_chain_here = daemon.block_header_by_height(height, false).await.unwrap();
        let Some(header) = on_chain_here else {
            continue;
        };
        if header.hash != block.record.hash {
            continue; // orphaned: credits nothing
        }
        *on_chain.entry(block.record.pool_type).or_insert(0) += 1;
        let reward = header.reward.0;
        match block.record.pool_type {
            PoolType::Pps => {} // paid per height below
            PoolType::Solo => {
                let miner = reward - part(reward, SOLO_FEE);
                let (address, pid) = owner(&block.miner);
                add(&mut out, (&address, &pid), "solo", miner);
                fees.credit(&mut out, reward - miner);
            }
            PoolType::Pplns => {
                let wanted = header.difficulty.0 * u128::from(SHARE_MULTI);
                let mut filled = 0u128;
                let mut per_miner: BTreeMap<&str, u128> = BTreeMap::new();
                for s in shares.iter().filter(|s| s.height <= height) {
                    if s.pool_type != PoolType::Pplns || filled == wanted {
                        continue;
                    }
                    let counted = u128::from(s.difficulty).min(wanted - filled);
                    *per_miner.entry(&s.miner).or_insert(0) += counted;
                    filled += counted;
                }
                assert!(filled > 0, "a found PPLNS block has at least its own share");
                let pot = reward - part(reward, PPLNS_FEE);
                let mut paid = 0u64;
                for (key, d) in per_miner {
                    let amount = (u128::from(pot) * d / filled) as u64;
                    let (address, pid) = owner(key);
                    add(&mut out, (&address, &pid), "pplns", amount);
                    paid += amount;
                }
                fees.credit(&mut out, reward - paid);
            }
        }
    }
    let mut pps: BTreeMap<Height, BTreeMap<&str, u128>> = BTreeMap::new();
    for s in shares.iter().filter(|s| s.pool_type == PoolType::Pps) {
        *pps.entry(s.height)
            .or_default()
            .entry(&s.miner)
            .or_insert(0) += u128::from(s.difficulty);
    }
    for (height, miners) in pps {
        let header = daemon
            .block_header_by_height(height, false)
            .await
            .unwrap()
            .expect("chain block at a PPS share height");
        let (mut gross_total, mut net_total) = (0u64, 0u64);
        for (key, d) in miners {
            let gross = (u128::from(header.reward.0) * d / header.difficulty.0) as u64;
            let net = gross - part(gross, PPS_FEE);
            let (address, pid) = owner(key);
            add(&mut out, (&address, &pid), "pps", net);
            gross_total += gross;
            net_total += net;
        }
        fees.credit(&mut out, gross_total - net_total);
    }
    out.retain(|(address, _, ty), amount| {
        *amount > 0 || (ty == "fees" && *address == fees.fee_address)
    });
    (out, on_chain)
}

/// The whole `balance` table.
async fn balances(db: &MySqlPool) -> Balances {
    sqlx::query(
        "SELECT payment_address, payment_id, pool_type, CAST(amount AS UNSIGNED) AS amount FROM balance",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            (
                r.get::<String, _>("payment_address"),
                r.get::<String, _>("payment_id"),
                r.get::<String, _>("pool_type"),
            ),
            r.get::<u64, _>("amount"),
        )
    })
    .collect()
}

async fn set(db: &MySqlPool, item: &str, value: &str) {
    mysql::set_setting(db, item, value)
        .await
        .unwrap_or_else(|e| panic!("{item} = {value}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_mine_through_the_pool_and_every_payee_is_credited_and_paid_to_the_atomic_unit() {
    let started = Instant::now();
    let phase = |what: &str| eprintln!("[{:>7.1?}] {what}", started.elapsed());
    // 30 coinbase outputs (~530 XMR) for the pool wallet, unlocked by the time payments run
    // (the pool's own finds are still locked then), then other blocks; more follow before
    // payments, for ring members.
    let chain = Chain::start_with(
        MonerodOptions {
            fixed_difficulty: NETWORK_DIFFICULTY,
        },
        30,
        30,
    )
    .await;
    phase("chain ready");
    let daemon = DaemonClient::new(&[chain.daemon_url()]).unwrap();
    let (db, url) = common::database_with_url("pipeline").await;
    phase("database ready");
    let wallets = chain
        .receivers(&["alice", "bob", "carol", "dave", "erin", "fees", "dev"])
        .await;
    let alice = wallets[0].standard.clone();
    let (bob_sub, bob_minor) = chain.subaddress(&wallets[1]).await;
    let (carol_int, carol_pid) = chain.integrated(&wallets[2]).await;
    let dave = wallets[3].standard.clone();
    let dave_pid = "00000000deadbeef";
    // What dave's wallet's `make_integrated_address` gives for that id: his payee.
    chain.recv.open_wallet(&wallets[3].name, "").await.unwrap();
    let (dave_int, made_pid) = chain
        .recv
        .make_integrated_address(Some([0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]))
        .await
        .unwrap();
    assert_eq!(made_pid, dave_pid);
    let erin = wallets[4].standard.clone();
    let fees = Fees {
        fee_address: wallets[5].standard.clone(),
        dev_address: wallets[6].standard.clone(),
    };
    assert_eq!(bob_minor, 1);

    // Shared settings, as `rxpool admin config set` writes them.
    for (item, value) in [
        ("pool.address", chain.pool_address.as_str()),
        ("pool.minDifficulty", "1"),
        ("payout.feeAddress", &fees.fee_address),
        ("payout.devAddress", &fees.dev_address),
        ("payout.devDonation", "10"),
        ("payout.pplnsFee", "1.5"),
        ("payout.ppsFee", "5"),
        ("payout.soloFee", "0.5"),
        ("payout.blocksRequired", &BLOCKS_REQUIRED.to_string()),
        ("pplns.shareMulti", &SHARE_MULTI.to_string()),
        ("pps.enable", "true"),
        // Payouts: pay every credited balance whole (no denomination dust, no fee reserve).
        ("payout.walletMin", "0.01"),
        ("payout.exchangeMin", "0.01"),
        ("payout.denom", "0.000000000001"),
        ("payout.feesForTXN", "0"),
        ("payout.confirmations", "2"),
    ] {
        set(&db, item, value).await;
    }
    // Only the three ports of this test (the migrations seed nodejs-pool's defaults).
    sqlx::query("DELETE FROM port_config")
        .execute(&db)
        .await
        .unwrap();
    let mut ports = BTreeMap::new();
    for (pool_type, difficulty) in [
        (PoolType::Pplns, 1),
        (PoolType::Pps, 1),
        (PoolType::Solo, 2),
    ] {
        let port = free_port().unwrap();
        mysql::registry::upsert_port(
            &db,
            &PortConfig {
                port,
                difficulty,
                description: format!("{pool_type:?}"),
                pool_type,
                hidden: false,
                tls: false,
            },
        )
        .await
        .unwrap();
        ports.insert(pool_type, port);
    }

    let dir = tempfile::tempdir().unwrap();
    let lmdb = dir.path().join("lmdb");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[mysql]
url = "{url}"
[lmdb]
path = "{lmdb}"
map_size_mb = {MAP_SIZE_MB}
[daemon]
urls = ["{daemon}"]
template_poll_ms = 200
[wallet]
url = "{wallet}"
[pool]
bind = "127.0.0.1"
pool_id = 1
hostname = "pipeline"
[pow]
randomx_mode = "light"
verifier_threads = 1
"#,
            lmdb = lmdb.display(),
            daemon = chain.daemon_url(),
            wallet = chain.pool_wallet_url(),
        ),
    )
    .unwrap();

    // The pool, and miners on every port until the chain holds blocks of each type.
    phase("chain, wallets and settings ready; starting the pool");
    let mut pool = Role::spawn(&config, "pool", dir.path().join("pool.log"));
    let pplns = ports[&PoolType::Pplns];
    let pps = ports[&PoolType::Pps];
    let solo = ports[&PoolType::Solo];
    let specs = [
        (format!("{alice}+1"), "alice-rig1", pplns),
        (format!("{alice}+2"), "alice-rig2", pplns),
        (format!("{bob_sub}+1"), "bob", pplns),
        (format!("{carol_int}+2"), "carol", pplns),
        (format!("{dave}.{dave_pid}+1"), "dave", pplns),
        (format!("{alice}+1"), "alice-pps", pps),
        (format!("{bob_sub}+2"), "bob-pps", pps),
        (erin.clone(), "erin-solo", solo),
    ];
    for (_, _, port) in &specs {
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", *port))
            .await
            .is_err()
        {
            pool.assert_running();
            assert!(
                Instant::now() < deadline,
                "port {port} never opened:\n{}",
                pool.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let verifier = Verifier::new(VerifierConfig::light(1));
    let stop = CancellationToken::new();
    let mut miners = Vec::new();
    for (login, pass, port) in specs {
        miners.push(tokio::spawn(miner::mine(
            MinerSpec {
                login,
                pass: pass.to_owned(),
                port,
            },
            verifier.clone(),
            Difficulty(u128::from(NETWORK_DIFFICULTY)),
            stop.clone(),
        )));
    }
    let store = open_store(&lmdb);
    let deadline = Instant::now() + Duration::from_secs(180);
    let found = loop {
        pool.assert_running();
        let blocks = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || read_store(&store).1)
                .await
                .unwrap()
        };
        let mut on_chain: BTreeMap<PoolType, usize> = BTreeMap::new();
        for b in &blocks {
            if on_chain_hash(&daemon, b.record.height).await == Some(b.record.hash) {
                *on_chain.entry(b.record.pool_type).or_insert(0) += 1;
            }
        }
        let n = |t| on_chain.get(&t).copied().unwrap_or(0);
        if n(PoolType::Pplns) >= 2 && n(PoolType::Pps) >= 1 && n(PoolType::Solo) >= 1 {
            break on_chain;
        }
        assert!(
            Instant::now() < deadline,
            "no blocks of every type ({on_chain:?} of {} recorded):\n{}",
            blocks.len(),
            pool.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.cancel();
    let mut reports = Vec::new();
    for m in miners {
        reports.push(m.await.expect("miner task"));
    }
    pool.assert_running();
    pool.stop().await;
    for r in &reports {
        assert!(r.accepted > 0, "{} got no share in: {r:?}", r.login);
    }
    eprintln!("blocks on chain by type when mining stopped: {found:?}; miners: {reports:?}");

    phase("mining stopped, pool stopped");
    // Bury the blocks; PPS heights need half that depth.
    let (shares, blocks) = read_store(&store);
    let top = shares
        .iter()
        .map(|s| s.height)
        .chain(blocks.iter().map(|b| b.record.height))
        .max()
        .unwrap();
    let tip = daemon.last_block_header(false).await.unwrap().height;
    chain
        .mine(BLOCKS_REQUIRED + 1 + top.0.saturating_sub(tip.0))
        .await;
    for b in &blocks {
        assert_eq!(
            b.record.status,
            BlockStatus::Pending,
            "nothing credited yet"
        );
    }

    let (expected, on_chain) = expected_split(&daemon, &shares, &blocks, &fees).await;
    assert!(
        on_chain.len() == 3 && on_chain[&PoolType::Pplns] >= 2,
        "blocks of every type stay on the chain: {on_chain:?}"
    );

    phase("blocks buried; starting the block manager");
    let mut block_manager = Role::spawn(&config, "block-manager", dir.path().join("bm.log"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        block_manager.assert_running();
        let pending = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                let snap = store.read().unwrap();
                snap.blocks_with_status(BlockStatus::Pending).unwrap().len()
            })
            .await
            .unwrap()
        };
        let cursor = credits::cursor(&db, "pps").await.unwrap();
        if pending == 0 && cursor.is_some_and(|c| c > top) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "block-manager did not finish ({pending} pending, pps cursor {cursor:?}):\n{}",
            block_manager.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    block_manager.stop().await;
    phase("block manager done");

    let (_, decided) = read_store(&store);
    for b in &decided {
        let want = if on_chain_hash(&daemon, b.record.height).await == Some(b.record.hash) {
            BlockStatus::Unlocked
        } else {
            BlockStatus::Orphaned
        };
        assert_eq!(b.record.status, want, "{b:?}");
    }
    let credited = balances(&db).await;
    assert_eq!(
        credited, expected,
        "balances differ from the expected split"
    );
    // Every kind of payee was credited.
    for (address, pid, ty) in [
        (&alice, "", "pplns"),
        (&alice, "", "pps"),
        (&bob_sub, "", "pplns"),
        (&carol_int, "", "pplns"),
        (&dave_int, "", "pplns"),
        (&erin, "", "solo"),
        (&fees.fee_address, "", "fees"),
        (&fees.dev_address, "", "fees"),
    ] {
        let key = (address.clone(), pid.to_owned(), ty.to_owned());
        assert!(
            credited.get(&key).is_some_and(|a| *a > 0),
            "{key:?} not credited"
        );
    }
    let owed: u64 = credited.values().sum();
    assert_eq!(credits::owed_total(&db).await.unwrap(), Atomic(owed));

    // Payments: ring members need about 100 blocks, and the pool wallet's first outputs
    // must be unlocked (60 deep).
    let tip = daemon.last_block_header(false).await.unwrap().height;
    chain.mine(100u64.saturating_sub(tip.0).max(1)).await;
    let rows = balance_rows(&db).await;
    phase("starting payments");
    let mut payments = Role::spawn(&config, "payments", dir.path().join("payments.log"));
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        payments.assert_running();
        let live = payouts::live(&db).await.unwrap();
        let mut unpaid = Vec::new();
        for r in balance_rows(&db).await {
            if r.amount > 0 {
                unpaid.push(r);
            }
        }
        if live.is_empty()
            && unpaid.is_empty()
            && !payouts::list(&db, &[], 1).await.unwrap().is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "payouts not settled: live {live:?}, unpaid {unpaid:?}:\n{}",
            payments.log_tail()
        );
        // Confirmations come from new blocks; the role runs a cycle on request.
        chain.mine(1).await;
        payouts::request_run(&db).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    payments.stop().await;
    phase("payments settled");

    // Nothing is set aside: every login form is payable.
    let aside = payouts::set_aside_list(&db).await.unwrap();
    assert!(aside.is_empty(), "{aside:?}");

    // Each receiving wallet saw exactly the balances credited to its addresses.
    let wallet_of = |address: &str| {
        [
            (&alice, 0),
            (&bob_sub, 1),
            (&carol_int, 2),
            (&dave_int, 3),
            (&erin, 4),
            (&fees.fee_address, 5),
            (&fees.dev_address, 6),
        ]
        .into_iter()
        .find(|(a, _)| a.as_str() == address)
        .map(|(_, w)| w)
        .unwrap_or_else(|| panic!("a balance for an unknown address {address}"))
    };
    let mut want: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for r in &rows {
        want.entry(wallet_of(&r.address))
            .or_default()
            .push(r.amount);
    }
    let mut by_tx: BTreeMap<String, Vec<(usize, u64)>> = BTreeMap::new();
    for (w, wallet) in wallets.iter().enumerate() {
        let seen = chain.received(wallet).await;
        let mut got: Vec<u64> = seen.iter().map(|t| t.amount).collect();
        got.sort_unstable();
        let mut expected = want.get(&w).cloned().unwrap_or_default();
        expected.sort_unstable();
        assert_eq!(got, expected, "wallet {} received {seen:?}", wallet.name);
        for t in &seen {
            match w {
                1 => assert_eq!(
                    t.subaddr_minor,
                    u64::from(bob_minor),
                    "bob is paid to his subaddress"
                ),
                2 => assert_eq!(t.payment_id, carol_pid, "carol's payment id arrives"),
                3 => assert_eq!(t.payment_id, dave_pid, "dave's payment id arrives"),
                _ => assert_eq!(t.subaddr_minor, 0),
            }
            by_tx.entry(t.txid.clone()).or_default().push((w, t.amount));
        }
    }
    assert_eq!(want.len(), 7, "every wallet is paid");
    // The payment-ID payees as a merchant's wallet sees them: by payment ID.
    for (w, pid) in [(2, carol_pid.as_str()), (3, dave_pid)] {
        let by_id = chain.payments_with_id(&wallets[w], pid).await;
        let mut got: Vec<u64> = by_id.iter().map(|(_, amount)| *amount).collect();
        got.sort_unstable();
        let mut expected = want[&w].clone();
        expected.sort_unstable();
        assert_eq!(got, expected, "get_payments {pid} of wallet {w}");
    }

    // MySQL's payments and transactions match the chain: one payments row per paid balance,
    // in a confirmed transaction whose hash the receiving wallet saw with that amount, mined.
    let paid = sqlx::query(
        "SELECT pm.payment_address, pm.payment_id, pm.pool_type, \
                CAST(pm.amount AS UNSIGNED) AS amount, t.transaction_hash, t.confirmed \
         FROM payments pm JOIN transactions t ON t.id = pm.transaction_id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(paid.len(), rows.len(), "one payment per paid balance");
    for row in &paid {
        let address: String = row.get("payment_address");
        let amount: u64 = row.get("amount");
        let hash: String = row.get("transaction_hash");
        let credited = rows
            .iter()
            .find(|r| {
                r.address == address
                    && r.payment_id == row.get::<String, _>("payment_id")
                    && r.pool_type == row.get::<String, _>("pool_type")
            })
            .expect("a payment for a credited balance");
        assert_eq!(amount, credited.amount, "{address} paid its whole balance");
        assert!(
            by_tx
                .get(&hash)
                .is_some_and(|seen| seen.contains(&(wallet_of(&address), amount))),
            "{hash} paying {amount} to {address} was not seen by its wallet"
        );
        assert!(row.get::<bool, _>("confirmed"), "{hash} confirmed in MySQL");
    }
    let hashes: Vec<String> = paid.iter().map(|r| r.get("transaction_hash")).collect();
    let txs = chain
        .daemon_other(
            "get_transactions",
            serde_json::json!({"txs_hashes": hashes}),
        )
        .await;
    for tx in txs["txs"].as_array().expect("txs") {
        assert_eq!(tx["in_pool"], false, "{tx}");
        assert!(tx["block_height"].as_u64().unwrap() > 0, "{tx}");
    }
    assert!(
        txs["missed_tx"].is_null() || txs["missed_tx"].as_array().unwrap().is_empty(),
        "{txs}"
    );
    let totals = payouts::pool_totals(&db).await.unwrap();
    assert_eq!(totals.paid, Atomic(owed));
    phase("done");
}

/// One `balance` row.
#[derive(Debug, Clone)]
struct BalanceRow {
    address: String,
    payment_id: String,
    pool_type: String,
    amount: u64,
}

async fn balance_rows(db: &MySqlPool) -> Vec<BalanceRow> {
    sqlx::query(
        "SELECT id, payment_address, payment_id, pool_type, CAST(amount AS UNSIGNED) AS amount \
         FROM balance ORDER BY id",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| BalanceRow {
        address: r.get("payment_address"),
        payment_id: r.get("payment_id"),
        pool_type: r.get("pool_type"),
        amount: r.get("amount"),
    })
    .collect()
}

/// The hash of the chain's block at `height`; `None` above the tip (a found block is recorded
/// as a candidate before it is submitted, so its height may not be on the chain yet, or ever).
async fn on_chain_hash(daemon: &DaemonClient, height: Height) -> Option<Hash32> {
    daemon
        .block_header_by_height(height, false)
        .await
        .unwrap()
        .map(|header| header.hash)
}
