//! Request and response messages of monerod and monero-wallet-rpc, with their JSON field names
//! verbatim, and the one-time conversion of the fields the pool relies on into domain types.
//!
//! Owns only shapes and conversions: no I/O (that is `json_rpc`), no retry policy (`daemon`),
//! no interpretation of wallet errors (`wallet`). Response structs ignore fields they do not
//! name, so newer monerod versions that add fields keep working. Conversions (`TryFrom`) reject
//! malformed hashes, hex and difficulties with [`ConvertError`] instead of passing text on.

use serde::{Deserialize, Serialize};

use crate::domain::{Atomic, Difficulty, Hash32, Height};

/// A response field that could not be converted into its domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("field {field}: expected 64 hex characters, got {value:?}")]
    BadHash { field: &'static str, value: String },
    #[error("field {field}: expected hex, got {len} characters that are not hex")]
    BadHex { field: &'static str, len: usize },
    #[error("field {field}: bad wide difficulty {value:?}")]
    BadDifficulty { field: &'static str, value: String },
    #[error("field {field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}

/// Parses a 64-hex hash field.
pub fn parse_hash(field: &'static str, value: &str) -> Result<Hash32, ConvertError> {
    value.parse().map_err(|_| ConvertError::BadHash {
        field,
        value: value.chars().take(80).collect(),
    })
}

/// Parses a hash field that monerod leaves empty when absent (`next_seed_hash`, `pow_hash`).
pub fn parse_optional_hash(
    field: &'static str,
    value: &str,
) -> Result<Option<Hash32>, ConvertError> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse_hash(field, value).map(Some)
    }
}

/// Parses a hex blob field.
pub fn parse_hex(field: &'static str, value: &str) -> Result<Vec<u8>, ConvertError> {
    hex::decode(value).map_err(|_| ConvertError::BadHex {
        field,
        len: value.len(),
    })
}

/// Parses monerod's `wide_difficulty` (`"0x1f4"`, at most 128 bits). Plain decimal is accepted
/// too, as some builds print it that way.
pub fn parse_wide_difficulty(field: &'static str, value: &str) -> Result<Difficulty, ConvertError> {
    let bad = || ConvertError::BadDifficulty {
        field,
        value: value.chars().take(80).collect(),
    };
    let parsed = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex_digits)
            if !hex_digits.is_empty()
                && hex_digits.len() <= 32
                && hex_digits.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            u128::from_str_radix(hex_digits, 16).map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
        None if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
            value.parse::<u128>().map_err(|_| bad())?
        }
        None => return Err(bad()),
    };
    Ok(Difficulty(parsed))
}

// ---------------------------------------------------------------------------------------------
// monerod
// ---------------------------------------------------------------------------------------------

/// `get_block_template` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct GetBlockTemplateRequest {
    pub wallet_address: String,
    pub reserve_size: u64,
}

/// `get_block_template` result.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GetBlockTemplateResponse {
    pub blocktemplate_blob: String,
    pub blockhashing_blob: String,
    #[serde(default)]
    pub difficulty: u64,
    pub wide_difficulty: String,
    pub expected_reward: u64,
    pub height: u64,
    pub prev_hash: String,
    pub reserved_offset: u64,
    pub seed_hash: String,
    #[serde(default)]
    pub seed_height: u64,
    #[serde(default)]
    pub next_seed_hash: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub untrusted: bool,
}

/// `submit_block` result (its params are a JSON array of one blob hex string).
#[derive(Debug, Clone, Deserialize)]
pub struct SubmitBlockResponse {
    #[serde(default)]
    pub status: String,
    /// Present in monerod 0.18.3+.
    #[serde(default)]
    pub block_id: String,
}

/// `get_block_header_by_height` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct GetBlockHeaderByHeightRequest {
    pub height: u64,
    pub fill_pow_hash: bool,
}

/// `get_block_header_by_hash` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct GetBlockHeaderByHashRequest {
    pub hash: String,
    pub fill_pow_hash: bool,
}

/// `get_last_block_header` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct GetLastBlockHeaderRequest {
    pub fill_pow_hash: bool,
}

/// The result of the three `get_*block_header*` calls.
#[derive(Debug, Clone, Deserialize)]
pub struct BlockHeaderResponse {
    pub block_header: BlockHeaderJson,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub untrusted: bool,
}

/// `block_header` as monerod writes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BlockHeaderJson {
    #[serde(default)]
    pub block_size: u64,
    #[serde(default)]
    pub block_weight: u64,
    #[serde(default)]
    pub depth: u64,
    #[serde(default)]
    pub difficulty: u64,
    pub wide_difficulty: String,
    #[serde(default)]
    pub cumulative_difficulty: u64,
    #[serde(default)]
    pub wide_cumulative_difficulty: String,
    pub hash: String,
    pub height: u64,
    pub major_version: u8,
    pub minor_version: u8,
    pub nonce: u32,
    #[serde(default)]
    pub num_txes: u64,
    #[serde(default)]
    pub orphan_status: bool,
    #[serde(default)]
    pub pow_hash: String,
    pub prev_hash: String,
    pub reward: u64,
    pub timestamp: u64,
    #[serde(default)]
    pub miner_tx_hash: String,
}

/// `get_info` result (the fields the pool uses; the rest are ignored).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GetInfoResponse {
    pub height: u64,
    #[serde(default)]
    pub target_height: u64,
    #[serde(default)]
    pub difficulty: u64,
    #[serde(default)]
    pub wide_difficulty: String,
    #[serde(default)]
    pub top_block_hash: String,
    #[serde(default)]
    pub tx_pool_size: u64,
    #[serde(default)]
    pub nettype: String,
    #[serde(default)]
    pub synchronized: bool,
    #[serde(default)]
    pub busy_syncing: bool,
    #[serde(default)]
    pub offline: bool,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub status: String,
}

/// `generateblocks` parameters (regtest / fakechain only).
#[derive(Debug, Clone, Serialize)]
pub struct GenerateBlocksRequest {
    pub amount_of_blocks: u64,
    pub wallet_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_block: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_nonce: Option<u32>,
}

/// `generateblocks` result.
#[derive(Debug, Clone, Deserialize)]
pub struct GenerateBlocksResponse {
    #[serde(default)]
    pub blocks: Vec<String>,
    pub height: u64,
    #[serde(default)]
    pub status: String,
}

/// `/pop_blocks` (plain endpoint) parameters.
#[derive(Debug, Clone, Serialize)]
pub struct PopBlocksRequest {
    pub nblocks: u64,
}

/// `/pop_blocks` result.
#[derive(Debug, Clone, Deserialize)]
pub struct PopBlocksResponse {
    pub height: u64,
    #[serde(default)]
    pub status: String,
}

/// `flush_txpool` parameters: empty `txids` flushes everything.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlushTxpoolRequest {
    pub txids: Vec<String>,
}

/// A result that carries only `status` (`flush_txpool` and friends).
#[derive(Debug, Clone, Deserialize)]
pub struct StatusResponse {
    #[serde(default)]
    pub status: String,
}

/// `/get_transactions` parameters (plain endpoint).
#[derive(Debug, Clone, Serialize)]
pub struct GetTransactionsRequest {
    pub txs_hashes: Vec<String>,
}

/// `/get_transactions` result: the txs the daemon knows (pool or chain) and the hashes it
/// does not.
#[derive(Debug, Clone, Deserialize)]
pub struct GetTransactionsResponse {
    #[serde(default)]
    pub txs: Vec<TransactionEntry>,
    #[serde(default)]
    pub missed_tx: Vec<String>,
    #[serde(default)]
    pub status: String,
}

/// One tx of `/get_transactions`.
#[derive(Debug, Clone, Deserialize)]
pub struct TransactionEntry {
    pub tx_hash: String,
    #[serde(default)]
    pub in_pool: bool,
    #[serde(default)]
    pub block_height: u64,
}

/// `/get_transaction_pool_hashes` result.
#[derive(Debug, Clone, Deserialize)]
pub struct TransactionPoolHashesResponse {
    #[serde(default)]
    pub tx_hashes: Vec<String>,
    #[serde(default)]
    pub status: String,
}

// ---------------------------------------------------------------------------------------------
// monero-wallet-rpc
// ---------------------------------------------------------------------------------------------

/// One `transfer` destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferDestination {
    pub amount: u64,
    pub address: String,
}

/// `transfer` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct TransferRequest {
    pub destinations: Vec<TransferDestination>,
    pub account_index: u32,
    /// 0 default, 1 unimportant, 2 normal, 3 elevated, 4 priority.
    pub priority: u32,
    pub get_tx_key: bool,
    pub do_not_relay: bool,
    pub get_tx_metadata: bool,
    /// Standalone payment IDs are refused by wallet-rpc 0.18; kept for older wallets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

/// `transfer` result.
#[derive(Debug, Clone, Deserialize)]
pub struct TransferResponse {
    pub amount: u64,
    pub fee: u64,
    pub tx_hash: String,
    #[serde(default)]
    pub tx_key: String,
    #[serde(default)]
    pub tx_metadata: String,
    #[serde(default)]
    pub weight: u64,
}

/// `relay_tx` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct RelayTxRequest {
    pub hex: String,
}

/// `relay_tx` result.
#[derive(Debug, Clone, Deserialize)]
pub struct RelayTxResponse {
    pub tx_hash: String,
}

/// `get_transfers` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct GetTransfersRequest {
    #[serde(rename = "in")]
    pub incoming: bool,
    pub out: bool,
    pub pending: bool,
    pub failed: bool,
    pub pool: bool,
    pub filter_by_height: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_height: Option<u64>,
    pub account_index: u32,
    pub all_accounts: bool,
}

/// `get_transfers` result: each list is absent when empty.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GetTransfersResponse {
    #[serde(rename = "in", default)]
    pub incoming: Vec<TransferEntry>,
    #[serde(default)]
    pub out: Vec<TransferEntry>,
    #[serde(default)]
    pub pending: Vec<TransferEntry>,
    #[serde(default)]
    pub failed: Vec<TransferEntry>,
    #[serde(default)]
    pub pool: Vec<TransferEntry>,
}

/// A subaddress index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubaddressIndex {
    pub major: u32,
    pub minor: u32,
}

/// One wallet transfer entry (`get_transfers`, `get_transfer_by_txid`).
#[derive(Debug, Clone, Deserialize)]
pub struct TransferEntry {
    #[serde(default)]
    pub address: String,
    pub amount: u64,
    #[serde(default)]
    pub confirmations: u64,
    #[serde(default)]
    pub destinations: Vec<TransferDestination>,
    #[serde(default)]
    pub double_spend_seen: bool,
    #[serde(default)]
    pub fee: u64,
    #[serde(default)]
    pub height: u64,
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub payment_id: String,
    #[serde(default)]
    pub subaddr_index: SubaddressIndex,
    #[serde(default)]
    pub timestamp: u64,
    pub txid: String,
    /// `in`, `out`, `pending`, `failed`, `pool`, `block`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub unlock_time: u64,
}

/// `get_transfer_by_txid` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct GetTransferByTxidRequest {
    pub txid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_index: Option<u32>,
}

/// `get_transfer_by_txid` result.
#[derive(Debug, Clone, Deserialize)]
pub struct GetTransferByTxidResponse {
    pub transfer: TransferEntry,
    #[serde(default)]
    pub transfers: Vec<TransferEntry>,
}

/// `get_balance` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct GetBalanceRequest {
    pub account_index: u32,
}

/// `get_balance` result.
#[derive(Debug, Clone, Deserialize)]
pub struct GetBalanceResponse {
    pub balance: u64,
    pub unlocked_balance: u64,
    #[serde(default)]
    pub blocks_to_unlock: u64,
}

/// `refresh` parameters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RefreshRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_height: Option<u64>,
}

/// `refresh` result.
#[derive(Debug, Clone, Deserialize)]
pub struct RefreshResponse {
    #[serde(default)]
    pub blocks_fetched: u64,
    #[serde(default)]
    pub received_money: bool,
}

/// `get_height` (wallet) result.
#[derive(Debug, Clone, Deserialize)]
pub struct WalletHeightResponse {
    pub height: u64,
}

/// `create_wallet` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct CreateWalletRequest {
    pub filename: String,
    pub password: String,
    pub language: String,
}

/// `open_wallet` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct OpenWalletRequest {
    pub filename: String,
    pub password: String,
}

/// `get_address` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct GetAddressRequest {
    pub account_index: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address_index: Vec<u32>,
}

/// `get_address` result.
#[derive(Debug, Clone, Deserialize)]
pub struct GetAddressResponse {
    pub address: String,
    #[serde(default)]
    pub addresses: Vec<AddressEntry>,
}

/// One entry of `get_address.addresses`.
#[derive(Debug, Clone, Deserialize)]
pub struct AddressEntry {
    pub address: String,
    pub address_index: u32,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub used: bool,
}

/// `make_integrated_address` parameters: both empty means "primary address, random id".
#[derive(Debug, Clone, Default, Serialize)]
pub struct MakeIntegratedAddressRequest {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub standard_address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub payment_id: String,
}

/// `make_integrated_address` result.
#[derive(Debug, Clone, Deserialize)]
pub struct MakeIntegratedAddressResponse {
    pub integrated_address: String,
    pub payment_id: String,
}

/// `create_address` parameters.
#[derive(Debug, Clone, Serialize)]
pub struct CreateAddressRequest {
    pub account_index: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
}

/// `create_address` result.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateAddressResponse {
    pub address: String,
    pub address_index: u32,
}

/// An empty object, for methods without parameters or results (`store`, `get_info`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Empty {}

// ---------------------------------------------------------------------------------------------
// Domain conversions
// ---------------------------------------------------------------------------------------------

/// A block header in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    pub hash: Hash32,
    pub height: Height,
    pub prev_hash: Hash32,
    pub timestamp: u64,
    pub major_version: u8,
    pub minor_version: u8,
    pub nonce: u32,
    pub difficulty: Difficulty,
    pub reward: Atomic,
    pub depth: u64,
    pub orphan_status: bool,
    pub num_txes: u64,
    /// Filled only when requested with `fill_pow_hash: true`.
    pub pow_hash: Option<Hash32>,
}

impl TryFrom<BlockHeaderJson> for BlockHeader {
    type Error = ConvertError;

    fn try_from(json: BlockHeaderJson) -> Result<Self, ConvertError> {
        Ok(BlockHeader {
            hash: parse_hash("hash", &json.hash)?,
            height: Height(json.height),
            prev_hash: parse_hash("prev_hash", &json.prev_hash)?,
            timestamp: json.timestamp,
            major_version: json.major_version,
            minor_version: json.minor_version,
            nonce: json.nonce,
            difficulty: if json.wide_difficulty.is_empty() {
                Difficulty(json.difficulty as u128)
            } else {
                parse_wide_difficulty("wide_difficulty", &json.wide_difficulty)?
            },
            reward: Atomic(json.reward),
            depth: json.depth,
            orphan_status: json.orphan_status,
            num_txes: json.num_txes,
            pow_hash: parse_optional_hash("pow_hash", &json.pow_hash)?,
        })
    }
}

/// Daemon status in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInfo {
    pub height: Height,
    pub target_height: Height,
    pub difficulty: Difficulty,
    pub top_block_hash: Option<Hash32>,
    pub tx_pool_size: u64,
    /// `mainnet`, `testnet`, `stagenet` or `fakechain` (regtest).
    pub nettype: String,
    pub synchronized: bool,
    pub busy_syncing: bool,
    pub offline: bool,
}

impl TryFrom<GetInfoResponse> for DaemonInfo {
    type Error = ConvertError;

    fn try_from(json: GetInfoResponse) -> Result<Self, ConvertError> {
        Ok(DaemonInfo {
            height: Height(json.height),
            target_height: Height(json.target_height),
            difficulty: if json.wide_difficulty.is_empty() {
                Difficulty(json.difficulty as u128)
            } else {
                parse_wide_difficulty("wide_difficulty", &json.wide_difficulty)?
            },
            top_block_hash: parse_optional_hash("top_block_hash", &json.top_block_hash)?,
            tx_pool_size: json.tx_pool_size,
            nettype: json.nettype,
            synchronized: json.synchronized,
            busy_syncing: json.busy_syncing,
            offline: json.offline,
        })
    }
}

/// A signed (and possibly unrelayed) transfer in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransfer {
    pub tx_hash: Hash32,
    /// Hex metadata for `relay_tx`; empty unless `get_tx_metadata` was asked for.
    pub tx_metadata: String,
    /// The transaction secret key (hex), proof of payment; empty unless asked for.
    pub tx_key: String,
    pub fee: Atomic,
    pub amount: Atomic,
}

impl TryFrom<TransferResponse> for SignedTransfer {
    type Error = ConvertError;

    fn try_from(json: TransferResponse) -> Result<Self, ConvertError> {
        if !json.tx_metadata.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConvertError::BadHex {
                field: "tx_metadata",
                len: json.tx_metadata.len(),
            });
        }
        Ok(SignedTransfer {
            tx_hash: parse_hash("tx_hash", &json.tx_hash)?,
            tx_metadata: json.tx_metadata,
            tx_key: json.tx_key,
            fee: Atomic(json.fee),
            amount: Atomic(json.amount),
        })
    }
}

/// A wallet transfer entry in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub txid: Hash32,
    /// `in`, `out`, `pending`, `failed`, `pool`, `block`.
    pub kind: String,
    pub amount: Atomic,
    pub fee: Atomic,
    /// 0 while in the pool.
    pub height: Height,
    pub confirmations: u64,
    pub locked: bool,
    pub double_spend_seen: bool,
    pub timestamp: u64,
    pub destinations: Vec<TransferDestination>,
}

impl Transfer {
    /// A coinbase output paid to the wallet (wallet-rpc's type `block`), confirmed.
    pub fn is_coinbase(&self) -> bool {
        self.kind == "block" && self.height.0 > 0
    }
}

impl TryFrom<TransferEntry> for Transfer {
    type Error = ConvertError;

    fn try_from(json: TransferEntry) -> Result<Self, ConvertError> {
        Ok(Transfer {
            txid: parse_hash("txid", &json.txid)?,
            kind: json.kind,
            amount: Atomic(json.amount),
            fee: Atomic(json.fee),
            height: Height(json.height),
            confirmations: json.confirmations,
            locked: json.locked,
            double_spend_seen: json.double_spend_seen,
            timestamp: json.timestamp,
            destinations: json.destinations,
        })
    }
}

/// Wallet balance in domain types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub balance: Atomic,
    pub unlocked: Atomic,
    pub blocks_to_unlock: u64,
}

impl From<GetBalanceResponse> for Balance {
    fn from(json: GetBalanceResponse) -> Self {
        Balance {
            balance: Atomic(json.balance),
            unlocked: Atomic(json.unlocked_balance),
            blocks_to_unlock: json.blocks_to_unlock,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wide_difficulty_parses_hex_and_decimal() {
        assert_eq!(parse_wide_difficulty("d", "0x1f4"), Ok(Difficulty(500)));
        assert_eq!(parse_wide_difficulty("d", "500"), Ok(Difficulty(500)));
        assert_eq!(
            parse_wide_difficulty("d", "0xffffffffffffffffffffffffffffffff"),
            Ok(Difficulty(u128::MAX))
        );
    }

    #[test]
    fn wide_difficulty_rejects_overflow_and_junk() {
        for bad in [
            "",
            "0x",
            "0x1ffffffffffffffffffffffffffffffff",
            "0xzz",
            "-1",
            "1e9",
            "0x+1",
            "340282366920938463463374607431768211456",
        ] {
            assert!(parse_wide_difficulty("d", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn block_header_converts_and_rejects_a_bad_hash() {
        let json = serde_json::json!({
            "block_size": 100, "depth": 0, "difficulty": 500, "wide_difficulty": "0x1f4",
            "hash": "11".repeat(32), "height": 7, "major_version": 16, "minor_version": 16,
            "nonce": 42, "num_txes": 0, "orphan_status": false, "pow_hash": "",
            "prev_hash": "22".repeat(32), "reward": 600000000000u64, "timestamp": 1700000000u64,
            "some_future_field": [1, 2, 3]
        });
        let header: BlockHeaderJson = serde_json::from_value(json).unwrap();
        let converted = BlockHeader::try_from(header.clone()).unwrap();
        assert_eq!(converted.height, Height(7));
        assert_eq!(converted.difficulty, Difficulty(500));
        assert_eq!(converted.reward, Atomic(600_000_000_000));
        assert_eq!(converted.pow_hash, None);

        let mut bad = header;
        bad.prev_hash = "zz".repeat(32);
        assert!(matches!(
            BlockHeader::try_from(bad),
            Err(ConvertError::BadHash {
                field: "prev_hash",
                ..
            })
        ));
    }

    #[test]
    fn get_transfers_request_uses_the_in_keyword() {
        let request = GetTransfersRequest {
            incoming: true,
            out: false,
            pending: false,
            failed: false,
            pool: false,
            filter_by_height: false,
            min_height: None,
            max_height: None,
            account_index: 0,
            all_accounts: false,
        };
        let value = serde_json::to_value(&request).unwrap();
        assert_eq!(value["in"], serde_json::Value::Bool(true));
        assert!(value.get("min_height").is_none());
    }

    proptest! {
        #[test]
        fn wide_difficulty_round_trips_every_u128(d in any::<u128>()) {
            prop_assert_eq!(parse_wide_difficulty("d", &format!("0x{d:x}")), Ok(Difficulty(d)));
            prop_assert_eq!(parse_wide_difficulty("d", &d.to_string()), Ok(Difficulty(d)));
        }

        #[test]
        fn wide_difficulty_never_panics(text in ".{0,60}") {
            let _ = parse_wide_difficulty("d", &text);
        }
    }
}
