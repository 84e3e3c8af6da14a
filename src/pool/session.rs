//! One miner connection's state and its four methods: `login`, `getjob`, `submit`,
//! `keepalived` (reference §2.2–2.6).
//!
//! The session is owned by its connection task and bound to it: a request is answered from
//! this connection's state, never looked up by `params.id` (nodejs-pool's bug, §12.12); a
//! `params.id` that does not match is "Unauthenticated". State machine:
//! `Connected --login ok--> Mining`; every other method before login is "Unauthenticated";
//! there is no way back (the connection closes instead). A logged-in session holds its
//! [`Miner`] (`miner`); the share path itself is in `validate`, which the session lends that
//! miner and its IP for each `submit`. Rejections are values ([`Rejection`]), counted in
//! `Shared::rejections`.

use super::bans::TokenBucket;
use super::jobs::{
    ExtraNonce, Job, JobId, JobRing, PROXY_POOL_NONCE_OFFSET, PROXY_WORKER_NONCE_OFFSET,
};
use super::login::{self, ClientKind};
use super::miner::{ALGO, Miner, TargetCache};
use super::protocol::{
    self, EXTENSIONS, HexStr, JobMessage, LoginParams, LoginResult, Request, SessionParams, Status,
    SubmitParams,
};
use super::rejection::Rejection;
use super::state::{EmailRegistration, Shared};
use super::templates::TemplateSlot;
use super::validate::{self, Refusal};
use super::vardiff::{DiffMode, Vardiff};
use crate::domain::{Difficulty, PoolType, UnixMillis, WalletAddress};
use crate::monero::blob::{MAX_HASHING_BLOB, Template};
use std::net::IpAddr;
use std::sync::Arc;

/// The port a session came in on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub port: u16,
    pub difficulty: Difficulty,
    pub pool_type: PoolType,
    pub tls: bool,
    /// Connections start with a PROXY protocol header (`port_config.proxyProtocol`), taken
    /// only from `[pool] proxy_addresses`.
    pub proxy_protocol: bool,
}

/// Where the session is.
#[derive(Debug)]
pub enum Phase {
    Connected,
    Mining(Box<Miner>),
}

/// What the connection must do after a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes and carry on.
    Reply(Vec<u8>),
    /// Write these bytes, then close (bans, abuse).
    ReplyAndClose(Vec<u8>),
}

impl Action {
    /// The reply, whether or not the connection stays open.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Action::Reply(bytes) | Action::ReplyAndClose(bytes) => bytes,
        }
    }
}

/// Per-method token buckets.
#[derive(Debug)]
struct Buckets {
    login: TokenBucket,
    getjob: TokenBucket,
    submit: TokenBucket,
    keepalive: TokenBucket,
}

/// One connection's session.
#[derive(Debug)]
pub struct Session {
    /// The id returned at login (`result.id`, also in every job).
    pub id: String,
    pub ip: IpAddr,
    pub port: PortInfo,
    pub phase: Phase,
    pub connected_at: UnixMillis,
    pub last_contact: UnixMillis,
    buckets: Buckets,
    protocol_errors: u32,
    /// Requests refused by a token bucket since the last one it let through.
    rate_limited: u32,
}

impl Session {
    pub fn new(shared: &Shared, ip: IpAddr, port: PortInfo) -> Session {
        let now = shared.now();
        let s = shared.settings();
        Session {
            id: uuid::Uuid::new_v4().to_string(),
            ip,
            port,
            phase: Phase::Connected,
            connected_at: now,
            last_contact: now,
            buckets: Buckets {
                login: TokenBucket::full(s.login_rate, now),
                getjob: TokenBucket::full(s.getjob_rate, now),
                submit: TokenBucket::full(s.submit_rate, now),
                keepalive: TokenBucket::full(s.keepalive_rate, now),
            },
            protocol_errors: 0,
            rate_limited: 0,
        }
    }

    pub fn miner(&self) -> Option<&Miner> {
        match &self.phase {
            Phase::Mining(m) => Some(m),
            Phase::Connected => None,
        }
    }

    pub fn miner_mut(&mut self) -> Option<&mut Miner> {
        match &mut self.phase {
            Phase::Mining(m) => Some(m),
            Phase::Connected => None,
        }
    }

    /// Whether a share has been accepted on this connection.
    pub fn has_shared(&self) -> bool {
        self.miner().is_some_and(|m| m.shares > 0)
    }

    /// A request that is not usable JSON-RPC (no method). Cut after too many.
    pub fn invalid_request(
        &mut self,
        shared: &Shared,
        id: Option<&serde_json::value::RawValue>,
    ) -> Action {
        self.reject(shared, id, Rejection::InvalidParams)
    }

    fn reject(
        &mut self,
        shared: &Shared,
        id: Option<&serde_json::value::RawValue>,
        rejection: Rejection,
    ) -> Action {
        shared.rejections.count(rejection);
        let reply = protocol::reply_err(id, rejection.miner_message());
        let protocol_error = matches!(
            rejection,
            Rejection::InvalidParams | Rejection::UnknownMethod | Rejection::AlreadyLoggedIn
        );
        if protocol_error {
            self.protocol_errors += 1;
            if self.protocol_errors > shared.settings().protocol_error_limit {
                return Action::ReplyAndClose(reply);
            }
        }
        if rejection == Rejection::IpBanned {
            return Action::ReplyAndClose(reply);
        }
        Action::Reply(reply)
    }

    /// Handles one request.
    pub async fn handle(&mut self, shared: &Arc<Shared>, request: Request) -> Action {
        let now = shared.now();
        let id = Some(&*request.id);
        if shared.bans.is_ip_banned(self.ip, now) {
            return self.reject(shared, id, Rejection::IpBanned);
        }
        let settings = shared.settings();
        let (bucket, limit) = match request.method.as_str() {
            "login" => (&mut self.buckets.login, settings.login_rate),
            "getjob" => (&mut self.buckets.getjob, settings.getjob_rate),
            "submit" => (&mut self.buckets.submit, settings.submit_rate),
            "keepalived" | "keepalive" => (&mut self.buckets.keepalive, settings.keepalive_rate),
            _ => return self.reject(shared, id, Rejection::UnknownMethod),
        };
        if !bucket.take(limit, now) {
            // A client that keeps going past its limit (100,000 requests in one write) is
            // cut after `pool.protocolErrorLimit` refusals in a row, not answered forever.
            self.rate_limited = self.rate_limited.saturating_add(1);
            let action = self.reject(shared, id, Rejection::RateLimited);
            if self.rate_limited > settings.protocol_error_limit {
                tracing::debug!(ip = %self.ip, "rate limit refused too often, closing");
                return Action::ReplyAndClose(action.into_bytes());
            }
            return action;
        }
        self.rate_limited = 0;
        self.last_contact = now;
        let params = request.params.as_deref();
        match request.method.as_str() {
            "login" => match protocol::params::<LoginParams>(params) {
                Some(p) => self.login(shared, &request.id, p),
                None => self.reject(shared, id, Rejection::InvalidParams),
            },
            "getjob" => match protocol::params::<SessionParams>(params) {
                Some(p) => self.getjob(shared, &request.id, p),
                None => self.reject(shared, id, Rejection::InvalidParams),
            },
            "submit" => match protocol::params::<SubmitParams>(params) {
                Some(p) => {
                    if let Err(r) = self.check_session_id(p.id.as_deref()) {
                        return self.reject(shared, id, r);
                    }
                    let (ip, pool_type) = (self.ip, self.port.pool_type);
                    let Some(miner) = self.miner_mut() else {
                        return self.reject(shared, id, Rejection::Unauthenticated);
                    };
                    match validate::submit(shared, miner, ip, pool_type, p).await {
                        Ok(_) => {
                            Action::Reply(protocol::reply_ok(&request.id, &Status { status: "OK" }))
                        }
                        Err(Refusal { rejection, ban }) => {
                            let action = self.reject(shared, id, rejection);
                            if ban {
                                return Action::ReplyAndClose(action.into_bytes());
                            }
                            action
                        }
                    }
                }
                None => {
                    if self.miner().is_none() {
                        return self.reject(shared, id, Rejection::Unauthenticated);
                    }
                    self.reject(shared, id, Rejection::InvalidParams)
                }
            },
            _ => match protocol::params::<SessionParams>(params) {
                Some(p) => match self.check_session_id(p.id.as_deref()) {
                    Ok(()) => Action::Reply(protocol::reply_ok(
                        &request.id,
                        &Status {
                            status: "KEEPALIVED",
                        },
                    )),
                    Err(r) => self.reject(shared, id, r),
                },
                None => self.reject(shared, id, Rejection::InvalidParams),
            },
        }
    }

    /// The session must be logged in, and a given `params.id` must be this session's.
    fn check_session_id(&self, given: Option<&str>) -> Result<(), Rejection> {
        if self.miner().is_none() {
            return Err(Rejection::Unauthenticated);
        }
        match given {
            Some(given) if given != self.id => Err(Rejection::Unauthenticated),
            _ => Ok(()),
        }
    }

    fn login(
        &mut self,
        shared: &Shared,
        req_id: &serde_json::value::RawValue,
        params: LoginParams,
    ) -> Action {
        let id = Some(req_id);
        if self.miner().is_some() {
            return self.reject(shared, id, Rejection::AlreadyLoggedIn);
        }
        let parsed = match login::parse(
            params.login.as_deref(),
            params.pass.as_deref(),
            params.rigid.as_deref(),
            params.agent.as_deref(),
        ) {
            Ok(p) => p,
            Err(r) => return self.reject(shared, id, r),
        };
        let settings = shared.settings();
        let address = match WalletAddress::parse(&parsed.address, settings.network) {
            Ok(a) => a,
            Err(_) => return self.reject(shared, id, Rejection::InvalidAddress),
        };
        let banned = |text: &str| {
            shared.bans.is_address_banned(text) || settings.banned_addresses.contains(text)
        };
        if banned(&address.text) {
            return self.reject(shared, id, Rejection::BannedAddress);
        }
        if settings.exchange_addresses.contains(&address.text)
            && parsed.payment_id.is_none()
            && address.payment_id.is_none()
        {
            return self.reject(shared, id, Rejection::ExchangeNeedsPaymentId);
        }
        // `address.<16-hex id>` is paid as the integrated address the two make (login.rs).
        let payee = match parsed.payment_id {
            None => address,
            Some(pid) => match address.integrated_with(pid) {
                Ok(integrated) => integrated,
                Err(_) => return self.reject(shared, id, Rejection::PaymentIdNeedsStandardAddress),
            },
        };
        if parsed.payment_id.is_some() && banned(&payee.text) {
            // A ban on the integrated address holds for the `address.<id>` that makes it.
            return self.reject(shared, id, Rejection::BannedAddress);
        }
        let Some(slot) = shared.current_template() else {
            return self.reject(shared, id, Rejection::NoTemplate);
        };
        if params
            .algo
            .as_ref()
            .is_some_and(|list| !list.is_empty() && !list.iter().any(|a| a == ALGO || a == "rx"))
        {
            return self.reject(shared, id, Rejection::WrongAlgo);
        }
        let (mode, start) = match (parsed.client, parsed.fixed_difficulty) {
            (ClientKind::Proxy, _) => (DiffMode::Proxy, self.port.difficulty),
            (ClientKind::NiceHash, _) => (DiffMode::NiceHash, self.port.difficulty),
            (_, Some(fixed)) => (DiffMode::Fixed, fixed),
            _ => (DiffMode::Vardiff, self.port.difficulty),
        };
        let difficulty = Vardiff::clamp(&settings.vardiff, start, mode);
        let now = shared.now();
        let payout: Arc<str> = payee.text.into();
        if let (Some(email), Some(tx)) = (parsed.email.clone(), shared.emails.as_ref()) {
            // Best effort: a full queue drops the registration, never the login.
            let _ = tx.try_send(EmailRegistration {
                payout: payout.to_string(),
                email,
            });
        }
        let miner = Miner {
            payout,
            worker: parsed.worker.into(),
            client: parsed.client,
            mode,
            difficulty,
            vardiff: Vardiff::new(now),
            jobs: JobRing::default(),
            target: TargetCache::default(),
            algo_extension: params.algo.is_some(),
            shares: 0,
            pending_check: None,
        };
        self.phase = Phase::Mining(Box::new(miner));
        shared.stats.miner_joined(self.port.port);
        let session_id = self.id.clone();
        let reply = self.next_job(shared, &slot, |job| {
            protocol::reply_ok(
                req_id,
                &LoginResult {
                    id: &session_id,
                    job,
                    status: "OK",
                    extensions: EXTENSIONS,
                },
            )
        });
        match reply {
            Ok(reply) => {
                tracing::debug!(session = %self.id, ip = %self.ip, port = self.port.port, "miner logged in");
                Action::Reply(reply)
            }
            Err(r) => self.reject(shared, id, r),
        }
    }

    fn getjob(
        &mut self,
        shared: &Shared,
        req_id: &serde_json::value::RawValue,
        params: SessionParams,
    ) -> Action {
        if let Err(r) = self.check_session_id(params.id.as_deref()) {
            return self.reject(shared, Some(req_id), r);
        }
        let Some(slot) = shared.current_template() else {
            return self.reject(shared, Some(req_id), Rejection::NoTemplate);
        };
        match self.next_job(shared, &slot, |job| protocol::reply_ok(req_id, job)) {
            Ok(reply) => Action::Reply(reply),
            Err(r) => self.reject(shared, Some(req_id), r),
        }
    }

    /// Retargets (vardiff), cuts a new job from `slot` for this miner and hands it to
    /// `render` (which serializes it into a reply or a push). The job borrows stack buffers
    /// and the session, so nothing is allocated here.
    pub fn next_job<R>(
        &mut self,
        shared: &Shared,
        slot: &Arc<TemplateSlot<Template>>,
        render: impl FnOnce(&JobMessage<'_>) -> R,
    ) -> Result<R, Rejection> {
        let settings = shared.settings();
        let now = shared.now();
        let Session { id, phase, .. } = self;
        let Phase::Mining(miner) = phase else {
            return Err(Rejection::Unauthenticated);
        };
        let template = &slot.template;
        let network = template.difficulty();
        if let Some(d) = miner.vardiff.retarget(
            &settings.vardiff,
            now,
            miner.difficulty,
            miner.mode,
            network,
        ) {
            miner.difficulty = d;
        }
        let extra = ExtraNonce {
            counter: slot.next_job_counter(),
            instance: shared.instance_id,
        };
        let job_id = JobId::next(&shared.job_ids);
        let job_id_hex = HexStr::<16>::of(&job_id.0.to_be_bytes());
        let seed_hash = HexStr::<64>::of(&template.seed_hash().0);
        let proxy = miner.client == ClientKind::Proxy;
        let job = Job::new(job_id, slot.seq, extra, miner.difficulty, network, proxy);
        let difficulty = job.difficulty;
        let target = miner.target.of(difficulty);
        let mut message = JobMessage {
            blob: None,
            job_id: job_id_hex.as_str(),
            target: None,
            id,
            algo: ALGO,
            height: template.height().0,
            seed_hash: seed_hash.as_str(),
            blocktemplate_blob: None,
            difficulty: None,
            reserved_offset: None,
            client_nonce_offset: None,
            client_pool_offset: None,
            target_diff: None,
            target_diff_hex: None,
        };
        let rendered = if proxy {
            let blob = template
                .block_blob(&extra.bytes(), 0)
                .map_err(|_| Rejection::NoTemplate)?;
            let blob = hex::encode(blob);
            let offset = template.reserved_offset();
            message.blocktemplate_blob = Some(&blob);
            message.difficulty = Some(network.0);
            message.reserved_offset = Some(offset);
            message.client_pool_offset = Some(offset + PROXY_POOL_NONCE_OFFSET);
            message.client_nonce_offset = Some(offset + PROXY_WORKER_NONCE_OFFSET);
            message.target_diff = difficulty.as_u64();
            message.target_diff_hex = Some(target);
            render(&message)
        } else {
            let mut raw = [0u8; MAX_HASHING_BLOB];
            let len = template
                .write_hashing_blob(&extra.bytes(), &mut raw)
                .map_err(|_| Rejection::NoTemplate)?;
            let blob = HexStr::<{ 2 * MAX_HASHING_BLOB }>::of(&raw[..len]);
            message.blob = Some(blob.as_str());
            message.target = Some(target);
            render(&message)
        };
        miner.jobs.push(job);
        Ok(rendered)
    }
}
