//! The crediting transaction against a real MariaDB: marker, ledger lines and balances land
//! together or not at all, and a block or PPS height is credited once however often it is
//! attempted (sequentially or concurrently).

use rxpool::domain::{Atomic, BalanceType, Difficulty, Hash32, Height, PoolType};
use rxpool::store::mysql::credits::{
    self, CreditError, CreditStep, Credited, LedgerLine, PaidBlock, PpsHeight, WindowRecord,
};

#[path = "block_manager/support.rs"]
#[expect(dead_code, reason = "this binary uses only the database fixtures")]
mod support;

fn block(seed: u8, height: u64, reward: u64) -> PaidBlock {
    PaidBlock {
        hash: Hash32([seed; 32]),
        height: Height(height),
        pool_type: PoolType::Pplns,
        reward: Atomic(reward),
        window: Some(WindowRecord {
            wanted: Difficulty(u128::from(u64::MAX) * 3),
            filled: Difficulty(1_000),
            shares: 3,
        }),
    }
}

fn lines() -> Vec<LedgerLine<'static>> {
    vec![
        LedgerLine {
            address: "4miner1",
            payment_id: "",
            balance_type: BalanceType::Pplns,
            amount: Atomic(600),
        },
        LedgerLine {
            address: "4miner2",
            payment_id: "0123456789abcdef",
            balance_type: BalanceType::Pplns,
            amount: Atomic(390),
        },
        LedgerLine {
            address: "4fee",
            payment_id: "",
            balance_type: BalanceType::Fees,
            amount: Atomic(10),
        },
    ]
}

use support::{balance, count};

#[tokio::test]
async fn a_block_is_credited_with_marker_ledger_and_balances_together() {
    let pool = support::fresh_db().await;
    let b = block(1, 100, 1_000);
    let steps = std::sync::Mutex::new(Vec::new());
    let got = credits::credit_block(&pool, &b, &lines(), |s| steps.lock().unwrap().push(s))
        .await
        .unwrap();
    assert_eq!(got, Credited::Now);
    assert_eq!(
        *steps.lock().unwrap(),
        vec![CreditStep::MarkerInserted, CreditStep::RowsWritten]
    );
    assert_eq!(balance(&pool, "4miner1", "pplns").await, 600);
    assert_eq!(balance(&pool, "4miner2", "pplns").await, 390);
    assert_eq!(balance(&pool, "4fee", "fees").await, 10);
    let row = credits::paid_block(&pool, &b.hash).await.unwrap().unwrap();
    assert_eq!(row.block, b, "the u128 window round-trips through DECIMAL");
    assert_eq!(row.miners_credited, Atomic(990));
    assert_eq!(row.fees_credited, Atomic(10));
    assert_eq!(row.payees, 3);
    let ledger = credits::block_lines(&pool, &b.hash).await.unwrap();
    assert_eq!(ledger.len(), 3);
    assert_eq!(ledger.iter().map(|l| l.amount.0).sum::<u64>(), 1_000);
    assert!(credits::is_credited(&pool, &b.hash).await.unwrap());
    assert_eq!(credits::owed_total(&pool).await.unwrap(), Atomic(1_000));
}

#[tokio::test]
async fn crediting_a_block_again_changes_nothing() {
    let pool = support::fresh_db().await;
    let b = block(2, 100, 1_000);
    assert_eq!(
        credits::credit_block(&pool, &b, &lines(), |_| {})
            .await
            .unwrap(),
        Credited::Now
    );
    for _ in 0..3 {
        let again = credits::credit_block(&pool, &b, &lines(), |_| {})
            .await
            .unwrap();
        assert_eq!(again, Credited::Already);
    }
    assert_eq!(balance(&pool, "4miner1", "pplns").await, 600);
    assert_eq!(count(&pool, "block_credits").await, 3);
}

#[tokio::test]
async fn concurrent_attempts_credit_a_block_exactly_once() {
    let pool = support::fresh_db().await;
    let b = block(3, 100, 1_000);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            credits::credit_block(&pool, &b, &lines(), |_| {})
                .await
                .unwrap()
        }));
    }
    let mut now = 0;
    for t in tasks {
        if t.await.unwrap() == Credited::Now {
            now += 1;
        }
    }
    assert_eq!(now, 1);
    assert_eq!(balance(&pool, "4miner2", "pplns").await, 390);
}

#[tokio::test]
async fn lines_that_miss_the_reward_are_refused_and_nothing_is_written() {
    let pool = support::fresh_db().await;
    let b = block(4, 100, 1_001);
    let err = credits::credit_block(&pool, &b, &lines(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CreditError::SumMismatch { .. }), "{err}");
    assert_eq!(count(&pool, "paid_blocks").await, 0);
    assert_eq!(count(&pool, "balance").await, 0);
}

#[tokio::test]
async fn two_blocks_at_one_height_are_two_credits() {
    let pool = support::fresh_db().await;
    let a = block(5, 100, 1_000);
    let b = block(6, 100, 1_000);
    credits::credit_block(&pool, &a, &lines(), |_| {})
        .await
        .unwrap();
    credits::credit_block(&pool, &b, &lines(), |_| {})
        .await
        .unwrap();
    assert_eq!(balance(&pool, "4miner1", "pplns").await, 1_200);
    assert_eq!(count(&pool, "paid_blocks").await, 2);
}

#[tokio::test]
async fn a_pps_height_is_credited_once_even_under_another_hash() {
    let pool = support::fresh_db().await;
    let h = PpsHeight {
        height: Height(50),
        hash: Hash32([7; 32]),
        base_reward: Atomic(600_000_000_000),
        difficulty: Difficulty(300_000_000_000),
        shares: 2,
        share_difficulty: 500_000,
        gross: Atomic(1_000),
    };
    let pps_lines: Vec<_> = lines()
        .into_iter()
        .map(|mut l| {
            if l.balance_type != BalanceType::Fees {
                l.balance_type = BalanceType::Pps;
            }
            l
        })
        .collect();
    assert_eq!(
        credits::credit_pps_height(&pool, &h, &pps_lines, |_| {})
            .await
            .unwrap(),
        Credited::Now
    );
    // The same height after a reorg: another hash, still credited once.
    let reorged = PpsHeight {
        hash: Hash32([8; 32]),
        ..h
    };
    assert_eq!(
        credits::credit_pps_height(&pool, &reorged, &pps_lines, |_| {})
            .await
            .unwrap(),
        Credited::Already
    );
    assert_eq!(balance(&pool, "4miner1", "pps").await, 600);
    assert!(credits::is_pps_credited(&pool, Height(50)).await.unwrap());
    assert_eq!(
        credits::pps_lines(&pool, Height(50)).await.unwrap().len(),
        3
    );
}

#[tokio::test]
async fn cursors_only_move_forward() {
    let pool = support::fresh_db().await;
    assert_eq!(credits::cursor(&pool, "pps").await.unwrap(), None);
    credits::set_cursor(&pool, "pps", Height(10)).await.unwrap();
    credits::set_cursor(&pool, "pps", Height(5)).await.unwrap();
    assert_eq!(
        credits::cursor(&pool, "pps").await.unwrap(),
        Some(Height(10))
    );
}
