//! A short per-route response cache: a rendered JSON body kept under its request path (and
//! query) for a route's time to live, so a front-end polling every few seconds and thousands
//! of miners asking for the same pool stats cost one render per interval. Bounded: at most
//! [`MAX_ENTRIES`] bodies; when full, expired entries are dropped first and, if none expired,
//! the new body is served without being kept.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;

use super::ApiError;

/// Most bodies kept at once (miner routes are per address, so this bounds memory).
pub const MAX_ENTRIES: usize = 20_000;

/// The time to live of the pool-wide figures a found block changes (pool stats, blocks,
/// payments): few keys, so rendering them four times a second costs nothing, and a block
/// reaches pages and websocket subscribers well within 2 s.
pub const PROMPT: Duration = Duration::from_millis(250);
/// The time to live of live figures (miner stats, network).
pub const LIVE: Duration = Duration::from_secs(1);
/// The time to live of slow figures (charts, config, ports).
pub const SLOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct Cache {
    entries: Arc<Mutex<HashMap<String, (Instant, Bytes)>>>,
}

impl Cache {
    /// The body cached under `key` if still fresh, else `render`'s, kept for `ttl`.
    /// Errors are not cached.
    pub async fn get_or_render<F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        render: F,
    ) -> Result<Bytes, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, ApiError>>,
    {
        let now = Instant::now();
        if let Some((expires, body)) = self.lock().get(key)
            && *expires > now
        {
            return Ok(body.clone());
        }
        let body = render().await?;
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (expires, _)| *expires > now);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(key.to_owned(), (now + ttl, body.clone()));
        }
        Ok(body)
    }

    /// Forgets every body whose key starts with `prefix` (after a write that changes them).
    pub fn invalidate(&self, prefix: &str) {
        self.lock().retain(|key, _| !key.starts_with(prefix));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Bytes)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A JSON response of an already rendered body.
pub fn json_response(body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Serializes `value` to a body.
pub fn to_body<T: serde::Serialize>(value: &T) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_body_is_served_from_the_cache_and_an_expired_one_is_rendered_again() {
        let cache = Cache::default();
        let first = cache
            .get_or_render("/a", Duration::from_millis(50), || async {
                Ok(Bytes::from("1"))
            })
            .await
            .unwrap();
        let cached = cache
            .get_or_render("/a", Duration::from_millis(50), || async {
                Ok(Bytes::from("2"))
            })
            .await
            .unwrap();
        assert_eq!((first.as_ref(), cached.as_ref()), (&b"1"[..], &b"1"[..]));
        tokio::time::sleep(Duration::from_millis(60)).await;
        let fresh = cache
            .get_or_render("/a", Duration::from_millis(50), || async {
                Ok(Bytes::from("3"))
            })
            .await
            .unwrap();
        assert_eq!(fresh.as_ref(), b"3");
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_invalidate_drops_a_prefix() {
        let cache = Cache::default();
        let failed = cache
            .get_or_render("/b", LIVE, || async { Err(ApiError::bad_request("no")) })
            .await;
        assert!(failed.is_err());
        let ok = cache
            .get_or_render("/b", LIVE, || async { Ok(Bytes::from("ok")) })
            .await
            .unwrap();
        assert_eq!(ok.as_ref(), b"ok");
        cache.invalidate("/b");
        let again = cache
            .get_or_render("/b", LIVE, || async { Ok(Bytes::from("new")) })
            .await
            .unwrap();
        assert_eq!(again.as_ref(), b"new");
    }
}
