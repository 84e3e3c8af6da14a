//! The operator command line (design.md §1). This is a contract other tools rely on:
//!
//! ```text
//! rxpool --config config.toml <pool|block-manager|payments|worker|api|cleaner|ingest|all>
//! rxpool --config config.toml migrate
//! rxpool --config config.toml config check
//! rxpool --config config.toml admin config set MODULE.ITEM VALUE
//! rxpool --config config.toml admin port add PORT --diff N --type pplns|pps|solo [--tls] [--hidden] [--proxy-protocol]
//! rxpool notify-block --to ADDR [HASH]                     # monerod --block-notify; reads no config
//! rxpool sandbox [--keep DIR] [--threads N] [--difficulty D] [--api-port P] [--stratum-port P]
//! ```
//!
//! Parsing lives here; each subcommand's work lives in its role or in [`crate::admin`].

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::FileConfig;

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
    /// REST (nodejs-pool compatible), websocket push, miner settings, the admin API, the web
    /// dashboard and Prometheus metrics.
    Api,
    /// Prunes shares no payout can need any more, old stats and settled blocks; LMDB care
    /// (stale readers, map growth, usage metrics).
    Cleaner,
    /// With several pool hosts (`[feed]`): writes the shares and blocks they publish to NATS
    /// JetStream into this host's LMDB, each message exactly once.
    Ingest,
    /// Every role in one process, for the smallest pools (with `ingest` when `[feed]` is set).
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
    /// A whole pool on a private regtest chain (MariaDB, monerod, wallets, every role and a
    /// demo miner), until Ctrl-C; reads no config.
    Sandbox(crate::sandbox::SandboxArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Checks config.toml, MySQL, the shared settings, monerod, wallet-rpc, ports, TLS files,
    /// the LMDB directory and the RandomX mode's cost, one line each (secrets masked); exits
    /// non-zero when a line is a problem.
    Check,
}

/// Runs a parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::NotifyBlock { to, block } = cli.command {
        // monerod runs this for every block: no config file, no runtime, one datagram.
        return crate::pool::notify::send(to, block)
            .with_context(|| format!("sending a block notification to {to}"));
    }
    if let Command::Sandbox(args) = cli.command {
        let rt = crate::runtime::tokio_runtime().context("starting the tokio runtime")?;
        return rt.block_on(crate::sandbox::run(args));
    }
    // Read and parse errors name the file already; a bad value names its key, so it gets the
    // file in front.
    let config = FileConfig::load(&cli.config).map_err(|e| match e {
        crate::config::ConfigError::Invalid { .. } => {
            anyhow::Error::new(e).context(cli.config.display().to_string())
        }
        other => anyhow::Error::new(other),
    })?;
    let rt = crate::runtime::tokio_runtime().context("starting the tokio runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Migrate => crate::admin::migrate(&config).await,
            Command::Config(ConfigCommand::Check) => {
                crate::admin::config_check(&config, &cli.config).await
            }
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
        Command::Ingest => crate::ingest::run(config, shutdown).await,
        Command::All => crate::all::run(config, shutdown).await,
        _ => unreachable!("run_role is only called with role subcommands"),
    }
}

/// The one line `main` prints for an error: its context chain joined with `": "`, each cause
/// once. Library errors often repeat their source in their own message (sqlx's database
/// errors do, and so does any `"{0}"` over a `#[from]` source), so a cause the line already
/// says is left out. A failed first MySQL connection is shown alone, as the store words it
/// (it names `host:port` and the cause), with where to look when the login was refused.
pub fn error_line(err: &anyhow::Error, config: &Path) -> String {
    use crate::store::mysql::{ConnectError, MysqlError, connect::ConnectCause};
    let connect = err.chain().find_map(|cause| {
        cause
            .downcast_ref::<ConnectError>()
            .or_else(|| match cause.downcast_ref::<MysqlError>() {
                Some(MysqlError::Connect(c)) => Some(c),
                _ => None,
            })
    });
    if let Some(connect) = connect {
        return match connect.cause {
            ConnectCause::AccessDenied { .. } => {
                format!("{connect}; {}", crate::config::password_hint(config))
            }
            _ => connect.to_string(),
        };
    }
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
