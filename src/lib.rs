//! rxpool: a Monero mining pool server.
//!
//! One binary; each role is a subcommand that runs as its own process, and the roles meet only
//! in the two stores (LMDB for shares, blocks and stats; MySQL for configuration, balances and
//! payouts):
//!
//! - [`pool`]: stratum listeners, templates, jobs, vardiff, trust, bans, share validation and
//!   block submission. Writes shares and found blocks to LMDB.
//! - [`block_manager`]: confirms or orphans found blocks and credits PPLNS, PPS and solo
//!   balances in MySQL, each block exactly once.
//! - [`payments`]: plans payouts from balances and executes them through monero-wallet-rpc
//!   with a durable two-phase batch, so nothing is paid twice or lost.
//! - [`worker`]: statistics rollups, chart histories, miner and operator e-mail alerts.
//! - [`api`]: REST, websocket push, the admin API and the web dashboard.
//! - [`cleaner`]: prunes shares no payout window needs, old stats and settled blocks; LMDB
//!   care (stale readers, map growth, usage metrics).
//! - [`ingest`]: with several pool hosts, writes the shares and blocks they publish to NATS
//!   JetStream into LMDB, each message exactly once.
//! - [`all`]: every role above in one process (`ingest` only when `[feed]` is set).
//!
//! Below the roles, shared by all of them:
//! - [`domain`]: value types (amounts, difficulty, heights, hashes, addresses).
//! - [`monero`]: the boundary to monerod and wallet-rpc, template blobs and proof of work.
//! - [`feed`]: a pool host's share sink to NATS JetStream (batching, message ids, the local
//!   spool), its wire format and the NATS connection the ingest shares.
//! - [`store`]: the only code that names heed or sqlx (besides [`mail`]'s outbox).
//! - [`mail`]: double opt-in subscriptions, signed links, the durable outbox and its SMTP
//!   sender (the pool and api take addresses and links, the worker sends).
//! - [`backup`]: online backups of both stores (LMDB copy, MySQL dump, manifest), their
//!   retention and restore; `rxpool admin backup` and the cleaner's schedule use it.
//! - [`config`]: `config.toml` and the shared settings kept in MySQL.
//! - [`telemetry`]: a process's own Prometheus metrics on `[metrics] bind` (every role).
//! - [`progress`]: long work shown as a bar on a terminal, as periodic log lines otherwise.
//! - [`devnet`]: throwaway MariaDB, regtest monerod and wallet-rpc processes for tests,
//!   benchmarks and the sandbox.
//! - [`sandbox`]: `rxpool sandbox`, a whole pool with a demo miner on a private regtest
//!   chain, built from [`devnet`] and every role.

pub mod admin;
pub mod all;
pub mod api;
pub mod backup;
pub mod block_manager;
pub mod cleaner;
pub mod cli;
pub mod config;
pub mod devnet;
pub mod domain;
pub mod feed;
pub mod ingest;
pub mod mail;
pub mod monero;
pub mod payments;
pub mod pool;
pub mod progress;
pub mod runtime;
pub mod sandbox;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod worker;
