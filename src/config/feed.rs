//! `[feed]`: several pool hosts feeding one share store through NATS JetStream (`crate::feed`
//! publishes on the pool hosts, `crate::ingest` writes LMDB on the central host). Absent, the
//! pool writes LMDB itself (one host), as before.
//!
//! Parsed and checked here, once at start; every key but `nats_url` has a default. Nothing
//! here connects to NATS or touches the spool.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Secret;

/// What a pool host does with new shares while NATS is unreachable and its spool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpoolFull {
    /// Refuse new shares (miners are told the pool is busy and resubmit elsewhere or later):
    /// nothing accepted is ever lost.
    Refuse,
    /// Accept and drop new shares (counted and alerted): miners see no difference, the
    /// dropped shares are never credited.
    Drop,
}

/// `[feed]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// `nats://host:4222`, or `tls://host:4222` for TLS; several servers of a cluster separated
    /// by commas.
    pub nats_url: String,
    /// A NATS credentials file (`nsc generate creds`), for operator-mode servers.
    #[serde(default)]
    pub creds_file: Option<PathBuf>,
    /// User and password of this host (the `users` of `deployment/nats-server.conf`).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// A PEM CA bundle that signed the server's certificate (TLS is then required).
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// The JetStream stream, created with file storage when missing.
    #[serde(default = "defaults::stream")]
    pub stream: String,
    /// Subjects are `PREFIX.shares.INSTANCE` (pool hosts publish) and `PREFIX.dead.INSTANCE`
    /// (messages the ingest could not read).
    #[serde(default = "defaults::subject_prefix")]
    pub subject_prefix: String,
    /// Copies of the stream in a NATS cluster (1 for a single server).
    #[serde(default = "defaults::replicas")]
    pub replicas: usize,
    /// JetStream drops a message whose `Nats-Msg-Id` it stored this recently.
    #[serde(default = "defaults::dedup_window_secs")]
    pub dedup_window_secs: u64,
    /// Messages not consumed after this long are deleted by the server.
    #[serde(default = "defaults::max_age_hours")]
    pub max_age_hours: u64,
    /// Most shares in one message.
    #[serde(default = "defaults::batch_shares")]
    pub batch_shares: usize,
    /// Longest a share waits for its message to fill.
    #[serde(default = "defaults::batch_ms")]
    pub batch_ms: u64,
    /// How long a publish waits for the stream's acknowledgement before the message goes to
    /// the spool.
    #[serde(default = "defaults::ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    /// Where a pool host spools messages while NATS is unreachable.
    #[serde(default = "defaults::spool_dir")]
    pub spool_dir: PathBuf,
    /// The spool's size limit in MiB. Found blocks and their status changes are spooled
    /// even past it (they are small and must never be lost).
    #[serde(default = "defaults::spool_max_mb")]
    pub spool_max_mb: u64,
    /// `refuse` or `drop`: see [`SpoolFull`].
    #[serde(default = "defaults::spool_full")]
    pub spool_full: SpoolFull,
    /// The ingest's durable consumer.
    #[serde(default = "defaults::consumer")]
    pub consumer: String,
    /// How long the ingest remembers a message id in LMDB (a redelivery later than this is
    /// stored again). Keep it above the longest outage a spool may hold.
    #[serde(default = "defaults::dedup_retention_hours")]
    pub dedup_retention_hours: u64,
}

impl FeedConfig {
    /// Checks the values; `Err((key, message))` names the first bad one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let bad = |key, message: &str| Err((key, message.to_owned()));
        if self.nats_url.trim().is_empty() {
            return bad(
                "feed.nats_url",
                "must be a NATS URL such as nats://10.0.0.1:4222",
            );
        }
        for url in self.nats_url.split(',') {
            let url = url.trim();
            let scheme_ok = ["nats://", "tls://", "ws://", "wss://"]
                .iter()
                .any(|s| url.starts_with(s));
            if !scheme_ok || url.contains(char::is_whitespace) {
                return bad(
                    "feed.nats_url",
                    "must be nats://HOST:PORT or tls://HOST:PORT (commas between servers)",
                );
            }
        }
        if self.password.is_some() != self.user.is_some() {
            return bad("feed.user", "user and password go together");
        }
        if self.creds_file.is_some() && self.user.is_some() {
            return bad("feed.creds_file", "use either creds_file or user/password");
        }
        let token = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !token(&self.stream) {
            return bad("feed.stream", "must be 1-64 letters, digits, _ or -");
        }
        if !self.subject_prefix.split('.').all(token) {
            return bad(
                "feed.subject_prefix",
                "must be dot-separated tokens of letters, digits, _ or - (no wildcards)",
            );
        }
        if !token(&self.consumer) {
            return bad("feed.consumer", "must be 1-64 letters, digits, _ or -");
        }
        if !(1..=5).contains(&self.replicas) {
            return bad("feed.replicas", "must be 1 to 5");
        }
        if !(1..=10_000).contains(&self.batch_shares) {
            return bad("feed.batch_shares", "must be 1 to 10000");
        }
        if !(1..=10_000).contains(&self.batch_ms) {
            return bad("feed.batch_ms", "must be 1 to 10000");
        }
        if !(100..=60_000).contains(&self.ack_timeout_ms) {
            return bad("feed.ack_timeout_ms", "must be 100 to 60000");
        }
        if self.dedup_window_secs == 0 {
            return bad("feed.dedup_window_secs", "must be at least 1");
        }
        if self.max_age_hours == 0 || self.dedup_retention_hours == 0 {
            return bad(
                "feed.dedup_retention_hours",
                "max_age_hours and dedup_retention_hours must be at least 1",
            );
        }
        if self.spool_max_mb == 0 {
            return bad("feed.spool_max_mb", "must be at least 1");
        }
        Ok(())
    }

    /// The subject a pool host with `instance` publishes on.
    pub fn subject(&self, instance: u32) -> String {
        format!("{}.shares.{instance}", self.subject_prefix)
    }

    /// The subjects the ingest consumes.
    pub fn shares_filter(&self) -> String {
        format!("{}.shares.>", self.subject_prefix)
    }

    /// Where unreadable messages go, by the instance token of their subject.
    pub fn dead_subject(&self, token: &str) -> String {
        format!("{}.dead.{token}", self.subject_prefix)
    }

    pub fn dead_filter(&self) -> String {
        format!("{}.dead.>", self.subject_prefix)
    }

    pub fn batch_delay(&self) -> Duration {
        Duration::from_millis(self.batch_ms)
    }

    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }

    pub fn dedup_retention(&self) -> Duration {
        Duration::from_secs(self.dedup_retention_hours.saturating_mul(3600))
    }

    pub fn spool_max_bytes(&self) -> u64 {
        self.spool_max_mb.saturating_mul(1 << 20)
    }
}

mod defaults {
    use super::SpoolFull;
    use std::path::PathBuf;

    pub fn stream() -> String {
        "RXPOOL_FEED".into()
    }
    pub fn subject_prefix() -> String {
        "rxpool".into()
    }
    pub fn replicas() -> usize {
        1
    }
    pub fn dedup_window_secs() -> u64 {
        120
    }
    pub fn max_age_hours() -> u64 {
        168
    }
    pub fn batch_shares() -> usize {
        512
    }
    pub fn batch_ms() -> u64 {
        50
    }
    pub fn ack_timeout_ms() -> u64 {
        2000
    }
    pub fn spool_dir() -> PathBuf {
        PathBuf::from("/var/lib/rxpool/spool")
    }
    pub fn spool_max_mb() -> u64 {
        1024
    }
    pub fn spool_full() -> SpoolFull {
        SpoolFull::Refuse
    }
    pub fn consumer() -> String {
        "rxpool-ingest".into()
    }
    pub fn dedup_retention_hours() -> u64 {
        72
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<FeedConfig, String> {
        let text = format!("nats_url = \"nats://10.0.0.1:4222\"\n{extra}");
        let config: FeedConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        config.check().map_err(|(k, m)| format!("{k}: {m}"))?;
        Ok(config)
    }

    #[test]
    fn only_the_url_is_required() {
        let config = parse("").unwrap();
        assert_eq!(config.stream, "RXPOOL_FEED");
        assert_eq!(config.subject(7), "rxpool.shares.7");
        assert_eq!(config.shares_filter(), "rxpool.shares.>");
        assert_eq!(config.spool_full, SpoolFull::Refuse);
    }

    #[test]
    fn the_example_section_parses_once_uncommented() {
        let example = include_str!("../../config.toml.example");
        let section: String = example
            .lines()
            .skip_while(|l| *l != "# [feed]")
            .skip(1)
            .take_while(|l| l.starts_with('#'))
            .filter(|l| !l.starts_with("# #"))
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        assert!(section.contains("nats_url"), "{section}");
        let config: FeedConfig = toml::from_str(&section).unwrap();
        config.check().unwrap();
        assert_eq!(config.user.as_deref(), Some("pool-eu"));
        assert_eq!(config.spool_max_bytes(), 1024 << 20);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key) in [
            ("stream = \"a.b\"", "feed.stream"),
            ("stream = \"\"", "feed.stream"),
            ("subject_prefix = \"rx.*\"", "feed.subject_prefix"),
            ("subject_prefix = \"rx..pool\"", "feed.subject_prefix"),
            ("replicas = 0", "feed.replicas"),
            ("batch_shares = 0", "feed.batch_shares"),
            ("ack_timeout_ms = 5", "feed.ack_timeout_ms"),
            ("user = \"pool1\"", "feed.user"),
            ("spool_max_mb = 0", "feed.spool_max_mb"),
        ] {
            let error = parse(extra).unwrap_err();
            assert!(error.starts_with(key), "{extra}: {error}");
        }
        assert!(parse("spool_full = \"explode\"").is_err());
        assert!(parse("colour = 1").unwrap_err().contains("unknown field"));
        let url: Result<FeedConfig, _> = toml::from_str("nats_url = \"http://x:4222\"");
        assert!(url.unwrap().check().unwrap_err().0 == "feed.nats_url");
    }
}
