//! The facts the worker role collects besides shares: payment totals, live pool hosts and
//! ports from MySQL, found-block totals from LMDB, the network from monerod and the pool
//! wallet from wallet-rpc. Each is a plain value; the cycle writes them into the stats cache.

use std::collections::BTreeMap;

use sqlx::{MySqlPool, Row};

use crate::domain::{Atomic, PoolType, UnixMillis};
use crate::monero::daemon::Daemon;
use crate::monero::wallet::Wallet;
use crate::store::lmdb::{Block, BlockStatus};

/// How many miners were paid and how many payout transactions there were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaymentTotals {
    /// Distinct (address, payment ID) ever paid.
    pub miners_paid: u64,
    /// Payout transactions.
    pub payments: u64,
}

/// Totals for the whole pool (`None`) and per payout mode, as nodejs-pool counts them: the
/// pool's payments are its `transactions`; a mode's are the distinct transactions paying it.
pub async fn payment_totals(
    db: &MySqlPool,
) -> Result<BTreeMap<Option<PoolType>, PaymentTotals>, sqlx::Error> {
    let mut out = BTreeMap::new();
    let miners_paid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT payment_address, payment_id FROM payments) d",
    )
    .fetch_one(db)
    .await?;
    let payments: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transactions")
        .fetch_one(db)
        .await?;
    out.insert(
        None,
        PaymentTotals {
            miners_paid: miners_paid.max(0) as u64,
            payments: payments.max(0) as u64,
        },
    );
    let rows = sqlx::query(
        "SELECT pool_type, COUNT(DISTINCT payment_address, payment_id) AS miners, \
                COUNT(DISTINCT transaction_id) AS txs \
         FROM payments GROUP BY pool_type",
    )
    .fetch_all(db)
    .await?;
    for row in rows {
        let mode: String = row.try_get("pool_type")?;
        if let Ok(mode) = mode.parse::<PoolType>() {
            out.insert(
                Some(mode),
                PaymentTotals {
                    miners_paid: row.try_get::<i64, _>("miners")?.max(0) as u64,
                    payments: row.try_get::<i64, _>("txs")?.max(0) as u64,
                },
            );
        }
    }
    Ok(out)
}

/// A pool host that checked in recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolServer {
    pub id: u32,
    pub ip: String,
    pub hostname: String,
    /// The chain height its templates are built on.
    pub block_id: Option<u64>,
    pub block_id_time: Option<u64>,
    pub last_checkin: u64,
}

/// Pool hosts that checked in within `within_secs` (nodejs-pool: 10 minutes).
pub async fn live_pool_servers(
    db: &MySqlPool,
    within_secs: u64,
) -> Result<Vec<PoolServer>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, ip, hostname, blockID, CAST(UNIX_TIMESTAMP(blockIDTime) AS UNSIGNED) AS bt, \
                CAST(UNIX_TIMESTAMP(last_checkin) AS UNSIGNED) AS lc \
         FROM pools WHERE last_checkin >= NOW() - INTERVAL ? SECOND ORDER BY id",
    )
    .bind(within_secs)
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(PoolServer {
            id: row.try_get("id")?,
            ip: row.try_get("ip")?,
            hostname: row.try_get("hostname")?,
            block_id: row.try_get("blockID")?,
            block_id_time: row.try_get("bt")?,
            last_checkin: row.try_get::<Option<u64>, _>("lc")?.unwrap_or(0),
        });
    }
    Ok(out)
}

/// A listening port of a live pool host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePort {
    pub pool_id: u32,
    pub port: u16,
    pub difficulty: u64,
    pub pool_type: String,
    pub description: String,
    pub miners: u32,
    pub tls: bool,
}

/// The visible ports of hosts seen within `within_secs`.
pub async fn live_ports(db: &MySqlPool, within_secs: u64) -> Result<Vec<LivePort>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT pool_id, network_port, starting_diff, port_type, description, miners, ssl_port \
         FROM ports WHERE hidden = 0 AND lastSeen >= NOW() - INTERVAL ? SECOND \
         ORDER BY network_port, pool_id",
    )
    .bind(within_secs)
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(LivePort {
            pool_id: row.try_get("pool_id")?,
            port: u16::try_from(row.try_get::<u32, _>("network_port")?).unwrap_or(0),
            difficulty: row.try_get("starting_diff")?,
            pool_type: row.try_get("port_type")?,
            description: row.try_get("description")?,
            miners: row.try_get("miners")?,
            tls: row.try_get::<bool, _>("ssl_port")?,
        });
    }
    Ok(out)
}

/// Found blocks of one scope (the pool or one mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockTotals {
    /// Blocks found that the chain took (pending or unlocked; not orphaned, not a candidate
    /// that never made it).
    pub found: u64,
    pub last_height: u64,
    pub last_time: UnixMillis,
}

/// Totals over every stored block, for the pool (`None`) and per mode.
pub fn block_totals(blocks: &[Block]) -> BTreeMap<Option<PoolType>, BlockTotals> {
    let mut out: BTreeMap<Option<PoolType>, BlockTotals> = BTreeMap::new();
    for b in blocks {
        let r = &b.record;
        if !matches!(r.status, BlockStatus::Pending | BlockStatus::Unlocked) {
            continue;
        }
        for scope in [None, Some(r.pool_type)] {
            let t = out.entry(scope).or_default();
            t.found += 1;
            if r.timestamp >= t.last_time {
                t.last_time = r.timestamp;
                t.last_height = r.height.0;
            }
        }
    }
    out
}

/// The chain tip as the pool's daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub height: u64,
    pub difficulty: u128,
    pub reward: Atomic,
    pub hash: String,
    /// The tip's timestamp, seconds.
    pub timestamp: u64,
}

/// The tip from monerod.
pub async fn network(daemon: &impl Daemon) -> Result<Network, crate::monero::daemon::DaemonError> {
    let tip = daemon.last_block_header(false).await?;
    Ok(Network {
        height: tip.height.0,
        difficulty: tip.difficulty.0,
        reward: tip.reward,
        hash: tip.hash.to_string(),
        timestamp: tip.timestamp,
    })
}

/// The pool wallet's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletState {
    pub balance: Atomic,
    pub unlocked: Atomic,
    pub height: u64,
}

/// The balance from wallet-rpc.
pub async fn wallet(
    wallet: &impl Wallet,
) -> Result<WalletState, crate::monero::wallet::WalletError> {
    let balance = wallet.get_balance().await?;
    let height = wallet.height().await?;
    Ok(WalletState {
        balance: balance.balance,
        unlocked: balance.unlocked,
        height: height.0,
    })
}
