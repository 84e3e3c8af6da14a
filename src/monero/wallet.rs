//! monero-wallet-rpc access: [`WalletClient`] is the real implementation of the [`Wallet`]
//! seam the payments role is written against.
//!
//! Owns the wallet methods the pool needs (sign with `do_not_relay`, relay, look transfers
//! up, balance, store, refresh) with typed results, and the classification of failures that
//! payments' exactly-once logic depends on: [`WalletError::may_have_sent`] is `true` whenever
//! the wallet could have broadcast something we did not hear about (timeout, broken
//! connection, garbled answer). It keeps no state and never retries a transfer on its own.
//! Wallet passwords and `--rpc-login` credentials are never logged.

use std::future::Future;
use std::time::Duration;

use crate::domain::{Atomic, Hash32, Height};
use crate::monero::json_rpc::{RpcClient, RpcError, RpcLogin};
use crate::monero::rpc_types::{
    Balance, ConvertError, CreateAddressRequest, CreateAddressResponse, CreateWalletRequest, Empty,
    GetAddressRequest, GetAddressResponse, GetBalanceRequest, GetBalanceResponse,
    GetTransferByTxidRequest, GetTransferByTxidResponse, GetTransfersRequest, GetTransfersResponse,
    MakeIntegratedAddressRequest, MakeIntegratedAddressResponse, OpenWalletRequest, RefreshRequest,
    RefreshResponse, RelayTxRequest, RelayTxResponse, SignedTransfer, Transfer,
    TransferDestination, TransferRequest, TransferResponse, WalletHeightResponse, parse_hash,
};

/// Wallet-rpc error codes (`wallet_rpc_server_error_codes.h`).
mod code {
    pub const WRONG_ADDRESS: i64 = -2;
    pub const WRONG_PAYMENT_ID: i64 = -5;
    pub const WRONG_TXID: i64 = -8;
    pub const NOT_ENOUGH_MONEY: i64 = -17;
    pub const NOT_ENOUGH_OUTS_TO_MIX: i64 = -19;
    pub const ZERO_DESTINATION: i64 = -20;
    pub const NOT_ENOUGH_UNLOCKED_MONEY: i64 = -37;
    pub const ZERO_AMOUNT: i64 = -46;
}

/// The default per-call timeout: building and signing a many-output transaction takes time.
pub const WALLET_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a wallet call failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The wallet has too little (unlocked) money, or too few outputs to mix with. Nothing
    /// was sent; retry later.
    #[error("not enough money: {message}")]
    NotEnoughMoney { code: i64, message: String },
    /// A destination address, amount or payment id was refused. Nothing was sent.
    #[error("invalid destination: {message}")]
    InvalidDestination { code: i64, message: String },
    /// The wallet refused the call for another reason. Nothing was sent.
    #[error("wallet refused ({code}): {message}")]
    Refused { code: i64, message: String },
    /// The wallet was never reached. Nothing was sent.
    #[error("wallet not reached: {0}")]
    NotReached(RpcError),
    /// No usable answer after the request may have arrived (timeout, broken connection, HTTP
    /// error, garbled JSON). The wallet MAY have signed and broadcast: treat as "maybe sent".
    #[error("no usable answer from the wallet (maybe executed): {0}")]
    Ambiguous(RpcError),
    /// The wallet answered with fields we cannot use. It did act on the request.
    #[error("wallet answered with unusable fields: {0}")]
    Convert(#[from] ConvertError),
    /// The client configuration is unusable (bad URL).
    #[error("wallet configuration: {0}")]
    Config(String),
}

impl WalletError {
    /// Whether the request may have taken effect (a transfer may have been broadcast).
    pub fn may_have_sent(&self) -> bool {
        matches!(self, WalletError::Ambiguous(_) | WalletError::Convert(_))
    }

    fn from_rpc(error: RpcError) -> WalletError {
        match error {
            RpcError::Rpc { code, message } => match code {
                code::NOT_ENOUGH_MONEY
                | code::NOT_ENOUGH_UNLOCKED_MONEY
                | code::NOT_ENOUGH_OUTS_TO_MIX => WalletError::NotEnoughMoney { code, message },
                code::WRONG_ADDRESS
                | code::WRONG_PAYMENT_ID
                | code::ZERO_DESTINATION
                | code::ZERO_AMOUNT => WalletError::InvalidDestination { code, message },
                _ => WalletError::Refused { code, message },
            },
            RpcError::InvalidUrl { .. } => WalletError::Config(error.to_string()),
            other if other.may_have_executed() => WalletError::Ambiguous(other),
            other => WalletError::NotReached(other),
        }
    }
}

/// One payee of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub address: String,
    pub amount: Atomic,
}

/// How to sign a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferOptions {
    /// 0 default, 1 unimportant, 2 normal, 3 elevated, 4 priority.
    pub priority: u32,
    /// Sign only; broadcast later with `relay_tx` (the payments two-phase protocol).
    pub do_not_relay: bool,
    /// Spend from this account.
    pub account_index: u32,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            priority: 0,
            do_not_relay: true,
            account_index: 0,
        }
    }
}

/// Which transfers `get_transfers` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransfersQuery {
    pub incoming: bool,
    pub outgoing: bool,
    pub pending: bool,
    pub failed: bool,
    pub pool: bool,
    /// Only transfers at or above this height (pool/pending ones have none and are kept).
    pub min_height: Option<Height>,
    pub account_index: u32,
}

impl TransfersQuery {
    /// Everything the pool sent: confirmed, pending, failed.
    pub fn outgoing() -> TransfersQuery {
        TransfersQuery {
            incoming: false,
            outgoing: true,
            pending: true,
            failed: true,
            pool: false,
            min_height: None,
            account_index: 0,
        }
    }

    /// Confirmed incoming transfers at or above `min_height` (coinbase outputs among them:
    /// `Transfer::is_coinbase`).
    pub fn confirmed_incoming(min_height: Height) -> TransfersQuery {
        TransfersQuery {
            incoming: true,
            outgoing: false,
            pending: false,
            failed: false,
            pool: false,
            min_height: Some(min_height),
            account_index: 0,
        }
    }

    /// Everything received, confirmed or in the pool.
    pub fn incoming() -> TransfersQuery {
        TransfersQuery {
            incoming: true,
            outgoing: false,
            pending: false,
            failed: false,
            pool: true,
            min_height: None,
            account_index: 0,
        }
    }
}

/// The wallet calls roles need. [`WalletClient`] is the real implementation.
pub trait Wallet: Send + Sync {
    /// Signs (and unless `do_not_relay`, broadcasts) one transaction paying `destinations`.
    fn transfer(
        &self,
        destinations: &[Destination],
        options: TransferOptions,
    ) -> impl Future<Output = Result<SignedTransfer, WalletError>> + Send;

    /// Broadcasts a transaction signed with `do_not_relay` from its hex metadata. Idempotent:
    /// relaying the same metadata twice gives the same hash and one transaction.
    fn relay_tx(
        &self,
        tx_metadata: &str,
    ) -> impl Future<Output = Result<Hash32, WalletError>> + Send;

    /// The wallet's transfers matching `query`, all categories in one list (see `kind`).
    fn get_transfers(
        &self,
        query: TransfersQuery,
    ) -> impl Future<Output = Result<Vec<Transfer>, WalletError>> + Send;

    /// One transfer by id, or `None` when the wallet does not know it.
    fn get_transfer_by_txid(
        &self,
        txid: Hash32,
    ) -> impl Future<Output = Result<Option<Transfer>, WalletError>> + Send;

    /// Balance of account 0.
    fn get_balance(&self) -> impl Future<Output = Result<Balance, WalletError>> + Send;

    /// Saves the wallet file.
    fn store(&self) -> impl Future<Output = Result<(), WalletError>> + Send;

    /// Scans new blocks now; returns how many were fetched.
    fn refresh(&self) -> impl Future<Output = Result<u64, WalletError>> + Send;

    /// The wallet's synced height.
    fn height(&self) -> impl Future<Output = Result<Height, WalletError>> + Send;
}

/// monero-wallet-rpc over one endpoint.
#[derive(Debug, Clone)]
pub struct WalletClient {
    rpc: RpcClient,
}

impl WalletClient {
    /// A client for `url` with [`WALLET_TIMEOUT`].
    pub fn new(url: &str) -> Result<WalletClient, WalletError> {
        WalletClient::with_timeout(url, WALLET_TIMEOUT)
    }

    /// A client for `url` with an explicit per-call timeout.
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<WalletClient, WalletError> {
        let rpc = RpcClient::new(url, timeout).map_err(|e| WalletError::Config(e.to_string()))?;
        Ok(WalletClient { rpc })
    }

    /// Uses HTTP basic auth (`--rpc-login user:pass`).
    pub fn with_login(self, login: RpcLogin) -> WalletClient {
        WalletClient {
            rpc: self.rpc.with_login(login),
        }
    }

    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, WalletError>
    where
        P: serde::Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        self.rpc
            .call(method, params)
            .await
            .map_err(WalletError::from_rpc)
    }

    /// `create_wallet` (wallet-rpc started with `--wallet-dir`); the new wallet is opened.
    pub async fn create_wallet(&self, filename: &str, password: &str) -> Result<(), WalletError> {
        let request = CreateWalletRequest {
            filename: filename.to_owned(),
            password: password.to_owned(),
            language: "English".to_owned(),
        };
        let _: Empty = self.call("create_wallet", &request).await?;
        Ok(())
    }

    /// `open_wallet`.
    pub async fn open_wallet(&self, filename: &str, password: &str) -> Result<(), WalletError> {
        let request = OpenWalletRequest {
            filename: filename.to_owned(),
            password: password.to_owned(),
        };
        let _: Empty = self.call("open_wallet", &request).await?;
        Ok(())
    }

    /// `close_wallet` (stores it first).
    pub async fn close_wallet(&self) -> Result<(), WalletError> {
        let _: Empty = self.call("close_wallet", &Empty {}).await?;
        Ok(())
    }

    /// The primary address of account 0.
    pub async fn get_address(&self) -> Result<String, WalletError> {
        let request = GetAddressRequest {
            account_index: 0,
            address_index: Vec::new(),
        };
        let response: GetAddressResponse = self.call("get_address", &request).await?;
        Ok(response.address)
    }

    /// A new subaddress in account 0; returns it and its minor index.
    pub async fn create_address(&self, label: &str) -> Result<(String, u32), WalletError> {
        let request = CreateAddressRequest {
            account_index: 0,
            label: label.to_owned(),
        };
        let response: CreateAddressResponse = self.call("create_address", &request).await?;
        Ok((response.address, response.address_index))
    }

    /// An integrated address for the primary address with `payment_id` (random when `None`);
    /// returns the address and the 16-hex payment id.
    pub async fn make_integrated_address(
        &self,
        payment_id: Option<[u8; 8]>,
    ) -> Result<(String, String), WalletError> {
        let request = MakeIntegratedAddressRequest {
            standard_address: String::new(),
            payment_id: payment_id.map(hex::encode).unwrap_or_default(),
        };
        let response: MakeIntegratedAddressResponse =
            self.call("make_integrated_address", &request).await?;
        Ok((response.integrated_address, response.payment_id))
    }
}

impl Wallet for WalletClient {
    async fn transfer(
        &self,
        destinations: &[Destination],
        options: TransferOptions,
    ) -> Result<SignedTransfer, WalletError> {
        let request = TransferRequest {
            destinations: destinations
                .iter()
                .map(|d| TransferDestination {
                    amount: d.amount.0,
                    address: d.address.clone(),
                })
                .collect(),
            account_index: options.account_index,
            priority: options.priority,
            get_tx_key: true,
            do_not_relay: options.do_not_relay,
            get_tx_metadata: true,
            payment_id: None,
        };
        let response: TransferResponse = self.call("transfer", &request).await?;
        Ok(SignedTransfer::try_from(response)?)
    }

    async fn relay_tx(&self, tx_metadata: &str) -> Result<Hash32, WalletError> {
        let request = RelayTxRequest {
            hex: tx_metadata.to_owned(),
        };
        let response: RelayTxResponse = self.call("relay_tx", &request).await?;
        Ok(parse_hash("tx_hash", &response.tx_hash)?)
    }

    async fn get_transfers(&self, query: TransfersQuery) -> Result<Vec<Transfer>, WalletError> {
        let request = GetTransfersRequest {
            incoming: query.incoming,
            out: query.outgoing,
            pending: query.pending,
            failed: query.failed,
            pool: query.pool,
            filter_by_height: query.min_height.is_some(),
            min_height: query.min_height.map(|h| h.0.saturating_sub(1)),
            max_height: None,
            account_index: query.account_index,
            all_accounts: false,
        };
        let response: GetTransfersResponse = self.call("get_transfers", &request).await?;
        let GetTransfersResponse {
            incoming,
            out,
            pending,
            failed,
            pool,
        } = response;
        incoming
            .into_iter()
            .chain(out)
            .chain(pending)
            .chain(failed)
            .chain(pool)
            .map(|entry| Transfer::try_from(entry).map_err(WalletError::from))
            .collect()
    }

    async fn get_transfer_by_txid(&self, txid: Hash32) -> Result<Option<Transfer>, WalletError> {
        let request = GetTransferByTxidRequest {
            txid: txid.to_string(),
            account_index: None,
        };
        match self
            .call::<_, GetTransferByTxidResponse>("get_transfer_by_txid", &request)
            .await
        {
            Ok(response) => Ok(Some(Transfer::try_from(response.transfer)?)),
            Err(WalletError::Refused { code, .. }) if code == code::WRONG_TXID => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn get_balance(&self) -> Result<Balance, WalletError> {
        let request = GetBalanceRequest { account_index: 0 };
        let response: GetBalanceResponse = self.call("get_balance", &request).await?;
        Ok(Balance::from(response))
    }

    async fn store(&self) -> Result<(), WalletError> {
        let _: Empty = self.call("store", &Empty {}).await?;
        Ok(())
    }

    async fn refresh(&self) -> Result<u64, WalletError> {
        let response: RefreshResponse = self.call("refresh", &RefreshRequest::default()).await?;
        Ok(response.blocks_fetched)
    }

    async fn height(&self) -> Result<Height, WalletError> {
        let response: WalletHeightResponse = self.call("get_height", &Empty {}).await?;
        Ok(Height(response.height))
    }
}
