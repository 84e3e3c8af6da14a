//! The stratum wire: newline-delimited JSON-RPC as xmrig and xmr-node-proxy speak it.
//!
//! Owns framing (a line reader that refuses lines over [`MAX_LINE`] bytes and keeps almost no
//! memory per idle connection), the classification of a line (request, plain-HTTP probe,
//! garbage), typed method parameters, and the reply envelope of nodejs-pool
//! (`{"id","jsonrpc":"2.0","error","result"}`) plus the `job` push. It decides nothing about
//! sessions, shares or bans; `session` does.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest line accepted (nodejs-pool: 10 KB without a newline → "Excessive packet size").
pub const MAX_LINE: usize = 10 * 1024;

/// The answer to a plain-HTTP probe (`GET / HTTP/1.1`), then the connection is closed.
pub const HTTP_PROBE_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\n\r\nMining Pool Online";

/// Why the line reader stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads `\n`-terminated lines with a hard length cap. The buffer starts empty and is shrunk
/// back after a long line, so an idle connection costs a few hundred bytes.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    /// Bytes of `buf` consumed by the previous line (dropped on the next call).
    consumed: usize,
}

/// Bytes read from the socket per `read` call.
const READ_CHUNK: usize = 512;
/// A line buffer above this capacity is released after use.
const KEEP_CAPACITY: usize = 2048;

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(inner: R) -> LineReader<R> {
        LineReader {
            inner,
            buf: Vec::new(),
            scanned: 0,
            consumed: 0,
        }
    }

    /// The next line without its `\n` (and `\r`), or `None` at end of stream. A final line
    /// without a newline is returned too. The slice lives until the next call. Cancel-safe:
    /// bytes read before a cancelled call are kept for the next one.
    pub async fn next_line(&mut self) -> Result<Option<&[u8]>, ReadError> {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
            self.scanned = 0;
            if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
        loop {
            if let Some(pos) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + pos;
                if end > MAX_LINE {
                    return Err(ReadError::TooLong);
                }
                self.consumed = end + 1;
                let line = &self.buf[..end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                return Ok(Some(line));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_LINE {
                return Err(ReadError::TooLong);
            }
            // Read into a stack chunk, not the buffer: if this future is dropped (a `select!`
            // branch losing), nothing half-written is left behind. Cancel-safe.
            let mut chunk = [0u8; READ_CHUNK];
            let n = self.inner.read(&mut chunk).await?;
            self.buf.extend_from_slice(&chunk[..n]);
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.consumed = self.buf.len();
                return Ok(Some(&self.buf[..]));
            }
        }
    }
}

/// What one line is.
#[derive(Debug)]
pub enum Frame {
    /// A blank line (ignored).
    Empty,
    /// A JSON-RPC request with a method name.
    Request(Request),
    /// A JSON object that is not a usable request (no or non-string `method`); answered with
    /// an error when it has an `id`.
    Invalid { id: Option<Box<RawValue>> },
    /// `GET / HTTP/1.x`: answer [`HTTP_PROBE_REPLY`] and close.
    HttpProbe,
    /// Not JSON at all: the connection is cut (nodejs-pool: "Malformed message").
    Garbage,
}

/// A request: `id` is echoed verbatim in the reply (number, string or anything else).
#[derive(Debug)]
pub struct Request {
    pub id: Box<RawValue>,
    pub method: String,
    pub params: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

/// Classifies one line.
pub fn parse_line(line: &[u8]) -> Frame {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Frame::Empty;
    }
    // serde would read a JSON array positionally into the struct; only objects are requests.
    let parsed = if trimmed.first() == Some(&b'{') {
        serde_json::from_slice::<RawRequest<'_>>(trimmed).ok()
    } else {
        None
    };
    match parsed {
        Some(raw) => {
            let id = raw.id.map(RawValue::to_owned);
            let method = raw
                .method
                .and_then(|m| serde_json::from_str::<String>(m.get()).ok());
            match (id, method) {
                (Some(id), Some(method)) => Frame::Request(Request {
                    id,
                    method,
                    params: raw.params.map(RawValue::to_owned),
                }),
                (id, _) => Frame::Invalid { id },
            }
        }
        None => {
            let is_probe = trimmed.starts_with(b"GET /")
                && (contains(trimmed, b"HTTP/1.1") || contains(trimmed, b"HTTP/1.0"));
            if is_probe {
                Frame::HttpProbe
            } else {
                Frame::Garbage
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `login` parameters. Unknown fields are ignored; wrong types fail the whole request.
#[derive(Debug, Deserialize)]
pub struct LoginParams {
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub pass: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub rigid: Option<String>,
    #[serde(default)]
    pub algo: Option<Vec<String>>,
}

/// `submit` parameters; `poolNonce`/`workerNonce` only from xmr-node-proxy.
#[derive(Debug, Deserialize)]
pub struct SubmitParams {
    #[serde(default)]
    pub id: Option<String>,
    pub job_id: String,
    pub nonce: String,
    pub result: String,
    #[serde(default)]
    pub algo: Option<String>,
    #[serde(default, rename = "poolNonce")]
    pub pool_nonce: Option<u32>,
    #[serde(default, rename = "workerNonce")]
    pub worker_nonce: Option<u32>,
}

/// `getjob` / `keepalived` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct SessionParams {
    #[serde(default)]
    pub id: Option<String>,
}

/// Parses `params` into `T`; a missing `params` parses as `{}`.
pub fn params<T: for<'de> Deserialize<'de>>(raw: Option<&RawValue>) -> Option<T> {
    match raw {
        Some(raw) => serde_json::from_str(raw.get()).ok(),
        None => serde_json::from_str("{}").ok(),
    }
}

/// A job as sent to a miner (login reply, `getjob` reply, `job` push). It borrows every
/// text, so a job is cut and serialized without allocating anything but the output line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobMessage<'a> {
    /// Hashing blob hex (normal miners).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<&'a str>,
    pub job_id: &'a str,
    /// Target hex (normal miners).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<&'a str>,
    /// The session id.
    pub id: &'a str,
    pub algo: &'static str,
    pub height: u64,
    pub seed_hash: &'a str,
    /// Proxy jobs: the whole template with our nonces written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocktemplate_blob: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_nonce_offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_pool_offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_diff: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_diff_hex: Option<&'a str>,
}

/// Lower-case hex of up to `CHARS / 2` bytes, kept on the stack (job ids, targets, seed
/// hashes and hashing blobs are short and written for every job).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexStr<const CHARS: usize> {
    len: usize,
    buf: [u8; CHARS],
}

impl<const CHARS: usize> HexStr<CHARS> {
    /// The hex of `bytes`; bytes beyond `CHARS / 2` are not written (callers size `CHARS`
    /// for their longest input).
    pub fn of(bytes: &[u8]) -> HexStr<CHARS> {
        let bytes = &bytes[..bytes.len().min(CHARS / 2)];
        let mut buf = [0u8; CHARS];
        let len = 2 * bytes.len();
        // The output slice is exactly twice the input, the only error `hex` reports.
        let _ = hex::encode_to_slice(bytes, &mut buf[..len]);
        HexStr { len, buf }
    }

    pub fn as_str(&self) -> &str {
        // Hex digits are ASCII: this never fails.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl<const CHARS: usize> std::fmt::Debug for HexStr<CHARS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `result` of a successful login.
#[derive(Debug, Serialize)]
pub struct LoginResult<'a> {
    pub id: &'a str,
    pub job: &'a JobMessage<'a>,
    pub status: &'static str,
    pub extensions: &'static [&'static str],
}

/// Extensions advertised in the login reply.
pub const EXTENSIONS: &[&str] = &["algo", "nicehash", "keepalive"];

/// `{"status":"OK"}`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub status: &'static str,
}

#[derive(Serialize)]
struct Reply<'a, T: Serialize> {
    id: &'a RawValue,
    jsonrpc: &'static str,
    error: Option<ErrorBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<T>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i32,
    message: &'a str,
}

#[derive(Serialize)]
struct Push<'a, T: Serialize> {
    jsonrpc: &'static str,
    method: &'static str,
    params: &'a T,
}

/// A success reply line (with `\n`).
pub fn reply_ok<T: Serialize>(id: &RawValue, result: &T) -> Vec<u8> {
    line(&Reply {
        id,
        jsonrpc: "2.0",
        error: None,
        result: Some(result),
    })
}

/// An error reply line (with `\n`); `id` is `null` when the request had none.
pub fn reply_err(id: Option<&RawValue>, message: &str) -> Vec<u8> {
    let null = RawValue::NULL;
    line(&Reply::<()> {
        id: id.unwrap_or(null),
        jsonrpc: "2.0",
        error: Some(ErrorBody { code: -1, message }),
        result: None,
    })
}

/// A `job` push line (with `\n`).
pub fn push_job(job: &JobMessage<'_>) -> Vec<u8> {
    line(&Push {
        jsonrpc: "2.0",
        method: "job",
        params: job,
    })
}

/// Room for a normal miner's job push, so the line is written without reallocating.
const LINE_CAPACITY: usize = 512;

fn line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(LINE_CAPACITY);
    // Serializing these plain structs cannot fail (no maps with non-string keys, no
    // failing Serialize impls); an empty object keeps the stream well-formed regardless.
    if serde_json::to_writer(&mut out, value).is_err() {
        out.clear();
        out.extend_from_slice(b"{}");
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8]) -> Vec<Result<Vec<u8>, String>> {
        let mut reader = LineReader::new(input);
        let mut out = Vec::new();
        loop {
            match reader.next_line().await {
                Ok(Some(line)) => out.push(Ok(line.to_vec())),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn line_reader_splits_lines_and_strips_crlf() {
        let got = lines_of(b"a\r\nbb\n\nccc").await;
        let want: Vec<Result<Vec<u8>, String>> = vec![
            Ok(b"a".to_vec()),
            Ok(b"bb".to_vec()),
            Ok(b"".to_vec()),
            Ok(b"ccc".to_vec()),
        ];
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn line_reader_refuses_a_line_over_ten_kilobytes() {
        let mut long = vec![b'x'; MAX_LINE + 1];
        long.push(b'\n');
        let got = lines_of(&long).await;
        assert!(matches!(got.last(), Some(Err(_))));
        let endless = vec![b'{'; 100_000];
        let got = lines_of(&endless).await;
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err(), "no newline at all must be cut too");
    }

    #[tokio::test]
    async fn line_reader_accepts_a_line_of_exactly_the_limit() {
        let mut line = vec![b'x'; MAX_LINE];
        line.push(b'\n');
        let got = lines_of(&line).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().map(Vec::len), Ok(MAX_LINE));
    }

    #[test]
    fn parse_line_keeps_the_request_id_verbatim() {
        let Frame::Request(r) = parse_line(br#"{"id":"abc","method":"login","params":{}}"#) else {
            panic!("not a request");
        };
        assert_eq!(r.id.get(), r#""abc""#);
        assert_eq!(r.method, "login");
        let Frame::Request(r) = parse_line(br#"{"id":0,"method":"submit"}"#) else {
            panic!("id 0 is a valid id here (nodejs-pool dropped it)");
        };
        assert_eq!(r.id.get(), "0");
        assert!(r.params.is_none());
    }

    #[test]
    fn parse_line_classifies_probe_garbage_and_invalid_requests() {
        assert!(matches!(parse_line(b"GET / HTTP/1.1"), Frame::HttpProbe));
        assert!(matches!(parse_line(b"GET /x HTTP/1.0\r"), Frame::HttpProbe));
        assert!(matches!(parse_line(b"GET / SPDY"), Frame::Garbage));
        assert!(matches!(parse_line(b"{\"id\":1,"), Frame::Garbage));
        assert!(matches!(parse_line(b"\xff\xfe"), Frame::Garbage));
        assert!(matches!(parse_line(b"   "), Frame::Empty));
        assert!(matches!(parse_line(b"[1,2]"), Frame::Garbage));
        assert!(matches!(
            parse_line(br#"{"id":5,"method":7}"#),
            Frame::Invalid { id: Some(_) }
        ));
        assert!(matches!(
            parse_line(br#"{"method":"login"}"#),
            Frame::Invalid { id: None }
        ));
    }

    #[test]
    fn params_reject_wrong_types_and_accept_missing_optional_fields() {
        let raw = RawValue::from_string(r#"{"job_id":"a","nonce":5,"result":"x"}"#.into()).ok();
        assert!(params::<SubmitParams>(raw.as_deref()).is_none());
        let raw = RawValue::from_string(r#"{"job_id":"a","result":"x"}"#.into()).ok();
        assert!(params::<SubmitParams>(raw.as_deref()).is_none());
        let raw = RawValue::from_string(r#"{"login":"a","extra":[1]}"#.into()).ok();
        let login = params::<LoginParams>(raw.as_deref()).map(|p| p.login);
        assert_eq!(login, Some(Some("a".to_string())));
        assert!(params::<SessionParams>(None).is_some());
        let raw = RawValue::from_string("\"string\"".into()).ok();
        assert!(params::<SessionParams>(raw.as_deref()).is_none());
    }

    #[test]
    fn hex_str_is_hex_encode_on_the_stack() {
        for bytes in [&[][..], &[0xab][..], &[0x5a; 32][..]] {
            assert_eq!(HexStr::<64>::of(bytes).as_str(), hex::encode(bytes));
        }
        // Job ids go out as 16 hex digits of the big-endian u64.
        let id = super::super::jobs::JobId(0x0123_4567_89ab_cdef);
        assert_eq!(HexStr::<16>::of(&id.0.to_be_bytes()).as_str(), id.to_hex());
    }

    #[test]
    fn replies_use_the_nodejs_pool_envelope() {
        let id = RawValue::from_string("7".into()).ok();
        let id = id.as_deref().map(|v| v as &RawValue);
        let ok = reply_ok(id.unwrap_or(RawValue::NULL), &Status { status: "OK" });
        assert_eq!(
            ok,
            b"{\"id\":7,\"jsonrpc\":\"2.0\",\"error\":null,\"result\":{\"status\":\"OK\"}}\n"
        );
        let err = reply_err(None, "Invalid job id");
        assert_eq!(
            err,
            b"{\"id\":null,\"jsonrpc\":\"2.0\",\"error\":{\"code\":-1,\"message\":\"Invalid job id\"}}\n"
        );
    }
}
