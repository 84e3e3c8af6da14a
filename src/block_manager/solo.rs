//! Solo: the finder of a solo block gets its reward less the solo fee, once.
//!
//! The finder is the miner recorded with the found block (not "every found-block share at
//! that height", which made nodejs-pool cut the reward once per matching share). Fee and
//! donations follow [`super::split`]. Pure arithmetic.

use super::split::{FeePolicy, Payee, SettleError, Settlement};
use crate::domain::{Atomic, BalanceType};

/// The credits of a solo block found by `finder`.
pub fn settle(
    reward: Atomic,
    finder: Payee,
    policy: &FeePolicy,
) -> Result<Settlement, SettleError> {
    Settlement::new(
        reward,
        [(finder, BalanceType::Solo, policy.after_fee(reward))],
        policy,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Bps;
    use proptest::prelude::*;

    #[test]
    fn the_finder_gets_the_reward_less_the_solo_fee() {
        let policy = FeePolicy::new(Bps(40), Payee::address("fee"), vec![]).unwrap();
        let s = settle(Atomic(600_000_000_000), Payee::address("finder"), &policy).unwrap();
        assert_eq!(s.credits().len(), 2);
        let finder = s
            .credits()
            .iter()
            .find(|c| c.payee.address == "finder")
            .unwrap();
        assert_eq!(finder.amount, Atomic(597_600_000_000));
        assert_eq!(finder.balance_type, BalanceType::Solo);
        assert_eq!(s.fees_total(), Atomic(2_400_000_000));
    }

    proptest! {
        #[test]
        fn solo_credit_and_fees_equal_the_reward(
            reward in any::<u64>(),
            rate in 0u16..=10_000,
            donation in 0u16..=10_000,
        ) {
            let policy = FeePolicy::new(
                Bps(rate),
                Payee::address("fee"),
                vec![(Payee::address("dev"), Bps(donation))],
            ).unwrap();
            let s = settle(Atomic(reward), Payee::address("finder"), &policy).unwrap();
            prop_assert_eq!(s.total(), Some(Atomic(reward)));
            prop_assert_eq!(s.fees_total(), Atomic(reward).fee(Bps(rate)));
        }
    }
}
