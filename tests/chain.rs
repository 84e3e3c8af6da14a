//! The monero boundary against a real regtest monerod and monero-wallet-rpc: templates parse
//! and reproduce monerod's hashing blob, blocks we mine with our `pow::Verifier` (light-mode
//! RandomX) on our blobs are accepted with our PoW hash and block id, nonces that miss the difficulty are refused by
//! monerod and by our check alike, calls fail over to a second daemon, and wallet errors are
//! classified the way payments needs (nothing sent / maybe sent).

use std::time::Duration;

use rxpool::devnet::{Monerod, MonerodOptions, WalletRpc};
use rxpool::domain::{Atomic, Difficulty, Hash32, Height, Network};
use rxpool::monero::blob::HashingBlob;
use rxpool::monero::daemon::{Daemon, DaemonClient, DaemonError, SubmitStatus};
use rxpool::monero::json_rpc::{RpcError, RpcLogin};
use rxpool::monero::pow::{PowAlgo, Verifier, VerifierConfig};
use rxpool::monero::wallet::{
    Destination, TransferOptions, TransfersQuery, Wallet, WalletClient, WalletError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A mainnet address (regtest uses mainnet prefixes); blocks mined to it go nowhere we use.
const MINER: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
const RESERVE: usize = 8;
const EXTRA_NONCE: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

/// A fresh regtest daemon at `fixed_difficulty`.
async fn monerod(fixed_difficulty: u64) -> Monerod {
    Monerod::start(MonerodOptions { fixed_difficulty })
        .await
        .expect("start monerod")
}

/// `http://127.0.0.1:PORT` on a loopback port nobody listens on.
fn dead_url() -> String {
    format!(
        "http://127.0.0.1:{}",
        rxpool::devnet::free_port().expect("free port")
    )
}

/// Our light-mode RandomX verifier over `blob` from nonce 0: the first nonce whose hash
/// meets `difficulty` (when `meet`) or misses it (when `!meet`), with that hash.
async fn search_nonce(
    seed: Hash32,
    blob: HashingBlob,
    difficulty: Difficulty,
    meet: bool,
) -> (u32, Hash32) {
    let verifier = Verifier::new(VerifierConfig::light(1));
    verifier.set_seeds(seed, None);
    for nonce in 0..u32::MAX {
        let candidate = blob.with_nonce(nonce);
        let hash = verifier
            .hash(PowAlgo::RandomX, seed, candidate.into_bytes())
            .await
            .expect("RandomX hash");
        if difficulty.is_met_by(&hash) == meet {
            return (nonce, hash);
        }
    }
    panic!("no nonce found");
}

#[tokio::test]
async fn a_block_mined_on_our_blob_is_accepted_with_our_pow_hash_and_id() {
    let node = monerod(500).await;
    let daemon = DaemonClient::new(&[node.rpc_url()]).unwrap();
    let template = daemon.get_block_template(MINER, RESERVE).await.unwrap();
    assert_eq!(template.difficulty(), Difficulty(500));
    let hashing = template.hashing_blob(&EXTRA_NONCE).unwrap();

    let (nonce, pow_hash) = search_nonce(
        template.seed_hash(),
        hashing.clone(),
        template.difficulty(),
        true,
    )
    .await;
    let our_id = hashing.with_nonce(nonce).block_id();
    assert_eq!(template.block_id(&EXTRA_NONCE, nonce).unwrap(), our_id);

    let outcomes = daemon
        .submit_block(&template.block_blob(&EXTRA_NONCE, nonce).unwrap())
        .await;
    assert_eq!(outcomes.len(), 1);
    match &outcomes[0].status {
        SubmitStatus::Accepted { block_id } => {
            if let Some(id) = block_id {
                assert_eq!(*id, our_id);
            }
        }
        other => panic!("block refused: {other:?}"),
    }

    let tip = daemon.last_block_header(true).await.unwrap();
    assert_eq!(tip.height, template.height());
    assert_eq!(tip.hash, our_id);
    assert_eq!(tip.nonce, nonce);
    assert_eq!(tip.pow_hash, Some(pow_hash));
    assert_eq!(tip.prev_hash, template.prev_hash());
    assert_eq!(tip.reward, template.expected_reward());

    let by_height = daemon
        .block_header_by_height(template.height(), true)
        .await
        .unwrap()
        .expect("header at the new height");
    assert_eq!(by_height, tip);
    let by_hash = daemon
        .block_header_by_hash(our_id, false)
        .await
        .unwrap()
        .expect("header by our id");
    assert_eq!(by_hash.height, template.height());
    assert_eq!(by_hash.pow_hash, None);

    let info = daemon.info().await.unwrap();
    assert_eq!(info.height, Height(template.height().0 + 1));
    assert_eq!(info.top_block_hash, Some(our_id));

    let next = daemon.get_block_template(MINER, RESERVE).await.unwrap();
    assert_eq!(next.height(), Height(template.height().0 + 1));
    assert_eq!(next.prev_hash(), our_id);
}

#[tokio::test]
async fn a_nonce_that_misses_the_difficulty_is_refused_by_monerod_and_by_our_check() {
    let node = monerod(500).await;
    let daemon = DaemonClient::new(&[node.rpc_url()]).unwrap();
    let template = daemon.get_block_template(MINER, RESERVE).await.unwrap();
    let hashing = template.hashing_blob(&EXTRA_NONCE).unwrap();
    let (nonce, pow_hash) =
        search_nonce(template.seed_hash(), hashing, template.difficulty(), false).await;
    assert!(!template.difficulty().is_met_by(&pow_hash));
    assert!(Difficulty::of_hash(&pow_hash) < template.difficulty());

    let outcomes = daemon
        .submit_block(&template.block_blob(&EXTRA_NONCE, nonce).unwrap())
        .await;
    assert!(
        matches!(&outcomes[0].status, SubmitStatus::Rejected { code: -7, .. }),
        "{outcomes:?}"
    );
    let info = daemon.info().await.unwrap();
    assert_eq!(info.height, template.height(), "the chain must not grow");
}

#[tokio::test]
async fn calls_fail_over_to_the_second_daemon_when_the_first_is_dead() {
    let node = monerod(1).await;
    let dead = dead_url();
    let daemon =
        DaemonClient::with_timeout(&[dead.clone(), node.rpc_url()], Duration::from_secs(5))
            .unwrap();
    assert_eq!(daemon.active_url(), dead);

    let info = daemon.info().await.unwrap();
    assert_eq!(info.height, Height(1));
    assert_eq!(info.nettype, "fakechain");
    assert_eq!(
        daemon.active_url(),
        node.rpc_url(),
        "the healthy daemon is remembered"
    );

    let template = daemon.get_block_template(MINER, RESERVE).await.unwrap();
    // Difficulty 1: every nonce is a block. The block goes to both daemons.
    let outcomes = daemon
        .submit_block(&template.block_blob(&EXTRA_NONCE, 7).unwrap())
        .await;
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].url, dead);
    assert!(matches!(
        outcomes[0].status,
        SubmitStatus::Unreachable { .. }
    ));
    assert!(matches!(outcomes[1].status, SubmitStatus::Accepted { .. }));
    assert_eq!(daemon.info().await.unwrap().height, Height(2));

    let all_dead = DaemonClient::with_timeout(&[dead, dead_url()], Duration::from_secs(5)).unwrap();
    match all_dead.info().await {
        Err(DaemonError::Unreachable { tried: 2, last }) => assert!(last.is_unreachable()),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn lookups_past_the_chain_return_none_and_regtest_helpers_move_the_tip() {
    let node = monerod(1).await;
    let daemon = DaemonClient::new(&[node.rpc_url()]).unwrap();
    assert_eq!(
        daemon
            .block_header_by_height(Height(1000), false)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        daemon
            .block_header_by_hash(Hash32([0xab; 32]), false)
            .await
            .unwrap(),
        None
    );

    let generated = daemon.generate_blocks(5, MINER).await.unwrap();
    assert_eq!(generated.hashes.len(), 5);
    let tip = daemon.last_block_header(false).await.unwrap();
    assert_eq!(tip.height, generated.height);
    assert_eq!(Some(&tip.hash), generated.hashes.last());

    let height = daemon.pop_blocks(2).await.unwrap();
    assert_eq!(height, Height(4));
    assert_eq!(daemon.info().await.unwrap().height, Height(4));
    daemon.flush_txpool().await.unwrap();

    // A template asked for with a bad address is an RPC refusal, not a failover.
    match daemon.get_block_template("not-an-address", RESERVE).await {
        Err(DaemonError::Rpc(RpcError::Rpc { code, .. })) => assert_eq!(code, -4),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_signed_transfer_relays_once_and_its_block_matches_monerods_blobs() {
    let node = monerod(1).await;
    let daemon = DaemonClient::new(&[node.rpc_url()]).unwrap();
    let wallet_process = WalletRpc::start(&node, Network::Mainnet)
        .await
        .expect("start wallet-rpc");
    let wallet = WalletClient::new(&wallet_process.rpc_url()).unwrap();
    wallet.create_wallet("pool", "").await.unwrap();
    let address = wallet.get_address().await.unwrap();
    let (payee, _) = wallet.create_address("payee").await.unwrap();

    // Coinbase unlocks after 60 blocks; ring members need ~100 outputs.
    daemon.generate_blocks(130, &address).await.unwrap();
    wallet.refresh().await.unwrap();
    let balance = wallet.get_balance().await.unwrap();
    assert!(balance.unlocked > Atomic(0), "{balance:?}");
    assert_eq!(wallet.height().await.unwrap(), Height(131));

    // Refusals that send nothing.
    let too_much = wallet
        .transfer(
            &[Destination {
                address: payee.clone(),
                amount: Atomic(balance.balance.0 + 1),
            }],
            TransferOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(too_much, WalletError::NotEnoughMoney { .. }),
        "{too_much:?}"
    );
    assert!(!too_much.may_have_sent());
    let bad_destination = wallet
        .transfer(
            &[Destination {
                address: "4".repeat(95),
                amount: Atomic(1_000_000),
            }],
            TransferOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(bad_destination, WalletError::InvalidDestination { .. }),
        "{bad_destination:?}"
    );
    assert!(!bad_destination.may_have_sent());

    // Sign without relaying, then relay twice: one transaction.
    let amount = Atomic(1_000_000_000_000);
    let signed = wallet
        .transfer(
            &[Destination {
                address: payee.clone(),
                amount,
            }],
            TransferOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(signed.amount, amount);
    assert!(signed.fee > Atomic(0));
    assert!(!signed.tx_metadata.is_empty());
    assert_eq!(signed.tx_key.len(), 64);
    assert_eq!(
        daemon.info().await.unwrap().tx_pool_size,
        0,
        "not relayed yet"
    );

    assert_eq!(
        wallet.relay_tx(&signed.tx_metadata).await.unwrap(),
        signed.tx_hash
    );
    assert_eq!(
        wallet.relay_tx(&signed.tx_metadata).await.unwrap(),
        signed.tx_hash
    );
    assert_eq!(daemon.info().await.unwrap().tx_pool_size, 1);

    // The template now carries the transaction; parsing it checks our hashing blob against
    // monerod's. Mine it ourselves (difficulty 1) and compare the block id.
    let template = daemon.get_block_template(MINER, RESERVE).await.unwrap();
    assert_eq!(template.tx_count(), 1);
    let our_id = template.block_id(&EXTRA_NONCE, 99).unwrap();
    let outcomes = daemon
        .submit_block(&template.block_blob(&EXTRA_NONCE, 99).unwrap())
        .await;
    assert!(
        matches!(outcomes[0].status, SubmitStatus::Accepted { .. }),
        "{outcomes:?}"
    );
    let tip = daemon.last_block_header(false).await.unwrap();
    assert_eq!(tip.hash, our_id);
    assert_eq!(tip.num_txes, 1);

    wallet.refresh().await.unwrap();
    let transfer = wallet
        .get_transfer_by_txid(signed.tx_hash)
        .await
        .unwrap()
        .expect("the wallet knows its transfer");
    assert_eq!(transfer.kind, "out");
    assert_eq!(transfer.height, template.height());
    assert_eq!(transfer.fee, signed.fee);
    let outgoing = wallet
        .get_transfers(TransfersQuery::outgoing())
        .await
        .unwrap();
    assert_eq!(
        outgoing.iter().filter(|t| t.txid == signed.tx_hash).count(),
        1
    );
    assert_eq!(
        wallet
            .get_transfer_by_txid(Hash32([0x42; 32]))
            .await
            .unwrap(),
        None
    );
    wallet.store().await.unwrap();
}

/// A TCP server that accepts connections and answers each request with `reply` (or, when
/// `reply` is `None`, reads and never answers).
async fn misbehaving_server(reply: Option<&'static str>) -> String {
    serve_at("127.0.0.1:0", reply).await
}

/// As [`misbehaving_server`], listening on `address`.
async fn serve_at(address: &str, reply: Option<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 65536];
            let _ = socket.read(&mut buffer).await;
            match reply {
                Some(text) => {
                    let _ = socket.write_all(text.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
                None => held.push(socket),
            }
        }
    });
    url
}

fn one_payee() -> Vec<Destination> {
    vec![Destination {
        address: MINER.to_owned(),
        amount: Atomic(1),
    }]
}

#[tokio::test]
async fn wallet_failures_after_sending_are_maybe_sent_and_before_are_not() {
    // Never reached: connection refused.
    let nobody = dead_url();
    let wallet = WalletClient::with_timeout(&nobody, Duration::from_secs(2)).unwrap();
    let error = wallet
        .transfer(&one_payee(), TransferOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, WalletError::NotReached(_)), "{error:?}");
    assert!(!error.may_have_sent());

    // Accepted the request, never answered.
    let silent = misbehaving_server(None).await;
    let wallet = WalletClient::with_timeout(&silent, Duration::from_millis(500)).unwrap();
    let error = wallet
        .transfer(&one_payee(), TransferOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, WalletError::Ambiguous(RpcError::Timeout { .. })),
        "{error:?}"
    );
    assert!(error.may_have_sent());

    // Answered garbage, an HTTP error, or a truncated body.
    for reply in [
        "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!",
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{\"result\":",
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
    ] {
        let url = misbehaving_server(Some(reply)).await;
        let wallet = WalletClient::with_timeout(&url, Duration::from_secs(2)).unwrap();
        let error = wallet
            .transfer(&one_payee(), TransferOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(error, WalletError::Ambiguous(_)),
            "{reply:?}: {error:?}"
        );
        assert!(error.may_have_sent());
    }

    // A JSON-RPC error object is a refusal: nothing sent.
    let refusing = misbehaving_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-length: 63\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":\"0\",\"error\":{\"code\":-4,\"message\":\"nope\"}}",
    ))
    .await;
    let wallet = WalletClient::with_timeout(&refusing, Duration::from_secs(2)).unwrap();
    let error = wallet
        .transfer(&one_payee(), TransferOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, WalletError::Refused { code: -4, .. }),
        "{error:?}"
    );
    assert!(!error.may_have_sent());
}

#[tokio::test]
async fn a_daemon_answering_garbage_is_an_error_not_a_panic() {
    let garbage = misbehaving_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-length: 60\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":\"0\",\"result\":{\"blocktemplate_blob\":1}}",
    ))
    .await;
    let daemon = DaemonClient::with_timeout(&[garbage], Duration::from_secs(2)).unwrap();
    assert!(matches!(
        daemon.get_block_template(MINER, RESERVE).await,
        Err(DaemonError::Rpc(RpcError::BadJson { .. }))
    ));
    assert!(DaemonClient::new::<&str>(&[]).is_err());
    assert!(DaemonClient::new(&["ftp://127.0.0.1:1"]).is_err());
}

/// An HTTP reply carrying a `get_info` result at `height`.
fn info_reply(height: u64) -> &'static str {
    let body = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":\"0\",\"result\":{{\"height\":{height},\"status\":\"OK\"}}}}"
    );
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    Box::leak(reply.into_boxed_str())
}

#[tokio::test]
async fn failover_sticks_to_the_healthy_daemon_then_returns_to_the_primary() {
    let primary_port = rxpool::devnet::free_port().expect("free port");
    let primary = format!("http://127.0.0.1:{primary_port}");
    let backup = misbehaving_server(Some(info_reply(5))).await;
    let daemon =
        DaemonClient::with_timeout(&[primary.clone(), backup.clone()], Duration::from_secs(2))
            .unwrap()
            .with_primary_retry(Duration::from_millis(800));

    assert_eq!(daemon.info().await.unwrap().height, Height(5));
    assert_eq!(daemon.active_url(), backup);

    // The primary comes back; calls stay on the backup until the retry period has passed.
    serve_at(&format!("127.0.0.1:{primary_port}"), Some(info_reply(9))).await;
    assert_eq!(daemon.info().await.unwrap().height, Height(5));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(daemon.info().await.unwrap().height, Height(9));
    assert_eq!(daemon.active_url(), primary);
    assert_eq!(daemon.info().await.unwrap().height, Height(9));
}

#[tokio::test]
async fn wallet_rpc_login_is_answered_with_digest_auth_and_wrong_passwords_are_refused() {
    let node = monerod(1).await;
    let process = WalletRpc::start_with_login(&node, Network::Mainnet, "pool", "s3cret")
        .await
        .expect("start wallet-rpc with --rpc-login");
    let login = |password: &str| RpcLogin {
        user: "pool".to_owned(),
        password: password.to_owned(),
    };
    let wallet = WalletClient::new(&process.rpc_url())
        .unwrap()
        .with_login(login("s3cret"));
    wallet.create_wallet("authed", "").await.unwrap();
    // Several calls reuse the challenge with a rising nonce count.
    for _ in 0..3 {
        assert_eq!(wallet.get_address().await.unwrap().len(), 95);
    }

    let wrong = WalletClient::new(&process.rpc_url())
        .unwrap()
        .with_login(login("guess"));
    let error = wrong.get_address().await.unwrap_err();
    assert!(
        matches!(
            error,
            WalletError::NotReached(RpcError::Unauthorized { .. })
        ),
        "{error:?}"
    );
    assert!(!error.may_have_sent());
    assert!(!error.to_string().contains("guess"));

    let anonymous = WalletClient::new(&process.rpc_url()).unwrap();
    assert!(matches!(
        anonymous.get_address().await.unwrap_err(),
        WalletError::NotReached(RpcError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn a_daemon_that_falls_behind_is_passed_over_until_it_catches_up() {
    let first = monerod(1).await;
    let second = monerod(1).await;
    let dead = dead_url();
    let daemon = DaemonClient::with_timeout(
        &[first.rpc_url(), second.rpc_url(), dead.clone()],
        Duration::from_secs(5),
    )
    .unwrap();
    // Level: nobody lags, calls stay on the primary; the dead one is not "lagging".
    let (switched, tips) = daemon.check_lag(2).await;
    assert!(!switched, "{tips:?}");
    assert!(tips.iter().all(|t| !t.lagging), "{tips:?}");
    assert_eq!(tips[2].height, None);

    // One block behind is inside the tolerance.
    second.generate_blocks(1, MINER).await.unwrap();
    assert!(!daemon.check_lag(2).await.0);
    assert_eq!(
        daemon.info().await.unwrap().height,
        first.height().await.unwrap()
    );

    // Three behind: templates now come from the second daemon.
    second.generate_blocks(2, MINER).await.unwrap();
    let (switched, tips) = daemon.check_lag(2).await;
    assert!(switched, "{tips:?}");
    assert!(tips[0].lagging && !tips[1].lagging, "{tips:?}");
    let second_height = second.height().await.unwrap();
    let template = daemon.get_block_template(MINER, RESERVE).await.unwrap();
    assert_eq!(template.height(), second_height);

    // The primary overtakes: the second now lags and the primary is used again.
    first.generate_blocks(6, MINER).await.unwrap();
    let (switched, tips) = daemon.check_lag(2).await;
    assert!(switched, "{tips:?}");
    assert!(!tips[0].lagging && tips[1].lagging, "{tips:?}");
    let template = daemon.get_block_template(MINER, RESERVE).await.unwrap();
    assert_eq!(template.height(), first.height().await.unwrap());
    assert_eq!(daemon.active_url(), first.rpc_url());
}
