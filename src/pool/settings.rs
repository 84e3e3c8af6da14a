//! The pool role's typed settings: vardiff, trust, bans, timeouts, rate limits and the
//! addresses login checks against. Built with nodejs-pool's and MoneroOcean's defaults and
//! overridden from the shared MySQL `config` items (`pool.*`) by the role at start and on
//! refresh. Read-only to sessions (an `Arc` snapshot per request).

use super::bans::{BanConfig, RateLimit};
use super::trust::TrustConfig;
use super::vardiff::VardiffConfig;
use crate::domain::Network;
use std::collections::HashSet;
use std::time::Duration;

/// Everything a session needs to decide.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Addresses must be on this network (`general.testnet` / regtest use mainnet prefixes).
    pub network: Network,
    /// `pool.address`: the wallet templates pay to.
    pub pool_address: String,
    pub vardiff: VardiffConfig,
    pub trust: TrustConfig,
    pub bans: BanConfig,
    /// `pool.socketAuthTimeout`: a connection must log in within this.
    pub login_timeout: Duration,
    /// `pool.minerFirstShareTimeout`: a logged-in miner must submit a share within this.
    pub first_share_timeout: Duration,
    /// `pool.minerTimeout`: a miner silent this long is dropped.
    pub miner_timeout: Duration,
    /// `pool.maxConnectionsPerIP` (0 = unlimited).
    pub max_connections_per_ip: u32,
    /// `pool.protocolErrorLimit`: invalid requests tolerated before the connection is cut.
    pub protocol_error_limit: u32,
    pub login_rate: RateLimit,
    pub getjob_rate: RateLimit,
    pub submit_rate: RateLimit,
    pub keepalive_rate: RateLimit,
    /// Exchange addresses (`pool.exchangeAddresses`): they must carry a payment ID.
    pub exchange_addresses: HashSet<String>,
    /// `pool.bannedAddresses`: refused at login, like `bans` table addresses.
    pub banned_addresses: HashSet<String>,
    /// Previous templates kept for late shares.
    pub previous_templates: usize,
    /// How often monerod is polled for a template.
    pub template_poll: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            network: Network::Mainnet,
            pool_address: String::new(),
            vardiff: VardiffConfig::default(),
            trust: TrustConfig::default(),
            bans: BanConfig::default(),
            login_timeout: Duration::from_secs(15),
            first_share_timeout: Duration::from_secs(600),
            miner_timeout: Duration::from_secs(900),
            max_connections_per_ip: 256,
            protocol_error_limit: 5,
            login_rate: RateLimit {
                rate_per_sec: 1,
                burst: 5,
            },
            getjob_rate: RateLimit {
                rate_per_sec: 5,
                burst: 20,
            },
            submit_rate: RateLimit {
                rate_per_sec: 200,
                burst: 400,
            },
            keepalive_rate: RateLimit {
                rate_per_sec: 1,
                burst: 10,
            },
            exchange_addresses: HashSet::new(),
            banned_addresses: HashSet::new(),
            previous_templates: super::templates::DEFAULT_PREVIOUS,
            template_poll: Duration::from_millis(500),
        }
    }
}
