//! Share validation, the hottest path. Owns the order of checks of a `submit` (reference
//! §2.5, hardened): session, job id, algorithm, nonce syntax, duplicate nonce per job, stale
//! template, trust decision, PoW (on the verifier threads, never on the reactor), result
//! hash, job difficulty, block candidate; then records the share (and a found block, durably,
//! BEFORE the miner's reply) through the share sink, and updates vardiff, trust and the ban
//! ratio. Returns a [`ShareOutcome`] or a [`Refusal`].
//!
//! Trust (`trust::TrustBook`, process-wide per address and per IP) decides per share:
//! hash it before the reply (untrusted miners, block candidates, high difficulty), skip it, or
//! sample it. A sampled share is handed to the verifier BEFORE the reply (a full queue answers
//! "Overloaded, retry" and credits nothing), answered, and hashed on `Shared::spot_checks`; it
//! is recorded only if the hash holds, and its verdict lands in the trust book as soon as the
//! hash is done, whether or not the connection is still open. The session awaits that check
//! before it handles its next share, and counts a failed one against the ban ratio there.
//! A share refused as "Overloaded" is forgotten (the same nonce may be sent again).
//!
//! It works on one logged-in [`Miner`] (lent by its session), the connection's IP and the
//! port's pool type; it never sees the session itself.
//!
//! A refused share that is the share's own fault (low difficulty, wrong hash, duplicate,
//! stale or expired job, malformed nonce) is counted for the miner's worker through
//! `ShareSink::record_invalid` with its [`InvalidReason`] (never waiting), as is a sampled
//! share whose spot check finds a wrong hash.

use super::jobs::{self, SubmitKeyError};
use super::miner::{ALGO, Miner};
use super::protocol::SubmitParams;
use super::rejection::Rejection;
use super::state::{BoxFuture, HashFailure, Shared};
use super::trust::{Claim, Decision, Verdict, Who};
use crate::domain::{Hash32, Height, PoolType};
use crate::store::lmdb::{BlockStatus, FoundBlock, InvalidReason, InvalidShare, NewShare};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

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

/// Validates and records one share of `miner`, connected from `ip` on a `pool_type` port.
pub async fn submit(
    shared: &Arc<Shared>,
    miner: &mut Miner,
    ip: IpAddr,
    pool_type: PoolType,
    params: SubmitParams,
) -> Result<ShareOutcome, Refusal> {
    // The previous sampled share's check ends before this share is looked at.
    if finish_check(shared, miner, ip).await {
        return Err(Refusal {
            rejection: Rejection::WrongHash,
            ban: true,
        });
    }
    let result = check(shared, miner, ip, pool_type, &params).await;
    if let Some(reason) = result
        .as_ref()
        .err()
        .and_then(|refusal| invalid_reason(refusal.rejection))
    {
        count_invalid(shared, &miner.payout, &miner.worker, reason);
    }
    match result {
        Ok(_) => {
            shared
                .bans
                .record_valid(ip, shared.now(), &shared.settings().bans);
            result
        }
        Err(refusal) if refusal.rejection.is_bad_share() => {
            let verdict = if refusal.rejection == Rejection::WrongHash {
                Verdict::WrongHash
            } else {
                Verdict::Bad
            };
            settle(shared, &miner.payout, ip, Decision::Verify, verdict);
            if bad_share(shared, ip) {
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

/// The counters' reason for a refused share; `None` when the refusal is not a fault of the
/// share (rate limit, overload, a session or protocol error).
pub fn invalid_reason(rejection: Rejection) -> Option<InvalidReason> {
    match rejection {
        Rejection::LowDifficulty => Some(InvalidReason::LowDifficulty),
        Rejection::WrongHash => Some(InvalidReason::WrongHash),
        Rejection::DuplicateShare => Some(InvalidReason::Duplicate),
        // A job id the session no longer keeps is a stale job, like an expired template.
        Rejection::InvalidJobId | Rejection::BlockExpired => Some(InvalidReason::Stale),
        Rejection::MalformedNonce => Some(InvalidReason::Malformed),
        Rejection::WrongAlgo => Some(InvalidReason::Other),
        Rejection::IpBanned
        | Rejection::NoLogin
        | Rejection::TooManyLoginOptions
        | Rejection::TooManyPasswordOptions
        | Rejection::InvalidAddress
        | Rejection::BannedAddress
        | Rejection::ExchangeNeedsPaymentId
        | Rejection::InvalidPaymentId
        | Rejection::LongPaymentId
        | Rejection::PaymentIdNeedsStandardAddress
        | Rejection::NoTemplate
        | Rejection::Unauthenticated
        | Rejection::RateLimited
        | Rejection::UnknownMethod
        | Rejection::InvalidParams
        | Rejection::Overloaded
        | Rejection::AlreadyLoggedIn => None,
    }
}

/// Counts a refused share of `miner`'s `worker` on this host (dropped when the writer's
/// queue is full).
fn count_invalid(shared: &Shared, miner: &Arc<str>, worker: &Arc<str>, reason: InvalidReason) {
    let share = InvalidShare {
        miner: Arc::clone(miner),
        worker: Arc::clone(worker),
        host: shared.pool_id,
        reason,
        timestamp: shared.now(),
    };
    if !shared.sink.record_invalid(share) {
        tracing::debug!(reason = reason.as_str(), "a refused share was not counted");
    }
}

/// Waits for the miner's pending spot check, if any (before its next share, and when the
/// connection ends); a failed one is a bad share of `ip` now (its trust is already gone,
/// process-wide). Returns whether that banned the IP.
pub async fn finish_check(shared: &Shared, miner: &mut Miner, ip: IpAddr) -> bool {
    let Some(pending) = miner.pending_check.take() else {
        return false;
    };
    pending.await.ok() == Some(Verdict::WrongHash) && bad_share(shared, ip)
}

/// Tells the trust book how a share it decided on turned out.
fn settle(shared: &Shared, address: &Arc<str>, ip: IpAddr, decision: Decision, verdict: Verdict) {
    let who = Who { address, ip };
    let settings = shared.settings();
    shared
        .trust
        .settle(&settings.trust, who, decision, verdict, shared.now());
}

/// A bad share counts against its IP's ratio (kept per IP across sessions,
/// `BanList::record_invalid`); returns whether that banned the IP. Its trust is already gone
/// (the trust book settles every verdict).
fn bad_share(shared: &Shared, ip: IpAddr) -> bool {
    let settings = shared.settings();
    shared.bans.record_invalid(ip, shared.now(), &settings.bans)
}

/// Forgets a share refused as "Overloaded", so that its nonce may be sent again.
fn overloaded(miner: &mut Miner, job_id: jobs::JobId, nonces: (u32, u32, u32)) -> Refusal {
    if let Some(mut job) = miner.jobs.get_mut(job_id) {
        job.forget_submission(nonces.0, nonces.1, nonces.2);
    }
    Rejection::Overloaded.into()
}

async fn check(
    shared: &Arc<Shared>,
    miner: &mut Miner,
    ip: IpAddr,
    pool_type: PoolType,
    params: &SubmitParams,
) -> Result<ShareOutcome, Refusal> {
    let settings = shared.settings();
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
    let host = shared.pool_id;
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
        host,
    };

    let claimed_block = network.is_met_by(&claimed);
    let address = miner.payout.clone();
    let claim = Claim {
        job_difficulty: job_diff,
        must_hash: claimed_block || !job.difficulty.is_met_by(&claimed),
    };
    let who = Who {
        address: &address,
        ip,
    };
    let decision = shared
        .trust
        .decide(&settings.trust, who, claim, shared.now());
    let nonces = (nonce, pool_nonce, worker_nonce);
    if matches!(decision, Decision::Sample(_)) {
        let Ok(blob) = hashing_blob() else {
            settle(shared, &address, ip, decision, Verdict::Overloaded);
            return Err(Rejection::BlockExpired.into());
        };
        let checker = shared.clone();
        let seed = template.seed_hash();
        let hashing: BoxFuture<'static, Result<Hash32, HashFailure>> =
            Box::pin(async move { checker.hasher.hash(seed, blob).await });
        let Some(hashing) = enqueue(hashing) else {
            // Not credited, nothing counted against the miner; the key owes a sample.
            settle(shared, &address, ip, decision, Verdict::Overloaded);
            return Err(overloaded(miner, job.id, nonces));
        };
        let now = shared.now();
        let share = share_at(now, false, false);
        let checker = shared.clone();
        miner.pending_check = Some(shared.spot_checks.spawn(async move {
            spot_check(&checker, hashing, claimed, share, ip, decision).await
        }));
        miner.vardiff.record(&settings.vardiff, now, job.difficulty);
        miner.shares += 1;
        return Ok(ShareOutcome::Accepted { trusted: false });
    }
    let verify = decision == Decision::Verify;
    let hash = if verify {
        let blob = hashing_blob()?;
        let hash = match shared.hasher.hash(template.seed_hash(), blob).await {
            Ok(hash) => hash,
            Err(e) => {
                if let HashFailure::Failed(msg) = e {
                    tracing::warn!(error = %msg, "PoW verification failed");
                }
                return Err(overloaded(miner, job.id, nonces));
            }
        };
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
    let share = share_at(now, !verify, is_block);
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
        // The finder's share, then the block, are recorded durably before the block is
        // submitted (see `found_block`), so no crash after the submission leaves the block
        // without its finder's share. A share the store refuses does not hold the block back.
        if let Err(e) = shared.sink.append(share).await {
            tracing::error!(alert = true, error = %e, block.height = %template.height(), "could not record a block finder's share; submitting the block anyway");
        }
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
    } else if let Err(e) = shared.sink.append(share).await {
        tracing::error!(error = %e, "could not record a share");
        return Err(overloaded(miner, job.id, nonces));
    }
    shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
    if verify {
        settle(shared, &address, ip, decision, Verdict::Good);
    } else {
        shared.stats.trusted.fetch_add(1, Ordering::Relaxed);
    }
    miner.vardiff.record(&settings.vardiff, now, job.difficulty);
    miner.shares += 1;
    Ok(outcome)
}

/// Starts `hashing` at once (the verifier takes the job or refuses it on the first poll), so
/// that a full queue is known before the reply; `None` when the verifier refused it.
fn enqueue(
    mut hashing: BoxFuture<'static, Result<Hash32, HashFailure>>,
) -> Option<BoxFuture<'static, Result<Hash32, HashFailure>>> {
    // The task that awaits the rest polls again with its own waker.
    match hashing
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Pending => Some(hashing),
        Poll::Ready(Ok(hash)) => Some(Box::pin(std::future::ready(Ok(hash)))),
        Poll::Ready(Err(e)) => {
            if let HashFailure::Failed(msg) = e {
                tracing::warn!(error = %msg, "PoW spot check failed");
            }
            None
        }
    }
}

/// Ends a sampled share's check: records the share only if its hash is the one the miner
/// claimed, and settles the check in the trust book (a wrong hash ends the trust of the
/// address and the IP). Runs whether or not the miner is still connected.
async fn spot_check(
    shared: &Shared,
    hashing: BoxFuture<'static, Result<Hash32, HashFailure>>,
    claimed: Hash32,
    share: NewShare,
    ip: IpAddr,
    decision: Decision,
) -> Verdict {
    let verdict = match hashing.await {
        Ok(hash) if hash == claimed => Verdict::Good,
        Ok(_) => Verdict::WrongHash,
        Err(e) => {
            // Taken by the verifier, then not hashed (stopping, seed gone): not credited.
            if let HashFailure::Failed(msg) = e {
                tracing::warn!(error = %msg, "PoW spot check failed");
            }
            Verdict::Overloaded
        }
    };
    settle(shared, &share.miner, ip, decision, verdict);
    match verdict {
        Verdict::Good => {
            // Counters move last, so whoever watches them sees the share already recorded.
            if let Err(e) = shared.sink.append(share).await {
                tracing::error!(error = %e, "could not record a spot-checked share");
                return verdict;
            }
            shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::WrongHash => {
            shared.rejections.count(Rejection::WrongHash);
            count_invalid(
                shared,
                &share.miner,
                &share.worker,
                InvalidReason::WrongHash,
            );
            tracing::info!(miner = %share.miner, %ip, "a trusted miner's spot-checked share was bad");
        }
        Verdict::Bad | Verdict::Overloaded => return verdict,
    }
    shared.stats.verified.fetch_add(1, Ordering::Relaxed);
    verdict
}
