//! Address parsing against addresses a real monero-wallet-rpc generates on each network:
//! standard, subaddress and integrated addresses parse to the right kind and network; every
//! kind of malformed text is refused with a named error; random text never panics.

use proptest::prelude::*;
use rxpool::devnet::WalletRpc;
use rxpool::domain::address::{AddressError, AddressKind, Network, WalletAddress};
use rxpool::monero::wallet::WalletClient;

/// No daemon: nothing listens on port 1 (binding it needs root), so wallet-rpc's connection
/// attempts are refused at once and wallets are created offline-style; a daemon of another
/// network would only confuse the testnet and stagenet wallets.
const NO_DAEMON: &str = "127.0.0.1:1";

/// The three addresses a fresh wallet on one network gives.
struct Generated {
    standard: String,
    subaddress: String,
    integrated: String,
    integrated_id: String,
}

async fn generate(network: Network) -> Generated {
    let process = WalletRpc::start_for(NO_DAEMON, network)
        .await
        .expect("start wallet-rpc");
    let wallet = WalletClient::new(&process.rpc_url()).unwrap();
    wallet.create_wallet("addresses", "").await.unwrap();
    let standard = wallet.get_address().await.unwrap();
    let (subaddress, index) = wallet.create_address("sub").await.unwrap();
    assert_eq!(index, 1);
    let (integrated, integrated_id) = wallet
        .make_integrated_address(Some(*b"\x01\x23\x45\x67\x89\xab\xcd\xef"))
        .await
        .unwrap();
    Generated {
        standard,
        subaddress,
        integrated,
        integrated_id,
    }
}

async fn check_network(network: Network) {
    let generated = generate(network).await;
    let standard = WalletAddress::parse(&generated.standard, network).unwrap();
    assert_eq!(standard.kind, AddressKind::Standard);
    assert_eq!(standard.network, network);
    assert_eq!(standard.payment_id, None);

    let sub = WalletAddress::parse(&generated.subaddress, network).unwrap();
    assert_eq!(sub.kind, AddressKind::Subaddress);

    let integrated = WalletAddress::parse(&generated.integrated, network).unwrap();
    assert_eq!(integrated.kind, AddressKind::Integrated);
    assert_eq!(generated.integrated_id, "0123456789abcdef");
    assert_eq!(
        integrated.payment_id,
        Some([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
    );

    for other in [Network::Mainnet, Network::Testnet, Network::Stagenet] {
        if other != network {
            assert_eq!(
                WalletAddress::parse(&generated.standard, other),
                Err(AddressError::WrongNetwork {
                    expected: other,
                    found: network
                })
            );
        }
    }
    check_malformed_variants_of(&generated.standard);
    check_malformed_variants_of(&generated.integrated);
}

/// Truncated, extended, flipped and foreign-character variants of a good address all fail.
fn check_malformed_variants_of(good: &str) {
    assert!(WalletAddress::parse_any(&good[..good.len() - 1]).is_err());
    assert!(WalletAddress::parse_any(&format!("{good}1")).is_err());
    assert!(WalletAddress::parse_any(&good[1..]).is_err());
    for position in [1, 10, good.len() / 2, good.len() - 1] {
        let mut bytes = good.as_bytes().to_vec();
        bytes[position] = if bytes[position] == b'2' { b'3' } else { b'2' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert!(
            WalletAddress::parse_any(&flipped).is_err(),
            "flip at {position} accepted"
        );
    }
    let mut with_space = good.to_owned();
    with_space.replace_range(5..6, " ");
    assert_eq!(
        WalletAddress::parse_any(&with_space),
        Err(AddressError::BadBase58 { position: 5 })
    );
    let lookalike = good.replacen(&good[3..4], "Ｏ", 1);
    assert!(WalletAddress::parse_any(&lookalike).is_err());
}

#[tokio::test]
async fn mainnet_wallet_addresses_parse_to_their_kind() {
    check_network(Network::Mainnet).await;
}

#[tokio::test]
async fn testnet_wallet_addresses_parse_to_their_kind() {
    check_network(Network::Testnet).await;
}

#[tokio::test]
async fn stagenet_wallet_addresses_parse_to_their_kind() {
    check_network(Network::Stagenet).await;
}

#[test]
fn empty_huge_and_unicode_input_is_refused_by_name() {
    assert_eq!(WalletAddress::parse_any(""), Err(AddressError::Empty));
    assert!(matches!(
        WalletAddress::parse_any(&"4".repeat(10 * 1024)),
        Err(AddressError::WrongLength { len: 10240 })
    ));
    assert!(matches!(
        WalletAddress::parse_any(&"é".repeat(95)),
        Err(AddressError::WrongLength { len: 95 })
    ));
    // 95 bytes of valid base58 with a prefix byte no network uses.
    assert!(WalletAddress::parse_any(&"1".repeat(95)).is_err());
}

proptest! {
    #[test]
    fn random_strings_never_panic(text in "\\PC{0,200}") {
        let _ = WalletAddress::parse_any(&text);
    }

    #[test]
    fn random_base58_of_address_length_never_parses_and_never_panics(
        text in "4[1-9A-HJ-NP-Za-km-z]{94}|4[1-9A-HJ-NP-Za-km-z]{105}"
    ) {
        // A random string has a 1 in 2^32 chance of a valid checksum.
        prop_assert!(WalletAddress::parse_any(&text).is_err());
    }
}
