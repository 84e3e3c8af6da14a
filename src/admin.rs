//! Operator subcommands: `migrate`, `config check` ([`check`]) and the `admin` tree.
//!
//! `admin backup` ([`backup`]) takes and restores backups of both stores.
//!
//! Each command opens MySQL itself, does one thing through the operation the admin api
//! shares ([`ops`] for config, ports and bans; [`blocks`], [`payments`] and [`mail`] beside
//! it), prints a short human-readable result of its typed answer and exits non-zero with a
//! message naming the problem.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::{Args, Subcommand};

pub mod backup;
pub mod blocks;
pub mod check;
pub mod mail;
pub mod ops;
pub mod payments;
pub mod users;

use crate::config::FileConfig;
use crate::config::settings::{self, ITEMS};
use crate::domain::{Clock, PoolType};
use crate::store::mysql::{self, BanTarget};

/// `rxpool admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Shared settings in the MySQL `config` table.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Stratum ports (`port_config`).
    #[command(subcommand)]
    Port(PortCommand),
    /// Permanent bans of IPs and payout addresses.
    #[command(subcommand)]
    Ban(BanCommand),
    /// One miner's operator switches.
    #[command(subcommand)]
    Miner(MinerCommand),
    /// Found blocks: list, show, recheck, retry, add (never credits a block twice).
    #[command(subcommand)]
    Block(blocks::BlockCommand),
    /// Payout batches: run-now, list, show, retry, hold, release, set-aside, totals.
    #[command(subcommand)]
    Payments(payments::PaymentsCommand),
    /// The e-mail outbox: list, retry, purge.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// Admin accounts of the api's `/admin` routes: add, list, remove, passwd.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Backups of both stores: now, list, restore; after a restore, the wallet transfers
    /// it does not record (unknown, resolve).
    #[command(subcommand)]
    Backup(backup::BackupCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Sets MODULE.ITEM to VALUE after checking it against the item's rule.
    Set {
        key: String,
        /// Taken as given, also when it starts with `-`, so the item's rule judges it.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Prints the stored value of MODULE.ITEM.
    Get { key: String },
    /// Lists every setting with its value and description.
    List,
}

#[derive(Debug, Subcommand)]
pub enum PortCommand {
    /// Adds a port (or changes an existing one).
    Add(PortArgs),
    /// Lists the configured ports.
    List,
    /// Removes a port.
    Remove { port: u16 },
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub port: u16,
    /// Starting difficulty of miners on this port.
    #[arg(long)]
    pub diff: u64,
    /// Payout mode: pplns, pps or solo.
    #[arg(long = "type")]
    pub pool_type: PoolType,
    /// Serve stratum over TLS on this port.
    #[arg(long)]
    pub tls: bool,
    /// Keep the port out of the public port list.
    #[arg(long)]
    pub hidden: bool,
    /// Connections start with a PROXY protocol header (HAProxy, cloud load balancers),
    /// taken only from the pool hosts' `[pool] proxy_addresses`.
    #[arg(long)]
    pub proxy_protocol: bool,
    /// Description shown to miners.
    #[arg(long, default_value = "")]
    pub desc: String,
}

#[derive(Debug, Subcommand)]
pub enum MinerCommand {
    /// Locks a miner's payout threshold (miners can no longer change it through the api);
    /// `--unlock` lifts the lock.
    ThresholdLock {
        /// The miner's address, or `address.<payment id>`.
        address: String,
        #[arg(long)]
        unlock: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BanCommand {
    /// Bans an IP (`--ip`) or a payout address (`--address`).
    Add {
        #[arg(long, conflicts_with = "address", required_unless_present = "address")]
        ip: Option<std::net::IpAddr>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lifts ban ID.
    Remove { id: u32 },
    /// Lists active bans.
    List,
}

async fn connect(config: &FileConfig) -> anyhow::Result<sqlx::MySqlPool> {
    mysql::connect_with(config.mysql.url.expose(), 2)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                crate::config::mask_url(config.mysql.url.expose())
            )
        })
}

/// `rxpool migrate`.
pub async fn migrate(config: &FileConfig) -> anyhow::Result<()> {
    let pool = connect(config).await?;
    let report = mysql::migrate(&pool).await.context("applying migrations")?;
    if report.applied.is_empty() {
        println!("schema up to date");
    } else {
        println!("applied migrations {:?}", report.applied);
    }
    println!("seeded {} default settings", report.seeded);
    Ok(())
}

/// `rxpool config check`: one readable line per check, secrets masked, failing when any
/// line is a problem ([`check`]).
pub async fn config_check(config: &FileConfig, path: &std::path::Path) -> anyhow::Result<()> {
    check::run(config, path).await
}

/// `rxpool admin ...`.
pub async fn run(config: &FileConfig, cmd: AdminCommand) -> anyhow::Result<()> {
    // A restore may target a database with no tables yet: backup opens what it needs.
    if let AdminCommand::Backup(cmd) = cmd {
        return backup::run(config, cmd).await;
    }
    let pool = connect(config).await?;
    match cmd {
        AdminCommand::Config(ConfigCommand::Set { key, value }) => {
            ops::config_set(&pool, &key, &value).await?;
            println!("{key} = {value}");
        }
        AdminCommand::Config(ConfigCommand::Get { key }) => {
            let rows: BTreeMap<_, _> = mysql::setting_rows(&pool).await?.into_iter().collect();
            let item = settings::item(&key).ok_or_else(|| {
                anyhow::anyhow!("{key}: no such setting (see `rxpool admin config list`)")
            })?;
            println!("{}", rows.get(&key).map_or(item.default, String::as_str));
        }
        AdminCommand::Config(ConfigCommand::List) => {
            let stored = mysql::setting_rows(&pool).await?;
            let network = settings::check(stored.clone(), &config.overrides)
                .settings
                .map(|s| s.general.network);
            let rows: BTreeMap<_, _> = stored.into_iter().collect();
            for item in ITEMS {
                let value = rows.get(item.key).map_or(item.default, String::as_str);
                println!(
                    "{:<32} {:<24} {} Rule: {}.",
                    item.key,
                    value,
                    item.description,
                    item.kind.rule(network)
                );
            }
        }
        AdminCommand::Port(PortCommand::Add(args)) => {
            let spec = ops::PortSpec {
                port: args.port,
                diff: args.diff,
                desc: args.desc,
                pool_type: args.pool_type,
                hidden: args.hidden,
                tls: args.tls,
                proxy_protocol: args.proxy_protocol,
            };
            let port = ops::port_set(&pool, spec, None, ops::PortWrite::Upsert)
                .await?
                .after;
            println!(
                "port {} ({}, diff {}{}{}{})",
                port.port,
                port.port_type,
                port.diff,
                if port.ssl { ", tls" } else { "" },
                if port.hidden { ", hidden" } else { "" },
                if port.proxy_protocol {
                    ", PROXY protocol"
                } else {
                    ""
                }
            );
        }
        AdminCommand::Port(PortCommand::List) => {
            for p in ops::port_list(&pool).await? {
                println!(
                    "{:<6} {:<6} diff {:<10} tls={} hidden={} {}",
                    p.port, p.port_type, p.diff, p.ssl, p.hidden, p.desc
                );
            }
        }
        AdminCommand::Port(PortCommand::Remove { port }) => {
            ops::port_remove(&pool, port).await?;
            println!("port {port} removed");
        }
        AdminCommand::Ban(BanCommand::Add {
            ip,
            address,
            reason,
        }) => {
            let target = match (ip, address) {
                (Some(ip), _) => BanTarget::Ip(ip),
                (None, Some(address)) => BanTarget::Address(address),
                (None, None) => anyhow::bail!("give --ip or --address"),
            };
            let ban = ops::ban_add(&pool, target, &reason, None)
                .await
                .map_err(|e| match e {
                    // The CLI's words for the flag: "--address must be ...".
                    ops::OpsError::Invalid(why) => {
                        anyhow::anyhow!("{}", why.replacen("address:", "--address", 1))
                    }
                    e => e.into(),
                })?;
            println!("ban {} added", ban.id);
        }
        AdminCommand::Ban(BanCommand::Remove { id }) => {
            ops::ban_remove(&pool, id).await?;
            println!("ban {id} lifted");
        }
        AdminCommand::Block(cmd) => blocks::run(config, cmd).await?,
        AdminCommand::Payments(cmd) => payments::run(config, &pool, cmd).await?,
        AdminCommand::Mail(cmd) => mail::run(&pool, cmd).await?,
        AdminCommand::User(cmd) => users::run(&pool, cmd).await?,
        AdminCommand::Backup(_) => unreachable!("handled before connecting"),
        AdminCommand::Miner(MinerCommand::ThresholdLock { address, unlock }) => {
            let network = mysql::load_settings(&pool, &config.overrides)
                .await
                .context("loading the shared settings")?
                .general
                .network;
            let (before, after) = ops::threshold_lock(&pool, &address, network, !unlock).await?;
            let entry = crate::store::mysql::audit::AuditEntry {
                actor: "cli",
                action: "miner.threshold_lock",
                target: &after.miner,
                before: serde_json::to_value(&before).ok(),
                after: serde_json::to_value(&after).ok(),
            };
            crate::store::mysql::audit::record(&pool, crate::domain::SystemClock.now(), &entry)
                .await?;
            let state = if after.locked { "locked" } else { "unlocked" };
            println!("payout threshold of {} {state}", after.miner);
        }
        AdminCommand::Ban(BanCommand::List) => {
            for ban in ops::ban_list(&pool).await? {
                let target = match (&ban.ip, &ban.address) {
                    (Some(ip), _) => format!("ip {ip}"),
                    (None, a) => format!("address {}", a.as_deref().unwrap_or_default()),
                };
                println!("{:<6} {target} {}", ban.id, ban.reason);
            }
        }
    }
    Ok(())
}
