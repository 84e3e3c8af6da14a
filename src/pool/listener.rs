//! Listeners and the per-connection loop.
//!
//! Owns accepting (plain TCP or TLS via tokio-rustls), the per-IP connection cap, and each
//! connection's task: read a line (10 KB cap), classify it, hand requests to the [`Session`],
//! write replies, push a new job when the template `watch` changes (every session cuts its own
//! job, so a new template reaches all miners at once), and enforce the login, first-share and
//! idle timeouts. Garbage, over-long lines, bans and repeated protocol errors close the
//! connection. It does not validate shares (`validate`) or poll monerod (`feed`).

use super::protocol::{self, Frame, LineReader, ReadError};
use super::session::{Action, PortInfo, Session};
use super::state::Shared;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A write that takes longer than this drops the connection (a miner not reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

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
        let Some(slot) = shared.ip_caps.acquire(peer.ip()) else {
            shared
                .rejections
                .count(super::rejection::Rejection::RateLimited);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let port = port.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _slot = slot;
            match tls {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await;
                    if let Ok(Ok(stream)) = handshake {
                        connection(shared, stream, peer, port, shutdown).await;
                    }
                }
                None => connection(shared, stream, peer, port, shutdown).await,
            }
        });
    }
}

/// Runs one connection to its end.
pub async fn connection<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    port: PortInfo,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = LineReader::new(read);
    let mut session = Session::new(&shared, peer.ip(), port.clone());
    let mut templates = shared.subscribe();
    templates.mark_unchanged();
    loop {
        let deadline = deadline(&shared, &session);
        let action = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            changed = templates.changed(), if session.miner().is_some() => {
                if changed.is_err() {
                    break;
                }
                let current = templates.borrow_and_update().clone();
                let Some(slot) = current else { continue };
                match session.next_job(&shared, &slot) {
                    Ok(job) => Action::Reply(protocol::push_job(&job)),
                    Err(_) => continue,
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
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
    if session.miner().is_some() {
        shared.stats.miner_left(port.port);
    }
    shared.stats.connections.fetch_sub(1, Ordering::Relaxed);
}

async fn write_all<W: AsyncWrite + Unpin>(write: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// When the connection is dropped if nothing happens: login timeout before login, the
/// first-share timeout until a share, then the idle miner timeout.
fn deadline(shared: &Shared, session: &Session) -> tokio::time::Instant {
    let settings = shared.settings();
    let now_ms = shared.now().0;
    let (from, length) = if session.miner().is_none() {
        (session.connected_at.0, settings.login_timeout)
    } else if !session.has_shared() {
        (session.connected_at.0, settings.first_share_timeout)
    } else {
        (session.last_contact.0, settings.miner_timeout)
    };
    let end = from.saturating_add(length.as_millis() as u64);
    tokio::time::Instant::now() + Duration::from_millis(end.saturating_sub(now_ms))
}
