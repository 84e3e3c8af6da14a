//! The operator command line (design.md §1). This is a contract other tools rely on:
//!
//! ```text
//! rxpool --config config.toml <pool|block-manager|payments|worker|api|cleaner|all>
//! rxpool --config config.toml migrate
//! rxpool --config config.toml config check
//! rxpool --config config.toml admin config set MODULE.ITEM VALUE
//! rxpool --config config.toml admin port add PORT --diff N --type pplns|pps|solo [--tls] [--hidden] [--proxy-protocol]
//! rxpool notify-block --to ADDR [HASH]                     # monerod --block-notify; reads no config
//! ```
//!
//! Parsing lives here; each subcommand's work lives in its role or in [`crate::admin`].

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::runtime::Stage;

#[derive(Debug, Parser)]
#[command(name = "rxpool", version, about = "Monero mining pool server")]
pub struct Cli {
    /// Path to config.toml.
    #[arg(
        long,
        short = 'c',
        env = "RXPOOL_CONFIG",
        default_value = "/etc/rxpool/config.toml"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stratum server for xmrig and proxies.
    Pool,
    /// Confirms or orphans found blocks and credits PPLNS, PPS and solo balances.
    BlockManager,
    /// Pays balances out through monero-wallet-rpc.
    Payments,
    /// Statistics rollups and chart histories for the api, miner and operator e-mail.
    Worker,
    /// REST (nodejs-pool compatible), websocket push, miner settings, the admin API and
    /// Prometheus metrics.
    Api,
    /// Prunes shares no payout can need any more, old stats and settled blocks; LMDB care
    /// (stale readers, map growth, usage metrics).
    Cleaner,
    /// Every role in one process, for the smallest pools.
    All,
    /// Applies the SQL migrations in sql/ (idempotent).
    Migrate,
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Operator commands against the shared stores.
    #[command(subcommand)]
    Admin(crate::admin::AdminCommand),
    /// Tells a pool that monerod has a new block (one UDP datagram; reads no config). For
    /// `monerod --block-notify "/usr/local/bin/rxpool notify-block --to 127.0.0.1:PORT %s"`,
    /// with PORT the pool's `block_notify`.
    NotifyBlock {
        /// The pool's `[pool] block_notify` address, e.g. 127.0.0.1:18090.
        #[arg(long, value_name = "ADDR")]
        to: std::net::SocketAddr,
        /// The new block's id (monerod's `%s`), for the pool's log.
        #[arg(value_name = "HASH")]
        block: Option<crate::domain::Hash32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validates config.toml and the shared settings, and prints the resolved configuration
    /// with secrets masked.
    Check,
}

/// Runs a parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::NotifyBlock { to, block } = cli.command {
        // monerod runs this for every block: no config file, no runtime, one datagram.
        return crate::pool::notify::send(to, block)
            .with_context(|| format!("sending a block notification to {to}"));
    }
    let config = FileConfig::load(&cli.config)
        .with_context(|| format!("loading {}", cli.config.display()))?;
    let rt = crate::runtime::tokio_runtime().context("starting the tokio runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Migrate => crate::admin::migrate(&config).await,
            Command::Config(ConfigCommand::Check) => crate::admin::config_check(&config).await,
            Command::Admin(cmd) => crate::admin::run(&config, cmd).await,
            role => run_role(role, config).await,
        }
    })
}

async fn run_role(role: Command, config: FileConfig) -> anyhow::Result<()> {
    let shutdown = crate::runtime::shutdown_on_signals();
    // One metrics listener per process, `all` included.
    crate::telemetry::start(&config.metrics, shutdown.clone()).await?;
    match role {
        Command::Pool => crate::pool::run(config, shutdown).await,
        Command::BlockManager => crate::block_manager::run(config, shutdown).await,
        Command::Payments => crate::payments::run(config, shutdown).await,
        Command::Worker => crate::worker::run(config, shutdown).await,
        Command::Api => crate::api::run(config, shutdown).await,
        Command::Cleaner => crate::cleaner::run(config, shutdown).await,
        Command::All => run_all(config, shutdown).await,
        _ => unreachable!("run_role is only called with role subcommands"),
    }
}

/// `all`: every role in one process, started together and stopped in order.
///
/// A role that fails, at start (a stratum port already in use) or later, stops the whole
/// process at once with its error, so the service manager sees it. At shutdown the pool
/// stops first: it closes its ports and drains its connections, spot checks and found blocks
/// into the shared LMDB writer. Only then do the other roles stop; the writer closes with the
/// last handle (`store::lmdb::writer`), so nothing the pool accepted is cut off.
async fn run_all(config: FileConfig, signals: CancellationToken) -> anyhow::Result<()> {
    let mut pool = Stage::default();
    pool.spawn("pool", |stop| crate::pool::run(config.clone(), stop));
    let mut rest = Stage::default();
    rest.spawn("block-manager", |stop| {
        crate::block_manager::run(config.clone(), stop)
    });
    rest.spawn("payments", |stop| {
        crate::payments::run(config.clone(), stop)
    });
    rest.spawn("worker", |stop| crate::worker::run(config.clone(), stop));
    rest.spawn("api", |stop| crate::api::run(config.clone(), stop));
    rest.spawn("cleaner", |stop| crate::cleaner::run(config.clone(), stop));

    let failed = loop {
        tokio::select! {
            () = signals.cancelled() => break None,
            Some(ended) = pool.next_ended() => if let Err(e) = ended { break Some(e) },
            Some(ended) = rest.next_ended() => if let Err(e) = ended { break Some(e) },
        }
    };
    if let Some(e) = &failed {
        tracing::error!(error = %format!("{e:#}"), "a role failed; stopping every role");
    }
    let pool_stopped = pool.stop().await;
    let rest_stopped = rest.stop().await;
    match failed {
        Some(e) => Err(e),
        None => pool_stopped.and(rest_stopped),
    }
}
