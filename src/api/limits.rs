//! Hardening around every route of the api, in one place ([`harden`]), outermost first:
//!
//! - request log: method, path (with the secret segments of `/user/...` links masked, never
//!   the query string, which may carry a token), status and time, at debug level;
//! - CORS (`[api] cors_origins`, default any origin as nodejs-pool), answering the preflight
//!   `OPTIONS` front-ends send before each request (poolui sends `x-access-token` on all);
//!   outside the rate limit, so a browser can read a 429;
//! - the per-IP rate limit (`[api] rate_limit_per_sec`, `rate_limit_burst`; [`rate`]), the
//!   client taken from the connection, or from `X-Forwarded-For` / `X-Real-IP` only when the
//!   connection comes from one of `[api] trusted_proxies`; 429 with `Retry-After`;
//! - the request timeout (`[api] request_timeout_ms`; 503): it bounds the handler up to its
//!   response, so a websocket lives on after its upgrade;
//! - the body size limit (`[api] max_body_bytes`; 413);
//! - JSON errors (just inside CORS, around all of the above): an unknown path is a JSON 404, and any refusal that axum or a layer answers
//!   in plain text or with no body (405 wrong method, 415, 413, extractor rejections) is
//!   rewritten as `{"error": "..."}` with its status and headers kept, so no route ever
//!   answers plain text by accident. A page meant for a person (the e-mail links opened in a
//!   browser) says so with the [`HumanPage`] response extension and is left as it is.
//!
//! Owns no route and no state beyond the rate limiter's buckets.

pub mod rate;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

use super::{ApiError, ApiState};
use crate::domain::net::TrustedProxies;
use rate::RateLimiter;

/// Longest error body of a layer or extractor that is carried into the JSON message.
const MAX_ERROR_TEXT: usize = 512;
/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// `app` with the limits around it (see the module documentation for the order).
pub fn harden(app: Router, state: &ApiState) -> Router {
    let api = &state.config.api;
    let limiter = Limiter {
        buckets: RateLimiter::new(api.rate_limit_per_sec, api.rate_limit_burst),
        // Validated at start (`ApiConfig::check`); an unusable list trusts nobody.
        proxies: TrustedProxies::parse(&api.trusted_proxies).unwrap_or_default(),
    };
    let timeout = Duration::from_millis(api.request_timeout_ms);
    let origins = cors_origins(&api.cors_origins).unwrap_or_else(|_| AllowOrigin::any());
    let cors = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            HeaderName::from_static("x-access-token"),
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(PREFLIGHT_MAX_AGE);
    app.fallback(no_route)
        .layer(DefaultBodyLimit::max(api.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(api.max_body_bytes))
        .layer(middleware::from_fn_with_state(timeout, time_limit))
        .layer(middleware::from_fn_with_state(limiter, rate_limit))
        .layer(middleware::from_fn(json_errors))
        .layer(cors)
        .layer(middleware::from_fn(log_request))
}

/// The allowed origins, checked at start by [`crate::config::check_origin`].
fn cors_origins(origins: &[String]) -> Result<AllowOrigin, String> {
    if origins.iter().any(|o| o == "*") {
        return Ok(AllowOrigin::any());
    }
    let values = origins
        .iter()
        .map(|o| {
            crate::config::check_origin(o)?;
            HeaderValue::from_str(o).map_err(|e| format!("{o:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AllowOrigin::list(values))
}

async fn no_route() -> ApiError {
    ApiError::not_found("no such route")
}

/// The rate limiter and whom to believe about the client's address.
#[derive(Debug, Clone)]
struct Limiter {
    buckets: Option<RateLimiter>,
    proxies: TrustedProxies,
}

/// The client's address as [`client_ip`] judged it, in every request's extensions (put there
/// by the rate-limit layer, which every request passes), for handlers that limit or log per
/// client (admin logins, websocket caps). `None` when the connection's address is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The client of a request that passed [`harden`]'s layers, else the connection's address.
    pub fn of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
        match extensions.get::<ClientIp>() {
            Some(ClientIp(ip)) => *ip,
            None => extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        }
    }
}

async fn rate_limit(State(limiter): State<Limiter>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = client_ip(peer, request.headers(), &limiter.proxies);
    request.extensions_mut().insert(ClientIp(client));
    let Some(buckets) = &limiter.buckets else {
        return next.run(request).await;
    };
    match buckets.check(rate::client_key(client), Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response =
                ApiError::TooManyRequests("too many requests; slow down".into()).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}

/// The client's address: the connection's, unless the connection comes from a trusted proxy,
/// then the nearest address in `X-Forwarded-For` that is not a trusted proxy (addresses
/// further left were written by the client and prove nothing), else `X-Real-IP`. `None` when
/// the connection's address is unknown.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    proxies: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer?;
    if !proxies.contains(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|part| part.trim().parse::<IpAddr>())
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    if let Some(ip) = forwarded.iter().rev().find(|ip| !proxies.contains(**ip)) {
        return Some(*ip);
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(Some(peer))
}

async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "the request took longer than {} ms; try again",
            limit.as_millis()
        ))
        .into_response(),
    }
}

/// Marks a response as a page for a person (a link opened from an e-mail): its refusals
/// stay as the handler wrote them instead of being rewritten as JSON.
#[derive(Debug, Clone, Copy)]
pub struct HumanPage;

/// Rewrites any 4xx/5xx that is not JSON as `{"error": "..."}` (status and headers kept),
/// unless marked [`HumanPage`].
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_json(response.headers())
        || response.extensions().get::<HumanPage>().is_some()
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let message = match (status, text) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => "method not allowed on this route".to_owned(),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => "request body too large".to_owned(),
        // A server error's text may say something of the inside.
        (s, Some(text)) if s.is_client_error() => text,
        (s, _) => s.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = masked_path(request.uri().path());
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "api request"
    );
    response
}

/// `path` as it may be logged: under `/user/`, every segment after the second is masked (the
/// signed tokens of the e-mail links); segments longer than 128 bytes are cut.
pub fn masked_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(512));
    let user = path.starts_with("/user/");
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if user && i > 2 {
            out.push_str("***");
        } else if segment.len() > 128 {
            let cut = (0..=128)
                .rev()
                .find(|n| segment.is_char_boundary(*n))
                .unwrap_or(0);
            out.push_str(&segment[..cut]);
            out.push('…');
        } else {
            out.push_str(segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_masked_in_logged_paths() {
        assert_eq!(
            masked_path("/user/unsubscribeEmail/abc.def"),
            "/user/unsubscribeEmail/***"
        );
        assert_eq!(
            masked_path("/user/confirmEmail/t0k3n"),
            "/user/confirmEmail/***"
        );
        assert_eq!(masked_path("/user/44Addr"), "/user/44Addr");
        assert_eq!(masked_path("/pool/stats"), "/pool/stats");
        assert!(masked_path(&format!("/x/{}", "é".repeat(200))).len() < 300);
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.9, 10.0.0.2"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            client_ip(Some(proxy), &headers, &proxies),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            client_ip(Some(stranger), &headers, &proxies),
            Some(stranger)
        );
        assert_eq!(client_ip(None, &headers, &proxies), None);
        let mut real = HeaderMap::new();
        real.insert("x-real-ip", HeaderValue::from_static("203.0.113.5"));
        assert_eq!(
            client_ip(Some(proxy), &real, &proxies),
            Some("203.0.113.5".parse().unwrap())
        );
        // Garbage in the header: the proxy itself is the client.
        let mut bad = HeaderMap::new();
        bad.insert("x-forwarded-for", HeaderValue::from_static("not an ip"));
        assert_eq!(client_ip(Some(proxy), &bad, &proxies), Some(proxy));
    }

    #[test]
    fn cors_origins_take_star_or_origins_only() {
        assert!(cors_origins(&["*".into()]).is_ok());
        assert!(cors_origins(&["https://pool.example.org".into()]).is_ok());
        assert!(cors_origins(&["https://pool.example.org/".into()]).is_err());
        assert!(cors_origins(&["pool.example.org".into()]).is_err());
    }
}
