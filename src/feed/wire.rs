//! The feed's message body: one JSON object per NATS message, written by a pool host and read
//! by the ingest. `{"v":1,"instance":I,"pool_id":P,"items":[...]}`, each item tagged by `t`
//! (`share`, `invalid`, `block`, `update`) with short field names (a message carries hundreds
//! of shares).
//!
//! Owns the encoding and every check of a message that arrives from the network: unknown
//! fields, versions, kinds, out-of-range heights, empty or oversized payout keys and workers,
//! bad hashes and blobs are [`DecodeError`]s that say what is wrong. It does not know message
//! ids (they travel in the `Nats-Msg-Id` header) and does no I/O.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::{Atomic, Difficulty, Hash32, Height, PoolType, UnixMillis};
use crate::store::lmdb::{
    BlockKey, BlockStatus, BlockUpdate, FeedItem, FoundBlock, InvalidReason, InvalidShare,
    MAX_MINER_BYTES, MAX_WORKER_BYTES, NewShare,
};

/// The body format this build writes and reads.
pub const VERSION: u8 = 1;

/// Largest block blob accepted, in bytes (monerod's own limit is far lower in practice).
const MAX_BLOB_BYTES: usize = 4 << 20;
/// Longest block status reason kept.
const MAX_REASON_BYTES: usize = 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    v: u8,
    instance: u32,
    pool_id: u32,
    #[serde(borrow)]
    items: Vec<Item<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase", deny_unknown_fields)]
enum Item<'a> {
    Share {
        /// Template height.
        h: u64,
        at: u64,
        #[serde(borrow)]
        m: Cow<'a, str>,
        #[serde(borrow)]
        w: Cow<'a, str>,
        d: u64,
        jd: u64,
        pt: PoolType,
        #[serde(default, skip_serializing_if = "is_false")]
        tr: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        fb: bool,
    },
    Invalid {
        #[serde(borrow)]
        m: Cow<'a, str>,
        #[serde(borrow)]
        w: Cow<'a, str>,
        r: u8,
        at: u64,
    },
    Block {
        h: u64,
        hash: Hash32,
        /// Network difficulty, decimal (a u128: JSON numbers of tagged items cannot hold it).
        nd: String,
        reward: Atomic,
        pt: PoolType,
        #[serde(borrow)]
        m: Cow<'a, str>,
        #[serde(borrow)]
        w: Cow<'a, str>,
        at: u64,
        #[serde(default)]
        saf: Option<String>,
        st: BlockStatus,
        #[serde(borrow)]
        blob: Cow<'a, str>,
    },
    Update {
        h: u64,
        hash: Hash32,
        st: BlockStatus,
        #[serde(borrow)]
        reason: Cow<'a, str>,
        #[serde(default)]
        reward: Option<Atomic>,
        at: u64,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Why a message body was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a feed message: {0}")]
    Json(String),
    #[error("feed format version {0} is not one this rxpool reads ({VERSION})")]
    Version(u8),
    #[error("the message says instance {body} but came on the subject of instance {subject}")]
    WrongInstance { body: u32, subject: String },
    #[error("item {index}: {problem}")]
    Item { index: usize, problem: &'static str },
    #[error("the message has no items")]
    Empty,
}

/// A decoded message: the sending pool host and what it asks the store to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub instance: u32,
    pub items: Vec<FeedItem>,
}

/// Encodes `items` of the pool host `instance` (its `pool_id` goes into the counters).
pub fn encode(instance: u32, pool_id: u32, items: &[FeedItem]) -> Vec<u8> {
    let envelope = Envelope {
        v: VERSION,
        instance,
        pool_id,
        items: items.iter().map(to_wire).collect(),
    };
    // Serialising plain structs and strings into a Vec cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

fn to_wire(item: &FeedItem) -> Item<'_> {
    match item {
        FeedItem::Share(s) => Item::Share {
            h: s.height.0,
            at: s.timestamp.0,
            m: Cow::Borrowed(&s.miner),
            w: Cow::Borrowed(&s.worker),
            d: s.difficulty,
            jd: s.job_difficulty,
            pt: s.pool_type,
            tr: s.trusted,
            fb: s.found_block,
        },
        FeedItem::Invalid(s) => Item::Invalid {
            m: Cow::Borrowed(&s.miner),
            w: Cow::Borrowed(&s.worker),
            r: s.reason as u8,
            at: s.timestamp.0,
        },
        FeedItem::Block(b) => Item::Block {
            h: b.height.0,
            hash: b.hash,
            nd: b.network_difficulty.0.to_string(),
            reward: b.reward,
            pt: b.pool_type,
            m: Cow::Borrowed(&b.miner),
            w: Cow::Borrowed(&b.worker),
            at: b.timestamp.0,
            saf: b.shares_at_find.map(|d| d.0.to_string()),
            st: b.status,
            blob: Cow::Owned(hex::encode(&b.blob)),
        },
        FeedItem::Update(key, u) => Item::Update {
            h: key.height.0,
            hash: key.hash,
            st: u.status,
            reason: Cow::Borrowed(&u.reason),
            reward: u.reward,
            at: u.at.0,
        },
    }
}

/// Decodes and checks a body that arrived on the subject of instance `subject_instance` (the
/// subject's last token).
pub fn decode(body: &[u8], subject_instance: &str) -> Result<Decoded, DecodeError> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
    if envelope.v != VERSION {
        return Err(DecodeError::Version(envelope.v));
    }
    if subject_instance != envelope.instance.to_string() {
        return Err(DecodeError::WrongInstance {
            body: envelope.instance,
            subject: subject_instance.chars().take(32).collect(),
        });
    }
    if envelope.items.is_empty() {
        return Err(DecodeError::Empty);
    }
    let host = envelope.pool_id;
    let items = envelope
        .items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            from_wire(item, host).map_err(|problem| DecodeError::Item { index, problem })
        })
        .collect::<Result<_, _>>()?;
    Ok(Decoded {
        instance: envelope.instance,
        items,
    })
}

fn miner(m: Cow<'_, str>) -> Result<Arc<str>, &'static str> {
    if m.is_empty() || m.len() > MAX_MINER_BYTES {
        return Err("payout key is empty or too long");
    }
    Ok(Arc::from(m.as_ref()))
}

fn worker(w: Cow<'_, str>) -> Result<Arc<str>, &'static str> {
    if w.len() > MAX_WORKER_BYTES {
        return Err("worker name is too long");
    }
    Ok(Arc::from(w.as_ref()))
}

fn difficulty(d: &str) -> Result<Difficulty, &'static str> {
    d.parse()
        .map(Difficulty)
        .map_err(|_| "difficulty is not a decimal number")
}

fn height(h: u64) -> Result<Height, &'static str> {
    if u32::try_from(h).is_err() {
        return Err("height does not fit the share store");
    }
    Ok(Height(h))
}

fn from_wire(item: Item<'_>, host: u32) -> Result<FeedItem, &'static str> {
    Ok(match item {
        Item::Share {
            h,
            at,
            m,
            w,
            d,
            jd,
            pt,
            tr,
            fb,
        } => FeedItem::Share(NewShare {
            height: height(h)?,
            timestamp: UnixMillis(at),
            miner: miner(m)?,
            worker: worker(w)?,
            difficulty: d,
            job_difficulty: jd,
            pool_type: pt,
            trusted: tr,
            found_block: fb,
            host,
        }),
        Item::Invalid { m, w, r, at } => FeedItem::Invalid(InvalidShare {
            miner: miner(m)?,
            worker: worker(w)?,
            host,
            reason: InvalidReason::from_u8(r).ok_or("unknown invalid-share reason")?,
            timestamp: UnixMillis(at),
        }),
        Item::Block {
            h,
            hash,
            nd,
            reward,
            pt,
            m,
            w,
            at,
            saf,
            st,
            blob,
        } => {
            if blob.len() > 2 * MAX_BLOB_BYTES {
                return Err("block blob is too large");
            }
            FeedItem::Block(FoundBlock {
                height: Height(h),
                hash,
                network_difficulty: difficulty(&nd)?,
                reward,
                pool_type: pt,
                miner: miner(m)?,
                worker: worker(w)?,
                timestamp: UnixMillis(at),
                shares_at_find: saf.as_deref().map(difficulty).transpose()?,
                status: st,
                blob: hex::decode(blob.as_ref()).map_err(|_| "block blob is not hex")?,
            })
        }
        Item::Update {
            h,
            hash,
            st,
            reason,
            reward,
            at,
        } => {
            if reason.len() > MAX_REASON_BYTES {
                return Err("block status reason is too long");
            }
            FeedItem::Update(
                BlockKey {
                    height: Height(h),
                    hash,
                },
                BlockUpdate {
                    status: st,
                    reason: reason.into_owned(),
                    reward,
                    at: UnixMillis(at),
                },
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn share(n: u64) -> FeedItem {
        FeedItem::Share(NewShare {
            height: Height(100 + n),
            timestamp: UnixMillis(1_700_000_000_000 + n),
            miner: Arc::from("4miner"),
            worker: Arc::from("rig \"1\""),
            difficulty: 1000 + n,
            job_difficulty: 1000,
            pool_type: PoolType::Pplns,
            trusted: n.is_multiple_of(2),
            found_block: false,
            host: 9,
        })
    }

    fn block() -> FoundBlock {
        FoundBlock {
            height: Height(7),
            hash: Hash32([3; 32]),
            network_difficulty: Difficulty(u128::from(u64::MAX) + 5),
            reward: Atomic(600_000_000_000),
            pool_type: PoolType::Solo,
            miner: Arc::from("4finder"),
            worker: Arc::from("w"),
            timestamp: UnixMillis(5),
            shares_at_find: None,
            status: BlockStatus::Candidate,
            blob: vec![1, 2, 255],
        }
    }

    #[test]
    fn every_item_round_trips() {
        let items = vec![
            share(1),
            share(2),
            FeedItem::Invalid(InvalidShare {
                miner: Arc::from("4bad"),
                worker: Arc::from(""),
                host: 9,
                reason: InvalidReason::Stale,
                timestamp: UnixMillis(3),
            }),
            FeedItem::Block(block()),
            FeedItem::Update(
                BlockKey {
                    height: Height(7),
                    hash: Hash32([3; 32]),
                },
                BlockUpdate {
                    status: BlockStatus::Pending,
                    reason: "submitted".into(),
                    reward: None,
                    at: UnixMillis(6),
                },
            ),
        ];
        let body = encode(4, 9, &items);
        assert_eq!(decode(&body, "4").unwrap(), Decoded { instance: 4, items });
    }

    #[test]
    fn hostile_bodies_are_refused_with_a_reason() {
        let good = String::from_utf8(encode(4, 9, &[share(1)])).unwrap();
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "not a feed message"),
            ("{}".into(), "not a feed message"),
            ("[1,2]".into(), "not a feed message"),
            (good.replace("\"v\":1", "\"v\":2"), "version 2"),
            (good.replace("\"t\":\"share\"", "\"t\":\"payout\""), "not a feed message"),
            (good.replace("\"d\":", "\"extra\":1,\"d\":"), "not a feed message"),
            (good.replace("\"h\":101", "\"h\":4294967296"), "height"),
            (good.replace("\"h\":101", "\"h\":-1"), "not a feed message"),
            (good.replace("\"m\":\"4miner\"", "\"m\":\"\""), "payout key"),
            (
                good.replace("\"m\":\"4miner\"", &format!("\"m\":\"{}\"", "x".repeat(300))),
                "payout key",
            ),
            (
                good.replace("\"w\":\"rig \\\"1\\\"\"", &format!("\"w\":\"{}\"", "x".repeat(65))),
                "worker",
            ),
            (
                r#"{"v":1,"instance":4,"pool_id":9,"items":[]}"#.into(),
                "no items",
            ),
            (
                r#"{"v":1,"instance":4,"pool_id":9,"items":[{"t":"invalid","m":"a","w":"b","r":99,"at":1}]}"#.into(),
                "reason",
            ),
        ];
        for (body, expected) in cases {
            let error = decode(body.as_bytes(), "4").unwrap_err().to_string();
            assert!(error.contains(expected), "{body:?}: {error}");
        }
        let error = decode(good.as_bytes(), "5").unwrap_err();
        assert!(matches!(error, DecodeError::WrongInstance { body: 4, .. }));
        let mut bad_blob = FeedItem::Block(block());
        if let FeedItem::Block(b) = &mut bad_blob {
            b.blob = vec![0; 4];
        }
        let body = String::from_utf8(encode(4, 9, &[bad_blob])).unwrap();
        let body = body.replace("\"blob\":\"00000000\"", "\"blob\":\"zz\"");
        let error = decode(body.as_bytes(), "4").unwrap_err().to_string();
        assert!(error.contains("hex"), "{error}");
    }
}
