//! The cleaner role against real engines: LMDB in a temp dir, and for the role's cycle a fresh
//! database on the MariaDB shared by this binary.
//!
//! - Random share streams (steady, bursty, mixed payout modes, wild vardiff, late shares on
//!   the previous template) with found blocks pending, candidate, unlocked and orphaned: every
//!   uncredited block's PPLNS split, and the split a block found now would get, computed by the
//!   block-manager's own `source::plan_block`, is identical before and after pruning to the
//!   floor, and nothing at or above the floor is touched.
//! - `Cleaner::cycle` on MariaDB: a block pending for a long time keeps its whole window while
//!   thousands of heights pile up above it; once it is settled its history goes; the PPS
//!   cursor holds the floor; stale stats and old settled blocks go; a dry run deletes nothing.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rxpool::block_manager::plan::{FoundBlockFacts, Params, Plan};
use rxpool::block_manager::source;
use rxpool::block_manager::split::Payee;
use rxpool::cleaner::floor::{self, FloorInputs, PpsNeed};
use rxpool::cleaner::{Chain, Cleaner};
use rxpool::config::Settings;
use rxpool::devnet::MariaDb;
use rxpool::domain::{Atomic, Difficulty, Hash32, Height, PoolType, SystemClock, UnixMillis};
use rxpool::stats::{EntityStats, StatsBatch};
use rxpool::store::lmdb::{
    Block, BlockStatus, BlockUpdate, FoundBlock, NewShare, ShareStore, ShareWriter, StoreOptions,
    WriterConfig,
};
use rxpool::store::mysql::{self, credits};
use tokio_util::sync::CancellationToken;

const REWARD: Atomic = Atomic(600_000_000_000);
const T0: u64 = 1_700_000_000_000;

/// xorshift64*: deterministic streams from a seed, so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn store() -> (tempfile::TempDir, Arc<ShareStore>, ShareWriter) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.map_size = 64 << 20;
    let store = ShareStore::open(&options).unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    (dir, store, writer)
}

fn settings() -> Settings {
    let mut s = Settings::defaults();
    s.payout.fee_address = "4fee".to_owned();
    s
}

fn params() -> Params {
    rxpool::block_manager::params_from_settings(&settings()).unwrap()
}

fn share(height: u64, ts: u64, miner: u64, difficulty: u64, pool_type: PoolType) -> NewShare {
    NewShare {
        height: Height(height),
        timestamp: UnixMillis(ts),
        miner: Arc::from(format!("4miner{miner}")),
        worker: Arc::from("rig"),
        difficulty,
        job_difficulty: difficulty,
        pool_type,
        trusted: false,
        found_block: false,
        host: 1,
    }
}

fn found(height: u64, seed: u64, difficulty: u128, pool_type: PoolType) -> FoundBlock {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&seed.to_be_bytes());
    hash[8..16].copy_from_slice(&height.to_be_bytes());
    FoundBlock {
        height: Height(height),
        hash: Hash32(hash),
        network_difficulty: Difficulty(difficulty),
        reward: REWARD,
        pool_type,
        miner: Arc::from("4finder"),
        worker: Arc::from("rig"),
        timestamp: UnixMillis(T0 + height * 1000),
        shares_at_find: None,
        status: BlockStatus::Pending,
        blob: Vec::new(),
    }
}

/// The credits the block-manager would write for `block` now (its own code path).
fn plan_of(store: &ShareStore, block: &Block, params: &Params) -> Plan {
    let facts = FoundBlockFacts {
        hash: block.record.hash,
        height: block.record.height,
        pool_type: block.record.pool_type,
        finder: Payee::from_miner_key(&block.miner),
        reward: REWARD,
        difficulty: block.record.network_difficulty,
    };
    source::plan_block(store, &facts, params).unwrap()
}

/// The plan of a PPLNS block found now at `height` with `difficulty`.
fn next_plan(store: &ShareStore, height: Height, difficulty: Difficulty, params: &Params) -> Plan {
    let facts = FoundBlockFacts {
        hash: Hash32([0xee; 32]),
        height,
        pool_type: PoolType::Pplns,
        finder: Payee::address("4finder"),
        reward: REWARD,
        difficulty,
    };
    source::plan_block(store, &facts, params).unwrap()
}

fn uncredited(store: &ShareStore) -> Vec<Block> {
    let snap = store.read().unwrap();
    let mut out = snap.blocks_with_status(BlockStatus::Pending).unwrap();
    out.extend(snap.blocks_with_status(BlockStatus::Candidate).unwrap());
    out
}

/// Shares per height from `from` up.
fn shares_from(store: &ShareStore, from: Height) -> BTreeMap<u64, usize> {
    let snap = store.read().unwrap();
    let mut out = BTreeMap::new();
    for item in snap.shares_in(from..=Height(u64::from(u32::MAX))).unwrap() {
        let (h, _) = item.unwrap();
        *out.entry(h.0).or_insert(0) += 1;
    }
    out
}

/// Writes one random stream of `mode` and its found blocks; returns the newest height and the
/// difficulty a block found now would have.
async fn random_stream(rng: &mut Rng, mode: u64, writer: &ShareWriter) -> (u64, Difficulty) {
    let base = 10_000 + rng.below(1_000);
    let heights = 150 + rng.below(250);
    let mut ts = T0;
    let mut pplns_per_height: u128 = 0;
    for h in base..base + heights {
        let count = match mode {
            0 => 20,
            1 if rng.below(10) < 3 => 0,
            1 => rng.below(60),
            2 => 20,
            _ => 10,
        };
        for _ in 0..count {
            ts += 1 + rng.below(500);
            let pool_type = match mode {
                2 => [
                    PoolType::Pplns,
                    PoolType::Pplns,
                    PoolType::Pps,
                    PoolType::Solo,
                ][rng.below(4) as usize],
                _ => PoolType::Pplns,
            };
            let difficulty = match mode {
                3 => 1 + rng.below(1_000_000),
                _ => 1_000 + rng.below(1_000),
            };
            // A miner still on the previous template now and then.
            let height = if h > base && rng.below(10) == 0 {
                h - 1
            } else {
                h
            };
            if pool_type == PoolType::Pplns {
                pplns_per_height += u128::from(difficulty);
            }
            let miner = rng.below(12);
            writer
                .append(share(height, ts, miner, difficulty, pool_type))
                .await
                .unwrap();
        }
    }
    let per_height = (pplns_per_height / u128::from(heights)).max(1);
    // A difficulty whose window (2 x D) spans about `span` heights of PPLNS shares.
    let difficulty_for = |rng: &mut Rng| {
        let span = 3 + u128::from(rng.below(80));
        (per_height * span / 2).max(1)
    };
    let blocks = 4 + rng.below(8);
    for i in 0..blocks {
        let height = base + rng.below(heights);
        let pool_type = match rng.below(6) {
            0 => PoolType::Solo,
            1 => PoolType::Pps,
            _ => PoolType::Pplns,
        };
        // Now and then a block whose window is longer than everything stored.
        let difficulty = if rng.below(12) == 0 {
            per_height * u128::from(heights) * 4
        } else {
            difficulty_for(rng)
        };
        let mut block = found(height, i, difficulty, pool_type);
        let status = [
            BlockStatus::Pending,
            BlockStatus::Candidate,
            BlockStatus::Unlocked,
            BlockStatus::Orphaned,
            BlockStatus::Unlocked,
        ][rng.below(5) as usize];
        if status == BlockStatus::Candidate {
            block.status = BlockStatus::Candidate;
        }
        writer.record_block(block.clone()).await.unwrap();
        if matches!(status, BlockStatus::Unlocked | BlockStatus::Orphaned) {
            let update = BlockUpdate {
                status,
                reason: "settled".to_owned(),
                reward: None,
                at: UnixMillis(ts),
            };
            writer
                .update_block(block.height, block.hash, update)
                .await
                .unwrap();
        }
    }
    writer.flush().await.unwrap();
    (base + heights - 1, Difficulty(difficulty_for(rng)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_to_the_floor_leaves_every_uncredited_blocks_pplns_split_identical() {
    let params = params();
    let mut pruned_total = 0;
    let mut cases_pruned = 0;
    for case in 0..24u64 {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (case + 1).wrapping_mul(0x1234_5678_9abc));
        let mode = case % 4;
        let (_dir, store, writer) = store();
        let (newest, now_difficulty) = random_stream(&mut rng, mode, &writer).await;
        let blocks = uncredited(&store);
        let before: Vec<Plan> = blocks.iter().map(|b| plan_of(&store, b, &params)).collect();
        let next_before = next_plan(&store, Height(newest), now_difficulty, &params);
        let pps_cursor = (rng.below(4) == 0).then(|| Height(newest - rng.below(100)));
        let inputs = FloorInputs {
            tip: (rng.below(3) > 0).then_some(Height(newest - 1)),
            difficulty: Some(now_difficulty),
            share_multi: params.share_multi,
            margin: rng.below(10),
            min_retention: rng.below(30),
            pps: pps_cursor.map_or(PpsNeed::Nothing, PpsNeed::From),
            uncredited_unlocked: HashSet::new(),
        };
        let floor = floor::compute(&store.read().unwrap(), &inputs).unwrap();
        let kept_before = shares_from(&store, floor.below);
        let oldest = store.read().unwrap().share_heights().unwrap().unwrap().0;
        let batch = 1 + rng.below(4) as usize;
        loop {
            let step = writer.prune_below(floor.below, batch).await.unwrap();
            assert!(step.heights <= batch as u64);
            pruned_total += step.shares;
            if !step.more {
                break;
            }
        }
        if floor.below > oldest {
            cases_pruned += 1;
        }
        let after: Vec<Plan> = blocks.iter().map(|b| plan_of(&store, b, &params)).collect();
        for ((block, b), a) in blocks.iter().zip(&before).zip(&after) {
            assert_eq!(
                b, a,
                "case {case} (mode {mode}): the split of the {} {:?} block at {} changed; floor {floor:?}",
                block.record.status, block.record.pool_type, block.record.height
            );
        }
        assert_eq!(
            next_before,
            next_plan(&store, Height(newest), now_difficulty, &params),
            "case {case}: the next block's split changed; floor {floor:?}"
        );
        assert_eq!(
            kept_before,
            shares_from(&store, floor.below),
            "case {case}: a share at or above the floor went"
        );
        let (lowest, _) = store.read().unwrap().share_heights().unwrap().unwrap();
        assert!(
            lowest >= floor.below,
            "case {case}: {lowest} below {floor:?}"
        );
        if let Some(cursor) = pps_cursor {
            assert!(
                floor.below <= cursor,
                "case {case}: PPS cursor {cursor} pruned"
            );
        }
        writer.close().await.unwrap();
    }
    // The streams are long enough that most cases really prune.
    assert!(cases_pruned >= 12, "only {cases_pruned} of 24 cases pruned");
    assert!(pruned_total > 10_000, "only {pruned_total} shares pruned");
}

/// A fresh database and LMDB, and the cleaner over them (on the real clock).
async fn cleaner_on_fresh_stores() -> (
    sqlx::MySqlPool,
    tempfile::TempDir,
    Arc<ShareStore>,
    ShareWriter,
    Cleaner,
) {
    let db = fresh_db().await;
    let (dir, store, writer) = store();
    let cleaner = Cleaner {
        store: Arc::clone(&store),
        writer: writer.clone(),
        mysql: db.clone(),
        clock: Arc::new(SystemClock),
    };
    (db, dir, store, writer, cleaner)
}

async fn fresh_db() -> sqlx::MySqlPool {
    let server = MariaDb::shared().await.unwrap();
    let url = server.create_database("cleaner").await.unwrap();
    let pool = mysql::connect(&url).await.unwrap();
    mysql::migrate(&pool).await.unwrap();
    pool
}

/// `heights` heights of steady PPLNS shares from `base`: 10 shares of 1,000 each.
async fn steady(writer: &ShareWriter, base: u64, heights: u64) {
    let mut ts = T0;
    for h in base..base + heights {
        for i in 0..10 {
            ts += 1_000;
            writer
                .append(share(h, ts, i % 7, 1_000, PoolType::Pplns))
                .await
                .unwrap();
        }
    }
    writer.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cycle_keeps_a_long_pending_window_then_drops_the_history_once_it_is_settled() {
    let (db, _dir, store, writer, cleaner) = cleaner_on_fresh_stores().await;
    let params = params();
    let mut settings = settings();
    settings.cleaner.margin_heights = 10;
    settings.cleaner.min_retention_heights = 100;
    settings.cleaner.prune_batch = 7;
    let stop = CancellationToken::new();
    // 3,000 heights of 10,000 difficulty each; a block at 500 whose window is 50 heights
    // (2 x 250,000), pending while 2,500 more heights pile up above it.
    steady(&writer, 0, 3_000).await;
    let pending = found(500, 1, 250_000, PoolType::Pplns);
    writer.record_block(pending.clone()).await.unwrap();
    writer.flush().await.unwrap();
    let block = uncredited(&store).remove(0);
    let plan = plan_of(&store, &block, &params);
    let Plan::Credit(credit) = &plan else {
        panic!("a PPLNS block is credited")
    };
    let window = credit.window.unwrap();
    assert_eq!(window.fill_bps, 10_000);
    let (_, window_bottom) = window.heights.unwrap();
    assert_eq!(window_bottom, Height(451));
    let chain = Some(Chain {
        tip: Height(2_999),
        difficulty: Difficulty(250_000),
    });

    // A dry run (general.blockCleaner = false) deletes nothing.
    settings.general.block_cleaner = false;
    let dry = cleaner.cycle(&settings, chain, &stop).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.pruned_shares, 0);
    assert_eq!(store.read().unwrap().share_count().unwrap(), 30_000);
    settings.general.block_cleaner = true;

    let report = cleaner.cycle(&settings, chain, &stop).await.unwrap();
    assert_eq!(report.floor.below, Height(441), "{report:?}");
    assert_eq!(report.pruned_heights, 441);
    assert_eq!(report.pruned_shares, 4_410);
    assert_eq!(report.prune_batches, 441_u64.div_ceil(7));
    assert_eq!(
        plan_of(&store, &block, &params),
        plan,
        "the pending block's split"
    );
    let kept = shares_from(&store, Height(0));
    assert_eq!(kept.keys().next(), Some(&441));
    assert_eq!(
        kept.len(),
        3_000 - 441,
        "every height from the floor up is kept"
    );

    // Settled: the next block's window (50 heights below 2,999) and the retention remain.
    writer
        .update_block(
            pending.height,
            pending.hash,
            BlockUpdate {
                status: BlockStatus::Unlocked,
                reason: "credited".to_owned(),
                reward: Some(REWARD),
                at: UnixMillis(T0),
            },
        )
        .await
        .unwrap();
    // The block-manager writes the paid-block row before the status: without it, the
    // unlocked block still holds its window.
    let held = cleaner.cycle(&settings, chain, &stop).await.unwrap();
    assert_eq!(held.floor.below, Height(441));
    assert_eq!(held.pruned_shares, 0);
    let paid = credits::PaidBlock {
        hash: pending.hash,
        height: pending.height,
        pool_type: PoolType::Pplns,
        reward: REWARD,
        window: None,
    };
    let lines = [credits::LedgerLine {
        address: "4fee",
        payment_id: "",
        balance_type: rxpool::domain::BalanceType::Fees,
        amount: REWARD,
    }];
    credits::credit_block(&db, &paid, &lines, |_| {})
        .await
        .unwrap();
    // The PPS cursor holds the floor at its height.
    credits::set_cursor(&db, credits::PPS_CURSOR, Height(2_500))
        .await
        .unwrap();
    let pps = cleaner.cycle(&settings, chain, &stop).await.unwrap();
    assert_eq!(pps.floor.below, Height(2_490), "{pps:?}");
    assert_eq!(
        store.read().unwrap().share_heights().unwrap().unwrap().0,
        Height(2_490)
    );
    credits::set_cursor(&db, credits::PPS_CURSOR, Height(2_999))
        .await
        .unwrap();
    let last = cleaner.cycle(&settings, chain, &stop).await.unwrap();
    // Retention: 2,999 - 100 (the next block's window bottom, 2,950, less 10 is higher).
    assert_eq!(last.floor.below, Height(2_899), "{last:?}");
    assert_eq!(
        store.read().unwrap().share_count().unwrap(),
        (3_000 - 2_899) * 10
    );
    assert_eq!(last.stale_readers, 0);
    writer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cycle_deletes_stale_stats_and_old_settled_blocks_and_nothing_the_api_still_reads() {
    let (db, _dir, store, writer, cleaner) = cleaner_on_fresh_stores().await;
    let mut settings = settings();
    steady(&writer, 0, 20).await;
    let now = rxpool::domain::Clock::now(&SystemClock);
    let day = 86_400_000;
    let snap_ids = {
        let snap = store.read().unwrap();
        (
            snap.miner_id("4miner1").unwrap().unwrap(),
            snap.miner_id("4miner2").unwrap().unwrap(),
        )
    };
    let (gone, live) = snap_ids;
    let layout = rxpool::stats::HistoryLayout {
        minute_points: 1440,
        history_days: 30,
    };
    let mut batch = StatsBatch::default();
    batch.put_layout(layout);
    let stats = |last: u64| EntityStats {
        hash: 1,
        last_hash: last,
        total_hashes: 1,
        valid_shares: 1,
        invalid_shares: 0,
    };
    batch.put_miner(gone, &stats(now.0 - 30 * day));
    batch.put_identifiers(gone, &["rig"]);
    batch.put_miner(live, &stats(now.0 - day));
    let (puts, _) = batch.into_parts();
    writer.put_stats(puts).await.unwrap();
    // Blocks: an orphan settled 40 days ago, an unlocked (credited) one 40 days ago, one
    // unlocked yesterday and one still pending from long ago.
    let mut keep = Vec::new();
    for (seed, status, age) in [
        (1, BlockStatus::Orphaned, 40 * day),
        (2, BlockStatus::Unlocked, 40 * day),
        (3, BlockStatus::Unlocked, day),
        (4, BlockStatus::Pending, 40 * day),
    ] {
        let block = found(seed, seed, 1, PoolType::Solo);
        writer.record_block(block.clone()).await.unwrap();
        if status != BlockStatus::Pending {
            let update = BlockUpdate {
                status,
                reason: String::new(),
                reward: None,
                at: UnixMillis(now.0 - age),
            };
            writer
                .update_block(block.height, block.hash, update)
                .await
                .unwrap();
        }
        if status == BlockStatus::Unlocked {
            let paid = credits::PaidBlock {
                hash: block.hash,
                height: block.height,
                pool_type: PoolType::Solo,
                reward: REWARD,
                window: None,
            };
            let lines = [credits::LedgerLine {
                address: "4fee",
                payment_id: "",
                balance_type: rxpool::domain::BalanceType::Fees,
                amount: REWARD,
            }];
            credits::credit_block(&db, &paid, &lines, |_| {})
                .await
                .unwrap();
        }
        if seed > 2 {
            keep.push(block.hash);
        }
    }
    settings.cleaner.block_retention_days = 30;
    let stop = CancellationToken::new();
    let report = cleaner.cycle(&settings, None, &stop).await.unwrap();
    assert_eq!(report.blocks_deleted, 2, "{report:?}");
    assert_eq!(report.stats_deleted, 2, "miner/<id> and identifiers/<id>");
    let snap = store.read().unwrap();
    let blocks: Vec<Hash32> = snap
        .recent_blocks(10)
        .unwrap()
        .into_iter()
        .map(|b| b.record.hash)
        .collect();
    assert_eq!(blocks.len(), 2);
    assert!(keep.iter().all(|h| blocks.contains(h)));
    assert!(
        snap.stats_get(&format!("miner/{}", gone.0))
            .unwrap()
            .is_none()
    );
    assert!(
        snap.stats_get(&format!("identifiers/{}", gone.0))
            .unwrap()
            .is_none()
    );
    assert!(
        snap.stats_get(&format!("miner/{}", live.0))
            .unwrap()
            .is_some()
    );
    assert!(snap.stats_get("history_layout").unwrap().is_some());
    drop(snap);
    writer.close().await.unwrap();
}
