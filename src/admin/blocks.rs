//! `rxpool admin block list|show|recheck|retry|add`: the operator's view of found blocks,
//! their credits and the blocks set aside, and the repairs the block-manager allows. Each is a
//! typed operation ([`list`], [`show`], [`recheck`], [`retry`], [`add_block`]) that the CLI
//! prints ([`run_on`]) and the admin api (`/admin/blocks`) returns as JSON.
//!
//! Reads found blocks from LMDB, credits and blocks set aside (`block_issues`) from MySQL.
//! None of these commands writes a credit: crediting stays with the block-manager, behind
//! the unique paid-block row, so no sequence of admin commands can credit a block twice
//! (nodejs-pool's `block_locker.js` could). `recheck` puts a block back to `pending` so the
//! running block-manager checks it against the chain again (refused for a credited block);
//! `retry` makes a block or PPS height set aside due at once; `add HEIGHT` records a chain
//! block whose coinbase pays the pool wallet and that nothing recorded (the wallet scan lists
//! them), so the block-manager credits it once from the PPLNS window ending at it; a second
//! `add` of the same block is refused.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use sqlx::MySqlPool;

use crate::domain::{
    Atomic, BalanceType, Clock, Difficulty, Hash32, Height, PoolType, SystemClock, UnixMillis,
};
use crate::monero::daemon::{Daemon, DaemonClient, DaemonError};
use crate::monero::wallet::{TransfersQuery, Wallet, WalletClient, WalletError};
use crate::store::lmdb::{
    Block, BlockInsert, BlockStatus, BlockUpdate, FoundBlock, ShareStore, StoreError,
};
use crate::store::mysql::block_issues::{self, IssueError, IssueKind};
use crate::store::mysql::credits::{self, CreditError};

/// `rxpool admin block ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BlockCommand {
    /// Lists found blocks, newest first: height, hash, type, status, reason, credited amount.
    List {
        /// How many blocks to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only blocks with this status (pending, unlocked, orphaned).
        #[arg(long)]
        status: Option<StatusArg>,
    },
    /// Shows one block: its record, its paid-block row and every credit line.
    Show {
        /// The block hash (64 hex characters).
        hash: Hash32,
    },
    /// Puts an orphaned or stuck block back to pending so the block-manager checks it against
    /// the chain again. Refused for a credited block; never credits by itself.
    Recheck {
        /// The block hash (64 hex characters).
        hash: Hash32,
    },
    /// Tries a block set aside (its crediting failed) again at the block-manager's next
    /// pass, without waiting for its backoff. With `--pps`, a PPS height set aside.
    Retry {
        /// The block hash (64 hex characters).
        #[arg(required_unless_present = "pps", conflicts_with = "pps")]
        hash: Option<Hash32>,
        /// A chain height whose PPS crediting was set aside.
        #[arg(long, value_name = "HEIGHT")]
        pps: Option<u64>,
    },
    /// Records the chain block at HEIGHT as found by the pool, when its coinbase pays the pool
    /// wallet and no found block is recorded for it; the block-manager then credits it once,
    /// as a PPLNS block, from the shares of the window ending at it.
    Add {
        /// The chain height (the wallet scan lists the candidates).
        height: u64,
    },
}

/// A block status on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Candidate,
    Pending,
    Unlocked,
    Orphaned,
}

impl From<StatusArg> for BlockStatus {
    fn from(s: StatusArg) -> BlockStatus {
        match s {
            StatusArg::Candidate => BlockStatus::Candidate,
            StatusArg::Pending => BlockStatus::Pending,
            StatusArg::Unlocked => BlockStatus::Unlocked,
            StatusArg::Orphaned => BlockStatus::Orphaned,
        }
    }
}

/// Why an admin block command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminBlockError {
    #[error("no found block has hash {0}")]
    UnknownBlock(Hash32),
    #[error(
        "block {0} is credited (its paid-block row exists); a recheck could only credit it twice"
    )]
    AlreadyCredited(Hash32),
    #[error("nothing is set aside for {0}")]
    NotSetAside(String),
    #[error("the chain is not at height {0} yet")]
    NoSuchHeight(Height),
    #[error("the coinbase of block {hash} at height {height} does not pay the pool wallet")]
    NotPoolWallet { height: Height, hash: Hash32 },
    #[error(
        "block {hash} at height {height} is already recorded ({status}); \
         `rxpool admin block recheck` puts an orphaned one back to pending"
    )]
    AlreadyRecorded {
        height: Height,
        hash: Hash32,
        status: BlockStatus,
    },
    #[error("`add` needs the daemon and the wallet: run it through `rxpool admin block add`")]
    ChainNeeded,
    #[error("share store: {0}")]
    Store(#[from] StoreError),
    #[error("mysql: {0}")]
    Credit(#[from] CreditError),
    #[error("mysql: {0}")]
    Issues(#[from] IssueError),
    #[error("daemon: {0}")]
    Daemon(#[from] DaemonError),
    #[error("wallet: {0}")]
    Wallet(#[from] WalletError),
}

/// `rxpool admin block ...`: connects to MySQL and opens the share store named in
/// `config.toml`, runs `cmd` and prints its output.
pub async fn run(config: &crate::config::FileConfig, cmd: BlockCommand) -> anyhow::Result<()> {
    use anyhow::Context;
    let mysql = crate::store::mysql::connect_with(config.mysql.url.expose(), 2)
        .await
        .context("connecting to MySQL")?;
    let store = ShareStore::open(&config.lmdb_options()).context("opening the share store")?;
    let out = match cmd {
        BlockCommand::Add { height } => {
            let daemon = DaemonClient::new(&config.daemon.urls).context("daemon urls")?;
            let wallet = WalletClient::new(&config.wallet.url).context("wallet url")?;
            add(Height(height), &mysql, &store, &daemon, &wallet).await?
        }
        cmd => run_on(cmd, &mysql, &store).await?,
    };
    print!("{out}");
    Ok(())
}

fn find(store: &ShareStore, hash: Hash32) -> Result<Block, AdminBlockError> {
    // Blocks are keyed (height, hash); an operator knows the hash. Found blocks are few.
    let snap = store.read()?;
    snap.recent_blocks(usize::MAX)?
        .into_iter()
        .find(|b| b.record.hash == hash)
        .ok_or(AdminBlockError::UnknownBlock(hash))
}

/// One found block as the operator sees it: its LMDB record and what MySQL credited for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockView {
    pub height: u64,
    pub hash: Hash32,
    pub pool_type: PoolType,
    pub status: BlockStatus,
    pub reason: String,
    /// The finder's payout key and worker.
    pub miner: String,
    pub worker: String,
    pub difficulty: Difficulty,
    /// Unix milliseconds.
    pub found_at_ms: u64,
    /// The reward its paid-block row credited, None while it is not credited.
    pub credited: Option<Atomic>,
}

/// A block or PPS height set aside, or a chain block paying the pool that nothing recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueView {
    pub kind: String,
    pub height: u64,
    pub hash: Hash32,
    pub attempts: u32,
    pub reason: String,
}

/// `block list`: found blocks newest first, and the open issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockList {
    pub blocks: Vec<BlockView>,
    pub set_aside: Vec<IssueView>,
}

/// One credit line of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditLine {
    pub balance_type: BalanceType,
    pub amount: Atomic,
    /// `address` or `address.paymentid`.
    pub payee: String,
}

/// The PPLNS window a block was credited over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WindowView {
    pub wanted: Difficulty,
    pub filled: Difficulty,
    pub shares: u64,
}

/// What a credited block's paid-block row and ledger hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditView {
    pub reward: Atomic,
    pub credited_at_ms: u64,
    pub miners: Atomic,
    pub fees: Atomic,
    pub window: Option<WindowView>,
    pub lines: Vec<CreditLine>,
}

/// `block show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockDetail {
    pub block: BlockView,
    pub credit: Option<CreditView>,
}

/// What `recheck` did: the status before and after (equal when it was already pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recheck {
    pub hash: Hash32,
    pub before: BlockStatus,
    pub after: BlockStatus,
}

/// What `retry` applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryTarget {
    Block(Hash32),
    Pps(Height),
}

impl std::fmt::Display for RetryTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryTarget::Block(hash) => write!(f, "block {hash}"),
            RetryTarget::Pps(h) => write!(f, "PPS height {h}"),
        }
    }
}

/// A block recorded by `add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Added {
    pub height: u64,
    pub hash: Hash32,
    pub status: BlockStatus,
}

async fn view(mysql: &MySqlPool, b: Block) -> Result<BlockView, AdminBlockError> {
    let credited = credits::paid_block(mysql, &b.record.hash)
        .await?
        .map(|row| row.block.reward);
    Ok(BlockView {
        height: b.record.height.0,
        hash: b.record.hash,
        pool_type: b.record.pool_type,
        status: b.record.status,
        reason: b.record.reason,
        miner: b.miner,
        worker: b.worker,
        difficulty: b.record.network_difficulty,
        found_at_ms: b.record.timestamp.0,
        credited,
    })
}

/// Found blocks newest first (of `status` when given), skipping `offset`, at most `limit`,
/// with the open issues.
pub async fn list(
    mysql: &MySqlPool,
    store: &ShareStore,
    status: Option<BlockStatus>,
    limit: usize,
    offset: usize,
) -> Result<BlockList, AdminBlockError> {
    let found: Vec<Block> = {
        let snap = store.read()?;
        snap.recent_blocks(usize::MAX)?
            .into_iter()
            .filter(|b| status.is_none_or(|s| b.record.status == s))
            .skip(offset)
            .take(limit)
            .collect()
    };
    let mut blocks = Vec::with_capacity(found.len());
    for b in found {
        blocks.push(view(mysql, b).await?);
    }
    let set_aside = block_issues::open(mysql, None)
        .await?
        .into_iter()
        .map(|i| IssueView {
            kind: i.kind.to_string(),
            height: i.height.0,
            hash: i.hash,
            attempts: i.attempts,
            reason: i.reason,
        })
        .collect();
    Ok(BlockList { blocks, set_aside })
}

/// One block with its paid-block row and every credit line.
pub async fn show(
    mysql: &MySqlPool,
    store: &ShareStore,
    hash: Hash32,
) -> Result<BlockDetail, AdminBlockError> {
    let block = view(mysql, find(store, hash)?).await?;
    let credit = match credits::paid_block(mysql, &hash).await? {
        None => None,
        Some(paid) => Some(CreditView {
            reward: paid.block.reward,
            credited_at_ms: paid.credited_at_ms,
            miners: paid.miners_credited,
            fees: paid.fees_credited,
            window: paid.block.window.map(|w| WindowView {
                wanted: w.wanted,
                filled: w.filled,
                shares: w.shares,
            }),
            lines: credits::block_lines(mysql, &hash)
                .await?
                .into_iter()
                .map(|line| CreditLine {
                    balance_type: line.balance_type,
                    amount: line.amount,
                    payee: if line.payment_id.is_empty() {
                        line.address
                    } else {
                        format!("{}.{}", line.address, line.payment_id)
                    },
                })
                .collect(),
        }),
    };
    Ok(BlockDetail { block, credit })
}

/// Puts a block back to `pending` so the block-manager checks it against the chain again;
/// refused for a credited block, a no-op for a pending one.
pub async fn recheck(
    mysql: &MySqlPool,
    store: &Arc<ShareStore>,
    hash: Hash32,
    now: UnixMillis,
) -> Result<Recheck, AdminBlockError> {
    let b = find(store, hash)?;
    if credits::is_credited(mysql, &hash).await? {
        return Err(AdminBlockError::AlreadyCredited(hash));
    }
    let before = b.record.status;
    if before != BlockStatus::Pending {
        let writer = store.writer(Default::default())?;
        writer
            .update_block(
                b.record.height,
                hash,
                BlockUpdate {
                    status: BlockStatus::Pending,
                    reason: format!("recheck requested by operator (was {before})"),
                    reward: None,
                    at: now,
                },
            )
            .await?;
        writer.flush().await?;
    }
    Ok(Recheck {
        hash,
        before,
        after: BlockStatus::Pending,
    })
}

/// Makes a block or PPS height set aside due at the block-manager's next pass.
pub async fn retry(mysql: &MySqlPool, target: RetryTarget) -> Result<(), AdminBlockError> {
    let n = match target {
        RetryTarget::Pps(h) => {
            block_issues::retry_now(mysql, IssueKind::Pps, Some(h), None).await?
        }
        RetryTarget::Block(hash) => {
            block_issues::retry_now(mysql, IssueKind::Block, None, Some(&hash)).await?
        }
    };
    if n == 0 {
        return Err(AdminBlockError::NotSetAside(target.to_string()));
    }
    Ok(())
}

/// Runs one command and returns what to print.
pub async fn run_on(
    cmd: BlockCommand,
    mysql: &MySqlPool,
    store: &Arc<ShareStore>,
) -> Result<String, AdminBlockError> {
    let mut out = String::new();
    match cmd {
        BlockCommand::List { limit, status } => {
            let list = list(mysql, store, status.map(BlockStatus::from), limit, 0).await?;
            let _ = writeln!(
                out,
                "{:>10}  {:64}  {:5}  {:9}  {:>22}  reason",
                "height", "hash", "type", "status", "credited"
            );
            for b in list.blocks {
                let credited = b.credited.map_or_else(|| "-".to_owned(), |r| r.to_string());
                let _ = writeln!(
                    out,
                    "{:>10}  {}  {:5}  {:9}  {:>22}  {}",
                    b.height, b.hash, b.pool_type, b.status, credited, b.reason
                );
            }
            print_issues(&mut out, &list.set_aside);
        }
        BlockCommand::Show { hash } => {
            let detail = show(mysql, store, hash).await?;
            let b = &detail.block;
            let _ = writeln!(out, "hash        {}", b.hash);
            let _ = writeln!(out, "height      {}", b.height);
            let _ = writeln!(out, "type        {}", b.pool_type);
            let _ = writeln!(out, "finder      {} ({})", b.miner, b.worker);
            let _ = writeln!(out, "difficulty  {}", b.difficulty);
            let _ = writeln!(out, "found at    {} ms", b.found_at_ms);
            let _ = writeln!(out, "status      {} ({})", b.status, b.reason);
            match &detail.credit {
                None => {
                    let _ = writeln!(out, "credited    no");
                }
                Some(paid) => {
                    let _ = writeln!(
                        out,
                        "credited    {} at {} ms",
                        paid.reward, paid.credited_at_ms
                    );
                    let _ = writeln!(out, "miners      {}", paid.miners);
                    let _ = writeln!(out, "fees        {}", paid.fees);
                    if let Some(w) = paid.window {
                        let _ = writeln!(
                            out,
                            "window      {} of {} difficulty, {} shares",
                            w.filled, w.wanted, w.shares
                        );
                    }
                    for line in &paid.lines {
                        let _ = writeln!(
                            out,
                            "  {:5} {:>22}  {}",
                            line.balance_type, line.amount, line.payee
                        );
                    }
                }
            }
        }
        BlockCommand::Recheck { hash } => {
            let done = recheck(mysql, store, hash, SystemClock.now()).await?;
            if done.before == BlockStatus::Pending {
                let _ = writeln!(
                    out,
                    "block {hash} is already pending; the block-manager checks it every pass"
                );
            } else {
                let _ = writeln!(
                    out,
                    "block {hash} is pending again; the block-manager will check it against the chain"
                );
            }
        }
        BlockCommand::Retry { hash, pps } => {
            let target = match (hash, pps) {
                (_, Some(h)) => RetryTarget::Pps(Height(h)),
                (Some(hash), None) => RetryTarget::Block(hash),
                (None, None) => return Err(AdminBlockError::NotSetAside("nothing".to_owned())),
            };
            retry(mysql, target).await?;
            let _ = writeln!(
                out,
                "{target} will be tried again at the block-manager's next pass"
            );
        }
        BlockCommand::Add { .. } => return Err(AdminBlockError::ChainNeeded),
    }
    Ok(out)
}

/// The open issues, after the block list: blocks and PPS heights set aside, and chain
/// blocks paying the pool wallet that nothing recorded.
fn print_issues(out: &mut String, issues: &[IssueView]) {
    if issues.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nset aside or unrecorded ({}):", issues.len());
    let _ = writeln!(
        out,
        "{:>10}  {:64}  {:10}  {:>8}  reason",
        "height", "hash", "kind", "attempts"
    );
    for i in issues {
        let _ = writeln!(
            out,
            "{:>10}  {}  {:10}  {:>8}  {}",
            i.height, i.hash, i.kind, i.attempts, i.reason
        );
    }
}

/// `rxpool admin block add HEIGHT`: records the chain block at `height` as a pending PPLNS
/// block when its coinbase pays the pool wallet and the store holds no record of it. The
/// block-manager credits it (once: the paid-block row) when it is deep enough.
pub async fn add<D: Daemon>(
    height: Height,
    mysql: &MySqlPool,
    store: &Arc<ShareStore>,
    daemon: &D,
    wallet: &WalletClient,
) -> Result<String, AdminBlockError> {
    let added = add_block(height, mysql, store, daemon, wallet, SystemClock.now()).await?;
    Ok(format!(
        "block {} at height {} is recorded as a found PPLNS block; the \
         block-manager credits it from the window ending at it once it is deep enough\n",
        added.hash, added.height
    ))
}

/// What [`add`] does, returning the block recorded.
pub async fn add_block<D: Daemon>(
    height: Height,
    mysql: &MySqlPool,
    store: &Arc<ShareStore>,
    daemon: &D,
    wallet: &WalletClient,
    now: UnixMillis,
) -> Result<Added, AdminBlockError> {
    let header = daemon
        .block_header_by_height(height, false)
        .await?
        .ok_or(AdminBlockError::NoSuchHeight(height))?;
    let hash = header.hash;
    let pays_pool = wallet
        .get_transfers(TransfersQuery::confirmed_incoming(height))
        .await?
        .iter()
        .any(|t| t.is_coinbase() && t.height == height);
    if !pays_pool {
        return Err(AdminBlockError::NotPoolWallet { height, hash });
    }
    let known = store.read()?.block(height, hash)?.map(|b| b.record.status);
    if let Some(status) = known {
        return Err(AdminBlockError::AlreadyRecorded {
            height,
            hash,
            status,
        });
    }
    if credits::is_credited(mysql, &hash).await? {
        return Err(AdminBlockError::AlreadyCredited(hash));
    }
    let address = wallet.get_address().await?;
    let writer = store.writer(Default::default())?;
    let found = FoundBlock {
        height,
        hash,
        network_difficulty: header.difficulty,
        reward: header.reward,
        pool_type: PoolType::Pplns,
        miner: address.into(),
        worker: "operator".into(),
        timestamp: UnixMillis(header.timestamp.saturating_mul(1_000)),
        shares_at_find: None,
        status: BlockStatus::Pending,
        blob: Vec::new(),
    };
    if writer.record_block(found).await? == BlockInsert::AlreadyKnown {
        let status = store
            .read()?
            .block(height, hash)?
            .map_or(BlockStatus::Pending, |b| b.record.status);
        return Err(AdminBlockError::AlreadyRecorded {
            height,
            hash,
            status,
        });
    }
    let update = BlockUpdate {
        status: BlockStatus::Pending,
        reason: "added by operator: its coinbase pays the pool wallet".to_owned(),
        reward: None,
        at: now,
    };
    writer.update_block(height, hash, update).await?;
    writer.flush().await?;
    block_issues::resolve(mysql, IssueKind::Unrecorded, height, &hash, now.0).await?;
    Ok(Added {
        height: height.0,
        hash,
        status: BlockStatus::Pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: BlockCommand,
    }

    #[test]
    fn block_commands_refuse_malformed_hashes() {
        let good = "ab".repeat(32);
        assert!(Cli::try_parse_from(["x", "show", &good]).is_ok());
        for bad in [
            "".to_owned(),
            "zz".repeat(32),
            "ab".repeat(31),
            "ab".repeat(5_000),
            "é".repeat(32),
        ] {
            assert!(
                Cli::try_parse_from(["x", "recheck", &bad]).is_err(),
                "{bad:?}"
            );
        }
        assert!(Cli::try_parse_from(["x", "list", "--status", "lost"]).is_err());
        assert!(Cli::try_parse_from(["x", "list", "--limit", "-1"]).is_err());
        assert!(Cli::try_parse_from(["x", "list", "--status", "candidate"]).is_ok());
    }

    #[test]
    fn retry_and_add_refuse_malformed_and_ambiguous_arguments() {
        let good = "ab".repeat(32);
        assert!(Cli::try_parse_from(["x", "retry", &good]).is_ok());
        assert!(Cli::try_parse_from(["x", "retry", "--pps", "100"]).is_ok());
        assert!(Cli::try_parse_from(["x", "add", "100"]).is_ok());
        for bad in [
            vec!["x", "retry"],
            vec!["x", "retry", &good, "--pps", "100"],
            vec!["x", "retry", "--pps", "-1"],
            vec!["x", "retry", "--pps", "ten"],
            vec!["x", "retry", "zz"],
            vec!["x", "add"],
            vec!["x", "add", "-5"],
            vec!["x", "add", "18446744073709551616"],
            vec!["x", "add", "1", "2"],
            vec!["x", "add", "0x10"],
        ] {
            assert!(Cli::try_parse_from(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
