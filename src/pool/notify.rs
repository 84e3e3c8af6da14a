//! Block-notify push: monerod's `--block-notify` runs `rxpool notify-block --to ADDR %s` for
//! every block it adds to its chain; that command sends one UDP datagram to the pool, and the
//! pool's receiver here wakes the template feed for an immediate `get_block_template`, so
//! miners get the new job within milliseconds instead of at the next poll.
//!
//! Owns both ends of that datagram: [`send`] (the CLI, one datagram, no reply, no config) and
//! [`run`] (the pool's receiver on `[pool] block_notify`). The payload is informational only
//! (the block id, logged at debug): any datagram triggers a poll, because the feed asks monerod
//! itself and publishes only when the chain moved. A forged or garbled datagram therefore costs
//! at most one extra poll, and [`MIN_GAP`] bounds how often that can happen: a burst of
//! datagrams becomes at most one poll per gap, and the last one is never dropped. It never
//! parses templates and never touches sessions (that is `feed`'s and `session`'s work).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::domain::Hash32;

/// The shortest time between two polls the receiver asks for. Blocks come every two minutes;
/// this only bounds a flood of datagrams.
pub const MIN_GAP: Duration = Duration::from_millis(100);

/// Datagrams longer than this are read truncated (a block id is 64 characters).
const MAX_DATAGRAM: usize = 128;

/// Sends one block notification to `to`. UDP needs no listener: this succeeds when nobody
/// listens (monerod must never wait on the pool). `block` is the new block's id, if known.
pub fn send(to: SocketAddr, block: Option<Hash32>) -> std::io::Result<()> {
    let local: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(local)?;
    let payload = block.map(|b| b.to_string()).unwrap_or_default();
    socket.send_to(payload.as_bytes(), to)?;
    Ok(())
}

/// Binds the receiver's socket (the role refuses to start when it cannot).
pub async fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(addr).await
}

/// Receives notifications on `socket` until `shutdown`, calling `poll_now` at most once per
/// [`MIN_GAP`]: datagrams that arrive while a call is held back are absorbed into it.
pub async fn run(socket: UdpSocket, poll_now: impl Fn(), shutdown: CancellationToken) {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut last: Option<Instant> = None;
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        match received {
            Ok((len, from)) => log_datagram(&buf[..len], from),
            Err(error) => {
                tracing::warn!(%error, "block-notify socket error");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(MIN_GAP) => {}
                }
                continue;
            }
        }
        if let Some(last) = last {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(last + MIN_GAP) => {}
            }
        }
        // Everything queued up to now is answered by this one poll.
        while socket.try_recv_from(&mut buf).is_ok() {}
        poll_now();
        last = Some(Instant::now());
    }
}

fn log_datagram(payload: &[u8], from: SocketAddr) {
    match std::str::from_utf8(payload).ok().map(str::parse::<Hash32>) {
        Some(Ok(block)) => tracing::debug!(%from, block.hash = %block, "block notification"),
        _ => tracing::debug!(%from, len = payload.len(), "block notification without a block id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A receiver on a real loopback socket, counting the polls it asks for.
    async fn receiver() -> (SocketAddr, Arc<AtomicUsize>, CancellationToken) {
        let socket = bind((Ipv4Addr::LOCALHOST, 0).into()).await.unwrap();
        let addr = socket.local_addr().unwrap();
        let polls = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let counter = polls.clone();
        tokio::spawn(run(
            socket,
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
            },
            shutdown.clone(),
        ));
        (addr, polls, shutdown)
    }

    async fn wait_for(polls: &AtomicUsize, n: usize) {
        for _ in 0..200 {
            if polls.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{} polls, expected {n}", polls.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn one_datagram_asks_for_one_poll() {
        let (addr, polls, shutdown) = receiver().await;
        let block: Hash32 = "ab".repeat(32).parse().unwrap();
        send(addr, Some(block)).unwrap();
        wait_for(&polls, 1).await;
        tokio::time::sleep(MIN_GAP * 3).await;
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_burst_of_datagrams_is_coalesced_and_rate_bound() {
        let (addr, polls, shutdown) = receiver().await;
        let started = std::time::Instant::now();
        for _ in 0..200 {
            send(addr, None).unwrap();
        }
        let sending = started.elapsed();
        wait_for(&polls, 1).await;
        tokio::time::sleep(MIN_GAP * 3).await;
        let after_burst = polls.load(Ordering::SeqCst);
        // The first datagram polls at once; the rest are absorbed into at most one more poll
        // per MIN_GAP while they keep arriving.
        let bound = 2 + (sending.as_millis() / MIN_GAP.as_millis()) as usize;
        assert!(
            (1..=bound).contains(&after_burst),
            "{after_burst} polls for one burst"
        );
        // A later datagram is not lost to the gap.
        send(addr, None).unwrap();
        wait_for(&polls, after_burst + 1).await;
        shutdown.cancel();
    }

    #[tokio::test]
    async fn garbage_and_oversized_datagrams_still_ask_for_a_poll() {
        let (addr, polls, shutdown) = receiver().await;
        let sender = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sender.send_to(&[0xff; 4000], addr).unwrap();
        wait_for(&polls, 1).await;
        tokio::time::sleep(MIN_GAP * 2).await;
        sender.send_to(b"not a hash", addr).unwrap();
        wait_for(&polls, 2).await;
        shutdown.cancel();
    }

    #[tokio::test]
    async fn sending_succeeds_when_nobody_listens() {
        let unused = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = unused.local_addr().unwrap();
        drop(unused);
        send(addr, None).unwrap();
        send(addr, Some(Hash32([7; 32]))).unwrap();
    }
}
