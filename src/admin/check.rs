//! `rxpool config check`: one readable line per thing a role needs, each marked `ok`,
//! `PROBLEM`, `warn` or `note`, and a non-zero exit when any line is a `PROBLEM`.
//!
//! It looks at, in order: the config file (already parsed and validated by loading), MySQL
//! (reachable, migrations applied), the shared settings (stored rows with this host's
//! overrides, by every item's rule), monerod and wallet-rpc (answering; a `warn`, not a
//! problem, because a host may be checked before they are started or on a host whose roles do
//! not use them), the stratum ports and the api's address, the TLS files, the share feed
//! (`[feed]`: NATS answering with the stream, a `warn` otherwise; the spool directory
//! writable), the LMDB directory (writable) and the RandomX mode with what it costs on this
//! host. Secrets never appear:
//! URLs are printed through `config::mask_url`.
//!
//! It changes nothing: it opens one MySQL pool and reads, calls read-only RPCs, and tests the
//! LMDB and spool directories by creating and removing one empty file.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::config::settings::{self, ITEMS};
use crate::config::{FileConfig, mask_url};
use crate::monero::json_rpc::RpcClient;
use crate::monero::pow::{self, RandomxMode};
use crate::monero::wallet::WalletClient;
use crate::store::mysql;

/// How long monerod and wallet-rpc may take to answer the check.
const RPC_TIMEOUT: Duration = Duration::from_secs(3);

/// Core-seconds a RandomX dataset takes to build: about 75 s on 2 cores (design.md §8,
/// issue 13), the build spread over every core.
const DATASET_BUILD_CORE_SECS: u64 = 150;

/// What one line says about its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Ok,
    Problem,
    Warn,
    Note,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Mark::Ok => "ok",
            Mark::Problem => "PROBLEM",
            Mark::Warn => "warn",
            Mark::Note => "note",
        })
    }
}

/// The lines printed so far and how many were problems.
#[derive(Debug, Default)]
struct Report {
    problems: usize,
    setting_problems: usize,
    warnings: usize,
}

impl Report {
    fn line(&mut self, mark: Mark, subject: &str, text: impl fmt::Display) {
        match mark {
            Mark::Problem => self.problems += 1,
            Mark::Warn => self.warnings += 1,
            Mark::Ok | Mark::Note => {}
        }
        println!("{mark:<8} {subject:<16} {text}");
    }
}

/// Runs every check on `config` (read from `path`), printing as it goes. Fails when a line
/// was a problem.
pub async fn run(config: &FileConfig, path: &Path) -> anyhow::Result<()> {
    let mut report = Report::default();
    println!("rxpool config check: {}", path.display());
    report.line(Mark::Ok, "config file", "parsed and validated");

    let url = config.mysql.url.expose();
    let db = match mysql::connect_with(url, 2).await {
        Ok(db) => {
            report.line(Mark::Ok, "MySQL", format!("{}: reachable", mask_url(url)));
            Some(db)
        }
        Err(e) => {
            let line = match &e {
                mysql::MysqlError::Connect(c) => match c.cause {
                    mysql::connect::ConnectCause::AccessDenied { .. } => {
                        format!("{c}; {}", crate::config::password_hint(path))
                    }
                    _ => c.to_string(),
                },
                other => format!("{}: {other}", mask_url(url)),
            };
            report.line(Mark::Problem, "MySQL", line);
            None
        }
    };

    let mut stored_settings = None;
    if let Some(db) = &db {
        match mysql::pending_migrations(db).await {
            Ok(pending) if pending.is_empty() => {
                report.line(Mark::Ok, "migrations", "every migration in sql/ is applied");
            }
            Ok(pending) => report.line(
                Mark::Problem,
                "migrations",
                format!(
                    "{} not applied (versions {}): run `rxpool migrate`",
                    pending.len(),
                    join(pending.iter())
                ),
            ),
            Err(e) => report.line(Mark::Problem, "migrations", e),
        }
        stored_settings = check_settings(&mut report, config, db).await;
        check_ports(&mut report, config, db).await;
    } else {
        report.line(
            Mark::Note,
            "shared settings",
            "not checked (they are stored in MySQL)",
        );
    }
    let network = stored_settings.map(|s: crate::config::Settings| s.general.network);

    check_daemons(&mut report, config).await;
    check_wallet(&mut report, config).await;
    check_tls(&mut report, config);
    check_feed(&mut report, config).await;
    check_lmdb(&mut report, config);
    check_randomx(&mut report, config);
    if let Some(network) = network {
        report.line(Mark::Note, "network", network);
    }

    if report.problems == 0 {
        let warned = match report.warnings {
            0 => String::new(),
            n => format!(" ({n} warning(s) above)"),
        };
        println!("\nconfiguration OK{warned}");
        return Ok(());
    }
    println!();
    let mut message = format!("{} problem(s) above", report.problems);
    if report.setting_problems > 0 {
        message.push_str(&format!(
            "; {} shared setting problem(s) (fix with `rxpool admin config set MODULE.ITEM VALUE`)",
            report.setting_problems
        ));
    }
    anyhow::bail!(message)
}

async fn check_settings(
    report: &mut Report,
    config: &FileConfig,
    db: &sqlx::MySqlPool,
) -> Option<crate::config::Settings> {
    let rows = match mysql::setting_rows(db).await {
        Ok(rows) => rows,
        Err(e) => {
            report.line(Mark::Problem, "shared settings", e);
            return None;
        }
    };
    let check = settings::check(rows, &config.overrides);
    for problem in &check.problems {
        report.setting_problems += 1;
        report.line(Mark::Problem, "shared settings", problem);
    }
    for key in &check.unknown {
        report.line(
            Mark::Note,
            "shared settings",
            format!("{key}: not a setting of this version (ignored)"),
        );
    }
    if check.problems.is_empty() {
        report.line(
            Mark::Ok,
            "shared settings",
            format!(
                "{} items valid ({} overridden in config.toml)",
                ITEMS.len(),
                config.overrides.len()
            ),
        );
    }
    check.settings
}

async fn check_ports(report: &mut Report, config: &FileConfig, db: &sqlx::MySqlPool) {
    match mysql::registry::ports(db).await {
        Ok(ports) if ports.is_empty() => report.line(
            Mark::Warn,
            "stratum ports",
            "none in port_config: add one with `rxpool admin port add PORT --diff N --type pplns`",
        ),
        Ok(ports) => {
            let list: Vec<String> = ports
                .iter()
                .map(|p| {
                    format!(
                        "{} ({}, diff {}{})",
                        p.port,
                        p.pool_type,
                        p.difficulty,
                        if p.tls { ", tls" } else { "" }
                    )
                })
                .collect();
            report.line(
                Mark::Ok,
                "stratum ports",
                format!("{} on {}", list.join(", "), config.pool.bind),
            );
            if ports.iter().any(|p| p.tls) && config.tls.is_none() {
                report.line(
                    Mark::Problem,
                    "TLS files",
                    "a port serves TLS but config.toml has no [tls] cert and key",
                );
            }
        }
        Err(e) => report.line(Mark::Problem, "stratum ports", e),
    }
    let metrics = config
        .metrics
        .bind
        .map_or_else(|| "off".to_owned(), |a| a.to_string());
    report.line(
        Mark::Ok,
        "api",
        format!(
            "{} (dashboard {}), metrics {metrics}",
            config.api.bind,
            if config.api.dashboard { "on" } else { "off" }
        ),
    );
}

async fn check_daemons(report: &mut Report, config: &FileConfig) {
    for url in &config.daemon.urls {
        let shown = mask_url(url);
        let answer = match RpcClient::new(url, RPC_TIMEOUT) {
            Ok(client) => {
                client
                    .call::<_, serde_json::Value>("get_info", &serde_json::json!({}))
                    .await
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(info) => {
                let height = info["height"].as_u64().unwrap_or_default();
                let nettype = info["nettype"].as_str().unwrap_or("?");
                let synced = if info["synchronized"].as_bool() == Some(false) {
                    ", still syncing"
                } else {
                    ""
                };
                report.line(
                    Mark::Ok,
                    "monerod",
                    format!("{shown}: height {height}, {nettype}{synced}"),
                );
            }
            Err(e) => report.line(Mark::Warn, "monerod", format!("not answering: {e}")),
        }
    }
}

async fn check_wallet(report: &mut Report, config: &FileConfig) {
    let shown = mask_url(&config.wallet.url);
    let answer = match WalletClient::with_timeout(&config.wallet.url, RPC_TIMEOUT) {
        Ok(wallet) => wallet.get_address().await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(address) => {
            let head: String = address.chars().take(8).collect();
            report.line(
                Mark::Ok,
                "wallet-rpc",
                format!("{shown}: a wallet is open ({head}...)"),
            );
        }
        Err(e) => report.line(
            Mark::Warn,
            "wallet-rpc",
            format!("not answering with an open wallet (the payments role needs it): {e}"),
        ),
    }
}

fn check_tls(report: &mut Report, config: &FileConfig) {
    let Some(tls) = &config.tls else {
        report.line(Mark::Ok, "TLS files", "none configured (no [tls] section)");
        return;
    };
    let mut fine = true;
    for (what, file) in [("cert", &tls.cert), ("key", &tls.key)] {
        if let Err(e) = std::fs::File::open(file) {
            fine = false;
            report.line(
                Mark::Problem,
                "TLS files",
                format!("tls.{what} {}: {e}", file.display()),
            );
        }
    }
    if fine {
        report.line(
            Mark::Ok,
            "TLS files",
            format!("{} and {} readable", tls.cert.display(), tls.key.display()),
        );
    }
}

/// `[feed]`: the NATS server answers with the stream, and the spool directory is usable. A
/// server that does not answer is a warning: the pool spools until it does.
async fn check_feed(report: &mut Report, config: &FileConfig) {
    let Some(feed) = &config.feed else {
        report.line(
            Mark::Ok,
            "share feed",
            "none ([feed] absent: this host writes LMDB itself)",
        );
        return;
    };
    let shown = mask_url(&feed.nats_url);
    let probe = async {
        let context = crate::feed::link::connect(feed, "rxpool config check")
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = context.get_stream(&feed.stream).await.map_err(|e| {
            format!(
                "stream {}: {e} (the first pool or ingest start creates it)",
                feed.stream
            )
        })?;
        let info = stream.info().await.map_err(|e| e.to_string())?;
        Ok::<u64, String>(info.state.messages)
    };
    match tokio::time::timeout(RPC_TIMEOUT * 2, probe).await {
        Ok(Ok(waiting)) => report.line(
            Mark::Ok,
            "share feed",
            format!(
                "{shown}: stream {} holds {waiting} message(s) not yet ingested",
                feed.stream
            ),
        ),
        Ok(Err(e)) => report.line(Mark::Warn, "share feed", format!("{shown}: {e}")),
        Err(_) => report.line(
            Mark::Warn,
            "share feed",
            format!(
                "{shown}: no answer within {} s (a pool host spools until NATS answers)",
                (RPC_TIMEOUT * 2).as_secs()
            ),
        ),
    }
    let spool = &feed.spool_dir;
    match spool.ancestors().find(|p| p.exists()) {
        Some(dir) if dir.is_dir() && probe_write(dir).is_ok() => report.line(
            Mark::Ok,
            "feed spool",
            format!("{}: writable", spool.display()),
        ),
        _ => report.line(
            Mark::Problem,
            "feed spool",
            format!(
                "{}: cannot be created or written (feed.spool_dir)",
                spool.display()
            ),
        ),
    }
}

fn check_lmdb(report: &mut Report, config: &FileConfig) {
    let path = &config.lmdb.path;
    // The roles create the directory when it is missing: its nearest existing ancestor must
    // then be writable.
    let existing = path.ancestors().find(|p| p.exists());
    let Some(dir) = existing else {
        report.line(
            Mark::Problem,
            "LMDB",
            format!("{}: no part of the path exists", path.display()),
        );
        return;
    };
    if !dir.is_dir() {
        report.line(
            Mark::Problem,
            "LMDB",
            format!("{}: {} is not a directory", path.display(), dir.display()),
        );
        return;
    }
    match probe_write(dir) {
        Ok(()) => {
            let how = if dir == path.as_path() {
                "writable".to_owned()
            } else {
                format!("will be created in {}", dir.display())
            };
            report.line(Mark::Ok, "LMDB", format!("{}: {how}", path.display()));
        }
        Err(e) => report.line(
            Mark::Problem,
            "LMDB",
            format!(
                "{}: {} is not writable by this user: {e}",
                path.display(),
                dir.display()
            ),
        ),
    }
}

fn check_randomx(report: &mut Report, config: &FileConfig) {
    let mode = config.pow.randomx_mode;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = pow::available_memory().map_or_else(
        || "unknown memory".to_owned(),
        |b| format!("{} MiB available", b >> 20),
    );
    let name = match mode {
        RandomxMode::Auto => "auto",
        RandomxMode::Fast => "fast",
        RandomxMode::Light => "light",
    };
    let text = if mode.resolves_to_fast() {
        let secs = DATASET_BUILD_CORE_SECS / cores as u64;
        format!(
            "{name}: fast mode on this host ({memory}, {cores} cores): about 2.4 GB per seed \
             (2080 MiB dataset and 256 MiB cache; twice that while the next seed's is built \
             ahead), and each dataset keeps every core busy for about {secs} s; the pool opens \
             its ports at once and verifies in light mode until the dataset is built, then \
             switches"
        )
    } else {
        let why = match mode {
            RandomxMode::Auto => format!(" (auto wants 6 GiB available for fast mode; {memory})"),
            _ => String::new(),
        };
        format!(
            "{name}: light mode on this host{why}: a 256 MiB cache per seed, ready in about a \
             second; each share costs about 8 times the CPU of fast mode ({cores} cores)"
        )
    };
    report.line(Mark::Ok, "RandomX", text);
}

/// Creates and removes one empty file in `dir`: whether this user may write there.
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".rxpool-config-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

fn join<T: fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}
