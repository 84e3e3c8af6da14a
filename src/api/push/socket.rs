//! One client's websocket: reads its commands, writes its topics' frames, pings it. One task
//! owns the socket and waits, besides the socket, on the `watch` of each topic it subscribed
//! to (all of them in one `FuturesUnordered`). When a topic changes it sends the newest frame;
//! changes made while it was busy collapse into that one, so a slow client only ever has the
//! latest state waiting. Every write has a deadline (`send_timeout`): a client that does not
//! drain is dropped, and since only this task waits on it, no other client is delayed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::time::Instant;

use super::topic::{Command, check_topic, parse_command};
use super::{DropReason, Frame, Hub, PushStats, Rendered, SocketSlot, error_frame, render};

/// How long a closing socket waits for the client's close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

type Receiver = watch::Receiver<Option<Frame>>;

/// The next change of one subscribed topic: the topic, its receiver (to wait again), and
/// whether the producer is still there. Aborted when the client unsubscribes, which drops the
/// receiver at once (so the producer can stop).
type Change = Abortable<Pin<Box<dyn Future<Output = (Arc<str>, Receiver, bool)> + Send>>>;

fn next_change(topic: Arc<str>, mut rx: Receiver) -> (Change, AbortHandle) {
    let (abort, registration) = AbortHandle::new_pair();
    let wait: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
        let alive = rx.changed().await.is_ok();
        (topic, rx, alive)
    });
    (Abortable::new(wait, registration), abort)
}

/// A live subscription; dropping it stops the wait on its topic.
#[derive(Debug)]
struct Subscription {
    abort: AbortHandle,
    stats: Arc<PushStats>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.abort.abort();
        PushStats::down(&self.stats.subscriptions, "rxpool_api_ws_subscriptions");
    }
}

/// Why the socket ends.
#[derive(Debug)]
enum End {
    /// The client closed or the connection broke.
    Gone,
    /// The server drops the client.
    Dropped(DropReason),
}

/// The inbound message rate: a token bucket in thousandths of a message.
#[derive(Debug)]
struct RateLimit {
    milli_tokens: u64,
    capacity: u64,
    per_second: u64,
    last: Instant,
    /// Messages refused in a row; a client that keeps sending past the limit is dropped.
    strikes: u32,
}

impl RateLimit {
    fn new(per_second: u32, burst: u32) -> RateLimit {
        let capacity = u64::from(burst) * 1000;
        RateLimit {
            milli_tokens: capacity,
            capacity,
            per_second: u64::from(per_second),
            last: Instant::now(),
            strikes: 0,
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed_ms =
            u64::try_from(now.duration_since(self.last).as_millis()).unwrap_or(u64::MAX);
        self.last = now;
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed_ms.saturating_mul(self.per_second))
            .min(self.capacity);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            self.strikes = 0;
            true
        } else {
            self.strikes = self.strikes.saturating_add(1);
            false
        }
    }
}

struct Client {
    hub: Hub,
    ws: WebSocket,
    subscriptions: HashMap<Arc<str>, Subscription>,
    changes: FuturesUnordered<Change>,
    rate: RateLimit,
    send_timeout: Duration,
    stats: Arc<PushStats>,
}

/// Serves one upgraded socket until it ends; `_slot` keeps its place in the socket caps.
pub(super) async fn serve(hub: Hub, ws: WebSocket, _slot: SocketSlot) {
    let limits = hub.inner.limits.clone();
    let stats = hub.stats();
    let mut client = Client {
        rate: RateLimit::new(limits.messages_per_second, limits.message_burst),
        send_timeout: limits.send_timeout,
        hub,
        ws,
        subscriptions: HashMap::new(),
        changes: FuturesUnordered::new(),
        stats: stats.clone(),
    };
    let mut ping = tokio::time::interval_at(Instant::now() + limits.ping_every, limits.ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let end = loop {
        let step = tokio::select! {
            incoming = client.ws.recv() => match incoming {
                Some(Ok(message)) => {
                    last_heard = Instant::now();
                    client.on_message(message, &limits).await
                }
                Some(Err(_)) | None => Err(End::Gone),
            },
            Some(change) = client.changes.next() => match change {
                Ok((topic, rx, true)) => client.changed(topic, rx).await,
                // Unsubscribed (aborted), or the producer is gone (it never is while a
                // receiver lives): nothing to send.
                Ok((_, _, false)) | Err(_) => Ok(()),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() >= limits.idle_after {
                    Err(End::Dropped(DropReason::Idle))
                } else {
                    client.send(Message::Ping(Default::default())).await
                }
            }
        };
        if let Err(end) = step {
            break end;
        }
    };
    if let End::Dropped(reason) = end {
        tracing::debug!(reason = reason.as_str(), "push: websocket dropped");
        stats.dropped(reason);
        match reason {
            DropReason::Idle => client.close("no pong: idle for too long").await,
            DropReason::Flood => client.close("too many messages").await,
            // A client that does not drain would not read a close frame either.
            DropReason::Slow => {}
        }
    }
    // Dropping the client drops its receivers; the last subscriber of a topic leaving lets
    // that topic's producer stop.
}

impl Client {
    async fn on_message(
        &mut self,
        message: Message,
        limits: &super::PushLimits,
    ) -> Result<(), End> {
        match message {
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
            Message::Close(_) => return Err(End::Gone),
            Message::Text(_) | Message::Binary(_) => {}
        }
        if !self.rate.take() {
            if self.rate.strikes > limits.message_burst {
                return Err(End::Dropped(DropReason::Flood));
            }
            let message = format!(
                "too many messages: at most {} a second (bursts of {}); this one was ignored",
                limits.messages_per_second, limits.message_burst
            );
            return self.error(&message).await;
        }
        let Message::Text(text) = message else {
            return self.error("text frames only").await;
        };
        if text.len() > limits.max_message_bytes {
            let message = format!(
                "message too large: at most {} bytes",
                limits.max_message_bytes
            );
            return self.error(&message).await;
        }
        match parse_command(text.as_str()) {
            Ok(Command::Subscribe(topic)) => self.subscribe(topic, limits).await,
            Ok(Command::Unsubscribe(topic)) => self.unsubscribe(&topic).await,
            Ok(Command::Ping) => {
                self.send(Message::Text(Utf8Bytes::from_static("{\"op\":\"pong\"}")))
                    .await
            }
            Err(message) => self.error(&message).await,
        }
    }

    async fn subscribe(&mut self, topic: String, limits: &super::PushLimits) -> Result<(), End> {
        if let Err(message) = check_topic(&topic) {
            return self.topic_error(&topic, &message).await;
        }
        if self.subscriptions.contains_key(topic.as_str()) {
            // Subscribing again is harmless: the current state once more.
            return match self.hub.current(&topic) {
                Some(Frame(text)) => self.send(Message::Text(text)).await,
                None => Ok(()),
            };
        }
        if self.subscriptions.len() >= limits.max_topics_per_socket {
            let message = format!(
                "too many topics on this socket: at most {}; unsubscribe from one first",
                limits.max_topics_per_socket
            );
            return self.topic_error(&topic, &message).await;
        }
        let first = match render(&self.hub.inner.public, &topic).await {
            Rendered::Refused(message) => return self.topic_error(&topic, &message).await,
            data @ Rendered::Data(_) => data.frame(&topic),
        };
        let topic: Arc<str> = Arc::from(topic);
        let mut rx = self.hub.subscribe(&topic, first);
        let current = rx.borrow_and_update().clone();
        self.watch(topic, rx);
        let stats = self.hub.stats();
        PushStats::up(&stats.subscriptions, "rxpool_api_ws_subscriptions");
        match current {
            Some(Frame(text)) => self.send(Message::Text(text)).await,
            None => Ok(()),
        }
    }

    /// Waits (in [`Client::changes`]) for the next change of `topic`.
    fn watch(&mut self, topic: Arc<str>, rx: Receiver) {
        let (change, abort) = next_change(topic.clone(), rx);
        self.changes.push(change);
        match self.subscriptions.get_mut(&topic) {
            Some(subscription) => subscription.abort = abort,
            None => {
                let stats = self.hub.stats();
                self.subscriptions
                    .insert(topic, Subscription { abort, stats });
            }
        }
    }

    /// `topic` changed: sends its newest frame and waits for the next change.
    async fn changed(&mut self, topic: Arc<str>, mut rx: Receiver) -> Result<(), End> {
        if !self.subscriptions.contains_key(&topic) {
            return Ok(());
        }
        let frame = rx.borrow_and_update().clone();
        self.watch(topic, rx);
        match frame {
            Some(Frame(text)) => self.send(Message::Text(text)).await,
            None => Ok(()),
        }
    }

    async fn unsubscribe(&mut self, topic: &str) -> Result<(), End> {
        if self.subscriptions.remove(topic).is_none() {
            return self.topic_error(topic, "not subscribed").await;
        }
        Ok(())
    }

    async fn error(&mut self, message: &str) -> Result<(), End> {
        self.send(Message::Text(error_frame(message))).await
    }

    async fn topic_error(&mut self, topic: &str, message: &str) -> Result<(), End> {
        let Frame(text) = super::topic_error(topic, message);
        self.send(Message::Text(text)).await
    }

    /// Sends within the deadline; a client that does not drain in time is dropped.
    async fn send(&mut self, message: Message) -> Result<(), End> {
        let text = matches!(message, Message::Text(_));
        match tokio::time::timeout(self.send_timeout, self.ws.send(message)).await {
            Ok(Ok(())) => {
                if text {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("rxpool_api_ws_sent_total").increment(1);
                }
                Ok(())
            }
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Dropped(DropReason::Slow)),
        }
    }

    /// Says why the server drops the client (close code 1008, policy) and waits (at most a second) for the client's close reply,
    /// so that it reads the reason before the connection goes.
    async fn close(&mut self, reason: &'static str) {
        let frame = CloseFrame {
            code: close_code::POLICY,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            if self.ws.send(Message::Close(Some(frame))).await.is_ok() {
                while let Some(Ok(_)) = self.ws.recv().await {}
            }
        })
        .await;
    }
}
