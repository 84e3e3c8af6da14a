//! The payments role against a real MariaDB, regtest monerod and two monero-wallet-rpc: the
//! pool's wallet pays, and receiving wallets in the second wallet-rpc see what arrived.
//!
//! Balances are seeded directly in MySQL (the block manager's crediting is tested on its
//! own); everything after that is the real processor, the real wallet and the real chain.

#[path = "payments/common.rs"]
mod common;

use std::collections::HashSet;

use common::{Chain, xmr};
use rxpool::domain::{Atomic, BalanceType};
use rxpool::payments::batch::BatchStatus;
use rxpool::payments::planner::{BatchKind, FeePolicy};
use rxpool::store::mysql::payouts::{self, SignedRecord, TxKey};

#[tokio::test]
async fn reservations_are_exclusive_and_a_signed_record_debits_once() {
    let db = common::database("payouts_store").await;
    let a = common::seed_balance(&db, "A", "", BalanceType::Pplns, xmr("2")).await;
    let b = common::seed_balance(&db, "B", "", BalanceType::Pplns, xmr("3")).await;
    let item = common::item;
    let first = payouts::reserve(
        &db,
        BatchKind::Batched,
        &[item(a, "A", xmr("2")), item(b, "B", xmr("3"))],
    )
    .await
    .unwrap();
    // The same balance cannot be drawn on twice, and a failed reservation writes nothing.
    let again = payouts::reserve(&db, BatchKind::Single, &[item(b, "B", xmr("3"))]).await;
    assert!(matches!(again, Err(payouts::PayoutError::AlreadyReserved(id)) if id == b));
    assert_eq!(payouts::list(&db, &[], 10).await.unwrap().len(), 1);
    assert!(
        payouts::load_payable(&db, xmr("0.3"))
            .await
            .unwrap()
            .is_empty()
    );

    let record = SignedRecord {
        tx_hash: "11".repeat(32).parse().unwrap(),
        tx_metadata: "abcd".to_owned(),
        tx_key: TxKey("ff".repeat(32)),
        network_fee: Atomic(30_000_000),
    };
    payouts::record_signed(&db, first, &record).await.unwrap();
    // A second record of the same batch is refused by the status compare-and-swap.
    assert!(payouts::record_signed(&db, first, &record).await.is_err());
    assert_eq!(common::balance(&db, a).await, Atomic::ZERO);
    assert_eq!(common::balance(&db, b).await, Atomic::ZERO);
    let row = payouts::get(&db, first).await.unwrap().unwrap();
    assert_eq!(row.status, BatchStatus::Signed);
    assert_eq!(row.tx_hash, Some(record.tx_hash));
    assert!(
        !format!("{row:?}").contains(&"ff".repeat(32)),
        "tx key leaked into Debug"
    );
    let totals = payouts::pool_totals(&db).await.unwrap();
    assert_eq!(
        (totals.paid, totals.payments, totals.transactions),
        (xmr("5"), 2, 1)
    );
    let paid = payouts::miner_payments(&db, "B", 10, 0).await.unwrap();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].amount, xmr("3"));
    assert_eq!(paid[0].tx_hash, record.tx_hash.to_string());

    // Released batches give their balances back to the planner; signed ones cannot be released.
    assert!(payouts::release(&db, first, "test").await.is_err());
    common::credit(&db, a, xmr("1")).await;
    let second = payouts::reserve(&db, BatchKind::Single, &[item(a, "A", xmr("1"))])
        .await
        .unwrap();
    payouts::release(&db, second, "test").await.unwrap();
    assert_eq!(
        payouts::load_payable(&db, xmr("0.3")).await.unwrap().len(),
        1
    );
    // The same tx hash can never be recorded for two batches.
    let third = payouts::reserve(&db, BatchKind::Single, &[item(a, "A", xmr("1"))])
        .await
        .unwrap();
    assert!(payouts::record_signed(&db, third, &record).await.is_err());
    assert_eq!(common::balance(&db, a).await, xmr("1"));
}

#[tokio::test]
async fn regtest_pays_standard_subaddress_integrated_and_payment_id_payees_exactly_once() {
    let chain = Chain::start().await;
    let db = common::database("payouts_e2e").await;
    let payees = chain.receivers(&["alice", "bob", "carol", "dave"]).await;
    let alice = &payees[0].standard;
    let (bob_sub, _) = chain.subaddress(&payees[1]).await;
    let (carol_int, carol_pid) = chain.integrated(&payees[2]).await;
    let dave = &payees[3].standard;
    let dave_pid = "00000000deadbeef";

    // Alice has two modes: two rows, two payouts, never confused.
    let rows = [
        (alice.as_str(), "", BalanceType::Pplns, xmr("1.5")),
        (alice.as_str(), "", BalanceType::Pps, xmr("0.7")),
        (bob_sub.as_str(), "", BalanceType::Pplns, xmr("2")),
        (carol_int.as_str(), "", BalanceType::Solo, xmr("6")),
        (dave.as_str(), dave_pid, BalanceType::Pplns, xmr("5.5")),
    ];
    let mut ids = Vec::new();
    for (address, pid, ty, amount) in rows {
        ids.push(common::seed_balance(&db, address, pid, ty, amount).await);
    }

    let processor = chain.processor(&db, FeePolicy::PoolPaysNetworkFee);
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(report.payees_paid, 5, "{report:?}");
    assert_eq!(report.batches_sent, 4, "{report:?}");
    for id in &ids {
        assert_eq!(common::balance(&db, *id).await, Atomic::ZERO);
    }
    chain.mine(12).await;
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(report.confirmed, 4, "{report:?}");
    assert_eq!(report.payees_paid, 0, "nothing is paid twice: {report:?}");

    let seen_alice = chain.received(&payees[0]).await;
    let mut amounts: Vec<u64> = seen_alice.iter().map(|r| r.amount).collect();
    amounts.sort();
    assert_eq!(amounts, vec![xmr("0.7").0, xmr("1.5").0]);
    let seen_bob = chain.received(&payees[1]).await;
    assert_eq!(seen_bob.len(), 1);
    assert_eq!(
        (seen_bob[0].amount, seen_bob[0].subaddr_minor),
        (xmr("2").0, 1)
    );
    let seen_carol = chain.received(&payees[2]).await;
    assert_eq!(seen_carol.len(), 1);
    assert_eq!(seen_carol[0].amount, xmr("6").0);
    assert_eq!(seen_carol[0].payment_id, carol_pid);
    let seen_dave = chain.received(&payees[3]).await;
    assert_eq!(seen_dave.len(), 1);
    assert_eq!(seen_dave[0].amount, xmr("5.5").0);
    assert_eq!(seen_dave[0].payment_id, dave_pid);

    // MySQL matches the chain: every received tx is a confirmed batch with that hash.
    let confirmed = payouts::list(&db, &[BatchStatus::Confirmed], 100)
        .await
        .unwrap();
    let hashes: HashSet<String> = confirmed
        .iter()
        .filter_map(|b| b.tx_hash.map(|h| h.to_string()))
        .collect();
    for r in seen_alice
        .iter()
        .chain(&seen_bob)
        .chain(&seen_carol)
        .chain(&seen_dave)
    {
        assert!(hashes.contains(&r.txid), "{} not recorded", r.txid);
    }
    let totals = payouts::pool_totals(&db).await.unwrap();
    assert_eq!(totals.paid, xmr("15.7"));
    assert_eq!(totals.payments, 5);
}

#[tokio::test]
async fn a_bad_destination_among_good_ones_is_set_aside_and_the_others_are_paid() {
    let chain = Chain::start().await;
    let db = common::database("payouts_bad").await;
    let payees = chain.receivers(&["erin", "frank"]).await;
    // A testnet address on a mainnet-prefix chain parses as an address but is refused.
    let bad = common::testnet_address();
    let good1 =
        common::seed_balance(&db, &payees[0].standard, "", BalanceType::Pplns, xmr("1")).await;
    let bad_id = common::seed_balance(&db, &bad, "", BalanceType::Pplns, xmr("1")).await;
    let good2 =
        common::seed_balance(&db, &payees[1].standard, "", BalanceType::Pplns, xmr("1")).await;

    let processor = chain.processor(&db, FeePolicy::PoolPaysNetworkFee);
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(report.payees_paid, 2, "{report:?}");
    assert_eq!(report.set_aside, 1, "{report:?}");
    assert_eq!(common::balance(&db, good1).await, Atomic::ZERO);
    assert_eq!(common::balance(&db, good2).await, Atomic::ZERO);
    assert_eq!(common::balance(&db, bad_id).await, xmr("1"));
    let aside = payouts::set_aside_list(&db).await.unwrap();
    assert_eq!(aside.len(), 1);
    assert_eq!(aside[0].balance_id, bad_id);
    assert!(!aside[0].reason.is_empty());
    // Set aside means not retried every cycle.
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!((report.payees_paid, report.set_aside), (0, 0), "{report:?}");
    chain.mine(2).await;
    assert_eq!(chain.received(&payees[0]).await.len(), 1);
    assert_eq!(chain.received(&payees[1]).await.len(), 1);
}

/// Runs `rxpool payments` with `payments:after_commit` armed: it signs and records one batch
/// with its debits, then aborts before relaying. Returns that batch.
async fn crash_after_commit(
    config: &std::path::Path,
    db: &sqlx::MySqlPool,
    log: &std::path::Path,
) -> payouts::BatchRow {
    let status = common::spawn_payments(config, Some("payments:after_commit"), log)
        .wait()
        .unwrap();
    assert!(!status.success(), "the process was meant to abort");
    let mut signed = payouts::list(db, &[BatchStatus::Signed], 10).await.unwrap();
    assert_eq!(
        signed.len(),
        1,
        "{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    signed.remove(0)
}

#[tokio::test]
async fn payments_killed_at_every_step_and_restarted_pay_every_payee_exactly_once() {
    let chain = Chain::start().await;
    let (db, url) = common::database_with_url("payouts_crash").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{lmdb}\"\n[daemon]\nurls = [\"{daemon}\"]\n\
             [wallet]\nurl = \"{wallet}\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"test\"\n",
            lmdb = dir.path().join("lmdb").display(),
            daemon = chain.daemon_url(),
            wallet = chain.pool_wallet_url(),
        ),
    )
    .unwrap();
    let payees = chain.receivers(&["gina", "hank", "ivy"]).await;
    let mut ids = Vec::new();
    for p in &payees {
        ids.push(
            common::seed_balance(&db, &p.standard, "", BalanceType::Pplns, Atomic::ZERO).await,
        );
    }
    let mut owed = vec![Atomic::ZERO; payees.len()];
    let points = [
        "payments:after_reserve",
        "payments:after_sign",
        "payments:after_commit",
        "payments:after_relay",
        "payments:during_tracking",
    ];
    // Twice round every fail point: the second round starts from the state the first left.
    for (step, point) in points.iter().chain(points.iter()).enumerate() {
        for (k, id) in ids.iter().enumerate() {
            // Distinct amounts per payee and step, so a double payment cannot hide.
            let amount =
                Atomic(xmr("1").0 + (k as u64) * xmr("0.1").0 + (step as u64) * xmr("0.01").0);
            common::credit(&db, *id, amount).await;
            owed[k] = owed[k].checked_add(amount).unwrap();
        }
        let log = dir.path().join(format!("step{step}.log"));
        common::crash_at(&config, &db, point, &log).await;
        chain.mine(1).await;
    }

    // Restart without fail points until everything is paid and confirmed.
    let log = dir.path().join("final.log");
    let mut child = common::spawn_payments(&config, None, &log);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        payouts::request_run(&db).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        chain.mine(2).await;
        let live = payouts::live(&db).await.unwrap();
        let mut drained = true;
        for id in &ids {
            drained &= common::balance(&db, *id).await == Atomic::ZERO;
        }
        if live.is_empty() && drained {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not settled: {live:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    // SIGTERM our child and let it finish its transition.
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();

    for (k, payee) in payees.iter().enumerate() {
        let received = chain.received(payee).await;
        let txids: HashSet<&str> = received.iter().map(|r| r.txid.as_str()).collect();
        assert_eq!(txids.len(), received.len(), "a tx counted twice for {k}");
        let total: u64 = received.iter().map(|r| r.amount).sum();
        assert_eq!(Atomic(total), owed[k], "payee {k} received {received:?}");
    }
    let confirmed = payouts::list(&db, &[BatchStatus::Confirmed], 100)
        .await
        .unwrap();
    let totals = payouts::pool_totals(&db).await.unwrap();
    let owed_total: Atomic = owed.iter().copied().sum();
    assert_eq!(totals.paid, owed_total);
    assert_eq!(totals.transactions, confirmed.len() as u64);
}

#[tokio::test]
async fn wallet_rpc_down_debits_nothing_and_a_recorded_tx_survives_a_wallet_rpc_replacement() {
    let mut chain = Chain::start().await;
    let (db, url) = common::database_with_url("payouts_wallet").await;
    let payees = chain.receivers(&["jack", "kate"]).await;
    let a = common::seed_balance(
        &db,
        &payees[0].standard,
        "",
        BalanceType::Pplns,
        xmr("1.25"),
    )
    .await;
    let b = common::seed_balance(&db, &payees[1].standard, "", BalanceType::Pps, xmr("0.75")).await;

    // A wallet-rpc that is not there: the cycle fails, nothing is reserved or debited.
    let dead = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        rxpool::monero::wallet::WalletClient::new(&format!("http://127.0.0.1:{port}")).unwrap()
    };
    let processor = rxpool::payments::processor::Processor::new(
        db.clone(),
        dead,
        chain.processor(&db, FeePolicy::PoolPaysNetworkFee).config(),
    );
    let failed = processor.run_cycle().await;
    assert!(
        matches!(
            failed,
            Err(rxpool::payments::processor::CycleError::WalletDown(_))
        ),
        "{failed:?}"
    );
    assert_eq!(common::balance(&db, a).await, xmr("1.25"));
    assert!(payouts::list(&db, &[], 10).await.unwrap().is_empty());

    // The tx is signed and recorded, then the process dies before relaying it...
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{lmdb}\"\n[daemon]\nurls = [\"{daemon}\"]\n\
             [wallet]\nurl = \"{wallet}\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"test\"\n",
            lmdb = dir.path().join("lmdb").display(),
            daemon = chain.daemon_url(),
            wallet = chain.pool_wallet_url(),
        ),
    )
    .unwrap();
    let log = dir.path().join("child.log");
    let signed = [crash_after_commit(&config, &db, &log).await];
    assert_eq!(common::balance(&db, a).await, Atomic::ZERO);

    // ...and the wallet-rpc is killed and replaced by one restored from the seed. Recovery
    // relays the recorded tx through the new one; nothing is signed twice.
    chain.replace_pool_wallet_rpc().await;
    let processor = chain.processor(&db, FeePolicy::PoolPaysNetworkFee);
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(
        (report.re_relayed, report.batches_sent),
        (1, 0),
        "{report:?}"
    );
    chain.mine(12).await;
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(report.confirmed, 1, "{report:?}");
    let jack = chain.received(&payees[0]).await;
    let kate = chain.received(&payees[1]).await;
    assert_eq!(jack.iter().map(|r| r.amount).sum::<u64>(), xmr("1.25").0);
    assert_eq!(kate.iter().map(|r| r.amount).sum::<u64>(), xmr("0.75").0);
    assert_eq!(jack[0].txid, signed[0].tx_hash.unwrap().to_string());
    assert_eq!(common::balance(&db, b).await, Atomic::ZERO);
}

#[tokio::test]
async fn admin_commands_follow_the_transition_table_and_refuse_what_it_forbids() {
    use rxpool::admin::payments::{PaymentsCommand, execute};
    use rxpool::monero::wallet::WalletClient;
    let db = common::database("payouts_admin").await;
    let a = common::seed_balance(&db, "A", "", BalanceType::Pplns, xmr("2")).await;
    let item = common::item(a, "A", xmr("2"));
    let run = |cmd| execute::<WalletClient>(&db, None, None, None, cmd);
    let batch = payouts::reserve(&db, BatchKind::Single, std::slice::from_ref(&item))
        .await
        .unwrap();
    run(PaymentsCommand::Hold {
        batch,
        reason: "check".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        payouts::get(&db, batch).await.unwrap().unwrap().status,
        BatchStatus::Held
    );
    run(PaymentsCommand::Retry { batch }).await.unwrap();
    assert_eq!(
        payouts::get(&db, batch).await.unwrap().unwrap().status,
        BatchStatus::Reserved
    );
    let listed = run(PaymentsCommand::List {
        status: vec!["reserved".into()],
        limit: 10,
    })
    .await
    .unwrap();
    assert!(listed.contains("reserved"), "{listed}");
    assert!(
        run(PaymentsCommand::List {
            status: vec!["paid'; DROP TABLE balance; --".into()],
            limit: 10
        })
        .await
        .is_err()
    );
    // Retry of a reserved batch and release of a missing one are refused.
    assert!(run(PaymentsCommand::Retry { batch }).await.is_err());
    assert!(
        run(PaymentsCommand::Release {
            batch: Some(batch + 99),
            revert: false,
            balance: None
        })
        .await
        .is_err()
    );
    run(PaymentsCommand::Release {
        batch: Some(batch),
        revert: false,
        balance: None,
    })
    .await
    .unwrap();
    assert_eq!(
        payouts::get(&db, batch).await.unwrap().unwrap().status,
        BatchStatus::Released
    );
    // A signed batch cannot be released (its debits are committed), and revert needs a wallet.
    let batch = payouts::reserve(&db, BatchKind::Single, std::slice::from_ref(&item))
        .await
        .unwrap();
    let record = common::signed_record("22");
    payouts::record_signed(&db, batch, &record).await.unwrap();
    assert!(
        run(PaymentsCommand::Release {
            batch: Some(batch),
            revert: false,
            balance: None
        })
        .await
        .is_err()
    );
    payouts::to_manual_review(&db, batch, BatchStatus::Signed, "test")
        .await
        .unwrap();
    assert!(
        run(PaymentsCommand::Release {
            batch: Some(batch),
            revert: true,
            balance: None
        })
        .await
        .is_err()
    );
    assert_eq!(common::balance(&db, a).await, Atomic::ZERO);
    let shown = run(PaymentsCommand::Show {
        batch,
        tx_key: false,
    })
    .await
    .unwrap();
    assert!(
        shown.contains("manual_review") && shown.contains(&"22".repeat(32)),
        "{shown}"
    );
    let totals = run(PaymentsCommand::Totals).await.unwrap();
    assert!(totals.contains("1 payments"), "{totals}");
}

#[tokio::test]
async fn a_recorded_payout_whose_inputs_were_spent_elsewhere_is_held_for_review_never_paid_twice_nor_lost()
 {
    use rxpool::admin::payments::{PaymentsCommand, execute};
    use rxpool::monero::wallet::WalletClient;
    let chain = Chain::start().await;
    let (db, url) = common::database_with_url("payouts_double_spend").await;
    let dir = tempfile::tempdir().unwrap();
    let config = chain.payments_config(dir.path(), &url);
    let payees = chain.receivers(&["lena", "mike"]).await;
    let owed = [xmr("1.5"), xmr("0.5")];
    let mut ids = Vec::new();
    for (payee, amount) in payees.iter().zip(owed) {
        ids.push(common::seed_balance(&db, &payee.standard, "", BalanceType::Pplns, amount).await);
    }
    let (a, b) = (ids[0], ids[1]);

    // Signed and committed with the debits, then the process dies before relaying.
    let log = dir.path().join("crash.log");
    let batch = crash_after_commit(&config, &db, &log).await.id;
    assert_eq!(common::balance(&db, a).await, Atomic::ZERO);
    assert_eq!(common::balance(&db, b).await, Atomic::ZERO);

    // Meanwhile the same outputs are spent elsewhere: the wallet never saw the unrelayed tx,
    // so a sweep of everything it holds (to itself) takes its inputs; the sweep is mined.
    let swept = chain
        .rpc(
            &chain.pool_wallet_url(),
            "sweep_all",
            serde_json::json!({"address": chain.pool_address}),
        )
        .await;
    assert!(
        !swept["tx_hash_list"].as_array().unwrap().is_empty(),
        "{swept}"
    );
    chain.mine(2).await;

    // Restarted, payments finds the recorded tx refused on relay: manual review, with an
    // alert, and nothing new signed for those balances.
    let log = dir.path().join("restart.log");
    common::run_payments_until(
        &config,
        &db,
        &log,
        "the batch never reached manual review",
        || async {
            payouts::get(&db, batch).await.unwrap().unwrap().status == BatchStatus::ManualReview
        },
    )
    .await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("held for manual review") && text.contains("alert"),
        "{text}"
    );
    let row = payouts::get(&db, batch).await.unwrap().unwrap();
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("relay refused")),
        "{row:?}"
    );
    assert_eq!(
        payouts::list(&db, &[], 10).await.unwrap().len(),
        1,
        "nothing else signed"
    );
    assert_eq!(
        common::balance(&db, a).await,
        Atomic::ZERO,
        "not paid twice"
    );
    assert_eq!(
        common::balance(&db, b).await,
        Atomic::ZERO,
        "not paid twice"
    );
    chain.mine(1).await;
    assert!(chain.received(&payees[0]).await.is_empty());
    assert!(chain.received(&payees[1]).await.is_empty());

    // Not lost either: the operator reverts (the wallet reports the tx unknown), the debits
    // are credited back, and the next cycle pays each payee once.
    let wallet = WalletClient::new(&chain.pool_wallet_url()).unwrap();
    let daemon = rxpool::monero::daemon::DaemonClient::new(&[chain.daemon_url()]).unwrap();
    execute(
        &db,
        Some(&wallet),
        Some(&daemon),
        None,
        PaymentsCommand::Release {
            batch: Some(batch),
            revert: true,
            balance: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(common::balance(&db, a).await, owed[0]);
    assert_eq!(common::balance(&db, b).await, owed[1]);
    // The swept outputs unlock after 10 blocks.
    chain.mine(10).await;
    let log = dir.path().join("repay.log");
    common::run_payments_until(
        &config,
        &db,
        &log,
        "the reverted balances were not paid again",
        || async {
            common::balance(&db, a).await == Atomic::ZERO
                && common::balance(&db, b).await == Atomic::ZERO
        },
    )
    .await;
    chain.mine(1).await;
    let lena = chain.received(&payees[0]).await;
    let mike = chain.received(&payees[1]).await;
    assert_eq!(
        lena.iter().map(|r| r.amount).collect::<Vec<_>>(),
        vec![owed[0].0]
    );
    assert_eq!(
        mike.iter().map(|r| r.amount).collect::<Vec<_>>(),
        vec![owed[1].0]
    );
    assert_eq!(
        payouts::get(&db, batch).await.unwrap().unwrap().status,
        BatchStatus::Reverted
    );
}

#[tokio::test]
async fn a_relayed_payout_that_left_the_pool_without_a_double_spend_is_relayed_again_and_paid_once()
{
    let chain = Chain::start().await;
    let db = common::database("payouts_flushed").await;
    let (nina, id, batch) = chain.pay_one(&db, "nina", xmr("2.5")).await;
    let processor = chain.processor(&db, FeePolicy::PoolPaysNetworkFee);
    let hash = batch.tx_hash.unwrap().to_string();
    let daemon_pool = async || -> Vec<String> {
        let pool = chain
            .daemon_other("get_transaction_pool_hashes", serde_json::json!({}))
            .await;
        serde_json::from_value(pool["tx_hashes"].clone()).unwrap_or_default()
    };
    assert_eq!(daemon_pool().await, vec![hash.clone()]);

    // The daemon drops it from its pool (as a restart or an eviction would); its inputs are
    // not spent elsewhere. The next cycle relays the same tx again, and one more (the tx
    // now in the pool) changes nothing: no review, no new tx.
    let daemon = rxpool::monero::daemon::DaemonClient::new(&[chain.daemon_url()]).unwrap();
    daemon.flush_txpool().await.unwrap();
    assert!(daemon_pool().await.is_empty());
    for _ in 0..2 {
        let report = processor.run_cycle().await.expect("cycle");
        assert_eq!(
            (report.re_relayed, report.batches_sent, report.manual_review),
            (1, 0, 0),
            "{report:?}"
        );
        assert_eq!(
            daemon_pool().await,
            vec![hash.clone()],
            "back in the pool, once"
        );
    }
    chain.mine(12).await;
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!((report.confirmed, report.re_relayed), (1, 0), "{report:?}");
    let row = payouts::get(&db, batch.id).await.unwrap().unwrap();
    assert_eq!(row.status, BatchStatus::Confirmed);
    assert_eq!(
        row.tx_hash, batch.tx_hash,
        "the same tx, never signed again"
    );
    let seen = chain.received(&nina).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].amount, xmr("2.5").0);
    assert_eq!(seen[0].txid, hash);
    assert_eq!(common::balance(&db, id).await, Atomic::ZERO);
}

#[tokio::test]
async fn a_long_payment_id_balance_is_set_aside_then_moved_once_by_the_operator_and_paid() {
    use rxpool::admin::payments::{AdminPaymentsError, PaymentsCommand, execute};
    use rxpool::store::mysql::legacy_ids::{self, MoveError};
    let chain = Chain::start().await;
    let db = common::database("payouts_legacy_ids").await;
    let payees = chain.receivers(&["gina", "hank"]).await;
    let gina = &payees[0].standard;
    let (gina_sub, gina_minor) = chain.subaddress(&payees[0]).await;
    let hank = &payees[1].standard;
    let hank_pid = "0123456789abcdef";
    let long = "7f".repeat(32);

    // Above the exchange minimum (5) that payment-ID payees are held to, so it is planned.
    let legacy = common::seed_balance(&db, gina, &long, BalanceType::Pplns, xmr("5.5")).await;
    let short = common::seed_balance(&db, hank, hank_pid, BalanceType::Pplns, xmr("6")).await;
    let processor = chain.processor(&db, FeePolicy::PoolPaysNetworkFee);
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!((report.payees_paid, report.set_aside), (1, 1), "{report:?}");
    assert_eq!(common::balance(&db, legacy).await, xmr("5.5"), "kept");
    assert_eq!(common::balance(&db, short).await, Atomic::ZERO);

    let run = |cmd| execute(&db, Some(&chain.pool_wallet), None, Some(&processor), cmd);
    let listed = run(PaymentsCommand::LegacyIds).await.unwrap();
    assert!(
        listed.contains(&format!("balance {legacy:<8}")) && listed.contains(&long),
        "{listed}"
    );
    assert!(listed.contains("set aside: 64-hex payment IDs"), "{listed}");

    // Refused: a target on another network, a balance without a long id, an unknown one.
    let bad = run(PaymentsCommand::ResolveLegacyId {
        balance: legacy,
        to: common::testnet_address(),
        reason: "test".into(),
    })
    .await;
    assert!(
        matches!(bad, Err(AdminPaymentsError::BadTarget { .. })),
        "{bad:?}"
    );
    let not_legacy = run(PaymentsCommand::ResolveLegacyId {
        balance: short,
        to: gina_sub.clone(),
        reason: "test".into(),
    })
    .await;
    assert!(
        matches!(
            not_legacy,
            Err(AdminPaymentsError::Move(MoveError::NotLegacy(_)))
        ),
        "{not_legacy:?}"
    );
    assert!(
        run(PaymentsCommand::ResolveLegacyId {
            balance: 999_999,
            to: gina_sub.clone(),
            reason: "test".into(),
        })
        .await
        .is_err()
    );
    assert_eq!(common::balance(&db, legacy).await, xmr("5.5"));

    // The move: once, recorded; a second attempt (or a racing one) moves nothing.
    let resolve = || {
        run(PaymentsCommand::ResolveLegacyId {
            balance: legacy,
            to: gina_sub.clone(),
            reason: "payee asked by e-mail".into(),
        })
    };
    let (a, b) = tokio::join!(resolve(), resolve());
    let outcomes = [a, b];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|o| matches!(
        o,
        Err(AdminPaymentsError::Move(MoveError::NothingToMove(_)))
    )));
    let moves = legacy_ids::moves_from(&db, legacy).await.unwrap();
    assert_eq!(moves.len(), 1);
    assert_eq!(
        (moves[0].amount, moves[0].to_address.as_str()),
        (xmr("5.5"), gina_sub.as_str())
    );
    assert_eq!(common::balance(&db, legacy).await, Atomic::ZERO);
    assert_eq!(
        common::balance(&db, moves[0].to_balance_id).await,
        xmr("5.5")
    );

    // Paid to the named subaddress next cycle; hank's short id arrived inside an integrated
    // address, as the receiving wallet's payment-ID views show.
    let report = processor.run_cycle().await.expect("cycle");
    assert_eq!(report.payees_paid, 1, "{report:?}");
    chain.mine(2).await;
    let seen = chain.received(&payees[0]).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].amount, seen[0].subaddr_minor),
        (xmr("5.5").0, u64::from(gina_minor))
    );
    let by_id = chain.payments_with_id(&payees[1], hank_pid).await;
    assert_eq!(by_id.len(), 1, "{by_id:?}");
    assert_eq!(by_id[0].1, xmr("6").0);
    assert!(
        chain
            .payments_with_id(&payees[1], "fedcba9876543210")
            .await
            .is_empty()
    );
    assert_eq!(
        payouts::pool_totals(&db).await.unwrap().paid,
        xmr("11.5"),
        "nothing paid twice"
    );
}
