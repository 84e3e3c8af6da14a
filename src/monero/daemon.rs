//! monerod access with failover: [`DaemonClient`] holds several endpoints (the first is the
//! primary, the rest are failover), and [`Daemon`] is the seam roles are written against so
//! their edge cases can be driven in unit tests.
//!
//! Owns which endpoint answers: a call that finds its endpoint unreachable (connect failure,
//! broken transport, timeout, HTTP 5xx, "core busy") moves on to the next one and remembers the
//! one that answered; after [`DaemonClient::PRIMARY_RETRY`] (configurable) it tries the primary first again.
//! `submit_block` is different: a found block goes to EVERY endpoint at once and each outcome
//! is reported. Results are converted to domain types here (`rpc_types`, `blob`), so callers
//! never see JSON. Regtest helpers (`generate_blocks`, `pop_blocks`, `flush_txpool`) are for
//! tests and the sandbox.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::domain::{Hash32, Height};
use crate::monero::blob::{Template, TemplateError};
use crate::monero::json_rpc::{DEFAULT_TIMEOUT, RpcClient, RpcError};
use crate::monero::rpc_types::{
    BlockHeader, BlockHeaderResponse, ConvertError, DaemonInfo, Empty, FlushTxpoolRequest,
    GenerateBlocksRequest, GenerateBlocksResponse, GetBlockHeaderByHashRequest,
    GetBlockHeaderByHeightRequest, GetBlockTemplateRequest, GetBlockTemplateResponse,
    GetInfoResponse, GetLastBlockHeaderRequest, PopBlocksRequest, PopBlocksResponse,
    StatusResponse, SubmitBlockResponse, parse_hash,
};

/// monerod's "requested height above the top block" error code.
const CODE_TOO_BIG_HEIGHT: i64 = -2;
/// monerod's internal-error code, used for "can't get block by hash".
const CODE_INTERNAL_ERROR: i64 = -5;
/// monerod's "core is busy" (syncing) error code.
const CODE_CORE_BUSY: i64 = -9;

/// Why a daemon call failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Every endpoint was unreachable; the last endpoint's error is kept.
    #[error("no daemon reachable (tried {tried}); last error: {last}")]
    Unreachable { tried: usize, last: RpcError },
    /// An endpoint answered, with an error.
    #[error(transparent)]
    Rpc(RpcError),
    /// An endpoint answered with fields we cannot use.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// The block template is unusable.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The client was built without endpoints or with a bad URL.
    #[error("daemon configuration: {0}")]
    Config(String),
}

/// What one endpoint said to `submit_block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitStatus {
    /// Accepted (monerod 0.18.3+ echoes the block id).
    Accepted { block_id: Option<Hash32> },
    /// The daemon answered and refused the block (`-7 Block not accepted`, `-6 Wrong block
    /// blob`, ...).
    Rejected { code: i64, message: String },
    /// No answer: the block may or may not have reached it.
    Unreachable { error: String },
}

/// Where a daemon knows a tx ([`DaemonClient::tx_seen`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxSeen {
    /// Neither in its pool nor on its chain.
    Unknown,
    InPool,
    OnChain {
        height: Height,
    },
}

/// One endpoint's outcome of `submit_block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    pub url: String,
    pub status: SubmitStatus,
}

/// Blocks `generateblocks` mined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedBlocks {
    pub hashes: Vec<Hash32>,
    pub height: Height,
}

/// The monerod calls roles need. [`DaemonClient`] is the real implementation.
pub trait Daemon: Send + Sync {
    /// A block template paying `wallet_address`, with `reserve_size` bytes of extra-nonce space.
    fn get_block_template(
        &self,
        wallet_address: &str,
        reserve_size: usize,
    ) -> impl Future<Output = Result<Template, DaemonError>> + Send;

    /// Submits a complete block blob to every endpoint; one outcome per endpoint, in order.
    fn submit_block(&self, blob: &[u8]) -> impl Future<Output = Vec<SubmitOutcome>> + Send;

    /// The header at `height`, or `None` when the chain is not that high.
    fn block_header_by_height(
        &self,
        height: Height,
        fill_pow_hash: bool,
    ) -> impl Future<Output = Result<Option<BlockHeader>, DaemonError>> + Send;

    /// The header of block `hash`, or `None` when the daemon does not know it.
    fn block_header_by_hash(
        &self,
        hash: Hash32,
        fill_pow_hash: bool,
    ) -> impl Future<Output = Result<Option<BlockHeader>, DaemonError>> + Send;

    /// The header of the chain tip.
    fn last_block_header(
        &self,
        fill_pow_hash: bool,
    ) -> impl Future<Output = Result<BlockHeader, DaemonError>> + Send;

    /// Daemon status (`get_info`).
    fn info(&self) -> impl Future<Output = Result<DaemonInfo, DaemonError>> + Send;
}

/// monerod over one or more endpoints, the first preferred.
#[derive(Debug)]
pub struct DaemonClient {
    endpoints: Vec<RpcClient>,
    /// Index of the endpoint that answered last.
    current: AtomicUsize,
    /// When we last moved off the primary (to retry it after `primary_retry`).
    left_primary_at: Mutex<Option<Instant>>,
    primary_retry: Duration,
    /// Endpoints the last [`DaemonClient::check_lag`] found behind the best one: calls start
    /// at an endpoint that is not, while one answers (a lagging daemon serves stale templates).
    lagging: Mutex<Vec<bool>>,
}

/// One endpoint's tip as [`DaemonClient::check_lag`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointTip {
    pub url: String,
    /// `None` when the endpoint did not answer.
    pub height: Option<Height>,
    /// Behind the best answering endpoint by at least the tolerance.
    pub lagging: bool,
}

impl DaemonClient {
    /// How long to stay on a failover endpoint before trying the primary first again.
    pub const PRIMARY_RETRY: Duration = Duration::from_secs(30);

    /// Changes how long calls stay on a failover endpoint before trying the primary again.
    pub fn with_primary_retry(mut self, after: Duration) -> DaemonClient {
        self.primary_retry = after;
        self
    }

    /// A client over `urls` (first primary) with the default per-call timeout.
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Result<DaemonClient, DaemonError> {
        DaemonClient::with_timeout(urls, DEFAULT_TIMEOUT)
    }

    /// A client over `urls` with an explicit per-call timeout.
    pub fn with_timeout<S: AsRef<str>>(
        urls: &[S],
        timeout: Duration,
    ) -> Result<DaemonClient, DaemonError> {
        if urls.is_empty() {
            return Err(DaemonError::Config("no daemon URL given".to_owned()));
        }
        let endpoints = urls
            .iter()
            .map(|url| RpcClient::new(url.as_ref(), timeout))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DaemonError::Config(e.to_string()))?;
        Ok(DaemonClient {
            endpoints,
            current: AtomicUsize::new(0),
            left_primary_at: Mutex::new(None),
            primary_retry: Self::PRIMARY_RETRY,
            lagging: Mutex::new(vec![false; urls.len()]),
        })
    }

    /// The endpoint URLs, primary first.
    pub fn urls(&self) -> Vec<&str> {
        self.endpoints.iter().map(RpcClient::url).collect()
    }

    /// The URL of the endpoint that answered last (the next call starts there).
    pub fn active_url(&self) -> &str {
        self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()].url()
    }

    /// Calls `method` on `/json_rpc`, failing over across endpoints.
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, DaemonError>
    where
        P: serde::Serialize + ?Sized + Sync,
        R: serde::de::DeserializeOwned,
    {
        self.with_failover(|client| async move { client.call(method, params).await })
            .await
    }

    /// `generateblocks` (regtest only): mines `count` blocks to `wallet_address`.
    pub async fn generate_blocks(
        &self,
        count: u64,
        wallet_address: &str,
    ) -> Result<GeneratedBlocks, DaemonError> {
        let request = GenerateBlocksRequest {
            amount_of_blocks: count,
            wallet_address: wallet_address.to_owned(),
            prev_block: None,
            starting_nonce: None,
        };
        // Mining is real hashing: allow about a second per block on top of the usual timeout.
        let timeout = DEFAULT_TIMEOUT + Duration::from_secs(count.saturating_mul(2));
        let response: GenerateBlocksResponse = self
            .with_failover(|client| {
                let request = &request;
                async move {
                    client
                        .call_with_timeout("generateblocks", request, timeout)
                        .await
                }
            })
            .await?;
        check_status(&response.status)?;
        let hashes = response
            .blocks
            .iter()
            .map(|h| parse_hash("blocks", h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GeneratedBlocks {
            hashes,
            height: Height(response.height),
        })
    }

    /// `/pop_blocks` (regtest only): removes the top `count` blocks; returns the new height.
    pub async fn pop_blocks(&self, count: u64) -> Result<Height, DaemonError> {
        let request = PopBlocksRequest { nblocks: count };
        let response: PopBlocksResponse = self
            .with_failover(|client| {
                let request = &request;
                async move { client.call_other("/pop_blocks", request).await }
            })
            .await?;
        check_status(&response.status)?;
        Ok(Height(response.height))
    }

    /// Whether the daemon knows tx `hash`, in its pool or on its chain: `/get_transactions`,
    /// cross-checked with `/get_transaction_pool_hashes` (a tx in either counts as known).
    pub async fn tx_seen(&self, hash: Hash32) -> Result<TxSeen, DaemonError> {
        let wanted = hash.to_string();
        use crate::monero::rpc_types::{
            GetTransactionsRequest, GetTransactionsResponse, TransactionPoolHashesResponse,
        };
        let request = GetTransactionsRequest {
            txs_hashes: vec![wanted.clone()],
        };
        let found: GetTransactionsResponse = self
            .with_failover(|client| {
                let request = &request;
                async move { client.call_other("/get_transactions", request).await }
            })
            .await?;
        check_status(&found.status)?;
        if let Some(tx) = found.txs.iter().find(|t| t.tx_hash == wanted) {
            return Ok(if tx.in_pool {
                TxSeen::InPool
            } else {
                TxSeen::OnChain {
                    height: Height(tx.block_height),
                }
            });
        }
        let pool: TransactionPoolHashesResponse = self
            .with_failover(|client| async move {
                client
                    .call_other("/get_transaction_pool_hashes", &serde_json::json!({}))
                    .await
            })
            .await?;
        check_status(&pool.status)?;
        Ok(if pool.tx_hashes.contains(&wanted) {
            TxSeen::InPool
        } else {
            TxSeen::Unknown
        })
    }

    /// `flush_txpool`: drops every transaction from the daemon's pool.
    pub async fn flush_txpool(&self) -> Result<(), DaemonError> {
        let response: StatusResponse = self
            .call("flush_txpool", &FlushTxpoolRequest::default())
            .await?;
        check_status(&response.status)
    }

    /// Asks every endpoint for its tip (`get_info`, at once) and marks those at least
    /// `tolerance` blocks behind the best answer as lagging, so that calls move off them until
    /// a later check finds them caught up. Returns whether the endpoint calls start at changed.
    pub async fn check_lag(&self, tolerance: u64) -> (bool, Vec<EndpointTip>) {
        let heights: Vec<Option<Height>> =
            join_all(self.endpoints.iter().map(|client| async move {
                let response: GetInfoResponse = client.call("get_info", &Empty {}).await.ok()?;
                check_status(&response.status).ok()?;
                Some(Height(response.height))
            }))
            .await;
        let best = heights.iter().flatten().map(|h| h.0).max();
        let tips: Vec<EndpointTip> = self
            .endpoints
            .iter()
            .zip(&heights)
            .map(|(client, height)| EndpointTip {
                url: client.url().to_owned(),
                height: *height,
                lagging: match (height, best) {
                    (Some(h), Some(best)) => best.saturating_sub(h.0) >= tolerance.max(1),
                    _ => false,
                },
            })
            .collect();
        let before = self.start_index();
        {
            let mut lagging = self
                .lagging
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (flag, tip) in lagging.iter_mut().zip(&tips) {
                if *flag != tip.lagging {
                    match tip.height {
                        Some(h) if tip.lagging => tracing::warn!(
                            daemon.url = %tip.url, height = %h, best = ?best,
                            "daemon is behind the others; not using it"
                        ),
                        _ => tracing::info!(daemon.url = %tip.url, "daemon caught up"),
                    }
                }
                *flag = tip.lagging;
            }
        }
        (self.start_index() != before, tips)
    }

    /// Runs `call` against the current endpoint, moving on while endpoints are unreachable.
    async fn with_failover<'a, R, F, Fut>(&'a self, call: F) -> Result<R, DaemonError>
    where
        F: Fn(&'a RpcClient) -> Fut,
        Fut: Future<Output = Result<R, RpcError>>,
    {
        let count = self.endpoints.len();
        let start = self.start_index();
        let mut last = None;
        for step in 0..count {
            let index = (start + step) % count;
            match call(&self.endpoints[index]).await {
                Ok(value) => {
                    self.remember(index);
                    return Ok(value);
                }
                Err(error) if should_fail_over(&error) => {
                    tracing::warn!(
                        daemon.url = %self.endpoints[index].url(),
                        error = %error,
                        "daemon unreachable, trying the next one"
                    );
                    last = Some(error);
                }
                Err(error) => {
                    self.remember(index);
                    return Err(DaemonError::Rpc(error));
                }
            }
        }
        match last {
            Some(last) => Err(DaemonError::Unreachable { tried: count, last }),
            None => Err(DaemonError::Config("no daemon URL given".to_owned())),
        }
    }

    /// Where calls start: the endpoint that answered last (the primary again after
    /// `primary_retry`), moved on to the next one that is not lagging, if any.
    fn start_index(&self) -> usize {
        let preferred = self.preferred_index();
        let lagging = self
            .lagging
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = self.endpoints.len();
        (0..count)
            .map(|step| (preferred + step) % count)
            .find(|&i| !lagging.get(i).copied().unwrap_or(false))
            .unwrap_or(preferred)
    }

    fn preferred_index(&self) -> usize {
        let current = self.current.load(Ordering::Relaxed) % self.endpoints.len();
        if current == 0 {
            return 0;
        }
        let left = self
            .left_primary_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match *left {
            Some(when) if when.elapsed() >= self.primary_retry => 0,
            _ => current,
        }
    }

    fn remember(&self, index: usize) {
        let previous = self.current.swap(index, Ordering::Relaxed);
        let mut left = self
            .left_primary_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if index == 0 {
            *left = None;
        } else if previous == 0 || left.is_none_or(|when| when.elapsed() >= self.primary_retry) {
            // Left the primary, or retried it and it is still down: wait another period.
            *left = Some(Instant::now());
        }
        if previous != index {
            tracing::info!(daemon.url = %self.endpoints[index].url(), "using daemon");
        }
    }
}

/// Failover for an unreachable endpoint, and for one that is busy syncing.
fn should_fail_over(error: &RpcError) -> bool {
    error.is_unreachable()
        || matches!(error, RpcError::Rpc { code, .. } if *code == CODE_CORE_BUSY)
        || matches!(error, RpcError::Status(status) if status == "BUSY")
}

/// monerod sets `status` to `OK` on success; anything else (`BUSY`, `Failed`) is an error. An
/// absent status (older or partial answers) is not treated as failure.
fn check_status(status: &str) -> Result<(), DaemonError> {
    if status.is_empty() || status == "OK" {
        Ok(())
    } else {
        Err(DaemonError::Rpc(RpcError::Status(status.to_owned())))
    }
}

fn header_from(response: BlockHeaderResponse) -> Result<BlockHeader, DaemonError> {
    check_status(&response.status)?;
    Ok(BlockHeader::try_from(response.block_header)?)
}

impl Daemon for DaemonClient {
    async fn get_block_template(
        &self,
        wallet_address: &str,
        reserve_size: usize,
    ) -> Result<Template, DaemonError> {
        let request = GetBlockTemplateRequest {
            wallet_address: wallet_address.to_owned(),
            reserve_size: reserve_size as u64,
        };
        let response: GetBlockTemplateResponse = self.call("get_block_template", &request).await?;
        check_status(&response.status)?;
        Ok(Template::parse(&response, reserve_size)?)
    }

    async fn submit_block(&self, blob: &[u8]) -> Vec<SubmitOutcome> {
        let params = [hex::encode(blob)];
        let submissions = self.endpoints.iter().map(|client| {
            let params = &params;
            async move {
                let result: Result<SubmitBlockResponse, RpcError> =
                    client.call("submit_block", params).await;
                let status = match result {
                    Ok(response) if response.status.is_empty() || response.status == "OK" => {
                        SubmitStatus::Accepted {
                            block_id: response.block_id.parse().ok(),
                        }
                    }
                    Ok(response) => SubmitStatus::Rejected {
                        code: 0,
                        message: response.status,
                    },
                    Err(RpcError::Rpc { code, message }) => {
                        SubmitStatus::Rejected { code, message }
                    }
                    Err(error) => SubmitStatus::Unreachable {
                        error: error.to_string(),
                    },
                };
                SubmitOutcome {
                    url: client.url().to_owned(),
                    status,
                }
            }
        });
        join_all(submissions).await
    }

    async fn block_header_by_height(
        &self,
        height: Height,
        fill_pow_hash: bool,
    ) -> Result<Option<BlockHeader>, DaemonError> {
        let request = GetBlockHeaderByHeightRequest {
            height: height.0,
            fill_pow_hash,
        };
        match self
            .call::<_, BlockHeaderResponse>("get_block_header_by_height", &request)
            .await
        {
            Ok(response) => header_from(response).map(Some),
            Err(DaemonError::Rpc(RpcError::Rpc { code, .. })) if code == CODE_TOO_BIG_HEIGHT => {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    async fn block_header_by_hash(
        &self,
        hash: Hash32,
        fill_pow_hash: bool,
    ) -> Result<Option<BlockHeader>, DaemonError> {
        let request = GetBlockHeaderByHashRequest {
            hash: hash.to_string(),
            fill_pow_hash,
        };
        match self
            .call::<_, BlockHeaderResponse>("get_block_header_by_hash", &request)
            .await
        {
            Ok(response) => header_from(response).map(Some),
            Err(DaemonError::Rpc(RpcError::Rpc { code, message }))
                if code == CODE_INTERNAL_ERROR && message.contains("can't get block by hash") =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    async fn last_block_header(&self, fill_pow_hash: bool) -> Result<BlockHeader, DaemonError> {
        let request = GetLastBlockHeaderRequest { fill_pow_hash };
        let response: BlockHeaderResponse = self.call("get_last_block_header", &request).await?;
        header_from(response)
    }

    async fn info(&self) -> Result<DaemonInfo, DaemonError> {
        let response: GetInfoResponse = self.call("get_info", &Empty {}).await?;
        check_status(&response.status)?;
        Ok(DaemonInfo::try_from(response)?)
    }
}

/// Runs futures concurrently on this task and collects their outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
