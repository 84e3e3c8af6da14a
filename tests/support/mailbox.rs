//! What tests that read mail need: the `[smtp]` config of the devnet sink, a sender that
//! retries fast, and a received message's headers, decoded body and links.

use std::time::Duration;

use rxpool::config::SmtpConfig;
use rxpool::devnet::ReceivedMail;
use rxpool::mail::sender::SenderOptions;

pub fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        from: "TestPool <pool@example.org>".into(),
        security: "none".into(),
    }
}

pub fn fast() -> SenderOptions {
    SenderOptions {
        backoff_first: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        lease: Duration::from_secs(5),
        poll: Duration::from_millis(100),
        batch: 20,
    }
}

/// The decoded text body of a received message (7bit, quoted-printable or base64).
pub fn body(mail: &ReceivedMail) -> String {
    let data = mail.data.replace("\r\n", "\n");
    let (headers, body) = data.split_once("\n\n").expect("headers and body");
    let cte = header(headers, "Content-Transfer-Encoding").unwrap_or_default();
    match cte.to_ascii_lowercase().as_str() {
        "quoted-printable" => {
            let joined = body.replace("=\n", "");
            let bytes = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    if let Ok(b) = u8::from_str_radix(hex, 16) {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8(out).unwrap()
        }
        "base64" => {
            use base64::Engine as _;
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap(),
            )
            .unwrap()
        }
        _ => body.to_owned(),
    }
}

/// One header's unfolded value.
pub fn header(headers: &str, name: &str) -> Option<String> {
    let unfolded = headers.replace("\n ", " ").replace("\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

pub fn headers_of(mail: &ReceivedMail) -> String {
    let data = mail.data.replace("\r\n", "\n");
    data.split_once("\n\n").unwrap().0.to_owned()
}

/// The first link in `text` under `path` (e.g. `/user/confirmEmail/`).
pub fn link(text: &str, path: &str) -> String {
    let start = text
        .find(path)
        .unwrap_or_else(|| panic!("no {path} in {text}"));
    let begin = text[..start].rfind("http").unwrap();
    text[begin..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_owned()
}

pub fn token_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}
