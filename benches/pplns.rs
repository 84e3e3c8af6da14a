//! PPLNS crediting figures (prints one line per figure):
//! - the window walk and split over 1,000,000 shares across 100 heights and 10,000 payees,
//!   from memory and from one LMDB snapshot (target ≤ 100 ms, MySQL write excluded);
//! - the MySQL crediting transaction for 10,000 distinct payees, on a throwaway MariaDB
//!   (`rxpool::devnet`) with the project's migrations.
//!
//! Run: `cargo bench --bench pplns`

use std::sync::Arc;
use std::time::{Duration, Instant};

use rxpool::block_manager::plan::{self, FoundBlockFacts, Params, Plan, Policies};
use rxpool::block_manager::pplns::{self, ShareView};
use rxpool::block_manager::source;
use rxpool::block_manager::split::{FeePolicy, Payee};
use rxpool::domain::{Atomic, Bps, Difficulty, Hash32, Height, PoolType, UnixMillis};
use rxpool::store::lmdb::{NewShare, ShareStore, StoreOptions, WriterConfig};
use rxpool::store::mysql::credits;

const SHARES: u64 = 1_000_000;
const HEIGHTS: u64 = 100;
const MINERS: u32 = 10_000;
const TOP: u64 = 1_000_000;
const REWARD: Atomic = Atomic(600_000_000_000);

fn share_at(i: u64) -> (Height, u32, u64) {
    (
        Height(TOP - i * HEIGHTS / SHARES),
        (i.wrapping_mul(2_654_435_761) % u64::from(MINERS)) as u32,
        10_000 + i % 5_000,
    )
}

fn name(i: u32) -> String {
    format!("4{i:094}")
}

fn ms(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03} ms", us / 1_000, us % 1_000)
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn params() -> Params {
    let policy = |bps| {
        FeePolicy::new(
            Bps(bps),
            Payee::address("fee"),
            vec![(Payee::address("dev"), Bps(300))],
        )
        .expect("policy")
    };
    Params {
        blocks_required: 60,
        share_multi: 1,
        pps_enabled: false,
        pps_depth: 30,
        pool_pays_network_fee: false,
        policies: Policies {
            pplns: policy(60),
            pps: policy(650),
            solo: policy(40),
        },
    }
}

fn main() {
    let total: u128 = (0..SHARES).map(|i| u128::from(share_at(i).2)).sum();
    let names: Vec<Payee> = (0..MINERS).map(|i| Payee::address(name(i))).collect();
    let views: Vec<ShareView<u32>> = (0..SHARES)
        .map(|i| {
            let (height, payee, difficulty) = share_at(i);
            ShareView {
                height,
                payee,
                pool_type: PoolType::Pplns,
                difficulty,
            }
        })
        .collect();
    let policy = params().policies.pplns;
    let memory = best_of(5, || {
        let window = pplns::walk(views.iter().copied(), Difficulty(total));
        let s =
            pplns::settle(REWARD, &window, &policy, |k| names[k as usize].clone()).expect("settle");
        assert_eq!(s.total(), Some(REWARD));
        assert_eq!(window.shares, SHARES);
    });
    println!(
        "pplns walk+split from memory: {SHARES} shares, {HEIGHTS} heights, {MINERS} payees: {} (best of 5)",
        ms(memory)
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ShareStore::open(&StoreOptions::new(dir.path())).expect("open store");
    rt.block_on(async {
        let writer = store.writer(WriterConfig::default()).expect("writer");
        let miners: Vec<Arc<str>> = (0..MINERS).map(|i| Arc::from(name(i))).collect();
        let worker: Arc<str> = Arc::from("rig");
        for i in 0..SHARES {
            let (height, payee, difficulty) = share_at(i);
            writer
                .append(NewShare {
                    height,
                    timestamp: UnixMillis(SHARES - i),
                    miner: Arc::clone(&miners[payee as usize]),
                    worker: Arc::clone(&worker),
                    difficulty,
                    job_difficulty: difficulty,
                    pool_type: PoolType::Pplns,
                    trusted: false,
                    found_block: false,
                    host: 1,
                })
                .await
                .expect("append");
        }
        writer.flush().await.expect("flush");
    });
    let facts = FoundBlockFacts {
        hash: Hash32([7; 32]),
        height: Height(TOP),
        pool_type: PoolType::Pplns,
        finder: Payee::address(name(0)),
        reward: REWARD,
        difficulty: Difficulty(total),
    };
    let params = params();
    let mut planned = None;
    let lmdb = best_of(5, || {
        let plan = source::plan_block(&store, &facts, &params).expect("plan");
        planned = Some(plan);
    });
    let Some(Plan::Credit(plan)) = planned else {
        panic!("a PPLNS block plans a credit");
    };
    assert_eq!(plan.window.map(|w| w.shares), Some(SHARES));
    println!(
        "pplns walk+split from one LMDB snapshot: {SHARES} shares, {HEIGHTS} heights, {} payees: {} (best of 5)",
        plan.settlement.credits().len(),
        ms(lmdb)
    );

    rt.block_on(async {
        let server = rxpool::devnet::MariaDb::start().await.expect("mariadb");
        let url = server
            .create_database("pplns_bench")
            .await
            .expect("database");
        let pool = rxpool::store::mysql::connect(&url).await.expect("connect");
        rxpool::store::mysql::migrate(&pool).await.expect("migrate");
        let lines = plan::ledger_lines(&plan.settlement);
        for (i, round) in ["new balances", "existing balances"].iter().enumerate() {
            let mut block = plan.block;
            block.hash = Hash32([i as u8; 32]);
            let start = Instant::now();
            let done = credits::credit_block(&pool, &block, &lines, |_| {})
                .await
                .expect("credit");
            assert_eq!(done, credits::Credited::Now);
            println!(
                "mysql credit transaction, {} payees ({round}): {}",
                lines.len(),
                ms(start.elapsed())
            );
        }
    });
}
