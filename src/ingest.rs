//! The `ingest` role, on the LMDB host of a pool with several pool hosts: consumes the pool
//! hosts' messages from the JetStream stream (`crate::feed`) with a durable pull consumer and
//! writes them through the process's group-committing `ShareWriter`.
//!
//! Exactly once: each message is applied in one LMDB transaction together with its
//! `Nats-Msg-Id` (the `feed_ids` table), and acknowledged only after that transaction
//! committed. A message redelivered after a crash between the commit and the acknowledgement
//! (or published twice by a pool host that retried) finds its id and changes nothing; it is
//! acknowledged again. Ids are forgotten after `dedup_retention_hours`.
//!
//! A message that cannot be read (not JSON, another version, a foreign subject, no id, a bad
//! item) is logged with the reason, copied to the dead-letter subject `PREFIX.dead.INSTANCE`
//! (same body, the reason in the `Rxpool-Reason` header) and terminated, and nothing is
//! written. A failed LMDB commit leaves its messages unacknowledged: the server delivers them
//! again after a pause.
//!
//! It owns no state besides the consumer's name; the stream is ensured on start.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, AckKind, consumer};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::config::feed::FeedConfig;
use crate::domain::{Clock, SystemClock, UnixMillis};
use crate::feed::{link, wire};
use crate::store::lmdb::{
    FeedInsert, FeedMessage, FeedReceipt, ShareStore, StoreError, WriterConfig,
};

/// Most messages fetched (and committed together) per round.
const FETCH: usize = 1024;
/// How long a fetch waits for messages before an empty round.
const FETCH_WAIT: Duration = Duration::from_millis(500);
/// How long the server waits for an acknowledgement before it delivers a message again.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Pause before a message whose commit failed is delivered again.
const RETRY_DELAY: Duration = Duration::from_secs(2);
/// How often old message ids are pruned, and at most how many per transaction.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNE_MAX: usize = 10_000;

/// Counts of one ingest (since it started), for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestTally {
    pub stored: u64,
    pub duplicates: u64,
    pub dead: u64,
    pub failed: u64,
}

/// The role's entry point.
pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let feed = config
        .feed
        .clone()
        .context("the ingest role needs a [feed] section with nats_url")?;
    let store = ShareStore::open(&config.lmdb_options()).context("opening LMDB")?;
    let writer = store.writer(WriterConfig::default())?;
    let context = link::connect(&feed, "rxpool ingest").await?;
    let consumer = loop {
        match open_consumer(&context, &feed).await {
            Ok(consumer) => break consumer,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "the feed's stream is not reachable yet");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    tracing::info!(stream = %feed.stream, consumer = %feed.consumer, "ingesting the share feed");
    let mut tally = IngestTally::default();
    let mut last_prune = tokio::time::Instant::now();
    while !shutdown.is_cancelled() {
        let batch = tokio::select! {
            () = shutdown.cancelled() => break,
            batch = fetch(&consumer) => batch,
        };
        match batch {
            Ok(messages) if !messages.is_empty() => {
                round(&context, &feed, &writer, messages, &mut tally).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "fetch failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            prune(&writer, &feed).await;
        }
    }
    tracing::info!(
        stored = tally.stored,
        duplicates = tally.duplicates,
        dead = tally.dead,
        "ingest stopping"
    );
    writer.close().await.context("closing the LMDB writer")?;
    Ok(())
}

/// The stream (created when missing) and the durable consumer (created when missing).
async fn open_consumer(
    context: &jetstream::Context,
    feed: &FeedConfig,
) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
    let stream = link::ensure_stream(context, feed).await?;
    let consumer = stream
        .get_or_create_consumer(
            &feed.consumer,
            consumer::pull::Config {
                durable_name: Some(feed.consumer.clone()),
                filter_subject: feed.shares_filter(),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: 8 * FETCH as i64,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("consumer {}: {e}", feed.consumer))?;
    Ok(consumer)
}

async fn fetch(
    consumer: &consumer::Consumer<consumer::pull::Config>,
) -> Result<Vec<jetstream::Message>, async_nats::Error> {
    let mut batch = consumer
        .fetch()
        .max_messages(FETCH)
        .expires(FETCH_WAIT)
        .messages()
        .await?;
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        match message {
            Ok(message) => messages.push(message),
            Err(e) => {
                tracing::debug!(error = %e, "fetch ended early");
                break;
            }
        }
    }
    Ok(messages)
}

/// Why a message is not a pool host's message.
fn read(message: &jetstream::Message, feed: &FeedConfig) -> Result<FeedMessage, String> {
    let prefix = format!("{}.shares.", feed.subject_prefix);
    let instance = message
        .subject
        .as_str()
        .strip_prefix(&prefix)
        .ok_or_else(|| format!("subject {} is not a pool host's", message.subject))?;
    let id = message
        .headers
        .as_ref()
        .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
        .map(|v| v.as_str().to_owned())
        .ok_or("no Nats-Msg-Id header")?;
    if id.is_empty() || id.len() > crate::store::lmdb::MAX_FEED_ID_BYTES {
        return Err("Nats-Msg-Id is empty or too long".into());
    }
    let decoded = wire::decode(&message.payload, instance).map_err(|e| e.to_string())?;
    Ok(FeedMessage {
        id,
        items: decoded.items,
    })
}

/// Applies one fetched batch: every readable message queued to the writer (one or a few
/// transactions), then each acknowledged once its commit is known.
async fn round(
    context: &jetstream::Context,
    feed: &FeedConfig,
    writer: &crate::store::lmdb::ShareWriter,
    messages: Vec<jetstream::Message>,
    tally: &mut IngestTally,
) {
    let mut queued: Vec<(jetstream::Message, Result<FeedReceipt, StoreError>)> =
        Vec::with_capacity(messages.len());
    for message in messages {
        match read(&message, feed) {
            Ok(decoded) => {
                let receipt = writer.queue_feed(decoded).await;
                queued.push((message, receipt));
            }
            Err(reason) => {
                dead_letter(context, feed, &message, &reason).await;
                tally.dead += 1;
            }
        }
    }
    for (message, receipt) in queued {
        let outcome = match receipt {
            Ok(receipt) => receipt.committed().await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(FeedInsert::Stored) => tally.stored += 1,
            Ok(FeedInsert::Duplicate) => {
                tally.duplicates += 1;
                tracing::debug!(subject = %message.subject, "a message stored before came again");
            }
            Err(
                StoreError::BadFeedId | StoreError::BadMinerKey | StoreError::HeightOutOfRange(_),
            ) => {
                dead_letter(context, feed, &message, "refused by the share store").await;
                tally.dead += 1;
                continue;
            }
            Err(e) => {
                tracing::error!(alert = true, error = %e, "could not store a feed message; it will be delivered again");
                tally.failed += 1;
                if let Err(e) = message.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await {
                    tracing::debug!(error = %e, "nak not sent");
                }
                continue;
            }
        }
        // A lost acknowledgement only means a redelivery, which the id table absorbs.
        if let Err(e) = message.ack().await {
            tracing::debug!(error = %e, "ack not sent");
        }
    }
}

/// Copies `message` to the dead-letter subject and terminates it. If the copy is not
/// acknowledged the message is left for redelivery, so nothing is silently lost.
async fn dead_letter(
    context: &jetstream::Context,
    feed: &FeedConfig,
    message: &jetstream::Message,
    reason: &str,
) {
    let token = message
        .subject
        .as_str()
        .rsplit('.')
        .next()
        .filter(|t| !t.is_empty() && !t.contains(['*', '>']))
        .unwrap_or("unknown");
    tracing::warn!(subject = %message.subject, %reason, "unreadable feed message sent to the dead-letter subject");
    // The copy carries the original id in its own header: under `Nats-Msg-Id` it could be
    // dropped as a duplicate.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Rxpool-Reason",
        reason.chars().take(512).collect::<String>().as_str(),
    );
    if let Some(id) = message
        .headers
        .as_ref()
        .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
    {
        headers.insert("Rxpool-Original-Id", id.as_str());
    }
    let copied = async {
        context
            .publish_with_headers(feed.dead_subject(token), headers, message.payload.clone())
            .await?
            .await?;
        Ok::<(), async_nats::Error>(())
    };
    match copied.await {
        Ok(()) => {
            if let Err(e) = message.ack_with(AckKind::Term).await {
                tracing::debug!(error = %e, "term not sent");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not copy a message to the dead-letter subject; it will be delivered again")
        }
    }
}

async fn prune(writer: &crate::store::lmdb::ShareWriter, feed: &FeedConfig) {
    let keep = u64::try_from(feed.dedup_retention().as_millis()).unwrap_or(u64::MAX);
    let now = Clock::now(&SystemClock);
    let before = UnixMillis(now.0.saturating_sub(keep));
    loop {
        match writer.prune_feed_ids(before, PRUNE_MAX).await {
            Ok(n) if n as usize >= PRUNE_MAX => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not prune old feed message ids");
                return;
            }
        }
    }
}
