//! Who gets what of one reward: payees, fee policies and the settled credit list.
//!
//! Owns the one rule every payout mode shares: the miners' credits are computed first (each
//! rounded down), the fee is *everything else* (the fee rate's part plus all rounding dust),
//! donations take their basis-point share of that fee (rounded down) and the fee address gets
//! the remainder. So the credits of one reward always sum to the reward exactly, which
//! [`Settlement`] checks when it is built and no later code can break (its fields are private).
//!
//! Pure arithmetic on [`Atomic`] and 128/256-bit integers; no floats, no I/O. Callers are the
//! PPLNS, PPS and solo modules; the settled lists go to `store::mysql::credits`.

use std::collections::BTreeMap;
use std::fmt;

use crate::domain::{Atomic, BalanceType, Bps};

/// A balance owner as the `balance` table keys it: an address and an optional payment id
/// (stored as the empty string when absent, so the unique key works in MySQL).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Payee {
    pub address: String,
    pub payment_id: String,
}

impl Payee {
    /// A payee without a payment id.
    pub fn address(address: impl Into<String>) -> Payee {
        Payee {
            address: address.into(),
            payment_id: String::new(),
        }
    }

    /// Splits the pool's payout key (`address` or `address.paymentid`, as shares store it).
    pub fn from_miner_key(key: &str) -> Payee {
        match key.split_once('.') {
            Some((address, payment_id)) => Payee {
                address: address.to_owned(),
                payment_id: payment_id.to_owned(),
            },
            None => Payee::address(key),
        }
    }
}

impl fmt::Display for Payee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.payment_id.is_empty() {
            f.write_str(&self.address)
        } else {
            write!(f, "{}.{}", self.address, self.payment_id)
        }
    }
}

/// One line of a settlement: `amount` added to `payee`'s balance of `balance_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub payee: Payee,
    pub balance_type: BalanceType,
    pub amount: Atomic,
}

/// How one payout mode takes its fee: a rate on the reward, donations as a share of that fee
/// (nodejs-pool's `devDonation`/`poolDevDonation`, generalised), the rest to `fee_address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeePolicy {
    rate: Bps,
    fee_address: Payee,
    donations: Vec<(Payee, Bps)>,
}

/// A fee policy that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("donations add up to {0} bps of the fee, more than 100 %")]
    DonationsOverWhole(u32),
    #[error("the fee address is empty")]
    NoFeeAddress,
}

impl FeePolicy {
    /// A policy; donations together may take at most the whole fee.
    pub fn new(
        rate: Bps,
        fee_address: Payee,
        donations: Vec<(Payee, Bps)>,
    ) -> Result<FeePolicy, PolicyError> {
        if fee_address.address.is_empty() {
            return Err(PolicyError::NoFeeAddress);
        }
        let total: u32 = donations.iter().map(|(_, b)| u32::from(b.0)).sum();
        if total > u32::from(Bps::WHOLE) {
            return Err(PolicyError::DonationsOverWhole(total));
        }
        Ok(FeePolicy {
            rate,
            fee_address,
            donations,
        })
    }

    /// The fee rate on the reward.
    pub fn rate(&self) -> Bps {
        self.rate
    }

    /// What is left of `amount` for miners after the fee rate, rounded so the fee is at least
    /// its rate (the fee part rounds down, so the miners' part is `amount − fee`).
    pub fn after_fee(&self, amount: Atomic) -> Atomic {
        amount.saturating_sub(amount.fee(self.rate))
    }

    pub fn fee_address(&self) -> &Payee {
        &self.fee_address
    }
}

/// Settling failed: the miners' credits are larger than the reward they share. This means a
/// bug in the caller; the block is left uncredited and the error is reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    #[error("miner credits {credited:?} exceed the reward {reward:?}")]
    OverReward { reward: Atomic, credited: Atomic },
    #[error("credit sum overflows u64")]
    Overflow,
}

/// The credits of one reward: miner credits, donations and the fee address's remainder,
/// merged per (payee, balance type), summing to `reward` exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    reward: Atomic,
    miners: Atomic,
    credits: Vec<Credit>,
}

impl Settlement {
    /// Settles `reward`: `miner_credits` as given (merged when a payee repeats), the rest as
    /// fee under `policy`. Zero-amount lines are dropped except the fee address's, which is
    /// always present so operators see fee income per block.
    pub fn new(
        reward: Atomic,
        miner_credits: impl IntoIterator<Item = (Payee, BalanceType, Atomic)>,
        policy: &FeePolicy,
    ) -> Result<Settlement, SettleError> {
        let mut lines: BTreeMap<(Payee, BalanceType), Atomic> = BTreeMap::new();
        let mut miners = Atomic::ZERO;
        for (payee, balance_type, amount) in miner_credits {
            miners = miners.checked_add(amount).ok_or(SettleError::Overflow)?;
            add_line(&mut lines, payee, balance_type, amount)?;
        }
        let fee = reward.checked_sub(miners).ok_or(SettleError::OverReward {
            reward,
            credited: miners,
        })?;
        let mut donated = Atomic::ZERO;
        for (payee, share) in &policy.donations {
            let amount = fee.fee(*share);
            donated = donated.checked_add(amount).ok_or(SettleError::Overflow)?;
            add_line(&mut lines, payee.clone(), BalanceType::Fees, amount)?;
        }
        // Donations take at most 100 % of the fee (FeePolicy::new), each rounded down.
        let remainder = fee.checked_sub(donated).ok_or(SettleError::OverReward {
            reward: fee,
            credited: donated,
        })?;
        add_line(
            &mut lines,
            policy.fee_address.clone(),
            BalanceType::Fees,
            remainder,
        )?;
        let credits: Vec<Credit> = lines
            .into_iter()
            .filter(|((payee, ty), amount)| {
                *amount > Atomic::ZERO || (*ty == BalanceType::Fees && payee == &policy.fee_address)
            })
            .map(|((payee, balance_type), amount)| Credit {
                payee,
                balance_type,
                amount,
            })
            .collect();
        let settlement = Settlement {
            reward,
            miners,
            credits,
        };
        debug_assert_eq!(settlement.total(), Some(reward));
        Ok(settlement)
    }

    /// The reward this settlement shares out.
    pub fn reward(&self) -> Atomic {
        self.reward
    }

    /// The part credited to miners.
    pub fn miners_total(&self) -> Atomic {
        self.miners
    }

    /// The fee part: fee address and donations (the reward less the miners' part).
    pub fn fees_total(&self) -> Atomic {
        Atomic(self.reward.0 - self.miners.0)
    }

    /// Every credit line, sorted by payee then balance type, unique per (payee, type).
    pub fn credits(&self) -> &[Credit] {
        &self.credits
    }

    /// The sum of all lines (equals [`Self::reward`] by construction).
    pub fn total(&self) -> Option<Atomic> {
        self.credits
            .iter()
            .try_fold(Atomic::ZERO, |acc, c| acc.checked_add(c.amount))
    }
}

fn add_line(
    lines: &mut BTreeMap<(Payee, BalanceType), Atomic>,
    payee: Payee,
    balance_type: BalanceType,
    amount: Atomic,
) -> Result<(), SettleError> {
    let slot = lines.entry((payee, balance_type)).or_insert(Atomic::ZERO);
    *slot = slot.checked_add(amount).ok_or(SettleError::Overflow)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(rate: u16, donations: &[u16]) -> FeePolicy {
        FeePolicy::new(
            Bps(rate),
            Payee::address("fee"),
            donations
                .iter()
                .enumerate()
                .map(|(i, b)| (Payee::address(format!("donation{i}")), Bps(*b)))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn miner_key_splits_into_address_and_payment_id() {
        let p = Payee::from_miner_key("4abc.0123456789abcdef");
        assert_eq!(p.address, "4abc");
        assert_eq!(p.payment_id, "0123456789abcdef");
        assert_eq!(p.to_string(), "4abc.0123456789abcdef");
        assert_eq!(Payee::from_miner_key("4abc"), Payee::address("4abc"));
    }

    #[test]
    fn donations_over_the_whole_fee_are_refused() {
        let err = FeePolicy::new(
            Bps(60),
            Payee::address("fee"),
            vec![
                (Payee::address("a"), Bps(6_000)),
                (Payee::address("b"), Bps(4_001)),
            ],
        )
        .unwrap_err();
        assert_eq!(err, PolicyError::DonationsOverWhole(10_001));
        assert_eq!(
            FeePolicy::new(Bps(60), Payee::address(""), vec![]).unwrap_err(),
            PolicyError::NoFeeAddress
        );
    }

    #[test]
    fn fee_is_the_remainder_and_donations_take_their_share_of_it() {
        // nodejs-pool's worked example, per block: 1000 fee atomic, 3 % + 3 % donations.
        let s = Settlement::new(
            Atomic(100_000),
            [(Payee::address("m"), BalanceType::Pplns, Atomic(99_000))],
            &policy(100, &[300, 300]),
        )
        .unwrap();
        let amount = |name: &str| {
            s.credits()
                .iter()
                .find(|c| c.payee.address == name)
                .map(|c| c.amount)
        };
        assert_eq!(amount("m"), Some(Atomic(99_000)));
        assert_eq!(amount("donation0"), Some(Atomic(30)));
        assert_eq!(amount("donation1"), Some(Atomic(30)));
        assert_eq!(amount("fee"), Some(Atomic(940)));
        assert_eq!(s.total(), Some(Atomic(100_000)));
        assert_eq!(s.fees_total(), Atomic(1_000));
    }

    #[test]
    fn credits_over_the_reward_are_refused() {
        let err = Settlement::new(
            Atomic(10),
            [(Payee::address("m"), BalanceType::Solo, Atomic(11))],
            &policy(0, &[]),
        )
        .unwrap_err();
        assert!(matches!(err, SettleError::OverReward { .. }));
    }

    #[test]
    fn a_donation_to_the_fee_address_merges_into_one_line() {
        let p = FeePolicy::new(
            Bps(100),
            Payee::address("fee"),
            vec![(Payee::address("fee"), Bps(5_000))],
        )
        .unwrap();
        let s = Settlement::new(Atomic(1_000), [], &p).unwrap();
        assert_eq!(s.credits().len(), 1);
        assert_eq!(s.credits()[0].amount, Atomic(1_000));
    }

    proptest! {
        #[test]
        fn settlement_sums_to_the_reward_exactly(
            reward in any::<u64>(),
            parts in proptest::collection::vec((0u8..20, 0u64..=u64::MAX), 0..40),
            rate in 0u16..=10_000,
            donations in proptest::collection::vec(0u16..=3_000, 0..3),
        ) {
            // Scale the miner parts down so they fit under the reward.
            let raw_total: u128 = parts.iter().map(|(_, a)| *a as u128).sum();
            let miners: Vec<_> = parts.iter().map(|(who, a)| {
                let amount = if raw_total == 0 { 0 } else {
                    (reward as u128 * *a as u128 / raw_total.max(1)) as u64
                };
                (Payee::address(format!("m{who}")), BalanceType::Pplns, Atomic(amount))
            }).collect();
            let s = Settlement::new(Atomic(reward), miners, &policy(rate, &donations)).unwrap();
            prop_assert_eq!(s.total(), Some(Atomic(reward)));
            prop_assert_eq!(s.miners_total().0 + s.fees_total().0, reward);
            let mut keys: Vec<_> = s.credits().iter().map(|c| (c.payee.clone(), c.balance_type)).collect();
            let n = keys.len();
            keys.dedup();
            prop_assert_eq!(keys.len(), n, "one line per (payee, type)");
        }
    }
}
