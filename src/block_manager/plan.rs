//! From a found block's facts and its share window to what must be written: the paid-block
//! record and its settlement. Pure; the unlocker feeds it one LMDB snapshot and hands the
//! result to `store::mysql::credits` in one transaction.
//!
//! PPS blocks credit nothing here (PPS is paid per chain height, see [`super::pps`]): their
//! plan is [`Plan::PaidPerHeight`], and the unlocker only marks them unlocked.

use super::pplns::{self, ShareView, Window};
use super::solo;
use super::split::{FeePolicy, Payee, SettleError, Settlement};
use crate::domain::{Atomic, Difficulty, Hash32, Height, PoolType};
use crate::store::mysql::credits::{LedgerLine, PaidBlock, WindowRecord};

/// The fee policy of each payout mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    pub pplns: FeePolicy,
    pub pps: FeePolicy,
    pub solo: FeePolicy,
}

/// The block-manager's settings, taken from the shared `Settings` at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// `payout.blocksRequired`: depth before a found block unlocks.
    pub blocks_required: u64,
    /// `pplns.shareMulti`: window = this × block difficulty.
    pub share_multi: u64,
    /// `pps.enable`.
    pub pps_enabled: bool,
    /// Depth before a chain height's PPS shares are credited (nodejs-pool: blocksRequired / 2).
    pub pps_depth: u64,
    /// `payout.feePolicy = pool`: the pool wallet pays the network fee of every payout, so the
    /// PPS reserve must cover those fees for what it owes.
    pub pool_pays_network_fee: bool,
    pub policies: Policies,
}

/// What the chain and the share store say about a block ready to unlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBlockFacts {
    pub hash: Hash32,
    pub height: Height,
    pub pool_type: PoolType,
    /// The miner recorded as finder (paid for solo blocks).
    pub finder: Payee,
    /// The chain header's reward (coinbase outputs: base reward plus fees).
    pub reward: Atomic,
    /// The chain header's difficulty for that block.
    pub difficulty: Difficulty,
}

/// The decision for one unlocking block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Write this in one transaction.
    Credit(Box<CreditPlan>),
    /// A PPS block: its shares were credited per chain height.
    PaidPerHeight,
}

/// The rows one block's crediting writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditPlan {
    pub block: PaidBlock,
    pub settlement: Settlement,
    /// The PPLNS window walked, for logs (None for solo).
    pub window: Option<WindowSummary>,
}

/// A PPLNS window in a few numbers, for logs and the admin view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSummary {
    pub wanted: Difficulty,
    pub filled: Difficulty,
    pub shares: u64,
    pub payees: usize,
    pub heights: Option<(Height, Height)>,
    pub fill_bps: u16,
}

impl<K> From<&Window<K>> for WindowSummary {
    fn from(w: &Window<K>) -> Self {
        WindowSummary {
            wanted: w.wanted,
            filled: w.filled,
            shares: w.shares,
            payees: w.per_payee.len(),
            heights: w.heights,
            fill_bps: w.fill_bps(),
        }
    }
}

/// Plans the credits of one block. `shares` are read newest first from the block's height
/// down (only PPLNS blocks read them); `resolve` names each distinct payee key once.
pub fn plan_block<K, I>(
    facts: &FoundBlockFacts,
    shares: I,
    resolve: impl FnMut(K) -> Payee,
    params: &Params,
) -> Result<Plan, SettleError>
where
    K: Eq + std::hash::Hash + Ord + Copy,
    I: IntoIterator<Item = ShareView<K>>,
{
    let mut block = PaidBlock {
        hash: facts.hash,
        height: facts.height,
        pool_type: facts.pool_type,
        reward: facts.reward,
        window: None,
    };
    match facts.pool_type {
        PoolType::Pps => Ok(Plan::PaidPerHeight),
        PoolType::Solo => {
            let settlement =
                solo::settle(facts.reward, facts.finder.clone(), &params.policies.solo)?;
            Ok(Plan::Credit(Box::new(CreditPlan {
                block,
                settlement,
                window: None,
            })))
        }
        PoolType::Pplns => {
            let wanted = pplns::window_size(facts.difficulty, params.share_multi);
            let window = pplns::walk(shares, wanted);
            let settlement = pplns::settle(facts.reward, &window, &params.policies.pplns, resolve)?;
            block.window = Some(WindowRecord {
                wanted: window.wanted,
                filled: window.filled,
                shares: window.shares,
            });
            Ok(Plan::Credit(Box::new(CreditPlan {
                block,
                settlement,
                window: Some(WindowSummary::from(&window)),
            })))
        }
    }
}

/// The settlement's lines in the store's shape.
pub fn ledger_lines(settlement: &Settlement) -> Vec<LedgerLine<'_>> {
    settlement
        .credits()
        .iter()
        .map(|c| LedgerLine {
            address: &c.payee.address,
            payment_id: &c.payee.payment_id,
            balance_type: c.balance_type,
            amount: c.amount,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BalanceType, Bps};

    fn params() -> Params {
        let policy = |bps| FeePolicy::new(Bps(bps), Payee::address("fee"), vec![]).unwrap();
        Params {
            blocks_required: 60,
            share_multi: 2,
            pps_enabled: true,
            pps_depth: 30,
            pool_pays_network_fee: true,
            policies: Policies {
                pplns: policy(60),
                pps: policy(650),
                solo: policy(40),
            },
        }
    }

    fn facts(pool_type: PoolType) -> FoundBlockFacts {
        FoundBlockFacts {
            hash: Hash32([9; 32]),
            height: Height(1_000),
            pool_type,
            finder: Payee::address("finder"),
            reward: Atomic(600_000_000_000),
            difficulty: Difficulty(1_000),
        }
    }

    fn shares() -> Vec<ShareView<u32>> {
        (0..10)
            .map(|i| ShareView {
                height: Height(1_000 - i),
                payee: (i % 3) as u32,
                pool_type: PoolType::Pplns,
                difficulty: 500,
            })
            .collect()
    }

    #[test]
    fn a_pplns_block_walks_its_window_and_records_the_fill() {
        let plan = plan_block(
            &facts(PoolType::Pplns),
            shares(),
            |k| Payee::address(format!("m{k}")),
            &params(),
        )
        .unwrap();
        let Plan::Credit(plan) = plan else {
            panic!("expected a credit plan");
        };
        let CreditPlan {
            block,
            settlement,
            window,
        } = *plan;
        assert_eq!(
            block.window,
            Some(WindowRecord {
                wanted: Difficulty(2_000),
                filled: Difficulty(2_000),
                shares: 4
            })
        );
        assert_eq!(window.unwrap().heights, Some((Height(1_000), Height(997))));
        let lines = ledger_lines(&settlement);
        assert_eq!(
            lines.iter().map(|l| l.amount.0).sum::<u64>(),
            600_000_000_000
        );
        assert!(lines.iter().any(|l| l.balance_type == BalanceType::Fees));
    }

    #[test]
    fn a_solo_block_pays_its_finder_and_ignores_shares() {
        let plan = plan_block(
            &facts(PoolType::Solo),
            shares(),
            |k| Payee::address(format!("m{k}")),
            &params(),
        )
        .unwrap();
        let Plan::Credit(plan) = plan else {
            panic!("expected a credit plan");
        };
        assert_eq!(plan.settlement.credits().len(), 2);
        assert_eq!(plan.settlement.miners_total(), Atomic(597_600_000_000));
    }

    #[test]
    fn a_pps_block_is_paid_per_height_not_here() {
        let plan = plan_block(
            &facts(PoolType::Pps),
            shares(),
            |k: u32| Payee::address(format!("m{k}")),
            &params(),
        )
        .unwrap();
        assert_eq!(plan, Plan::PaidPerHeight);
    }
}
