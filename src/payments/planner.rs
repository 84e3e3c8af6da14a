//! Payout planning, pure: balances + payees' thresholds + the payout policy → the batches to
//! pay this cycle.
//!
//! Owns the selection rules (global minimum, per-user threshold never below it, the higher
//! minimum for integrated addresses, payment-ID payees and exchange addresses, the fee
//! address paid only above its reserve), denomination rounding, the withdrawal-fee policy
//! (the pool pays the network fee, or nodejs-pool's fee slew in integer maths) and batching
//! (standard addresses and subaddresses together up to the configured number of destinations,
//! at most 15; every integrated address and payment-ID payee alone). It does no I/O and never
//! looks at the clock: the processor reads the rows from MySQL, hands them in, and reserves
//! what comes out.
//!
//! Each balance row is its own item: an address with pplns and pps balances gives two items
//! that draw from two rows, and two items with one destination never share a transaction, so
//! a debit can never land on the wrong row (nodejs-pool's bug, reference §5.4 risk 2).

use std::collections::{BTreeSet, HashSet};

use crate::domain::{AddressKind, Atomic, BalanceType};

/// Re-exported: the kind is stored by `store::mysql::payouts`, so it lives in `domain`.
pub use crate::domain::BatchKind;

/// Monero's output limit (16) less the change output.
pub const MAX_DESTINATIONS: u8 = 15;

/// Who pays for a withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeePolicy {
    /// The payee receives the whole (denominated) amount; the pool wallet pays the network
    /// fee.
    PoolPaysNetworkFee,
    /// nodejs-pool's fee slew: `amount` is charged at or below the global minimum, falling
    /// linearly to zero at `end`; the balance is debited the whole amount and the payee
    /// receives the amount less this fee.
    FeeSlew { amount: Atomic, end: Atomic },
}

/// The rules of one cycle, from the shared settings (`payout.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutPolicy {
    /// `payout.walletMin`: nothing smaller is paid; users' thresholds cannot go below it.
    pub wallet_min: Atomic,
    /// `payout.exchangeMin`: the minimum for integrated addresses, payment-ID payees and
    /// exchange addresses that set no threshold of their own.
    pub exchange_min: Atomic,
    /// `payout.denom`: amounts are rounded down to a multiple of this (0 or 1: no rounding).
    pub denomination: Atomic,
    pub fee_policy: FeePolicy,
    /// `payout.feeAddress`: its `fees` balance is paid only above `fee_reserve`.
    pub fee_address: Option<String>,
    /// `payout.feesForTXN`: what the fee address leaves in the pool wallet.
    pub fee_reserve: Atomic,
    /// `payout.exchangeAddresses`: payees held to `exchange_min`.
    pub exchange_addresses: HashSet<String>,
    /// `payout.maxPaymentDestinations`, clamped to 1..=15.
    pub max_destinations: u8,
}

/// One `balance` row with what the planner needs to know about its payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayeeBalance {
    pub balance_id: u64,
    pub address: String,
    /// The legacy payment ID given at login (hex), if any; integrated addresses carry theirs
    /// inside the address and have `None` here.
    pub payment_id: Option<String>,
    pub balance_type: BalanceType,
    pub amount: Atomic,
    /// `users.payout_threshold` (0 when the payee has set none).
    pub threshold: Atomic,
    /// What the address is, parsed by the caller; `None` if it does not parse (set aside).
    pub kind: Option<AddressKind>,
}

/// One payee of a planned batch, drawing from one balance row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedItem {
    pub balance_id: u64,
    pub address: String,
    pub payment_id: Option<String>,
    pub balance_type: BalanceType,
    /// Debited from the balance.
    pub gross: Atomic,
    /// Withdrawal fee kept by the pool (`gross - net`).
    pub fee: Atomic,
    /// Sent to the payee.
    pub net: Atomic,
}

/// One transaction to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    pub kind: BatchKind,
    pub items: Vec<PlannedItem>,
}

impl PlannedBatch {
    pub fn gross(&self) -> Atomic {
        self.items.iter().map(|i| i.gross).sum()
    }
    pub fn net(&self) -> Atomic {
        self.items.iter().map(|i| i.net).sum()
    }
    pub fn fee(&self) -> Atomic {
        self.items.iter().map(|i| i.fee).sum()
    }
}

/// Why a balance at or above the global minimum is not paid this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Below the payee's own threshold or the higher minimum of its kind.
    BelowMinimum { minimum: Atomic },
    /// The fee address keeps its reserve and has not enough above it.
    FeeReserve { reserve: Atomic },
    /// The address does not parse: it needs an operator.
    InvalidAddress,
    /// A payment ID on an integrated address or subaddress cannot be honoured.
    PaymentIdNotAllowed,
    /// Rounding or the withdrawal fee leaves nothing to send.
    NothingAfterFee,
}

/// A balance left unpaid, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub balance_id: u64,
    pub reason: SkipReason,
}

/// The outcome of planning: batches in payment order, and what was left and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub batches: Vec<PlannedBatch>,
    pub skipped: Vec<Skipped>,
}

impl PayoutPolicy {
    fn destinations_per_tx(&self) -> usize {
        usize::from(self.max_destinations.clamp(1, MAX_DESTINATIONS))
    }

    fn is_fee_row(&self, row: &PayeeBalance) -> bool {
        row.balance_type == BalanceType::Fees
            && self.fee_address.as_deref() == Some(row.address.as_str())
    }

    /// The user's threshold, never below the global minimum.
    fn user_minimum(&self, threshold: Atomic) -> Atomic {
        threshold.max(self.wallet_min)
    }

    /// Rounds down to the denomination.
    pub fn denominate(&self, amount: Atomic) -> Atomic {
        match self.denomination.0 {
            0 | 1 => amount,
            d => Atomic(amount.0 - amount.0 % d),
        }
    }

    /// The withdrawal fee the payee bears on a payout of `gross`.
    pub fn withdrawal_fee(&self, gross: Atomic) -> Atomic {
        match self.fee_policy {
            FeePolicy::PoolPaysNetworkFee => Atomic::ZERO,
            FeePolicy::FeeSlew { amount, end } => {
                let fee = if gross <= self.wallet_min {
                    amount
                } else if gross >= end {
                    Atomic::ZERO
                } else {
                    // amount × (end − gross) / (end − min), rounded down; here
                    // min < gross < end, so the span is positive and the part is below it.
                    let span = end.0 - self.wallet_min.0;
                    let part = end.0 - gross.0;
                    amount
                        .mul_div(u128::from(part), u128::from(span))
                        .unwrap_or(Atomic::ZERO)
                };
                fee.min(gross)
            }
        }
    }
}

/// Plans one cycle. `balances` may come in any order; batches come out ordered by balance id
/// (the first credited is the first paid), singles after the batched ones.
pub fn plan(policy: &PayoutPolicy, balances: &[PayeeBalance]) -> Plan {
    let mut plan = Plan::default();
    let mut batched: Vec<PlannedItem> = Vec::new();
    let mut singles: Vec<PlannedItem> = Vec::new();

    let mut rows: Vec<&PayeeBalance> = balances.iter().collect();
    rows.sort_by_key(|r| r.balance_id);

    for row in rows {
        if row.amount < policy.wallet_min {
            continue;
        }
        let skip = |reason| Skipped {
            balance_id: row.balance_id,
            reason,
        };
        let Some(kind) = row.kind else {
            plan.skipped.push(skip(SkipReason::InvalidAddress));
            continue;
        };
        if row.payment_id.is_some() && kind != AddressKind::Standard {
            plan.skipped.push(skip(SkipReason::PaymentIdNotAllowed));
            continue;
        }
        let single = kind == AddressKind::Integrated || row.payment_id.is_some();
        let exchange = policy.exchange_addresses.contains(&row.address);

        let (payable, fee) = if policy.is_fee_row(row) {
            // The fee address is the pool's own: no withdrawal fee, and its reserve stays.
            let above = row.amount.saturating_sub(policy.fee_reserve);
            let gross = policy.denominate(above);
            if gross < policy.wallet_min {
                plan.skipped.push(skip(SkipReason::FeeReserve {
                    reserve: policy.fee_reserve,
                }));
                continue;
            }
            (gross, Atomic::ZERO)
        } else {
            let minimum = if single || exchange {
                if row.threshold > Atomic::ZERO {
                    policy.user_minimum(row.threshold)
                } else {
                    policy.exchange_min.max(policy.wallet_min)
                }
            } else {
                policy.user_minimum(row.threshold)
            };
            let gross = policy.denominate(row.amount);
            if gross < minimum {
                plan.skipped
                    .push(skip(SkipReason::BelowMinimum { minimum }));
                continue;
            }
            (gross, policy.withdrawal_fee(gross))
        };
        let net = payable.saturating_sub(fee);
        if net == Atomic::ZERO {
            plan.skipped.push(skip(SkipReason::NothingAfterFee));
            continue;
        }
        let item = PlannedItem {
            balance_id: row.balance_id,
            address: row.address.clone(),
            payment_id: row.payment_id.clone(),
            balance_type: row.balance_type,
            gross: payable,
            fee,
            net,
        };
        if single {
            singles.push(item);
        } else {
            batched.push(item);
        }
    }

    plan.batches = chunk_distinct(batched, policy.destinations_per_tx());
    plan.batches
        .extend(singles.into_iter().map(|item| PlannedBatch {
            kind: BatchKind::Single,
            items: vec![item],
        }));
    plan
}

/// What a wallet with `unlocked` spendable money pays of `batches`, oldest dues first: items
/// are taken in balance-id order (the first credited first) while the amounts sent fit; the
/// first item that does not fit and every newer one are deferred to a later cycle (so an old
/// large due is not starved by newer small ones). Batches keep their shape less the deferred
/// items; empty ones are dropped. Returns the batches to pay and the deferred items. The
/// network fee is not known before signing: a batch the wallet still refuses for money is
/// shrunk by the processor.
pub fn fit_unlocked(
    batches: Vec<PlannedBatch>,
    unlocked: Atomic,
) -> (Vec<PlannedBatch>, Vec<PlannedItem>) {
    let mut ids: Vec<(u64, Atomic)> = batches
        .iter()
        .flat_map(|b| b.items.iter().map(|i| (i.balance_id, i.net)))
        .collect();
    ids.sort_unstable();
    let mut sent = Atomic::ZERO;
    let mut cutoff = None;
    for (id, net) in ids {
        match sent.checked_add(net) {
            Some(total) if total <= unlocked => sent = total,
            _ => {
                cutoff = Some(id);
                break;
            }
        }
    }
    let Some(cutoff) = cutoff else {
        return (batches, Vec::new());
    };
    let mut deferred = Vec::new();
    let mut kept = Vec::with_capacity(batches.len());
    for batch in batches {
        let (pay, wait): (Vec<_>, Vec<_>) =
            batch.items.into_iter().partition(|i| i.balance_id < cutoff);
        deferred.extend(wait);
        if !pay.is_empty() {
            kept.push(PlannedBatch {
                kind: batch.kind,
                items: pay,
            });
        }
    }
    deferred.sort_by_key(|i| i.balance_id);
    (kept, deferred)
}

/// Splits items into batches of at most `per_tx` destinations, never putting one address
/// twice in one batch (its second row goes to a later batch), keeping the order otherwise.
fn chunk_distinct(items: Vec<PlannedItem>, per_tx: usize) -> Vec<PlannedBatch> {
    let mut batches: Vec<(BTreeSet<String>, Vec<PlannedItem>)> = Vec::new();
    // Index of the first batch that may still have room: earlier ones are full.
    let mut first_open = 0;
    for item in items {
        let mut slot = None;
        for (i, (addresses, members)) in batches.iter().enumerate().skip(first_open) {
            if members.len() < per_tx && !addresses.contains(&item.address) {
                slot = Some(i);
                break;
            }
        }
        let i = match slot {
            Some(i) => i,
            None => {
                batches.push((BTreeSet::new(), Vec::new()));
                batches.len() - 1
            }
        };
        batches[i].0.insert(item.address.clone());
        batches[i].1.push(item);
        while first_open < batches.len() && batches[first_open].1.len() >= per_tx {
            first_open += 1;
        }
    }
    batches
        .into_iter()
        .map(|(_, items)| PlannedBatch {
            kind: BatchKind::Batched,
            items,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const XMR: u64 = 1_000_000_000_000;

    fn xmr(text: &str) -> Atomic {
        Atomic::from_xmr_str(text).unwrap()
    }

    fn policy() -> PayoutPolicy {
        PayoutPolicy {
            wallet_min: xmr("0.3"),
            exchange_min: xmr("5"),
            denomination: xmr("0.000001"),
            fee_policy: FeePolicy::PoolPaysNetworkFee,
            fee_address: Some("FEE".to_owned()),
            fee_reserve: xmr("10"),
            exchange_addresses: HashSet::from(["EXCHANGE".to_owned()]),
            max_destinations: 15,
        }
    }

    fn row(id: u64, address: &str, amount: Atomic) -> PayeeBalance {
        PayeeBalance {
            balance_id: id,
            address: address.to_owned(),
            payment_id: None,
            balance_type: BalanceType::Pplns,
            amount,
            threshold: Atomic::ZERO,
            kind: Some(AddressKind::Standard),
        }
    }

    fn paid(plan: &Plan) -> Vec<(u64, Atomic)> {
        let mut out: Vec<_> = plan
            .batches
            .iter()
            .flat_map(|b| b.items.iter().map(|i| (i.balance_id, i.net)))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_wallet_short_of_unlocked_money_pays_the_oldest_dues_that_fit_and_defers_the_rest() {
        let mut single = row(2, "INT", xmr("6"));
        single.kind = Some(AddressKind::Integrated);
        let rows = [
            row(1, "A", xmr("3")),
            single,
            row(3, "B", xmr("2")),
            row(4, "C", xmr("0.5")),
        ];
        let full = plan(&policy(), &rows);
        // Everything fits: nothing changes.
        let (kept, deferred) = fit_unlocked(full.batches.clone(), xmr("11.5"));
        assert_eq!(kept, full.batches);
        assert!(deferred.is_empty());
        // 10 XMR unlocked: balances 1 and 2 (3 + 6) fit; 3 does not (11 > 10), so 3 and every
        // newer due wait, even the small 4 that would still fit.
        let (kept, deferred) = fit_unlocked(full.batches.clone(), xmr("10"));
        let kept_plan = Plan {
            batches: kept.clone(),
            skipped: Vec::new(),
        };
        assert_eq!(paid(&kept_plan), vec![(1, xmr("3")), (2, xmr("6"))]);
        assert_eq!(
            deferred.iter().map(|i| i.balance_id).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(kept.iter().all(|b| !b.items.is_empty()));
        // Nothing unlocked: nothing paid, nothing lost.
        let (kept, deferred) = fit_unlocked(full.batches.clone(), Atomic::ZERO);
        assert!(kept.is_empty());
        assert_eq!(deferred.len(), 4);
    }

    proptest! {
        #[test]
        fn fitting_to_unlocked_money_never_exceeds_it_and_loses_no_item(
            amounts in proptest::collection::vec(300_000_000_000u64..5_000_000_000_000, 1..40),
            unlocked in 0u64..100_000_000_000_000,
        ) {
            let rows: Vec<_> = amounts
                .iter()
                .enumerate()
                .map(|(i, a)| row(i as u64 + 1, &format!("P{i}"), Atomic(*a)))
                .collect();
            let full = plan(&policy(), &rows);
            let total: usize = full.batches.iter().map(|b| b.items.len()).sum();
            let (kept, deferred) = fit_unlocked(full.batches, Atomic(unlocked));
            let sent: u64 = kept.iter().map(|b| b.net().0).sum();
            prop_assert!(sent <= unlocked);
            let kept_n: usize = kept.iter().map(|b| b.items.len()).sum();
            prop_assert_eq!(kept_n + deferred.len(), total);
            // Oldest first: every kept due is older than every deferred one.
            let newest_kept = kept.iter().flat_map(|b| &b.items).map(|i| i.balance_id).max();
            let oldest_deferred = deferred.iter().map(|i| i.balance_id).min();
            if let (Some(k), Some(d)) = (newest_kept, oldest_deferred) {
                prop_assert!(k < d);
            }
        }
    }

    #[test]
    fn balances_below_the_global_minimum_are_not_paid() {
        let plan = plan(
            &policy(),
            &[row(1, "A", xmr("0.299999999999")), row(2, "B", xmr("0.3"))],
        );
        assert_eq!(paid(&plan), vec![(2, xmr("0.3"))]);
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn a_user_threshold_above_the_minimum_holds_the_payout() {
        let mut low = row(1, "A", xmr("0.9"));
        low.threshold = xmr("1");
        let mut reached = row(2, "B", xmr("1"));
        reached.threshold = xmr("1");
        let plan = plan(&policy(), &[low, reached]);
        assert_eq!(paid(&plan), vec![(2, xmr("1"))]);
        assert_eq!(
            plan.skipped,
            vec![Skipped {
                balance_id: 1,
                reason: SkipReason::BelowMinimum { minimum: xmr("1") }
            }]
        );
    }

    #[test]
    fn a_user_threshold_below_the_minimum_counts_as_the_minimum() {
        let mut r = row(1, "A", xmr("0.2"));
        r.threshold = xmr("0.1");
        assert!(plan(&policy(), &[r]).batches.is_empty());
    }

    #[test]
    fn integrated_payment_id_and_exchange_payees_need_the_exchange_minimum() {
        let mut integrated = row(1, "I", xmr("4.9"));
        integrated.kind = Some(AddressKind::Integrated);
        let mut with_id = row(2, "P", xmr("5"));
        with_id.payment_id = Some("0123456789abcdef".to_owned());
        let exchange = row(3, "EXCHANGE", xmr("4"));
        let mut exchange_with_threshold = row(4, "EXCHANGE", xmr("2"));
        exchange_with_threshold.balance_type = BalanceType::Pps;
        exchange_with_threshold.threshold = xmr("1.5");
        let plan = plan(
            &policy(),
            &[integrated, with_id, exchange, exchange_with_threshold],
        );
        assert_eq!(paid(&plan), vec![(2, xmr("5")), (4, xmr("2"))]);
        let skipped: Vec<u64> = plan.skipped.iter().map(|s| s.balance_id).collect();
        assert_eq!(skipped, vec![1, 3]);
    }

    #[test]
    fn integrated_and_payment_id_payees_each_get_a_transaction_of_their_own() {
        let mut a = row(1, "I1", xmr("6"));
        a.kind = Some(AddressKind::Integrated);
        let mut b = row(2, "I2", xmr("6"));
        b.kind = Some(AddressKind::Integrated);
        let mut c = row(3, "S", xmr("6"));
        c.payment_id = Some("ab".repeat(32));
        let d = row(4, "S", xmr("6"));
        let plan = plan(&policy(), &[a, b, c, d]);
        let shapes: Vec<(BatchKind, Vec<u64>)> = plan
            .batches
            .iter()
            .map(|b| (b.kind, b.items.iter().map(|i| i.balance_id).collect()))
            .collect();
        assert_eq!(
            shapes,
            vec![
                (BatchKind::Batched, vec![4]),
                (BatchKind::Single, vec![1]),
                (BatchKind::Single, vec![2]),
                (BatchKind::Single, vec![3]),
            ]
        );
    }

    #[test]
    fn a_payment_id_on_a_subaddress_is_set_aside() {
        let mut r = row(1, "SUB", xmr("6"));
        r.kind = Some(AddressKind::Subaddress);
        r.payment_id = Some("0123456789abcdef".to_owned());
        let plan = plan(&policy(), &[r]);
        assert!(plan.batches.is_empty());
        assert_eq!(plan.skipped[0].reason, SkipReason::PaymentIdNotAllowed);
    }

    #[test]
    fn an_unparsed_address_is_set_aside_not_paid() {
        let mut r = row(1, "garbage", xmr("6"));
        r.kind = None;
        let plan = plan(&policy(), &[r]);
        assert!(plan.batches.is_empty());
        assert_eq!(plan.skipped[0].reason, SkipReason::InvalidAddress);
    }

    #[test]
    fn amounts_are_rounded_down_to_the_denomination() {
        let plan = plan(&policy(), &[row(1, "A", Atomic(xmr("0.5").0 + 999_999))]);
        assert_eq!(paid(&plan), vec![(1, xmr("0.5"))]);
        assert_eq!(plan.batches[0].items[0].gross, xmr("0.5"));
    }

    #[test]
    fn rounding_below_the_minimum_holds_the_payout() {
        let plan = plan(&policy(), &[row(1, "A", Atomic(xmr("0.3").0 - 1))]);
        assert!(plan.batches.is_empty());
        let mut p = policy();
        p.denomination = xmr("0.1");
        let plan = super::plan(&p, &[row(1, "A", xmr("0.35"))]);
        assert_eq!(plan.batches[0].items[0].gross, xmr("0.3"));
    }

    #[test]
    fn fee_slew_matches_nodejs_pool_worked_example() {
        let mut p = policy();
        p.fee_policy = FeePolicy::FeeSlew {
            amount: xmr("0.011"),
            end: xmr("4"),
        };
        // 0.3 -> fee 0.011; 2.15 -> 0.011 × (4 − 2.15) / 3.7 = 0.0055; 4 -> 0.
        assert_eq!(p.withdrawal_fee(xmr("0.3")), xmr("0.011"));
        assert_eq!(p.withdrawal_fee(xmr("2.15")), xmr("0.0055"));
        assert_eq!(p.withdrawal_fee(xmr("4")), Atomic::ZERO);
        assert_eq!(p.withdrawal_fee(xmr("40")), Atomic::ZERO);
        let plan = plan(&p, &[row(1, "A", xmr("2.15"))]);
        let item = &plan.batches[0].items[0];
        assert_eq!(
            (item.gross, item.fee, item.net),
            (xmr("2.15"), xmr("0.0055"), xmr("2.1445"))
        );
    }

    #[test]
    fn the_pool_paying_the_network_fee_charges_the_payee_nothing() {
        let plan = plan(&policy(), &[row(1, "A", xmr("0.3"))]);
        let item = &plan.batches[0].items[0];
        assert_eq!(
            (item.gross, item.fee, item.net),
            (xmr("0.3"), Atomic::ZERO, xmr("0.3"))
        );
    }

    #[test]
    fn the_fee_address_is_paid_only_above_its_reserve() {
        let mut fees = row(1, "FEE", xmr("10.2"));
        fees.balance_type = BalanceType::Fees;
        assert_eq!(
            plan(&policy(), &[fees.clone()]).skipped[0].reason,
            SkipReason::FeeReserve { reserve: xmr("10") }
        );
        fees.amount = xmr("12.5");
        let plan = plan(&policy(), &[fees]);
        let item = &plan.batches[0].items[0];
        assert_eq!((item.gross, item.net), (xmr("2.5"), xmr("2.5")));
    }

    #[test]
    fn the_fee_address_mining_pplns_is_paid_like_a_miner() {
        let r = row(1, "FEE", xmr("0.4"));
        assert_eq!(paid(&plan(&policy(), &[r])), vec![(1, xmr("0.4"))]);
    }

    #[test]
    fn batches_hold_at_most_the_configured_destinations() {
        let mut p = policy();
        p.max_destinations = 4;
        let rows: Vec<_> = (1..=10)
            .map(|i| row(i, &format!("A{i}"), xmr("1")))
            .collect();
        let plan = plan(&p, &rows);
        let sizes: Vec<usize> = plan.batches.iter().map(|b| b.items.len()).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        p.max_destinations = 200;
        let rows: Vec<_> = (1..=40)
            .map(|i| row(i, &format!("A{i}"), xmr("1")))
            .collect();
        let sizes: Vec<usize> = super::plan(&p, &rows)
            .batches
            .iter()
            .map(|b| b.items.len())
            .collect();
        assert_eq!(sizes, vec![15, 15, 10]);
    }

    #[test]
    fn rows_of_one_address_in_several_modes_stay_separate_items_in_separate_transactions() {
        let mut pps = row(2, "A", xmr("2"));
        pps.balance_type = BalanceType::Pps;
        let plan = plan(
            &policy(),
            &[row(1, "A", xmr("1")), pps, row(3, "B", xmr("1"))],
        );
        assert_eq!(plan.batches.len(), 2);
        assert_eq!(
            plan.batches[0]
                .items
                .iter()
                .map(|i| (i.balance_id, i.balance_type))
                .collect::<Vec<_>>(),
            vec![(1, BalanceType::Pplns), (3, BalanceType::Pplns)]
        );
        assert_eq!(plan.batches[1].items[0].balance_id, 2);
        assert_eq!(plan.batches[1].items[0].gross, xmr("2"));
    }

    fn arb_row() -> impl Strategy<Value = PayeeBalance> {
        (
            0u64..40,
            0u64..(20 * XMR),
            0u64..(3 * XMR),
            0u8..6,
            prop::option::of(Just("0123456789abcdef".to_owned())),
            0u8..4,
        )
            .prop_map(|(addr, amount, threshold, kind, pid, ty)| PayeeBalance {
                balance_id: 0,
                address: if addr == 0 {
                    "FEE".to_owned()
                } else {
                    format!("A{addr}")
                },
                payment_id: pid,
                balance_type: [
                    BalanceType::Pplns,
                    BalanceType::Pps,
                    BalanceType::Solo,
                    BalanceType::Fees,
                ][usize::from(ty)],
                amount: Atomic(amount),
                threshold: Atomic(threshold),
                kind: match kind {
                    0 => None,
                    1 => Some(AddressKind::Integrated),
                    2 => Some(AddressKind::Subaddress),
                    _ => Some(AddressKind::Standard),
                },
            })
    }

    proptest! {
        #[test]
        fn plans_never_pay_more_than_a_balance_nor_below_the_minimum(
            mut rows in prop::collection::vec(arb_row(), 0..60),
            max in 0u8..30,
            slew in any::<bool>(),
        ) {
            for (i, r) in rows.iter_mut().enumerate() {
                r.balance_id = i as u64 + 1;
            }
            let mut p = policy();
            p.max_destinations = max;
            if slew {
                p.fee_policy = FeePolicy::FeeSlew { amount: xmr("0.011"), end: xmr("4") };
            }
            let plan = plan(&p, &rows);
            let mut seen = HashSet::new();
            for batch in &plan.batches {
                prop_assert!(!batch.items.is_empty());
                prop_assert!(batch.items.len() <= usize::from(MAX_DESTINATIONS));
                prop_assert!(batch.items.len() <= usize::from(max.max(1)));
                let addresses: HashSet<&str> = batch.items.iter().map(|i| i.address.as_str()).collect();
                prop_assert_eq!(addresses.len(), batch.items.len());
                if batch.kind == BatchKind::Single {
                    prop_assert_eq!(batch.items.len(), 1);
                }
                for item in &batch.items {
                    prop_assert!(seen.insert(item.balance_id), "a row planned twice");
                    let r = &rows[(item.balance_id - 1) as usize];
                    prop_assert!(item.gross <= r.amount);
                    prop_assert!(item.gross >= p.wallet_min);
                    prop_assert_eq!(item.gross.0 % p.denomination.0, 0);
                    prop_assert_eq!(item.fee.checked_add(item.net), Some(item.gross));
                    prop_assert!(item.net > Atomic::ZERO);
                    let is_single = r.kind == Some(AddressKind::Integrated) || r.payment_id.is_some();
                    prop_assert_eq!(batch.kind == BatchKind::Single, is_single);
                    if r.balance_type == BalanceType::Fees && r.address == "FEE" {
                        prop_assert!(r.amount.0 - item.gross.0 >= p.fee_reserve.0);
                    } else {
                        prop_assert!(item.gross >= r.threshold);
                    }
                }
            }
            for s in &plan.skipped {
                prop_assert!(!seen.contains(&s.balance_id));
            }
        }

        #[test]
        fn the_slew_fee_never_rises_with_the_amount(a in 0u64..(8 * XMR), b in 0u64..(8 * XMR)) {
            let mut p = policy();
            p.fee_policy = FeePolicy::FeeSlew { amount: xmr("0.011"), end: xmr("4") };
            // Never more than the amount itself (so below the fee it is capped and rises with
            // the amount); from the payout minimum on, which is all that is ever paid, it
            // never rises.
            prop_assert!(p.withdrawal_fee(Atomic(a)) <= Atomic(a));
            let paid = |x: u64| x.max(p.wallet_min.0);
            let (lo, hi) = (paid(a.min(b)), paid(a.max(b)));
            prop_assert!(p.withdrawal_fee(Atomic(lo)) >= p.withdrawal_fee(Atomic(hi)));
            prop_assert!(p.withdrawal_fee(Atomic(hi)) <= xmr("0.011"));
        }
    }
}
