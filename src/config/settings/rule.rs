//! The rule of one shared setting: what its value is (type) and what makes it meaningful
//! (bounds, unit, an address of the pool's network). Every item of the registry in
//! [`super::ITEMS`] names one [`Kind`]; [`Kind::parse`] applies it and [`Kind::rule`] says it in
//! words, so a refusal always names the rule that was broken.
//!
//! Pure: no I/O, no knowledge of other items. The one fact from outside is the pool's network,
//! which address rules need and the caller passes in. Rules that span items (min below max)
//! live with [`super::Settings`].

use std::fmt;

use crate::domain::address::{AddressKind, WalletAddress};
use crate::domain::amount::ATOMIC_PER_XMR;
use crate::domain::{Atomic, Bps, Network};

use super::FeePolicy;

/// What kind of value an item holds, and the bounds that make it meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number of `unit` in `min..=max`.
    Int { min: u64, max: u64, unit: Unit },
    /// `true`/`false` (also `1`/`0`).
    Bool,
    /// Free text of at most `max_len` bytes (e-mail subjects, bodies, signatures).
    Text { max_len: usize },
    /// An e-mail address (`name@host`), or empty for none.
    Email,
    /// An `http://` or `https://` base URL without query or fragment, or empty for none.
    Url,
    /// A decimal XMR amount, e.g. `0.3`, stored exactly as atomic units, in `min..=max`.
    Xmr { min: Atomic, max: Atomic },
    /// A percentage with up to two decimals, e.g. `0.6`, stored as basis points, up to `max`.
    Percent { max: Bps },
    /// `mainnet`, `testnet` or `stagenet`.
    Network,
    /// `pool` (the pool pays the network fee) or `slew` (nodejs-pool's withdrawal-fee slew).
    FeePolicy,
    /// One wallet address of the pool's network.
    Address(AddressRule),
    /// A comma-separated list of wallet addresses of the pool's network (each any kind).
    AddressList,
}

/// The unit of an [`Kind::Int`] item, named in its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Minutes,
    /// A whole percentage (not basis points).
    Percent,
    Difficulty,
    Blocks,
    PerSecond,
    /// A probability out of 256 (the trust draw).
    Of256,
}

/// Which addresses an [`Kind::Address`] item takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRule {
    /// The pool wallet block templates pay to: a standard address (monerod mines to no
    /// subaddress, and an integrated address's ID would be lost in a coinbase). Must be set.
    PoolWallet,
    /// Any address of the network (standard, subaddress or integrated). Must be set.
    Required,
    /// Any address of the network, or empty for none.
    Optional,
}

/// Most entries an address list takes (a long ban list belongs in the `bans` table).
pub const MAX_LIST_ENTRIES: usize = 10_000;

/// A value parsed by its item's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Int(u64),
    Bool(bool),
    /// Text, e-mail addresses and single addresses (empty when unset).
    Text(String),
    Xmr(Atomic),
    Percent(Bps),
    Network(Network),
    FeePolicy(FeePolicy),
    List(Vec<String>),
}

/// Why a value breaks its rule, beyond the rule itself (e.g. "address checksum does not
/// match"). `None` when the rule says it all.
pub(super) type Detail = Option<String>;

impl Kind {
    /// The `item_type` column value, as nodejs-pool names it.
    pub fn sql_type(self) -> &'static str {
        match self {
            Kind::Int { .. } => "int",
            Kind::Bool => "bool",
            Kind::Xmr { .. } | Kind::Percent { .. } => "float",
            Kind::Text { .. }
            | Kind::Email
            | Kind::Url
            | Kind::Network
            | Kind::FeePolicy
            | Kind::Address(_)
            | Kind::AddressList => "string",
        }
    }

    /// Whether an empty value means "not set" for an item that must be set.
    pub fn required(self) -> bool {
        matches!(
            self,
            Kind::Address(AddressRule::PoolWallet | AddressRule::Required)
        )
    }

    /// The rule in words, completing "must be ...". `network` is the pool's network, when
    /// known.
    pub fn rule(self, network: Option<Network>) -> String {
        // "a mainnet wallet address", or without the network "a wallet address of
        // general.network".
        let addresses = |noun: &str| match network {
            Some(n) => format!("{n} {noun}"),
            None => format!("{noun} of general.network"),
        };
        match self {
            Kind::Int { min, max, unit } => unit.describe(min, max),
            Kind::Bool => "true or false".into(),
            Kind::Text { max_len } => format!("text of at most {max_len} bytes"),
            Kind::Email => "an e-mail address (name@host), or empty for none".into(),
            Kind::Url => "an http:// or https:// URL without ? or #, or empty for none".into(),
            Kind::Xmr { min, max } => format!(
                "an XMR amount between {} and {} (at most 12 decimals)",
                xmr_text(min),
                xmr_text(max)
            ),
            Kind::Percent { max } => format!(
                "a percentage between 0 and {} (at most 2 decimals)",
                percent_text(max)
            ),
            Kind::Network => "mainnet, testnet or stagenet".into(),
            Kind::FeePolicy => "pool or slew".into(),
            Kind::Address(AddressRule::PoolWallet) => format!(
                "a standard {} (not a subaddress or integrated address)",
                addresses("wallet address")
            ),
            Kind::Address(AddressRule::Required) => format!("a {}", addresses("wallet address")),
            Kind::Address(AddressRule::Optional) => {
                format!("a {}, or empty for none", addresses("wallet address"))
            }
            Kind::AddressList => format!(
                "a comma-separated list of at most {MAX_LIST_ENTRIES} {}",
                addresses("wallet addresses")
            ),
        }
    }

    /// Parses `value` by this rule. Addresses are checked against `network`; with `None`
    /// (the network setting itself is broken) only their form is checked.
    pub(super) fn parse(self, value: &str, network: Option<Network>) -> Result<Value, Detail> {
        let v = value.trim();
        Ok(match self {
            Kind::Int { min, max, .. } => {
                let n: u64 = v.parse().map_err(|_| None)?;
                if n < min || n > max {
                    return Err(None);
                }
                Value::Int(n)
            }
            Kind::Bool => match v {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return Err(None),
            },
            Kind::Text { max_len } => {
                if value.len() > max_len {
                    return Err(Some(format!("{} bytes", value.len())));
                }
                Value::Text(v.to_owned())
            }
            Kind::Email => {
                if !v.is_empty() && !is_email(v) {
                    return Err(None);
                }
                Value::Text(v.to_owned())
            }
            Kind::Url => {
                if !v.is_empty() && !is_base_url(v) {
                    return Err(None);
                }
                Value::Text(v.trim_end_matches('/').to_owned())
            }
            Kind::Xmr { min, max } => match Atomic::from_xmr_str(v) {
                Some(a) if a >= min && a <= max => Value::Xmr(a),
                _ => return Err(None),
            },
            Kind::Percent { max } => match Bps::from_percent_str(v) {
                Some(b) if b <= max => Value::Percent(b),
                _ => return Err(None),
            },
            Kind::Network => Value::Network(match v {
                "mainnet" => Network::Mainnet,
                "testnet" => Network::Testnet,
                "stagenet" => Network::Stagenet,
                _ => return Err(None),
            }),
            Kind::FeePolicy => Value::FeePolicy(match v {
                "pool" => FeePolicy::PoolPays,
                "slew" => FeePolicy::Slew,
                _ => return Err(None),
            }),
            Kind::Address(rule) => {
                // Empty is "not set": allowed in storage (the registry default); a required
                // item reports it separately, as unset rather than malformed.
                if !v.is_empty() {
                    let address = parse_address(v, network)?;
                    if rule == AddressRule::PoolWallet {
                        match address.kind {
                            AddressKind::Standard => {}
                            AddressKind::Subaddress => {
                                return Err(Some("it is a subaddress".into()));
                            }
                            AddressKind::Integrated => {
                                return Err(Some("it is an integrated address".into()));
                            }
                        }
                    }
                }
                Value::Text(v.to_owned())
            }
            Kind::AddressList => {
                let entries: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if entries.len() > MAX_LIST_ENTRIES {
                    return Err(Some(format!("{} entries", entries.len())));
                }
                for (n, entry) in entries.iter().enumerate() {
                    parse_address(entry, network).map_err(|detail| {
                        Some(format!("entry {}: {}", n + 1, detail.unwrap_or_default()))
                    })?;
                }
                Value::List(entries)
            }
        })
    }
}

impl Unit {
    /// The rule "a whole number of this unit in `min..=max`". Durations and rates are
    /// positive: a zero minimum for them is a compile error in the registry.
    pub const fn range(self, min: u64, max: u64) -> Kind {
        assert!(
            min >= 1 || !self.is_positive(),
            "durations and rates are positive"
        );
        Kind::Int {
            min,
            max,
            unit: self,
        }
    }

    /// Whether a value of this unit must be above zero (durations and rates).
    pub const fn is_positive(self) -> bool {
        matches!(self, Unit::Seconds | Unit::Minutes | Unit::PerSecond)
    }

    fn describe(self, min: u64, max: u64) -> String {
        match self {
            Unit::Count => format!("a whole number between {min} and {max}"),
            Unit::Seconds => format!("a duration between {min} and {max} seconds"),
            Unit::Minutes => format!("a duration between {min} and {max} minutes"),
            Unit::Percent => format!("a whole percentage between {min} and {max}"),
            Unit::Difficulty => format!("a difficulty between {min} and {max}"),
            Unit::Blocks => format!("a number of blocks between {min} and {max}"),
            Unit::PerSecond => format!("a rate between {min} and {max} per second"),
            Unit::Of256 => format!("a probability between {min} and {max} in 256"),
        }
    }
}

fn parse_address(text: &str, network: Option<Network>) -> Result<WalletAddress, Detail> {
    let parsed = match network {
        Some(network) => WalletAddress::parse(text, network),
        None => WalletAddress::parse_any(text),
    };
    parsed.map_err(|err| Some(err.to_string()))
}

/// A plausible e-mail address: one `@` with text on both sides, a dot in the host, no spaces
/// or control characters. Mail servers decide the rest.
fn is_email(text: &str) -> bool {
    let Some((local, host)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 254
        && !local.is_empty()
        && host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && !host.contains('@')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A base URL links can be appended to: a scheme, a host, an optional path; nothing a
/// mail client could misread (no spaces, quotes, angle brackets, query or fragment).
fn is_base_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let host = rest.split('/').next().unwrap_or("");
    text.len() <= 512
        && !host.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'<>?#`{}|\\^".contains(c))
}

/// An amount as an operator writes it: `0.3`, `1000`, `0.000000000001`.
pub(super) fn xmr_text(amount: Atomic) -> String {
    let whole = amount.0 / ATOMIC_PER_XMR;
    let frac = amount.0 % ATOMIC_PER_XMR;
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:012}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// A rate as an operator writes it: `50`, `0.6`, `6.5`.
pub(super) fn percent_text(rate: Bps) -> String {
    let (whole, frac) = (rate.0 / 100, rate.0 % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rule(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Monero general fund's mainnet address.
    const MAINNET: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    fn ok(kind: Kind, value: &str) -> Value {
        kind.parse(value, Some(Network::Mainnet))
            .unwrap_or_else(|d| panic!("{value:?} should keep {kind}: {d:?}"))
    }

    fn refused(kind: Kind, value: &str) -> Detail {
        match kind.parse(value, Some(Network::Mainnet)) {
            Ok(v) => panic!("{value:?} should break {kind}, parsed as {v:?}"),
            Err(detail) => detail,
        }
    }

    #[test]
    fn integers_keep_their_bounds_and_name_their_unit() {
        let kind = Kind::Int {
            min: 1,
            max: 3600,
            unit: Unit::Seconds,
        };
        assert_eq!(ok(kind, "1"), Value::Int(1));
        assert_eq!(ok(kind, " 3600 "), Value::Int(3600));
        for bad in [
            "0",
            "3601",
            "-1",
            "1.5",
            "",
            "1e3",
            "0x10",
            "99999999999999999999999",
        ] {
            refused(kind, bad);
        }
        assert_eq!(kind.rule(None), "a duration between 1 and 3600 seconds");
        let count = Kind::Int {
            min: 0,
            max: 64,
            unit: Unit::Count,
        };
        assert_eq!(ok(count, "0"), Value::Int(0));
        assert!(count.rule(None).contains("between 0 and 64"));
    }

    #[test]
    fn booleans_take_true_false_one_and_zero_only() {
        assert_eq!(ok(Kind::Bool, "true"), Value::Bool(true));
        assert_eq!(ok(Kind::Bool, "0"), Value::Bool(false));
        for bad in ["yes", "TRUE", "2", ""] {
            refused(Kind::Bool, bad);
        }
    }

    #[test]
    fn amounts_are_exact_and_bounded() {
        let kind = Kind::Xmr {
            min: Atomic(1),
            max: Atomic(1000 * ATOMIC_PER_XMR),
        };
        assert_eq!(ok(kind, "0.3"), Value::Xmr(Atomic(300_000_000_000)));
        assert_eq!(ok(kind, "0.000000000001"), Value::Xmr(Atomic(1)));
        for bad in [
            "0",
            "1000.000000000001",
            "0.0000000000001",
            "-1",
            "1,5",
            "NaN",
            "inf",
        ] {
            refused(kind, bad);
        }
        assert_eq!(
            kind.rule(None),
            "an XMR amount between 0.000000000001 and 1000 (at most 12 decimals)"
        );
    }

    #[test]
    fn percentages_are_basis_points_up_to_their_cap() {
        let kind = Kind::Percent { max: Bps(5000) };
        assert_eq!(ok(kind, "0.6"), Value::Percent(Bps(60)));
        assert_eq!(ok(kind, "50"), Value::Percent(Bps(5000)));
        for bad in ["50.01", "65", "101", "0.001", "-1", "NaN", "6,5"] {
            refused(kind, bad);
        }
        assert_eq!(
            kind.rule(None),
            "a percentage between 0 and 50 (at most 2 decimals)"
        );
        assert_eq!(percent_text(Bps(60)), "0.6");
        assert_eq!(percent_text(Bps(625)), "6.25");
    }

    #[test]
    fn enumerations_take_their_words_only() {
        assert_eq!(
            ok(Kind::Network, "stagenet"),
            Value::Network(Network::Stagenet)
        );
        refused(Kind::Network, "regtest");
        assert_eq!(
            ok(Kind::FeePolicy, "slew"),
            Value::FeePolicy(FeePolicy::Slew)
        );
        refused(Kind::FeePolicy, "miner");
    }

    #[test]
    fn text_is_bounded_and_e_mail_addresses_are_plausible() {
        let kind = Kind::Text { max_len: 16 };
        assert_eq!(ok(kind, "hello"), Value::Text("hello".into()));
        refused(kind, &"x".repeat(17));
        assert_eq!(ok(Kind::Email, ""), Value::Text(String::new()));
        assert_eq!(
            ok(Kind::Url, "https://pool.example.org/api/"),
            Value::Text("https://pool.example.org/api".into())
        );
        ok(Kind::Url, "http://127.0.0.1:8001");
        for bad in [
            "ftp://x",
            "https://",
            "https://a b",
            "https://x/?q",
            "https://x/#f",
            "https://x/\"><script>",
            "javascript:alert(1)",
        ] {
            refused(Kind::Url, bad);
        }
        ok(Kind::Email, "ops@pool.example.org");
        for bad in [
            "ops",
            "ops@",
            "@pool.org",
            "ops@localhost",
            "a b@pool.org",
            "a@b@c.org",
            "ops@.org",
        ] {
            refused(Kind::Email, bad);
        }
    }

    #[test]
    fn an_address_must_be_a_valid_address_of_the_pools_network() {
        let kind = Kind::Address(AddressRule::Required);
        assert_eq!(ok(kind, MAINNET), Value::Text(MAINNET.into()));
        let detail = refused(kind, "not-an-address").unwrap();
        assert!(detail.contains("characters"), "{detail}");
        let mut typo = MAINNET.to_owned().into_bytes();
        typo[50] = if typo[50] == b'a' { b'b' } else { b'a' };
        let detail = refused(kind, std::str::from_utf8(&typo).unwrap()).unwrap();
        assert!(detail.contains("checksum"), "{detail}");
        let wrong_network = kind
            .parse(MAINNET, Some(Network::Testnet))
            .unwrap_err()
            .unwrap();
        assert!(wrong_network.contains("testnet"), "{wrong_network}");
        assert!(kind.rule(Some(Network::Stagenet)).contains("stagenet"));
        // Hostile sizes cost a length check.
        refused(kind, &"4".repeat(100_000));
        // Unset is not malformed: a required item reports it as unset instead.
        assert_eq!(ok(kind, ""), Value::Text(String::new()));
        assert!(kind.required());
        assert!(!Kind::Address(AddressRule::Optional).required());
    }

    #[test]
    fn the_pool_wallet_must_be_a_standard_address() {
        let kind = Kind::Address(AddressRule::PoolWallet);
        ok(kind, MAINNET);
        let keys: monero::Address = MAINNET.parse().unwrap();
        let (spend, view) = (keys.public_spend, keys.public_view);
        let sub = monero::Address::subaddress(monero::Network::Mainnet, spend, view).to_string();
        let integrated = monero::Address::integrated(
            monero::Network::Mainnet,
            spend,
            view,
            monero::util::address::PaymentId([7; 8]),
        )
        .to_string();
        for other in [sub, integrated] {
            let detail = refused(kind, &other).unwrap();
            assert!(
                detail.contains("subaddress") || detail.contains("integrated"),
                "{detail}"
            );
            ok(Kind::Address(AddressRule::Required), &other);
        }
    }

    #[test]
    fn address_lists_name_the_bad_entry() {
        let kind = Kind::AddressList;
        assert_eq!(ok(kind, ""), Value::List(vec![]));
        assert_eq!(
            ok(kind, &format!(" {MAINNET} ,,{MAINNET}")),
            Value::List(vec![MAINNET.into(), MAINNET.into()])
        );
        let detail = refused(kind, &format!("{MAINNET},nope")).unwrap();
        assert!(detail.starts_with("entry 2:"), "{detail}");
        let many = vec![MAINNET; MAX_LIST_ENTRIES + 1].join(",");
        assert!(refused(kind, &many).unwrap().contains("entries"));
    }
}
