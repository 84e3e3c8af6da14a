//! Payout loose ends, each against a real MariaDB (and a regtest chain with real wallet-rpc
//! where the wallet's or the daemon's answer is the point): the wallet-rpc URL's login, the
//! daemon's word before a revert, paying what the unlocked money covers, manual review that
//! is not "sent", held batches that were signed, and books that reconcile to the atomic unit.

#[path = "payments/common.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod common;
#[path = "payments/fake_wallet.rs"]
mod fake_wallet;

use std::sync::atomic::Ordering;

use common::{Chain, xmr};
use fake_wallet::FakeWallet;
use rxpool::admin::payments::{AdminPaymentsError, PaymentsCommand, execute};
use rxpool::devnet::{Monerod, MonerodOptions, WalletRpc};
use rxpool::domain::{Atomic, BalanceType, Network};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::json_rpc::RpcError;
use rxpool::monero::wallet::{Wallet, WalletClient, WalletError};
use rxpool::payments::batch::BatchStatus;
use rxpool::payments::planner::{BatchKind, FeePolicy};
use rxpool::payments::processor::Processor;
use rxpool::store::mysql::payouts;

/// A valid mainnet standard address for payee `n` (distinct keys per payee).
fn address(n: u64) -> String {
    let key = |k: u64| {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&k.to_le_bytes());
        monero::PublicKey::from_private_key(&monero::PrivateKey::from_slice(&bytes).unwrap())
    };
    monero::Address::standard(monero::Network::Mainnet, key(2 * n + 1), key(2 * n + 2)).to_string()
}

#[tokio::test]
async fn a_wallet_url_with_credentials_logs_in_to_a_wallet_rpc_started_with_rpc_login() {
    let node = Monerod::start(MonerodOptions::default())
        .await
        .expect("monerod");
    let process = WalletRpc::start_with_login(&node, Network::Mainnet, "pool", "s3cr:t@x")
        .await
        .expect("wallet-rpc with --rpc-login");
    let with = |user_info: &str| {
        process
            .rpc_url()
            .replacen("http://", &format!("http://{user_info}@"), 1)
    };
    // As config.toml gives it, percent-encoded where the password needs it.
    let wallet = WalletClient::new(&with("pool:s3cr%3At%40x")).unwrap();
    assert_eq!(
        wallet.url(),
        process.rpc_url(),
        "credentials left in the URL"
    );
    wallet.create_wallet("authed", "").await.unwrap();
    for _ in 0..3 {
        assert_eq!(wallet.get_address().await.unwrap().len(), 95);
    }
    // A wrong password is refused, and never shows in the error.
    let error = WalletClient::new(&with("pool:guess"))
        .unwrap()
        .get_address()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            WalletError::NotReached(RpcError::Unauthorized { .. })
        ) && !error.to_string().contains("guess"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_batch_refused_on_relay_right_after_signing_is_manual_review_not_sent() {
    let db = common::database("payouts_review_not_sent").await;
    let a = common::seed_balance(&db, &address(1), "", BalanceType::Pplns, xmr("2")).await;
    let wallet = FakeWallet::default();
    wallet.refuse_relay.store(true, Ordering::Relaxed);
    let processor = Processor::new(
        db.clone(),
        wallet,
        common::processor_config(FeePolicy::PoolPaysNetworkFee),
    );
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(
        (report.batches_sent, report.payees_paid, report.paid_net),
        (0, 0, Atomic::ZERO),
        "{report:?}"
    );
    assert_eq!(report.manual_review, 1, "{report:?}");
    let review = payouts::list(&db, &[BatchStatus::ManualReview], 10)
        .await
        .unwrap();
    assert_eq!(review.len(), 1);
    // Recorded with its debits, as a signed tx must be; never signed again.
    assert_eq!(common::balance(&db, a).await, Atomic::ZERO);
    let again = processor.run_cycle().await.expect("cycle");
    assert_eq!(
        (again.batches_sent, again.manual_review),
        (0, 0),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_batch_held_after_signing_is_held_signed_never_released_and_resumes_as_signed() {
    let db = common::database("payouts_held_signed").await;
    let a = common::seed_balance(&db, "A", "", BalanceType::Pplns, xmr("2")).await;
    let item = common::item(a, "A", xmr("2"));
    let run = |cmd| execute::<WalletClient>(&db, None, None, None, cmd);
    let batch = payouts::reserve(&db, BatchKind::Single, std::slice::from_ref(&item))
        .await
        .unwrap();
    let record = common::signed_record("33");
    payouts::record_signed(&db, batch, &record).await.unwrap();
    let held = run(PaymentsCommand::Hold {
        batch,
        reason: "check".into(),
    })
    .await
    .unwrap();
    assert!(held.contains("held_signed"), "{held}");
    let row = payouts::get(&db, batch).await.unwrap().unwrap();
    assert_eq!(row.status, BatchStatus::HeldSigned);
    assert!(row.status.has_debits() && !row.status.holds_reservations());
    // Release would let the balance be signed for again: refused, whoever asks.
    let refused = run(PaymentsCommand::Release {
        batch: Some(batch),
        revert: false,
        balance: None,
    })
    .await;
    assert!(
        matches!(
            refused,
            Err(AdminPaymentsError::Store(
                payouts::PayoutError::NotPermitted { .. }
            ))
        ),
        "{refused:?}"
    );
    assert!(payouts::release(&db, batch, "direct").await.is_err());
    assert_eq!(
        payouts::get(&db, batch).await.unwrap().unwrap().status,
        BatchStatus::HeldSigned
    );
    assert!(
        payouts::load_payable(&db, xmr("0.3"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(common::balance(&db, a).await, Atomic::ZERO);
    let listed = run(PaymentsCommand::List {
        status: vec!["held_signed".into()],
        limit: 10,
    })
    .await
    .unwrap();
    assert!(listed.contains(&batch.to_string()), "{listed}");
    // Retry resumes it as the same signed tx, to be relayed.
    let resumed = run(PaymentsCommand::Retry { batch }).await.unwrap();
    assert!(resumed.contains("signed"), "{resumed}");
    let row = payouts::get(&db, batch).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.tx_hash),
        (BatchStatus::Signed, Some(record.tx_hash))
    );
}

/// A paid block's ledger lines, as the block manager writes them.
async fn credit_block(db: &sqlx::MySqlPool, hash: &str, lines: &[(&str, u64, Atomic)]) {
    let reward: u64 = lines.iter().map(|l| l.2.0).sum();
    sqlx::query(
        "INSERT INTO paid_blocks (hash, height, pool_type, reward, miners_credited, \
         fees_credited, payees) VALUES (?, 1, 'pplns', ?, ?, 0, ?)",
    )
    .bind(hash)
    .bind(reward)
    .bind(reward)
    .bind(lines.len() as u32)
    .execute(db)
    .await
    .unwrap();
    for (address, balance_id, amount) in lines {
        sqlx::query(
            "INSERT INTO block_credits (block_hash, height, payment_address, balance_type, amount) \
             VALUES (?, 1, ?, 'pplns', ?)",
        )
        .bind(hash)
        .bind(address)
        .bind(amount.0)
        .execute(db)
        .await
        .unwrap();
        common::credit(db, *balance_id, *amount).await;
    }
}

#[tokio::test]
async fn the_books_reconcile_to_the_atomic_unit_through_slew_fees_network_fees_and_a_revert() {
    let db = common::database("payouts_books").await;
    let (a_addr, b_addr, c_addr) = (address(1), address(2), address(3));
    let a = common::seed_balance(&db, &a_addr, "", BalanceType::Pplns, Atomic::ZERO).await;
    let b = common::seed_balance(&db, &b_addr, "", BalanceType::Pplns, Atomic::ZERO).await;
    let c = common::seed_balance(&db, &c_addr, "", BalanceType::Pplns, Atomic::ZERO).await;
    credit_block(
        &db,
        &"aa".repeat(32),
        &[
            (&a_addr, a, Atomic(400_000_000_001)),
            (&b_addr, b, Atomic(1_234_567_890_123)),
            (&c_addr, c, Atomic(100_000_000_000)),
        ],
    )
    .await;
    let slew = FeePolicy::FeeSlew {
        amount: xmr("0.0004"),
        end: xmr("4"),
    };
    let wallet = FakeWallet::default();
    let processor = Processor::new(db.clone(), wallet, common::processor_config(slew));
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(report.batches_sent, 1, "{report:?}");

    let books = payouts::books(&db).await.unwrap();
    assert_eq!(books.unaccounted(), 0, "{books:?}");
    assert!(
        books.fees_charged > 0,
        "the slew charged nothing: {books:?}"
    );
    assert_eq!(books.network_fees, u128::from(fake_wallet::NETWORK_FEE.0));
    // c (below the minimum) is still due, with the denomination dust of a and b.
    assert!(books.due >= 100_000_000_000, "{books:?}");

    // The first payout is mined; a second block and a payout that is refused on relay, then
    // reverted by the operator: its fees were never charged nor paid.
    let first = payouts::list(&db, &[BatchStatus::Relayed], 1)
        .await
        .unwrap()[0]
        .id;
    payouts::mark_confirmed(&db, first, BatchStatus::Relayed, 10, Some(2))
        .await
        .unwrap();
    credit_block(
        &db,
        &"bb".repeat(32),
        &[(&a_addr, a, Atomic(700_000_000_000))],
    )
    .await;
    processor
        .wallet()
        .refuse_relay
        .store(true, Ordering::Relaxed);
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(report.manual_review, 1, "{report:?}");
    let review = payouts::list(&db, &[BatchStatus::ManualReview], 1)
        .await
        .unwrap()[0]
        .id;
    payouts::revert(&db, review, "test").await.unwrap();
    let after = payouts::books(&db).await.unwrap();
    assert_eq!(after.unaccounted(), 0, "{after:?}");
    assert_eq!(after.fees_charged, books.fees_charged, "{after:?}");
    assert_eq!(after.network_fees, books.network_fees, "{after:?}");
    assert_eq!(after.credited, books.credited + 700_000_000_000);

    let totals = execute::<WalletClient>(&db, None, None, None, PaymentsCommand::Totals)
        .await
        .unwrap();
    let line = format!(
        "books: credited {} = balances due {} + paid out {} + fees charged {}; the books reconcile",
        after.credited, after.due, after.paid, after.fees_charged
    );
    assert!(totals.contains(&line), "{totals}");
    assert!(
        totals.contains(&format!(
            "network fees paid by the pool wallet {}",
            after.network_fees
        )),
        "{totals}"
    );

    // Money that appears from nowhere (or goes) is shown, not hidden.
    common::credit(&db, c, Atomic(5)).await;
    let off = payouts::books(&db).await.unwrap();
    assert_eq!(off.unaccounted(), -5);
    let totals = execute::<WalletClient>(&db, None, None, None, PaymentsCommand::Totals)
        .await
        .unwrap();
    assert!(
        totals.contains("5 atomic units more are accounted for than credited"),
        "{totals}"
    );
}

#[tokio::test]
async fn a_cycle_short_of_unlocked_money_pays_the_oldest_dues_that_fit_and_the_rest_later() {
    let chain = Chain::start().await;
    let db = common::database("payouts_short").await;
    let payees = chain.receivers(&["quinn", "rita", "sam"]).await;
    let unlocked = chain.pool_wallet.get_balance().await.unwrap().unlocked;
    let part = |num: u64, den: u64| Atomic(unlocked.0 / den * num / 1_000_000 * 1_000_000);
    // Oldest first: half, half (together all the unlocked money: the network fee does not
    // fit), a quarter.
    let owed = [part(1, 2), part(1, 2), part(1, 4)];
    let mut ids = Vec::new();
    for (p, amount) in payees.iter().zip(owed) {
        ids.push(common::seed_balance(&db, &p.standard, "", BalanceType::Pplns, amount).await);
    }
    let processor = chain.processor(&db, FeePolicy::PoolPaysNetworkFee);
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(
        (report.batches_sent, report.payees_paid),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(report.paid_net, owed[0], "{report:?}");
    assert_eq!(
        report.shortfall,
        Atomic(owed[1].0 + owed[2].0),
        "{report:?}"
    );
    assert_eq!(common::balance(&db, ids[0]).await, Atomic::ZERO);
    assert_eq!(common::balance(&db, ids[1]).await, owed[1]);
    assert_eq!(common::balance(&db, ids[2]).await, owed[2]);
    assert!(
        payouts::list(&db, &[BatchStatus::Reserved], 10)
            .await
            .unwrap()
            .is_empty(),
        "a reservation was left behind"
    );
    chain.mine(1).await;
    let seen = chain.received(&payees[0]).await;
    assert_eq!(
        seen.iter().map(|r| r.amount).collect::<Vec<_>>(),
        vec![owed[0].0]
    );
    assert!(chain.received(&payees[1]).await.is_empty());
    assert!(chain.received(&payees[2]).await.is_empty());
}

#[tokio::test]
async fn a_revert_is_refused_while_the_daemon_has_the_tx_in_its_pool_or_on_its_chain() {
    let chain = Chain::start().await;
    let db = common::database("payouts_revert_daemon").await;
    let (tara, id, batch) = chain.pay_one(&db, "tara", xmr("1.5")).await;
    payouts::to_manual_review(&db, batch.id, BatchStatus::Relayed, "test")
        .await
        .unwrap();
    // A wallet that never saw the tx (as one restored from its seed before rescanning):
    // "unknown" by the wallet's word alone.
    let stranger = chain.receivers(&["stranger"]).await;
    chain.recv.open_wallet(&stranger[0].name, "").await.unwrap();
    assert!(
        chain
            .recv
            .get_transfer_by_txid(batch.tx_hash.unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let daemon = DaemonClient::new(&[chain.daemon_url()]).unwrap();
    let revert = || {
        execute(
            &db,
            Some(&chain.recv),
            Some(&daemon),
            None,
            PaymentsCommand::Release {
                batch: Some(batch.id),
                revert: true,
                balance: None,
            },
        )
    };
    let in_pool = revert().await;
    assert!(
        matches!(&in_pool, Err(AdminPaymentsError::TxKnownToDaemon { state, .. }) if state.contains("pool")),
        "{in_pool:?}"
    );
    chain.mine(1).await;
    chain.recv.open_wallet(&stranger[0].name, "").await.unwrap();
    let on_chain = revert().await;
    assert!(
        matches!(&on_chain, Err(AdminPaymentsError::TxKnownToDaemon { state, .. }) if state.contains("chain")),
        "{on_chain:?}"
    );
    // Nothing was credited back: the payee is paid once.
    assert_eq!(common::balance(&db, id).await, Atomic::ZERO);
    assert_eq!(
        payouts::get(&db, batch.id).await.unwrap().unwrap().status,
        BatchStatus::ManualReview
    );
    assert_eq!(chain.received(&tara).await.len(), 1);
}

#[tokio::test]
async fn the_pps_reserve_counts_the_network_fees_the_pool_will_pay_on_what_it_owes() {
    use rxpool::block_manager::pps::{Reserve, ReserveStatus};
    use rxpool::block_manager::pps_runner::{DEFAULT_NETWORK_FEE_PER_PAYEE, payout_fee_estimate};
    let db = common::database("payouts_pps_reserve").await;
    assert_eq!(payout_fee_estimate(&db).await.unwrap(), Atomic::ZERO);
    let mut ids = Vec::new();
    for (n, amount) in [(1, "2"), (2, "3"), (3, "0.1")] {
        ids.push(common::seed_balance(&db, &address(n), "", BalanceType::Pps, xmr(amount)).await);
    }
    common::seed_balance(&db, &address(4), "", BalanceType::Pps, Atomic::ZERO).await;
    // Before the first payout: the default fee for each of the three payees owed money.
    assert_eq!(
        payout_fee_estimate(&db).await.unwrap(),
        Atomic(3 * DEFAULT_NETWORK_FEE_PER_PAYEE.0)
    );
    // After one: what it cost per payee (one tx of two payees), for the one still owed.
    let processor = Processor::new(
        db.clone(),
        FakeWallet::default(),
        common::processor_config(FeePolicy::PoolPaysNetworkFee),
    );
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(report.payees_paid, 2, "{report:?}");
    let fees = payout_fee_estimate(&db).await.unwrap();
    assert_eq!(fees, Atomic(fake_wallet::NETWORK_FEE.0 / 2));

    // A wallet that holds exactly what is owed plus the new PPS credit is short by the fees.
    let owed = rxpool::store::mysql::credits::owed_total(&db)
        .await
        .unwrap();
    let liability = xmr("1");
    let reserve = Reserve {
        wallet_balance: owed.checked_add(liability).unwrap(),
        owed,
        payout_fees: fees,
    };
    assert_eq!(
        reserve.check(liability),
        ReserveStatus::Short { shortfall: fees }
    );
}

#[tokio::test]
async fn payments_killed_after_a_shortfall_release_and_restarted_pay_the_oldest_due_once() {
    let chain = Chain::start().await;
    let (db, url) = common::database_with_url("payouts_short_crash").await;
    let dir = tempfile::tempdir().unwrap();
    let config = chain.payments_config(dir.path(), &url);
    let payees = chain.receivers(&["will", "xena"]).await;
    let unlocked = chain.pool_wallet.get_balance().await.unwrap().unlocked;
    // Together exactly the unlocked money: the planner keeps both, the network fee does not
    // fit, the wallet refuses, and the batch is released to be shrunk.
    let half = Atomic(unlocked.0 / 2 / 1_000_000 * 1_000_000);
    let mut ids = Vec::new();
    for p in &payees {
        ids.push(common::seed_balance(&db, &p.standard, "", BalanceType::Pplns, half).await);
    }
    let point = "payments:after_short_release";
    let log = dir.path().join("crash.log");
    common::crash_at(&config, &db, point, &log).await;
    // Killed there: nothing signed, nothing debited, nothing reserved.
    assert!(
        payouts::list(&db, &[], 10)
            .await
            .unwrap()
            .iter()
            .all(|b| b.status == BatchStatus::Released && b.tx_hash.is_none())
    );
    for id in &ids {
        assert_eq!(common::balance(&db, *id).await, half);
    }

    // Restarted: the oldest due is paid once, the other waits for money.
    let log = dir.path().join("restart.log");
    common::run_payments_until(
        &config,
        &db,
        &log,
        "the oldest due was never paid",
        || async { common::balance(&db, ids[0]).await == Atomic::ZERO },
    )
    .await;
    assert_eq!(common::balance(&db, ids[1]).await, half);
    chain.mine(1).await;
    let first = chain.received(&payees[0]).await;
    assert_eq!(
        first.iter().map(|r| r.amount).collect::<Vec<_>>(),
        vec![half.0]
    );
    assert!(chain.received(&payees[1]).await.is_empty());
    let signed = payouts::list(&db, &[], 20)
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.tx_hash.is_some())
        .count();
    assert_eq!(signed, 1);
}
