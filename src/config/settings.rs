//! The shared settings of every pool host: the MySQL `config` table (module/item/value/type,
//! nodejs-pool's item names) as one typed struct.
//!
//! [`ITEMS`] is the one registry of items: name, rule, default and description. It seeds
//! missing rows at `rxpool migrate` (never overwriting an operator's value), checks
//! `rxpool admin config set` before anything is written ([`check_change`]) and
//! `rxpool config check` ([`check`]), and fills [`Settings`]. Each item's [`Kind`] is its rule
//! by type and meaning (bounds and unit, an address of `general.network`; see [`rule`]); rules
//! that span items are in `Settings::relations`. Values are parsed exactly: XMR amounts into
//! [`Atomic`], percentages into [`Bps`]; there are no floats. Every refusal names `module.item`,
//! the offending value and the rule it breaks.
//!
//! A new item is one row of `items!` (and a field of [`Settings`]); its rule comes with it.

pub mod rule;

use std::collections::{BTreeMap, HashMap};

use crate::domain::amount::ATOMIC_PER_XMR;
use crate::domain::{Atomic, Bps, Network};

use rule::Unit::{Blocks, Count, Difficulty, Minutes, Of256, PerSecond, Percent, Seconds};
pub use rule::{AddressRule, Kind, Unit};
use rule::{Value, percent_text, xmr_text};

/// One item of the `config` table.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// `module.item`.
    pub key: &'static str,
    /// The item's rule: type, bounds, unit or address kind.
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

// The rule constructors of the table below; whole numbers are `Unit::range`, e.g.
// `Seconds.range(1, 3600)`.

/// A count in `min..=max`.
const fn int(min: u64, max: u64) -> Kind {
    Count.range(min, max)
}
/// An XMR amount in `min..=max` atomic units.
const fn xmr(min: u64, max: u64) -> Kind {
    Kind::Xmr {
        min: Atomic(min),
        max: Atomic(max),
    }
}
/// A percentage with two decimals, at most `max_bps` basis points.
const fn percent(max_bps: u16) -> Kind {
    Kind::Percent { max: Bps(max_bps) }
}
const fn text(max_len: usize) -> Kind {
    Kind::Text { max_len }
}

const DAY: u64 = 86_400;
const XMR: u64 = ATOMIC_PER_XMR;
/// A pool fee above half of every reward is a typo (`65` for `6.5`), not a policy.
const FEE_MAX: Kind = percent(5_000);
/// Donations are shares of the pool fee.
const SHARE_OF_FEE: Kind = percent(10_000);
const POOL_WALLET: Kind = Kind::Address(AddressRule::PoolWallet);
const REQUIRED_ADDRESS: Kind = Kind::Address(AddressRule::Required);
const OPTIONAL_ADDRESS: Kind = Kind::Address(AddressRule::Optional);
const TEXT: Kind = text(4096);

macro_rules! items {
    ($($key:literal, $kind:expr, $default:literal, $desc:literal;)*) => {
        /// Every shared setting the pool uses, with its rule and default.
        pub static ITEMS: &[Item] = &[$(Item { key: $key, kind: $kind, default: $default, description: $desc }),*];
    };
}

items! {
    "pool.address", POOL_WALLET, "", "Pool wallet address: block templates pay here. A standard address of general.network. Must be set.";
    "pool.minerTimeout", Seconds.range(30, DAY), "900", "Seconds without any message before a miner is dropped.";
    "pool.banEnabled", Kind::Bool, "true", "Ban IPs whose invalid-share ratio is too high.";
    "pool.banLength", Seconds.range(1, 30 * DAY), "900", "Seconds a temporary IP ban lasts.";
    "pool.banPercent", Percent.range(1, 100), "25", "Invalid/valid share percentage that bans an IP.";
    "pool.banThreshold", int(1, 1_000_000), "30", "Shares counted before the ban ratio is checked.";
    "pool.targetTime", Seconds.range(1, 3600), "30", "Vardiff target seconds per share.";
    "pool.retargetTime", Seconds.range(1, 3600), "60", "Least seconds between two vardiff adjustments of one miner.";
    "pool.varDiffWindow", Seconds.range(60, DAY), "600", "Seconds of share history the vardiff hashrate estimate uses.";
    "pool.proxyDiffMultiplier", int(1, 1000), "5", "Proxies aim at this many times the per-share work of a miner.";
    "pool.varDiffVariance", Percent.range(0, 100), "20", "Percent band around the target time inside which difficulty stays.";
    "pool.varDiffMaxChange", Percent.range(1, 10_000), "125", "Largest vardiff change in one step, in percent of the current difficulty.";
    "pool.minDifficulty", Difficulty.range(1, u64::MAX), "100", "Lowest miner difficulty (vardiff and fixed).";
    "pool.maxDifficulty", Difficulty.range(1, u64::MAX), "500000", "Highest miner difficulty (vardiff and fixed; not for proxies).";
    "pool.niceHashDiff", Difficulty.range(1, u64::MAX), "400000", "Minimum difficulty for NiceHash miners.";
    "pool.trustedMiners", Kind::Bool, "true", "Let proven miners skip some PoW checks.";
    "pool.trustThreshold", int(0, 1_000_000), "30", "Verified shares before trust starts.";
    "pool.trustMin", Of256.range(0, 255), "20", "Lowest verification probability (of 256) trust can reach.";
    "pool.trustChange", Of256.range(0, 255), "1", "Verification probability drop (of 256) per accepted share.";
    "pool.trustPenalty", int(0, 1_000_000), "30", "Shares to re-earn trust after a bad share.";
    "pool.trustMaxDifficulty", Difficulty.range(0, u64::MAX), "400000", "Shares above this difficulty are always verified.";
    "pool.maxConnectionsPerIp", int(1, 1_000_000), "256", "Stratum connections allowed from one IP.";
    "pool.loginTimeout", Seconds.range(1, 3600), "30", "Seconds a new connection has to log in.";
    "pool.firstShareTimeout", Seconds.range(1, DAY), "600", "Seconds a logged-in miner has to send a first share.";
    "pool.previousTemplates", int(0, 64), "4", "Previous templates whose jobs still earn credit.";
    "pool.protocolErrorLimit", int(1, 1000), "5", "Invalid requests tolerated on one connection before it is cut.";
    "pool.loginRate", PerSecond.range(1, 1_000_000), "1", "Logins per second allowed on one connection (token bucket rate).";
    "pool.loginBurst", int(1, 1_000_000), "5", "Logins one connection may send at once (token bucket size).";
    "pool.getjobRate", PerSecond.range(1, 1_000_000), "5", "getjob requests per second allowed on one connection.";
    "pool.getjobBurst", int(1, 1_000_000), "20", "getjob requests one connection may send at once.";
    "pool.submitRate", PerSecond.range(1, 1_000_000), "200", "Share submissions per second allowed on one connection.";
    "pool.submitBurst", int(1, 1_000_000), "400", "Share submissions one connection may send at once.";
    "pool.keepaliveRate", PerSecond.range(1, 1_000_000), "1", "keepalived requests per second allowed on one connection.";
    "pool.keepaliveBurst", int(1, 1_000_000), "10", "keepalived requests one connection may send at once.";
    "pool.exchangeAddresses", Kind::AddressList, "", "Comma-separated exchange addresses that must log in with a payment ID.";
    "pool.bannedAddresses", Kind::AddressList, "", "Comma-separated payout addresses refused at login.";
    "pool.ipv6BanPrefix", int(1, 128), "64", "IPv6 addresses sharing this many leading bits count as one IP for bans and connection caps.";
    "payout.feeAddress", REQUIRED_ADDRESS, "", "Address that receives the pool fees. Must be set.";
    "payout.pplnsFee", FEE_MAX, "0.6", "PPLNS pool fee, percent (0 to 50).";
    "payout.ppsFee", FEE_MAX, "6.5", "PPS pool fee, percent (0 to 50).";
    "payout.soloFee", FEE_MAX, "0.4", "Solo pool fee, percent (0 to 50).";
    "payout.devDonation", SHARE_OF_FEE, "0", "Share of the pool fee donated to payout.devAddress, percent.";
    "payout.poolDevDonation", SHARE_OF_FEE, "0", "Share of the pool fee donated to payout.poolDevAddress, percent.";
    "payout.devAddress", OPTIONAL_ADDRESS, "", "Monero development donation address.";
    "payout.poolDevAddress", OPTIONAL_ADDRESS, "", "Pool software donation address.";
    "payout.walletMin", xmr(1, 1000 * XMR), "0.3", "Smallest payout, XMR; the floor of every miner threshold.";
    "payout.maxThreshold", xmr(1, 1_000_000 * XMR), "1000", "Largest payout threshold a miner may choose (POST /user/updateThreshold), XMR.";
    "payout.exchangeMin", xmr(1, 1000 * XMR), "5", "Smallest payout to integrated, payment-ID and exchange payees, XMR.";
    "payout.denom", xmr(1, XMR), "0.000001", "Payouts are rounded down to a multiple of this, XMR.";
    "payout.blocksRequired", Blocks.range(1, 10_000), "60", "Confirmations before a found block is credited.";
    "payout.feesForTXN", xmr(0, 1000 * XMR), "10", "XMR kept back when paying the fee address.";
    "payout.feePolicy", Kind::FeePolicy, "pool", "Who pays the network fee: pool, or slew (nodejs-pool's withdrawal-fee slew).";
    "payout.feeSlewAmount", xmr(0, XMR), "0.011", "Withdrawal fee at payout.walletMin under the slew policy, XMR.";
    "payout.feeSlewEnd", xmr(0, 1000 * XMR), "4", "Payout above which the slew fee is zero, XMR.";
    "payout.maxPaymentTxns", int(1, 15), "15", "Destinations per batched transfer (Monero allows 16 outputs with change).";
    "payout.timer", Minutes.range(1, 35_791), "120", "Minutes between payout cycles.";
    "payout.timerRetry", Minutes.range(1, 35_791), "25", "Minutes before retrying when the wallet lacked unlocked funds.";
    "payout.priority", int(0, 4), "0", "Transfer priority (0 default, 1 low, ...).";
    "payout.confirmations", Blocks.range(1, 1000), "10", "Confirmations before a payout transaction counts as final.";
    "payout.walletAlertMinutes", Minutes.range(1, 10_000), "30", "Minutes of wallet-rpc failures before an alert.";
    "pplns.enable", Kind::Bool, "true", "Open PPLNS ports.";
    "pplns.shareMulti", int(1, 100), "2", "PPLNS window: shareMulti x block difficulty.";
    "pps.enable", Kind::Bool, "false", "Open PPS ports and credit PPS shares.";
    "solo.enable", Kind::Bool, "true", "Open solo ports.";
    "general.network", Kind::Network, "mainnet", "Network of every address: mainnet, testnet or stagenet.";
    "general.blockCleaner", Kind::Bool, "true", "Let the cleaner role delete shares, stats and blocks; false only logs what it would delete.";
    "general.adminEmail", Kind::Email, "", "Where operator alerts are sent (worker role); empty sends none.";
    "general.adminAlertReminder", Minutes.range(1, 100_000), "240", "Minutes between reminders of an operator alert that is still on.";
    "general.poolName", TEXT, "rxpool", "The pool's name, in every e-mail.";
    "general.publicUrl", Kind::Url, "", "Public base URL of the api (links in e-mails point here), e.g. https://pool.example.org/api.";
    "general.emailSig", TEXT, "rxpool Administration Team", "Signature under every e-mail.";
    "general.statsBufferLength", int(1, 100_000), "1440", "One-minute chart points kept per pool, mode, miner and worker (1440 = 24 h).";
    "general.motdSubject", text(256), "", "Subject of the pool's message of the day (api /pool/motd); empty with an empty body shows none.";
    "general.motdBody", TEXT, "", "Text of the pool's message of the day (api /pool/motd).";
    "general.motdCreated", int(0, u64::MAX), "0", "When the message of the day was written, Unix seconds (api /pool/motd `created`).";
    "worker.statsInterval", Seconds.range(1, 3600), "10", "Seconds between two stats rollups.";
    "worker.hashrateWindow", Seconds.range(60, DAY), "600", "Seconds of shares a hashrate is averaged over.";
    "worker.identifierWindow", Seconds.range(60, DAY), "1800", "Seconds since its last share for a worker to be listed as active.";
    "worker.historyDays", int(1, 3650), "30", "Days of hourly chart points kept.";
    "worker.forgetAfter", Seconds.range(3600, 3650 * DAY), "604800", "Seconds without a share after which a worker's stats and history are dropped.";
    "cleaner.interval", Seconds.range(10, DAY), "600", "Seconds between two cleaner cycles.";
    "cleaner.margin", Blocks.range(0, 1_000_000), "120", "Heights kept below the lowest height any payout may still need (a PPLNS window, PPS, solo).";
    "cleaner.minRetention", Blocks.range(0, 10_000_000), "720", "Shares of the newest this many heights below the chain tip are never pruned (720 = about a day).";
    "cleaner.pruneBatch", int(1, 10_000), "8", "Template heights of shares deleted per LMDB transaction.";
    "cleaner.blockRetention", int(0, 36_500), "0", "Days after it settled (unlocked or orphaned) that a found block's record is deleted; 0 keeps every block (the api counts and lists them).";
    "cleaner.growPercent", Percent.range(10, 95), "80", "The cleaner grows the LMDB map (doubling) when more than this share of it is used.";
    "cleaner.alertPercent", Percent.range(1, 100), "80", "LMDB use, in percent of its maximum map size, above which the operator alert turns on.";
    "email.workerNotHashingDelay", Minutes.range(1, 10_000), "10", "Minutes without a share before a worker counts as stopped.";
    "email.hourlyCap", int(1, 10_000), "10", "Most e-mails sent to one address in an hour; the rest wait.";
    "email.workerNotHashingSubject", TEXT, "Status of your worker(s)", "Subject when workers stop hashing.";
    "email.workerNotHashingBody", TEXT, "Your worker: %(worker)s has stopped submitting hashes at: %(timestamp)s UTC", "One line per worker that stopped.";
    "email.workerStartHashingSubject", TEXT, "Status of your worker(s)", "Subject when workers resume hashing.";
    "email.workerStartHashingBody", TEXT, "Your worker: %(worker)s has started submitting hashes at: %(timestamp)s UTC", "One line per worker that resumed.";
    "email.paymentSentSubject", TEXT, "Payment sent to your wallet", "Subject of the payment mail.";
    "email.paymentSentBody", TEXT, "Your payment of %(amount)s XMR (network fee %(fee)s XMR) to %(address)s has been sent in transaction %(tx_hash)s.", "Body of the payment mail.";
    "email.blockFoundSubject", TEXT, "Your solo block was found", "Subject of the solo block mail (miners who opted in).";
    "email.blockFoundBody", TEXT, "Your worker %(worker)s found block %(height)s (%(hash)s) on a solo port at %(timestamp)s UTC.", "Body of the solo block mail.";
    "email.confirmSubject", TEXT, "Confirm your e-mail address", "Subject of the double opt-in confirmation mail.";
    "email.confirmBody", TEXT, "Someone asked for alerts about the miner %(address)s to be sent to this address. To confirm, open:\n%(link)s\n\nIf that was not you, ignore this mail: nothing more will be sent.", "Body of the confirmation mail.";
}

/// The registry entry for `module.item`.
pub fn item(key: &str) -> Option<&'static Item> {
    ITEMS.iter().find(|i| i.key == key)
}

/// Why a setting cannot be used. Each names the item, and all but `Unknown` the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}: no such setting (see `rxpool admin config list`)")]
    Unknown(String),
    /// The value breaks its item's rule, or a rule spanning items.
    #[error("{key}: {value:?} breaks the rule: must be {rule}{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Invalid {
        key: String,
        value: String,
        rule: String,
        detail: Option<String>,
    },
    /// A required item is empty.
    #[error("{key}: not set; must be {rule}")]
    Unset { key: String, rule: String },
    /// Setting `key` to `value` would make another item invalid (`because`).
    #[error("{key}: {value:?} is refused: it would break another setting: {because}")]
    Breaks {
        key: String,
        value: String,
        because: Box<SettingsError>,
    },
}

impl SettingsError {
    /// The item the problem is about.
    pub fn key(&self) -> &str {
        match self {
            SettingsError::Unknown(key)
            | SettingsError::Invalid { key, .. }
            | SettingsError::Unset { key, .. }
            | SettingsError::Breaks { key, .. } => key,
        }
    }

    /// What makes two problems the same one, whatever their wording (a rule's text names the
    /// network, which a change may switch).
    fn identity(&self) -> (u8, &str, &str) {
        match self {
            SettingsError::Unknown(key) => (0, key, ""),
            SettingsError::Invalid { key, value, .. } => (1, key, value),
            SettingsError::Unset { key, .. } => (2, key, ""),
            SettingsError::Breaks { key, value, .. } => (3, key, value),
        }
    }
}

fn invalid(
    item: &Item,
    value: &str,
    network: Option<Network>,
    detail: Option<String>,
) -> SettingsError {
    SettingsError::Invalid {
        key: item.key.to_owned(),
        value: value.chars().take(80).collect(),
        rule: item.kind.rule(network),
        detail,
    }
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
    /// The largest threshold a miner may set through the api.
    pub max_threshold: Atomic,
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

/// `general.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct General {
    pub network: Network,
    pub block_cleaner: bool,
    pub admin_email: String,
    pub admin_alert_reminder_minutes: u64,
    pub pool_name: String,
    /// Base URL of the api for links in e-mails, without a trailing `/`; empty when unset.
    pub public_url: String,
    pub email_sig: String,
    pub stats_buffer_length: u64,
    /// The message of the day (`/pool/motd`): subject, body, Unix seconds written.
    pub motd_subject: String,
    pub motd_body: String,
    pub motd_created: u64,
}

/// `worker.*`: the stats rollups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    pub stats_interval_secs: u64,
    pub hashrate_window_secs: u64,
    pub identifier_window_secs: u64,
    pub history_days: u64,
    pub forget_after_secs: u64,
}

/// `cleaner.*`: share store retention and care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaner {
    pub interval_secs: u64,
    /// Heights kept below the lowest height a payout may need.
    pub margin_heights: u64,
    /// Heights below the tip never pruned.
    pub min_retention_heights: u64,
    /// Template heights per prune transaction.
    pub prune_batch: u64,
    /// Days a settled block record is kept (0: forever).
    pub block_retention_days: u64,
    /// Grow the map above this percent of its current size.
    pub grow_percent: u64,
    /// The LMDB operator alert turns on above this percent of the maximum map size.
    pub alert_percent: u64,
}

/// `email.*`: alert timing and the texts (nodejs-pool's `%(name)s` placeholders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub worker_not_hashing_delay_minutes: u64,
    pub hourly_cap: u64,
    pub worker_not_hashing_subject: String,
    pub worker_not_hashing_body: String,
    pub worker_start_hashing_subject: String,
    pub worker_start_hashing_body: String,
    pub payment_sent_subject: String,
    pub payment_sent_body: String,
    pub block_found_subject: String,
    pub block_found_body: String,
    pub confirm_subject: String,
    pub confirm_body: String,
}

/// Every shared setting, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub pool: Pool,
    pub payout: Payout,
    pub modes: Modes,
    pub general: General,
    pub worker: WorkerStats,
    pub cleaner: Cleaner,
    pub email: Email,
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

/// What `rxpool config check` reports: every problem of the stored rows and overrides.
#[derive(Debug, Clone)]
pub struct Check {
    /// The settings, when no value breaks a rule (they may still have unset items).
    pub settings: Option<Settings>,
    /// Every broken rule and unset required item, in registry order.
    pub problems: Vec<SettingsError>,
    /// Stored items this version does not know (ignored; a newer or older host may).
    pub unknown: Vec<String>,
}

/// Checks stored `(module.item, value)` rows and `config.toml` overrides (which win) by every
/// item's rule and the rules spanning items; items absent from both take their default.
pub fn check(
    rows: impl IntoIterator<Item = (String, String)>,
    overrides: &BTreeMap<String, String>,
) -> Check {
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let mut raw: HashMap<&'static str, String> = ITEMS
        .iter()
        .map(|i| (i.key, i.default.to_owned()))
        .collect();
    for (key, value) in rows {
        match item(&key) {
            Some(i) => {
                raw.insert(i.key, value);
            }
            None => unknown.push(key),
        }
    }
    for (key, value) in overrides {
        match item(key) {
            Some(i) => {
                raw.insert(i.key, value.clone());
            }
            None => problems.push(SettingsError::Unknown(key.clone())),
        }
    }
    // Addresses are checked against the network, so it is read first; when it is itself
    // broken, addresses are checked for their form only.
    let network = match Kind::Network.parse(&raw[NETWORK_KEY], None) {
        Ok(Value::Network(n)) => Some(n),
        _ => None,
    };
    let mut values = HashMap::new();
    for i in ITEMS {
        let value = &raw[i.key];
        match i.kind.parse(value, network) {
            Ok(v) => {
                if i.kind.required() && value.trim().is_empty() {
                    problems.push(SettingsError::Unset {
                        key: i.key.to_owned(),
                        rule: i.kind.rule(network),
                    });
                }
                values.insert(i.key, v);
            }
            Err(detail) => problems.push(invalid(i, value, network, detail)),
        }
    }
    let settings = (values.len() == ITEMS.len()).then(|| Settings::from_values(&Values(values)));
    if let Some(s) = &settings {
        problems.extend(s.relations());
    }
    let broken = problems
        .iter()
        .any(|p| !matches!(p, SettingsError::Unset { .. }));
    Check {
        settings: settings.filter(|_| !broken),
        problems,
        unknown,
    }
}

/// Whether `key = value` may be stored over `rows` (the `config` table as it is). The value
/// must keep its item's rule, and must not break another item's (an address of the network
/// it switches to, a minimum above its maximum, setting a required item to empty). Problems
/// the table already had are not blamed on this change, so an operator can repair broken
/// items one at a time. Returns the item to store.
pub fn check_change(
    rows: &[(String, String)],
    key: &str,
    value: &str,
) -> Result<&'static Item, SettingsError> {
    let item = item(key).ok_or_else(|| SettingsError::Unknown(key.to_owned()))?;
    let no_overrides = BTreeMap::new();
    let before = check(rows.iter().cloned(), &no_overrides).problems;
    let after = rows
        .iter()
        .filter(|(k, _)| k != key)
        .cloned()
        .chain([(key.to_owned(), value.to_owned())]);
    let new = check(after, &no_overrides)
        .problems
        .into_iter()
        .find(|p| !before.iter().any(|b| b.identity() == p.identity()));
    match new {
        None => Ok(item),
        Some(problem) if problem.key() == key => Err(problem),
        Some(problem) => Err(SettingsError::Breaks {
            key: key.to_owned(),
            value: value.chars().take(80).collect(),
            because: Box::new(problem),
        }),
    }
}

/// `general.network`, the fact every address rule depends on.
const NETWORK_KEY: &str = "general.network";

impl Settings {
    /// Every item at its default.
    pub fn defaults() -> Settings {
        Settings::from_rows(std::iter::empty(), &BTreeMap::new())
            .expect("registry defaults are valid")
    }

    /// Builds the settings from stored `(module.item, value)` rows and `config.toml`
    /// overrides (which win); items absent from both take their default. Fails with the first
    /// broken rule ([`check`] lists them all). Unknown stored items are skipped with a
    /// warning; unset required items are left empty for the roles that need them to refuse.
    pub fn from_rows(
        rows: impl IntoIterator<Item = (String, String)>,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        let Check {
            settings,
            problems,
            unknown,
        } = check(rows, overrides);
        for key in unknown {
            tracing::warn!(setting = %key, "ignoring unknown setting in the config table");
        }
        match settings {
            Some(settings) => Ok(settings),
            None => Err(problems
                .into_iter()
                .find(|p| !matches!(p, SettingsError::Unset { .. }))
                .expect("settings are withheld only for a broken rule")),
        }
    }

    fn from_values(v: &Values) -> Settings {
        Settings {
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
                max_threshold: v.xmr("payout.maxThreshold"),
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
                admin_alert_reminder_minutes: v.int("general.adminAlertReminder"),
                pool_name: v.text("general.poolName"),
                public_url: v.text("general.publicUrl"),
                email_sig: v.text("general.emailSig"),
                stats_buffer_length: v.int("general.statsBufferLength"),
                motd_subject: v.text("general.motdSubject"),
                motd_body: v.text("general.motdBody"),
                motd_created: v.int("general.motdCreated"),
            },
            worker: WorkerStats {
                stats_interval_secs: v.int("worker.statsInterval"),
                hashrate_window_secs: v.int("worker.hashrateWindow"),
                identifier_window_secs: v.int("worker.identifierWindow"),
                history_days: v.int("worker.historyDays"),
                forget_after_secs: v.int("worker.forgetAfter"),
            },
            cleaner: Cleaner {
                interval_secs: v.int("cleaner.interval"),
                margin_heights: v.int("cleaner.margin"),
                min_retention_heights: v.int("cleaner.minRetention"),
                prune_batch: v.int("cleaner.pruneBatch"),
                block_retention_days: v.int("cleaner.blockRetention"),
                grow_percent: v.int("cleaner.growPercent"),
                alert_percent: v.int("cleaner.alertPercent"),
            },
            email: Email {
                worker_not_hashing_delay_minutes: v.int("email.workerNotHashingDelay"),
                hourly_cap: v.int("email.hourlyCap"),
                worker_not_hashing_subject: v.text("email.workerNotHashingSubject"),
                worker_not_hashing_body: v.text("email.workerNotHashingBody"),
                worker_start_hashing_subject: v.text("email.workerStartHashingSubject"),
                worker_start_hashing_body: v.text("email.workerStartHashingBody"),
                payment_sent_subject: v.text("email.paymentSentSubject"),
                payment_sent_body: v.text("email.paymentSentBody"),
                block_found_subject: v.text("email.blockFoundSubject"),
                block_found_body: v.text("email.blockFoundBody"),
                confirm_subject: v.text("email.confirmSubject"),
                confirm_body: v.text("email.confirmBody"),
            },
        }
    }

    /// Rules that span items, each reported on the item to change.
    fn relations(&self) -> Vec<SettingsError> {
        let mut problems = Vec::new();
        let mut broken = |key: &str, value: String, rule: String| {
            problems.push(SettingsError::Invalid {
                key: key.to_owned(),
                value,
                rule,
                detail: None,
            })
        };
        let (pool, payout) = (&self.pool, &self.payout);
        if pool.min_difficulty > pool.max_difficulty {
            broken(
                "pool.minDifficulty",
                pool.min_difficulty.to_string(),
                format!("at most pool.maxDifficulty ({})", pool.max_difficulty),
            );
        }
        if payout.max_threshold < payout.wallet_min {
            broken(
                "payout.maxThreshold",
                xmr_text(payout.max_threshold),
                format!(
                    "at least payout.walletMin ({})",
                    xmr_text(payout.wallet_min)
                ),
            );
        }
        let donations = u32::from(payout.dev_donation.0) + u32::from(payout.pool_dev_donation.0);
        if donations > u32::from(Bps::WHOLE) {
            broken(
                "payout.devDonation",
                percent_text(payout.dev_donation),
                format!(
                    "at most 100 together with payout.poolDevDonation ({}): donations are shares of the fee",
                    percent_text(payout.pool_dev_donation)
                ),
            );
        }
        if payout.fee_policy == FeePolicy::Slew {
            if payout.fee_slew_amount >= payout.wallet_min {
                broken(
                    "payout.feeSlewAmount",
                    xmr_text(payout.fee_slew_amount),
                    format!(
                        "below payout.walletMin ({}) under the slew policy, or the smallest payout is all fee",
                        xmr_text(payout.wallet_min)
                    ),
                );
            }
            if payout.fee_slew_end <= payout.wallet_min {
                broken(
                    "payout.feeSlewEnd",
                    xmr_text(payout.fee_slew_end),
                    format!(
                        "above payout.walletMin ({}) under the slew policy",
                        xmr_text(payout.wallet_min)
                    ),
                );
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Monero general fund's mainnet address.
    const MAINNET: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn no_overrides() -> BTreeMap<String, String> {
        BTreeMap::new()
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
        // The `config` table's columns: module VARCHAR(32), item VARCHAR(64), Item_desc
        // VARCHAR(512).
        for i in ITEMS {
            assert!(i.module().len() <= 32 && i.name().len() <= 64, "{}", i.key);
            assert!(i.description.len() <= 512, "{}", i.key);
        }
    }

    #[test]
    fn every_item_has_a_rule_by_meaning() {
        // Addresses are addresses, durations are positive: no item is free text by accident.
        for i in ITEMS {
            let name = i.name().to_ascii_lowercase();
            if name.contains("address") {
                assert!(
                    matches!(i.kind, Kind::Address(_) | Kind::AddressList),
                    "{} holds addresses but its rule is {:?}",
                    i.key,
                    i.kind
                );
            }
            if name.contains("email") && !i.key.starts_with("email.") {
                assert!(
                    matches!(i.kind, Kind::Email | Kind::Text { .. }),
                    "{}",
                    i.key
                );
            }
            if let Kind::Int { min, unit, .. } = i.kind {
                assert!(min >= 1 || !unit.is_positive(), "{}", i.key);
            }
            if matches!(i.kind, Kind::Text { .. }) {
                assert!(
                    i.key.starts_with("email.")
                        || i.key == "general.emailSig"
                        || i.key == "general.poolName"
                        || i.key.starts_with("general.motd"),
                    "{}",
                    i.key
                );
            }
        }
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
    fn a_bad_value_names_its_item_and_the_rule() {
        let err = Settings::from_rows(rows(&[("payout.walletMin", "0.1.2")]), &no_overrides())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("payout.walletMin:"), "{err}");
        assert!(err.contains("an XMR amount between"), "{err}");
        let err = Settings::from_rows(rows(&[("payout.maxPaymentTxns", "16")]), &no_overrides())
            .unwrap_err()
            .to_string();
        assert!(err.contains("between 1 and 15"), "{err}");
        let err = Settings::from_rows(rows(&[("pool.targetTime", "0")]), &no_overrides())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "pool.targetTime: \"0\" breaks the rule: must be a duration between 1 and 3600 seconds"
        );
        let err = check_change(&[], "pool.address", "not-an-address")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("pool.address: \"not-an-address\" breaks the rule: must be a standard mainnet wallet address"),
            "{err}"
        );
        for (key, value) in [
            ("pool.banEnabled", "yes"),
            ("payout.pplnsFee", "101"),
            ("payout.pplnsFee", "65"),
            ("payout.pplnsFee", "NaN"),
            ("payout.devAddress", "4abc"),
            ("payout.feeAddress", "x"),
            ("pool.exchangeAddresses", &format!("{MAINNET},bogus")),
            ("pool.bannedAddresses", "nope"),
            ("general.adminEmail", "root"),
            ("payout.denom", "0"),
            ("payout.walletMin", "0"),
            ("payout.timer", "0"),
        ] {
            let err = check_change(&[], key, value).unwrap_err();
            assert_eq!(err.key(), key, "{err}");
            assert!(
                err.to_string().contains("breaks the rule: must be"),
                "{err}"
            );
        }
        assert_eq!(
            check_change(&[], "nope.nothing", "1").unwrap_err(),
            SettingsError::Unknown("nope.nothing".into())
        );
    }

    #[test]
    fn the_largest_threshold_a_miner_may_choose_is_not_below_the_pool_minimum() {
        let err = check_change(&[], "payout.maxThreshold", "0.2").unwrap_err();
        assert_eq!(err.key(), "payout.maxThreshold", "{err}");
        assert!(err.to_string().contains("payout.walletMin"), "{err}");
        assert!(check_change(&[], "payout.maxThreshold", "0.3").is_ok());
        let table = [("payout.maxThreshold".to_owned(), "1".to_owned())];
        let err = check_change(&table, "payout.walletMin", "2").unwrap_err();
        assert!(err.to_string().contains("payout.walletMin"), "{err}");
    }

    #[test]
    fn addresses_must_be_of_the_pools_network() {
        assert!(check_change(&[], "payout.feeAddress", MAINNET).is_ok());
        let testnet = rows(&[("general.network", "testnet")]);
        let err = check_change(&testnet, "payout.feeAddress", MAINNET)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be a testnet wallet address"), "{err}");
        assert!(err.contains("address is for mainnet"), "{err}");
    }

    #[test]
    fn switching_the_network_is_refused_while_an_address_is_of_the_old_one() {
        let table = rows(&[("pool.address", MAINNET)]);
        let err = check_change(&table, "general.network", "stagenet").unwrap_err();
        assert!(matches!(err, SettingsError::Breaks { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("general.network: \"stagenet\" is refused"),
            "{text}"
        );
        assert!(text.contains("pool.address"), "{text}");
        // With no address set yet, the switch is fine (unset items stay unset).
        assert!(check_change(&[], "general.network", "stagenet").is_ok());
    }

    #[test]
    fn a_required_item_cannot_be_emptied_but_others_can() {
        let table = rows(&[("pool.address", MAINNET), ("payout.devAddress", MAINNET)]);
        let err = check_change(&table, "pool.address", " ").unwrap_err();
        assert!(matches!(err, SettingsError::Unset { .. }), "{err}");
        assert!(check_change(&table, "payout.devAddress", "").is_ok());
    }

    #[test]
    fn a_broken_table_can_be_repaired_one_item_at_a_time() {
        // An older version stored two bad addresses.
        let table = rows(&[
            ("pool.address", "old-junk"),
            ("payout.feeAddress", "more-junk"),
        ]);
        assert!(check_change(&table, "pool.address", MAINNET).is_ok());
        assert!(check_change(&table, "pool.targetTime", "20").is_ok());
        // A different bad value for a broken item is still refused.
        assert!(check_change(&table, "pool.address", "new-junk").is_err());
    }

    #[test]
    fn check_reports_every_problem_at_once() {
        let report = check(
            rows(&[
                ("pool.address", "not-an-address"),
                ("pool.targetTime", "0"),
                ("shapeshift.pair", "x"),
            ]),
            &no_overrides(),
        );
        assert!(report.settings.is_none());
        let keys: Vec<_> = report.problems.iter().map(SettingsError::key).collect();
        assert_eq!(
            keys,
            ["pool.address", "pool.targetTime", "payout.feeAddress"]
        );
        assert!(matches!(report.problems[2], SettingsError::Unset { .. }));
        assert_eq!(report.unknown, ["shapeshift.pair"]);
        // Unset items alone still give settings: the roles that need them refuse to start.
        let fresh = check(std::iter::empty(), &no_overrides());
        assert!(fresh.settings.is_some());
        assert_eq!(fresh.problems.len(), 2);
        assert!(
            fresh
                .problems
                .iter()
                .all(|p| matches!(p, SettingsError::Unset { .. }))
        );
    }

    #[test]
    fn a_broken_network_still_checks_the_form_of_addresses() {
        let report = check(
            rows(&[("general.network", "moonnet"), ("pool.address", "junk")]),
            &no_overrides(),
        );
        let keys: Vec<_> = report.problems.iter().map(SettingsError::key).collect();
        assert!(
            keys.contains(&"general.network") && keys.contains(&"pool.address"),
            "{keys:?}"
        );
    }

    #[test]
    fn unknown_stored_items_are_ignored_but_unknown_overrides_are_refused() {
        assert!(Settings::from_rows(rows(&[("shapeshift.pair", "x")]), &no_overrides()).is_ok());
        let overrides = BTreeMap::from([("x.y".to_owned(), "1".to_owned())]);
        assert!(Settings::from_rows(std::iter::empty(), &overrides).is_err());
    }

    #[test]
    fn cross_item_rules_are_checked() {
        let err = Settings::from_rows(
            rows(&[("pool.minDifficulty", "1000"), ("pool.maxDifficulty", "10")]),
            &no_overrides(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("at most pool.maxDifficulty (10)"), "{err}");
        let err = check_change(
            &rows(&[("payout.devDonation", "60")]),
            "payout.poolDevDonation",
            "50",
        )
        .unwrap_err();
        assert!(err.to_string().contains("payout.devDonation"), "{err}");
        // The slew fee must leave the smallest payout something, and end above it.
        let slew = rows(&[("payout.feePolicy", "slew")]);
        assert!(check_change(&slew, "payout.feeSlewAmount", "0.3").is_err());
        assert!(check_change(&slew, "payout.feeSlewEnd", "0.2").is_err());
        assert!(check_change(&slew, "payout.feeSlewAmount", "0.2").is_ok());
        // Under the pool policy the slew items are not used, so not held to it.
        assert!(check_change(&[], "payout.feeSlewAmount", "0.3").is_ok());
        assert!(
            check_change(
                &rows(&[("payout.feeSlewAmount", "0.5")]),
                "payout.feePolicy",
                "slew"
            )
            .is_err()
        );
    }
}
