//! What a websocket client may send, checked before anything is rendered: the three commands
//! of the protocol and the topics they name. A topic is the path (and query) of a public GET
//! route; this module refuses the rest (other prefixes, `.`/`..` segments, encoded slashes,
//! non-ASCII, over [`MAX_TOPIC_BYTES`]) with a message for the client. The route itself still
//! validates its parameters when the topic is rendered, and only the public routes are ever
//! reachable through a topic (the hub renders through the public router alone).

use serde::Deserialize;

/// The longest topic accepted, in bytes.
pub const MAX_TOPIC_BYTES: usize = 256;

/// The path prefixes of the public GET routes (and `/config`, matched whole).
const PUBLIC_PREFIXES: [&str; 3] = ["/pool/", "/network/", "/miner/"];

/// One client message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Subscribe(String),
    Unsubscribe(String),
    Ping,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Incoming {
    op: String,
    #[serde(default)]
    topic: Option<String>,
}

/// Parses one text frame: `{"op":"subscribe","topic":T}`, `{"op":"unsubscribe","topic":T}`
/// or `{"op":"ping"}`.
pub fn parse_command(text: &str) -> Result<Command, String> {
    let incoming: Incoming = serde_json::from_str(text).map_err(|e| {
        format!(
            "malformed message ({e}); send {{\"op\":\"subscribe\"|\"unsubscribe\",\"topic\":\"/pool/stats\"}} \
             or {{\"op\":\"ping\"}}"
        )
    })?;
    let topic = |op: &str| {
        incoming
            .topic
            .clone()
            .ok_or_else(|| format!("{op} needs a \"topic\""))
    };
    match incoming.op.as_str() {
        "subscribe" => Ok(Command::Subscribe(topic("subscribe")?)),
        "unsubscribe" => Ok(Command::Unsubscribe(topic("unsubscribe")?)),
        "ping" if incoming.topic.is_none() => Ok(Command::Ping),
        "ping" => Err("ping takes no topic".to_owned()),
        _ => Err("unknown op; expected subscribe, unsubscribe or ping".to_owned()),
    }
}

/// Whether `topic` may be subscribed to; the message says why not.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("topic is empty".to_owned());
    }
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(format!(
            "topic is too long: at most {MAX_TOPIC_BYTES} bytes"
        ));
    }
    if !topic.bytes().all(|b| b.is_ascii_graphic()) || topic.contains(['#', '\\']) {
        return Err(
            "topic must be a URL path of printable ASCII without spaces, '#' or '\\' \
             (percent-encode anything else)"
                .to_owned(),
        );
    }
    let path = topic.split('?').next().unwrap_or_default();
    let public = path == "/config" || PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p));
    if !public {
        return Err(
            "not a public route: a topic is the path of a public GET route \
             (/pool/..., /network/..., /miner/... or /config)"
                .to_owned(),
        );
    }
    for segment in path.split('/').skip(1) {
        let lower = segment.to_ascii_lowercase();
        let decoded = lower.replace("%2e", ".");
        if segment.is_empty() || decoded == "." || decoded == ".." {
            return Err("topic must not have empty, '.' or '..' path segments".to_owned());
        }
        if lower.contains("%2f") || lower.contains("%5c") {
            return Err("topic must not hold encoded slashes".to_owned());
        }
    }
    if axum::http::uri::PathAndQuery::try_from(topic).is_err() {
        return Err("topic is not a valid URL path".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_route_paths_and_queries_are_topics() {
        for topic in [
            "/pool/stats",
            "/pool/stats/pplns",
            "/network/stats",
            "/config",
            "/pool/blocks?limit=5&page=1",
            "/miner/4Addr/stats/allWorkers",
            "/miner/4Addr/chart/hashrate/rig%201",
        ] {
            assert_eq!(check_topic(topic), Ok(()), "{topic}");
        }
    }

    #[test]
    fn private_traversing_and_odd_topics_are_refused() {
        let long = format!("/pool/{}", "a".repeat(MAX_TOPIC_BYTES));
        for topic in [
            "",
            "/admin/stats",
            "/ws",
            "/user/4Addr",
            "/configX",
            "pool/stats",
            "/pool/../admin/stats",
            "/pool/%2E%2e/admin",
            "/pool/./stats",
            "/pool//stats",
            "/pool/stats%2f..%2fadmin",
            "/pool/stats#x",
            "/pool/st ats",
            "/pool/stätš",
            "/pool/\u{202e}stats",
            "/pool\\stats",
            long.as_str(),
        ] {
            assert!(check_topic(topic).is_err(), "{topic:?} was accepted");
        }
    }

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_command(r#"{"op":"subscribe","topic":"/pool/stats"}"#),
            Ok(Command::Subscribe("/pool/stats".into()))
        );
        assert_eq!(
            parse_command(r#"{"op":"unsubscribe","topic":"/x"}"#),
            Ok(Command::Unsubscribe("/x".into()))
        );
        assert_eq!(parse_command(r#"{"op":"ping"}"#), Ok(Command::Ping));
        for bad in [
            "",
            "null",
            "[]",
            "{",
            r#"{"op":"SUBSCRIBE","topic":"/pool/stats"}"#,
            r#"{"op":"subscribe"}"#,
            r#"{"op":"ping","topic":"/pool/stats"}"#,
            r#"{"op":"drop table"}"#,
            r#"{"op":"subscribe","topic":"/pool/stats","extra":1}"#,
            r#"{"op":"subscribe","topic":7}"#,
        ] {
            assert!(parse_command(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
