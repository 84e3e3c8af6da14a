//! The block-manager end to end on a regtest chain: found blocks of each payout type are
//! buried, credited to the atomic unit and marked unlocked; a replaced block is orphaned
//! with no credit and its shares count for the next block; a block whose daemon is down
//! waits. Found blocks and shares go into LMDB through the share writer, the interface the
//! pool role uses (the stratum server is not in main yet).

#[path = "block_manager/support.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod support;

use std::sync::Arc;

use rxpool::admin::blocks::{self, AdminBlockError, BlockCommand, StatusArg};
use rxpool::block_manager::pps_runner::{Pause, PpsRunner};
use rxpool::devnet::{Monerod, MonerodOptions, WalletRpc};
use rxpool::domain::{Atomic, Bps, Network, PoolType};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::wallet::{Wallet, WalletClient};
use rxpool::store::lmdb::BlockStatus;
use rxpool::store::mysql::credits;
use support::{POOL, balance, count, found, mine, reward_at, share};

/// The fee split of nodejs-pool's shape: 3 % of the fee to dev, the rest to the fee address.
fn fee_lines(fee: u64) -> (u64, u64) {
    let dev = fee * 300 / 10_000;
    (fee - dev, dev)
}

#[tokio::test]
async fn found_blocks_of_each_type_are_credited_exactly_once_to_the_atomic_unit() {
    let support::ChainWithWallet {
        monerod,
        wallet_rpc,
        wallet,
        pool_address,
        daemon,
    } = support::chain_with_wallet().await;
    let mysql = support::fresh_db().await;
    let (_dir, store, writer) = support::store();
    // Window 1000 difficulty units on a difficulty-1 chain.
    let params = Arc::new(support::params(1_000, 60, 30));

    daemon.generate_blocks(3, &pool_address).await.unwrap();
    let (h_pplns, pplns_hash) = mine(&daemon, &pool_address).await;
    let (h_solo, solo_hash) = mine(&daemon, &pool_address).await;
    let (h_pps, pps_hash) = mine(&daemon, &pool_address).await;
    let below = h_pplns.0 - 1;
    // PPLNS shares, newest first from h_pplns: A 300, B 200 | B 500 (newer), A 400 (older).
    // The window of 1000 takes A 300, B 200, B 500 and stops: A 300, B 700; A's 400 earns nothing.
    for s in [
        share(h_pplns.0, 2_000, "minerA", 300, PoolType::Pplns),
        share(h_pplns.0, 1_000, "minerB", 200, PoolType::Pplns),
        share(below, 900, "minerB", 500, PoolType::Pplns),
        share(below, 800, "minerA", 400, PoolType::Pplns),
        share(below, 850, "minerC", 1_000, PoolType::Solo),
        share(h_pps.0, 3_000, "minerD.0123456789abcdef", 1, PoolType::Pps),
    ] {
        writer.append(s).await.unwrap();
    }
    writer
        .record_block(found(h_pplns, pplns_hash, PoolType::Pplns, "minerA"))
        .await
        .unwrap();
    writer
        .record_block(found(h_solo, solo_hash, PoolType::Solo, "minerC"))
        .await
        .unwrap();
    writer
        .record_block(found(
            h_pps,
            pps_hash,
            PoolType::Pps,
            "minerD.0123456789abcdef",
        ))
        .await
        .unwrap();
    writer.flush().await.unwrap();

    let unlocker = support::unlocker(monerod.rpc_url(), &store, &writer, &mysql, &params);
    // Not deep yet: everything waits.
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.pending, report.waiting), (3, 3));
    assert_eq!(count(&mysql, "paid_blocks").await, 0);

    daemon.generate_blocks(60, &support::other()).await.unwrap();
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.credited, report.pps_unlocked), (2, 1), "{report:?}");

    let r_pplns = reward_at(&daemon, h_pplns).await;
    let pot = r_pplns - r_pplns * 60 / 10_000;
    let a = (u128::from(pot) * 300 / 1_000) as u64;
    let b = (u128::from(pot) * 700 / 1_000) as u64;
    assert_eq!(balance(&mysql, "minerA", "pplns").await, a);
    assert_eq!(balance(&mysql, "minerB", "pplns").await, b);
    let (pplns_fee, pplns_dev) = fee_lines(r_pplns - a - b);

    let r_solo = reward_at(&daemon, h_solo).await;
    let solo_fee_total = r_solo * 40 / 10_000;
    assert_eq!(
        balance(&mysql, "minerC", "solo").await,
        r_solo - solo_fee_total
    );
    let (solo_fee, solo_dev) = fee_lines(solo_fee_total);

    assert_eq!(
        balance(&mysql, "fee-address", "fees").await,
        pplns_fee + solo_fee
    );
    assert_eq!(
        balance(&mysql, "dev-address", "fees").await,
        pplns_dev + solo_dev
    );
    assert_eq!(
        credits::owed_total(&mysql).await.unwrap(),
        Atomic(r_pplns + r_solo),
        "credits and fees equal the two rewards exactly"
    );

    // LMDB statuses follow the commit.
    let snap = store.read().unwrap();
    for (h, hash) in [
        (h_pplns, pplns_hash),
        (h_solo, solo_hash),
        (h_pps, pps_hash),
    ] {
        let block = snap.block(h, hash).unwrap().unwrap();
        assert_eq!(
            block.record.status,
            BlockStatus::Unlocked,
            "{}",
            block.record.reason
        );
    }
    let pplns_row = credits::paid_block(&mysql, &pplns_hash)
        .await
        .unwrap()
        .unwrap();
    let window = pplns_row.block.window.unwrap();
    assert_eq!(
        (window.wanted.0, window.filled.0, window.shares),
        (1_000, 1_000, 3)
    );
    drop(snap);

    // PPS: the height of the PPS share is paid at base reward × 1 / difficulty 1, less 6.5 %.
    wallet.refresh().await.unwrap();
    let pps = PpsRunner {
        daemon: DaemonClient::new(&[monerod.rpc_url()]).unwrap(),
        wallet: WalletClient::new(&wallet_rpc.rpc_url()).unwrap(),
        store: Arc::clone(&store),
        mysql: mysql.clone(),
        params: Arc::clone(&params),
        clock: Arc::new(rxpool::domain::SystemClock),
    };
    let report = pps.pass().await.unwrap();
    assert_eq!(report.paused, None, "{report:?}");
    assert_eq!(report.credited, 1, "{report:?}");
    let r_pps = reward_at(&daemon, h_pps).await;
    let pps_net = r_pps - Atomic(r_pps).fee(Bps(650)).0;
    assert_eq!(balance(&mysql, "minerD", "pps").await, pps_net);
    assert!(credits::is_pps_credited(&mysql, h_pps).await.unwrap());

    // Every pass again changes nothing.
    let before = credits::owed_total(&mysql).await.unwrap();
    let again = unlocker.pass().await.unwrap();
    assert_eq!(again.pending, 0);
    let again = pps.pass().await.unwrap();
    assert_eq!(again.credited, 0);
    assert_eq!(credits::owed_total(&mysql).await.unwrap(), before);
    assert_eq!(count(&mysql, "paid_blocks").await, 2);
    let _ = POOL;
}

#[tokio::test]
async fn a_replaced_block_is_orphaned_with_no_credit_and_its_shares_pay_the_next_block() {
    let monerod = Monerod::start(MonerodOptions::default()).await.unwrap();
    let daemon = DaemonClient::new(&[monerod.rpc_url()]).unwrap();
    let mysql = support::fresh_db().await;
    let (_dir, store, writer) = support::store();
    let params = Arc::new(support::params(1_000, 60, 30));

    daemon.generate_blocks(2, POOL).await.unwrap();
    let (h, ours) = mine(&daemon, POOL).await;
    writer
        .append(share(h.0, 10, "minerA", 400, PoolType::Pplns))
        .await
        .unwrap();
    writer
        .record_block(found(h, ours, PoolType::Pplns, "minerA"))
        .await
        .unwrap();
    // monerod loses our block; someone else's block takes the height.
    daemon.pop_blocks(1).await.unwrap();
    let (h2, theirs) = mine(&daemon, &support::other()).await;
    assert_eq!(h2, h);
    assert_ne!(theirs, ours);
    // Our next block, one height up, with minerB's shares on top of minerA's.
    let (next_h, next) = mine(&daemon, POOL).await;
    writer
        .append(share(next_h.0, 20, "minerB", 600, PoolType::Pplns))
        .await
        .unwrap();
    writer
        .record_block(found(next_h, next, PoolType::Pplns, "minerB"))
        .await
        .unwrap();
    writer.flush().await.unwrap();

    let unlocker = support::unlocker(monerod.rpc_url(), &store, &writer, &mysql, &params);
    // Replaced but shallow: not final yet.
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.waiting, 2);
    let reason = support::record_of(&store, h, ours).reason;
    assert!(reason.contains(&theirs.to_string()), "{reason}");

    daemon.generate_blocks(60, &support::other()).await.unwrap();
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.orphaned, report.credited), (1, 1), "{report:?}");
    let orphan = store
        .read()
        .unwrap()
        .block(h, ours)
        .unwrap()
        .unwrap()
        .record;
    assert_eq!(orphan.status, BlockStatus::Orphaned);
    assert!(orphan.reason.contains("replaced"), "{}", orphan.reason);
    assert!(credits::paid_block(&mysql, &ours).await.unwrap().is_none());

    // The next block's window (1000) holds minerB 600 and the orphan's minerA 400.
    let r = reward_at(&daemon, next_h).await;
    let pot = r - r * 60 / 10_000;
    assert_eq!(
        balance(&mysql, "minerA", "pplns").await,
        (u128::from(pot) * 400 / 1_000) as u64
    );
    assert_eq!(
        balance(&mysql, "minerB", "pplns").await,
        (u128::from(pot) * 600 / 1_000) as u64
    );
    assert_eq!(credits::owed_total(&mysql).await.unwrap(), Atomic(r));

    // The operator's recheck: an orphan goes back to pending and is orphaned again (still
    // replaced); a credited block is refused, so no command sequence can credit it twice.
    let out = blocks::run_on(BlockCommand::Recheck { hash: ours }, &mysql, &store)
        .await
        .unwrap();
    assert!(out.contains("pending again"), "{out}");
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.pending, report.orphaned), (1, 1), "{report:?}");
    let err = blocks::run_on(BlockCommand::Recheck { hash: next }, &mysql, &store)
        .await
        .unwrap_err();
    assert!(matches!(err, AdminBlockError::AlreadyCredited(_)), "{err}");
    let shown = blocks::run_on(BlockCommand::Show { hash: next }, &mysql, &store)
        .await
        .unwrap();
    assert!(
        shown.contains("minerA") && shown.contains("minerB"),
        "{shown}"
    );
    let listed = blocks::run_on(
        BlockCommand::List {
            limit: 10,
            status: Some(StatusArg::Orphaned),
        },
        &mysql,
        &store,
    )
    .await
    .unwrap();
    assert!(listed.contains(&ours.to_string()) && !listed.contains(&next.to_string()));
    assert_eq!(credits::owed_total(&mysql).await.unwrap(), Atomic(r));
}

#[tokio::test]
async fn a_block_waits_while_the_daemon_is_down_and_pps_pauses_on_a_short_reserve() {
    let monerod = Monerod::start(MonerodOptions::default()).await.unwrap();
    let daemon = DaemonClient::new(&[monerod.rpc_url()]).unwrap();
    let mysql = support::fresh_db().await;
    let (_dir, store, writer) = support::store();
    let params = Arc::new(support::params(1_000, 5, 2));
    let (h, hash) = mine(&daemon, POOL).await;
    writer
        .append(share(h.0, 10, "minerA", 1, PoolType::Pps))
        .await
        .unwrap();
    writer
        .record_block(found(h, hash, PoolType::Pplns, "minerA"))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    daemon.generate_blocks(10, &support::other()).await.unwrap();

    let dead = format!("http://127.0.0.1:{}", rxpool::devnet::free_port().unwrap());
    let unlocker = support::unlocker(dead, &store, &writer, &mysql, &params);
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.waiting, 1);
    let rec = store
        .read()
        .unwrap()
        .block(h, hash)
        .unwrap()
        .unwrap()
        .record;
    assert_eq!(rec.status, BlockStatus::Pending);
    assert!(rec.reason.contains("daemon unavailable"), "{}", rec.reason);

    // A wallet that mined nothing cannot cover a PPS share worth a whole block reward.
    let wallet_rpc = WalletRpc::start(&monerod, Network::Mainnet).await.unwrap();
    let wallet = WalletClient::new(&wallet_rpc.rpc_url()).unwrap();
    wallet.create_wallet("empty", "").await.unwrap();
    let pps = PpsRunner {
        daemon: DaemonClient::new(&[monerod.rpc_url()]).unwrap(),
        wallet,
        store: Arc::clone(&store),
        mysql: mysql.clone(),
        params,
        clock: Arc::new(rxpool::domain::SystemClock),
    };
    let report = pps.pass().await.unwrap();
    assert!(
        matches!(report.paused, Some(Pause::ReserveShort { .. })),
        "{report:?}"
    );
    assert_eq!(report.credited, 0);
    assert!(!credits::is_pps_credited(&mysql, h).await.unwrap());
    // Paused, not skipped: the cursor stays at the unpaid height.
    assert!(credits::cursor(&mysql, "pps").await.unwrap().unwrap() <= h);
    assert_eq!(support::count(&mysql, "pps_credits").await, 0);
}
