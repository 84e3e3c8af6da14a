//! A process's own Prometheus metrics, served on `[metrics] bind` when set (any role, or
//! `all`, which serves one listener for every role it runs).
//!
//! Owns the `metrics` recorder (installed once per process, [`install`]), the list of every
//! metric name with its help text ([`names`], described at install), and the small HTTP
//! listener ([`start`]) whose `GET /metrics` renders them. Roles count with the `metrics`
//! macros on these names (a line at each point; without a recorder the macros do nothing). A
//! role that already keeps lock-free counters (the pool's) does not count twice: it
//! registers a scrape hook ([`on_scrape`]) that copies them into the recorder just before
//! each render.
//!
//! Below the roles: it knows no role, and the roles meet it only through names and hooks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use anyhow::Context;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

use crate::config::MetricsConfig;

/// Every metric name the roles record, in one place.
pub mod names {
    /// Stratum connections open (gauge).
    pub const POOL_CONNECTIONS: &str = "rxpool_pool_connections";
    /// Miners logged in (gauge).
    pub const POOL_MINERS: &str = "rxpool_pool_miners_logged_in";
    /// Shares by `outcome`: accepted, low_diff, wrong_hash, duplicate, stale, other (counter).
    pub const POOL_SHARES: &str = "rxpool_pool_shares_total";
    /// Every refusal the pool sent, by `reason` (counter).
    pub const POOL_REJECTIONS: &str = "rxpool_pool_rejections_total";
    /// Blocks found by this pool process (counter).
    pub const POOL_BLOCKS: &str = "rxpool_pool_blocks_found_total";
    /// Jobs pushed to miners on template changes (counter).
    pub const POOL_JOBS_PUSHED: &str = "rxpool_pool_jobs_pushed_total";
    /// Shares waiting for the PoW verifier (gauge).
    pub const POOL_VERIFIER_QUEUE: &str = "rxpool_pool_verifier_queue";
    /// From a template change to the new job written to one miner, seconds (histogram).
    pub const POOL_JOB_PUSH: &str = "rxpool_pool_job_push_seconds";
    /// Found blocks the block manager settled, by `outcome`: confirmed, orphaned,
    /// credited (counter).
    pub const BLOCK_MANAGER_BLOCKS: &str = "rxpool_block_manager_blocks_total";
    /// One block-manager pass, seconds (histogram).
    pub const BLOCK_MANAGER_PASS: &str = "rxpool_block_manager_pass_seconds";
    /// Payout batches finished by `outcome` (counter).
    pub const PAYMENTS_BATCHES: &str = "rxpool_payments_batches_total";
    /// One payments cycle, seconds (histogram).
    pub const PAYMENTS_CYCLE: &str = "rxpool_payments_cycle_seconds";
    /// One worker rollup cycle, seconds (histogram).
    pub const WORKER_CYCLE: &str = "rxpool_worker_cycle_seconds";
    /// Shares the worker rolled up into its stats (counter).
    pub const WORKER_SHARES: &str = "rxpool_worker_shares_rolled_up_total";
    /// LMDB bytes up to the last used page, the map's high-water mark (gauge, cleaner).
    pub const LMDB_USED_BYTES: &str = "rxpool_lmdb_used_bytes";
    /// LMDB map size now (gauge, cleaner).
    pub const LMDB_MAP_BYTES: &str = "rxpool_lmdb_map_bytes";
    /// LMDB maximum map size, `[lmdb] max_map_size_mb` (gauge, cleaner).
    pub const LMDB_MAX_MAP_BYTES: &str = "rxpool_lmdb_max_map_bytes";
    /// Map growths by this process (gauge, cleaner).
    pub const LMDB_MAP_GROWTHS: &str = "rxpool_lmdb_map_growths";
    /// Shares the cleaner deleted (counter).
    pub const CLEANER_PRUNED_SHARES: &str = "rxpool_cleaner_pruned_shares_total";
    /// The cleaner's safe floor: shares below this template height may go (gauge).
    pub const CLEANER_FLOOR: &str = "rxpool_cleaner_floor_height";
    /// One cleaner cycle, seconds (histogram).
    pub const CLEANER_CYCLE: &str = "rxpool_cleaner_cycle_seconds";
}

/// Histogram buckets, seconds: from a job push (sub-millisecond) to a slow payments cycle.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// A function run just before each render (copies a role's own counters in).
pub type ScrapeHook = dyn Fn() + Send + Sync;

static HOOKS: Mutex<Vec<Weak<ScrapeHook>>> = Mutex::new(Vec::new());

/// Installs the Prometheus recorder for this process (once; later calls return the same
/// handle) and describes every metric of [`names`].
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("the bucket list is not empty");
            let handle = match builder.install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    // Another recorder is installed (a test harness): render our own anyway.
                    tracing::warn!(error = %e, "metrics recorder already set; serving an empty one");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            };
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_gauge!(POOL_CONNECTIONS, "Stratum connections open.");
    describe_gauge!(POOL_MINERS, "Miners logged in.");
    describe_counter!(
        POOL_SHARES,
        "Shares by outcome: accepted, low_diff, wrong_hash, duplicate, stale, other."
    );
    describe_counter!(POOL_REJECTIONS, "Refusals sent to miners, by reason.");
    describe_counter!(POOL_BLOCKS, "Blocks found by this pool process.");
    describe_counter!(
        POOL_JOBS_PUSHED,
        "Jobs pushed to miners on template changes."
    );
    describe_gauge!(POOL_VERIFIER_QUEUE, "Shares waiting for the PoW verifier.");
    describe_histogram!(
        POOL_JOB_PUSH,
        metrics::Unit::Seconds,
        "From a template change to the new job written to one miner."
    );
    describe_counter!(
        BLOCK_MANAGER_BLOCKS,
        "Found blocks settled by the block manager, by outcome (confirmed, orphaned, credited)."
    );
    describe_histogram!(
        BLOCK_MANAGER_PASS,
        metrics::Unit::Seconds,
        "One block-manager pass."
    );
    describe_counter!(PAYMENTS_BATCHES, "Payout batches finished, by outcome.");
    describe_histogram!(
        PAYMENTS_CYCLE,
        metrics::Unit::Seconds,
        "One payments cycle."
    );
    describe_histogram!(
        WORKER_CYCLE,
        metrics::Unit::Seconds,
        "One worker rollup cycle."
    );
    describe_counter!(WORKER_SHARES, "Shares the worker rolled up into its stats.");
    describe_gauge!(
        LMDB_USED_BYTES,
        metrics::Unit::Bytes,
        "LMDB bytes up to the last used page (the map's high-water mark)."
    );
    describe_gauge!(LMDB_MAP_BYTES, metrics::Unit::Bytes, "LMDB map size now.");
    describe_gauge!(
        LMDB_MAX_MAP_BYTES,
        metrics::Unit::Bytes,
        "LMDB maximum map size."
    );
    describe_gauge!(LMDB_MAP_GROWTHS, "LMDB map growths by this process.");
    describe_counter!(CLEANER_PRUNED_SHARES, "Shares the cleaner deleted.");
    describe_gauge!(
        CLEANER_FLOOR,
        "The cleaner's safe floor: shares below this template height may be deleted."
    );
    describe_histogram!(CLEANER_CYCLE, metrics::Unit::Seconds, "One cleaner cycle.");
}

/// Runs `hook` before every render for as long as the caller keeps the `Arc`.
pub fn on_scrape(hook: &Arc<ScrapeHook>) {
    let mut hooks = HOOKS.lock().unwrap_or_else(|p| p.into_inner());
    hooks.retain(|h| h.strong_count() > 0);
    hooks.push(Arc::downgrade(hook));
}

/// The current metrics in the text format (runs the scrape hooks first).
pub fn render() -> String {
    let handle = install();
    let hooks: Vec<Arc<ScrapeHook>> = HOOKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for hook in hooks {
        hook();
    }
    handle.run_upkeep();
    handle.render()
}

/// With `[metrics] bind` set: installs the recorder and serves `GET /metrics` there until
/// `shutdown`. Fails when the address cannot be bound (so a typo stops the role at start).
pub async fn start(config: &MetricsConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Some(bind) = config.bind else {
        return Ok(());
    };
    install();
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding [metrics] bind {bind}"))?;
    let addr: SocketAddr = listener.local_addr().context("metrics listener address")?;
    let app = Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                render(),
            )
                .into_response()
        }),
    );
    tracing::info!(%addr, "serving metrics");
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics listener failed");
        }
    });
    Ok(())
}
