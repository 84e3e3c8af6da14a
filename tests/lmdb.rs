//! The LMDB share store against real LMDB environments in temp dirs: ordering of duplicate
//! shares, blocks keyed by (height, hash), interning across reopen, schema refusal, map
//! growth from a tiny map, shutdown without loss, hostile input, and several processes
//! (the `lmdb-probe` helper) reading while another writes.

use std::sync::Arc;
use std::time::Duration;

use rxpool::domain::{Atomic, Difficulty, Hash32, Height, PoolType, UnixMillis};
use rxpool::store::lmdb::{
    BlockInsert, BlockStatus, BlockUpdate, FoundBlock, MAX_WORKER_BYTES, NewShare, ShareStore,
    StoreError, StoreOptions, WriterConfig,
};

fn share(height: u64, ts: u64, miner: &str, worker: &str, difficulty: u64) -> NewShare {
    NewShare {
        height: Height(height),
        timestamp: UnixMillis(ts),
        miner: Arc::from(miner),
        worker: Arc::from(worker),
        difficulty,
        job_difficulty: difficulty * 2,
        pool_type: PoolType::Pplns,
        trusted: false,
        found_block: false,
        host: 1,
    }
}

fn block(height: u64, hash_byte: u8, miner: &str) -> FoundBlock {
    FoundBlock {
        height: Height(height),
        hash: Hash32([hash_byte; 32]),
        network_difficulty: Difficulty(u128::from(u64::MAX) + 7),
        reward: Atomic(600_000_000_000),
        pool_type: PoolType::Pplns,
        miner: Arc::from(miner),
        worker: Arc::from("rig1"),
        timestamp: UnixMillis(1_700_000_000_000),
        shares_at_find: Some(Difficulty(123_456)),
        status: rxpool::store::lmdb::BlockStatus::Pending,
        blob: Vec::new(),
    }
}

fn open(dir: &tempfile::TempDir) -> Arc<ShareStore> {
    ShareStore::open(&StoreOptions::new(dir.path())).expect("open store")
}

#[tokio::test]
async fn identical_shares_in_one_millisecond_are_kept_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    writer.append(share(10, 2000, "A", "w", 5)).await.unwrap();
    writer.append(share(10, 2000, "A", "w", 5)).await.unwrap();
    writer.append(share(10, 1000, "B", "w", 7)).await.unwrap();
    writer.append(share(10, 3000, "A", "x", 9)).await.unwrap();
    writer.flush().await.unwrap();

    let snap = store.read().unwrap();
    let shares: Vec<_> = snap
        .shares_at(Height(10))
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    let times: Vec<u64> = shares.iter().map(|s| s.timestamp().0).collect();
    assert_eq!(times, vec![1000, 2000, 2000, 3000]);
    assert_eq!(snap.miner(shares[0].miner()).unwrap(), Some("B"));
    assert_eq!(shares[1].difficulty(), 5);
    assert_eq!(shares[1].job_difficulty(), 10);
    assert_eq!(shares[1].pool_type(), Some(PoolType::Pplns));
    assert_eq!(
        snap.worker(shares[3].worker()).unwrap(),
        Some((shares[3].miner(), "x"))
    );
    assert_eq!(snap.share_count().unwrap(), 4);
    drop(snap);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn shares_in_walks_heights_and_times_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    for h in [5u64, 6, 7, 8] {
        for t in [1u64, 3, 2] {
            writer
                .append(share(h, h * 100 + t, "A", "w", 1))
                .await
                .unwrap();
        }
    }
    writer.flush().await.unwrap();
    let snap = store.read().unwrap();
    let walked: Vec<(u64, u64)> = snap
        .shares_in(Height(6)..=Height(7))
        .unwrap()
        .map(|r| r.map(|(h, s)| (h.0, s.timestamp().0)).unwrap())
        .collect();
    assert_eq!(
        walked,
        vec![(7, 703), (7, 702), (7, 701), (6, 603), (6, 602), (6, 601)]
    );
    let to_the_top: Vec<u64> = snap
        .shares_in(Height(7)..=Height(100))
        .unwrap()
        .map(|r| r.unwrap().1.timestamp().0)
        .collect();
    assert_eq!(to_the_top, vec![803, 802, 801, 703, 702, 701]);
    let everything = snap.shares_in(Height(0)..=Height(u64::MAX)).unwrap();
    assert_eq!(everything.count(), 12);
    assert_eq!(snap.shares_in(Height(9)..=Height(20)).unwrap().count(), 0);
    assert_eq!(snap.share_heights().unwrap(), Some((Height(5), Height(8))));
    drop(snap);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn two_blocks_at_one_height_are_both_kept_and_change_status_separately() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    assert_eq!(
        writer.record_block(block(100, 1, "A")).await.unwrap(),
        BlockInsert::Inserted
    );
    assert_eq!(
        writer.record_block(block(100, 2, "B")).await.unwrap(),
        BlockInsert::Inserted
    );
    assert_eq!(
        writer.record_block(block(99, 3, "A")).await.unwrap(),
        BlockInsert::Inserted
    );
    assert_eq!(
        writer.record_block(block(100, 1, "C")).await.unwrap(),
        BlockInsert::AlreadyKnown
    );
    let orphaned = BlockUpdate {
        status: BlockStatus::Orphaned,
        reason: "chain has another block at 100".into(),
        reward: None,
        at: UnixMillis(1_700_000_100_000),
    };
    assert!(
        writer
            .update_block(Height(100), Hash32([2; 32]), orphaned)
            .await
            .unwrap()
    );
    let missing = BlockUpdate {
        status: BlockStatus::Unlocked,
        reason: String::new(),
        reward: Some(Atomic(1)),
        at: UnixMillis(0),
    };
    assert!(
        !writer
            .update_block(Height(100), Hash32([9; 32]), missing)
            .await
            .unwrap()
    );

    let snap = store.read().unwrap();
    let at_100 = snap.blocks_at(Height(100)).unwrap();
    assert_eq!(at_100.len(), 2);
    assert_eq!(at_100[0].miner, "A");
    assert_eq!(at_100[0].worker, "rig1");
    assert_eq!(
        at_100[0].record.network_difficulty,
        Difficulty(u128::from(u64::MAX) + 7)
    );
    assert_eq!(at_100[0].record.shares_at_find, Some(Difficulty(123_456)));
    assert_eq!(at_100[1].record.status, BlockStatus::Orphaned);
    assert_eq!(at_100[1].record.reason, "chain has another block at 100");
    let pending: Vec<(u64, u8)> = snap
        .blocks_with_status(BlockStatus::Pending)
        .unwrap()
        .iter()
        .map(|b| (b.record.height.0, b.record.hash.0[0]))
        .collect();
    assert_eq!(pending, vec![(99, 3), (100, 1)]);
    let recent: Vec<u8> = snap
        .recent_blocks(2)
        .unwrap()
        .iter()
        .map(|b| b.record.hash.0[0])
        .collect();
    assert_eq!(recent, vec![2, 1]);
    assert!(snap.block(Height(101), Hash32([1; 32])).unwrap().is_none());
    drop(snap);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn interned_ids_are_stable_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (miner, worker) = {
        let store = open(&dir);
        let writer = store.writer(WriterConfig::default()).unwrap();
        writer
            .append(share(1, 1, "addr1", "rigA", 1))
            .await
            .unwrap();
        writer
            .append(share(1, 2, "addr2", "rigA", 1))
            .await
            .unwrap();
        writer.close().await.unwrap();
        let snap = store.read().unwrap();
        let miner = snap.miner_id("addr2").unwrap().unwrap();
        let worker = snap.worker_id(miner, "rigA").unwrap().unwrap();
        (miner, worker)
    };
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    writer
        .append(share(2, 3, "addr3", "rigB", 1))
        .await
        .unwrap();
    writer
        .append(share(2, 4, "addr2", "rigA", 1))
        .await
        .unwrap();
    writer.close().await.unwrap();
    let snap = store.read().unwrap();
    assert_eq!(snap.miner_id("addr2").unwrap(), Some(miner));
    assert_eq!(snap.miner(miner).unwrap(), Some("addr2"));
    assert_eq!(snap.worker(worker).unwrap(), Some((miner, "rigA")));
    let last = snap.shares_at(Height(2)).unwrap().last().unwrap().unwrap();
    assert_eq!((last.miner(), last.worker()), (miner, worker));
    let third = snap.miner_id("addr3").unwrap().unwrap();
    assert_ne!(third, miner);
    assert_eq!(snap.workers_of(miner).unwrap().len(), 1);
}

#[tokio::test]
async fn a_newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    {
        // SAFETY: nothing else has this temp environment open.
        let env = unsafe {
            heed::EnvOpenOptions::new()
                .max_dbs(16)
                .open(dir.path())
                .unwrap()
        };
        let wtxn = env.write_txn().unwrap();
        let meta = env
            .create_databases_and_commit(wtxn, |opener, wtxn| {
                opener
                    .create_database::<heed::types::Str, heed::types::Bytes>(wtxn, Some("meta"))
                    .map(heed::CommitOrAbort::<_, ()>::Commit)
            })
            .unwrap()
            .unwrap_commit();
        let mut wtxn = env.write_txn().unwrap();
        meta.put(&mut wtxn, "schema_version", &99u32.to_be_bytes())
            .unwrap();
        wtxn.commit().unwrap();
    }
    match ShareStore::open(&StoreOptions::new(dir.path())) {
        Err(StoreError::SchemaTooNew {
            found: 99,
            supported,
        }) => assert!(supported < 99),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tiny_map_grows_instead_of_failing_under_100k_shares() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.map_size = 1 << 20;
    let store = ShareStore::open(&options).unwrap();
    let before = store.map_size();
    let writer = store.writer(WriterConfig::default()).unwrap();
    for i in 0..100_000u64 {
        let miner = format!("miner{}", i % 300);
        writer
            .append(share(1000 + i / 1000, i, &miner, "w", 1))
            .await
            .unwrap();
    }
    writer.close().await.unwrap();
    assert!(store.map_growths() > 0);
    assert!(store.map_size() > before);
    let snap = store.read().unwrap();
    assert_eq!(snap.share_count().unwrap(), 100_000);
    let walked = snap.shares_in(Height(0)..=Height(5000)).unwrap().count();
    assert_eq!(walked, 100_000);
}

#[tokio::test]
async fn closing_the_writer_commits_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store
        .writer(WriterConfig {
            max_delay: Duration::from_secs(3600),
            ..WriterConfig::default()
        })
        .unwrap();
    for i in 0..20_000u64 {
        writer.append(share(7, i, "A", "w", 1)).await.unwrap();
    }
    let other_handle = writer.clone();
    writer.close().await.unwrap();
    assert_eq!(other_handle.stats().committed, 20_000);
    assert_eq!(other_handle.stats().lost, 0);
    // The last handle's close stops the thread.
    other_handle.close().await.unwrap();
    drop(store);
    let store = open(&dir);
    assert_eq!(store.read().unwrap().share_count().unwrap(), 20_000);
    assert_eq!(
        store.read().unwrap().shares_at(Height(7)).unwrap().count(),
        20_000
    );
}

#[tokio::test]
async fn dropping_every_writer_handle_commits_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store
        .writer(WriterConfig {
            max_delay: Duration::from_secs(3600),
            ..WriterConfig::default()
        })
        .unwrap();
    for i in 0..1000u64 {
        writer.append(share(7, i, "A", "w", 1)).await.unwrap();
    }
    drop(writer);
    // With no handle left the writer thread drains, commits and stops on its own.
    let mut count = 0;
    for _ in 0..3000 {
        count = store.read().unwrap().share_count().unwrap();
        if count == 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(count, 1000);
}

#[tokio::test]
async fn one_process_shares_one_store_and_one_writer() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir);
    let b = open(&dir);
    assert!(Arc::ptr_eq(&a, &b));
    let writer_a = a.writer(WriterConfig::default()).unwrap();
    let writer_b = b.writer(WriterConfig::default()).unwrap();
    writer_b.append(share(1, 1, "A", "w", 1)).await.unwrap();
    writer_a.flush().await.unwrap();
    assert_eq!(writer_a.stats().committed, 1);
    assert_eq!(a.read().unwrap().share_count().unwrap(), 1);
    // One role closing its handle (the block-manager of `rxpool all` stopping) does not cut
    // off another that still writes (the pool draining its last shares).
    writer_a.close().await.unwrap();
    writer_b.append(share(1, 2, "A", "w", 1)).await.unwrap();
    let kept = writer_b.clone();
    writer_b.close().await.unwrap();
    kept.append(share(1, 3, "A", "w", 1)).await.unwrap();
    // The last handle's close stops the thread, everything committed.
    kept.close().await.unwrap();
    assert_eq!(a.read().unwrap().share_count().unwrap(), 3);
    // A stopped writer is replaced by a new one on request.
    let writer_c = b.writer(WriterConfig::default()).unwrap();
    writer_c.append(share(1, 4, "A", "w", 1)).await.unwrap();
    writer_c.close().await.unwrap();
    assert_eq!(a.read().unwrap().share_count().unwrap(), 4);
}

#[tokio::test]
async fn hostile_input_is_rejected_or_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    let long_miner = "4".repeat(10_000);
    assert!(matches!(
        writer.append(share(1, 1, &long_miner, "w", 1)).await,
        Err(StoreError::BadMinerKey)
    ));
    assert!(matches!(
        writer.append(share(1, 1, "", "w", 1)).await,
        Err(StoreError::BadMinerKey)
    ));
    assert!(matches!(
        writer
            .append(share(u64::from(u32::MAX) + 1, 1, "A", "w", 1))
            .await,
        Err(StoreError::HeightOutOfRange(_))
    ));
    assert!(matches!(
        writer.record_block(block(1, 1, &long_miner)).await,
        Err(StoreError::BadMinerKey)
    ));
    let long_worker = "é".repeat(5_000);
    writer
        .append(share(1, 1, "A", &long_worker, 1))
        .await
        .unwrap();
    writer
        .append(share(1, 2, "A", "\0\n{\"x\":1}", 1))
        .await
        .unwrap();
    writer.append(share(1, 3, "A", "", 1)).await.unwrap();
    writer.flush().await.unwrap();
    let snap = store.read().unwrap();
    let names: Vec<String> = snap
        .shares_at(Height(1))
        .unwrap()
        .map(|s| {
            snap.worker(s.unwrap().worker())
                .unwrap()
                .unwrap()
                .1
                .to_owned()
        })
        .collect();
    assert_eq!(names[0].len(), MAX_WORKER_BYTES);
    assert!(long_worker.starts_with(&names[0]));
    assert_eq!(names[1], "\0\n{\"x\":1}");
    assert_eq!(names[2], "");
    assert_eq!(snap.miner_id(&long_miner).unwrap(), None);
    assert_eq!(snap.share_count().unwrap(), 3);
    drop(snap);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn prune_below_deletes_lower_heights_in_bounded_steps() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    for h in 1..=10u64 {
        for t in 0..h {
            writer.append(share(h, t, "A", "w", 1)).await.unwrap();
        }
    }
    let first = writer.prune_below(Height(8), 3).await.unwrap();
    assert_eq!(
        (first.heights, first.shares, first.more),
        (3, 1 + 2 + 3, true)
    );
    let mut total = first.shares;
    loop {
        let step = writer.prune_below(Height(8), 3).await.unwrap();
        total += step.shares;
        if !step.more {
            break;
        }
    }
    assert_eq!(total, (1..8u64).sum::<u64>());
    let snap = store.read().unwrap();
    assert_eq!(snap.share_heights().unwrap(), Some((Height(8), Height(10))));
    assert_eq!(snap.share_count().unwrap(), 8 + 9 + 10);
    drop(snap);
    writer.close().await.unwrap();
}

#[tokio::test]
async fn stats_values_are_written_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store.writer(WriterConfig::default()).unwrap();
    writer
        .put_stats(vec![
            ("pool_stats_pplns".into(), br#"{"hashRate":10}"#.to_vec()),
            ("minerList".into(), b"[]".to_vec()),
        ])
        .await
        .unwrap();
    let snap = store.read().unwrap();
    assert_eq!(
        snap.stats_get("pool_stats_pplns").unwrap(),
        Some(&br#"{"hashRate":10}"#[..])
    );
    assert_eq!(snap.stats_get("nope").unwrap(), None);
    drop(snap);
    writer.close().await.unwrap();
}

#[test]
fn readers_in_other_processes_always_see_consistent_snapshots_while_a_third_writes() {
    let dir = tempfile::tempdir().unwrap();
    let probe = env!("CARGO_BIN_EXE_lmdb-probe");
    let path = dir.path().to_str().unwrap();
    // Create the environment first so the readers do not race its creation.
    let status = std::process::Command::new(probe)
        .args(["write", path, "1", "1"])
        .status()
        .unwrap();
    assert!(status.success());
    let readers: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(probe)
                .args(["read", path, "4000"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let writer = std::process::Command::new(probe)
        .args(["write", path, "200", "1500"])
        .output()
        .unwrap();
    assert!(
        writer.status.success(),
        "writer: {}",
        String::from_utf8_lossy(&writer.stderr)
    );
    let wrote = String::from_utf8_lossy(&writer.stdout).to_string();
    assert!(!wrote.contains("growths=0"), "the map never grew: {wrote}");
    for reader in readers {
        let out = reader.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "reader failed: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let checks: u64 = stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("checks="))
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(checks > 10, "reader made only {checks} checks");
    }
    let stat = std::process::Command::new(probe)
        .args(["stat", path])
        .output()
        .unwrap();
    let stat = String::from_utf8_lossy(&stat.stdout).to_string();
    assert!(stat.starts_with("shares=300001 "), "{stat}");
}

#[tokio::test]
async fn a_lone_share_is_committed_after_max_delay_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writer = store
        .writer(WriterConfig {
            max_delay: Duration::from_millis(20),
            ..WriterConfig::default()
        })
        .unwrap();
    writer.append(share(3, 1, "A", "w", 1)).await.unwrap();
    let started = std::time::Instant::now();
    while store.read().unwrap().share_count().unwrap() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never committed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(writer.stats().batches, 1);
    writer.close().await.unwrap();
}
