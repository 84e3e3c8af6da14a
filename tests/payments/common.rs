//! Shared set-up for the payments tests: a fresh database per test, a regtest chain with a
//! funded pool wallet, receiving wallets in a second wallet-rpc, and balance seeding.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use rxpool::devnet::{MariaDb, Monerod, MonerodOptions, WalletRpc};
use rxpool::domain::{Atomic, BalanceType, Network};
use rxpool::monero::wallet::{Wallet, WalletClient};
use rxpool::payments::planner::{FeePolicy, PayoutPolicy};
use rxpool::payments::processor::{Processor, ProcessorConfig};
use rxpool::store::mysql::{self, payouts};
use sqlx::{MySqlPool, Row};

pub fn xmr(text: &str) -> Atomic {
    Atomic::from_xmr_str(text).expect("xmr amount")
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique(name: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{name}_{}_{n}", std::process::id())
}

/// A fresh database on the shared throwaway MariaDB, every migration applied. Returns the
/// pool and its URL (for child processes).
pub async fn database_with_url(name: &str) -> (MySqlPool, String) {
    let server = MariaDb::shared().await.expect("mariadb");
    let url = server.create_database(name).await.expect("create database");
    let pool = mysql::connect(&url).await.expect("connect");
    mysql::migrate(&pool).await.expect("migrate");
    (pool, url)
}

/// A fresh database with every migration applied.
pub async fn database(name: &str) -> MySqlPool {
    database_with_url(name).await.0
}

/// A batch item paying all of `gross` to `address` (its own destination) from balance `id`.
pub fn item(id: u64, address: &str, gross: Atomic) -> payouts::NewItem {
    payouts::NewItem {
        balance_id: id,
        address: address.to_owned(),
        payment_id: String::new(),
        balance_type: BalanceType::Pplns,
        destination: address.to_owned(),
        gross,
        fee: Atomic::ZERO,
        net: gross,
    }
}

/// A signed-tx record with hash `byte` repeated, tiny metadata and no key.
pub fn signed_record(byte: &str) -> payouts::SignedRecord {
    payouts::SignedRecord {
        tx_hash: byte.repeat(32).parse().unwrap(),
        tx_metadata: "00".to_owned(),
        tx_key: payouts::TxKey::default(),
        network_fee: Atomic(1),
    }
}

/// Inserts a balance row the way the block manager credits one; returns its id.
pub async fn seed_balance(
    db: &MySqlPool,
    address: &str,
    payment_id: &str,
    ty: BalanceType,
    amount: Atomic,
) -> u64 {
    let done = sqlx::query(
        "INSERT INTO balance (payment_address, payment_id, pool_type, amount) VALUES (?, ?, ?, ?)",
    )
    .bind(address)
    .bind(payment_id)
    .bind(ty.as_str())
    .bind(amount.0)
    .execute(db)
    .await
    .expect("seed balance");
    done.last_insert_id()
}

pub async fn balance(db: &MySqlPool, id: u64) -> Atomic {
    let row = sqlx::query("SELECT CAST(amount AS UNSIGNED) AS amount FROM balance WHERE id = ?")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("balance row");
    Atomic(row.get::<u64, _>("amount"))
}

pub async fn credit(db: &MySqlPool, id: u64, amount: Atomic) {
    sqlx::query("UPDATE balance SET amount = amount + ? WHERE id = ?")
        .bind(amount.0)
        .bind(id)
        .execute(db)
        .await
        .expect("credit");
}

fn key(n: u8) -> monero::PublicKey {
    let mut bytes = [0u8; 32];
    bytes[0] = n;
    monero::PublicKey::from_private_key(&monero::PrivateKey::from_slice(&bytes).unwrap())
}

/// A well-formed testnet address: refused on this (mainnet-prefix) chain.
pub fn testnet_address() -> String {
    monero::Address::standard(monero::Network::Testnet, key(3), key(4)).to_string()
}

/// A receiving wallet in the second wallet-rpc.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub standard: String,
}

/// One incoming transfer as the receiving wallet sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub txid: String,
    pub amount: u64,
    pub payment_id: String,
    pub subaddr_minor: u64,
}

/// A regtest chain with a funded pool wallet and a wallet-rpc for receivers.
pub struct Chain {
    pub pool_wallet: WalletClient,
    pub recv: WalletClient,
    pub pool_address: String,
    _daemon: Monerod,
    pool_rpc: WalletRpc,
    _recv_rpc: WalletRpc,
    daemon_url: String,
    recv_url: String,
}

impl Chain {
    /// Its own regtest daemon (tests mine a lot; a shared chain would make them wait on each
    /// other), a funded pool wallet and a wallet-rpc for receivers.
    pub async fn start() -> Chain {
        // Coinbase unlocks after 60 blocks; ring members need ~100 outputs on the chain.
        Chain::start_with(MonerodOptions::default(), 40, 80).await
    }

    /// As [`Chain::start`] on a daemon started with `options`: `pool_blocks` mined to the pool
    /// wallet, then `other_blocks` to a burn address.
    pub async fn start_with(options: MonerodOptions, pool_blocks: u64, other_blocks: u64) -> Chain {
        let daemon = Monerod::start(options).await.expect("monerod");
        let pool_rpc = WalletRpc::start(&daemon, Network::Mainnet)
            .await
            .expect("pool wallet-rpc");
        let recv_rpc = WalletRpc::start(&daemon, Network::Mainnet)
            .await
            .expect("receiver wallet-rpc");
        let pool_wallet = WalletClient::new(&pool_rpc.rpc_url()).unwrap();
        let recv = WalletClient::new(&recv_rpc.rpc_url()).unwrap();
        pool_wallet
            .create_wallet("pool", "")
            .await
            .expect("pool wallet");
        let pool_address = pool_wallet.get_address().await.unwrap();
        let chain = Chain {
            pool_wallet,
            recv,
            pool_address,
            daemon_url: daemon.rpc_url(),
            recv_url: recv_rpc.rpc_url(),
            _daemon: daemon,
            pool_rpc,
            _recv_rpc: recv_rpc,
        };
        chain
            .mine_to(&chain.pool_address.clone(), pool_blocks)
            .await;
        chain.mine(other_blocks).await;
        chain
    }

    pub fn daemon_url(&self) -> String {
        self.daemon_url.clone()
    }

    /// Kills the pool's wallet-rpc (its files go with it) and brings the same wallet back in a
    /// new wallet-rpc restored from its seed, which rescans the chain: the harshest restart.
    /// Returns while the old one is down if `while_down` needs to observe that state.
    pub async fn replace_pool_wallet_rpc(&mut self) {
        let seed = self
            .rpc(
                &self.pool_rpc.rpc_url(),
                "query_key",
                serde_json::json!({"key_type": "mnemonic"}),
            )
            .await["key"]
            .as_str()
            .expect("mnemonic")
            .to_owned();
        let daemon_address = self.daemon_url.trim_start_matches("http://").to_owned();
        let fresh = WalletRpc::start_for(&daemon_address, Network::Mainnet)
            .await
            .expect("new wallet-rpc");
        // The old process is killed here (dropped); the new one restores the wallet.
        self.pool_rpc = fresh;
        self.rpc(
            &self.pool_rpc.rpc_url(),
            "restore_deterministic_wallet",
            serde_json::json!({"filename": "pool", "password": "", "seed": seed, "restore_height": 0}),
        )
        .await;
        self.pool_wallet = WalletClient::new(&self.pool_rpc.rpc_url()).unwrap();
        self.pool_wallet
            .refresh()
            .await
            .expect("restored wallet refresh");
    }

    /// Writes a `config.toml` in `dir` for a payments child process on `mysql_url`, this
    /// chain's daemon and the pool wallet-rpc; returns its path.
    pub fn payments_config(&self, dir: &std::path::Path, mysql_url: &str) -> std::path::PathBuf {
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[mysql]\nurl = \"{mysql_url}\"\n[lmdb]\npath = \"{lmdb}\"\n[daemon]\nurls = [\"{daemon}\"]\n\
                 [wallet]\nurl = \"{wallet}\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"test\"\n",
                lmdb = dir.join("lmdb").display(),
                daemon = self.daemon_url(),
                wallet = self.pool_wallet_url(),
            ),
        )
        .expect("write config.toml");
        config
    }

    /// The pool wallet-rpc's URL (for a payments child process).
    pub fn pool_wallet_url(&self) -> String {
        self.pool_rpc.rpc_url()
    }

    /// One of the daemon's plain JSON endpoints (`/get_transactions`, ...), not JSON-RPC.
    pub async fn daemon_other(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("{}/{path}", self.daemon_url))
            .json(&body)
            .send()
            .await
            .expect("daemon send")
            .json()
            .await
            .expect("daemon json")
    }

    /// A raw JSON-RPC call to `url` (a daemon or a wallet-rpc); panics on an error answer.
    pub async fn rpc(
        &self,
        url: &str,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": method, "params": params});
        let reply: serde_json::Value = reqwest::Client::new()
            .post(format!("{url}/json_rpc"))
            .json(&body)
            .send()
            .await
            .expect("rpc send")
            .json()
            .await
            .expect("rpc json");
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    async fn mine_to(&self, address: &str, n: u64) {
        self.rpc(
            &self.daemon_url,
            "generateblocks",
            serde_json::json!({"amount_of_blocks": n, "wallet_address": address}),
        )
        .await;
    }

    /// Mines `n` blocks (to a burn address) and lets the pool wallet see them.
    pub async fn mine(&self, n: u64) {
        let burn = monero::Address::standard(monero::Network::Mainnet, key(5), key(6)).to_string();
        self.mine_to(&burn, n).await;
        self.pool_wallet.refresh().await.expect("pool refresh");
    }

    pub async fn receivers(&self, names: &[&str]) -> Vec<Receiver> {
        let mut out = Vec::new();
        for name in names {
            let name = unique(name);
            self.recv
                .create_wallet(&name, "")
                .await
                .expect("receiver wallet");
            let standard = self.recv.get_address().await.unwrap();
            out.push(Receiver { name, standard });
        }
        out
    }

    pub async fn subaddress(&self, r: &Receiver) -> (String, u32) {
        self.recv.open_wallet(&r.name, "").await.unwrap();
        self.recv.create_address("payout").await.unwrap()
    }

    pub async fn integrated(&self, r: &Receiver) -> (String, String) {
        self.recv.open_wallet(&r.name, "").await.unwrap();
        self.recv.make_integrated_address(None).await.unwrap()
    }

    /// Incoming transfers (confirmed and in the pool) of a receiving wallet.
    pub async fn received(&self, r: &Receiver) -> Vec<Received> {
        self.recv.open_wallet(&r.name, "").await.unwrap();
        self.recv.refresh().await.unwrap();
        let result = self
            .rpc(
                &self.recv_url,
                "get_transfers",
                serde_json::json!({"in": true, "pool": true}),
            )
            .await;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for kind in ["in", "pool"] {
            for t in result[kind].as_array().cloned().unwrap_or_default() {
                let txid = t["txid"].as_str().unwrap().to_owned();
                let minor = t["subaddr_index"]["minor"].as_u64().unwrap_or(0);
                if !seen.insert((txid.clone(), minor)) {
                    continue;
                }
                out.push(Received {
                    txid,
                    amount: t["amount"].as_u64().unwrap(),
                    payment_id: t["payment_id"]
                        .as_str()
                        .unwrap_or("")
                        .trim_end_matches("000000000000000000000000000000000000000000000000")
                        .to_owned(),
                    subaddr_minor: minor,
                });
            }
        }
        out
    }

    /// What a receiving wallet reports for one payment ID, as a merchant's software asks:
    /// `get_payments` (mined payments with that ID), checked to agree with
    /// `get_bulk_payments`; (txid, amount) pairs.
    pub async fn payments_with_id(&self, r: &Receiver, payment_id: &str) -> Vec<(String, u64)> {
        self.recv.open_wallet(&r.name, "").await.unwrap();
        self.recv.refresh().await.unwrap();
        let pairs = |result: serde_json::Value| {
            let mut out: Vec<(String, u64)> = result["payments"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    assert!(
                        p["payment_id"].as_str().unwrap().starts_with(payment_id),
                        "{p}"
                    );
                    (
                        p["tx_hash"].as_str().unwrap().to_owned(),
                        p["amount"].as_u64().unwrap(),
                    )
                })
                .collect();
            out.sort();
            out
        };
        let single = pairs(
            self.rpc(
                &self.recv_url,
                "get_payments",
                serde_json::json!({"payment_id": payment_id}),
            )
            .await,
        );
        let bulk = pairs(
            self.rpc(
                &self.recv_url,
                "get_bulk_payments",
                serde_json::json!({"payment_ids": [payment_id], "min_block_height": 0}),
            )
            .await,
        );
        assert_eq!(single, bulk, "get_payments and get_bulk_payments agree");
        single
    }

    /// A new receiver `name` owed `amount`, paid by one cycle: the receiver, its balance id
    /// and the relayed batch.
    pub async fn pay_one(
        &self,
        db: &MySqlPool,
        name: &str,
        amount: Atomic,
    ) -> (Receiver, u64, payouts::BatchRow) {
        let payee = self.receivers(&[name]).await.remove(0);
        let id = seed_balance(db, &payee.standard, "", BalanceType::Pplns, amount).await;
        let processor = self.processor(db, FeePolicy::PoolPaysNetworkFee);
        let report = processor.run_cycle().await.expect("cycle");
        assert_eq!(report.batches_sent, 1, "{report:?}");
        let batch = payouts::list(db, &[rxpool::payments::batch::BatchStatus::Relayed], 10)
            .await
            .unwrap()
            .remove(0);
        (payee, id, batch)
    }

    pub fn processor(&self, db: &MySqlPool, fee_policy: FeePolicy) -> Processor<WalletClient> {
        Processor::new(
            db.clone(),
            self.pool_wallet.clone(),
            processor_config(fee_policy),
        )
    }
}

/// The payout rules the tests use: 0.3 XMR minimum, 5 XMR for singles, micro-XMR
/// denomination, 10 confirmations.
pub fn processor_config(fee_policy: FeePolicy) -> ProcessorConfig {
    ProcessorConfig {
        policy: PayoutPolicy {
            wallet_min: xmr("0.3"),
            exchange_min: xmr("5"),
            denomination: xmr("0.000001"),
            fee_policy,
            fee_address: None,
            fee_reserve: xmr("10"),
            exchange_addresses: HashSet::new(),
            max_destinations: 15,
        },
        network: Network::Mainnet,
        confirmations: 10,
        priority: 0,
    }
}

/// `rxpool payments` as a child process with `failpoint` armed (or none), against `config`.
pub fn spawn_payments(
    config: &std::path::Path,
    failpoint: Option<&str>,
    log: &std::path::Path,
) -> std::process::Child {
    let log = std::fs::File::create(log).expect("child log");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rxpool"));
    command
        .arg("--config")
        .arg(config)
        .arg("payments")
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    match failpoint {
        Some(point) => command.env("RXPOOL_FAILPOINT", point),
        None => command.env_remove("RXPOOL_FAILPOINT"),
    };
    command.spawn().expect("spawn rxpool payments")
}

/// Runs `rxpool payments` (no fail point), asking for a cycle every second, until `done`
/// holds; then stops it with SIGTERM.
pub async fn run_payments_until<F, Fut>(
    config: &std::path::Path,
    db: &sqlx::MySqlPool,
    log: &std::path::Path,
    what: &str,
    mut done: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut child = spawn_payments(config, None, log);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done().await {
        assert!(
            child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline,
            "{what}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        payouts::request_run(db).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success(), "payments stopped cleanly");
}

/// Runs `rxpool payments` with `point` armed, asking for a cycle every 2 s, until it aborts
/// there; panics if it does not within 120 s or exits any other way.
pub async fn crash_at(
    config: &std::path::Path,
    db: &sqlx::MySqlPool,
    point: &str,
    log: &std::path::Path,
) {
    let mut child = spawn_payments(config, Some(point), log);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{point} never fired:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        payouts::request_run(db).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    assert!(!status.success(), "{point}: the process was meant to abort");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        text.contains(&format!("fail point {point}: aborting")),
        "{point} did not fire:\n{text}"
    );
}
