//! The LMDB store's lifetime counters, round hashes and share log against real LMDB
//! environments in temp dirs: counters equal a recount of a random stream of valid and
//! invalid shares across writer restarts, refused shares of unknown miners intern nothing,
//! rounds restart exactly at a recorded block, the share log hands out each batch once after
//! a cursor and is pruned, and an environment written before these databases existed opens.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rxpool::domain::{Atomic, Difficulty, Hash32, Height, PoolType, UnixMillis};
use rxpool::store::lmdb::{
    BlockInsert, BlockStatus, CounterKey, Counters, FoundBlock, InvalidReason, InvalidShare,
    LogSeq, LoggedShare, NewShare, ShareStore, ShareWriter, StoreOptions, WriterConfig,
};

fn share(
    ts: u64,
    miner: &str,
    worker: &str,
    difficulty: u64,
    mode: PoolType,
    host: u32,
) -> NewShare {
    NewShare {
        height: Height(100 + ts % 7),
        timestamp: UnixMillis(ts),
        miner: Arc::from(miner),
        worker: Arc::from(worker),
        difficulty,
        job_difficulty: difficulty,
        pool_type: mode,
        trusted: false,
        found_block: false,
        host,
    }
}

fn invalid(ts: u64, miner: &str, worker: &str, reason: InvalidReason, host: u32) -> InvalidShare {
    InvalidShare {
        miner: Arc::from(miner),
        worker: Arc::from(worker),
        host,
        reason,
        timestamp: UnixMillis(ts),
    }
}

fn block(hash_byte: u8, mode: PoolType) -> FoundBlock {
    FoundBlock {
        height: Height(200),
        hash: Hash32([hash_byte; 32]),
        network_difficulty: Difficulty(1000),
        reward: Atomic(1),
        pool_type: mode,
        miner: Arc::from("finder"),
        worker: Arc::from("rig"),
        timestamp: UnixMillis(1),
        shares_at_find: None,
        status: BlockStatus::Candidate,
        blob: Vec::new(),
    }
}

fn open(dir: &tempfile::TempDir) -> Arc<ShareStore> {
    ShareStore::open(&StoreOptions::new(dir.path())).expect("open store")
}

fn counters(store: &ShareStore, key: CounterKey) -> Option<Counters> {
    store.read().unwrap().counters(key).unwrap()
}

fn logged(store: &ShareStore, after: Option<LogSeq>) -> Vec<(LogSeq, LoggedShare)> {
    let snap = store.read().unwrap();
    snap.log_since(after).unwrap().map(Result::unwrap).collect()
}

/// What the store should hold, kept by names (ids are the store's business).
#[derive(Default)]
struct Model {
    pool: Counters,
    modes: HashMap<PoolType, Counters>,
    hosts: HashMap<u32, Counters>,
    miners: HashMap<String, Counters>,
    workers: HashMap<(String, String), Counters>,
    /// Every valid share in append order: (miner, worker, timestamp, difficulty, mode, host).
    log: Vec<(String, String, u64, u64, PoolType, u32)>,
}

const MINERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
const WORKERS: [&str; 3] = ["rig1", "rig2", "x"];
const HOSTS: [u32; 3] = [1, 2, 40_000];

impl Model {
    fn valid(&mut self, s: &NewShare) {
        let (d, t) = (s.difficulty, s.timestamp);
        self.pool.count_valid(d, t);
        self.modes.entry(s.pool_type).or_default().count_valid(d, t);
        self.hosts.entry(s.host).or_default().count_valid(d, t);
        self.miners
            .entry(s.miner.to_string())
            .or_default()
            .count_valid(d, t);
        self.workers
            .entry((s.miner.to_string(), s.worker.to_string()))
            .or_default()
            .count_valid(d, t);
        self.log.push((
            s.miner.to_string(),
            s.worker.to_string(),
            t.0,
            d,
            s.pool_type,
            s.host,
        ));
    }

    fn invalid(&mut self, s: &InvalidShare) {
        let (r, t) = (s.reason, s.timestamp);
        self.pool.count_invalid(r, t);
        self.hosts.entry(s.host).or_default().count_invalid(r, t);
        // Counted for a miner or worker only once a valid share interned it.
        if let Some(m) = self.miners.get_mut(&*s.miner) {
            m.count_invalid(r, t);
        }
        if let Some(w) = self
            .workers
            .get_mut(&(s.miner.to_string(), s.worker.to_string()))
        {
            w.count_invalid(r, t);
        }
    }

    fn check(&self, store: &ShareStore) {
        let snap = store.read().unwrap();
        assert_eq!(snap.counters(CounterKey::Pool).unwrap(), Some(self.pool));
        for mode in PoolType::ALL {
            assert_eq!(
                snap.counters(CounterKey::Mode(mode)).unwrap(),
                self.modes.get(&mode).copied(),
                "{mode}"
            );
        }
        let mut hosts: Vec<_> = self.hosts.iter().map(|(h, c)| (*h, *c)).collect();
        hosts.sort_by_key(|(h, _)| *h);
        assert_eq!(snap.host_counters().unwrap(), hosts);
        for miner in MINERS.iter().chain(&["ghost"]) {
            let id = snap.miner_id(miner).unwrap();
            let expected = self.miners.get(*miner).copied();
            assert_eq!(id.is_some(), expected.is_some(), "{miner} interned");
            if let Some(id) = id {
                assert_eq!(
                    snap.counters(CounterKey::Miner(id)).unwrap(),
                    expected,
                    "{miner}"
                );
                for worker in WORKERS.iter().chain(&["ghost-rig"]) {
                    let wid = snap.worker_id(id, worker).unwrap();
                    let expected = self
                        .workers
                        .get(&(miner.to_string(), worker.to_string()))
                        .copied();
                    assert_eq!(wid.is_some(), expected.is_some(), "{miner}.{worker}");
                    if let Some(wid) = wid {
                        assert_eq!(
                            snap.counters(CounterKey::Worker(wid)).unwrap(),
                            expected,
                            "{miner}.{worker}"
                        );
                    }
                }
            }
        }
        let mut last_seq = None;
        let got: Vec<_> = snap
            .log_since(None)
            .unwrap()
            .map(|item| {
                let (seq, s) = item.unwrap();
                assert!(last_seq <= Some(seq), "batches in order");
                last_seq = Some(seq);
                let miner = snap.miner(s.miner).unwrap().unwrap().to_owned();
                let (owner, worker) = snap.worker(s.worker).unwrap().unwrap();
                assert_eq!(owner, s.miner);
                (
                    miner,
                    worker.to_owned(),
                    s.timestamp.0,
                    s.difficulty,
                    s.pool_type.unwrap(),
                    s.host,
                )
            })
            .collect();
        assert_eq!(got, self.log);
        assert_eq!(snap.log_last().unwrap(), last_seq);
    }
}

/// Feeds one random stream segment into `writer` and `model`, flushing at random points.
async fn feed(rng: &mut StdRng, writer: &ShareWriter, model: &mut Model, ts: &mut u64) {
    for _ in 0..rng.gen_range(1..400) {
        *ts += rng.gen_range(0..3);
        let host = HOSTS[rng.gen_range(0..HOSTS.len())];
        let worker = WORKERS[rng.gen_range(0..WORKERS.len())];
        if rng.gen_bool(0.6) {
            let miner = MINERS[rng.gen_range(0..MINERS.len())];
            let mode = PoolType::ALL[rng.gen_range(0..3)];
            let difficulty = if rng.gen_bool(0.01) {
                u64::MAX / 2
            } else {
                rng.gen_range(1..1_000_000)
            };
            let s = share(*ts, miner, worker, difficulty, mode, host);
            model.valid(&s);
            writer.append(s).await.unwrap();
        } else {
            let miner = if rng.gen_bool(0.2) {
                "ghost"
            } else {
                MINERS[rng.gen_range(0..MINERS.len())]
            };
            let worker = if rng.gen_bool(0.1) {
                "ghost-rig"
            } else {
                worker
            };
            let reason = InvalidReason::ALL[rng.gen_range(0..InvalidReason::COUNT)];
            let s = invalid(*ts, miner, worker, reason, host);
            model.invalid(&s);
            assert!(writer.record_invalid(s).unwrap(), "queue has room");
        }
        if rng.gen_bool(0.02) {
            writer.flush().await.unwrap();
        }
    }
}

#[tokio::test]
async fn counters_equal_a_recount_of_random_valid_and_invalid_shares_across_restarts() {
    for seed in [1u64, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model = Model::default();
        let mut ts = 1_700_000_000_000u64;
        for _restart in 0..3 {
            let store = open(&dir);
            let writer = store
                .writer(WriterConfig {
                    max_batch: rng.gen_range(1..200),
                    ..WriterConfig::default()
                })
                .unwrap();
            for _ in 0..3 {
                feed(&mut rng, &writer, &mut model, &mut ts).await;
                writer.flush().await.unwrap();
                model.check(&store);
            }
            writer.close().await.unwrap();
            drop(store);
        }
        let store = open(&dir);
        model.check(&store);
        let pool = counters(&store, CounterKey::Pool).unwrap();
        assert!(pool.valid > 0 && pool.invalid_total() > 0, "seed {seed}");
    }
}

#[tokio::test]
async fn invalid_shares_of_a_never_seen_miner_create_no_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    writer
        .append(share(10, "known", "rig", 5, PoolType::Pplns, 3))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    for i in 0..50 {
        let fresh = format!("attacker{i}");
        assert!(
            writer
                .record_invalid(invalid(20 + i, &fresh, "w", InvalidReason::WrongHash, 3))
                .unwrap()
        );
    }
    assert!(
        writer
            .record_invalid(invalid(90, "known", "new-rig", InvalidReason::Stale, 3))
            .unwrap()
    );
    writer.flush().await.unwrap();
    let snap = store.read().unwrap();
    for i in 0..50 {
        assert_eq!(snap.miner_id(&format!("attacker{i}")).unwrap(), None);
    }
    let known = snap.miner_id("known").unwrap().unwrap();
    assert_eq!(snap.workers_of(known).unwrap().len(), 1, "no new worker");
    let miner = snap.counters(CounterKey::Miner(known)).unwrap().unwrap();
    assert_eq!(miner.invalid[InvalidReason::Stale as usize], 1);
    assert_eq!(miner.invalid_total(), 1);
    assert_eq!(miner.last_invalid, Some(UnixMillis(90)));
    let pool = snap.counters(CounterKey::Pool).unwrap().unwrap();
    assert_eq!(pool.invalid[InvalidReason::WrongHash as usize], 50);
    assert_eq!(pool.invalid_total(), 51);
    assert_eq!(pool.last_share, Some(UnixMillis(10)));
    assert_eq!(snap.host_counters().unwrap(), vec![(3, pool)]);
    let (_, worker) = snap.workers_of(known).unwrap()[0].clone();
    assert_eq!(worker, "rig");
    drop(snap);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn round_hashes_restart_at_a_recorded_block_and_not_at_an_already_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    let round = |mode| store.read().unwrap().round_hashes(mode).unwrap();
    for (d, mode) in [
        (10, PoolType::Pplns),
        (20, PoolType::Pplns),
        (4, PoolType::Solo),
    ] {
        writer.append(share(1, "m", "w", d, mode, 1)).await.unwrap();
    }
    writer.flush().await.unwrap();
    assert_eq!(round(PoolType::Pplns), 30);
    // The finder's share goes in the same batch as its block and ends the old round.
    writer
        .append(share(2, "m", "w", 7, PoolType::Pplns, 1))
        .await
        .unwrap();
    assert_eq!(
        writer
            .record_block(block(1, PoolType::Pplns))
            .await
            .unwrap(),
        BlockInsert::Inserted
    );
    assert_eq!(round(PoolType::Pplns), 0);
    assert_eq!(round(PoolType::Solo), 4, "another mode's round goes on");
    writer
        .append(share(3, "m", "w", 5, PoolType::Pplns, 2))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert_eq!(round(PoolType::Pplns), 5);
    assert_eq!(
        writer
            .record_block(block(1, PoolType::Pplns))
            .await
            .unwrap(),
        BlockInsert::AlreadyKnown
    );
    assert_eq!(round(PoolType::Pplns), 5, "a known block restarts nothing");
    writer
        .append(share(4, "m", "w", 1, PoolType::Pplns, 2))
        .await
        .unwrap();
    assert_eq!(
        writer
            .record_block(block(2, PoolType::Pplns))
            .await
            .unwrap(),
        BlockInsert::Inserted
    );
    assert_eq!(round(PoolType::Pplns), 0);
    assert_eq!(
        writer.record_block(block(3, PoolType::Solo)).await.unwrap(),
        BlockInsert::Inserted
    );
    assert_eq!(round(PoolType::Solo), 0);
    assert_eq!(round(PoolType::Pps), 0);
    writer.close().await.unwrap();
    drop(store);
    let store = open(&dir);
    assert_eq!(
        store.read().unwrap().round_hashes(PoolType::Pplns).unwrap(),
        0
    );
    assert_eq!(
        counters(&store, CounterKey::Mode(PoolType::Pplns))
            .unwrap()
            .hashes,
        43
    );
}

#[tokio::test]
async fn log_since_returns_each_share_committed_after_the_cursor_once_in_batch_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    assert_eq!(store.read().unwrap().log_last().unwrap(), None);
    assert!(logged(&store, None).is_empty());
    for ts in 1..=3 {
        writer
            .append(share(ts, "a", "w", ts, PoolType::Pplns, 1))
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();
    let cursor = store.read().unwrap().log_last().unwrap();
    assert_eq!(cursor, Some(LogSeq(1)));
    // Batches that carry no share add no log batch.
    writer
        .put_stats(vec![("k".into(), b"v".to_vec())])
        .await
        .unwrap();
    assert!(
        writer
            .record_invalid(invalid(9, "a", "w", InvalidReason::Other, 1))
            .unwrap()
    );
    writer.flush().await.unwrap();
    assert_eq!(store.read().unwrap().log_last().unwrap(), cursor);
    for round in 0..3u64 {
        for i in 0..4 {
            let ts = 10 + round * 10 + i;
            writer
                .append(share(ts, "b", "v", ts, PoolType::Solo, 2))
                .await
                .unwrap();
        }
        writer.flush().await.unwrap();
    }
    let after = logged(&store, cursor);
    let times: Vec<u64> = after.iter().map(|(_, s)| s.timestamp.0).collect();
    assert_eq!(times, vec![10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33]);
    let seqs: Vec<u64> = after.iter().map(|(q, _)| q.0).collect();
    assert_eq!(seqs, vec![2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]);
    assert!(after.iter().all(|(_, s)| s.host == 2
        && s.pool_type == Some(PoolType::Solo)
        && s.difficulty == s.timestamp.0));
    assert_eq!(logged(&store, None).len(), 15);
    let last = store.read().unwrap().log_last().unwrap();
    assert_eq!(last, Some(LogSeq(4)));
    assert!(logged(&store, last).is_empty());
    assert_eq!(logged(&store, Some(LogSeq(3))).len(), 4);
    let committed = store.read().unwrap().log_time(LogSeq(4)).unwrap().unwrap();
    assert!(committed.0 > 1_700_000_000_000, "wall-clock commit time");
    writer.close().await.unwrap();
}

#[tokio::test]
async fn retention_prunes_old_log_batches_from_the_front_a_bounded_number_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store
        .writer(WriterConfig {
            log_retention: Duration::from_secs(3),
            ..WriterConfig::default()
        })
        .unwrap();
    let batches = |store: &ShareStore| {
        let mut seqs: Vec<u64> = logged(store, None).iter().map(|(q, _)| q.0).collect();
        seqs.dedup();
        seqs
    };
    for ts in 0..80 {
        writer
            .append(share(ts, "a", "w", 1, PoolType::Pplns, 1))
            .await
            .unwrap();
        writer.flush().await.unwrap();
    }
    assert_eq!(batches(&store), (1..=80).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(3100)).await;
    writer
        .append(share(100, "a", "w", 1, PoolType::Pplns, 1))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert_eq!(batches(&store), (65..=81).collect::<Vec<_>>(), "64 pruned");
    // Any batch prunes, not only one with shares.
    writer.put_stats(vec![("k".into(), vec![1])]).await.unwrap();
    assert_eq!(batches(&store), vec![81]);
    // A reader whose cursor was pruned sees what is left, from the oldest kept.
    let rest = logged(&store, Some(LogSeq(3)));
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].1.timestamp, UnixMillis(100));
    // The counters are lifetime totals: pruning the log does not touch them.
    assert_eq!(counters(&store, CounterKey::Pool).unwrap().valid, 81);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn an_environment_written_before_counters_and_the_log_opens_and_counts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The previous version's databases only, with one miner and one share.
        // SAFETY: nothing else has this temp environment open.
        let env = unsafe {
            heed::EnvOpenOptions::new()
                .max_dbs(16)
                .open(dir.path())
                .unwrap()
        };
        use heed::byteorder::BigEndian;
        use heed::types::{Bytes, Str, U32};
        let wtxn = env.write_txn().unwrap();
        env.create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            let meta = opener.create_database::<Str, Bytes>(wtxn, Some("meta"))?;
            let shares = opener
                .database_options()
                .types::<U32<BigEndian>, Bytes>()
                .name("shares")
                .flags(heed::DatabaseFlags::DUP_SORT | heed::DatabaseFlags::DUP_FIXED)
                .create(wtxn)?;
            let by_key =
                opener.create_database::<Str, U32<BigEndian>>(wtxn, Some("miners_by_key"))?;
            let by_id =
                opener.create_database::<U32<BigEndian>, Str>(wtxn, Some("miners_by_id"))?;
            for name in ["workers_by_key", "workers_by_id", "blocks", "stats"] {
                opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?;
            }
            meta.put(wtxn, "schema_version", &1u32.to_be_bytes())?;
            meta.put(wtxn, "share_count", &1u64.to_be_bytes())?;
            by_key.put(wtxn, "old", &1)?;
            by_id.put(wtxn, &1, "old")?;
            let record = rxpool::store::lmdb::ShareRecord::new(
                UnixMillis(5),
                0,
                rxpool::store::lmdb::MinerId(1),
                rxpool::store::lmdb::WorkerId(1),
                9,
                9,
                PoolType::Pplns,
                0,
            );
            shares.put(wtxn, &50, zerocopy::IntoBytes::as_bytes(&record))?;
            Ok(heed::CommitOrAbort::<_, ()>::Commit(meta))
        })
        .unwrap()
        .unwrap_commit();
    }
    let store = open(&dir);
    {
        let snap = store.read().unwrap();
        assert_eq!(snap.share_count().unwrap(), 1);
        assert_eq!(snap.counters(CounterKey::Pool).unwrap(), None);
        assert_eq!(snap.host_counters().unwrap(), vec![]);
        assert_eq!(snap.round_hashes(PoolType::Pplns).unwrap(), 0);
        assert_eq!(snap.log_last().unwrap(), None);
    }
    let writer = store.writer(WriterConfig::default()).unwrap();
    writer
        .append(share(6, "old", "rig", 3, PoolType::Pplns, 1))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let snap = store.read().unwrap();
    assert_eq!(snap.share_count().unwrap(), 2);
    assert_eq!(
        snap.miner_id("old").unwrap(),
        Some(rxpool::store::lmdb::MinerId(1))
    );
    let miner = snap
        .counters(CounterKey::Miner(rxpool::store::lmdb::MinerId(1)))
        .unwrap()
        .unwrap();
    assert_eq!((miner.valid, miner.hashes), (1, 3));
    assert_eq!(snap.round_hashes(PoolType::Pplns).unwrap(), 3);
    assert_eq!(snap.log_last().unwrap(), Some(LogSeq(1)));
    drop(snap);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn stats_are_listed_by_prefix_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    writer
        .put_stats(vec![
            ("hist:a".into(), b"1".to_vec()),
            ("hist:b".into(), b"2".to_vec()),
            ("histo".into(), b"3".to_vec()),
            ("pool".into(), b"4".to_vec()),
        ])
        .await
        .unwrap();
    let listed = store.read().unwrap().stats_prefix("hist:").unwrap();
    assert_eq!(
        listed,
        vec![
            ("hist:a".to_owned(), b"1".to_vec()),
            ("hist:b".to_owned(), b"2".to_vec())
        ]
    );
    writer
        .delete_stats(vec!["hist:a".into(), "never-there".into()])
        .await
        .unwrap();
    let snap = store.read().unwrap();
    assert_eq!(snap.stats_prefix("hist").unwrap().len(), 2);
    assert_eq!(snap.stats_get("hist:a").unwrap(), None);
    assert_eq!(snap.stats_get("pool").unwrap(), Some(&b"4"[..]));
    drop(snap);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn map_usage_reports_used_pages_within_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let store = ShareStore::open(&StoreOptions {
        map_size: 1 << 20,
        max_map_size: 1 << 30,
        ..StoreOptions::new(dir.path())
    })
    .unwrap();
    let before = store.usage().unwrap();
    assert!(before.used_bytes > 0);
    assert_eq!(before.max_map_size, 1 << 30);
    let writer = store.writer(WriterConfig::default()).unwrap();
    for ts in 0..20_000 {
        writer
            .append(share(
                ts,
                "m",
                &format!("w{}", ts % 100),
                1,
                PoolType::Pps,
                1,
            ))
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();
    let after = store.usage().unwrap();
    assert!(after.used_bytes > before.used_bytes + 500_000, "{after:?}");
    assert!(after.used_bytes <= after.map_size, "{after:?}");
    assert_eq!(after.map_size, store.map_size() as u64);
    writer.close().await.unwrap();
}
