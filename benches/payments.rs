//! Payout figures: one cycle of 10,000 payees planned, reserved, recorded and marked relayed
//! in a real MariaDB, excluding the wallet's signing, and the number of wallet calls the cycle
//! makes.
//!
//! The wallet here is an instant stand-in that signs nothing: it answers `transfer` with a
//! fresh synthetic tx hash and metadata and counts every call, so the figure is the pool's
//! own cost (SQL and planning). Run: `cargo bench --locked --bench payments`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rxpool::devnet::MariaDb;
use rxpool::domain::{Atomic, BalanceType, Hash32, Height, Network};
use rxpool::monero::rpc_types::{Balance, SignedTransfer, Transfer};
use rxpool::monero::wallet::{Destination, TransferOptions, TransfersQuery, Wallet, WalletError};
use rxpool::payments::planner::{self, FeePolicy, PayeeBalance, PayoutPolicy};
use rxpool::payments::processor::{Processor, ProcessorConfig};
use rxpool::store::mysql;

const PAYEES: u64 = 10_000;

/// Signs instantly and counts calls by method.
#[derive(Debug, Default)]
struct InstantWallet {
    calls: AtomicU64,
    transfers: AtomicU64,
    next_tx: AtomicU64,
}

impl Wallet for InstantWallet {
    async fn transfer(
        &self,
        destinations: &[Destination],
        _options: TransferOptions,
    ) -> Result<SignedTransfer, WalletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.transfers.fetch_add(1, Ordering::Relaxed);
        let n = self.next_tx.fetch_add(1, Ordering::Relaxed);
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&n.to_le_bytes());
        Ok(SignedTransfer {
            tx_hash: Hash32(hash),
            tx_metadata: hex::encode(hash),
            tx_key: "00".repeat(32),
            fee: Atomic(30_000_000),
            amount: destinations.iter().map(|d| d.amount).sum(),
        })
    }

    async fn relay_tx(&self, tx_metadata: &str) -> Result<Hash32, WalletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut hash = [0u8; 32];
        hex::decode_to_slice(tx_metadata, &mut hash).expect("our metadata");
        Ok(Hash32(hash))
    }

    async fn get_transfers(&self, _query: TransfersQuery) -> Result<Vec<Transfer>, WalletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(Vec::new())
    }

    async fn get_transfer_by_txid(&self, _txid: Hash32) -> Result<Option<Transfer>, WalletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }

    async fn get_balance(&self) -> Result<Balance, WalletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(Balance {
            balance: Atomic(u64::MAX / 2),
            unlocked: Atomic(u64::MAX / 2),
            blocks_to_unlock: 0,
        })
    }

    async fn store(&self) -> Result<(), WalletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn refresh(&self) -> Result<u64, WalletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(0)
    }

    async fn height(&self) -> Result<Height, WalletError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(Height(0))
    }
}

/// A valid mainnet standard address for payee `n` (distinct keys per payee).
fn address(n: u64) -> String {
    let key = |k: u64| {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&k.to_le_bytes());
        monero::PublicKey::from_private_key(&monero::PrivateKey::from_slice(&bytes).unwrap())
    };
    monero::Address::standard(monero::Network::Mainnet, key(2 * n + 1), key(2 * n + 2)).to_string()
}

fn policy() -> PayoutPolicy {
    PayoutPolicy {
        wallet_min: Atomic::from_xmr_str("0.3").unwrap(),
        exchange_min: Atomic::from_xmr_str("5").unwrap(),
        denomination: Atomic::from_xmr_str("0.000001").unwrap(),
        fee_policy: FeePolicy::PoolPaysNetworkFee,
        fee_address: None,
        fee_reserve: Atomic::from_xmr_str("10").unwrap(),
        exchange_addresses: HashSet::new(),
        max_destinations: 15,
    }
}

fn ms(d: Duration) -> String {
    format!("{}.{}", d.as_micros() / 1000, d.as_micros() % 1000 / 100)
}

#[tokio::main]
async fn main() {
    let addresses: Vec<String> = (0..PAYEES).map(address).collect();
    let amount = |i: u64| Atomic(500_000_000_000 + i * 1_000_000);

    // Planning alone (pure).
    let rows: Vec<PayeeBalance> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| PayeeBalance {
            balance_id: i as u64 + 1,
            address: a.clone(),
            payment_id: None,
            balance_type: BalanceType::Pplns,
            amount: amount(i as u64),
            threshold: Atomic::ZERO,
            kind: Some(rxpool::domain::AddressKind::Standard),
        })
        .collect();
    let started = Instant::now();
    let plan = planner::plan(&policy(), &rows);
    let plan_time = started.elapsed();
    println!(
        "plan {PAYEES} payees: {} ms, {} batches",
        ms(plan_time),
        plan.batches.len()
    );

    let server = MariaDb::start().await.expect("mariadb");
    let url = server
        .create_database("bench_payments")
        .await
        .expect("database");
    let db = mysql::connect(&url).await.expect("connect");
    mysql::migrate(&db).await.expect("migrate");
    for chunk in addresses.chunks(1000).enumerate() {
        let (c, chunk) = chunk;
        let mut q = sqlx::QueryBuilder::<sqlx::MySql>::new(
            "INSERT INTO balance (payment_address, payment_id, pool_type, amount) ",
        );
        q.push_values(chunk.iter().enumerate(), |mut b, (i, a)| {
            b.push_bind(a.clone())
                .push_bind("")
                .push_bind("pplns")
                .push_bind(amount((c * 1000 + i) as u64).0);
        });
        q.build().execute(&db).await.expect("seed");
    }

    let wallet = InstantWallet::default();
    let processor = Processor::new(
        db.clone(),
        wallet,
        ProcessorConfig {
            policy: policy(),
            network: Network::Mainnet,
            confirmations: 10,
            priority: 0,
        },
    );
    let started = Instant::now();
    let report = processor.run_cycle().await.expect("cycle");
    let cycle_time = started.elapsed();
    assert_eq!(report.payees_paid, PAYEES);
    println!(
        "cycle of {PAYEES} payees (load, plan, reserve, record debits + transactions/payments, mark relayed; signing excluded): {} ms",
        ms(cycle_time)
    );
    println!(
        "wallet calls: {} for {} batches (one transfer and one relay_tx per batch, one refresh, one get_balance, one store)",
        report.wallet_calls, report.batches_sent
    );
    let owed: Option<u64> = sqlx::query_scalar("SELECT CAST(SUM(amount) AS UNSIGNED) FROM balance")
        .fetch_one(&db)
        .await
        .expect("sum");
    println!("balances left after the cycle: {}", owed.unwrap_or(0));
}
