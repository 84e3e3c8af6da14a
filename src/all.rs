//! The `all` role: every role in one process, for the smallest pools and for `rxpool sandbox`.
//! Starts the pool first and the other roles beside it, and stops them in order (the pool
//! first, so everything it accepted reaches the shared LMDB writer, or with `[feed]` the
//! stream that this process's `ingest` reads, before the rest stop). Owns
//! no state; the roles still meet only in LMDB and MySQL, as in separate processes.

use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::runtime::Stage;

/// Every role in one process, started together and stopped in order.
///
/// A role that fails, at start (a stratum port already in use) or later, stops the whole
/// process at once with its error, so the service manager sees it. At shutdown the pool
/// stops first: it closes its ports and drains its connections, spot checks and found blocks
/// into the shared LMDB writer. Only then do the other roles stop; the writer closes with the
/// last handle (`store::lmdb::writer`), so nothing the pool accepted is cut off.
pub async fn run(config: FileConfig, signals: CancellationToken) -> anyhow::Result<()> {
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
    if config.feed.is_some() {
        // The pool publishes to the stream; this process's ingest writes it to LMDB.
        rest.spawn("ingest", |stop| crate::ingest::run(config.clone(), stop));
    }

    let failed = loop {
        tokio::select! {
            () = signals.cancelled() => break None,
            Some(ended) = pool.next_ended() => if let Err(e) = ended { break Some(e) },
            Some(ended) = rest.next_ended() => if let Err(e) = ended { break Some(e) },
        }
    };
    if failed.is_some() {
        // The error itself is printed once, by `main`, when the process exits with it.
        tracing::info!("a role failed; stopping every role");
    }
    let pool_stopped = pool.stop().await;
    let rest_stopped = rest.stop().await;
    match failed {
        Some(e) => Err(e),
        None => pool_stopped.and(rest_stopped),
    }
}
