//! MySQL/MariaDB access (sqlx): the configuration and balance store every role shares.
//!
//! This module owns the connection pool, the migrations in `sql/` and the queries of the
//! configuration aggregates (settings, ports, bans, users, pool registration). Crediting
//! (`credits`), blocks set aside (`block_issues`), payouts (`payouts`), moves of legacy
//! payment-ID balances (`legacy_ids`), one miner's settings and api reads (`miner_settings`)
//! and restores from backup (`restores`)
//! keep their queries in their own files. Every money column is `BIGINT UNSIGNED` atomic
//! units; an absent payment id is `''`; addresses, payment ids and hashes compare
//! byte-exact (`utf8mb4_bin`, `sql/0004_binary_collation.sql`).

pub mod admins;
pub mod audit;
pub mod block_issues;
pub mod connect;
pub mod credits;
pub mod heartbeats;
pub mod legacy_ids;
pub mod miner_settings;
pub mod payouts;
pub mod registry;
pub mod restores;

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{MySqlPool, Row};

use crate::config::settings::{self, ITEMS};
use crate::config::{MysqlConfig, Settings, SettingsError};

pub use connect::ConnectError;
pub use registry::{Ban, BanTarget, PortConfig, PortHeartbeat};

/// Why a MySQL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Invalid(String),
    /// The first connection failed; the message names `host:port` and the cause.
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// Opens a connection pool to `url` (`mysql://user:password@host:port/db`).
pub async fn connect(url: &str) -> Result<MySqlPool, MysqlError> {
    connect_with(url, 10).await
}

/// Opens the pool a role asks for in `config.toml` `[mysql]`: `url`, at most
/// `max_connections` connections.
pub async fn connect_config(config: &MysqlConfig) -> Result<MySqlPool, MysqlError> {
    connect_with(config.url.expose(), config.max_connections).await
}

/// Opens a pool of at most `max_connections`. One connection is made first, within
/// [`connect::CONNECT_TIMEOUT`], so an unreachable server or a refused login fails at once
/// with a [`ConnectError`] instead of after the pool's acquire timeout.
pub async fn connect_with(url: &str, max_connections: u32) -> Result<MySqlPool, MysqlError> {
    let options: MySqlConnectOptions = url.parse()?;
    connect::probe(&options, connect::CONNECT_TIMEOUT).await?;
    let pool = MySqlPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(15))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// What `migrate` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Migrations applied by this run (none on an up-to-date database).
    pub applied: Vec<i64>,
    /// Settings rows added with their defaults (operators' values are never overwritten).
    pub seeded: usize,
}

/// Applies the migrations in `sql/` and seeds every missing setting with its default.
/// Idempotent: a second run changes nothing. Safe while roles run (migrations take sqlx's
/// advisory lock; seeding uses `INSERT IGNORE`).
pub async fn migrate(pool: &MySqlPool) -> Result<MigrateReport, MysqlError> {
    let migrator = sqlx::migrate!("./sql");
    let before: Vec<i64> = applied_versions(pool).await.unwrap_or_default();
    migrator.run(pool).await?;
    let after = applied_versions(pool).await?;
    let applied = after.into_iter().filter(|v| !before.contains(v)).collect();
    let mut seeded = 0;
    for item in ITEMS {
        let result = sqlx::query(
            "INSERT IGNORE INTO config (module, item, item_value, item_type, Item_desc) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(item.module())
        .bind(item.name())
        .bind(item.default)
        .bind(item.kind.sql_type())
        .bind(item.description)
        .execute(pool)
        .await?;
        seeded += result.rows_affected() as usize;
    }
    Ok(MigrateReport { applied, seeded })
}

/// Migrations in `sql/` this database has not applied yet (empty when up to date).
pub async fn pending_migrations(pool: &MySqlPool) -> Result<Vec<i64>, MysqlError> {
    let applied = applied_versions(pool).await.unwrap_or_default();
    Ok(sqlx::migrate!("./sql")
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect())
}

async fn applied_versions(pool: &MySqlPool) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1 ORDER BY version")
        .fetch_all(pool)
        .await
}

/// Every `(module.item, value)` row of the `config` table.
pub async fn setting_rows(pool: &MySqlPool) -> Result<Vec<(String, String)>, MysqlError> {
    read_setting_rows(pool, false).await
}

/// One `config` row with its id, type and description (`GET /admin/config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingEntry {
    pub id: u64,
    pub module: String,
    pub item: String,
    pub value: String,
    pub kind: String,
    pub description: String,
}

/// Every row of the `config` table, by id.
pub async fn setting_entries(pool: &MySqlPool) -> Result<Vec<SettingEntry>, MysqlError> {
    let rows = sqlx::query(
        "SELECT id, module, item, item_value, item_type, Item_desc FROM config ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(SettingEntry {
                id: u64::from(row.try_get::<u32, _>("id")?),
                module: row.try_get("module")?,
                item: row.try_get("item")?,
                value: row.try_get("item_value")?,
                kind: row.try_get("item_type")?,
                description: row.try_get("Item_desc")?,
            })
        })
        .collect()
}

/// The `config` rows through `executor`, locked until its transaction ends when `lock`.
async fn read_setting_rows<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::MySql>,
    lock: bool,
) -> Result<Vec<(String, String)>, MysqlError> {
    let sql = if lock {
        "SELECT module, item, item_value FROM config ORDER BY module, item FOR UPDATE"
    } else {
        "SELECT module, item, item_value FROM config ORDER BY module, item"
    };
    let rows = sqlx::query(sql).fetch_all(executor).await?;
    rows.into_iter()
        .map(|row| {
            let module: String = row.try_get("module")?;
            let item: String = row.try_get("item")?;
            let value: String = row.try_get("item_value")?;
            Ok((format!("{module}.{item}"), value))
        })
        .collect()
}

/// The typed shared settings: stored rows, with `overrides` (from config.toml) winning.
pub async fn load_settings(
    pool: &MySqlPool,
    overrides: &BTreeMap<String, String>,
) -> Result<Settings, MysqlError> {
    let rows = setting_rows(pool).await?;
    Ok(Settings::from_rows(rows, overrides)?)
}

/// Validates and stores one setting: the value must keep its item's rule and must not break
/// another item's (checked against the whole stored table, see
/// [`settings::check_change`]). Nothing is written when it is refused. The table is locked
/// from the check to the write, so two changes at once are checked one after the other and
/// cannot together break a rule spanning items (a minimum and a maximum set at once).
pub async fn set_setting(pool: &MySqlPool, key: &str, value: &str) -> Result<(), MysqlError> {
    let mut tx = pool.begin().await?;
    let rows = read_setting_rows(&mut *tx, true).await?;
    let item = settings::check_change(&rows, key, value)?;
    sqlx::query(
        "INSERT INTO config (module, item, item_value, item_type, Item_desc) VALUES (?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE item_value = VALUES(item_value)",
    )
    .bind(item.module())
    .bind(item.name())
    .bind(value.trim())
    .bind(item.kind.sql_type())
    .bind(item.description)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
