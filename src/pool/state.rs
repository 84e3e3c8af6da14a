//! What every session of one pool process shares: settings, ban lists, counters, the template
//! ring and its `watch` channel, job ids, and the seams to the services the share path needs
//! (PoW hasher, share sink, block submitter; the sink's trait is `store::sink`'s, since the
//! share feed implements it too).
//!
//! The seams are traits so the share path can be driven in unit tests; the role wires the real
//! services (`monero::pow::Verifier`, `store::lmdb::ShareWriter`,
//! `monero::daemon::DaemonClient`) in `services`. Nothing here does I/O itself.

use super::bans::{BanList, IpCaps};
use super::jobs::JobIdSource;
use super::proxy_protocol::TrustedProxies;
use super::rejection::RejectionCounters;
use super::settings::PoolSettings;
use super::templates::{TemplateRing, TemplateSlot};
use crate::domain::{Clock, Hash32, UnixMillis};
use crate::monero::blob::Template;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{Notify, Semaphore, watch};

pub use crate::store::sink::{BoxFuture, ShareSink, SinkError};

/// Why a share's PoW was not computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashFailure {
    #[error("verifier overloaded")]
    Overloaded,
    #[error("verifier failed: {0}")]
    Failed(String),
}

/// Computes RandomX hashes off the reactor.
pub trait ShareHasher: Send + Sync + std::fmt::Debug {
    fn hash(&self, seed: Hash32, blob: Vec<u8>) -> BoxFuture<'_, Result<Hash32, HashFailure>>;
    /// Tells the hasher which seeds the current template uses.
    fn set_seeds(&self, current: Hash32, next: Option<Hash32>);
}

/// What the daemons said to a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSubmitResult {
    /// At least one daemon accepted it.
    pub accepted: bool,
    /// No daemon accepted it, but one did not answer: it may have reached the chain.
    pub uncertain: bool,
    /// One line per daemon, for the log.
    pub details: Vec<String>,
}

/// Sends a found block to every configured daemon.
pub trait BlockSubmitter: Send + Sync + std::fmt::Debug {
    fn submit_block(&self, blob: Vec<u8>) -> BoxFuture<'_, BlockSubmitResult>;
}

/// The current template as sessions see it.
pub type CurrentTemplate = Option<Arc<TemplateSlot<Template>>>;

/// Process-wide counters (lock-free).
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub trusted: AtomicU64,
    pub verified: AtomicU64,
    pub blocks: AtomicU64,
    pub connections: AtomicU64,
    pub logged_in: AtomicU64,
    /// Jobs pushed to miners on a template change (written to their sockets).
    pub jobs_pushed: AtomicU64,
    miners_per_port: Mutex<HashMap<u16, u64>>,
}

impl Stats {
    pub fn miner_joined(&self, port: u16) {
        self.logged_in.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.miners_per_port.lock() {
            *m.entry(port).or_insert(0) += 1;
        }
    }

    pub fn miner_left(&self, port: u16) {
        self.logged_in.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut m) = self.miners_per_port.lock()
            && let Some(n) = m.get_mut(&port)
        {
            *n = n.saturating_sub(1);
        }
    }

    pub fn miners_on(&self, port: u16) -> u64 {
        self.miners_per_port
            .lock()
            .map(|m| m.get(&port).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// An e-mail given at login, to be stored in `users` (never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct EmailRegistration {
    pub payout: String,
    pub email: String,
}

impl std::fmt::Debug for EmailRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailRegistration")
            .field("payout", &self.payout)
            .field("email", &"<redacted>")
            .finish()
    }
}

/// State shared by every session of the process.
#[derive(Debug)]
pub struct Shared {
    settings: RwLock<Arc<PoolSettings>>,
    pub bans: BanList,
    pub ip_caps: Arc<IpCaps>,
    /// The process-wide connection cap (`[pool] max_connections`): a connection holds a
    /// permit for its life; with none left, new connections are closed at accept.
    pub connection_cap: Arc<Semaphore>,
    /// Balancers allowed to send PROXY headers (`[pool] proxy_addresses`).
    pub proxies: TrustedProxies,
    pub rejections: RejectionCounters,
    pub templates: TemplateRing<Template>,
    current: watch::Sender<CurrentTemplate>,
    pub job_ids: JobIdSource,
    /// Written into every extra nonce so several pool hosts never share work.
    pub instance_id: u32,
    /// This host's `pool.pool_id`, under which its shares are counted (set by the role;
    /// 0 until then).
    pub pool_id: u32,
    pub hasher: Arc<dyn ShareHasher>,
    pub sink: Arc<dyn ShareSink>,
    pub submitter: Arc<dyn BlockSubmitter>,
    /// Wakes the template poller at once (after a block submission).
    pub refresh: Notify,
    pub clock: Arc<dyn Clock>,
    pub stats: Stats,
    pub emails: Option<tokio::sync::mpsc::Sender<EmailRegistration>>,
    /// Spot checks of trusted miners' sampled shares, running after the reply; shutdown
    /// waits for them before the share writer is flushed.
    pub spot_checks: tokio_util::task::TaskTracker,
    /// Share trust per address and per IP, for the whole process.
    pub trust: super::trust::TrustBook,
}

impl Shared {
    /// Builds the shared state; `instance_id` and the job-id key should be random per process.
    pub fn new(
        settings: PoolSettings,
        instance_id: u32,
        job_id_key: u64,
        hasher: Arc<dyn ShareHasher>,
        sink: Arc<dyn ShareSink>,
        submitter: Arc<dyn BlockSubmitter>,
        clock: Arc<dyn Clock>,
    ) -> Shared {
        let (current, _) = watch::channel(None);
        let ip_caps = IpCaps::new(settings.max_connections_per_ip);
        ip_caps.set_limits(settings.max_connections_per_ip, settings.bans.ipv6_prefix);
        let bans = BanList::default();
        bans.set_ipv6_prefix(settings.bans.ipv6_prefix);
        Shared {
            ip_caps,
            connection_cap: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            proxies: TrustedProxies::default(),
            templates: TemplateRing::new(settings.previous_templates),
            settings: RwLock::new(Arc::new(settings)),
            bans,
            rejections: RejectionCounters::default(),
            current,
            job_ids: JobIdSource::new(job_id_key),
            instance_id,
            pool_id: 0,
            hasher,
            sink,
            submitter,
            refresh: Notify::new(),
            clock,
            stats: Stats::default(),
            emails: None,
            spot_checks: tokio_util::task::TaskTracker::new(),
            trust: super::trust::TrustBook::default(),
        }
    }

    pub fn settings(&self) -> Arc<PoolSettings> {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the settings (the 30 s refresh). What lives outside the snapshot follows at
    /// once: the per-IP cap and IPv6 prefix for new connections, the ban prefix, and the number
    /// of previous templates kept (trimmed at the next template).
    pub fn set_settings(&self, settings: PoolSettings) {
        self.ip_caps
            .set_limits(settings.max_connections_per_ip, settings.bans.ipv6_prefix);
        self.bans.set_ipv6_prefix(settings.bans.ipv6_prefix);
        self.templates.set_previous(settings.previous_templates);
        let mut s = match self.settings.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *s = Arc::new(settings);
    }

    /// Makes `template` current and wakes every session (each cuts its own job).
    pub fn publish_template(&self, template: Template) -> Arc<TemplateSlot<Template>> {
        self.hasher
            .set_seeds(template.seed_hash(), template.next_seed_hash());
        let slot = self.templates.push(template);
        self.current.send_replace(Some(slot.clone()));
        slot
    }

    /// Tells sessions there is no usable template (daemons down).
    pub fn withdraw_template(&self) {
        self.current.send_replace(None);
    }

    pub fn current_template(&self) -> CurrentTemplate {
        self.current.borrow().clone()
    }

    /// A receiver that sees every template change.
    pub fn subscribe(&self) -> watch::Receiver<CurrentTemplate> {
        self.current.subscribe()
    }

    pub fn now(&self) -> UnixMillis {
        self.clock.now()
    }
}
