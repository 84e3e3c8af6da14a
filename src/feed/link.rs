//! The connection to NATS both ends of the feed use: connect with this host's credentials
//! (creds file or user/password, an optional CA for TLS), reconnecting for ever in the
//! background, and ensure the stream exists (file storage, work-queue retention, the
//! configured replicas, duplicate window and age limit).
//!
//! Owns the translation of `[feed]` into async-nats options; never publishes or consumes
//! itself. A server that is down at start is not an error: the client keeps trying, and the
//! stream is ensured by whoever first needs it.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::config::feed::FeedConfig;

/// Why the link could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("feed.nats_url {0:?}: {1}")]
    Url(String, String),
    #[error("feed.creds_file {path}: {source}")]
    Creds {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to NATS: {0}")]
    Connect(String),
    #[error("JetStream stream {stream}: {detail}")]
    Stream { stream: String, detail: String },
}

/// Connects (returning at once even when no server answers yet; the client reconnects for
/// ever) and returns a JetStream context whose requests and publish acks time out after
/// `feed.ack_timeout_ms`.
pub async fn connect(feed: &FeedConfig, name: &str) -> Result<jetstream::Context, LinkError> {
    let mut addrs = Vec::new();
    for url in feed.nats_url.split(',') {
        let url = url.trim();
        let addr: async_nats::ServerAddr = url
            .parse()
            .map_err(|e: std::io::Error| LinkError::Url(url.to_owned(), e.to_string()))?;
        addrs.push(addr);
    }
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(100u64.saturating_mul(attempts as u64).min(2000))
        })
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => tracing::warn!("NATS connection lost"),
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        });
    if let Some(path) = &feed.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|source| LinkError::Creds {
                path: path.display().to_string(),
                source,
            })?;
    }
    if let (Some(user), Some(password)) = (&feed.user, &feed.password) {
        options = options.user_and_password(user.clone(), password.expose().to_owned());
    }
    if let Some(ca) = &feed.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    let client = options
        .connect(addrs)
        .await
        .map_err(|e| LinkError::Connect(e.to_string()))?;
    let mut context = jetstream::new(client);
    context.set_timeout(feed.ack_timeout());
    Ok(context)
}

/// The stream's configuration: every subject of the feed, kept on disk until consumed.
pub fn stream_config(feed: &FeedConfig) -> stream::Config {
    stream::Config {
        name: feed.stream.clone(),
        subjects: vec![feed.shares_filter(), feed.dead_filter()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: feed.replicas,
        duplicate_window: Duration::from_secs(feed.dedup_window_secs),
        max_age: Duration::from_secs(feed.max_age_hours.saturating_mul(3600)),
        ..Default::default()
    }
}

/// Creates the stream when it is missing (an existing one is used as it is).
pub async fn ensure_stream(
    context: &jetstream::Context,
    feed: &FeedConfig,
) -> Result<stream::Stream, LinkError> {
    context
        .get_or_create_stream(stream_config(feed))
        .await
        .map_err(|e| LinkError::Stream {
            stream: feed.stream.clone(),
            detail: e.to_string(),
        })
}
