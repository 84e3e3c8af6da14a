//! Wallet addresses as miners type them: standard, subaddress and integrated addresses on
//! mainnet, testnet and stagenet, and payment IDs (16-hex short ones, which travel inside an
//! integrated address, and 64-hex legacy ones, which wallets no longer send).
//!
//! Owns address validation for the whole crate: the pool (login), the API (account routes)
//! and payments (destinations) all parse with [`WalletAddress::parse`]. Decoding is done by
//! the `monero` crate (base58, checksum, key points); this module adds the checks it lacks
//! (exact length, character set, the pool's network) and names each failure in
//! [`AddressError`]. It does no I/O, never panics, and bounds work before decoding, so a
//! hostile 10 KB login costs nothing.

use std::fmt;

/// Characters of Monero's base58 alphabet.
const BASE58_ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// Text length of a standard address or subaddress (69 bytes in base58 blocks).
pub const STANDARD_ADDRESS_LEN: usize = 95;
/// Text length of an integrated address (77 bytes).
pub const INTEGRATED_ADDRESS_LEN: usize = 106;

/// The Monero network an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Mainnet,
    Testnet,
    Stagenet,
}

impl Network {
    fn from_monero(network: monero::Network) -> Network {
        match network {
            monero::Network::Mainnet => Network::Mainnet,
            monero::Network::Testnet => Network::Testnet,
            monero::Network::Stagenet => Network::Stagenet,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Stagenet => "stagenet",
        })
    }
}

/// What kind of address a string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKind {
    Standard,
    Subaddress,
    Integrated,
}

/// A payment ID: 8 bytes inside an integrated address, or a 32-byte legacy one (old logins
/// and balances; no wallet sends these any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentId {
    Short([u8; 8]),
    Long([u8; 32]),
}

/// Hex length of a short payment ID.
pub const SHORT_PAYMENT_ID_HEX: usize = 16;
/// Hex length of a legacy long payment ID.
pub const LONG_PAYMENT_ID_HEX: usize = 64;

impl PaymentId {
    /// Parses a 16-hex or 64-hex payment ID, either case.
    pub fn parse(text: &str) -> Result<PaymentId, AddressError> {
        match text.len() {
            SHORT_PAYMENT_ID_HEX => {
                let mut bytes = [0u8; 8];
                hex::decode_to_slice(text, &mut bytes)
                    .map_err(|_| AddressError::PaymentIdNotHex)?;
                Ok(PaymentId::Short(bytes))
            }
            LONG_PAYMENT_ID_HEX => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(text, &mut bytes)
                    .map_err(|_| AddressError::PaymentIdNotHex)?;
                Ok(PaymentId::Long(bytes))
            }
            len => Err(AddressError::PaymentIdLength { len }),
        }
    }

    /// Parses a legacy 64-hex payment ID only.
    pub fn parse_long(text: &str) -> Result<PaymentId, AddressError> {
        if text.len() != LONG_PAYMENT_ID_HEX {
            return Err(AddressError::PaymentIdLength { len: text.len() });
        }
        PaymentId::parse(text)
    }

    /// Lower-case hex, 16 or 64 characters.
    pub fn to_hex(&self) -> String {
        match self {
            PaymentId::Short(bytes) => hex::encode(bytes),
            PaymentId::Long(bytes) => hex::encode(bytes),
        }
    }
}

/// Why a string is not an acceptable address or payment ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address is empty")]
    Empty,
    #[error(
        "address has {len} characters; expected {STANDARD_ADDRESS_LEN} or {INTEGRATED_ADDRESS_LEN}"
    )]
    WrongLength { len: usize },
    #[error("address contains a character outside base58 at position {position}")]
    BadBase58 { position: usize },
    #[error("address does not decode as base58")]
    BadEncoding,
    #[error("address prefix is not a Monero address prefix")]
    UnknownPrefix,
    #[error("address checksum does not match (typo?)")]
    BadChecksum,
    #[error("address keys are not valid curve points")]
    BadKey,
    #[error("address is for {found}, the pool runs on {expected}")]
    WrongNetwork { expected: Network, found: Network },
    #[error("payment ID has {len} characters; expected 16 hex (or a legacy 64)")]
    PaymentIdLength { len: usize },
    #[error("payment ID is not hex")]
    PaymentIdNotHex,
    #[error("a payment ID can only be joined to a standard address, not to a {kind:?} address")]
    PaymentIdNeedsStandardAddress { kind: AddressKind },
    #[error("a long (64-hex) payment ID cannot be put in an integrated address")]
    LongPaymentIdNotIntegrable,
}

/// A validated wallet address, kept with the exact text the miner gave.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WalletAddress {
    pub text: String,
    pub network: Network,
    pub kind: AddressKind,
    /// The 8-byte id of an integrated address.
    pub payment_id: Option<[u8; 8]>,
}

impl WalletAddress {
    /// Parses an address of any network and kind.
    pub fn parse_any(text: &str) -> Result<WalletAddress, AddressError> {
        if text.is_empty() {
            return Err(AddressError::Empty);
        }
        // Count bytes, not chars: any non-ASCII byte fails the alphabet check below anyway.
        let len = text.len();
        if len != STANDARD_ADDRESS_LEN && len != INTEGRATED_ADDRESS_LEN {
            return Err(AddressError::WrongLength {
                len: text.chars().count(),
            });
        }
        if let Some(position) = text.bytes().position(|b| !BASE58_ALPHABET.contains(&b)) {
            return Err(AddressError::BadBase58 { position });
        }
        let address: monero::Address = text.parse().map_err(|error| match error {
            monero::util::address::Error::InvalidChecksum => AddressError::BadChecksum,
            monero::util::address::Error::InvalidMagicByte
            | monero::util::address::Error::Network(_) => AddressError::UnknownPrefix,
            monero::util::address::Error::InvalidFormat => AddressError::BadKey,
            monero::util::address::Error::Base58(_) => AddressError::BadEncoding,
            monero::util::address::Error::InvalidPaymentId
            | monero::util::address::Error::Encoding(_) => AddressError::WrongLength { len },
        })?;
        let (kind, payment_id) = match address.addr_type {
            monero::AddressType::Standard => (AddressKind::Standard, None),
            monero::AddressType::SubAddress => (AddressKind::Subaddress, None),
            monero::AddressType::Integrated(id) => (AddressKind::Integrated, Some(id.0)),
        };
        // The length decides how many bytes were decoded; the prefix decides how many the kind
        // needs. They must agree (the crate ignores trailing bytes).
        let expected_len = match kind {
            AddressKind::Integrated => INTEGRATED_ADDRESS_LEN,
            AddressKind::Standard | AddressKind::Subaddress => STANDARD_ADDRESS_LEN,
        };
        if len != expected_len {
            return Err(AddressError::WrongLength { len });
        }
        Ok(WalletAddress {
            text: text.to_owned(),
            network: Network::from_monero(address.network),
            kind,
            payment_id,
        })
    }

    /// Parses an address and requires it to be on `network`.
    pub fn parse(text: &str, network: Network) -> Result<WalletAddress, AddressError> {
        let address = WalletAddress::parse_any(text)?;
        if address.network != network {
            return Err(AddressError::WrongNetwork {
                expected: network,
                found: address.network,
            });
        }
        Ok(address)
    }

    /// The payout key a miner is known by (the LMDB miner key, `balance.payment_address`):
    /// `text` as an address of `network`, or for `address.<16-hex payment id>` the integrated
    /// address the two make, as the pool keys a miner who logs in with it.
    pub fn parse_payout_key(text: &str, network: Network) -> Result<WalletAddress, AddressError> {
        match text.split_once('.') {
            None => WalletAddress::parse(text, network),
            Some((base, pid)) => {
                let address = WalletAddress::parse(base, network)?;
                address.integrated_with(PaymentId::parse(pid)?)
            }
        }
    }

    /// The integrated address's payment id as a [`PaymentId`].
    pub fn integrated_payment_id(&self) -> Option<PaymentId> {
        self.payment_id.map(PaymentId::Short)
    }

    /// The integrated address this standard address makes with a short payment ID: its public
    /// spend and view keys under the network's integrated-address prefix, with `id` inside,
    /// built locally (no wallet call). The same text a wallet's `make_integrated_address`
    /// gives. Subaddresses and integrated addresses cannot take an ID; long IDs do not fit.
    pub fn integrated_with(&self, id: PaymentId) -> Result<WalletAddress, AddressError> {
        let PaymentId::Short(bytes) = id else {
            return Err(AddressError::LongPaymentIdNotIntegrable);
        };
        if self.kind != AddressKind::Standard {
            return Err(AddressError::PaymentIdNeedsStandardAddress { kind: self.kind });
        }
        let base: monero::Address = self.text.parse().map_err(|_| AddressError::BadEncoding)?;
        let integrated = monero::Address::integrated(
            base.network,
            base.public_spend,
            base.public_view,
            monero::util::address::PaymentId::from_slice(&bytes),
        );
        Ok(WalletAddress {
            text: integrated.to_string(),
            network: self.network,
            kind: AddressKind::Integrated,
            payment_id: Some(bytes),
        })
    }
}

impl fmt::Display for WalletAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A well-known mainnet donation address (the Monero general fund).
    const MAINNET: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    #[test]
    fn parses_a_known_mainnet_address() {
        let address = WalletAddress::parse(MAINNET, Network::Mainnet).unwrap();
        assert_eq!(address.kind, AddressKind::Standard);
        assert_eq!(address.payment_id, None);
        assert_eq!(address.to_string(), MAINNET);
    }

    #[test]
    fn rejects_the_wrong_network_by_name() {
        assert_eq!(
            WalletAddress::parse(MAINNET, Network::Testnet),
            Err(AddressError::WrongNetwork {
                expected: Network::Testnet,
                found: Network::Mainnet
            })
        );
    }

    #[test]
    fn rejects_a_flipped_character_as_bad_checksum() {
        let mut text = MAINNET.to_owned().into_bytes();
        text[50] = if text[50] == b'a' { b'b' } else { b'a' };
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            WalletAddress::parse_any(&text),
            Err(AddressError::BadChecksum)
        );
    }

    #[test]
    fn rejects_truncated_padded_and_foreign_characters() {
        assert_eq!(WalletAddress::parse_any(""), Err(AddressError::Empty));
        assert!(matches!(
            WalletAddress::parse_any(&MAINNET[..94]),
            Err(AddressError::WrongLength { len: 94 })
        ));
        let with_zero = format!("0{}", &MAINNET[1..]);
        assert_eq!(
            WalletAddress::parse_any(&with_zero),
            Err(AddressError::BadBase58 { position: 0 })
        );
        let unicode = format!("{}é", &MAINNET[..93]);
        assert!(WalletAddress::parse_any(&unicode).is_err());
        assert!(matches!(
            WalletAddress::parse_any(&"4".repeat(10_240)),
            Err(AddressError::WrongLength { .. })
        ));
    }

    #[test]
    fn parses_long_payment_ids_and_rejects_bad_ones() {
        let id = "ab".repeat(32);
        assert_eq!(PaymentId::parse_long(&id), Ok(PaymentId::Long([0xab; 32])));
        assert_eq!(PaymentId::parse_long(&id).unwrap().to_hex(), id);
        assert_eq!(
            PaymentId::parse_long("abcd"),
            Err(AddressError::PaymentIdLength { len: 4 })
        );
        assert_eq!(
            PaymentId::parse_long(&"zz".repeat(32)),
            Err(AddressError::PaymentIdNotHex)
        );
        assert!(PaymentId::parse_long(&"é".repeat(32)).is_err());
    }

    fn key(n: u8) -> monero::PublicKey {
        let mut bytes = [0u8; 32];
        bytes[0] = n;
        monero::PublicKey::from_private_key(&monero::PrivateKey::from_slice(&bytes).unwrap())
    }

    #[test]
    fn a_short_id_joins_a_standard_address_into_its_integrated_address() {
        let base = WalletAddress::parse(MAINNET, Network::Mainnet).unwrap();
        let id = PaymentId::parse("0123456789ABCDEF").unwrap();
        let integrated = base.integrated_with(id).unwrap();
        assert_eq!(integrated.kind, AddressKind::Integrated);
        assert_eq!(integrated.text.len(), INTEGRATED_ADDRESS_LEN);
        assert_eq!(
            integrated.payment_id,
            Some([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
        );
        // It parses back to itself, on the same network, with the base address's keys.
        assert_eq!(
            WalletAddress::parse(&integrated.text, Network::Mainnet).unwrap(),
            integrated
        );
        let a: monero::Address = MAINNET.parse().unwrap();
        let b: monero::Address = integrated.text.parse().unwrap();
        assert_eq!(
            (a.public_spend, a.public_view),
            (b.public_spend, b.public_view)
        );
        // Deterministic: the same pair always makes the same payee.
        assert_eq!(base.integrated_with(id).unwrap(), integrated);
    }

    #[test]
    fn only_a_standard_address_and_a_short_id_make_an_integrated_address() {
        let base = WalletAddress::parse(MAINNET, Network::Mainnet).unwrap();
        let short = PaymentId::Short([7; 8]);
        let integrated = base.integrated_with(short).unwrap();
        assert_eq!(
            integrated.integrated_with(short),
            Err(AddressError::PaymentIdNeedsStandardAddress {
                kind: AddressKind::Integrated
            })
        );
        let sub = monero::Address::subaddress(monero::Network::Mainnet, key(1), key(2));
        let sub = WalletAddress::parse(&sub.to_string(), Network::Mainnet).unwrap();
        assert_eq!(
            sub.integrated_with(short),
            Err(AddressError::PaymentIdNeedsStandardAddress {
                kind: AddressKind::Subaddress
            })
        );
        assert_eq!(
            base.integrated_with(PaymentId::Long([1; 32])),
            Err(AddressError::LongPaymentIdNotIntegrable)
        );
        // A testnet base makes a testnet integrated address.
        let testnet = monero::Address::standard(monero::Network::Testnet, key(3), key(4));
        let testnet = WalletAddress::parse(&testnet.to_string(), Network::Testnet).unwrap();
        let made = testnet.integrated_with(short).unwrap();
        assert_eq!(
            WalletAddress::parse_any(&made.text).unwrap().network,
            Network::Testnet
        );
    }

    #[test]
    fn payment_ids_parse_at_their_two_lengths_only() {
        assert_eq!(
            PaymentId::parse("00000000deadbeef"),
            Ok(PaymentId::Short([0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]))
        );
        assert!(matches!(
            PaymentId::parse(&"ab".repeat(32)),
            Ok(PaymentId::Long(_))
        ));
        for bad in ["", "abc", "0123456789abcde", "0123456789abcdef0", "zz"] {
            assert!(PaymentId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PaymentId::parse("0123456789abcdeg"),
            Err(AddressError::PaymentIdNotHex)
        );
        assert!(PaymentId::parse(&"é".repeat(8)).is_err());
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,120}") {
            let _ = WalletAddress::parse_any(&text);
        }

        #[test]
        fn parsing_base58_text_of_address_length_never_panics(
            text in "[1-9A-HJ-NP-Za-km-z]{95}|[1-9A-HJ-NP-Za-km-z]{106}"
        ) {
            let _ = WalletAddress::parse_any(&text);
        }
    }
}
