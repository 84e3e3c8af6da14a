//! Operator subcommands: `migrate`, `config check` and the `admin` tree.
//!
//! Each command opens MySQL itself, does one thing through `store::mysql`, prints a short
//! human-readable result and exits non-zero with a message naming the problem. Block and
//! payout commands live in their own files beside this one.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::{Args, Subcommand};

pub mod blocks;
pub mod mail;
pub mod payments;
pub mod users;

use crate::config::FileConfig;
use crate::config::settings::{self, ITEMS};
use crate::domain::PoolType;
use crate::store::mysql::{self, BanTarget, PortConfig, registry};

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

/// `rxpool config check`: config.toml is already validated by loading; this checks the shared
/// settings (stored rows with this host's overrides) by every item's rule, prints them with
/// secrets masked, and fails listing every problem, each naming its item and rule.
pub async fn config_check(config: &FileConfig) -> anyhow::Result<()> {
    println!("# config.toml (secrets masked)\n{}", config.masked());
    let pool = connect(config).await?;
    let rows = mysql::setting_rows(&pool)
        .await
        .context("shared settings")?;
    let report = settings::check(rows, &config.overrides);
    if let Some(settings) = &report.settings {
        println!("\n# shared settings (MySQL config, config.toml overrides win)\n{settings:#?}");
    }
    for key in &report.unknown {
        println!("note: {key}: not a setting of this version (ignored)");
    }
    if report.problems.is_empty() {
        println!("\nconfiguration OK");
        return Ok(());
    }
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    anyhow::bail!(
        "{} shared setting problem(s) (fix with `rxpool admin config set MODULE.ITEM VALUE`):\n  {}",
        lines.len(),
        lines.join("\n  ")
    )
}

/// `rxpool admin ...`.
pub async fn run(config: &FileConfig, cmd: AdminCommand) -> anyhow::Result<()> {
    let pool = connect(config).await?;
    match cmd {
        AdminCommand::Config(ConfigCommand::Set { key, value }) => {
            mysql::set_setting(&pool, &key, &value).await?;
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
            let port = PortConfig {
                port: args.port,
                difficulty: args.diff,
                description: args.desc,
                pool_type: args.pool_type,
                hidden: args.hidden,
                tls: args.tls,
            };
            registry::upsert_port(&pool, &port).await?;
            registry::set_proxy_protocol(&pool, port.port, args.proxy_protocol).await?;
            println!(
                "port {} ({}, diff {}{}{}{})",
                port.port,
                port.pool_type,
                port.difficulty,
                if port.tls { ", tls" } else { "" },
                if port.hidden { ", hidden" } else { "" },
                if args.proxy_protocol {
                    ", PROXY protocol"
                } else {
                    ""
                }
            );
        }
        AdminCommand::Port(PortCommand::List) => {
            for p in registry::ports(&pool).await? {
                println!(
                    "{:<6} {:<6} diff {:<10} tls={} hidden={} {}",
                    p.port, p.pool_type, p.difficulty, p.tls, p.hidden, p.description
                );
            }
        }
        AdminCommand::Port(PortCommand::Remove { port }) => {
            if !registry::remove_port(&pool, port).await? {
                anyhow::bail!("port {port} is not configured");
            }
            println!("port {port} removed");
        }
        AdminCommand::Ban(BanCommand::Add {
            ip,
            address,
            reason,
        }) => {
            let target = match (ip, address) {
                (Some(ip), _) => BanTarget::Ip(ip),
                (None, Some(address)) => {
                    let address = address.trim().to_owned();
                    if address.is_empty() || address.len() > 200 {
                        anyhow::bail!("--address must be 1 to 200 characters");
                    }
                    BanTarget::Address(address)
                }
                (None, None) => anyhow::bail!("give --ip or --address"),
            };
            let id = registry::add_ban(&pool, &target, &reason).await?;
            println!("ban {id} added");
        }
        AdminCommand::Ban(BanCommand::Remove { id }) => {
            if !registry::remove_ban(&pool, id).await? {
                anyhow::bail!("no active ban {id}");
            }
            println!("ban {id} lifted");
        }
        AdminCommand::Block(cmd) => blocks::run(config, cmd).await?,
        AdminCommand::Payments(cmd) => payments::run(config, &pool, cmd).await?,
        AdminCommand::Mail(cmd) => mail::run(&pool, cmd).await?,
        AdminCommand::User(cmd) => users::run(&pool, cmd).await?,
        AdminCommand::Ban(BanCommand::List) => {
            for ban in registry::active_bans(&pool).await? {
                let target = match &ban.target {
                    BanTarget::Ip(ip) => format!("ip {ip}"),
                    BanTarget::Address(a) => format!("address {a}"),
                };
                println!("{:<6} {target} {}", ban.id, ban.reason);
            }
        }
    }
    Ok(())
}
