//! Listeners and the per-connection loop.
//!
//! Owns accepting (plain TCP or TLS via tokio-rustls, optionally behind a PROXY protocol
//! header from a configured balancer), the process-wide connection cap (a `Semaphore`
//! permit per connection), the per-IP (per IPv6 prefix) connection cap, and each
//! connection's task: read a line (10 KB cap), classify it, hand requests to the [`Session`],
//! write replies, push a new job when the template `watch` changes (every session cuts its own
//! job, so a new template reaches all miners at once), and enforce the login, first-share and
//! idle timeouts. Garbage, over-long lines, bans and repeated protocol errors close the
//! connection. It does not validate shares (`validate`) or poll monerod (`feed`).

use super::protocol::{self, Frame, LineReader, ReadError};
use super::proxy_protocol::{self, Header};
use super::session::{Action, PortInfo, Session};
use super::state::Shared;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A write that takes longer than this drops the connection (a miner not reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Time for a PROXY header, and then for a TLS handshake, before the connection is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("no private key in {0}")]
    NoKey(String),
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// A TLS acceptor from PEM certificate chain and key files.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: cert.display().to_string(),
            source,
        })?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|source| TlsError::Read {
            path: key.display().to_string(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(key.display().to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections on `listener` until `shutdown`; each connection runs on `tracker`.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    port: PortInfo,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // The process-wide cap first: past it a connection costs one accept and a close.
        let Ok(permit) = shared.connection_cap.clone().try_acquire_owned() else {
            shared
                .rejections
                .count(super::rejection::Rejection::RateLimited);
            tracing::debug!(ip = %peer.ip(), "connection cap reached, closing");
            continue;
        };
        if port.proxy_protocol && !shared.proxies.contains(peer.ip()) {
            // A PROXY port takes its client address only from a configured balancer.
            shared
                .rejections
                .count(super::rejection::Rejection::InvalidParams);
            tracing::debug!(ip = %peer.ip(), port = port.port, "PROXY port: not a configured proxy, closing");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let port = port.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let mut stream = stream;
            let peer = if port.proxy_protocol {
                let header =
                    tokio::time::timeout(HEADER_TIMEOUT, proxy_protocol::read_header(&mut stream))
                        .await;
                match header {
                    Ok(Ok(Header::Proxied(client))) => client,
                    Ok(Ok(Header::Local)) => peer,
                    Ok(Err(error)) => {
                        shared
                            .rejections
                            .count(super::rejection::Rejection::InvalidParams);
                        tracing::debug!(proxy = %peer, %error, "bad PROXY header, closing");
                        return;
                    }
                    Err(_) => return,
                }
            } else {
                peer
            };
            let Some(_slot) = shared.ip_caps.acquire(peer.ip()) else {
                shared
                    .rejections
                    .count(super::rejection::Rejection::RateLimited);
                return;
            };
            match tls {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        let (read, write) = tokio::io::split(stream);
                        connection(shared, read, write, peer, port, shutdown).await;
                    }
                }
                None => {
                    // Owned halves: no lock between reading and writing, unlike `io::split`.
                    let (read, write) = stream.into_split();
                    connection(shared, read, write, peer, port, shutdown).await;
                }
            }
        });
    }
}

/// Runs one connection, given its two halves, to its end.
pub async fn connection<R, W>(
    shared: Arc<Shared>,
    read: R,
    mut write: W,
    peer: SocketAddr,
    port: PortInfo,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    let mut reader = LineReader::new(read);
    let mut session = Session::new(&shared, peer.ip(), port.clone());
    let mut templates = shared.subscribe();
    templates.mark_unchanged();
    // One cancellation waiter and one timer for the connection's life. The timer is re-armed
    // only when the deadline moves (after a request), so a job push costs neither a timer
    // registration nor a waiter on the shared shutdown token.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut armed = deadline_ms(&shared, &session);
    let timeout = tokio::time::sleep_until(instant_of(&shared, armed));
    tokio::pin!(timeout);
    loop {
        let due = deadline_ms(&shared, &session);
        if due != armed {
            armed = due;
            timeout.as_mut().reset(instant_of(&shared, due));
        }
        let action = tokio::select! {
            biased;
            _ = &mut cancelled => break,
            changed = templates.changed(), if session.miner().is_some() => {
                if changed.is_err() {
                    break;
                }
                let current = templates.borrow_and_update().clone();
                let Some(slot) = current else { continue };
                let Ok(push) = session.next_job(&shared, &slot, protocol::push_job) else {
                    continue;
                };
                if write_all(&mut write, &push).await.is_err() {
                    break;
                }
                shared.stats.jobs_pushed.fetch_add(1, Ordering::Relaxed);
                metrics::histogram!(crate::telemetry::names::POOL_JOB_PUSH)
                    .record(slot.created.elapsed());
                continue;
            }
            _ = &mut timeout => {
                tracing::debug!(ip = %peer.ip(), "connection timed out");
                break;
            }
            line = reader.next_line() => match line {
                Ok(Some(line)) => match protocol::parse_line(line) {
                    Frame::Empty => continue,
                    Frame::Request(request) => session.handle(&shared, request).await,
                    Frame::Invalid { id } => session.invalid_request(&shared, id.as_deref()),
                    Frame::HttpProbe => {
                        let _ = write_all(&mut write, protocol::HTTP_PROBE_REPLY).await;
                        break;
                    }
                    Frame::Garbage => {
                        shared.rejections.count(super::rejection::Rejection::InvalidParams);
                        tracing::debug!(ip = %peer.ip(), "malformed message, closing");
                        break;
                    }
                },
                Ok(None) => break,
                Err(ReadError::TooLong) => {
                    shared.rejections.count(super::rejection::Rejection::InvalidParams);
                    tracing::debug!(ip = %peer.ip(), "excessive packet size, closing");
                    break;
                }
                Err(ReadError::Io(_)) => break,
            },
        };
        match action {
            Action::Reply(bytes) => {
                if write_all(&mut write, &bytes).await.is_err() {
                    break;
                }
            }
            Action::ReplyAndClose(bytes) => {
                let _ = write_all(&mut write, &bytes).await;
                break;
            }
        }
    }
    let _ = write.shutdown().await;
    // A spot check still running counts against the ban ratio even after a disconnect.
    let ip = session.ip;
    if let Some(miner) = session.miner_mut() {
        super::validate::finish_check(&shared, miner, ip).await;
    }
    if session.miner().is_some() {
        shared.stats.miner_left(port.port);
    }
    shared.stats.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Writes `bytes`, dropping a miner that does not read within [`WRITE_TIMEOUT`]. A line
/// almost always fits the socket buffer at once, so the first attempt is made without a
/// timer; only the rest of a line the socket would not take is written under the timeout.
async fn write_all<W: AsyncWrite + Unpin>(write: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    let first = std::future::poll_fn(|cx| match Pin::new(&mut *write).poll_write(cx, bytes) {
        Poll::Ready(result) => Poll::Ready(Some(result)),
        // Not writable now: the waker is registered, the timed write below takes over.
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    let rest = match first {
        Some(Ok(n)) if n == bytes.len() => return Ok(()),
        Some(Ok(0)) if !bytes.is_empty() => return Err(std::io::ErrorKind::WriteZero.into()),
        Some(Ok(n)) => &bytes[n..],
        Some(Err(error)) => return Err(error),
        None => bytes,
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(rest)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// When the connection is dropped if nothing happens (Unix milliseconds): login timeout
/// before login, the first-share timeout until a share, then the idle miner timeout.
fn deadline_ms(shared: &Shared, session: &Session) -> u64 {
    let settings = shared.settings();
    let (from, length) = if session.miner().is_none() {
        (session.connected_at.0, settings.login_timeout)
    } else if !session.has_shared() {
        (session.connected_at.0, settings.first_share_timeout)
    } else {
        (session.last_contact.0, settings.miner_timeout)
    };
    from.saturating_add(u64::try_from(length.as_millis()).unwrap_or(u64::MAX))
}

/// The reactor instant of a Unix-milliseconds deadline.
fn instant_of(shared: &Shared, unix_ms: u64) -> tokio::time::Instant {
    let now_ms = shared.now().0;
    tokio::time::Instant::now() + Duration::from_millis(unix_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn write_all_finishes_a_line_the_socket_takes_only_in_parts() {
        // Far more than a loopback socket buffers, read only after a pause: the untimed first
        // attempt writes a part and the timed write must deliver the rest, in order.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut got = Vec::new();
            stream.read_to_end(&mut got).await.map(|_| got)
        });
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let data: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
        write_all(&mut stream, &data).await.unwrap();
        write_all(&mut stream, b"\n").await.unwrap();
        stream.shutdown().await.unwrap();
        let got = reader.await.unwrap().unwrap();
        assert_eq!(got.len(), data.len() + 1);
        assert!(got[..data.len()] == data[..] && got[data.len()] == b'\n');
    }
}
