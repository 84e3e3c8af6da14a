//! JSON-RPC 2.0 transport to one monerod or monero-wallet-rpc endpoint.
//!
//! Owns the HTTP exchange (`POST /json_rpc` and the plain "other" endpoints such as
//! `/pop_blocks`), the per-call timeout, optional `--rpc-login` authentication (HTTP digest
//! with MD5 and `qop=auth`, as monerod and wallet-rpc implement it; basic auth when a proxy
//! asks for it), and the mapping of every failure into [`RpcError`]. It knows nothing about particular methods: typed requests and
//! responses live in `rpc_types`, failover in `daemon`, wallet semantics in `wallet`.
//! Credentials are never logged or formatted into errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::{Digest as _, Md5};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The default timeout for one call. Templates and transfers can take seconds on a busy node;
/// nodejs-pool used 300 s, which hides dead daemons for far too long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an RPC call failed.
///
/// Whether the remote side may have acted on the request matters for payments: see
/// [`RpcError::may_have_executed`].
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The URL could not be used to build a request.
    #[error("invalid RPC url {url}: {detail}")]
    InvalidUrl { url: String, detail: String },
    /// No connection could be made: the request was never delivered.
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    /// The connection failed after the request may have been sent.
    #[error("transport error talking to {url}: {detail}")]
    Transport { url: String, detail: String },
    /// No complete answer within the call's timeout.
    #[error("{url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// The server refused our credentials (or wanted some and we have none). It did not act.
    #[error("{url} refused the RPC login (HTTP 401)")]
    Unauthorized { url: String },
    /// The server answered with a non-success HTTP status.
    #[error("{url} answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    /// The server answered with a JSON-RPC error object.
    #[error("RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    /// A daemon answered with a `status` other than `OK` (e.g. `BUSY`, `Failed`).
    #[error("RPC status {0:?}")]
    Status(String),
    /// The answer was not the JSON we expected.
    #[error("bad JSON from {url}: {detail}")]
    BadJson { url: String, detail: String },
}

impl RpcError {
    /// The endpoint is unreachable or stalled (connect failure, broken transport, timeout,
    /// HTTP 5xx): the failover layer should try another endpoint.
    pub fn is_unreachable(&self) -> bool {
        match self {
            RpcError::Connect { .. } | RpcError::Transport { .. } | RpcError::Timeout { .. } => {
                true
            }
            RpcError::HttpStatus { status, .. } => *status >= 500,
            RpcError::InvalidUrl { .. }
            | RpcError::Unauthorized { .. }
            | RpcError::Rpc { .. }
            | RpcError::Status(_)
            | RpcError::BadJson { .. } => false,
        }
    }

    /// Whether the server may have executed the request even though we got no usable answer.
    /// `false` only when we know it did not act (never connected, bad URL) or it told us it
    /// refused (an RPC error or a non-OK status). Payments must treat `true` as "maybe sent".
    pub fn may_have_executed(&self) -> bool {
        match self {
            RpcError::InvalidUrl { .. }
            | RpcError::Connect { .. }
            | RpcError::Unauthorized { .. }
            | RpcError::Rpc { .. }
            | RpcError::Status(_) => false,
            RpcError::Transport { .. }
            | RpcError::Timeout { .. }
            | RpcError::HttpStatus { .. }
            | RpcError::BadJson { .. } => true,
        }
    }
}

/// Credentials for `--rpc-login user:pass`. `Debug` hides the password.
#[derive(Clone)]
pub struct RpcLogin {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for RpcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcLogin")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// A JSON-RPC client for one endpoint (`http://host:port`, no trailing path).
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    login: Option<RpcLogin>,
    /// The last digest challenge, reused (with a rising nonce count) to save a round trip.
    challenge: Arc<Mutex<Option<Challenge>>>,
}

/// A server's `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Basic,
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        /// Whether the server offered `qop=auth` (RFC 2617) rather than RFC 2069 digests.
        qop_auth: bool,
        /// Requests made with this nonce so far.
        count: u32,
    },
}

#[derive(Serialize)]
struct Envelope<'a, P: Serialize + ?Sized> {
    jsonrpc: &'static str,
    id: &'static str,
    method: &'a str,
    params: &'a P,
}

#[derive(serde::Deserialize)]
struct ResponseEnvelope<R> {
    result: Option<R>,
    error: Option<ErrorObject>,
}

#[derive(serde::Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

impl RpcClient {
    /// A client for `base_url` (e.g. `http://127.0.0.1:18081`) with the given per-call timeout.
    /// Credentials in the URL (`http://user:pass@host:port`, percent-encoded where needed)
    /// become the `--rpc-login` of every call; they are taken out of the URL the client keeps,
    /// so they never appear in [`RpcClient::url`] or in an error.
    pub fn new(base_url: &str, timeout: Duration) -> Result<RpcClient, RpcError> {
        let trimmed = base_url.trim_end_matches('/');
        let mut parsed = reqwest::Url::parse(trimmed).map_err(|e| RpcError::InvalidUrl {
            url: mask_userinfo(trimmed),
            detail: e.to_string(),
        })?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(RpcError::InvalidUrl {
                url: mask_userinfo(trimmed),
                detail: "scheme must be http or https".to_owned(),
            });
        }
        let login = url_login(&parsed).map_err(|detail| RpcError::InvalidUrl {
            url: mask_userinfo(trimmed),
            detail: detail.to_owned(),
        })?;
        let base = if login.is_some() {
            // Cannot fail for an http(s) URL with a host.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.as_str().trim_end_matches('/').to_owned()
        } else {
            trimmed.to_owned()
        };
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| RpcError::InvalidUrl {
                url: base.clone(),
                detail: e.to_string(),
            })?;
        Ok(RpcClient {
            http,
            base,
            timeout,
            login,
            challenge: Arc::new(Mutex::new(None)),
        })
    }

    /// Authenticate every call (`--rpc-login`): digest as monerod/wallet-rpc ask, or basic.
    pub fn with_login(mut self, login: RpcLogin) -> RpcClient {
        self.login = Some(login);
        self
    }

    /// The endpoint this client talks to (without credentials).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Calls `method` on `/json_rpc` with `params` and decodes `result` as `R`.
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, RpcError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_with_timeout(method, params, self.timeout).await
    }

    /// As [`RpcClient::call`] with an explicit timeout (e.g. long `generateblocks`).
    pub async fn call_with_timeout<P, R>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, RpcError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let envelope = Envelope {
            jsonrpc: "2.0",
            id: "0",
            method,
            params,
        };
        let body = self.post("/json_rpc", &envelope, timeout).await?;
        let parsed: ResponseEnvelope<R> =
            serde_json::from_slice(body.as_ref()).map_err(|e| self.bad_json(e))?;
        match (parsed.error, parsed.result) {
            (Some(err), _) => Err(RpcError::Rpc {
                code: err.code,
                message: err.message,
            }),
            (None, Some(result)) => Ok(result),
            (None, None) => Err(RpcError::BadJson {
                url: self.base.clone(),
                detail: "response has neither result nor error".to_owned(),
            }),
        }
    }

    /// Posts `body` as JSON to a plain endpoint such as `/pop_blocks` and decodes the answer.
    pub async fn call_other<P, R>(&self, path: &str, body: &P) -> Result<R, RpcError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let bytes = self.post(path, body, self.timeout).await?;
        serde_json::from_slice(bytes.as_ref()).map_err(|e| self.bad_json(e))
    }

    async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<impl AsRef<[u8]> + use<B>, RpcError> {
        let url = format!("{}{}", self.base, path);
        // With a login, a 401 means the server did not act; answer the challenge once. A
        // cached challenge that went stale costs one extra round trip.
        let mut answered_fresh_challenge = false;
        loop {
            let mut request = self.http.post(&url).timeout(timeout).json(body);
            if let Some(login) = &self.login
                && let Some(value) = self.authorization(login, path)
            {
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.classify(e, timeout))?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED {
                let challenge = parse_challenges(response.headers());
                let mut cached = self.challenge.lock().unwrap_or_else(|p| p.into_inner());
                *cached = challenge;
                if self.login.is_none() || answered_fresh_challenge || cached.is_none() {
                    return Err(RpcError::Unauthorized {
                        url: self.base.clone(),
                    });
                }
                answered_fresh_challenge = true;
                continue;
            }
            if !status.is_success() {
                return Err(RpcError::HttpStatus {
                    url: self.base.clone(),
                    status: status.as_u16(),
                });
            }
            return response
                .bytes()
                .await
                .map_err(|e| self.classify(e, timeout));
        }
    }

    /// The `Authorization` header for the cached challenge, counting the request.
    fn authorization(&self, login: &RpcLogin, path: &str) -> Option<String> {
        let mut cached = self.challenge.lock().unwrap_or_else(|p| p.into_inner());
        match cached.as_mut()? {
            Challenge::Basic => {
                let pair = format!("{}:{}", login.user, login.password);
                Some(format!("Basic {}", base64_encode(pair.as_bytes())))
            }
            Challenge::Digest {
                realm,
                nonce,
                opaque,
                qop_auth,
                count,
            } => {
                *count = count.saturating_add(1);
                let ha1 = md5_hex(&format!("{}:{realm}:{}", login.user, login.password));
                let ha2 = md5_hex(&format!("POST:{path}"));
                let mut header = format!(
                    "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{path}\", algorithm=MD5",
                    login.user
                );
                if *qop_auth {
                    let nc = format!("{count:08x}");
                    let cnonce = format!("{:016x}", rand::random::<u64>());
                    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
                    header.push_str(&format!(
                        ", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
                    ));
                } else {
                    let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
                    header.push_str(&format!(", response=\"{response}\""));
                }
                if let Some(opaque) = opaque {
                    header.push_str(&format!(", opaque=\"{opaque}\""));
                }
                Some(header)
            }
        }
    }

    fn classify(&self, error: reqwest::Error, timeout: Duration) -> RpcError {
        let url = self.base.clone();
        // reqwest errors can carry the URL; ours never holds credentials (basic auth goes in a
        // header), so the text is safe to keep.
        if error.is_timeout() {
            RpcError::Timeout { url, timeout }
        } else if error.is_connect() {
            RpcError::Connect {
                url,
                detail: error_chain(&error),
            }
        } else if error.is_builder() {
            RpcError::InvalidUrl {
                url,
                detail: error_chain(&error),
            }
        } else {
            RpcError::Transport {
                url,
                detail: error_chain(&error),
            }
        }
    }

    fn bad_json(&self, error: serde_json::Error) -> RpcError {
        RpcError::BadJson {
            url: self.base.clone(),
            detail: error.to_string(),
        }
    }
}

/// The error and its sources on one line (reqwest's top-level message alone is vague).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The login a URL carries (`user:pass@`), percent-decoded; `None` without a user name.
fn url_login(url: &reqwest::Url) -> Result<Option<RpcLogin>, &'static str> {
    if url.username().is_empty() {
        return if url.password().is_some() {
            Err("a password without a user name")
        } else {
            Ok(None)
        };
    }
    let decode = |text: &str| percent_decode(text).ok_or("bad percent-encoding in the login");
    Ok(Some(RpcLogin {
        user: decode(url.username())?,
        password: decode(url.password().unwrap_or(""))?,
    }))
}

/// `%XX` escapes decoded (UTF-8 result required); `None` on a malformed escape.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let pair = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(pair).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A URL with whatever sits before `@` in its authority replaced, for error messages.
fn mask_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// Standard base64 with padding (for basic auth only).
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The best challenge among `WWW-Authenticate` headers: an MD5 digest if offered, else basic.
fn parse_challenges(headers: &reqwest::header::HeaderMap) -> Option<Challenge> {
    let mut basic = false;
    for value in headers.get_all(reqwest::header::WWW_AUTHENTICATE) {
        let Ok(text) = value.to_str() else { continue };
        let text = text.trim();
        let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        } else if scheme.eq_ignore_ascii_case("digest") {
            let params = parse_auth_params(rest);
            let get = |key: &str| {
                params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.clone())
            };
            let algorithm = get("algorithm").unwrap_or_else(|| "MD5".to_owned());
            if !algorithm.eq_ignore_ascii_case("MD5") {
                continue;
            }
            let (Some(realm), Some(nonce)) = (get("realm"), get("nonce")) else {
                continue;
            };
            let qop_auth = get("qop").is_some_and(|qop| {
                qop.split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            });
            return Some(Challenge::Digest {
                realm,
                nonce,
                opaque: get("opaque"),
                qop_auth,
                count: 0,
            });
        }
    }
    basic.then_some(Challenge::Basic)
}

/// `key=value, key="quoted, value"` pairs of an auth header.
fn parse_auth_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_owned(), &quoted[end + 1..]),
                None => (quoted.to_owned(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_owned(), &after[end..]),
                None => (after.trim().to_owned(), ""),
            }
        };
        params.push((key, value));
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn credentials_in_the_url_become_the_login_and_leave_the_url() {
        let client =
            RpcClient::new("http://pool:s%40cret%3A1@127.0.0.1:18082/", DEFAULT_TIMEOUT).unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:18082");
        let login = client.login.as_ref().unwrap();
        assert_eq!(
            (login.user.as_str(), login.password.as_str()),
            ("pool", "s@cret:1")
        );
        assert!(!format!("{client:?}").contains("s@cret"));

        let plain = RpcClient::new("http://127.0.0.1:18082", DEFAULT_TIMEOUT).unwrap();
        assert!(plain.login.is_none());
        assert_eq!(plain.url(), "http://127.0.0.1:18082");
        let user_only = RpcClient::new("http://pool@127.0.0.1:18082", DEFAULT_TIMEOUT).unwrap();
        assert_eq!(user_only.login.as_ref().unwrap().password, "");
    }

    #[test]
    fn malformed_url_logins_are_refused_without_echoing_the_password() {
        for url in [
            "http://:hunter2@127.0.0.1:1",
            "http://pool:hunter2%zz@127.0.0.1:1",
            "http://pool:hunter2%ff@127.0.0.1:1",
            "ftp://pool:hunter2@127.0.0.1:1",
            "http://pool:hunter2@",
        ] {
            let err = RpcClient::new(url, DEFAULT_TIMEOUT).unwrap_err();
            assert!(matches!(err, RpcError::InvalidUrl { .. }), "{url}: {err:?}");
            assert!(!err.to_string().contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn parses_monerods_digest_challenge() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.append(
            reqwest::header::WWW_AUTHENTICATE,
            "Digest qop=\"auth\",algorithm=MD5-sess,realm=\"monero-rpc\",nonce=\"abc\",stale=false"
                .parse()
                .unwrap(),
        );
        headers.append(
            reqwest::header::WWW_AUTHENTICATE,
            "Digest qop=\"auth\",algorithm=MD5,realm=\"monero-rpc\",nonce=\"n0, x\",stale=false"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            parse_challenges(&headers),
            Some(Challenge::Digest {
                realm: "monero-rpc".to_owned(),
                nonce: "n0, x".to_owned(),
                opaque: None,
                qop_auth: true,
                count: 0,
            })
        );
    }

    #[test]
    fn digest_response_matches_rfc_2617_example() {
        // RFC 2617 §3.5, with qop=auth (its example uses GET /dir/index.html).
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = md5_hex("GET:/dir/index.html");
        let response = md5_hex(&format!(
            "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn login_debug_hides_the_password() {
        let login = RpcLogin {
            user: "pool".to_owned(),
            password: "hunter2".to_owned(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
    }

    proptest! {
        #[test]
        fn auth_header_parsing_never_panics(text in "\\PC{0,200}") {
            let _ = parse_auth_params(&text);
        }
    }
}
