//! `rxpool admin block list|show|recheck`: the operator's view of found blocks and their
//! credits, and the one repair the block-manager allows.
//!
//! Reads found blocks from LMDB and credits from MySQL. `recheck` only puts a block back to
//! `pending` so the running block-manager checks it against the chain again; it never writes
//! a credit. Crediting stays with the block-manager, behind the unique paid-block row, so no
//! sequence of admin commands can credit a block twice (nodejs-pool's `block_locker.js`
//! could). A credited block is refused.

use std::fmt::Write as _;
use std::sync::Arc;

use sqlx::MySqlPool;

use crate::domain::{Clock, Hash32, SystemClock};
use crate::store::lmdb::{Block, BlockStatus, BlockUpdate, ShareStore, StoreError};
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
}

/// A block status on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Pending,
    Unlocked,
    Orphaned,
}

impl From<StatusArg> for BlockStatus {
    fn from(s: StatusArg) -> BlockStatus {
        match s {
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
    #[error("share store: {0}")]
    Store(#[from] StoreError),
    #[error("mysql: {0}")]
    Credit(#[from] CreditError),
}

/// `rxpool admin block ...`: connects to MySQL and opens the share store named in
/// `config.toml`, runs `cmd` and prints its output.
pub async fn run(config: &crate::config::FileConfig, cmd: BlockCommand) -> anyhow::Result<()> {
    use anyhow::Context;
    let mysql = crate::store::mysql::connect_with(config.mysql.url.expose(), 2)
        .await
        .context("connecting to MySQL")?;
    let store = ShareStore::open(&config.lmdb_options()).context("opening the share store")?;
    let out = run_on(cmd, &mysql, &store).await?;
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

/// Runs one command and returns what to print.
pub async fn run_on(
    cmd: BlockCommand,
    mysql: &MySqlPool,
    store: &Arc<ShareStore>,
) -> Result<String, AdminBlockError> {
    let mut out = String::new();
    match cmd {
        BlockCommand::List { limit, status } => {
            let blocks: Vec<Block> = {
                let snap = store.read()?;
                snap.recent_blocks(usize::MAX)?
                    .into_iter()
                    .filter(|b| status.is_none_or(|s| b.record.status == s.into()))
                    .take(limit)
                    .collect()
            };
            let _ = writeln!(
                out,
                "{:>10}  {:64}  {:5}  {:8}  {:>22}  reason",
                "height", "hash", "type", "status", "credited"
            );
            for b in blocks {
                let credited = match credits::paid_block(mysql, &b.record.hash).await? {
                    Some(row) => row.block.reward.to_string(),
                    None => "-".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "{:>10}  {}  {:5}  {:8}  {:>22}  {}",
                    b.record.height,
                    b.record.hash,
                    b.record.pool_type,
                    b.record.status,
                    credited,
                    b.record.reason
                );
            }
        }
        BlockCommand::Show { hash } => {
            let b = find(store, hash)?;
            let r = &b.record;
            let _ = writeln!(out, "hash        {}", r.hash);
            let _ = writeln!(out, "height      {}", r.height);
            let _ = writeln!(out, "type        {}", r.pool_type);
            let _ = writeln!(out, "finder      {} ({})", b.miner, b.worker);
            let _ = writeln!(out, "difficulty  {}", r.network_difficulty);
            let _ = writeln!(out, "found at    {} ms", r.timestamp.0);
            let _ = writeln!(out, "status      {} ({})", r.status, r.reason);
            match credits::paid_block(mysql, &hash).await? {
                None => {
                    let _ = writeln!(out, "credited    no");
                }
                Some(paid) => {
                    let _ = writeln!(
                        out,
                        "credited    {} at {} ms",
                        paid.block.reward, paid.credited_at_ms
                    );
                    let _ = writeln!(out, "miners      {}", paid.miners_credited);
                    let _ = writeln!(out, "fees        {}", paid.fees_credited);
                    if let Some(w) = paid.block.window {
                        let _ = writeln!(
                            out,
                            "window      {} of {} difficulty, {} shares",
                            w.filled, w.wanted, w.shares
                        );
                    }
                    for line in credits::block_lines(mysql, &hash).await? {
                        let who = if line.payment_id.is_empty() {
                            line.address
                        } else {
                            format!("{}.{}", line.address, line.payment_id)
                        };
                        let _ =
                            writeln!(out, "  {:5} {:>22}  {who}", line.balance_type, line.amount);
                    }
                }
            }
        }
        BlockCommand::Recheck { hash } => {
            let b = find(store, hash)?;
            if credits::is_credited(mysql, &hash).await? {
                return Err(AdminBlockError::AlreadyCredited(hash));
            }
            if b.record.status == BlockStatus::Pending {
                let _ = writeln!(
                    out,
                    "block {hash} is already pending; the block-manager checks it every pass"
                );
            } else {
                let writer = store.writer(Default::default())?;
                writer
                    .update_block(
                        b.record.height,
                        hash,
                        BlockUpdate {
                            status: BlockStatus::Pending,
                            reason: format!(
                                "recheck requested by operator (was {})",
                                b.record.status
                            ),
                            reward: None,
                            at: SystemClock.now(),
                        },
                    )
                    .await?;
                writer.flush().await?;
                let _ = writeln!(
                    out,
                    "block {hash} is pending again; the block-manager will check it against the chain"
                );
            }
        }
    }
    Ok(out)
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
    }
}
