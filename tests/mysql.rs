//! The MySQL store against a real throwaway MariaDB: migrations, settings, ports, bans,
//! users and the pool heartbeat.

use std::collections::BTreeMap;

use rxpool::devnet::MariaDb;
use rxpool::domain::{Atomic, Bps, PoolType};
use rxpool::store::mysql::{self, BanTarget, PortConfig, PortHeartbeat, credits, registry};
use sqlx::{MySqlPool, Row};

async fn fresh_db(name: &str) -> MySqlPool {
    let server = MariaDb::shared().await.expect("mariadb starts");
    let url = server
        .create_database(name)
        .await
        .expect("database created");
    mysql::connect(&url).await.expect("connects")
}

/// Every column and index of the schema, as text, to compare two states.
async fn schema_dump(pool: &MySqlPool) -> String {
    let rows = sqlx::query(
        "SELECT CONCAT_WS(' ', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '-')) AS c \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let idx = sqlx::query(
        "SELECT CONCAT_WS(' ', TABLE_NAME, INDEX_NAME, COLUMN_NAME, NON_UNIQUE) AS c \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .chain(idx.iter())
        .map(|r| r.get::<String, _>("c"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_again_without_change() {
    let pool = fresh_db("migrate_twice").await;
    let first = mysql::migrate(&pool).await.unwrap();
    assert!(!first.applied.is_empty());
    assert_eq!(first.seeded, rxpool::config::settings::ITEMS.len());
    let schema = schema_dump(&pool).await;
    for table in [
        "config",
        "balance",
        "payments",
        "transactions",
        "users",
        "port_config",
        "pools",
        "ports",
        "bans",
        "block_log",
    ] {
        assert!(
            schema.contains(&format!("\n{table} ")) || schema.starts_with(&format!("{table} ")),
            "missing {table}"
        );
    }
    assert!(
        schema.contains("balance amount bigint(20) unsigned"),
        "money columns are unsigned"
    );

    let second = mysql::migrate(&pool).await.unwrap();
    assert!(second.applied.is_empty());
    assert_eq!(second.seeded, 0);
    assert_eq!(schema_dump(&pool).await, schema);
}

#[tokio::test]
async fn migrate_never_overwrites_an_operator_value() {
    let pool = fresh_db("migrate_keeps_values").await;
    mysql::migrate(&pool).await.unwrap();
    mysql::set_setting(&pool, "payout.pplnsFee", "1.25")
        .await
        .unwrap();
    mysql::migrate(&pool).await.unwrap();
    let settings = mysql::load_settings(&pool, &BTreeMap::new()).await.unwrap();
    assert_eq!(settings.payout.pplns_fee, Bps(125));
}

#[tokio::test]
async fn settings_load_with_defaults_and_overrides_win() {
    let pool = fresh_db("settings_defaults").await;
    mysql::migrate(&pool).await.unwrap();
    let settings = mysql::load_settings(&pool, &BTreeMap::new()).await.unwrap();
    assert_eq!(settings, rxpool::config::Settings::defaults());
    mysql::set_setting(&pool, "payout.walletMin", "0.5")
        .await
        .unwrap();
    let overrides = BTreeMap::from([("pool.targetTime".to_owned(), "10".to_owned())]);
    let settings = mysql::load_settings(&pool, &overrides).await.unwrap();
    assert_eq!(settings.payout.wallet_min, Atomic(500_000_000_000));
    assert_eq!(settings.pool.target_time_secs, 10);
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_item_and_nothing_is_written() {
    let pool = fresh_db("settings_bad").await;
    mysql::migrate(&pool).await.unwrap();
    for (key, value) in [
        ("payout.walletMin", "lots"),
        ("payout.pplnsFee", "-1"),
        ("pool.banEnabled", "maybe"),
        ("payout.maxPaymentTxns", "99"),
        ("pool.minDifficulty", "99999999"),
        ("general.network", "moonnet"),
    ] {
        let err = mysql::set_setting(&pool, key, value)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
    let huge = "x".repeat(100_000);
    assert!(
        mysql::set_setting(&pool, "pool.address", &huge)
            .await
            .is_err()
    );
    assert!(
        mysql::set_setting(&pool, "no.such", "1")
            .await
            .unwrap_err()
            .to_string()
            .contains("no.such")
    );
    assert_eq!(
        mysql::load_settings(&pool, &BTreeMap::new()).await.unwrap(),
        rxpool::config::Settings::defaults()
    );
}

#[tokio::test]
async fn ports_round_trip_and_defaults_are_seeded() {
    let pool = fresh_db("ports").await;
    mysql::migrate(&pool).await.unwrap();
    let seeded = registry::ports(&pool).await.unwrap();
    assert_eq!(
        seeded.iter().map(|p| p.port).collect::<Vec<_>>(),
        vec![3333, 5555, 7777]
    );
    let port = PortConfig {
        port: 9000,
        difficulty: 20_000,
        description: "TLS".into(),
        pool_type: PoolType::Solo,
        hidden: true,
        tls: true,
    };
    registry::upsert_port(&pool, &port).await.unwrap();
    assert!(registry::ports(&pool).await.unwrap().contains(&port));
    assert!(registry::remove_port(&pool, 9000).await.unwrap());
    assert!(!registry::remove_port(&pool, 9000).await.unwrap());
    let zero = PortConfig {
        difficulty: 0,
        ..port
    };
    assert!(registry::upsert_port(&pool, &zero).await.is_err());
}

#[tokio::test]
async fn bans_are_added_listed_and_lifted() {
    let pool = fresh_db("bans").await;
    mysql::migrate(&pool).await.unwrap();
    let ip = registry::add_ban(&pool, &BanTarget::Ip("10.1.2.3".parse().unwrap()), "abuse")
        .await
        .unwrap();
    let addr = registry::add_ban(&pool, &BanTarget::Address("4Abc".into()), "")
        .await
        .unwrap();
    let bans = registry::active_bans(&pool).await.unwrap();
    assert_eq!(bans.len(), 2);
    assert!(registry::remove_ban(&pool, ip).await.unwrap());
    let bans = registry::active_bans(&pool).await.unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].id, addr);
}

#[tokio::test]
async fn pool_registration_refuses_a_taken_id_and_heartbeats_replace_ports() {
    let pool = fresh_db("pools").await;
    mysql::migrate(&pool).await.unwrap();
    registry::register_pool(&pool, 7, "10.0.0.1", "a.example.org")
        .await
        .unwrap();
    registry::register_pool(&pool, 7, "10.0.0.1", "a.example.org")
        .await
        .unwrap();
    assert!(
        registry::register_pool(&pool, 7, "10.0.0.2", "b.example.org")
            .await
            .is_err()
    );
    let port = PortConfig {
        port: 3333,
        difficulty: 1000,
        description: String::new(),
        pool_type: PoolType::Pplns,
        hidden: false,
        tls: false,
    };
    let beat = |miners| {
        vec![PortHeartbeat {
            port: port.clone(),
            miners,
        }]
    };
    registry::heartbeat(&pool, 7, "10.0.0.1", Some(100), &beat(5))
        .await
        .unwrap();
    registry::heartbeat(&pool, 7, "10.0.0.1", Some(101), &beat(9))
        .await
        .unwrap();
    let miners: Vec<u32> = sqlx::query_scalar("SELECT miners FROM ports WHERE pool_id = 7")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(miners, vec![9]);
    let height: u64 = sqlx::query_scalar("SELECT blockID FROM pools WHERE id = 7")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(height, 101);
}

/// Two real-looking addresses that differ only in the case of one letter.
const LOWER: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3a";
const UPPER: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

/// `amount` of `address`'s `ty` balance (no payment id), or None without a row.
async fn balance_of(pool: &MySqlPool, address: &str, ty: &str) -> Option<u64> {
    sqlx::query_scalar(
        "SELECT CAST(amount AS UNSIGNED) FROM balance \
         WHERE payment_address = ? AND payment_id = '' AND pool_type = ?",
    )
    .bind(address)
    .bind(ty)
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// Credits one PPLNS block of `lower + upper` atomic units to the two addresses (no fee line)
/// through the block-manager's crediting transaction.
async fn credit_both(pool: &MySqlPool, seed: u8, lower: u64, upper: u64) -> credits::Credited {
    try_credit_both(pool, seed, lower, upper)
        .await
        .expect("a block crediting both addresses commits")
}

async fn try_credit_both(
    pool: &MySqlPool,
    seed: u8,
    lower: u64,
    upper: u64,
) -> Result<credits::Credited, credits::CreditError> {
    use rxpool::domain::{BalanceType, Hash32, Height};
    let block = credits::PaidBlock {
        hash: Hash32([seed; 32]),
        height: Height(100 + u64::from(seed)),
        pool_type: PoolType::Pplns,
        reward: Atomic(lower + upper),
        window: None,
    };
    let lines = [
        credits::LedgerLine {
            address: LOWER,
            payment_id: "",
            balance_type: BalanceType::Pplns,
            amount: Atomic(lower),
        },
        credits::LedgerLine {
            address: UPPER,
            payment_id: "",
            balance_type: BalanceType::Pplns,
            amount: Atomic(upper),
        },
    ];
    credits::credit_block(pool, &block, &lines, |_| {}).await
}

/// The collation of every text column that holds an address, payment id, hash or key.
async fn identity_collations(pool: &MySqlPool) -> Vec<(String, String)> {
    let rows = sqlx::query(
        "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS col, COLLATION_NAME AS coll \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         AND (COLUMN_NAME IN ('payment_address', 'payment_id', 'address', 'mining_address', \
              'username', 'hash', 'hex', 'block_hash', 'tx_hash', 'transaction_hash', 'tx_key', \
              'tx_metadata', 'destination', 'exchange_txn_id', 'from_address', 'to_address', \
              'from_payment_id') \
              OR (TABLE_NAME = 'bans' AND COLUMN_NAME = 'ip_address')) \
         ORDER BY col",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| (r.get::<String, _>("col"), r.get::<String, _>("coll")))
        .collect()
}

fn assert_all_binary(collations: &[(String, String)]) {
    assert!(collations.len() >= 25, "{collations:?}");
    for (column, collation) in collations {
        // `utf8mb4_bin` (0004) or `ascii_bin` (hex-only columns of later tables): both
        // compare byte for byte.
        assert!(
            collation.ends_with("_bin"),
            "{column} compares byte-exact, not with {collation}"
        );
    }
}

#[tokio::test]
async fn two_addresses_that_differ_only_in_case_are_two_payees_in_every_table() {
    let pool = fresh_db("case_two_payees").await;
    mysql::migrate(&pool).await.unwrap();

    // A block credits both: two ledger lines, two balances, nothing merged or refused.
    assert_eq!(
        credit_both(&pool, 1, 700, 300).await,
        credits::Credited::Now
    );
    assert_eq!(credit_both(&pool, 2, 5, 7).await, credits::Credited::Now);
    assert_eq!(balance_of(&pool, LOWER, "pplns").await, Some(705));
    assert_eq!(balance_of(&pool, UPPER, "pplns").await, Some(307));
    let lines = credits::block_lines(&pool, &rxpool::domain::Hash32([1; 32]))
        .await
        .unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(credits::owed_total(&pool).await.unwrap(), Atomic(1_012));
    // The payments role sees two payees.
    let payable = mysql::payouts::load_payable(&pool, Atomic(1))
        .await
        .unwrap();
    let mut addresses: Vec<&str> = payable.iter().map(|p| p.address.as_str()).collect();
    addresses.sort_unstable();
    assert_eq!(addresses, vec![UPPER, LOWER]);

    // A block hash in another case is another block (hex is written lower-case; a row that
    // is not must never shadow a real one).
    let upper_hash = "AB".repeat(32);
    sqlx::query("INSERT INTO block_log (id, hex) VALUES (1, ?)")
        .bind("ab".repeat(32))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO block_log (id, hex) VALUES (1, ?)")
        .bind(&upper_hash)
        .execute(&pool)
        .await
        .expect("a hash in another case is not a duplicate");

    // Users and bans: one address's e-mail and ban are not the other's.
    sqlx::query("INSERT INTO users (username, email) VALUES (?, 'lower@example.org')")
        .bind(LOWER)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (username, email) VALUES (?, 'upper@example.org')")
        .bind(UPPER)
        .execute(&pool)
        .await
        .unwrap();
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = ?")
        .bind(UPPER)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
    registry::add_ban(&pool, &BanTarget::Address(UPPER.into()), "abuse")
        .await
        .unwrap();
    let banned: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bans WHERE mining_address = ?")
        .bind(LOWER)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(banned, 0, "banning one address does not ban the other");
    assert_all_binary(&identity_collations(&pool).await);
}

#[tokio::test]
async fn a_database_migrated_from_0003_compares_addresses_byte_exact_afterwards() {
    let pool = fresh_db("case_from_0003").await;
    // The schema as it was: migrations 1..=3 only, and a balance credited under it.
    let mut old = sqlx::migrate!("./sql");
    old.migrations = std::borrow::Cow::Owned(
        old.migrations
            .iter()
            .filter(|m| m.version <= 3)
            .cloned()
            .collect(),
    );
    old.run(&pool).await.unwrap();
    let before = identity_collations(&pool).await;
    assert!(
        before.iter().any(|(_, c)| c != "utf8mb4_bin"),
        "0003 left case-insensitive columns: {before:?}"
    );
    sqlx::query("INSERT INTO balance (payment_address, pool_type, amount) VALUES (?, 'pplns', 40)")
        .bind(LOWER)
        .execute(&pool)
        .await
        .unwrap();
    // The defect: a block crediting both fails on the credit lines' unique key, so the block
    // is never credited (and the balance upsert would have merged the two payees).
    assert!(try_credit_both(&pool, 1, 100, 23).await.is_err());
    assert_eq!(balance_of(&pool, UPPER, "pplns").await, Some(40), "merged");

    let report = mysql::migrate(&pool).await.unwrap();
    assert!(report.applied.contains(&4), "{report:?}");
    assert_all_binary(&identity_collations(&pool).await);

    // From now on the two are two payees, the old row keeps its money, the block that failed
    // credits, once, and the foreign key from the credit lines to their block still holds.
    assert_eq!(credit_both(&pool, 1, 100, 23).await, credits::Credited::Now);
    assert_eq!(balance_of(&pool, LOWER, "pplns").await, Some(140));
    assert_eq!(balance_of(&pool, UPPER, "pplns").await, Some(23));
    assert_eq!(
        credit_both(&pool, 1, 100, 23).await,
        credits::Credited::Already
    );
    let orphan_line = sqlx::query(
        "INSERT INTO block_credits (block_hash, height, payment_address, balance_type, amount) \
         VALUES (?, 1, 'x', 'pplns', 1)",
    )
    .bind("cd".repeat(32))
    .execute(&pool)
    .await;
    assert!(
        orphan_line.is_err(),
        "block_credits still references paid_blocks"
    );
    let again = mysql::migrate(&pool).await.unwrap();
    assert!(again.applied.is_empty());
}
