//! The `pool` role: stratum listeners, templates, jobs, vardiff, trust, bans, share validation
//! and block submission. Writes shares and found blocks to LMDB; reads ports, bans and
//! settings from MySQL and keeps this host's `pools`/`ports` heartbeat rows fresh.
//!
//! Layout: `protocol` (wire framing and envelope), `rejection` (every "no" as a value),
//! `login` (login/password syntax), `jobs` (extra nonces, job ring, duplicates), `vardiff`,
//! `trust`, `bans` (ratio bans, permanent bans, IP caps, token buckets), `templates` (the current
//! and previous templates), `settings`, `state` (what sessions share, and the service seams),
//! `session` (one connection's state machine and methods), `validate` (the share path),
//! `found_block` (a found block recorded before it is submitted),
//! `listener` (TCP/TLS accept and the connection loop), `feed` (template polling),
//! `notify` (monerod's block-notify datagrams, which make `feed` poll at once), `services`
//! (the real verifier, LMDB writer and daemon behind the seams).

pub mod bans;
pub mod feed;
pub mod found_block;
pub mod jobs;
pub mod listener;
pub mod login;
pub mod notify;
pub mod protocol;
pub mod rejection;
pub mod services;
pub mod session;
pub mod settings;
pub mod state;
pub mod templates;
pub mod trust;
pub mod validate;
pub mod vardiff;

use crate::config::FileConfig;
use crate::domain::{Difficulty, PoolType, SystemClock};
use crate::monero::daemon::DaemonClient;
use crate::monero::pow::{Verifier, VerifierConfig};
use crate::store::lmdb::{ShareStore, StoreOptions, WriterConfig};
use crate::store::mysql::{self, BanTarget, PortConfig, PortHeartbeat};
use anyhow::Context;
use session::PortInfo;
use state::{EmailRegistration, Shared};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often `pools`/`ports` are refreshed (reference §2.9: 10 s).
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often bans and settings are re-read from MySQL.
const REFRESH: Duration = Duration::from_secs(30);

/// Opens one listener per port on `bind` and serves them on `tracker` until `shutdown`.
/// Returns the bound addresses (port 0 binds a free port: tests).
pub async fn start_listeners(
    shared: Arc<Shared>,
    bind: &str,
    ports: Vec<(PortInfo, Option<tokio_rustls::TlsAcceptor>)>,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<Vec<SocketAddr>> {
    let mut addrs = Vec::new();
    for (mut port, tls) in ports {
        let listener = tokio::net::TcpListener::bind((bind, port.port))
            .await
            .with_context(|| format!("binding stratum port {}:{}", bind, port.port))?;
        let addr = listener.local_addr()?;
        port.port = addr.port();
        addrs.push(addr);
        tracing::info!(%addr, tls = port.tls, pool_type = %port.pool_type, diff = %port.difficulty, "stratum port open");
        tracker.spawn(listener::serve(
            shared.clone(),
            listener,
            port,
            tls,
            shutdown.clone(),
            tracker.clone(),
        ));
    }
    Ok(addrs)
}

/// The role's entry point.
pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = mysql::connect(config.mysql.url.expose())
        .await
        .context("connecting to MySQL")?;
    let settings = mysql::load_settings(&db, &config.overrides)
        .await
        .context("loading settings")?;
    let poll = Duration::from_millis(config.daemon.template_poll_ms);
    let pool_settings = services::pool_settings(&settings, poll);
    anyhow::ensure!(
        !pool_settings.pool_address.is_empty(),
        "pool.address is not set (rxpool admin config set pool.address ...)"
    );

    let store = ShareStore::open(&StoreOptions {
        map_size: (config.lmdb.map_size_mb as usize) << 20,
        max_map_size: (config.lmdb.max_map_size_mb as usize) << 20,
        max_readers: config.lmdb.max_readers,
        ..StoreOptions::new(&config.lmdb.path)
    })
    .context("opening LMDB")?;
    let writer = store.writer(WriterConfig::default())?;
    let verifier = Verifier::new(VerifierConfig {
        randomx_mode: config.pow.randomx_mode,
        threads: config.pow.verifier_threads,
        ..VerifierConfig::default()
    });
    let daemon = Arc::new(
        DaemonClient::with_timeout(
            &config.daemon.urls,
            Duration::from_secs(config.daemon.timeout_secs),
        )
        .context("daemon URLs")?,
    );
    let (email_tx, mut email_rx) = tokio::sync::mpsc::channel::<EmailRegistration>(1024);
    let mut shared = Shared::new(
        pool_settings,
        config.pool.instance_id.unwrap_or(config.pool.pool_id),
        rand::random(),
        Arc::new(services::VerifierHasher(verifier)),
        Arc::new(services::LmdbSink(writer.clone())),
        Arc::new(services::DaemonSubmitter(daemon.clone())),
        Arc::new(SystemClock),
    );
    shared.emails = Some(email_tx);
    let shared = Arc::new(shared);
    refresh_bans(&shared, &db).await;

    let ports: Vec<PortConfig> = mysql::registry::ports(&db)
        .await?
        .into_iter()
        .filter(|p| match p.pool_type {
            PoolType::Pplns => settings.modes.pplns_enable,
            PoolType::Pps => settings.modes.pps_enable,
            PoolType::Solo => settings.modes.solo_enable,
        })
        .collect();
    anyhow::ensure!(
        !ports.is_empty(),
        "no port_config row for an enabled payout mode"
    );
    // Registered under the public address before anything is served: a pool_id held by another
    // host would give both hosts the same extra nonces.
    let ip = config.pool.public_address.clone();
    match mysql::registry::register_pool(&db, config.pool.pool_id, &ip, &config.pool.hostname).await
    {
        Err(e @ mysql::MysqlError::Invalid(_)) => return Err(e).context("registering in `pools`"),
        Err(e) => tracing::warn!(error = %e, "could not register in `pools`"),
        Ok(()) => {}
    }
    let tls = match (&config.tls, ports.iter().any(|p| p.tls)) {
        (Some(t), true) => Some(listener::tls_acceptor(&t.cert, &t.key)?),
        (None, true) => anyhow::bail!("a TLS port is configured but [tls] cert/key are not"),
        _ => None,
    };
    let tracker = TaskTracker::new();
    if let Some(addr) = config.pool.block_notify {
        let socket = notify::bind(addr)
            .await
            .with_context(|| format!("binding pool.block_notify {addr}"))?;
        tracing::info!(%addr, "taking monerod block notifications");
        let feed = shared.clone();
        tracker.spawn(notify::run(
            socket,
            move || feed.refresh.notify_one(),
            shutdown.clone(),
        ));
    }
    tracker.spawn(feed::run(shared.clone(), daemon.clone(), shutdown.clone()));
    tracker.spawn(feed::watch_lag(
        shared.clone(),
        daemon.clone(),
        Duration::from_secs(config.daemon.lag_check_secs.max(1)),
        config.daemon.lag_tolerance_blocks,
        shutdown.clone(),
    ));
    let listeners = ports
        .iter()
        .map(|p| {
            let info = PortInfo {
                port: p.port,
                difficulty: Difficulty(u128::from(p.difficulty)),
                pool_type: p.pool_type,
                tls: p.tls,
            };
            (info, if p.tls { tls.clone() } else { None })
        })
        .collect();
    start_listeners(
        shared.clone(),
        &config.pool.bind,
        listeners,
        &shutdown,
        &tracker,
    )
    .await?;

    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut refresh = tokio::time::interval(REFRESH);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(reg) = email_rx.recv() => {
                if let Err(e) = mysql::registry::register_email(&db, &reg.payout, &reg.email).await {
                    tracing::debug!(error = %e, "e-mail not stored");
                }
            }
            _ = heartbeat.tick() => {
                let height = shared.current_template().map(|s| s.template.height().0);
                let beats: Vec<PortHeartbeat> = ports.iter().map(|p| PortHeartbeat {
                    port: p.clone(),
                    miners: u32::try_from(shared.stats.miners_on(p.port)).unwrap_or(u32::MAX),
                }).collect();
                if let Err(e) = mysql::registry::heartbeat(&db, config.pool.pool_id, &ip, height, &beats).await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
            }
            _ = refresh.tick() => {
                refresh_bans(&shared, &db).await;
                match mysql::load_settings(&db, &config.overrides).await {
                    Ok(s) => shared.set_settings(services::pool_settings(&s, poll)),
                    Err(e) => tracing::warn!(error = %e, "settings refresh failed"),
                }
            }
        }
    }
    tracing::info!("pool stopping: closing connections and flushing shares");
    tracker.close();
    tracker.wait().await;
    // Shares answered before their spot check are recorded when it ends.
    shared.spot_checks.close();
    shared.spot_checks.wait().await;
    writer
        .flush()
        .await
        .context("flushing shares on shutdown")?;
    Ok(())
}

async fn refresh_bans(shared: &Shared, db: &sqlx::MySqlPool) {
    match mysql::registry::active_bans(db).await {
        Ok(bans) => {
            let mut ips = HashSet::new();
            let mut addresses = HashSet::new();
            for ban in bans {
                match ban.target {
                    BanTarget::Ip(ip) => {
                        ips.insert(ip);
                    }
                    BanTarget::Address(a) => {
                        addresses.insert(a);
                    }
                }
            }
            shared.bans.replace_permanent(ips, addresses);
        }
        Err(e) => tracing::warn!(error = %e, "bans refresh failed"),
    }
}
