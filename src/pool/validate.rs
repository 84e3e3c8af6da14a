//! Share validation, the hottest path. Owns the order of checks of a `submit` (reference
//! §2.5, hardened): session, job id, algorithm, nonce syntax, duplicate nonce per job, stale
//! template, trust decision, PoW (on the verifier threads, never on the reactor), result
//! hash, job difficulty, block candidate; then records the share (and a found block, durably,
//! BEFORE the miner's reply) through the share sink, and updates vardiff, trust and the ban
//! ratio. Returns a [`ShareOutcome`] or a [`Refusal`].
//!
//! Spot checks: a trusted miner's share that the trust draw picks for hashing (and that is
//! not a block candidate) is answered at once and hashed afterwards on
//! `Shared::spot_checks`; it is recorded only if the hash matches, so nothing unverified is
//! credited that trust would not have credited anyway. A failed spot check is counted and,
//! at the miner's next submit, breaks its trust and counts against its ban ratio. Untrusted
//! miners' shares and block candidates are always hashed before the reply.

use super::jobs::{self, SubmitKeyError};
use super::protocol::SubmitParams;
use super::rejection::Rejection;
use super::session::{ALGO, Miner, Session};
use super::state::{HashFailure, Shared};
use crate::domain::{Hash32, Height};
use crate::store::lmdb::{BlockStatus, FoundBlock, NewShare};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// An accepted share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareOutcome {
    /// Credited; `trusted` when its PoW was not computed.
    Accepted { trusted: bool },
    /// Credited and it was a block, submitted and recorded.
    Block { height: Height, hash: Hash32 },
}

/// A refused share; `ban` when the ratio check banned the IP (close the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub rejection: Rejection,
    pub ban: bool,
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Refusal {
        Refusal {
            rejection,
            ban: false,
        }
    }
}

/// Validates and records one share.
pub async fn submit(
    shared: &Arc<Shared>,
    session: &mut Session,
    params: SubmitParams,
) -> Result<ShareOutcome, Refusal> {
    let ip = session.ip;
    if let Some(miner) = session.miner_mut() {
        // Shares answered earlier whose spot check failed: each is a bad share now (this
        // one is then hashed before its reply, trust being gone).
        for _ in 0..miner.failed_spot_checks.swap(0, Ordering::Relaxed) {
            if bad_share(shared, ip, miner) {
                return Err(Refusal {
                    rejection: Rejection::WrongHash,
                    ban: true,
                });
            }
        }
    }
    let result = check(shared, session, &params).await;
    let Some(miner) = session.miner_mut() else {
        return result;
    };
    match result {
        Ok(_) => {
            shared
                .bans
                .record_valid(ip, shared.now(), &shared.settings().bans);
            result
        }
        Err(refusal) if refusal.rejection.is_bad_share() => {
            if bad_share(shared, ip, miner) {
                return Err(Refusal {
                    rejection: refusal.rejection,
                    ban: true,
                });
            }
            result
        }
        Err(_) => result,
    }
}

/// A bad share breaks the miner's trust and counts against its IP's ratio (kept per IP
/// across sessions, `BanList::record_invalid`); returns whether that banned the IP.
fn bad_share(shared: &Shared, ip: std::net::IpAddr, miner: &mut Miner) -> bool {
    let settings = shared.settings();
    miner.trust.broken(&settings.trust);
    shared.bans.record_invalid(ip, shared.now(), &settings.bans)
}

async fn check(
    shared: &Arc<Shared>,
    session: &mut Session,
    params: &SubmitParams,
) -> Result<ShareOutcome, Refusal> {
    let settings = shared.settings();
    let pool_type = session.port.pool_type;
    let Some(miner) = session.miner_mut() else {
        return Err(Rejection::Unauthenticated.into());
    };
    let job_id = jobs::JobId::parse(&params.job_id).ok_or(Rejection::InvalidJobId)?;
    if params
        .algo
        .as_deref()
        .is_some_and(|a| a != ALGO && a != "rx")
    {
        return Err(Rejection::WrongAlgo.into());
    }
    let mut job = miner.jobs.get_mut(job_id).ok_or(Rejection::InvalidJobId)?;
    let nonce = jobs::parse_nonce(&params.nonce).ok_or(Rejection::MalformedNonce)?;
    let (pool_nonce, worker_nonce) = if job.proxy {
        match (params.pool_nonce, params.worker_nonce) {
            (Some(p), Some(w)) => (p, w),
            _ => return Err(Rejection::MalformedNonce.into()),
        }
    } else {
        (0, 0)
    };
    let claimed: Hash32 = params.result.parse().map_err(|_| Rejection::WrongHash)?;
    job.record_submission(nonce, pool_nonce, worker_nonce)
        .map_err(|e| match e {
            SubmitKeyError::Duplicate => Rejection::DuplicateShare,
            SubmitKeyError::TooMany => Rejection::RateLimited,
        })?;
    let job = job.clone();
    let slot = shared
        .templates
        .get(job.template_seq)
        .ok_or(Rejection::BlockExpired)?;
    let template = &slot.template;
    let extra = job.extra_nonce.with_proxy(pool_nonce, worker_nonce);
    let network = template.difficulty();
    let job_diff = job.difficulty.as_u64().unwrap_or(u64::MAX);

    let hashing_blob = || -> Result<Vec<u8>, Rejection> {
        Ok(template
            .hashing_blob(&extra)
            .map_err(|_| Rejection::BlockExpired)?
            .with_nonce(nonce)
            .into_bytes())
    };
    let (payout, worker) = (miner.payout.clone(), miner.worker.clone());
    // Called once, on whichever path records the share: it takes the two names.
    let share_at = move |timestamp, trusted, found_block| NewShare {
        height: template.height(),
        timestamp,
        miner: payout,
        worker,
        difficulty: job_diff,
        job_difficulty: job_diff,
        pool_type,
        trusted,
        found_block,
    };

    let claimed_block = network.is_met_by(&claimed);
    let draw: u8 = rand::random();
    let verify = miner
        .trust
        .must_verify(&settings.trust, job_diff, claimed_block, draw);
    if verify
        && !claimed_block
        && settings.trust.enabled
        && miner.trust.is_trusted()
        && job_diff < settings.trust.max_difficulty
        && job.difficulty.is_met_by(&claimed)
    {
        let blob = hashing_blob()?;
        let now = shared.now();
        let share = share_at(now, false, false);
        let seed = template.seed_hash();
        let failed = miner.failed_spot_checks.clone();
        let checker = shared.clone();
        shared.spot_checks.spawn(async move {
            spot_check(&checker, seed, blob, claimed, share, &failed).await;
        });
        miner.trust.accepted(&settings.trust, true);
        miner.vardiff.record(&settings.vardiff, now, job.difficulty);
        miner.shares += 1;
        return Ok(ShareOutcome::Accepted { trusted: false });
    }
    let hash = if verify {
        let blob = hashing_blob()?;
        let hash = shared
            .hasher
            .hash(template.seed_hash(), blob)
            .await
            .map_err(|e| match e {
                HashFailure::Overloaded => Rejection::Overloaded,
                HashFailure::Failed(msg) => {
                    tracing::warn!(error = %msg, "PoW verification failed");
                    Rejection::Overloaded
                }
            })?;
        shared.stats.verified.fetch_add(1, Ordering::Relaxed);
        if hash != claimed {
            return Err(Rejection::WrongHash.into());
        }
        hash
    } else {
        claimed
    };
    if !job.difficulty.is_met_by(&hash) {
        return Err(Rejection::LowDifficulty.into());
    }
    let now = shared.now();
    let is_block = network.is_met_by(&hash);
    let mut outcome = ShareOutcome::Accepted { trusted: !verify };
    if is_block {
        // `is_block` implies `verify` (trust never skips a claimed block).
        let blob = template
            .block_blob(&extra, nonce)
            .map_err(|_| Rejection::BlockExpired)?;
        let block_id = template
            .block_id(&extra, nonce)
            .map_err(|_| Rejection::BlockExpired)?;
        let found = FoundBlock {
            height: template.height(),
            hash: block_id,
            network_difficulty: network,
            reward: template.expected_reward(),
            pool_type,
            miner: miner.payout.clone(),
            worker: miner.worker.clone(),
            timestamp: now,
            shares_at_find: None,
            status: BlockStatus::Candidate,
            blob,
        };
        // Recorded durably before it is submitted (see `found_block`).
        let result = super::found_block::submit(shared, found).await;
        if result.accepted || result.uncertain {
            // An unanswered submission may still have reached the chain: the block manager
            // checks every found block against the chain (hash at height).
            tracing::info!(
                uncertain = result.uncertain,
                block.height = %template.height(),
                block.hash = %block_id,
                miner = %miner.payout,
                "block found"
            );
            shared.stats.blocks.fetch_add(1, Ordering::Relaxed);
            outcome = ShareOutcome::Block {
                height: template.height(),
                hash: block_id,
            };
        } else {
            tracing::warn!(block.height = %template.height(), details = ?result.details, "block rejected by every daemon");
        }
    }
    let share = share_at(now, !verify, matches!(outcome, ShareOutcome::Block { .. }));
    if let Err(e) = shared.sink.append(share).await {
        tracing::error!(error = %e, "could not record a share");
        return Err(Rejection::Overloaded.into());
    }
    shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
    if !verify {
        shared.stats.trusted.fetch_add(1, Ordering::Relaxed);
    }
    miner.trust.accepted(&settings.trust, verify);
    miner.vardiff.record(&settings.vardiff, now, job.difficulty);
    miner.shares += 1;
    Ok(outcome)
}

/// Hashes a trusted miner's sampled share after its reply and records it only if the hash
/// is the one the miner claimed. A verifier too busy to take it leaves the share as trust
/// would have left it: recorded, flagged trusted (unverified).
async fn spot_check(
    shared: &Shared,
    seed: Hash32,
    blob: Vec<u8>,
    claimed: Hash32,
    mut share: NewShare,
    failed: &std::sync::atomic::AtomicU32,
) {
    // Counters move last, so whoever watches them sees the share already recorded.
    let verified = match shared.hasher.hash(seed, blob).await {
        Ok(hash) if hash != claimed => {
            shared.rejections.count(Rejection::WrongHash);
            failed.fetch_add(1, Ordering::Relaxed);
            shared.stats.verified.fetch_add(1, Ordering::Relaxed);
            tracing::info!(miner = %share.miner, "a trusted miner's spot-checked share was bad");
            return;
        }
        Ok(_) => true,
        Err(e) => {
            if let HashFailure::Failed(msg) = e {
                tracing::warn!(error = %msg, "PoW spot check failed");
            }
            share.trusted = true;
            false
        }
    };
    if let Err(e) = shared.sink.append(share).await {
        tracing::error!(error = %e, "could not record a spot-checked share");
        return;
    }
    let counter = if verified {
        &shared.stats.verified
    } else {
        &shared.stats.trusted
    };
    counter.fetch_add(1, Ordering::Relaxed);
    shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
}
