//! Verifier tests, light mode only (fast mode needs 2.3 GB and a minute; `benches/pow.rs`
//! checks fast-mode hashes against randomx-rs).
//!
//! Reference values: the RandomX README vectors (in `randomx.rs`), the PoW hashes monerod
//! reports for regtest blocks (recorded below), cryptonight-hash's documented `cn/0` vector, and
//! randomx-rs's independent wrapper for seeds monerod was not asked about.

use std::time::Duration;

use randomx_rs::{RandomXCache, RandomXFlag, RandomXVM};
use tokio::task::JoinSet;

use super::*;

/// Mainnet genesis block id: the RandomX seed of every block below height 2112 (regtest too).
const GENESIS_SEED: &str = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3";

/// Hashing blobs of regtest blocks 1 to 3 (monerod 0.18, `generateblocks`; header, miner tx
/// hash as the tree root, tx count 1) and the PoW hash monerod reports for each block
/// (`get_block_header_by_height` with `fill_pow_hash`). All three use the genesis seed.
const REGTEST_BLOCKS: [(&str, &str); 3] = [
    (
        "1010dda887d806418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3000000008ad4148b6d2b1b51392f176e07561653ec33ad3d0d31b7fd9a6301942b9d777201",
        "c489b22faab75f87070b23b38b09f55d15b81194d1a71ac191925c1d4a80030a",
    ),
    (
        "1010e2a887d8064370ab40402531badfba2c2a81383dcf50be492dc478ae446a38628f082b6261000000004f4f6b27a48e40ea168e500cb991667f73694a1746a39f17e6492565a22925ee01",
        "a916055dd3b3628668853ecfd044af889a605ff9be5e504ce78e2faa7755b273",
    ),
    (
        "1010e2a887d80660774900f616acb9d3e52ca4cefef638c841130d47f3710ebaa9c100ce262316000000007b6bc7ec4f0115d0c1dbf76addc1d46f469f4f7870563da2c81f123f9a1441ca01",
        "c9f22b8925b2949ab7861dad09f40bb1de921e0abc21ba66bebc4ae26a5ffa1a",
    ),
];

fn seed(text: &str) -> Hash32 {
    text.parse().unwrap()
}

fn regtest_blob(block: usize) -> Vec<u8> {
    hex::decode(REGTEST_BLOCKS[block].0).unwrap()
}

fn regtest_pow(block: usize) -> Hash32 {
    seed(REGTEST_BLOCKS[block].1)
}

fn other_seed(byte: u8) -> Hash32 {
    Hash32([byte; 32])
}

/// RandomX through randomx-rs's own wrapper (not our FFI): the independent reference.
fn reference_randomx(seed: Hash32, blobs: &[Vec<u8>]) -> Vec<Hash32> {
    let flags = RandomXFlag::get_recommended_flags();
    let cache = RandomXCache::new(flags, &seed.0).unwrap();
    let vm = RandomXVM::new(flags, Some(cache), None).unwrap();
    blobs
        .iter()
        .map(|blob| Hash32(vm.calculate_hash(blob).unwrap().try_into().unwrap()))
        .collect()
}

fn numbered_blob(i: u32) -> Vec<u8> {
    let mut blob = regtest_blob(0);
    blob[39..43].copy_from_slice(&i.to_le_bytes());
    blob
}

#[tokio::test]
async fn randomx_hash_matches_the_pow_hash_monerod_reports_for_regtest_blocks() {
    let verifier = Verifier::new(VerifierConfig::light(1));
    verifier.set_seeds(seed(GENESIS_SEED), None);
    for block in 0..REGTEST_BLOCKS.len() {
        let hash = verifier
            .hash(PowAlgo::RandomX, seed(GENESIS_SEED), regtest_blob(block))
            .await
            .unwrap();
        assert_eq!(hash, regtest_pow(block), "block {}", block + 1);
    }
}

#[tokio::test]
async fn cryptonight_v0_matches_the_reference_vector_and_ignores_the_seed() {
    let verifier = Verifier::new(VerifierConfig::light(1));
    // No set_seeds: cn/0 has no seed, so an unknown one must not matter.
    let hash = verifier
        .hash(
            PowAlgo::CryptoNightV0,
            other_seed(9),
            b"This is a test".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        hash,
        seed("a084f01d1437a09c6985401b60d43554ae105802c5f5d8a9b3253649c0be6605")
    );
}

#[tokio::test]
async fn seed_switch_keeps_the_previous_seed_and_drops_the_one_before() {
    let verifier = Verifier::new(VerifierConfig::light(2));
    let (a, b, c) = (seed(GENESIS_SEED), other_seed(1), other_seed(2));
    let blob = regtest_blob(1);
    let expected_a = regtest_pow(1);
    let expected_b = reference_randomx(b, std::slice::from_ref(&blob))[0];

    verifier.set_seeds(a, None);
    assert_eq!(
        verifier.hash(PowAlgo::RandomX, a, blob.clone()).await,
        Ok(expected_a)
    );

    verifier.set_seeds(b, None);
    assert_eq!(
        verifier.hash(PowAlgo::RandomX, b, blob.clone()).await,
        Ok(expected_b)
    );
    // A late share on the old seed still verifies, with the old seed's hash.
    assert_eq!(
        verifier.hash(PowAlgo::RandomX, a, blob.clone()).await,
        Ok(expected_a)
    );

    verifier.set_seeds(c, None);
    assert_eq!(
        verifier.hash(PowAlgo::RandomX, b, blob.clone()).await,
        Ok(expected_b)
    );
    assert_eq!(
        verifier.hash(PowAlgo::RandomX, a, blob.clone()).await,
        Err(PowError::UnknownSeed(a))
    );
}

#[tokio::test]
async fn announced_next_seed_verifies_before_and_after_it_becomes_current() {
    let verifier = Verifier::new(VerifierConfig::light(1));
    let (a, b) = (other_seed(3), seed(GENESIS_SEED));
    let blob = regtest_blob(2);
    verifier.set_seeds(a, Some(b));
    assert_eq!(
        verifier.hash(PowAlgo::RandomX, b, blob.clone()).await,
        Ok(regtest_pow(2))
    );
    verifier.set_seeds(b, None);
    assert_eq!(
        verifier.hash(PowAlgo::RandomX, b, blob.clone()).await,
        Ok(regtest_pow(2))
    );
    assert!(verifier.hash(PowAlgo::RandomX, a, blob).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_are_all_answered_with_their_own_hash() {
    let verifier = Verifier::new(VerifierConfig {
        queue_capacity: 100,
        ..VerifierConfig::light(2)
    });
    let a = seed(GENESIS_SEED);
    let b = other_seed(4);
    verifier.set_seeds(b, Some(a));
    let blobs: Vec<Vec<u8>> = (0..24).map(numbered_blob).collect();
    let expected_a = reference_randomx(a, &blobs);
    let expected_b = reference_randomx(b, &blobs);

    let mut tasks = JoinSet::new();
    for (i, blob) in blobs.iter().enumerate() {
        // Interleave seeds so every thread switches VMs while the queue is full.
        let (s, expected) = if i % 2 == 0 {
            (a, expected_a[i])
        } else {
            (b, expected_b[i])
        };
        let verifier = verifier.clone();
        let blob = blob.clone();
        tasks.spawn(async move { (verifier.hash(PowAlgo::RandomX, s, blob).await, expected) });
    }
    let mut answered = 0;
    while let Some(joined) = tasks.join_next().await {
        let (got, expected) = joined.unwrap();
        assert_eq!(got, Ok(expected));
        answered += 1;
    }
    assert_eq!(answered, 24);
    let stats = verifier.stats();
    assert_eq!((stats.hashed, stats.failed, stats.queued), (24, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_overloaded_at_once_instead_of_hanging() {
    let verifier = Verifier::new(VerifierConfig {
        queue_capacity: 2,
        ..VerifierConfig::light(1)
    });
    let a = seed(GENESIS_SEED);
    verifier.set_seeds(a, None);
    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let verifier = verifier.clone();
        tasks.spawn(async move {
            let got = verifier.hash(PowAlgo::RandomX, a, numbered_blob(i)).await;
            (i, got)
        });
    }
    let outcomes = tokio::time::timeout(Duration::from_secs(60), tasks.join_all())
        .await
        .expect("every request is answered");
    let overloaded = outcomes
        .iter()
        .filter(|(_, r)| *r == Err(PowError::Overloaded { capacity: 2 }))
        .count();
    let hashed: Vec<(u32, Hash32)> = outcomes
        .iter()
        .filter_map(|(i, r)| r.as_ref().ok().map(|h| (*i, *h)))
        .collect();
    assert_eq!(overloaded + hashed.len(), 20, "{outcomes:?}");
    assert_eq!(verifier.stats().overloaded, overloaded as u64);
    // Two queued plus at most one already taken by the thread are accepted before the first
    // answer (which waits for the 0.6 s cache); the rest are turned away at once.
    assert!(overloaded >= 10, "{outcomes:?}");
    assert!(hashed.len() >= 2, "{outcomes:?}");
    let blobs: Vec<Vec<u8>> = hashed.iter().map(|(i, _)| numbered_blob(*i)).collect();
    let expected = reference_randomx(a, &blobs);
    assert_eq!(hashed.iter().map(|(_, h)| *h).collect::<Vec<_>>(), expected);
    // After the burst the verifier serves again.
    assert!(
        verifier
            .hash(PowAlgo::RandomX, a, numbered_blob(99))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn requests_whose_caller_stopped_waiting_are_skipped() {
    let verifier = Verifier::new(VerifierConfig::light(1));
    let a = other_seed(8);
    verifier.set_seeds(a, None);
    // Occupies the only thread for at least one light hash (about 30 ms).
    let busy = tokio::spawn({
        let verifier = verifier.clone();
        async move { verifier.hash(PowAlgo::RandomX, a, numbered_blob(0)).await }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    for i in 1..=5 {
        let gave_up = tokio::time::timeout(
            Duration::from_millis(1),
            verifier.hash(PowAlgo::RandomX, a, numbered_blob(i)),
        )
        .await;
        assert!(gave_up.is_err(), "answered within 1 ms: {gave_up:?}");
    }
    let last = verifier.hash(PowAlgo::RandomX, a, numbered_blob(6)).await;
    assert_eq!(last, Ok(reference_randomx(a, &[numbered_blob(6)])[0]));
    assert!(busy.await.unwrap().is_ok());
    let stats = verifier.stats();
    assert_eq!((stats.hashed, stats.abandoned), (2, 5), "{stats:?}");
}

#[tokio::test]
async fn unknown_seed_is_rejected_without_hashing() {
    let verifier = Verifier::new(VerifierConfig::light(1));
    verifier.set_seeds(other_seed(5), None);
    assert_eq!(
        verifier
            .hash(PowAlgo::RandomX, other_seed(6), numbered_blob(1))
            .await,
        Err(PowError::UnknownSeed(other_seed(6)))
    );
}

#[tokio::test]
async fn empty_and_oversized_blobs_are_rejected_and_the_largest_allowed_is_hashed() {
    let verifier = Verifier::new(VerifierConfig::light(1));
    let a = other_seed(7);
    verifier.set_seeds(a, None);
    for algo in PowAlgo::ALL {
        assert_eq!(
            verifier.hash(algo, a, Vec::new()).await,
            Err(PowError::BadBlob { len: 0 })
        );
        assert_eq!(
            verifier.hash(algo, a, vec![0xff; MAX_BLOB_LEN + 1]).await,
            Err(PowError::BadBlob {
                len: MAX_BLOB_LEN + 1
            })
        );
        assert_eq!(
            verifier.hash(algo, a, vec![0xff; 64 << 20]).await,
            Err(PowError::BadBlob { len: 64 << 20 })
        );
    }
    let largest = vec![0xa5; MAX_BLOB_LEN];
    assert_eq!(
        verifier.hash(PowAlgo::RandomX, a, largest.clone()).await,
        Ok(reference_randomx(a, &[largest])[0])
    );
}

#[test]
fn algo_names_round_trip_through_stratum_names_and_serde() {
    for algo in PowAlgo::ALL {
        assert_eq!(algo.stratum_name().parse::<PowAlgo>(), Ok(algo));
        let json = serde_json::to_string(&algo).unwrap();
        assert_eq!(json, format!("\"{}\"", algo.stratum_name()));
        assert_eq!(serde_json::from_str::<PowAlgo>(&json).unwrap(), algo);
    }
    for bad in ["", "rx/wow", "RX/0", "cn/1", "rx/0 ", "cn/0\0"] {
        assert_eq!(bad.parse::<PowAlgo>(), Err(UnknownAlgo), "{bad:?}");
    }
}

#[test]
fn pow_config_section_parses_modes_and_rejects_unknown_keys() {
    let parsed: VerifierConfig = toml::from_str("randomx_mode = \"fast\"\nthreads = 3").unwrap();
    assert_eq!(parsed.randomx_mode, RandomxMode::Fast);
    assert_eq!(parsed.threads, 3);
    assert_eq!(parsed.queue_capacity, 0);
    let empty: VerifierConfig = toml::from_str("").unwrap();
    assert_eq!(empty.randomx_mode, RandomxMode::Auto);
    assert!(toml::from_str::<VerifierConfig>("randomx_mode = \"turbo\"").is_err());
    assert!(toml::from_str::<VerifierConfig>("randomx_mod = \"fast\"").is_err());
    assert!(!RandomxMode::Light.resolves_to_fast());
    assert!(RandomxMode::Fast.resolves_to_fast());
}
