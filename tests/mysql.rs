//! The MySQL store against a real throwaway MariaDB: migrations, settings, ports, bans,
//! users and the pool heartbeat.

use std::collections::BTreeMap;

use rxpool::devnet::MariaDb;
use rxpool::domain::{Atomic, Bps, PoolType};
use rxpool::store::mysql::{self, BanTarget, PortConfig, PortHeartbeat, registry};
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
async fn a_login_email_is_stored_once_and_never_replaced() {
    let pool = fresh_db("users").await;
    mysql::migrate(&pool).await.unwrap();
    registry::register_email(&pool, "4Miner", "a@example.org")
        .await
        .unwrap();
    registry::register_email(&pool, "4Miner", "evil@example.org")
        .await
        .unwrap();
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE username = '4Miner'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(email, "a@example.org");
    assert!(
        registry::register_email(&pool, "4Miner", "not an email")
            .await
            .is_err()
    );
    assert!(
        registry::register_email(&pool, "4Miner", &format!("{}@x", "a".repeat(300)))
            .await
            .is_err()
    );
    assert_eq!(
        registry::payout_threshold(&pool, "4Miner").await.unwrap(),
        Atomic(0)
    );
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
