//! The login and password fields as miners type them (reference §2.2), parsed into a
//! [`LoginRequest`]: payout address, optional payment ID, worker name, optional e-mail,
//! optional fixed difficulty and the kind of client (from `agent`).
//!
//! Payment IDs follow one rule. Only the first dotted part after the address can be one, and
//! a dotted part is taken for an ID when it is all hex and 15 to 70 characters long:
//! - 16 hex (`address.0123456789abcdef`): a short ID. The session joins it to the (standard)
//!   address to make the integrated address it is paid to, exactly as if the miner had logged
//!   in with that integrated address.
//! - 64 hex: a long ID. Wallets no longer send these, so it is refused at login
//!   ([`Rejection::LongPaymentId`]) rather than credited to a balance nothing can pay.
//! - any other length, or an ID-like part after the worker: a mistyped ID, refused with
//!   "Invalid payment ID" ([`Rejection::InvalidPaymentId`]) instead of silently becoming the
//!   worker name (and the miner's ID being lost).
//!
//! Everything else in a dotted part is a worker name.
//!
//! Pure and total: any input gives a value or a [`Rejection`]. It does not validate the address
//! against the network, the `bans` table or the exchange list (the session does, with the
//! settings), and never logs the e-mail.

use super::rejection::Rejection;
use crate::domain::address::{LONG_PAYMENT_ID_HEX, SHORT_PAYMENT_ID_HEX};
use crate::domain::{Difficulty, PaymentId};

/// Longest worker name kept (the share store's limit).
pub const MAX_WORKER_LEN: usize = 64;
/// Longest e-mail accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest login field accepted (an integrated address + payment id + worker + diff).
pub const MAX_LOGIN_LEN: usize = 512;
/// Dotted parts that are all hex and this long are payment IDs (or mistyped ones), never
/// worker names.
pub const PAYMENT_ID_LIKE_LEN: std::ops::RangeInclusive<usize> = 15..=70;

/// What kind of client logged in, from its `agent` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// xmrig and friends.
    Miner,
    /// NiceHash: fixed difficulty, never below the NiceHash minimum.
    NiceHash,
    /// xmr-node-proxy: gets whole templates and fills pool/worker nonces itself.
    Proxy,
    /// MinerGate: worker name forced, no password needed.
    MinerGate,
}

impl ClientKind {
    /// Sniffs the agent the way nodejs-pool does (substring match).
    pub fn from_agent(agent: Option<&str>) -> ClientKind {
        let Some(agent) = agent else {
            return ClientKind::Miner;
        };
        if agent.contains("xmr-node-proxy") {
            ClientKind::Proxy
        } else if agent.contains("NiceHash") {
            ClientKind::NiceHash
        } else if agent.contains("MinerGate") {
            ClientKind::MinerGate
        } else {
            ClientKind::Miner
        }
    }
}

/// A parsed login, before address validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// The address part as typed.
    pub address: String,
    /// A short (16-hex) payment ID from `address.<pid>`; always [`PaymentId::Short`].
    pub payment_id: Option<PaymentId>,
    pub worker: String,
    pub email: Option<String>,
    /// `+N` from the login field (unclamped; the session clamps to the pool's bounds).
    pub fixed_difficulty: Option<Difficulty>,
    pub client: ClientKind,
}

/// Parses `login`, `pass`, `rigid` and `agent`.
///
/// Worker name precedence: the password's worker part when it is not `x`, then a worker part
/// of the login field, then `rigid`, then `x`.
pub fn parse(
    login: Option<&str>,
    pass: Option<&str>,
    rigid: Option<&str>,
    agent: Option<&str>,
) -> Result<LoginRequest, Rejection> {
    let client = ClientKind::from_agent(agent);
    let login = login.map(str::trim).filter(|l| !l.is_empty());
    let Some(login) = login else {
        return Err(Rejection::NoLogin);
    };
    if login.len() > MAX_LOGIN_LEN {
        return Err(Rejection::InvalidAddress);
    }
    let pass = match pass {
        Some(p) => p,
        None if agent.is_some() && client != ClientKind::MinerGate => {
            return Err(Rejection::NoLogin);
        }
        None => "x",
    };

    let mut plus = login.split('+');
    let address_part = plus.next().unwrap_or_default();
    let diff_part = plus.next();
    if plus.next().is_some() {
        return Err(Rejection::TooManyLoginOptions);
    }
    let fixed_difficulty = diff_part
        .and_then(|d| d.trim().parse::<u64>().ok())
        .filter(|d| *d > 0)
        .map(|d| Difficulty(u128::from(d)));

    let mut dots = address_part.split('.');
    let address = dots.next().unwrap_or_default().to_owned();
    if address.is_empty() {
        return Err(Rejection::InvalidAddress);
    }
    let mut payment_id = None;
    let mut login_worker = None;
    for (position, part) in dots.by_ref().take(2).enumerate() {
        if looks_like_payment_id(part) {
            if position > 0 {
                return Err(Rejection::InvalidPaymentId);
            }
            payment_id = Some(parse_payment_id(part)?);
        } else if !part.is_empty() {
            login_worker = Some(part);
        }
    }
    if dots.next().is_some() {
        return Err(Rejection::TooManyLoginOptions);
    }

    let mut colon = pass.split(':');
    let pass_worker = colon.next().unwrap_or_default();
    let email = colon.next();
    if colon.next().is_some() {
        return Err(Rejection::TooManyPasswordOptions);
    }
    let email = email
        .map(str::trim)
        .filter(|e| is_plausible_email(e))
        .map(str::to_owned);

    let worker = if client == ClientKind::MinerGate {
        "MinerGate"
    } else if !pass_worker.is_empty() && pass_worker != "x" {
        pass_worker
    } else if let Some(w) = login_worker {
        w
    } else {
        rigid.filter(|r| !r.is_empty()).unwrap_or("x")
    };

    Ok(LoginRequest {
        address,
        payment_id,
        worker: sanitize_worker(worker),
        email,
        fixed_difficulty,
        client,
    })
}

/// All hex and [`PAYMENT_ID_LIKE_LEN`] long: meant as a payment ID, well typed or not.
pub fn looks_like_payment_id(text: &str) -> bool {
    PAYMENT_ID_LIKE_LEN.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The payment ID of an ID-like dotted part: a short one, or the rejection of the module rule.
fn parse_payment_id(text: &str) -> Result<PaymentId, Rejection> {
    match text.len() {
        SHORT_PAYMENT_ID_HEX => PaymentId::parse(text).map_err(|_| Rejection::InvalidPaymentId),
        LONG_PAYMENT_ID_HEX => Err(Rejection::LongPaymentId),
        _ => Err(Rejection::InvalidPaymentId),
    }
}

fn is_plausible_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= MAX_EMAIL_LEN
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && text.chars().all(|c| c.is_ascii_graphic())
}

/// Keeps printable ASCII except characters that break the API's URLs and JSON paths, cuts
/// to [`MAX_WORKER_LEN`], and never returns an empty name.
pub fn sanitize_worker(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@#".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_WORKER_LEN)
        .collect();
    if cleaned.is_empty() {
        "x".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
    const PID: &str = "0123456789abcdef";
    const PID_BYTES: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    const LONG_PID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(login: &str, pass: &str) -> Result<LoginRequest, Rejection> {
        parse(Some(login), Some(pass), None, Some("XMRig/6.26.0"))
    }

    #[test]
    fn login_examples_of_reference_section_2_2() {
        let r = p(ADDR, "x").unwrap();
        assert_eq!((r.address.as_str(), r.worker.as_str()), (ADDR, "x"));
        assert_eq!(r.fixed_difficulty, None);
        assert_eq!(p(&format!("{ADDR}.rig1"), "x").unwrap().worker, "rig1");
        assert_eq!(p(&format!("{ADDR}.rig1"), "rigA").unwrap().worker, "rigA");
        let r = p(&format!("{ADDR}.{PID}"), "rig1").unwrap();
        assert_eq!(r.payment_id, Some(PaymentId::Short(PID_BYTES)));
        assert_eq!(r.address, ADDR);
        assert_eq!(r.worker, "rig1");
        let r = p(&format!("{ADDR}.{PID}.rig2"), "x").unwrap();
        assert_eq!(
            (r.payment_id, r.worker.as_str()),
            (Some(PaymentId::Short(PID_BYTES)), "rig2")
        );
        let r = p(&format!("{ADDR}+50000"), "rig1").unwrap();
        assert_eq!(r.fixed_difficulty, Some(Difficulty(50_000)));
        assert_eq!(
            p(&format!("{ADDR}+1+2"), "x"),
            Err(Rejection::TooManyLoginOptions)
        );
        let r = p(ADDR, "rig1:me@example.com").unwrap();
        assert_eq!(
            (r.worker.as_str(), r.email.as_deref()),
            ("rig1", Some("me@example.com"))
        );
        assert_eq!(p(ADDR, "a:b:c"), Err(Rejection::TooManyPasswordOptions));
    }

    #[test]
    fn rigid_names_the_worker_when_login_and_pass_do_not() {
        let r = parse(Some(ADDR), Some("x"), Some("rig-7"), None).unwrap();
        assert_eq!(r.worker, "rig-7");
        let r = parse(Some(ADDR), Some("named"), Some("rig-7"), None).unwrap();
        assert_eq!(r.worker, "named");
    }

    #[test]
    fn missing_login_or_password_is_refused_as_nodejs_pool_does() {
        assert_eq!(parse(None, Some("x"), None, None), Err(Rejection::NoLogin));
        assert_eq!(
            parse(Some("  "), Some("x"), None, None),
            Err(Rejection::NoLogin)
        );
        assert_eq!(
            parse(Some(ADDR), None, None, Some("XMRig")),
            Err(Rejection::NoLogin)
        );
        assert_eq!(parse(Some(ADDR), None, None, None).unwrap().worker, "x");
        let mg = parse(Some(ADDR), None, None, Some("MinerGate/1")).unwrap();
        assert_eq!(
            (mg.worker.as_str(), mg.client),
            ("MinerGate", ClientKind::MinerGate)
        );
    }

    #[test]
    fn agent_sniffing_finds_proxies_and_nicehash() {
        assert_eq!(
            ClientKind::from_agent(Some("xmr-node-proxy/0.0.3")),
            ClientKind::Proxy
        );
        assert_eq!(
            ClientKind::from_agent(Some("NiceHash/1.0.0")),
            ClientKind::NiceHash
        );
        assert_eq!(ClientKind::from_agent(Some("XMRig/6")), ClientKind::Miner);
        assert_eq!(ClientKind::from_agent(None), ClientKind::Miner);
    }

    #[test]
    fn hostile_worker_names_and_emails_are_neutralised() {
        let r = p(ADDR, "<script>\"x\n:not an email").unwrap();
        assert_eq!(r.worker, "_script__x_");
        assert_eq!(r.email, None);
        let long = "w".repeat(500);
        assert_eq!(p(ADDR, &long).unwrap().worker.len(), MAX_WORKER_LEN);
        assert_eq!(p(ADDR, "\u{1F600}").unwrap().worker, "_");
        assert_eq!(p(ADDR, "a:x@y@z.com").unwrap().email, None);
        assert_eq!(p(ADDR, "a:@z.com").unwrap().email, None);
    }

    #[test]
    fn odd_fixed_difficulties_fall_back_to_vardiff() {
        assert_eq!(
            p(&format!("{ADDR}+abc"), "x").unwrap().fixed_difficulty,
            None
        );
        assert_eq!(p(&format!("{ADDR}+0"), "x").unwrap().fixed_difficulty, None);
        assert_eq!(
            p(&format!("{ADDR}+-5"), "x").unwrap().fixed_difficulty,
            None
        );
        assert_eq!(
            p(&format!("{ADDR}+99999999999999999999999"), "x")
                .unwrap()
                .fixed_difficulty,
            None
        );
    }

    #[test]
    fn too_many_dots_and_oversized_logins_are_refused() {
        assert_eq!(
            p(&format!("{ADDR}.a.b.c"), "x"),
            Err(Rejection::TooManyLoginOptions)
        );
        assert_eq!(p(&"4".repeat(10_000), "x"), Err(Rejection::InvalidAddress));
        assert_eq!(p(".rig", "x"), Err(Rejection::InvalidAddress));
    }

    #[test]
    fn a_short_payment_id_is_taken_in_either_case() {
        let upper = PID.to_ascii_uppercase();
        let r = p(&format!("{ADDR}.{upper}+5000"), "x").unwrap();
        assert_eq!(r.payment_id, Some(PaymentId::Short(PID_BYTES)));
        assert_eq!(r.fixed_difficulty, Some(Difficulty(5_000)));
        assert_eq!(r.worker, "x");
    }

    #[test]
    fn a_long_payment_id_is_refused_at_login_with_its_own_message() {
        for login in [
            format!("{ADDR}.{LONG_PID}"),
            format!("{ADDR}.{LONG_PID}.rig"),
            format!("{ADDR}.{}", LONG_PID.to_ascii_uppercase()),
            format!("{ADDR}.{LONG_PID}+1000"),
        ] {
            assert_eq!(p(&login, "x"), Err(Rejection::LongPaymentId), "{login}");
        }
        assert!(
            Rejection::LongPaymentId
                .miner_message()
                .contains("integrated address")
        );
    }

    #[test]
    fn a_mistyped_payment_id_is_refused_not_taken_as_the_worker() {
        // Every all-hex length from 15 to 70 but 16 and 64.
        for len in PAYMENT_ID_LIKE_LEN {
            let part = "a".repeat(len);
            let got = p(&format!("{ADDR}.{part}"), "x");
            match len {
                16 => assert_eq!(got.unwrap().payment_id, Some(PaymentId::Short([0xaa; 8]))),
                64 => assert_eq!(got, Err(Rejection::LongPaymentId)),
                _ => assert_eq!(got, Err(Rejection::InvalidPaymentId), "{len}"),
            }
        }
        // One character off either way, a typo in the middle of an ID, and an ID put after
        // the worker name or twice.
        for login in [
            format!("{ADDR}.{}", &PID[..15]),
            format!("{ADDR}.{PID}0"),
            format!("{ADDR}.{}", &LONG_PID[..63]),
            format!("{ADDR}.{LONG_PID}00"),
            format!("{ADDR}.rig1.{PID}"),
            format!("{ADDR}.{PID}.{PID}"),
            format!("{ADDR}..{PID}"),
        ] {
            assert_eq!(p(&login, "x"), Err(Rejection::InvalidPaymentId), "{login}");
        }
        assert_eq!(
            Rejection::InvalidPaymentId.miner_message(),
            "Invalid payment ID"
        );
    }

    #[test]
    fn hex_parts_outside_the_id_lengths_stay_worker_names() {
        // Short hex (a rig number) and long hex beyond any ID stay workers; a 16-character
        // name with one non-hex letter is a worker too.
        assert_eq!(p(&format!("{ADDR}.cafe"), "x").unwrap().worker, "cafe");
        let beyond = "b".repeat(71);
        let r = p(&format!("{ADDR}.{beyond}"), "x").unwrap();
        assert_eq!((r.payment_id, r.worker.len()), (None, MAX_WORKER_LEN));
        let r = p(&format!("{ADDR}.0123456789abcdeg"), "x").unwrap();
        assert_eq!(
            (r.payment_id, r.worker.as_str()),
            (None, "0123456789abcdeg")
        );
    }

    #[test]
    fn hostile_payment_id_parts_are_refused_without_panics() {
        for login in [
            format!("{ADDR}.{}", "\u{0660}".repeat(16)), // Arabic-Indic digits
            format!("{ADDR}.{}", "é".repeat(8)),         // 16 bytes, not hex
            format!("{ADDR}.0x{}", &PID[..14]),
            format!("{ADDR}.{PID}\0"),
            format!("{ADDR}.{PID}\u{200b}"), // zero-width space after a good ID
        ] {
            if let Ok(r) = p(&login, "x") {
                assert_eq!(r.payment_id, None, "{login:?}");
            }
        }
        // An oversized field is refused before any dotted part is looked at.
        assert_eq!(
            p(&format!("{ADDR}.{}", "f".repeat(MAX_LOGIN_LEN)), "x"),
            Err(Rejection::InvalidAddress)
        );
    }

    proptest! {
        #[test]
        fn any_hex_part_of_id_length_is_a_short_id_or_refused(
            hex in "[0-9a-fA-F]{15,70}", worker in proptest::option::of("[g-z]{1,10}")
        ) {
            let login = match &worker {
                Some(w) => format!("{ADDR}.{hex}.{w}"),
                None => format!("{ADDR}.{hex}"),
            };
            match p(&login, "x") {
                Ok(r) => {
                    prop_assert_eq!(hex.len(), 16);
                    prop_assert!(matches!(r.payment_id, Some(PaymentId::Short(_))));
                }
                Err(e) => prop_assert!(
                    e == Rejection::InvalidPaymentId || e == Rejection::LongPaymentId
                ),
            }
        }

        #[test]
        fn parse_never_panics_and_workers_stay_bounded(
            login in ".{0,300}", pass in ".{0,300}", rigid in proptest::option::of(".{0,100}")
        ) {
            if let Ok(r) = parse(Some(&login), Some(&pass), rigid.as_deref(), None) {
                prop_assert!(!r.worker.is_empty() && r.worker.len() <= MAX_WORKER_LEN);
                prop_assert!(r.worker.chars().all(|c| c.is_ascii_graphic()));
                prop_assert!(!r.address.is_empty());
            }
        }
    }
}
