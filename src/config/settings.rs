//! The shared settings of every pool host: the MySQL `config` table (module/item/value/type,
//! nodejs-pool's item names) as one typed struct.
//!
//! [`ITEMS`] is the one registry of items: name, kind, default and description. It seeds
//! missing rows at `rxpool migrate` (never overwriting an operator's value), validates
//! `rxpool admin config set` before anything is written, and fills [`Settings`]. Values are
//! parsed exactly: XMR amounts into [`Atomic`], percentages into [`Bps`]; there are no floats.
//! An item's error always names `module.item` and the offending value.

use std::collections::{BTreeMap, HashMap};

use crate::domain::{Atomic, Bps, Network};

/// What kind of value an item holds, and its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer in `min..=max`.
    Int { min: u64, max: u64 },
    /// `true`/`false` (also `1`/`0`).
    Bool,
    /// Free text.
    Text,
    /// A decimal XMR amount, e.g. `0.3`, stored exactly as atomic units.
    Xmr,
    /// A percentage with up to two decimals, e.g. `0.6`, stored as basis points.
    Percent,
    /// `mainnet`, `testnet` or `stagenet`.
    Network,
    /// `pool` (the pool pays the network fee) or `slew` (nodejs-pool's withdrawal-fee slew).
    FeePolicy,
    /// A comma-separated list of words (addresses).
    List,
}

impl Kind {
    /// The `item_type` column value, as nodejs-pool names it.
    pub fn sql_type(self) -> &'static str {
        match self {
            Kind::Int { .. } => "int",
            Kind::Bool => "bool",
            Kind::Xmr | Kind::Percent => "float",
            Kind::Text | Kind::Network | Kind::FeePolicy | Kind::List => "string",
        }
    }
}

/// One item of the `config` table.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// `module.item`.
    pub key: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub description: &'static str,
}

impl Item {
    pub fn module(&self) -> &'static str {
        self.key.split_once('.').map_or(self.key, |(m, _)| m)
    }

    pub fn name(&self) -> &'static str {
        self.key.split_once('.').map_or("", |(_, i)| i)
    }
}

const fn int(min: u64, max: u64) -> Kind {
    Kind::Int { min, max }
}

const DAY: u64 = 86_400;

macro_rules! items {
    ($($key:literal, $kind:expr, $default:literal, $desc:literal;)*) => {
        /// Every shared setting the pool uses, with its default.
        pub static ITEMS: &[Item] = &[$(Item { key: $key, kind: $kind, default: $default, description: $desc }),*];
    };
}

items! {
    "pool.address", Kind::Text, "", "Pool wallet address: block templates pay here. Must be set.";
    "pool.minerTimeout", int(30, DAY), "900", "Seconds without any message before a miner is dropped.";
    "pool.banEnabled", Kind::Bool, "true", "Ban IPs whose invalid-share ratio is too high.";
    "pool.banLength", int(1, 30 * DAY), "900", "Seconds a temporary IP ban lasts.";
    "pool.banPercent", int(1, 100), "25", "Invalid/valid share percentage that bans an IP.";
    "pool.banThreshold", int(1, 1_000_000), "30", "Shares counted before the ban ratio is checked.";
    "pool.targetTime", int(1, 3600), "30", "Vardiff target seconds per share.";
    "pool.retargetTime", int(1, 3600), "60", "Least seconds between two vardiff adjustments of one miner.";
    "pool.varDiffWindow", int(60, DAY), "600", "Seconds of share history the vardiff hashrate estimate uses.";
    "pool.proxyDiffMultiplier", int(1, 1000), "5", "Proxies aim at this many times the per-share work of a miner.";
    "pool.varDiffVariance", int(0, 100), "20", "Percent band around the target time inside which difficulty stays.";
    "pool.varDiffMaxChange", int(1, 10_000), "125", "Largest vardiff change in one step, in percent of the current difficulty.";
    "pool.minDifficulty", int(1, u64::MAX), "100", "Lowest miner difficulty (vardiff and fixed).";
    "pool.maxDifficulty", int(1, u64::MAX), "500000", "Highest miner difficulty (vardiff and fixed; not for proxies).";
    "pool.niceHashDiff", int(1, u64::MAX), "400000", "Minimum difficulty for NiceHash miners.";
    "pool.trustedMiners", Kind::Bool, "true", "Let proven miners skip some PoW checks.";
    "pool.trustThreshold", int(0, 1_000_000), "30", "Verified shares before trust starts.";
    "pool.trustMin", int(0, 255), "20", "Lowest verification probability (of 256) trust can reach.";
    "pool.trustChange", int(0, 255), "1", "Verification probability drop (of 256) per accepted share.";
    "pool.trustPenalty", int(0, 1_000_000), "30", "Shares to re-earn trust after a bad share.";
    "pool.trustMaxDifficulty", int(0, u64::MAX), "400000", "Shares above this difficulty are always verified.";
    "pool.maxConnectionsPerIp", int(1, 1_000_000), "256", "Stratum connections allowed from one IP.";
    "pool.loginTimeout", int(1, 3600), "30", "Seconds a new connection has to log in.";
    "pool.firstShareTimeout", int(1, DAY), "600", "Seconds a logged-in miner has to send a first share.";
    "pool.previousTemplates", int(0, 64), "4", "Previous templates whose jobs still earn credit.";
    "pool.protocolErrorLimit", int(1, 1000), "5", "Invalid requests tolerated on one connection before it is cut.";
    "pool.loginRate", int(1, 1_000_000), "1", "Logins per second allowed on one connection (token bucket rate).";
    "pool.loginBurst", int(1, 1_000_000), "5", "Logins one connection may send at once (token bucket size).";
    "pool.getjobRate", int(1, 1_000_000), "5", "getjob requests per second allowed on one connection.";
    "pool.getjobBurst", int(1, 1_000_000), "20", "getjob requests one connection may send at once.";
    "pool.submitRate", int(1, 1_000_000), "200", "Share submissions per second allowed on one connection.";
    "pool.submitBurst", int(1, 1_000_000), "400", "Share submissions one connection may send at once.";
    "pool.keepaliveRate", int(1, 1_000_000), "1", "keepalived requests per second allowed on one connection.";
    "pool.keepaliveBurst", int(1, 1_000_000), "10", "keepalived requests one connection may send at once.";
    "pool.exchangeAddresses", Kind::List, "", "Comma-separated exchange addresses that must log in with a payment ID.";
    "pool.bannedAddresses", Kind::List, "", "Comma-separated payout addresses refused at login.";
    "pool.ipv6BanPrefix", int(1, 128), "64", "IPv6 addresses sharing this many leading bits count as one IP for bans and connection caps.";
    "payout.feeAddress", Kind::Text, "", "Address that receives the pool fees. Must be set.";
    "payout.pplnsFee", Kind::Percent, "0.6", "PPLNS pool fee, percent.";
    "payout.ppsFee", Kind::Percent, "6.5", "PPS pool fee, percent.";
    "payout.soloFee", Kind::Percent, "0.4", "Solo pool fee, percent.";
    "payout.devDonation", Kind::Percent, "0", "Share of the pool fee donated to payout.devAddress, percent.";
    "payout.poolDevDonation", Kind::Percent, "0", "Share of the pool fee donated to payout.poolDevAddress, percent.";
    "payout.devAddress", Kind::Text, "", "Monero development donation address.";
    "payout.poolDevAddress", Kind::Text, "", "Pool software donation address.";
    "payout.walletMin", Kind::Xmr, "0.3", "Smallest payout, XMR; the floor of every miner threshold.";
    "payout.exchangeMin", Kind::Xmr, "5", "Smallest payout to integrated, payment-ID and exchange payees, XMR.";
    "payout.denom", Kind::Xmr, "0.000001", "Payouts are rounded down to a multiple of this, XMR.";
    "payout.blocksRequired", int(1, 10_000), "60", "Confirmations before a found block is credited.";
    "payout.feesForTXN", Kind::Xmr, "10", "XMR kept back when paying the fee address.";
    "payout.feePolicy", Kind::FeePolicy, "pool", "Who pays the network fee: pool, or slew (nodejs-pool's withdrawal-fee slew).";
    "payout.feeSlewAmount", Kind::Xmr, "0.011", "Withdrawal fee at payout.walletMin under the slew policy, XMR.";
    "payout.feeSlewEnd", Kind::Xmr, "4", "Payout above which the slew fee is zero, XMR.";
    "payout.maxPaymentTxns", int(1, 15), "15", "Destinations per batched transfer (Monero allows 16 outputs with change).";
    "payout.timer", int(1, 35_791), "120", "Minutes between payout cycles.";
    "payout.timerRetry", int(1, 35_791), "25", "Minutes before retrying when the wallet lacked unlocked funds.";
    "payout.priority", int(0, 4), "0", "Transfer priority (0 default, 1 low, ...).";
    "payout.confirmations", int(1, 1000), "10", "Confirmations before a payout transaction counts as final.";
    "payout.walletAlertMinutes", int(1, 10_000), "30", "Minutes of wallet-rpc failures before an alert.";
    "pplns.enable", Kind::Bool, "true", "Open PPLNS ports.";
    "pplns.shareMulti", int(1, 100), "2", "PPLNS window: shareMulti x block difficulty.";
    "pps.enable", Kind::Bool, "false", "Open PPS ports and credit PPS shares.";
    "solo.enable", Kind::Bool, "true", "Open solo ports.";
    "general.network", Kind::Network, "mainnet", "Network of every address: mainnet, testnet or stagenet.";
    "general.blockCleaner", Kind::Bool, "true", "Let the cleaner delete shares no payout window needs.";
    "general.adminEmail", Kind::Text, "", "Where admin alerts are sent.";
    "general.emailSig", Kind::Text, "rxpool Administration Team", "Signature under every e-mail.";
    "general.statsBufferLength", int(1, 100_000), "480", "History points kept for charts.";
    "email.workerNotHashingSubject", Kind::Text, "Status of your worker(s)", "Subject when a worker stops hashing.";
    "email.workerNotHashingBody", Kind::Text, "Your worker: %(worker)s has stopped submitting hashes at: %(timestamp)s UTC", "Body when a worker stops hashing.";
    "email.workerStartHashingSubject", Kind::Text, "Status of your worker(s)", "Subject when a worker resumes hashing.";
    "email.workerStartHashingBody", Kind::Text, "Your worker: %(worker)s has started submitting hashes at: %(timestamp)s UTC", "Body when a worker resumes hashing.";
}

/// The registry entry for `module.item`.
pub fn item(key: &str) -> Option<&'static Item> {
    ITEMS.iter().find(|i| i.key == key)
}

/// Why a setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}: no such setting (see `rxpool admin config list`)")]
    Unknown(String),
    #[error("{key}: {value:?} is not valid: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Int(u64),
    Bool(bool),
    Text(String),
    Xmr(Atomic),
    Percent(Bps),
    Network(Network),
    FeePolicy(FeePolicy),
    List(Vec<String>),
}

fn parse(item: &Item, value: &str) -> Result<Value, SettingsError> {
    let invalid = |reason: &str| SettingsError::Invalid {
        key: item.key.to_owned(),
        value: value.chars().take(80).collect(),
        reason: reason.to_owned(),
    };
    let v = value.trim();
    Ok(match item.kind {
        Kind::Int { min, max } => {
            let n: u64 = v.parse().map_err(|_| invalid("expected a whole number"))?;
            if n < min || n > max {
                return Err(invalid(&format!("must be between {min} and {max}")));
            }
            Value::Int(n)
        }
        Kind::Bool => match v {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(invalid("expected true or false")),
        },
        Kind::Text => {
            if value.len() > 4096 {
                return Err(invalid("longer than 4096 bytes"));
            }
            Value::Text(v.to_owned())
        }
        Kind::Xmr => {
            Value::Xmr(Atomic::from_xmr_str(v).ok_or_else(|| {
                invalid("expected an XMR amount such as 0.3 (at most 12 decimals)")
            })?)
        }
        Kind::Percent => Value::Percent(Bps::from_percent_str(v).ok_or_else(|| {
            invalid("expected a percentage from 0 to 100 with at most 2 decimals")
        })?),
        Kind::Network => Value::Network(match v {
            "mainnet" => Network::Mainnet,
            "testnet" => Network::Testnet,
            "stagenet" => Network::Stagenet,
            _ => return Err(invalid("expected mainnet, testnet or stagenet")),
        }),
        Kind::FeePolicy => Value::FeePolicy(match v {
            "pool" => FeePolicy::PoolPays,
            "slew" => FeePolicy::Slew,
            _ => return Err(invalid("expected pool or slew")),
        }),
        Kind::List => Value::List(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
    })
}

/// Checks `value` for `key` without storing it.
pub fn validate(key: &str, value: &str) -> Result<(), SettingsError> {
    let item = item(key).ok_or_else(|| SettingsError::Unknown(key.to_owned()))?;
    parse(item, value).map(|_| ())
}

/// Who pays the network fee of a payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeePolicy {
    /// The pool wallet pays the network fee; miners receive their whole payout.
    PoolPays,
    /// nodejs-pool's withdrawal-fee slew: a fee that falls from `feeSlewAmount` at
    /// `walletMin` to zero at `feeSlewEnd` is kept from the payout.
    Slew,
}

/// `pool.*`: stratum behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub address: String,
    pub miner_timeout_secs: u64,
    pub ban_enabled: bool,
    pub ban_length_secs: u64,
    pub ban_percent: u64,
    pub ban_threshold: u64,
    pub target_time_secs: u64,
    pub retarget_time_secs: u64,
    pub var_diff_window_secs: u64,
    pub proxy_diff_multiplier: u64,
    pub var_diff_variance_pct: u64,
    pub var_diff_max_change_pct: u64,
    pub min_difficulty: u64,
    pub max_difficulty: u64,
    pub nicehash_difficulty: u64,
    pub trusted_miners: bool,
    pub trust_threshold: u64,
    pub trust_min: u64,
    pub trust_change: u64,
    pub trust_penalty: u64,
    pub trust_max_difficulty: u64,
    pub max_connections_per_ip: u64,
    pub login_timeout_secs: u64,
    pub first_share_timeout_secs: u64,
    pub previous_templates: u64,
    pub protocol_error_limit: u64,
    /// (rate per second, burst) per stratum method.
    pub login_rate: (u64, u64),
    pub getjob_rate: (u64, u64),
    pub submit_rate: (u64, u64),
    pub keepalive_rate: (u64, u64),
    pub exchange_addresses: Vec<String>,
    pub banned_addresses: Vec<String>,
    pub ipv6_ban_prefix: u64,
}

/// `payout.*`: fees, crediting depth and payout rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub fee_address: String,
    pub pplns_fee: Bps,
    pub pps_fee: Bps,
    pub solo_fee: Bps,
    pub dev_donation: Bps,
    pub pool_dev_donation: Bps,
    pub dev_address: String,
    pub pool_dev_address: String,
    pub wallet_min: Atomic,
    pub exchange_min: Atomic,
    pub denom: Atomic,
    pub blocks_required: u64,
    pub fees_for_txn: Atomic,
    pub fee_policy: FeePolicy,
    pub fee_slew_amount: Atomic,
    pub fee_slew_end: Atomic,
    pub max_payment_txns: u64,
    pub timer_minutes: u64,
    pub timer_retry_minutes: u64,
    pub priority: u64,
    pub confirmations: u64,
    pub wallet_alert_minutes: u64,
}

/// `pplns.*`, `pps.*`, `solo.*`: which payout modes run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modes {
    pub pplns_enable: bool,
    pub pplns_share_multi: u64,
    pub pps_enable: bool,
    pub solo_enable: bool,
}

/// `general.*` and `email.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct General {
    pub network: Network,
    pub block_cleaner: bool,
    pub admin_email: String,
    pub email_sig: String,
    pub stats_buffer_length: u64,
    pub worker_not_hashing_subject: String,
    pub worker_not_hashing_body: String,
    pub worker_start_hashing_subject: String,
    pub worker_start_hashing_body: String,
}

/// Every shared setting, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub pool: Pool,
    pub payout: Payout,
    pub modes: Modes,
    pub general: General,
}

/// Values by key during construction: stored rows, overridden by config.toml, defaulted.
struct Values(HashMap<&'static str, Value>);

impl Values {
    fn int(&self, key: &str) -> u64 {
        match self.0.get(key) {
            Some(Value::Int(n)) => *n,
            other => unreachable!("{key} is registered as an int, got {other:?}"),
        }
    }
    fn bool(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Value::Bool(b)) => *b,
            other => unreachable!("{key} is registered as a bool, got {other:?}"),
        }
    }
    fn text(&self, key: &str) -> String {
        match self.0.get(key) {
            Some(Value::Text(s)) => s.clone(),
            other => unreachable!("{key} is registered as text, got {other:?}"),
        }
    }
    fn xmr(&self, key: &str) -> Atomic {
        match self.0.get(key) {
            Some(Value::Xmr(a)) => *a,
            other => unreachable!("{key} is registered as XMR, got {other:?}"),
        }
    }
    fn percent(&self, key: &str) -> Bps {
        match self.0.get(key) {
            Some(Value::Percent(b)) => *b,
            other => unreachable!("{key} is registered as a percentage, got {other:?}"),
        }
    }
    fn list(&self, key: &str) -> Vec<String> {
        match self.0.get(key) {
            Some(Value::List(l)) => l.clone(),
            other => unreachable!("{key} is registered as a list, got {other:?}"),
        }
    }
}

impl Settings {
    /// Every item at its default.
    pub fn defaults() -> Settings {
        Settings::from_rows(std::iter::empty(), &BTreeMap::new())
            .expect("registry defaults are valid")
    }

    /// Builds the settings from stored `(module.item, value)` rows and `config.toml`
    /// overrides (which win); items absent from both take their default. Unknown stored
    /// items are skipped with a warning (a newer or older host may know them).
    pub fn from_rows(
        rows: impl IntoIterator<Item = (String, String)>,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        let mut raw: HashMap<&'static str, String> = ITEMS
            .iter()
            .map(|i| (i.key, i.default.to_owned()))
            .collect();
        for (key, value) in rows {
            match item(&key) {
                Some(i) => {
                    raw.insert(i.key, value);
                }
                None => {
                    tracing::warn!(setting = %key, "ignoring unknown setting in the config table")
                }
            }
        }
        for (key, value) in overrides {
            let i = item(key).ok_or_else(|| SettingsError::Unknown(key.clone()))?;
            raw.insert(i.key, value.clone());
        }
        let mut values = HashMap::new();
        for i in ITEMS {
            values.insert(i.key, parse(i, &raw[i.key])?);
        }
        let v = Values(values);
        let settings = Settings {
            pool: Pool {
                address: v.text("pool.address"),
                miner_timeout_secs: v.int("pool.minerTimeout"),
                ban_enabled: v.bool("pool.banEnabled"),
                ban_length_secs: v.int("pool.banLength"),
                ban_percent: v.int("pool.banPercent"),
                ban_threshold: v.int("pool.banThreshold"),
                target_time_secs: v.int("pool.targetTime"),
                retarget_time_secs: v.int("pool.retargetTime"),
                var_diff_window_secs: v.int("pool.varDiffWindow"),
                proxy_diff_multiplier: v.int("pool.proxyDiffMultiplier"),
                var_diff_variance_pct: v.int("pool.varDiffVariance"),
                var_diff_max_change_pct: v.int("pool.varDiffMaxChange"),
                min_difficulty: v.int("pool.minDifficulty"),
                max_difficulty: v.int("pool.maxDifficulty"),
                nicehash_difficulty: v.int("pool.niceHashDiff"),
                trusted_miners: v.bool("pool.trustedMiners"),
                trust_threshold: v.int("pool.trustThreshold"),
                trust_min: v.int("pool.trustMin"),
                trust_change: v.int("pool.trustChange"),
                trust_penalty: v.int("pool.trustPenalty"),
                trust_max_difficulty: v.int("pool.trustMaxDifficulty"),
                max_connections_per_ip: v.int("pool.maxConnectionsPerIp"),
                login_timeout_secs: v.int("pool.loginTimeout"),
                first_share_timeout_secs: v.int("pool.firstShareTimeout"),
                previous_templates: v.int("pool.previousTemplates"),
                protocol_error_limit: v.int("pool.protocolErrorLimit"),
                login_rate: (v.int("pool.loginRate"), v.int("pool.loginBurst")),
                getjob_rate: (v.int("pool.getjobRate"), v.int("pool.getjobBurst")),
                submit_rate: (v.int("pool.submitRate"), v.int("pool.submitBurst")),
                keepalive_rate: (v.int("pool.keepaliveRate"), v.int("pool.keepaliveBurst")),
                exchange_addresses: v.list("pool.exchangeAddresses"),
                banned_addresses: v.list("pool.bannedAddresses"),
                ipv6_ban_prefix: v.int("pool.ipv6BanPrefix"),
            },
            payout: Payout {
                fee_address: v.text("payout.feeAddress"),
                pplns_fee: v.percent("payout.pplnsFee"),
                pps_fee: v.percent("payout.ppsFee"),
                solo_fee: v.percent("payout.soloFee"),
                dev_donation: v.percent("payout.devDonation"),
                pool_dev_donation: v.percent("payout.poolDevDonation"),
                dev_address: v.text("payout.devAddress"),
                pool_dev_address: v.text("payout.poolDevAddress"),
                wallet_min: v.xmr("payout.walletMin"),
                exchange_min: v.xmr("payout.exchangeMin"),
                denom: v.xmr("payout.denom"),
                blocks_required: v.int("payout.blocksRequired"),
                fees_for_txn: v.xmr("payout.feesForTXN"),
                fee_policy: match v.0.get("payout.feePolicy") {
                    Some(Value::FeePolicy(p)) => *p,
                    other => unreachable!("payout.feePolicy is a fee policy, got {other:?}"),
                },
                fee_slew_amount: v.xmr("payout.feeSlewAmount"),
                fee_slew_end: v.xmr("payout.feeSlewEnd"),
                max_payment_txns: v.int("payout.maxPaymentTxns"),
                timer_minutes: v.int("payout.timer"),
                timer_retry_minutes: v.int("payout.timerRetry"),
                priority: v.int("payout.priority"),
                confirmations: v.int("payout.confirmations"),
                wallet_alert_minutes: v.int("payout.walletAlertMinutes"),
            },
            modes: Modes {
                pplns_enable: v.bool("pplns.enable"),
                pplns_share_multi: v.int("pplns.shareMulti"),
                pps_enable: v.bool("pps.enable"),
                solo_enable: v.bool("solo.enable"),
            },
            general: General {
                network: match v.0.get("general.network") {
                    Some(Value::Network(n)) => *n,
                    other => unreachable!("general.network is a network, got {other:?}"),
                },
                block_cleaner: v.bool("general.blockCleaner"),
                admin_email: v.text("general.adminEmail"),
                email_sig: v.text("general.emailSig"),
                stats_buffer_length: v.int("general.statsBufferLength"),
                worker_not_hashing_subject: v.text("email.workerNotHashingSubject"),
                worker_not_hashing_body: v.text("email.workerNotHashingBody"),
                worker_start_hashing_subject: v.text("email.workerStartHashingSubject"),
                worker_start_hashing_body: v.text("email.workerStartHashingBody"),
            },
        };
        settings.check_relations()?;
        Ok(settings)
    }

    /// Rules that span items.
    fn check_relations(&self) -> Result<(), SettingsError> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(SettingsError::Invalid {
                key: key.to_owned(),
                value,
                reason: reason.to_owned(),
            })
        };
        if self.pool.min_difficulty > self.pool.max_difficulty {
            return bad(
                "pool.minDifficulty",
                self.pool.min_difficulty.to_string(),
                "must not exceed pool.maxDifficulty",
            );
        }
        let donations = self.payout.dev_donation.0 as u32 + self.payout.pool_dev_donation.0 as u32;
        if donations > Bps::WHOLE as u32 {
            return bad(
                "payout.devDonation",
                self.payout.dev_donation.to_string(),
                "donations together exceed 100% of the fee",
            );
        }
        if self.payout.denom == Atomic::ZERO {
            return bad("payout.denom", "0".into(), "must be above zero");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_default_parses_and_keys_are_unique() {
        let settings = Settings::defaults();
        assert_eq!(settings.payout.pplns_fee, Bps(60));
        assert_eq!(settings.payout.wallet_min, Atomic(300_000_000_000));
        assert_eq!(settings.payout.blocks_required, 60);
        let mut keys: Vec<_> = ITEMS.iter().map(|i| i.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ITEMS.len());
        assert!(
            ITEMS
                .iter()
                .all(|i| i.key.len() <= 32 + 1 + 64 && i.module().len() <= 32)
        );
    }

    #[test]
    fn stored_rows_override_defaults_and_file_overrides_win() {
        let overrides = BTreeMap::from([("pool.targetTime".to_owned(), "15".to_owned())]);
        let s = Settings::from_rows(
            rows(&[("pool.targetTime", "45"), ("payout.ppsFee", "2.25")]),
            &overrides,
        )
        .unwrap();
        assert_eq!(s.pool.target_time_secs, 15);
        assert_eq!(s.payout.pps_fee, Bps(225));
    }

    #[test]
    fn a_bad_value_names_its_item() {
        let err = Settings::from_rows(rows(&[("payout.walletMin", "0.1.2")]), &BTreeMap::new())
            .unwrap_err();
        assert!(err.to_string().starts_with("payout.walletMin:"), "{err}");
        let err = Settings::from_rows(rows(&[("payout.maxPaymentTxns", "16")]), &BTreeMap::new())
            .unwrap_err();
        assert!(err.to_string().contains("between 1 and 15"), "{err}");
        assert!(validate("pool.banEnabled", "yes").is_err());
        assert!(validate("payout.pplnsFee", "101").is_err());
        assert!(validate("payout.pplnsFee", "NaN").is_err());
        assert_eq!(
            validate("nope.nothing", "1"),
            Err(SettingsError::Unknown("nope.nothing".into()))
        );
    }

    #[test]
    fn unknown_stored_items_are_ignored_but_unknown_overrides_are_refused() {
        assert!(Settings::from_rows(rows(&[("shapeshift.pair", "x")]), &BTreeMap::new()).is_ok());
        let overrides = BTreeMap::from([("x.y".to_owned(), "1".to_owned())]);
        assert!(Settings::from_rows(std::iter::empty(), &overrides).is_err());
    }

    #[test]
    fn cross_item_rules_are_checked() {
        let err = Settings::from_rows(
            rows(&[("pool.minDifficulty", "1000"), ("pool.maxDifficulty", "10")]),
            &BTreeMap::new(),
        );
        assert!(err.is_err());
    }
}
