//! Configuration aggregates besides settings: stratum ports (`port_config`), bans, users'
//! payout threshold (alert e-mail is `mail::subscriptions`'s), and the `pools`/`ports` heartbeat rows each pool host
//! keeps fresh (reference §2.9).

use sqlx::{MySqlPool, Row};

use super::MysqlError;
use crate::domain::{Atomic, PoolType};

/// One stratum port, shared by every pool host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    pub port: u16,
    pub difficulty: u64,
    pub description: String,
    pub pool_type: PoolType,
    pub hidden: bool,
    pub tls: bool,
}

/// Adds a port, or replaces the port's settings when it exists.
pub async fn upsert_port(pool: &MySqlPool, port: &PortConfig) -> Result<(), MysqlError> {
    if port.port == 0 || port.difficulty == 0 {
        return Err(MysqlError::Invalid(
            "port and difficulty must be above zero".into(),
        ));
    }
    if port.description.len() > 128 {
        return Err(MysqlError::Invalid(
            "description is longer than 128 bytes".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO port_config (poolPort, difficulty, portDesc, portType, hidden, `ssl`) VALUES (?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE difficulty = VALUES(difficulty), portDesc = VALUES(portDesc), \
         portType = VALUES(portType), hidden = VALUES(hidden), `ssl` = VALUES(`ssl`)",
    )
    .bind(port.port)
    .bind(port.difficulty)
    .bind(&port.description)
    .bind(port.pool_type.as_str())
    .bind(port.hidden)
    .bind(port.tls)
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes a port; `false` when there was none.
pub async fn remove_port(pool: &MySqlPool, port: u16) -> Result<bool, MysqlError> {
    let r = sqlx::query("DELETE FROM port_config WHERE poolPort = ?")
        .bind(port)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Every configured port, by port number.
pub async fn ports(pool: &MySqlPool) -> Result<Vec<PortConfig>, MysqlError> {
    let rows = sqlx::query(
        "SELECT poolPort, difficulty, portDesc, portType, hidden, `ssl` FROM port_config ORDER BY poolPort",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let port: u32 = row.try_get("poolPort")?;
            let kind: String = row.try_get("portType")?;
            Ok(PortConfig {
                port: u16::try_from(port).map_err(|_| {
                    MysqlError::Invalid(format!("port_config: port {port} out of range"))
                })?,
                difficulty: row.try_get("difficulty")?,
                description: row.try_get("portDesc")?,
                pool_type: kind
                    .parse()
                    .map_err(|e| MysqlError::Invalid(format!("port_config {port}: {e}")))?,
                hidden: row.try_get::<i8, _>("hidden")? != 0,
                tls: row.try_get::<i8, _>("ssl")? != 0,
            })
        })
        .collect()
}

/// The ports whose connections start with a PROXY protocol header (`proxyProtocol`).
pub async fn proxy_protocol_ports(
    pool: &MySqlPool,
) -> Result<std::collections::HashSet<u16>, MysqlError> {
    let ports: Vec<u32> =
        sqlx::query_scalar("SELECT poolPort FROM port_config WHERE proxyProtocol <> 0")
            .fetch_all(pool)
            .await?;
    Ok(ports
        .into_iter()
        .filter_map(|p| u16::try_from(p).ok())
        .collect())
}

/// Marks a port as taking (or not) a PROXY protocol header.
pub async fn set_proxy_protocol(pool: &MySqlPool, port: u16, on: bool) -> Result<(), MysqlError> {
    sqlx::query("UPDATE port_config SET proxyProtocol = ? WHERE poolPort = ?")
        .bind(on)
        .bind(port)
        .execute(pool)
        .await?;
    Ok(())
}

/// What a ban applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanTarget {
    Ip(std::net::IpAddr),
    Address(String),
}

/// A permanent ban from the `bans` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub id: u32,
    pub target: BanTarget,
    pub reason: String,
}

/// Adds an active ban and returns its id.
pub async fn add_ban(
    pool: &MySqlPool,
    target: &BanTarget,
    reason: &str,
) -> Result<u32, MysqlError> {
    let (ip, address) = match target {
        BanTarget::Ip(ip) => (Some(ip.to_string()), None),
        BanTarget::Address(a) => (None, Some(a.clone())),
    };
    let r = sqlx::query(
        "INSERT INTO bans (ip_address, mining_address, reason, active) VALUES (?, ?, ?, 1)",
    )
    .bind(ip)
    .bind(address)
    .bind(reason.chars().take(256).collect::<String>())
    .execute(pool)
    .await?;
    Ok(r.last_insert_id() as u32)
}

/// Deactivates a ban; `false` when no active ban had that id.
pub async fn remove_ban(pool: &MySqlPool, id: u32) -> Result<bool, MysqlError> {
    let r = sqlx::query("UPDATE bans SET active = 0 WHERE id = ? AND active = 1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Every active ban. Rows with an unparsable IP are skipped with a warning.
pub async fn active_bans(pool: &MySqlPool) -> Result<Vec<Ban>, MysqlError> {
    let rows = sqlx::query(
        "SELECT id, ip_address, mining_address, reason FROM bans WHERE active = 1 ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let mut bans = Vec::with_capacity(rows.len());
    for row in rows {
        let id: u32 = row.try_get("id")?;
        let ip: Option<String> = row.try_get("ip_address")?;
        let address: Option<String> = row.try_get("mining_address")?;
        let target = match (
            ip.filter(|s| !s.is_empty()),
            address.filter(|s| !s.is_empty()),
        ) {
            (Some(ip), _) => match ip.parse() {
                Ok(ip) => BanTarget::Ip(ip),
                Err(_) => {
                    tracing::warn!(ban.id = id, "skipping ban with an unparsable IP");
                    continue;
                }
            },
            (None, Some(address)) => BanTarget::Address(address),
            (None, None) => continue,
        };
        bans.push(Ban {
            id,
            target,
            reason: row.try_get("reason")?,
        });
    }
    Ok(bans)
}

/// A user's payout threshold (0 when unset).
pub async fn payout_threshold(pool: &MySqlPool, username: &str) -> Result<Atomic, MysqlError> {
    let v: Option<u64> =
        sqlx::query_scalar("SELECT payout_threshold FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    Ok(Atomic(v.unwrap_or(0)))
}

/// One port's live state on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHeartbeat {
    pub port: PortConfig,
    pub miners: u32,
}

/// Registers this pool host at start under its public address `ip` (`[pool] public_address`,
/// not the bind address). Refuses when `pool_id` is taken by another address (two hosts with
/// one id would collide in extra nonces). A row holding a wildcard bind address (`0.0.0.0`,
/// `::`, as earlier versions wrote) names no host and is taken over.
pub async fn register_pool(
    pool: &MySqlPool,
    pool_id: u32,
    ip: &str,
    hostname: &str,
) -> Result<(), MysqlError> {
    let existing: Option<String> = sqlx::query_scalar("SELECT ip FROM pools WHERE id = ?")
        .bind(pool_id)
        .fetch_optional(pool)
        .await?;
    let names_a_host = |other: &String| {
        !other.is_empty()
            && !other
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_unspecified())
    };
    if let Some(other) = existing.filter(|other| names_a_host(other) && other != ip) {
        return Err(MysqlError::Invalid(format!(
            "pool_id {pool_id} is registered to {other}; give this host another pool.pool_id"
        )));
    }
    sqlx::query(
        "INSERT INTO pools (id, ip, last_checkin, active, hostname) VALUES (?, ?, NOW(), 1, ?) \
         ON DUPLICATE KEY UPDATE ip = VALUES(ip), last_checkin = NOW(), active = 1, hostname = VALUES(hostname)",
    )
    .bind(pool_id)
    .bind(ip)
    .bind(hostname)
    .execute(pool)
    .await?;
    Ok(())
}

/// The periodic heartbeat: template height and per-port miner counts, in one transaction.
/// `ip` is this host's public address, written to every `ports.ip_address`.
pub async fn heartbeat(
    pool: &MySqlPool,
    pool_id: u32,
    ip: &str,
    height: Option<u64>,
    ports: &[PortHeartbeat],
) -> Result<(), MysqlError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE pools SET last_checkin = NOW(), active = 1, \
         blockIDTime = IF(blockID <=> ?, blockIDTime, NOW()), blockID = ? WHERE id = ?",
    )
    .bind(height)
    .bind(height)
    .bind(pool_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM ports WHERE pool_id = ?")
        .bind(pool_id)
        .execute(&mut *tx)
        .await?;
    for p in ports {
        sqlx::query(
            "INSERT INTO ports (pool_id, network_port, starting_diff, port_type, description, hidden, ip_address, lastSeen, miners, ssl_port) \
             VALUES (?, ?, ?, ?, ?, ?, ?, NOW(), ?, ?)",
        )
        .bind(pool_id)
        .bind(p.port.port)
        .bind(p.port.difficulty)
        .bind(p.port.pool_type.as_str())
        .bind(&p.port.description)
        .bind(p.port.hidden)
        .bind(ip)
        .bind(p.miners)
        .bind(p.port.tls)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
