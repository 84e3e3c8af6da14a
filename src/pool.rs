//! The `pool` role: stratum listeners, templates, jobs, vardiff, trust, bans, share validation
//! and block submission. Writes shares and found blocks to LMDB (or, with `[feed]`, to the NATS
//! feed that `ingest` writes to LMDB on the central host); reads ports, bans and
//! settings from MySQL and keeps this host's `pools`/`ports` heartbeat rows fresh.
//!
//! Layout: `protocol` (wire framing and envelope), `rejection` (every "no" as a value),
//! `login` (login/password syntax), `jobs` (extra nonces, job ring, duplicates), `vardiff`,
//! `trust`, `bans` (ratio bans, permanent bans, IP caps, token buckets), `templates` (the current
//! and previous templates), `settings`, `state` (what sessions share, and the service seams),
//! `miner` (a logged-in miner's state, which the session holds and lends to `validate`),
//! `session` (one connection's state machine and methods), `validate` (the share path),
//! `found_block` (a found block recorded before it is submitted),
//! `listener` (TCP/TLS accept and the connection loop), `proxy_protocol` (PROXY headers from
//! load balancers), `feed` (template polling),
//! `notify` (monerod's block-notify datagrams, which make `feed` poll at once), `services`
//! (the real verifier, LMDB writer and daemon behind the seams).

pub mod bans;
pub mod feed;
pub mod found_block;
pub mod jobs;
pub mod listener;
pub mod login;
pub mod miner;
pub mod notify;
pub mod protocol;
pub mod proxy_protocol;
pub mod rejection;
pub mod services;
pub mod session;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod templates;
pub mod trust;
pub mod validate;
pub mod vardiff;

use crate::config::FileConfig;
use crate::domain::{Difficulty, PoolType, SystemClock};
use crate::monero::daemon::DaemonClient;
use crate::monero::pow::{Verifier, VerifierConfig};
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
    for (port, tls) in ports {
        addrs.push(open_port(shared.clone(), bind, port, tls, shutdown.clone(), tracker).await?);
    }
    Ok(addrs)
}

/// Binds one stratum port and serves it on `tracker` until `stop` (which also closes its
/// connections).
async fn open_port(
    shared: Arc<Shared>,
    bind: &str,
    mut port: PortInfo,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind((bind, port.port))
        .await
        .with_context(|| format!("binding stratum port {}:{}", bind, port.port))?;
    let addr = listener.local_addr()?;
    port.port = addr.port();
    tracing::info!(%addr, tls = port.tls, proxy_protocol = port.proxy_protocol, pool_type = %port.pool_type, diff = %port.difficulty, "stratum port open");
    tracker.spawn(listener::serve(
        shared,
        listener,
        port,
        tls,
        stop,
        tracker.clone(),
    ));
    Ok(addr)
}

/// The stratum ports this host serves, following `port_config` and the `*.enable` settings
/// at every refresh: a port whose payout mode is switched off is closed (with its
/// connections), one switched on is opened.
struct Ports {
    bind: String,
    tls_files: Option<crate::config::TlsConfig>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    open: std::collections::BTreeMap<u16, (PortConfig, CancellationToken)>,
}

impl Ports {
    /// Opens what should be open and closes what should not. With `strict` (start-up) a port
    /// that cannot be opened is an error; later it is logged and tried again next time.
    async fn reconcile(
        &mut self,
        shared: &Arc<Shared>,
        db: &sqlx::MySqlPool,
        modes: &crate::config::settings::Modes,
        strict: bool,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) -> anyhow::Result<()> {
        let rows = mysql::registry::ports(db).await?;
        let proxied = mysql::registry::proxy_protocol_ports(db).await?;
        let wanted: std::collections::BTreeMap<u16, PortConfig> = rows
            .into_iter()
            .filter(|p| match p.pool_type {
                PoolType::Pplns => modes.pplns_enable,
                PoolType::Pps => modes.pps_enable,
                PoolType::Solo => modes.solo_enable,
            })
            .map(|p| (p.port, p))
            .collect();
        anyhow::ensure!(
            !strict || !wanted.is_empty(),
            "no port_config row for an enabled payout mode"
        );
        self.open.retain(|port, (config, stop)| {
            let keep = wanted.contains_key(port);
            if !keep {
                tracing::info!(port, pool_type = %config.pool_type, "stratum port closed");
                stop.cancel();
            }
            keep
        });
        for (number, config) in wanted {
            if self.open.contains_key(&number) {
                continue;
            }
            match self
                .open_one(
                    shared,
                    &config,
                    proxied.contains(&number),
                    shutdown,
                    tracker,
                )
                .await
            {
                Ok(stop) => {
                    self.open.insert(number, (config, stop));
                }
                Err(e) if strict => return Err(e),
                Err(e) => {
                    tracing::warn!(port = number, error = %format!("{e:#}"), "stratum port not opened")
                }
            }
        }
        Ok(())
    }

    async fn open_one(
        &mut self,
        shared: &Arc<Shared>,
        config: &PortConfig,
        proxy_protocol: bool,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) -> anyhow::Result<CancellationToken> {
        let tls = if config.tls {
            if self.tls.is_none() {
                let files = self
                    .tls_files
                    .as_ref()
                    .context("a TLS port is configured but [tls] cert/key are not")?;
                self.tls = Some(listener::tls_acceptor(&files.cert, &files.key)?);
            }
            self.tls.clone()
        } else {
            None
        };
        let info = PortInfo {
            port: config.port,
            difficulty: Difficulty(u128::from(config.difficulty)),
            pool_type: config.pool_type,
            tls: config.tls,
            proxy_protocol,
        };
        let stop = shutdown.child_token();
        open_port(shared.clone(), &self.bind, info, tls, stop.clone(), tracker).await?;
        Ok(stop)
    }
}

/// The role's entry point.
pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = mysql::connect_config(&config.mysql)
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

    let sink = services::share_sink(&config, shutdown.clone()).await?;
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
    let mut mail_settings = settings.clone();
    crate::mail::resolve_public_url(&mut mail_settings, &config.api.bind);
    let mut shared = Shared::new(
        pool_settings,
        config.pool.instance_id.unwrap_or(config.pool.pool_id),
        rand::random(),
        Arc::new(services::VerifierHasher(verifier.clone())),
        sink.clone(),
        Arc::new(services::DaemonSubmitter(daemon.clone())),
        Arc::new(SystemClock),
    );
    shared.emails = Some(email_tx);
    shared.pool_id = config.pool.pool_id;
    shared.connection_cap = Arc::new(tokio::sync::Semaphore::new(
        usize::try_from(config.pool.max_connections)
            .unwrap_or(usize::MAX)
            .min(tokio::sync::Semaphore::MAX_PERMITS),
    ));
    shared.proxies = proxy_protocol::TrustedProxies::parse(&config.pool.proxy_addresses)
        .map_err(anyhow::Error::msg)
        .context("[pool] proxy_addresses")?;
    let shared = Arc::new(shared);
    let _metrics = telemetry::register(&shared, verifier);
    refresh_bans(&shared, &db).await;

    // Registered under the public address before anything is served: a pool_id held by another
    // host would give both hosts the same extra nonces.
    let ip = config.pool.public_address.clone();
    match mysql::registry::register_pool(&db, config.pool.pool_id, &ip, &config.pool.hostname).await
    {
        Err(e @ mysql::MysqlError::Invalid(_)) => return Err(e).context("registering in `pools`"),
        Err(e) => tracing::warn!(error = %e, "could not register in `pools`"),
        Ok(()) => {}
    }
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
    let mut ports = Ports {
        bind: config.pool.bind.clone(),
        tls_files: config.tls.clone(),
        tls: None,
        open: Default::default(),
    };
    ports
        .reconcile(&shared, &db, &settings.modes, true, &shutdown, &tracker)
        .await?;

    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut refresh = tokio::time::interval(Duration::from_secs(config.pool.refresh_secs.max(1)));
    refresh.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(reg) = email_rx.recv() => {
                // Double opt-in: the address only gets a confirmation link (`mail::subscriptions`).
                let now = crate::domain::Clock::now(&SystemClock);
                if let Err(e) = crate::mail::request(&db, &mail_settings, &reg.payout, &reg.email, now).await {
                    tracing::debug!(error = %e, "e-mail not taken");
                }
            }
            _ = heartbeat.tick() => {
                let height = shared.current_template().map(|s| s.template.height().0);
                let beats: Vec<PortHeartbeat> = ports.open.values().map(|(p, _)| PortHeartbeat {
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
                    Ok(s) => {
                        shared.set_settings(services::pool_settings(&s, poll));
                        if let Err(e) = ports.reconcile(&shared, &db, &s.modes, false, &shutdown, &tracker).await {
                            tracing::warn!(error = %format!("{e:#}"), "ports refresh failed");
                        }
                    }
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
    sink.flush().await.context("flushing shares on shutdown")?;
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
