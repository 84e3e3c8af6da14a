//! PPS: pay every PPS share its expected value, per chain height, once.
//!
//! A share mined on the template for height H is worth `base reward(H) × share difficulty /
//! network difficulty(H)` (rounded down per payee after summing their difficulty at H), less
//! the PPS fee. Heights are credited whoever found the chain block there, after the chain is
//! deep enough past H; the once-per-height guard (a unique height row written in the same
//! transaction) lives in `store::mysql::credits`, so a reorganised height is never paid twice.
//!
//! Unlike PPLNS the "reward" of a PPS settlement is the pool's liability for that height (the
//! sum of the gross values), not a block reward: the fee is that gross less what the miners
//! get, split like any other fee. The pool pays PPS from its own reserve, so [`Reserve`]
//! decides whether crediting may continue. Pure arithmetic; no I/O, no floats.

use std::collections::BTreeMap;

use super::pplns::ShareView;
use super::split::{FeePolicy, Payee, SettleError, Settlement};
use crate::domain::{Atomic, BalanceType, Difficulty, PoolType};

/// Why a height's PPS value cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PpsError {
    #[error("network difficulty is zero")]
    ZeroDifficulty,
    #[error("a payee's PPS value does not fit in u64 atomic units")]
    Overflow,
    #[error(transparent)]
    Settle(#[from] SettleError),
}

/// The PPS credits of one height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeightCredit {
    /// Total PPS difficulty counted at this height.
    pub difficulty: u128,
    /// PPS shares counted.
    pub shares: u64,
    /// Miner credits and fee lines; `settlement.reward()` is the gross liability.
    pub settlement: Settlement,
}

/// Values the PPS shares of one height. `shares` may hold every share stored at that height;
/// only PPS ones count.
pub fn credit_height<K: Ord + Copy>(
    shares: impl IntoIterator<Item = ShareView<K>>,
    base_reward: Atomic,
    network_difficulty: Difficulty,
    policy: &FeePolicy,
    mut resolve: impl FnMut(K) -> Payee,
) -> Result<HeightCredit, PpsError> {
    if network_difficulty.0 == 0 {
        return Err(PpsError::ZeroDifficulty);
    }
    let mut per_payee: BTreeMap<K, u128> = BTreeMap::new();
    let mut shares_counted = 0u64;
    let mut difficulty = 0u128;
    for share in shares {
        if share.pool_type != PoolType::Pps || share.difficulty == 0 {
            continue;
        }
        *per_payee.entry(share.payee).or_insert(0) += u128::from(share.difficulty);
        difficulty += u128::from(share.difficulty);
        shares_counted += 1;
    }
    let mut gross_total = Atomic::ZERO;
    let mut nets = Vec::with_capacity(per_payee.len());
    for (key, d) in per_payee {
        let gross = base_reward
            .mul_div(d, network_difficulty.0)
            .ok_or(PpsError::Overflow)?;
        gross_total = gross_total.checked_add(gross).ok_or(PpsError::Overflow)?;
        nets.push((resolve(key), BalanceType::Pps, policy.after_fee(gross)));
    }
    let settlement = Settlement::new(gross_total, nets, policy)?;
    Ok(HeightCredit {
        difficulty,
        shares: shares_counted,
        settlement,
    })
}

/// The pool wallet against what it owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserve {
    /// The pool wallet's balance (locked coinbase outputs included: they unlock in time).
    pub wallet_balance: Atomic,
    /// Every balance the pool owes (all types), not yet paid.
    pub owed: Atomic,
    /// The network fees the pool wallet will pay to send what it owes (`feePolicy=pool`;
    /// zero when the payees bear them through the fee slew).
    pub payout_fees: Atomic,
}

/// The reserve check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveStatus {
    /// The wallet covers what is owed plus the new PPS credit; `margin` is left over.
    Sufficient { margin: Atomic },
    /// Crediting `liability` would owe more than the wallet holds by `shortfall`.
    Short { shortfall: Atomic },
}

impl Reserve {
    /// Whether the wallet can take on `liability` more in PPS credits.
    pub fn check(self, liability: Atomic) -> ReserveStatus {
        let needed =
            u128::from(self.owed.0) + u128::from(self.payout_fees.0) + u128::from(liability.0);
        let have = u128::from(self.wallet_balance.0);
        if have >= needed {
            ReserveStatus::Sufficient {
                margin: Atomic(u64::try_from(have - needed).unwrap_or(u64::MAX)),
            }
        } else {
            ReserveStatus::Short {
                shortfall: Atomic(u64::try_from(needed - have).unwrap_or(u64::MAX)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Bps, Height};
    use proptest::prelude::*;

    fn share(payee: u32, pool_type: PoolType, difficulty: u64) -> ShareView<u32> {
        ShareView {
            height: Height(7),
            payee,
            pool_type,
            difficulty,
        }
    }

    fn policy(rate: u16) -> FeePolicy {
        FeePolicy::new(
            Bps(rate),
            Payee::address("fee"),
            vec![(Payee::address("dev"), Bps(500))],
        )
        .unwrap()
    }

    fn name(k: u32) -> Payee {
        Payee::address(format!("miner{k}"))
    }

    #[test]
    fn a_pps_share_earns_its_expected_value_less_the_fee() {
        // 0.6 XMR reward, network difficulty 300e9, a 120,000 share: 240,000 gross,
        // 6.5 % fee = 15,600, miner 224,400.
        let c = credit_height(
            vec![
                share(1, PoolType::Pps, 120_000),
                share(2, PoolType::Pplns, 999_999),
            ],
            Atomic(600_000_000_000),
            Difficulty(300_000_000_000),
            &policy(650),
            name,
        )
        .unwrap();
        assert_eq!(c.shares, 1);
        assert_eq!(c.settlement.reward(), Atomic(240_000));
        let m = &c
            .settlement
            .credits()
            .iter()
            .find(|l| l.payee == name(1))
            .unwrap();
        assert_eq!(m.amount, Atomic(224_400));
        assert_eq!(m.balance_type, BalanceType::Pps);
        assert_eq!(c.settlement.fees_total(), Atomic(15_600));
    }

    #[test]
    fn zero_network_difficulty_is_an_error_not_a_division() {
        let err = credit_height(
            vec![share(1, PoolType::Pps, 1)],
            Atomic(1),
            Difficulty(0),
            &policy(0),
            name,
        )
        .unwrap_err();
        assert_eq!(err, PpsError::ZeroDifficulty);
    }

    #[test]
    fn a_height_without_pps_shares_credits_only_a_zero_fee_line() {
        let c = credit_height(
            vec![share(1, PoolType::Solo, 5)],
            Atomic(10),
            Difficulty(10),
            &policy(100),
            name,
        )
        .unwrap();
        assert_eq!(c.settlement.reward(), Atomic::ZERO);
        assert_eq!(c.settlement.credits().len(), 1);
    }

    #[test]
    fn the_reserve_check_counts_the_network_fees_the_pool_pays_on_what_it_owes() {
        let without = Reserve {
            wallet_balance: Atomic(100),
            owed: Atomic(60),
            payout_fees: Atomic::ZERO,
        };
        let with = Reserve {
            payout_fees: Atomic(7),
            ..without
        };
        assert_eq!(
            without.check(Atomic(40)),
            ReserveStatus::Sufficient {
                margin: Atomic::ZERO
            }
        );
        assert_eq!(
            with.check(Atomic(40)),
            ReserveStatus::Short {
                shortfall: Atomic(7)
            }
        );
        assert_eq!(
            with.check(Atomic(33)),
            ReserveStatus::Sufficient {
                margin: Atomic::ZERO
            }
        );
    }

    #[test]
    fn the_reserve_check_reports_margin_and_shortfall() {
        let r = Reserve {
            wallet_balance: Atomic(100),
            owed: Atomic(60),
            payout_fees: Atomic::ZERO,
        };
        assert_eq!(
            r.check(Atomic(40)),
            ReserveStatus::Sufficient {
                margin: Atomic::ZERO
            }
        );
        assert_eq!(
            r.check(Atomic(45)),
            ReserveStatus::Short {
                shortfall: Atomic(5)
            }
        );
    }

    proptest! {
        #[test]
        fn pps_credits_and_fees_equal_the_gross_value_exactly(
            shares in proptest::collection::vec((0u32..30, 1u64..=u64::MAX >> 20), 0..200),
            reward in 0u64..=1u64 << 45,
            difficulty in 1u128..=u128::from(u64::MAX),
            rate in 0u16..=10_000,
        ) {
            let shares: Vec<_> = shares.into_iter().map(|(p, d)| share(p, PoolType::Pps, d)).collect();
            let total: u128 = shares.iter().map(|s| u128::from(s.difficulty)).sum();
            // Keep the gross value within u64: shares at most 2^18 × the network difficulty.
            prop_assume!(total / difficulty < 1 << 18);
            let c = credit_height(shares, Atomic(reward), Difficulty(difficulty), &policy(rate), name).unwrap();
            prop_assert_eq!(c.settlement.total(), Some(c.settlement.reward()));
            let exact = primitive_types::U256::from(reward) * primitive_types::U256::from(total)
                / primitive_types::U256::from(difficulty);
            // Per-payee rounding never pays more than the exact expected value.
            prop_assert!(primitive_types::U256::from(c.settlement.reward().0) <= exact);
        }
    }
}
