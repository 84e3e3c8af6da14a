//! Shared fixtures of the block-manager tests: a fresh MySQL database per test with the
//! block-manager's schema, a share store in a temp dir, and regtest chain helpers.
//!
//! Real components from `rxpool::devnet`: one MariaDB per test binary with a database per
//! test, migrated with the project's own migrations.

use std::sync::Arc;

use rxpool::block_manager::plan::{Params, Policies};
use rxpool::block_manager::split::{FeePolicy, Payee};
use rxpool::block_manager::unlocker::Unlocker;
use rxpool::devnet::MariaDb;
use rxpool::domain::{Bps, Difficulty, Hash32, Height, PoolType, SystemClock, UnixMillis};
use rxpool::monero::daemon::DaemonClient;
use rxpool::store::lmdb::{
    FoundBlock, NewShare, ShareStore, ShareWriter, StoreOptions, WriterConfig,
};
use rxpool::store::mysql;
use sqlx::{MySqlPool, Row};

/// The regtest miner address of the chain tests (mainnet prefix, as regtest uses).
pub const POOL: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

/// A standard mainnet address made from fixed keys, for blocks "someone else" mined
/// (monerod cannot mine to a subaddress).
pub fn other() -> String {
    use monero::util::key::{PrivateKey, PublicKey};
    let key = |seed: u8| PublicKey::from_private_key(&PrivateKey::from_slice(&[seed; 32]).unwrap());
    monero::Address::standard(monero::Network::Mainnet, key(1), key(2)).to_string()
}

pub async fn fresh_db() -> MySqlPool {
    fresh_db_with_url().await.0
}

/// A fresh database with every migration applied, on the MariaDB shared by this test
/// binary, and its URL (for child processes).
pub async fn fresh_db_with_url() -> (MySqlPool, String) {
    let server = MariaDb::shared().await.unwrap();
    let url = server.create_database("block_manager").await.unwrap();
    let pool = mysql::connect(&url).await.unwrap();
    mysql::migrate(&pool).await.unwrap();
    (pool, url)
}

/// A share store in a temp dir and its writer.
pub fn store() -> (tempfile::TempDir, Arc<ShareStore>, ShareWriter) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.map_size = 64 << 20;
    let store = ShareStore::open(&options).unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    (dir, store, writer)
}

/// An unlocker on the daemon at `url`.
pub fn unlocker(
    url: String,
    store: &Arc<ShareStore>,
    writer: &ShareWriter,
    mysql: &MySqlPool,
    params: &Arc<Params>,
) -> Unlocker<DaemonClient> {
    Unlocker {
        daemon: DaemonClient::new(&[url]).unwrap(),
        store: Arc::clone(store),
        writer: writer.clone(),
        mysql: mysql.clone(),
        params: Arc::clone(params),
        clock: Arc::new(SystemClock),
    }
}

/// Fee policies: pplns 0.6 %, pps 6.5 %, solo 0.4 %, 3 % of each fee donated to "dev".
pub fn params(share_multi: u64, blocks_required: u64, pps_depth: u64) -> Params {
    let policy = |bps| {
        FeePolicy::new(
            Bps(bps),
            Payee::address("fee-address"),
            vec![(Payee::address("dev-address"), Bps(300))],
        )
        .unwrap()
    };
    Params {
        blocks_required,
        share_multi,
        pps_enabled: true,
        pps_depth,
        pool_pays_network_fee: false,
        policies: Policies {
            pplns: policy(60),
            pps: policy(650),
            solo: policy(40),
        },
    }
}

pub fn share(height: u64, ms: u64, miner: &str, difficulty: u64, pool_type: PoolType) -> NewShare {
    NewShare {
        height: Height(height),
        timestamp: UnixMillis(ms),
        miner: miner.into(),
        worker: "rig".into(),
        difficulty,
        job_difficulty: difficulty,
        pool_type,
        trusted: false,
        found_block: false,
        host: 1,
    }
}

pub fn found(height: Height, hash: Hash32, pool_type: PoolType, miner: &str) -> FoundBlock {
    FoundBlock {
        height,
        hash,
        network_difficulty: Difficulty(1),
        reward: rxpool::domain::Atomic::ZERO,
        pool_type,
        miner: miner.into(),
        worker: "rig".into(),
        timestamp: UnixMillis(1),
        shares_at_find: None,
        status: rxpool::store::lmdb::BlockStatus::Pending,
        blob: Vec::new(),
    }
}

/// A balance, 0 when absent.
pub async fn balance(pool: &MySqlPool, address: &str, ty: &str) -> u64 {
    sqlx::query("SELECT amount FROM balance WHERE payment_address = ? AND pool_type = ?")
        .bind(address)
        .bind(ty)
        .fetch_optional(pool)
        .await
        .unwrap()
        .map_or(0, |r| r.get::<u64, _>("amount"))
}

pub async fn count(pool: &MySqlPool, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM {table}"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
    .get("n")
}

/// Mines one block to `address`; returns its (height, hash).
pub async fn mine(daemon: &DaemonClient, address: &str) -> (Height, Hash32) {
    use rxpool::monero::daemon::Daemon;
    let made = daemon.generate_blocks(1, address).await.unwrap();
    let hash = *made.hashes.last().unwrap();
    let header = daemon
        .block_header_by_hash(hash, false)
        .await
        .unwrap()
        .unwrap();
    (header.height, hash)
}

/// A regtest chain (difficulty 1) with the pool wallet open in a wallet-rpc.
pub struct ChainWithWallet {
    pub monerod: rxpool::devnet::Monerod,
    pub wallet_rpc: rxpool::devnet::WalletRpc,
    pub wallet: rxpool::monero::wallet::WalletClient,
    pub pool_address: String,
    pub daemon: DaemonClient,
}

pub async fn chain_with_wallet() -> ChainWithWallet {
    use rxpool::devnet::{Monerod, MonerodOptions, WalletRpc};
    use rxpool::monero::wallet::WalletClient;
    let monerod = Monerod::start(MonerodOptions::default()).await.unwrap();
    let wallet_rpc = WalletRpc::start(&monerod, rxpool::domain::Network::Mainnet)
        .await
        .unwrap();
    let wallet = WalletClient::new(&wallet_rpc.rpc_url()).unwrap();
    wallet.create_wallet("pool", "").await.unwrap();
    let pool_address = wallet.get_address().await.unwrap();
    let daemon = DaemonClient::new(&[monerod.rpc_url()]).unwrap();
    ChainWithWallet {
        monerod,
        wallet_rpc,
        wallet,
        pool_address,
        daemon,
    }
}

/// The stored record of the found block `(height, hash)`.
pub fn record_of(
    store: &ShareStore,
    height: Height,
    hash: Hash32,
) -> rxpool::store::lmdb::BlockRecord {
    store
        .read()
        .unwrap()
        .block(height, hash)
        .unwrap()
        .expect("the block is recorded")
        .record
}

/// What `rxpool admin block list` prints (the ten newest blocks, then the open issues).
pub async fn admin_list(mysql: &MySqlPool, store: &Arc<ShareStore>) -> String {
    use rxpool::admin::blocks::{self, BlockCommand};
    let cmd = BlockCommand::List {
        limit: 10,
        status: None,
    };
    blocks::run_on(cmd, mysql, store).await.unwrap()
}

/// The hash of the chain's block at `height`.
pub async fn chain_hash(daemon: &DaemonClient, height: Height) -> Hash32 {
    use rxpool::monero::daemon::Daemon;
    daemon
        .block_header_by_height(height, false)
        .await
        .unwrap()
        .expect("the chain is that high")
        .hash
}

/// The chain's reward at `height`, in atomic units.
pub async fn reward_at(daemon: &DaemonClient, height: Height) -> u64 {
    use rxpool::monero::daemon::Daemon;
    daemon
        .block_header_by_height(height, false)
        .await
        .unwrap()
        .unwrap()
        .reward
        .0
}
