//! The stats cache layout: the one contract between the worker role, which writes the LMDB
//! `stats` database, and the api role, which reads it.
//!
//! Owns the keys ([`StatsKey`]), the JSON shapes (modelled on nodejs-pool's cache keys, field
//! names verbatim so its routes can be served from them), the binary chart chunks
//! ([`Chunk`]), a [`StatsBatch`] builder the worker fills and hands to
//! `ShareWriter::put_stats` (and, for its deletions, `ShareWriter::delete_stats`), and the
//! `read_*` functions the api calls on a [`Snapshot`]. Does no I/O of its own and knows no
//! settings: the chart layout the worker used is stored beside the charts.
//!
//! Keys never contain a payout key or a worker name: per-miner and per-worker values are keyed
//! by the interned [`MinerId`] / [`WorkerId`] (`miner/12`, `worker/34`, `hist/worker/34/m/5`),
//! and the readers resolve an address and worker name through the store's interning tables.
//! So any address, payment id or worker name (with `.`, `_`, `/`, unicode) maps to exactly one
//! key, and the key grammar is parsed back by [`StatsKey::parse`].
//!
//! Chart histories are kept in chunks: one chunk per series per hour of one-minute points and
//! per day of hourly points. Chunks live in a ring of slots (`hour mod minute slots`, `day mod
//! day slots`), so a new chunk overwrites the one that aged out and nothing needs deleting
//! while a series lives; each chunk carries its period, and readers skip stale slots.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{PoolType, UnixMillis};
use crate::store::lmdb::{MinerId, Snapshot, StoreError, WorkerId};

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

/// What can go wrong reading the stats cache.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stats value `{key}` is not valid JSON of its shape: {source}")]
    Json {
        key: String,
        source: serde_json::Error,
    },
    #[error("chart chunk `{key}` is malformed: {detail}")]
    Chunk { key: String, detail: &'static str },
}

/// The pool as a whole (`global`) or one payout mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolScope {
    Global,
    Mode(PoolType),
}

impl PoolScope {
    pub const ALL: [PoolScope; 4] = [
        PoolScope::Global,
        PoolScope::Mode(PoolType::Pplns),
        PoolScope::Mode(PoolType::Pps),
        PoolScope::Mode(PoolType::Solo),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PoolScope::Global => "global",
            PoolScope::Mode(m) => m.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<PoolScope> {
        match s {
            "global" => Some(PoolScope::Global),
            other => other.parse().ok().map(PoolScope::Mode),
        }
    }
}

/// What a pool-level chart counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Hashrate, H/s (`hs`).
    Hashrate,
    /// Miners with a share in the hashrate window (`cn`).
    Miners,
}

/// One chart series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Series {
    Pool(PoolScope, Metric),
    Miner(MinerId),
    Worker(WorkerId),
}

/// Chart point spacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    /// One point a minute; a chunk holds one hour.
    Minute,
    /// One point an hour; a chunk holds one day.
    Hour,
}

impl Resolution {
    /// Milliseconds between two points.
    pub fn step_ms(self) -> u64 {
        match self {
            Resolution::Minute => MINUTE_MS,
            Resolution::Hour => HOUR_MS,
        }
    }
    /// Milliseconds one chunk covers.
    pub fn chunk_ms(self) -> u64 {
        match self {
            Resolution::Minute => HOUR_MS,
            Resolution::Hour => DAY_MS,
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Resolution::Minute => "m",
            Resolution::Hour => "h",
        }
    }
}

/// How many chart points the worker keeps; stored under [`StatsKey::Layout`] so readers need
/// no settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryLayout {
    /// One-minute points kept (`general.statsBufferLength`).
    pub minute_points: u32,
    /// Days of hourly points kept (`worker.historyDays`).
    pub history_days: u32,
}

impl HistoryLayout {
    /// Chunk slots per series at `resolution`: enough for the span plus the chunk being filled.
    pub fn slots(self, resolution: Resolution) -> u32 {
        match resolution {
            Resolution::Minute => self.minute_points.div_ceil(60).max(1) + 1,
            Resolution::Hour => self.history_days.max(1) + 1,
        }
    }
    /// How far back points of `resolution` are kept, in milliseconds.
    pub fn span_ms(self, resolution: Resolution) -> u64 {
        match resolution {
            Resolution::Minute => u64::from(self.minute_points) * MINUTE_MS,
            Resolution::Hour => u64::from(self.history_days) * DAY_MS,
        }
    }
    /// The slot of the chunk with period `period`.
    pub fn slot(self, resolution: Resolution, period: u64) -> u32 {
        // The remainder is below a u32 slot count.
        (period % u64::from(self.slots(resolution))) as u32
    }
}

/// Every key of the stats database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatsKey {
    /// `pool/<global|pplns|pps|solo>` → [`PoolStats`].
    Pool(PoolScope),
    /// `network` → [`NetworkStats`].
    Network,
    /// `wallet` → [`WalletStats`].
    Wallet,
    /// `servers` → [`PoolServers`].
    Servers,
    /// `ports` → [`PoolPorts`].
    Ports,
    /// `miner/<id>` → [`EntityStats`].
    Miner(MinerId),
    /// `worker/<id>` → [`EntityStats`].
    Worker(WorkerId),
    /// `identifiers/<miner id>` → `["rig1", ...]`: workers with a share in the identifier window.
    Identifiers(MinerId),
    /// `history_layout` → [`HistoryLayout`].
    Layout,
    /// `hist/<series>/<m|h>/<slot>` → [`Chunk`], series `pool/<scope>/<hs|cn>`, `miner/<id>`
    /// or `worker/<id>`.
    Chunk(Series, Resolution, u32),
}

impl fmt::Display for StatsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsKey::Pool(scope) => write!(f, "pool/{}", scope.as_str()),
            StatsKey::Network => f.write_str("network"),
            StatsKey::Wallet => f.write_str("wallet"),
            StatsKey::Servers => f.write_str("servers"),
            StatsKey::Ports => f.write_str("ports"),
            StatsKey::Miner(id) => write!(f, "miner/{}", id.0),
            StatsKey::Worker(id) => write!(f, "worker/{}", id.0),
            StatsKey::Identifiers(id) => write!(f, "identifiers/{}", id.0),
            StatsKey::Layout => f.write_str("history_layout"),
            StatsKey::Chunk(series, res, slot) => {
                f.write_str("hist/")?;
                match series {
                    Series::Pool(scope, Metric::Hashrate) => {
                        write!(f, "pool/{}/hs", scope.as_str())?
                    }
                    Series::Pool(scope, Metric::Miners) => write!(f, "pool/{}/cn", scope.as_str())?,
                    Series::Miner(id) => write!(f, "miner/{}", id.0)?,
                    Series::Worker(id) => write!(f, "worker/{}", id.0)?,
                }
                write!(f, "/{}/{}", res.tag(), slot)
            }
        }
    }
}

fn parse_id(s: &str) -> Option<u32> {
    // Canonical decimal only: no sign, no leading zero, so each id has one spelling.
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl StatsKey {
    /// The key as stored.
    pub fn encode(&self) -> String {
        self.to_string()
    }

    /// Parses a stored key; `parse(k.encode()) == Some(k)` for every key, and nothing else
    /// parses, so two different keys never share a spelling.
    pub fn parse(s: &str) -> Option<StatsKey> {
        let parts: Vec<&str> = s.split('/').collect();
        Some(match parts.as_slice() {
            ["pool", scope] => StatsKey::Pool(PoolScope::parse(scope)?),
            ["network"] => StatsKey::Network,
            ["wallet"] => StatsKey::Wallet,
            ["servers"] => StatsKey::Servers,
            ["ports"] => StatsKey::Ports,
            ["miner", id] => StatsKey::Miner(MinerId(parse_id(id)?)),
            ["worker", id] => StatsKey::Worker(WorkerId(parse_id(id)?)),
            ["identifiers", id] => StatsKey::Identifiers(MinerId(parse_id(id)?)),
            ["history_layout"] => StatsKey::Layout,
            ["hist", rest @ ..] => {
                let (series, res, slot) = match rest {
                    ["pool", scope, metric, res, slot] => {
                        let metric = match *metric {
                            "hs" => Metric::Hashrate,
                            "cn" => Metric::Miners,
                            _ => return None,
                        };
                        (Series::Pool(PoolScope::parse(scope)?, metric), res, slot)
                    }
                    ["miner", id, res, slot] => (Series::Miner(MinerId(parse_id(id)?)), res, slot),
                    ["worker", id, res, slot] => {
                        (Series::Worker(WorkerId(parse_id(id)?)), res, slot)
                    }
                    _ => return None,
                };
                let res = match *res {
                    "m" => Resolution::Minute,
                    "h" => Resolution::Hour,
                    _ => return None,
                };
                StatsKey::Chunk(series, res, parse_id(slot)?)
            }
            _ => return None,
        })
    }
}

/// `pool/<scope>`: nodejs-pool's `pool_stats_<type>`, plus the worker count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    /// H/s over the hashrate window.
    pub hash_rate: u64,
    /// Miners with a share in the window.
    pub miners: u64,
    /// Workers with a share in the window.
    pub workers: u64,
    pub total_hashes: u64,
    /// Hashes since the last block found in this scope.
    pub round_hashes: u64,
    /// `round_hashes` in basis points of the network difficulty (10,000 = 100 %: a block's
    /// expected work; above it the round is unlucky).
    pub effort: u64,
    /// Unix seconds.
    pub last_block_found_time: u64,
    /// Height.
    pub last_block_found: u64,
    pub total_blocks_found: u64,
    pub total_miners_paid: u64,
    pub total_payments: u64,
}

/// `network`: nodejs-pool's `networkBlockInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub difficulty: u128,
    /// Hash of the chain's top block (hex).
    pub hash: String,
    pub height: u64,
    /// Reward of the top block, atomic units.
    pub value: u64,
    /// Timestamp of the top block, Unix seconds.
    pub ts: u64,
}

/// `wallet`: nodejs-pool's `walletStateInfo` (atomic units).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletStats {
    pub balance: u64,
    pub unlocked: u64,
    /// When it was read, Unix milliseconds.
    pub ts: u64,
    pub height: u64,
}

/// One live pool host (nodejs-pool's `poolServers` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolServer {
    pub ip: String,
    #[serde(rename = "blockID")]
    pub block_id: u64,
    /// Unix seconds.
    #[serde(rename = "blockIDTime")]
    pub block_id_time: u64,
    pub hostname: String,
}

/// `servers`: live pool hosts by `pool_id`.
pub type PoolServers = BTreeMap<u32, PoolServer>;

/// One advertised port (nodejs-pool's `poolPorts` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolPort {
    pub host: PoolServer,
    pub port: u16,
    pub pool_type: PoolType,
    pub difficulty: u64,
    pub miners: u64,
    pub description: String,
    /// The port speaks TLS (`port_config.ssl`); absent in values written before it was kept.
    #[serde(default)]
    pub tls: bool,
}

/// `ports`: nodejs-pool's `poolPorts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolPorts {
    pub global: Vec<PoolPort>,
    pub pplns: Vec<PoolPort>,
    pub pps: Vec<PoolPort>,
    pub solo: Vec<PoolPort>,
}

/// `miner/<id>` and `worker/<id>`: one miner's or worker's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityStats {
    /// H/s over the hashrate window.
    pub hash: u64,
    /// Last share, Unix milliseconds.
    pub last_hash: u64,
    pub total_hashes: u64,
    pub valid_shares: u64,
    pub invalid_shares: u64,
}

/// A chart point as the api serves it (`ts` in Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashPoint {
    pub ts: u64,
    pub hs: u64,
}

/// A miner-count chart point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountPoint {
    pub ts: u64,
    pub cn: u64,
}

/// One chunk of chart points: the minute points of one hour, or the hourly points of one day.
///
/// Bytes: `1` (version), resolution (`0` minute, `1` hour), period (LEB128: hours or days since
/// the epoch), then per point its offset in the chunk (one byte, ascending) and its value
/// (LEB128). A 60-point chunk of kH/s values is about 200 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub resolution: Resolution,
    /// Hours (minute chunks) or days (hour chunks) since the epoch.
    pub period: u64,
    pub points: Vec<(u8, u64)>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

impl Chunk {
    pub fn new(resolution: Resolution, period: u64) -> Chunk {
        Chunk {
            resolution,
            period,
            points: Vec::new(),
        }
    }

    /// The chunk period containing `at`.
    pub fn period_of(resolution: Resolution, at: UnixMillis) -> u64 {
        at.0 / resolution.chunk_ms()
    }

    /// The time of a point.
    pub fn ts(&self, offset: u8) -> UnixMillis {
        UnixMillis(
            self.period * self.resolution.chunk_ms()
                + u64::from(offset) * self.resolution.step_ms(),
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.points.len() * 4);
        out.push(1);
        out.push(match self.resolution {
            Resolution::Minute => 0,
            Resolution::Hour => 1,
        });
        put_varint(&mut out, self.period);
        for &(offset, value) in &self.points {
            out.push(offset);
            put_varint(&mut out, value);
        }
        out
    }

    pub fn decode(mut bytes: &[u8]) -> Result<Chunk, &'static str> {
        let [1, res, rest @ ..] = bytes else {
            return Err("unknown version");
        };
        let resolution = match res {
            0 => Resolution::Minute,
            1 => Resolution::Hour,
            _ => return Err("unknown resolution"),
        };
        bytes = rest;
        let period = get_varint(&mut bytes).ok_or("bad period")?;
        let per_chunk = resolution.chunk_ms() / resolution.step_ms();
        let mut points = Vec::new();
        while let Some((&offset, rest)) = bytes.split_first() {
            bytes = rest;
            if u64::from(offset) >= per_chunk || points.last().is_some_and(|&(o, _)| o >= offset) {
                return Err("offset out of order or range");
            }
            points.push((offset, get_varint(&mut bytes).ok_or("bad value")?));
        }
        Ok(Chunk {
            resolution,
            period,
            points,
        })
    }
}

/// A chunk being filled, kept encoded (about 4 bytes a point in memory): points are appended
/// in time order and the bytes are what [`Chunk::encode`] would give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkBuilder {
    resolution: Resolution,
    period: u64,
    points: usize,
    last_offset: Option<u8>,
    bytes: Vec<u8>,
}

impl ChunkBuilder {
    pub fn new(resolution: Resolution, period: u64) -> ChunkBuilder {
        let bytes = Chunk::new(resolution, period).encode();
        ChunkBuilder {
            resolution,
            period,
            points: 0,
            last_offset: None,
            bytes,
        }
    }

    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    pub fn period(&self) -> u64 {
        self.period
    }

    /// Points so far.
    pub fn len(&self) -> usize {
        self.points
    }

    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// Appends a point; `false` (and nothing appended) when `offset` is not after the last
    /// point's or not inside the chunk.
    pub fn push(&mut self, offset: u8, value: u64) -> bool {
        let per_chunk = self.resolution.chunk_ms() / self.resolution.step_ms();
        if u64::from(offset) >= per_chunk || self.last_offset.is_some_and(|o| o >= offset) {
            return false;
        }
        self.bytes.push(offset);
        put_varint(&mut self.bytes, value);
        self.last_offset = Some(offset);
        self.points += 1;
        true
    }

    /// The encoded chunk.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The writes of one worker cycle: values to put and keys to delete (disjoint; the later of
/// a put and a delete of the same key wins).
#[derive(Debug, Default)]
pub struct StatsBatch {
    puts: HashMap<String, Vec<u8>>,
    deletes: HashSet<String>,
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // These shapes hold only integers, strings, sequences and maps with string or integer
    // keys: serializing them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

impl StatsBatch {
    pub fn new() -> StatsBatch {
        StatsBatch::default()
    }

    pub fn put_raw(&mut self, key: StatsKey, value: Vec<u8>) {
        let key = key.encode();
        self.deletes.remove(&key);
        self.puts.insert(key, value);
    }

    pub fn delete(&mut self, key: StatsKey) {
        let key = key.encode();
        self.puts.remove(&key);
        self.deletes.insert(key);
    }

    pub fn put_pool(&mut self, scope: PoolScope, stats: &PoolStats) {
        self.put_raw(StatsKey::Pool(scope), json(stats));
    }
    pub fn put_network(&mut self, stats: &NetworkStats) {
        self.put_raw(StatsKey::Network, json(stats));
    }
    pub fn put_wallet(&mut self, stats: &WalletStats) {
        self.put_raw(StatsKey::Wallet, json(stats));
    }
    pub fn put_servers(&mut self, servers: &PoolServers) {
        self.put_raw(StatsKey::Servers, json(servers));
    }
    pub fn put_ports(&mut self, ports: &PoolPorts) {
        self.put_raw(StatsKey::Ports, json(ports));
    }
    pub fn put_miner(&mut self, id: MinerId, stats: &EntityStats) {
        self.put_raw(StatsKey::Miner(id), json(stats));
    }
    pub fn put_worker(&mut self, id: WorkerId, stats: &EntityStats) {
        self.put_raw(StatsKey::Worker(id), json(stats));
    }
    /// A miner's active worker names.
    pub fn put_identifiers(&mut self, miner: MinerId, names: &[&str]) {
        self.put_raw(StatsKey::Identifiers(miner), json(&names));
    }
    pub fn put_layout(&mut self, layout: HistoryLayout) {
        self.put_raw(StatsKey::Layout, json(&layout));
    }
    pub fn put_chunk(&mut self, series: Series, layout: HistoryLayout, chunk: &ChunkBuilder) {
        let slot = layout.slot(chunk.resolution, chunk.period);
        self.put_raw(
            StatsKey::Chunk(series, chunk.resolution, slot),
            chunk.bytes.clone(),
        );
    }

    /// Deletes every chart chunk of a series.
    pub fn delete_series(&mut self, series: Series, layout: HistoryLayout) {
        for res in [Resolution::Minute, Resolution::Hour] {
            for slot in 0..layout.slots(res) {
                self.delete(StatsKey::Chunk(series, res, slot));
            }
        }
    }

    /// Deletes everything kept for a forgotten worker.
    pub fn forget_worker(&mut self, id: WorkerId, layout: HistoryLayout) {
        self.delete(StatsKey::Worker(id));
        self.delete_series(Series::Worker(id), layout);
    }

    /// Deletes everything kept for a forgotten miner.
    pub fn forget_miner(&mut self, id: MinerId, layout: HistoryLayout) {
        self.delete(StatsKey::Miner(id));
        self.delete(StatsKey::Identifiers(id));
        self.delete_series(Series::Miner(id), layout);
    }

    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }

    /// Values to put and keys to delete.
    pub fn len(&self) -> (usize, usize) {
        (self.puts.len(), self.deletes.len())
    }

    /// Bytes of keys and values to put.
    pub fn put_bytes(&self) -> usize {
        self.puts.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// `(puts for ShareWriter::put_stats, keys for ShareWriter::delete_stats)`.
    pub fn into_parts(self) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
        (
            self.puts.into_iter().collect(),
            self.deletes.into_iter().collect(),
        )
    }
}

fn read_json<T: DeserializeOwned>(
    snap: &Snapshot<'_>,
    key: StatsKey,
) -> Result<Option<T>, StatsError> {
    let key = key.encode();
    match snap.stats_get(&key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|source| StatsError::Json { key, source }),
    }
}

/// `pool/<scope>`.
pub fn read_pool(snap: &Snapshot<'_>, scope: PoolScope) -> Result<Option<PoolStats>, StatsError> {
    read_json(snap, StatsKey::Pool(scope))
}

pub fn read_network(snap: &Snapshot<'_>) -> Result<Option<NetworkStats>, StatsError> {
    read_json(snap, StatsKey::Network)
}

pub fn read_wallet(snap: &Snapshot<'_>) -> Result<Option<WalletStats>, StatsError> {
    read_json(snap, StatsKey::Wallet)
}

pub fn read_servers(snap: &Snapshot<'_>) -> Result<PoolServers, StatsError> {
    Ok(read_json(snap, StatsKey::Servers)?.unwrap_or_default())
}

pub fn read_ports(snap: &Snapshot<'_>) -> Result<PoolPorts, StatsError> {
    Ok(read_json(snap, StatsKey::Ports)?.unwrap_or_default())
}

/// A miner by payout key (`address` or `address.paymentid`); `None` if unknown or forgotten.
pub fn read_miner(snap: &Snapshot<'_>, miner: &str) -> Result<Option<EntityStats>, StatsError> {
    match snap.miner_id(miner)? {
        None => Ok(None),
        Some(id) => read_json(snap, StatsKey::Miner(id)),
    }
}

/// One worker of a miner by name.
pub fn read_worker(
    snap: &Snapshot<'_>,
    miner: &str,
    worker: &str,
) -> Result<Option<EntityStats>, StatsError> {
    let Some(id) = snap.miner_id(miner)? else {
        return Ok(None);
    };
    match snap.worker_id(id, worker)? {
        None => Ok(None),
        Some(w) => read_json(snap, StatsKey::Worker(w)),
    }
}

/// Every worker of a miner that has stats (not forgotten), by name.
pub fn read_workers(
    snap: &Snapshot<'_>,
    miner: &str,
) -> Result<Vec<(String, EntityStats)>, StatsError> {
    let Some(id) = snap.miner_id(miner)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (wid, name) in snap.workers_of(id)? {
        if let Some(stats) = read_json(snap, StatsKey::Worker(wid))? {
            out.push((name, stats));
        }
    }
    Ok(out)
}

/// A miner's workers with a share in the identifier window (nodejs-pool's `identifiers`).
pub fn read_identifiers(snap: &Snapshot<'_>, miner: &str) -> Result<Vec<String>, StatsError> {
    match snap.miner_id(miner)? {
        None => Ok(Vec::new()),
        Some(id) => Ok(read_json(snap, StatsKey::Identifiers(id))?.unwrap_or_default()),
    }
}

/// The chart layout the worker writes with, if it wrote any.
pub fn read_layout(snap: &Snapshot<'_>) -> Result<Option<HistoryLayout>, StatsError> {
    read_json(snap, StatsKey::Layout)
}

/// The points of one series at `resolution` within the kept span before `now`, newest first
/// (as nodejs-pool's `hashHistory`), as `(time, value)`.
pub fn read_series(
    snap: &Snapshot<'_>,
    series: Series,
    resolution: Resolution,
    now: UnixMillis,
) -> Result<Vec<(UnixMillis, u64)>, StatsError> {
    let Some(layout) = read_layout(snap)? else {
        return Ok(Vec::new());
    };
    let since = now.0.saturating_sub(layout.span_ms(resolution));
    let mut out = Vec::new();
    for slot in 0..layout.slots(resolution) {
        let key = StatsKey::Chunk(series, resolution, slot).encode();
        let Some(bytes) = snap.stats_get(&key)? else {
            continue;
        };
        let chunk = Chunk::decode(bytes).map_err(|detail| StatsError::Chunk {
            key: key.clone(),
            detail,
        })?;
        if chunk.resolution != resolution {
            return Err(StatsError::Chunk {
                key,
                detail: "resolution does not match its key",
            });
        }
        out.extend(
            chunk
                .points
                .iter()
                .map(|&(offset, v)| (chunk.ts(offset), v))
                .filter(|(ts, _)| ts.0 > since && ts.0 <= now.0),
        );
    }
    out.sort_unstable_by_key(|p| std::cmp::Reverse(p.0));
    // After a layout change one period may sit in two slots for a while.
    out.dedup_by_key(|p| p.0);
    Ok(out)
}

/// The stored chunks of every series (pool, modes, each miner and worker with stats) for the
/// hour and the day that contain `now`: what the worker resumes its charts from at start.
pub fn read_current_chunks(
    snap: &Snapshot<'_>,
    now: UnixMillis,
) -> Result<Vec<(Series, Vec<Chunk>)>, StatsError> {
    let Some(layout) = read_layout(snap)? else {
        return Ok(Vec::new());
    };
    let mut series: Vec<Series> = PoolScope::ALL
        .into_iter()
        .flat_map(|scope| {
            [Metric::Hashrate, Metric::Miners]
                .into_iter()
                .map(move |metric| Series::Pool(scope, metric))
        })
        .collect();
    for prefix in ["miner/", "worker/"] {
        for (key, _) in snap.stats_prefix(prefix)? {
            match StatsKey::parse(&key) {
                Some(StatsKey::Miner(id)) => series.push(Series::Miner(id)),
                Some(StatsKey::Worker(id)) => series.push(Series::Worker(id)),
                _ => {}
            }
        }
    }
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let mut chunks = Vec::new();
        for resolution in [Resolution::Minute, Resolution::Hour] {
            let period = Chunk::period_of(resolution, now);
            let key = StatsKey::Chunk(s, resolution, layout.slot(resolution, period)).encode();
            if let Some(bytes) = snap.stats_get(&key)? {
                let chunk = Chunk::decode(bytes).map_err(|detail| StatsError::Chunk {
                    key: key.clone(),
                    detail,
                })?;
                if chunk.resolution == resolution && chunk.period == period {
                    chunks.push(chunk);
                }
            }
        }
        if !chunks.is_empty() {
            out.push((s, chunks));
        }
    }
    Ok(out)
}

fn hash_points(points: Vec<(UnixMillis, u64)>) -> Vec<HashPoint> {
    points
        .into_iter()
        .map(|(ts, hs)| HashPoint { ts: ts.0, hs })
        .collect()
}

/// The pool's or a mode's hashrate chart (`[{ts, hs}]`, newest first).
pub fn read_pool_hashrate_history(
    snap: &Snapshot<'_>,
    scope: PoolScope,
    resolution: Resolution,
    now: UnixMillis,
) -> Result<Vec<HashPoint>, StatsError> {
    read_series(snap, Series::Pool(scope, Metric::Hashrate), resolution, now).map(hash_points)
}

/// The pool's or a mode's miner-count chart (`[{ts, cn}]`, newest first).
pub fn read_pool_miners_history(
    snap: &Snapshot<'_>,
    scope: PoolScope,
    resolution: Resolution,
    now: UnixMillis,
) -> Result<Vec<CountPoint>, StatsError> {
    let points = read_series(snap, Series::Pool(scope, Metric::Miners), resolution, now)?;
    Ok(points
        .into_iter()
        .map(|(ts, cn)| CountPoint { ts: ts.0, cn })
        .collect())
}

/// A miner's hashrate chart by payout key (empty if unknown).
pub fn read_miner_history(
    snap: &Snapshot<'_>,
    miner: &str,
    resolution: Resolution,
    now: UnixMillis,
) -> Result<Vec<HashPoint>, StatsError> {
    match snap.miner_id(miner)? {
        None => Ok(Vec::new()),
        Some(id) => read_series(snap, Series::Miner(id), resolution, now).map(hash_points),
    }
}

/// A worker's hashrate chart by payout key and worker name (empty if unknown).
pub fn read_worker_history(
    snap: &Snapshot<'_>,
    miner: &str,
    worker: &str,
    resolution: Resolution,
    now: UnixMillis,
) -> Result<Vec<HashPoint>, StatsError> {
    let Some(id) = snap.miner_id(miner)? else {
        return Ok(Vec::new());
    };
    match snap.worker_id(id, worker)? {
        None => Ok(Vec::new()),
        Some(w) => read_series(snap, Series::Worker(w), resolution, now).map(hash_points),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_key_shape() -> Vec<StatsKey> {
        let mut keys = vec![
            StatsKey::Network,
            StatsKey::Wallet,
            StatsKey::Servers,
            StatsKey::Ports,
            StatsKey::Layout,
        ];
        for scope in PoolScope::ALL {
            keys.push(StatsKey::Pool(scope));
        }
        for id in [0, 1, 9, 10, 12, 123, u32::MAX] {
            keys.push(StatsKey::Miner(MinerId(id)));
            keys.push(StatsKey::Worker(WorkerId(id)));
            keys.push(StatsKey::Identifiers(MinerId(id)));
            let mut series = vec![Series::Miner(MinerId(id)), Series::Worker(WorkerId(id))];
            for scope in PoolScope::ALL {
                series.push(Series::Pool(scope, Metric::Hashrate));
                series.push(Series::Pool(scope, Metric::Miners));
            }
            for s in series {
                for res in [Resolution::Minute, Resolution::Hour] {
                    keys.push(StatsKey::Chunk(s, res, id % 40));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    #[test]
    fn every_key_parses_back_to_itself_so_no_two_keys_share_a_spelling() {
        let keys = every_key_shape();
        let mut spelled = HashSet::new();
        for key in &keys {
            let s = key.encode();
            assert_eq!(StatsKey::parse(&s), Some(*key), "{s}");
            assert!(spelled.insert(s));
        }
    }

    #[test]
    fn non_canonical_keys_do_not_parse() {
        for s in [
            "",
            "miner/",
            "miner/01",
            "miner/+1",
            "miner/1/",
            "worker/a.b",
            "pool/prop",
            "hist/worker/1/m",
            "hist/worker/1/x/0",
            "hist/pool/global/xx/m/0",
            "miner/4294967296",
        ] {
            assert_eq!(StatsKey::parse(s), None, "{s}");
        }
    }

    #[test]
    fn chunks_round_trip_and_reject_garbage() {
        let chunk = Chunk {
            resolution: Resolution::Minute,
            period: 493_000,
            points: vec![(0, 0), (1, 127), (2, 128), (59, u64::MAX)],
        };
        assert_eq!(Chunk::decode(&chunk.encode()), Ok(chunk.clone()));
        assert_eq!(chunk.ts(2), UnixMillis(493_000 * HOUR_MS + 2 * MINUTE_MS));
        let mut bad = chunk.encode();
        bad.truncate(bad.len() - 1);
        assert!(Chunk::decode(&bad).is_err());
        let out_of_order = Chunk {
            points: vec![(3, 1), (2, 1)],
            ..chunk.clone()
        };
        assert!(Chunk::decode(&out_of_order.encode()).is_err());
        let too_far = Chunk {
            points: vec![(60, 1)],
            ..chunk
        };
        assert!(Chunk::decode(&too_far.encode()).is_err());
    }

    #[test]
    fn pool_stats_use_nodejs_pool_field_names() {
        let v = serde_json::to_value(PoolStats {
            hash_rate: 64,
            ..PoolStats::default()
        })
        .unwrap_or_default();
        for field in [
            "hashRate",
            "miners",
            "workers",
            "totalHashes",
            "roundHashes",
            "lastBlockFoundTime",
            "lastBlockFound",
            "totalBlocksFound",
            "totalMinersPaid",
            "totalPayments",
        ] {
            assert!(v.get(field).is_some(), "{field}");
        }
        let server = serde_json::to_value(PoolServer::default()).unwrap_or_default();
        assert!(server.get("blockID").is_some() && server.get("blockIDTime").is_some());
    }

    #[test]
    fn a_chunk_builder_encodes_as_the_chunk_does() {
        let mut b = ChunkBuilder::new(Resolution::Hour, 20_000);
        assert!(b.push(0, 5));
        assert!(b.push(7, 300));
        assert!(!b.push(7, 1));
        assert!(!b.push(24, 1));
        let chunk = Chunk {
            resolution: Resolution::Hour,
            period: 20_000,
            points: vec![(0, 5), (7, 300)],
        };
        assert_eq!(b.bytes(), chunk.encode().as_slice());
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn a_later_delete_wins_over_an_earlier_put_and_back() {
        let mut batch = StatsBatch::new();
        batch.put_worker(WorkerId(1), &EntityStats::default());
        batch.delete(StatsKey::Worker(WorkerId(1)));
        assert_eq!(batch.len(), (0, 1));
        batch.put_worker(WorkerId(1), &EntityStats::default());
        assert_eq!(batch.len(), (1, 0));
    }
}
