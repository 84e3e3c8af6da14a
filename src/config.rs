//! Configuration: `config.toml` (what one host needs to start) and the shared settings kept in
//! the MySQL `config` table (what every host shares).
//!
//! [`FileConfig`] is parsed once at start with `deny_unknown_fields` and validated with
//! messages that name the key; secrets are masked wherever the config is printed.
//! [`Settings`] is the typed view of the MySQL `config` rows (module/item/value/type, with
//! nodejs-pool's item names), built from the one registry in [`settings`] that also seeds
//! missing rows at `rxpool migrate`. This module does no I/O beyond reading the file; the
//! rows are read by `store::mysql`.

pub mod feed;
pub mod settings;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::monero::pow::RandomxMode;

pub use settings::{FeePolicy, Settings, SettingsError};

/// Why `config.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// A secret string: deserialized like a string, printed as `***`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// The parsed `config.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub mysql: MysqlConfig,
    pub lmdb: LmdbConfig,
    pub daemon: DaemonConfig,
    pub wallet: WalletConfig,
    pub pool: PoolConfig,
    #[serde(default)]
    pub pow: PowConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub backup: BackupConfig,
    /// Shared settings set on this host only: `"module.item" = "value"`; they win over the
    /// MySQL `config` table.
    #[serde(default)]
    pub overrides: std::collections::BTreeMap<String, String>,
    /// `[feed]`: pool hosts publish to NATS JetStream and `ingest` writes LMDB ([`feed`]).
    #[serde(default)]
    pub feed: Option<feed::FeedConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database`.
    pub url: Secret,
    /// Most connections each role's MySQL pool opens (`all` runs one pool per role). At least
    /// [`MYSQL_MIN_CONNECTIONS`]: payments holds one for its runner lock while it works.
    #[serde(default = "defaults::mysql_max_connections")]
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmdbConfig {
    pub path: PathBuf,
    /// Initial map size in MiB; the map doubles on MDB_MAP_FULL up to `max_map_size_mb`.
    #[serde(default = "defaults::lmdb_map_size_mb")]
    pub map_size_mb: u64,
    #[serde(default = "defaults::lmdb_max_map_size_mb")]
    pub max_map_size_mb: u64,
    #[serde(default = "defaults::lmdb_max_readers")]
    pub max_readers: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// monerod RPC URLs; the first is primary, the rest are failover.
    pub urls: Vec<String>,
    #[serde(default = "defaults::daemon_timeout_secs")]
    pub timeout_secs: u64,
    /// How often the pool asks for a new template, in milliseconds.
    #[serde(default = "defaults::template_poll_ms")]
    pub template_poll_ms: u64,
    /// With several URLs: how often the pool compares their tips, in seconds.
    #[serde(default = "defaults::lag_check_secs")]
    pub lag_check_secs: u64,
    /// A daemon this many blocks behind the best one is not used until it catches up.
    #[serde(default = "defaults::lag_tolerance_blocks")]
    pub lag_tolerance_blocks: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// monero-wallet-rpc URL.
    pub url: String,
    #[serde(default = "defaults::wallet_timeout_secs")]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Address the stratum listeners bind to.
    #[serde(default = "defaults::pool_bind")]
    pub bind: String,
    /// This host's id in the `pools` table; also its extra-nonce instance id unless
    /// `instance_id` is set.
    pub pool_id: u32,
    /// This host's name in the `pools` table and e-mails. Defaults to the machine's hostname.
    #[serde(default = "defaults::hostname")]
    pub hostname: String,
    /// This host's public name or IP as miners and other hosts reach it, written to
    /// `pools.ip` and `ports.ip_address` (never the bind address, which is often 0.0.0.0).
    /// Defaults to the machine's hostname.
    #[serde(default = "defaults::public_address")]
    pub public_address: String,
    /// UDP address on which the pool takes monerod's block notifications
    /// (`monerod --block-notify "rxpool notify-block --to ADDR %s"`); each one triggers an
    /// immediate template poll. Off when unset.
    #[serde(default)]
    pub block_notify: Option<SocketAddr>,
    /// 4-byte instance id written into every job's reserved space, so several pool hosts
    /// never produce the same blob. Defaults to `pool_id`.
    #[serde(default)]
    pub instance_id: Option<u32>,
    /// Stratum connections this process holds at once over all its ports (a `Semaphore`);
    /// past it a new connection is closed at accept. Keep it under the open-files limit.
    #[serde(default = "defaults::pool_max_connections")]
    pub max_connections: u32,
    /// Load balancers (addresses or networks) allowed to send a PROXY protocol header on
    /// ports marked `proxyProtocol` in `port_config`. Empty: such ports refuse everyone.
    #[serde(default)]
    pub proxy_addresses: Vec<String>,
    /// Seconds between re-reads of settings, bans and ports from MySQL.
    #[serde(default = "defaults::pool_refresh_secs")]
    pub refresh_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowConfig {
    #[serde(default)]
    pub randomx_mode: RandomxMode,
    /// Verifier threads; 0 means one per core.
    #[serde(default)]
    pub verifier_threads: usize,
}

impl Default for PowConfig {
    fn default() -> Self {
        PowConfig {
            randomx_mode: RandomxMode::Auto,
            verifier_threads: 0,
        }
    }
}

/// `[api]`: where the `api` role serves HTTP, and the limits around every route. An empty
/// `general.publicUrl` makes links in e-mails `http://BIND`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default = "defaults::api_bind")]
    pub bind: String,
    /// Whether the api serves the web dashboard (`api::dashboard`) at `/`.
    #[serde(default = "defaults::api_dashboard")]
    pub dashboard: bool,
    // Hardening (`api::limits`).
    /// Largest request body accepted, in bytes (413 past it).
    #[serde(default = "defaults::api_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Longest a request may take before it is answered 503, in milliseconds (a websocket is
    /// not cut after its upgrade).
    #[serde(default = "defaults::api_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Requests per second each client IP may make on average; 0 turns the limit off.
    #[serde(default = "defaults::api_rate_limit_per_sec")]
    pub rate_limit_per_sec: u32,
    /// Requests a client IP may make at once before the average applies.
    #[serde(default = "defaults::api_rate_limit_burst")]
    pub rate_limit_burst: u32,
    /// Reverse proxies (addresses or networks such as `10.0.0.0/8`) whose `X-Forwarded-For`
    /// and `X-Real-IP` name the client; from anyone else those headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Origins allowed by CORS; `["*"]` (the default) allows any, as nodejs-pool.
    #[serde(default = "defaults::api_cors_origins")]
    pub cors_origins: Vec<String>,
    // Websocket push (`/ws`, `api::push`): caps per socket, per IP and in all.
    /// Most open websockets in all.
    #[serde(default = "defaults::ws_max_sockets")]
    pub ws_max_sockets: usize,
    /// Most open websockets from one IP address.
    #[serde(default = "defaults::ws_max_sockets_per_ip")]
    pub ws_max_sockets_per_ip: usize,
    /// Most topics one websocket may subscribe to.
    #[serde(default = "defaults::ws_max_topics_per_socket")]
    pub ws_max_topics_per_socket: usize,
    /// Largest message a client may send, in bytes.
    #[serde(default = "defaults::ws_max_message_bytes")]
    pub ws_max_message_bytes: usize,
    /// Messages a client may send per second, on average ...
    #[serde(default = "defaults::ws_messages_per_second")]
    pub ws_messages_per_second: u32,
    /// ... and in a burst.
    #[serde(default = "defaults::ws_message_burst")]
    pub ws_message_burst: u32,
    /// The server pings every socket this often (seconds) ...
    #[serde(default = "defaults::ws_ping_secs")]
    pub ws_ping_secs: u64,
    /// ... and drops one it has heard nothing from (not even a pong) for this long.
    #[serde(default = "defaults::ws_idle_secs")]
    pub ws_idle_secs: u64,
    /// A socket whose send buffer stays full this long (seconds) is dropped.
    #[serde(default = "defaults::ws_send_timeout_secs")]
    pub ws_send_timeout_secs: u64,
}

impl ApiConfig {
    /// Checks the hardening keys; `Err((key, message))` names the bad one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.max_body_bytes == 0 {
            return Err(("api.max_body_bytes", "must be at least 1".into()));
        }
        if self.request_timeout_ms == 0 {
            return Err(("api.request_timeout_ms", "must be at least 1".into()));
        }
        if self.rate_limit_per_sec > 0 && self.rate_limit_burst == 0 {
            return Err((
                "api.rate_limit_burst",
                "must be at least 1 when api.rate_limit_per_sec is set".into(),
            ));
        }
        crate::domain::net::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| ("api.trusted_proxies", e))?;
        self.cors_origins
            .iter()
            .filter(|o| *o != "*")
            .try_for_each(|o| check_origin(o))
            .map_err(|e| ("api.cors_origins", e))
    }
}

/// A CORS origin as `[api] cors_origins` takes it: scheme and host (and port), no path.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
        && !origin.ends_with('/')
        && origin.len() <= 256
        && origin.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{origin:?} is not an origin such as https://pool.example.org (scheme and host, no \
             path), or \"*\""
        ))
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            bind: defaults::api_bind(),
            dashboard: defaults::api_dashboard(),
            max_body_bytes: defaults::api_max_body_bytes(),
            request_timeout_ms: defaults::api_request_timeout_ms(),
            rate_limit_per_sec: defaults::api_rate_limit_per_sec(),
            rate_limit_burst: defaults::api_rate_limit_burst(),
            trusted_proxies: Vec::new(),
            cors_origins: defaults::api_cors_origins(),
            ws_max_sockets: defaults::ws_max_sockets(),
            ws_max_sockets_per_ip: defaults::ws_max_sockets_per_ip(),
            ws_max_topics_per_socket: defaults::ws_max_topics_per_socket(),
            ws_max_message_bytes: defaults::ws_max_message_bytes(),
            ws_messages_per_second: defaults::ws_messages_per_second(),
            ws_message_burst: defaults::ws_message_burst(),
            ws_ping_secs: defaults::ws_ping_secs(),
            ws_idle_secs: defaults::ws_idle_secs(),
            ws_send_timeout_secs: defaults::ws_send_timeout_secs(),
        }
    }
}

/// `[metrics]`: where this process (any role, or `all`) serves its own Prometheus
/// `/metrics` (`telemetry`). Off when `bind` is unset.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `address:port`, e.g. `127.0.0.1:9101`.
    #[serde(default)]
    pub bind: Option<SocketAddr>,
}

/// `[backup]`: where `rxpool admin backup now` and the cleaner's schedule put consistent
/// copies of both stores (`crate::backup`), how often the cleaner takes one, and how many
/// are kept. Host-local: the host that runs the cleaner and holds the LMDB directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// The backup directory; one subdirectory per backup. Default `/var/lib/rxpool/backups`.
    #[serde(default = "defaults::backup_dir")]
    pub dir: PathBuf,
    /// How often the cleaner role takes a backup, e.g. `"24h"`, `"90m"`, `"1d"`; no
    /// scheduled backups when unset.
    #[serde(default)]
    pub interval: Option<String>,
    /// Backups kept: after each scheduled one the oldest beyond this count are deleted.
    /// Default 7.
    #[serde(default = "defaults::backup_keep")]
    pub keep: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            dir: defaults::backup_dir(),
            interval: None,
            keep: defaults::backup_keep(),
        }
    }
}

impl BackupConfig {
    /// The schedule's period, `None` when scheduled backups are off. Checked at load, so a
    /// loaded config's value parses.
    pub fn period(&self) -> Option<std::time::Duration> {
        self.interval.as_deref().and_then(|t| parse_span(t).ok())
    }
}

/// `"24h"`, `"90m"`, `"30s"`, `"1d"`: a whole number and one unit (s, m, h, d).
pub fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} must be a whole number and a unit, e.g. \"24h\""))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: the unit must be s, m, h or d, e.g. \"24h\""
            ));
        }
    };
    match n.checked_mul(unit_secs) {
        Some(secs) if secs > 0 => Ok(std::time::Duration::from_secs(secs)),
        Some(_) => Err(format!("{text:?} must be more than zero")),
        None => Err(format!("{text:?} is too long")),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain for the TLS stratum ports.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[smtp]`: where the `worker` role's mail sender (`mail::sender`) delivers the outbox:
/// `security = "starttls"` (submission, usually port 587), `"tls"` (implicit TLS, 465) or
/// `"none"` (plain, only for a relay on localhost). Without `[smtp]` mail stays queued.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "defaults::smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    pub from: String,
    /// `none`, `starttls` or `tls`.
    #[serde(default = "defaults::smtp_security")]
    pub security: String,
}

mod defaults {
    pub fn mysql_max_connections() -> u32 {
        10
    }
    pub fn lmdb_map_size_mb() -> u64 {
        1024
    }
    pub fn lmdb_max_map_size_mb() -> u64 {
        256 * 1024
    }
    pub fn lmdb_max_readers() -> u32 {
        512
    }
    pub fn daemon_timeout_secs() -> u64 {
        10
    }
    pub fn template_poll_ms() -> u64 {
        500
    }
    pub fn lag_check_secs() -> u64 {
        10
    }
    pub fn lag_tolerance_blocks() -> u64 {
        2
    }
    pub fn wallet_timeout_secs() -> u64 {
        120
    }
    pub fn pool_max_connections() -> u32 {
        100_000
    }
    pub fn pool_refresh_secs() -> u64 {
        30
    }
    pub fn pool_bind() -> String {
        "0.0.0.0".into()
    }
    pub fn hostname() -> String {
        super::machine_hostname().unwrap_or_else(|| "localhost".into())
    }
    pub fn public_address() -> String {
        hostname()
    }
    pub fn api_bind() -> String {
        "127.0.0.1:8001".into()
    }
    pub fn api_dashboard() -> bool {
        true
    }
    pub fn api_max_body_bytes() -> usize {
        16 * 1024
    }
    pub fn api_request_timeout_ms() -> u64 {
        10_000
    }
    pub fn api_rate_limit_per_sec() -> u32 {
        50
    }
    pub fn api_rate_limit_burst() -> u32 {
        100
    }
    pub fn api_cors_origins() -> Vec<String> {
        vec!["*".into()]
    }
    // Websocket push caps (`[api] ws_*`).
    pub fn ws_max_sockets() -> usize {
        10_000
    }
    pub fn ws_max_sockets_per_ip() -> usize {
        20
    }
    pub fn ws_max_topics_per_socket() -> usize {
        32
    }
    pub fn ws_max_message_bytes() -> usize {
        4096
    }
    pub fn ws_messages_per_second() -> u32 {
        5
    }
    pub fn ws_message_burst() -> u32 {
        40
    }
    pub fn ws_ping_secs() -> u64 {
        30
    }
    pub fn ws_idle_secs() -> u64 {
        90
    }
    pub fn ws_send_timeout_secs() -> u64 {
        30
    }
    pub fn backup_dir() -> std::path::PathBuf {
        "/var/lib/rxpool/backups".into()
    }
    pub fn backup_keep() -> u32 {
        7
    }
    pub fn smtp_port() -> u16 {
        587
    }
    pub fn smtp_security() -> String {
        "starttls".into()
    }
}

impl FileConfig {
    /// Reads, parses and validates `config.toml`.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        FileConfig::parse(&text).map_err(|err| match err {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        let config: FileConfig = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: PathBuf::from("config.toml"),
            message: err.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if !self.mysql.url.0.starts_with("mysql://") && !self.mysql.url.0.starts_with("mariadb://")
        {
            return invalid(
                "mysql.url",
                "must start with mysql:// (mysql://user:password@host:port/database)",
            );
        }
        if !(MYSQL_MIN_CONNECTIONS..=MYSQL_MAX_CONNECTIONS).contains(&self.mysql.max_connections) {
            return invalid(
                "mysql.max_connections",
                &format!(
                    "must be between {MYSQL_MIN_CONNECTIONS} and {MYSQL_MAX_CONNECTIONS} \
                     (payments holds one connection for its lock)"
                ),
            );
        }
        if self.lmdb.path.as_os_str().is_empty() {
            return invalid("lmdb.path", "must not be empty");
        }
        if self.lmdb.map_size_mb == 0 || self.lmdb.max_map_size_mb < self.lmdb.map_size_mb {
            return invalid(
                "lmdb.map_size_mb",
                "must be at least 1 and at most lmdb.max_map_size_mb",
            );
        }
        let api = &self.api;
        let ws_caps = [
            api.ws_max_sockets,
            api.ws_max_sockets_per_ip,
            api.ws_max_topics_per_socket,
            api.ws_max_message_bytes,
        ];
        if ws_caps.contains(&0) || api.ws_messages_per_second == 0 || api.ws_message_burst == 0 {
            return invalid("api.ws_*", "websocket caps must be at least 1");
        }
        if api.ws_ping_secs == 0
            || api.ws_send_timeout_secs == 0
            || api.ws_idle_secs <= api.ws_ping_secs
        {
            return invalid(
                "api.ws_idle_secs",
                "must exceed api.ws_ping_secs (at least 1 s), so a live client has answered a ping",
            );
        }
        if let Some(interval) = &self.backup.interval
            && let Err(why) = parse_span(interval)
        {
            return invalid("backup.interval", &why);
        }
        if self.backup.keep == 0 {
            return invalid("backup.keep", "must be at least 1");
        }
        if self.backup.dir.as_os_str().is_empty() {
            return invalid("backup.dir", "must not be empty");
        }
        if self.daemon.urls.is_empty() {
            return invalid("daemon.urls", "needs at least one monerod URL");
        }
        for url in &self.daemon.urls {
            if !is_http_url(url) {
                return invalid("daemon.urls", &format!("{url:?} is not an http(s):// URL"));
            }
        }
        if !is_http_url(&self.wallet.url) {
            return invalid("wallet.url", "must be an http(s):// URL");
        }
        if self.daemon.timeout_secs == 0 || self.wallet.timeout_secs == 0 {
            return invalid("daemon.timeout_secs", "timeouts must be at least 1 second");
        }
        if self.pool.bind.parse::<std::net::IpAddr>().is_err() {
            return invalid("pool.bind", "must be an IP address such as 0.0.0.0 or ::");
        }
        let public = &self.pool.public_address;
        if public.is_empty()
            || public.len() > PUBLIC_ADDRESS_MAX
            || public.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return invalid(
                "pool.public_address",
                "must be a host name or IP of at most 72 characters, without spaces",
            );
        }
        if let Some(addr) = self.pool.block_notify
            && (addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast())
        {
            return invalid(
                "pool.block_notify",
                "must be one address and a port, such as 127.0.0.1:18090 (not 0.0.0.0, \
                     not port 0): only monerod should reach it",
            );
        }
        if self.api.bind.parse::<SocketAddr>().is_err() {
            return invalid("api.bind", "must be an address:port such as 127.0.0.1:8001");
        }
        if let Err((key, message)) = self.api.check() {
            return invalid(key, &message);
        }
        if let Some(metrics) = self.metrics.bind
            && self.api.bind.parse::<SocketAddr>().ok() == Some(metrics)
        {
            return invalid("metrics.bind", "must differ from api.bind");
        }
        if let Some(smtp) = &self.smtp
            && !matches!(smtp.security.as_str(), "none" | "starttls" | "tls")
        {
            return invalid("smtp.security", "must be none, starttls or tls");
        }
        if let Some(Err((key, message))) = self.feed.as_ref().map(feed::FeedConfig::check) {
            return invalid(key, &message);
        }
        for key in self.overrides.keys() {
            if settings::item(key).is_none() {
                return invalid("overrides", &format!("{key:?} is not a known module.item"));
            }
        }
        Ok(())
    }

    /// The extra-nonce instance id of this host.
    pub fn instance_id(&self) -> u32 {
        self.pool.instance_id.unwrap_or(self.pool.pool_id)
    }

    /// The LMDB options this config asks for.
    pub fn lmdb_options(&self) -> crate::store::lmdb::StoreOptions {
        let mut options = crate::store::lmdb::StoreOptions::new(&self.lmdb.path);
        options.map_size = (self.lmdb.map_size_mb as usize).saturating_mul(1 << 20);
        options.max_map_size = (self.lmdb.max_map_size_mb as usize).saturating_mul(1 << 20);
        options.max_readers = self.lmdb.max_readers;
        options
    }

    /// The resolved configuration as TOML-like text with every secret masked.
    pub fn masked(&self) -> String {
        let mut text = format!("{self:#?}")
            .replace(self.mysql.url.expose(), &mask_url(self.mysql.url.expose()));
        // `--rpc-login` credentials may sit in the wallet and daemon URLs.
        for url in std::iter::once(&self.wallet.url).chain(&self.daemon.urls) {
            if url.contains('@') {
                text = text.replace(url.as_str(), &mask_url(url));
            }
        }
        text
    }
}

/// The fewest connections a role's MySQL pool may have: payments holds one for its runner lock
/// and needs another to work.
pub const MYSQL_MIN_CONNECTIONS: u32 = 2;
/// The most: MariaDB's default `max_connections` is 151 for every client together.
pub const MYSQL_MAX_CONNECTIONS: u32 = 1000;

/// `pools.ip` is a VARCHAR(72).
const PUBLIC_ADDRESS_MAX: usize = 72;

/// The kernel's host name (`gethostname`), if it has a usable one.
fn machine_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname
    // writes at most `len` bytes into it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && url.len() > 8
}

/// `mysql://user:secret@host/db` → `mysql://user:***@host/db`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[mysql]
url = "mysql://pool:secret@127.0.0.1:3306/pool"
[lmdb]
path = "/var/lib/rxpool/lmdb"
[daemon]
urls = ["http://127.0.0.1:18081"]
[wallet]
url = "http://127.0.0.1:18082"
[pool]
bind = "0.0.0.0"
pool_id = 1
hostname = "pool.example.org"
[pow]
randomx_mode = "auto"
[api]
bind = "127.0.0.1:8001"
"#;

    #[test]
    fn backup_settings_default_and_refuse_bad_values_by_name() {
        let config = FileConfig::parse(MINIMAL).unwrap();
        assert_eq!((config.backup.period(), config.backup.keep), (None, 7));
        let with = |lines: &str| FileConfig::parse(&format!("{MINIMAL}\n[backup]\n{lines}\n"));
        let config = with("dir = \"/b\"\ninterval = \"24h\"\nkeep = 3").unwrap();
        assert_eq!(
            (config.backup.period(), config.backup.keep),
            (Some(std::time::Duration::from_secs(86_400)), 3)
        );
        for (bad, says) in [
            ("interval = \"24\"", "unit"),
            ("interval = \"h\"", "whole number"),
            ("interval = \"0h\"", "more than zero"),
            ("interval = \"-1h\"", "whole number"),
            ("interval = \"99999999999999999999d\"", "whole number"),
            ("interval = \"9999999999999999d\"", "too long"),
            ("keep = 0", "at least 1"),
            ("dir = \"\"", "empty"),
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("backup.") && err.contains(says),
                "{bad}: {err}"
            );
        }
        assert!(
            with("every = \"1h\"")
                .unwrap_err()
                .to_string()
                .contains("every")
        );
    }

    #[test]
    fn the_contract_example_parses() {
        let config = FileConfig::parse(MINIMAL).unwrap();
        assert_eq!(config.pool.pool_id, 1);
        assert_eq!(config.instance_id(), 1);
        assert_eq!(config.pow.randomx_mode, RandomxMode::Auto);
    }

    #[test]
    fn websocket_caps_default_and_are_checked() {
        let config = FileConfig::parse(MINIMAL).unwrap();
        assert_eq!(
            (
                config.api.ws_max_sockets_per_ip,
                config.api.ws_max_topics_per_socket
            ),
            (20, 32)
        );
        let text = MINIMAL.replace(
            "bind = \"127.0.0.1:8001\"",
            "bind = \"127.0.0.1:8001\"\nws_max_sockets_per_ip = 100\nws_ping_secs = 10\nws_idle_secs = 25",
        );
        let config = FileConfig::parse(&text).unwrap();
        assert_eq!(
            (config.api.ws_max_sockets_per_ip, config.api.ws_idle_secs),
            (100, 25)
        );
        for bad in ["ws_max_topics_per_socket = 0", "ws_idle_secs = 30"] {
            let text = MINIMAL.replace(
                "bind = \"127.0.0.1:8001\"",
                &format!("bind = \"127.0.0.1:8001\"\n{bad}"),
            );
            assert!(FileConfig::parse(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = FileConfig::parse(&format!("{MINIMAL}\n[pool2]\nx = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pool2"), "{err}");
        let text = MINIMAL.replace("pool_id = 1", "pool_id = 1\npoolid = 2");
        let err = FileConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains("poolid"), "{err}");
    }

    #[test]
    fn a_missing_contract_key_is_named() {
        let text = MINIMAL.replace("urls = [\"http://127.0.0.1:18081\"]", "");
        let err = FileConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains("urls"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let text = MINIMAL.replace("bind = \"127.0.0.1:8001\"", "bind = \"nowhere\"");
        assert!(
            FileConfig::parse(&text)
                .unwrap_err()
                .to_string()
                .starts_with("api.bind")
        );
        let text = MINIMAL.replace("randomx_mode = \"auto\"", "randomx_mode = \"turbo\"");
        assert!(
            FileConfig::parse(&text)
                .unwrap_err()
                .to_string()
                .contains("turbo")
        );
        let text = MINIMAL.replace("http://127.0.0.1:18082", "127.0.0.1:18082");
        assert!(
            FileConfig::parse(&text)
                .unwrap_err()
                .to_string()
                .starts_with("wallet.url")
        );
    }

    #[test]
    fn mysql_max_connections_defaults_to_ten_and_is_bounded() {
        assert_eq!(
            FileConfig::parse(MINIMAL).unwrap().mysql.max_connections,
            10
        );
        let with = |n: &str| {
            FileConfig::parse(&MINIMAL.replace(
                "pool:secret@127.0.0.1:3306/pool\"",
                &format!("pool:secret@127.0.0.1:3306/pool\"\nmax_connections = {n}"),
            ))
        };
        assert_eq!(with("3").unwrap().mysql.max_connections, 3);
        for bad in ["0", "1", "1001"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.starts_with("mysql.max_connections"), "{bad}: {err}");
        }
        assert!(with("-1").is_err());
    }

    #[test]
    fn block_notify_is_off_by_default_and_takes_one_address_and_port() {
        assert_eq!(FileConfig::parse(MINIMAL).unwrap().pool.block_notify, None);
        let with = |value: &str| {
            FileConfig::parse(&MINIMAL.replace(
                "pool_id = 1",
                &format!("pool_id = 1\nblock_notify = \"{value}\""),
            ))
        };
        let config = with("127.0.0.1:18090").unwrap();
        assert_eq!(
            config.pool.block_notify,
            Some("127.0.0.1:18090".parse().unwrap())
        );
        // A private address monerod on another host can reach, set explicitly.
        assert!(with("10.1.2.3:18090").is_ok());
        assert!(with("[::1]:18090").is_ok());
        for bad in [
            "0.0.0.0:18090",
            "[::]:18090",
            "127.0.0.1:0",
            "224.0.0.1:18090",
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.starts_with("pool.block_notify"), "{bad}: {err}");
        }
        for malformed in ["127.0.0.1", "localhost:18090", "18090", ""] {
            let err = with(malformed).unwrap_err().to_string();
            assert!(err.contains("block_notify"), "{malformed}: {err}");
        }
    }

    #[test]
    fn public_address_defaults_to_the_machine_hostname_and_is_validated() {
        let config = FileConfig::parse(MINIMAL).unwrap();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(config.pool.public_address, kernel.trim());
        assert_eq!(defaults::hostname(), kernel.trim());
        assert_ne!(config.pool.public_address, config.pool.bind);
        let with = |value: &str| {
            FileConfig::parse(&MINIMAL.replace(
                "pool_id = 1",
                &format!("pool_id = 1\npublic_address = \"{value}\""),
            ))
        };
        assert_eq!(
            with("203.0.113.7").unwrap().pool.public_address,
            "203.0.113.7"
        );
        for bad in ["", "two words", &"a".repeat(73)] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.starts_with("pool.public_address"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn api_hardening_has_defaults_and_bad_values_name_their_key() {
        let api = FileConfig::parse(MINIMAL).unwrap().api;
        assert_eq!(api.max_body_bytes, 16 * 1024);
        assert_eq!(api.request_timeout_ms, 10_000);
        assert_eq!(api.cors_origins, vec!["*".to_owned()]);
        assert!(api.trusted_proxies.is_empty());
        let with = |line: &str| {
            FileConfig::parse(&MINIMAL.replace(
                "bind = \"127.0.0.1:8001\"",
                &format!("bind = \"127.0.0.1:8001\"\n{line}"),
            ))
        };
        assert_eq!(
            with("rate_limit_per_sec = 0")
                .unwrap()
                .api
                .rate_limit_per_sec,
            0
        );
        assert!(with("trusted_proxies = [\"10.0.0.0/8\", \"::1\"]").is_ok());
        for (line, key) in [
            ("max_body_bytes = 0", "api.max_body_bytes"),
            ("request_timeout_ms = 0", "api.request_timeout_ms"),
            ("rate_limit_burst = 0", "api.rate_limit_burst"),
            ("trusted_proxies = [\"nginx\"]", "api.trusted_proxies"),
            ("trusted_proxies = [\"10.0.0.0/33\"]", "api.trusted_proxies"),
            ("cors_origins = [\"pool.example.org\"]", "api.cors_origins"),
        ] {
            let err = with(line).unwrap_err().to_string();
            assert!(err.starts_with(key), "{line}: {err}");
        }
        assert!(with("rate_limit_per_sec = -1").is_err());
    }

    #[test]
    fn metrics_bind_is_off_by_default_and_takes_an_address_and_port() {
        assert_eq!(FileConfig::parse(MINIMAL).unwrap().metrics.bind, None);
        let with =
            |value: &str| FileConfig::parse(&format!("{MINIMAL}\n[metrics]\nbind = \"{value}\"\n"));
        assert_eq!(
            with("127.0.0.1:9101").unwrap().metrics.bind,
            Some("127.0.0.1:9101".parse().unwrap())
        );
        assert!(with("localhost").is_err());
        let err = with("127.0.0.1:8001").unwrap_err().to_string();
        assert!(err.starts_with("metrics.bind"), "{err}");
    }

    #[test]
    fn printing_masks_the_mysql_password() {
        let config = FileConfig::parse(MINIMAL).unwrap();
        let shown = config.masked();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!format!("{config:?}").contains("secret"));
        assert_eq!(
            mask_url("mysql://pool:secret@127.0.0.1:3306/pool"),
            "mysql://pool:***@127.0.0.1:3306/pool"
        );
    }
}

#[cfg(test)]
mod example_tests {
    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../config.toml.example");
        super::FileConfig::parse(text).expect("config.toml.example is valid");
    }
}

/// Where the MySQL password of `config` is: in `mysql.url`, and, on a host set up by
/// `install.sh`, also in `mysql-password` beside the config file.
pub fn password_hint(config: &std::path::Path) -> String {
    let file = config
        .parent()
        .map(|dir| dir.join("mysql-password"))
        .filter(|f| f.exists());
    match file {
        Some(file) => format!(
            "check the password in mysql.url of {} against {} (the installer's copy)",
            config.display(),
            file.display()
        ),
        None => format!("check the password in mysql.url of {}", config.display()),
    }
}
