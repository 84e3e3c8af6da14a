//! The boundary to monerod and monero-wallet-rpc, plus the chain maths every role shares:
//! JSON-RPC transport with failover, typed RPC messages, block template blobs and proof of
//! work. Nothing outside this module speaks JSON-RPC or touches a blob byte.
//!
//! - `json_rpc`, `rpc_types`: transport and monerod's/wallet-rpc's messages, verbatim.
//! - `daemon`, `wallet`: typed clients (daemon failover across several URLs).
//! - `blob`: block templates, extra nonces, hashing blobs, block ids.
//! - `pow`: RandomX (shared fast-mode dataset) and CryptoNight verification off the reactor.

pub mod blob;
pub mod daemon;
pub mod json_rpc;
pub mod pow;
pub mod rpc_types;
pub mod wallet;
