//! `/admin/stats`, `/admin/wallet`, `/admin/wallet/history` and `/admin/userList`: the
//! operator's overview in nodejs-pool's shapes.
//!
//! - `stats`: per mode `{owed, paid, mined, shares, targetShares}` in atomic units and
//!   difficulty. `owed` is what the balances of that mode hold, `paid` what was paid out of
//!   them (net), `mined` what the block and PPS ledgers credited to that mode (MySQL);
//!   `shares` and `targetShares` sum the round work at find and the network difficulty of the
//!   found blocks of that mode that are not orphaned (LMDB), as nodejs-pool sums its block
//!   list. `fees` is the fee balance type (`shares` and `targetShares` 0); `global` the sum of
//!   the three modes.
//! - `wallet`: wallet-rpc's balance and height, 503 when it does not answer.
//! - `wallet/history`: the payouts that reached the network (relayed or confirmed batches).
//! - `userList`: every miner with a balance row or a payment (MySQL), with its due and paid
//!   and its hashrate and workers from the worker's rollups (LMDB), paged by address.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::ApiError;
use super::ApiState;
use crate::admin::payments::{self, BatchView};
use crate::api::params::{Paging, Query};
use crate::domain::BatchStatus;
use crate::domain::{BalanceType, PoolType};
use crate::monero::wallet::{Wallet, WalletClient};
use crate::stats::{self, EntityStats};
use crate::store::lmdb::BlockStatus;
use crate::store::mysql::{credits, payouts};

/// One mode's figures in `GET /admin/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ModeStats {
    owed: u128,
    paid: u128,
    mined: u128,
    shares: u128,
    target_shares: u128,
}

/// `GET /admin/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(super) struct AdminStats {
    pplns: ModeStats,
    pps: ModeStats,
    solo: ModeStats,
    global: ModeStats,
    fees: ModeStats,
}

/// `GET /admin/stats`.
pub(super) async fn stats(State(state): State<ApiState>) -> Result<Json<AdminStats>, ApiError> {
    let money = credits::totals_by_type(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let work: BTreeMap<PoolType, (u128, u128)> = {
        let snap = state.store.read()?;
        let mut work = BTreeMap::new();
        for b in snap.recent_blocks(usize::MAX)? {
            if b.record.status == BlockStatus::Orphaned {
                continue;
            }
            let entry: &mut (u128, u128) = work.entry(b.record.pool_type).or_default();
            entry.0 = entry
                .0
                .saturating_add(b.record.shares_at_find.map_or(0, |d| d.0));
            entry.1 = entry.1.saturating_add(b.record.network_difficulty.0);
        }
        work
    };
    let mode = |name: &str, kind: Option<PoolType>| {
        let m = money.get(name).copied().unwrap_or_default();
        let (shares, target_shares) = kind.and_then(|k| work.get(&k).copied()).unwrap_or_default();
        ModeStats {
            owed: m.owed,
            paid: m.paid,
            mined: m.credited,
            shares,
            target_shares,
        }
    };
    let pplns = mode("pplns", Some(PoolType::Pplns));
    let pps = mode("pps", Some(PoolType::Pps));
    let solo = mode("solo", Some(PoolType::Solo));
    let sum = |f: fn(&ModeStats) -> u128| f(&pplns) + f(&pps) + f(&solo);
    let global = ModeStats {
        owed: sum(|m| m.owed),
        paid: sum(|m| m.paid),
        mined: sum(|m| m.mined),
        shares: sum(|m| m.shares),
        target_shares: sum(|m| m.target_shares),
    };
    Ok(Json(AdminStats {
        pplns,
        pps,
        solo,
        global,
        fees: mode(BalanceType::Fees.as_str(), None),
    }))
}

/// `GET /admin/wallet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) struct WalletView {
    balance: u64,
    unlocked: u64,
    blocks_to_unlock: u64,
    height: u64,
}

/// `GET /admin/wallet`: the pool wallet's balance, unlocked balance and synced height.
pub(super) async fn wallet(State(state): State<ApiState>) -> Result<Json<WalletView>, ApiError> {
    let unavailable = |e: &dyn std::fmt::Display| super::unreachable_service("wallet-rpc", e);
    let wallet = WalletClient::with_timeout(
        &state.config.wallet.url,
        Duration::from_secs(state.config.wallet.timeout_secs.min(10)),
    )
    .map_err(|e| unavailable(&e))?;
    let balance = wallet.get_balance().await.map_err(|e| unavailable(&e))?;
    let height = wallet.height().await.map_err(|e| unavailable(&e))?;
    Ok(Json(WalletView {
        balance: balance.balance.0,
        unlocked: balance.unlocked.0,
        blocks_to_unlock: balance.blocks_to_unlock,
        height: height.0,
    }))
}

/// `GET /admin/wallet/history?limit&page`: the outgoing payouts (relayed or confirmed
/// batches), newest first.
pub(super) async fn wallet_history(
    State(state): State<ApiState>,
    query: Query,
) -> Result<Json<Vec<BatchView>>, ApiError> {
    let paging = Paging::from_query(&query, 50, 500)?;
    Ok(Json(
        payments::list(
            &state.db,
            &[BatchStatus::Relayed, BatchStatus::Confirmed],
            paging.limit,
            paging.offset(),
        )
        .await?,
    ))
}

/// One worker in `GET /admin/userList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserWorker {
    worker: String,
    hash_rate: u64,
    /// Unix seconds of the last share.
    last_hash: u64,
    total_hashes: u64,
    good_shares: u64,
    bad_shares: u64,
}

/// One miner in `GET /admin/userList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserRow {
    paid: u128,
    due: u128,
    address: String,
    workers: Vec<UserWorker>,
    last_hash: u64,
    total_hashes: u64,
    hash_rate: u64,
    good_shares: u64,
    bad_shares: u64,
}

/// `GET /admin/userList?limit&page`.
pub(super) async fn user_list(
    State(state): State<ApiState>,
    query: Query,
) -> Result<Json<Vec<UserRow>>, ApiError> {
    let paging = Paging::from_query(&query, 100, 1000)?;
    let money = payouts::miner_money(&state.db, paging.limit, paging.offset()).await?;
    let snap = state.store.read()?;
    let mut rows = Vec::with_capacity(money.len());
    for m in money {
        let key = if m.payment_id.is_empty() {
            m.address.clone()
        } else {
            format!("{}.{}", m.address, m.payment_id)
        };
        let own = stats::read_miner(&snap, &key)?.unwrap_or_default();
        let workers = stats::read_workers(&snap, &key)?
            .into_iter()
            .map(|(worker, w)| UserWorker {
                worker,
                hash_rate: w.hash,
                last_hash: w.last_hash / 1000,
                total_hashes: w.total_hashes,
                good_shares: w.valid_shares,
                bad_shares: w.invalid_shares,
            })
            .collect();
        rows.push(user_row(key, m.paid, m.due, own, workers));
    }
    Ok(Json(rows))
}

fn user_row(
    address: String,
    paid: u128,
    due: u128,
    own: EntityStats,
    workers: Vec<UserWorker>,
) -> UserRow {
    UserRow {
        paid,
        due,
        address,
        workers,
        last_hash: own.last_hash / 1000,
        total_hashes: own.total_hashes,
        hash_rate: own.hash,
        good_shares: own.valid_shares,
        bad_shares: own.invalid_shares,
    }
}
