//! The config, port and ban operations both operator fronts share: `rxpool admin
//! config|port|ban` prints their results, the admin api (`api::admin`) returns them as JSON and
//! audits them. Each operation validates, writes through `store::mysql` and returns a typed
//! result (with the state before and after for a write) or an [`OpsError`]; neither front
//! re-implements what is here, and nothing here prints or knows about HTTP.

use serde::Serialize;
use sqlx::MySqlPool;

use crate::config::SettingsError;
use crate::domain::{Network, PoolType, WalletAddress};
use crate::store::mysql::{self, BanTarget, MysqlError, PortConfig, miner_settings, registry};

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The input breaks a rule (a setting's rule, a port's bounds, a malformed address).
    #[error("{0}")]
    Invalid(String),
    /// No such setting, port or ban.
    #[error("{0}")]
    NotFound(String),
    /// The write conflicts with what exists (a port added twice).
    #[error("{0}")]
    Conflict(String),
    /// MySQL failed.
    #[error(transparent)]
    Store(MysqlError),
}

impl From<MysqlError> for OpsError {
    fn from(e: MysqlError) -> OpsError {
        match e {
            MysqlError::Settings(SettingsError::Unknown(key)) => {
                OpsError::NotFound(SettingsError::Unknown(key).to_string())
            }
            MysqlError::Settings(e) => OpsError::Invalid(e.to_string()),
            MysqlError::Invalid(why) => OpsError::Invalid(why),
            e => OpsError::Store(e),
        }
    }
}

/// One row of the `config` table, as nodejs-pool's `GET /admin/config` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigEntry {
    pub id: u64,
    pub module: String,
    pub item: String,
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub desc: String,
}

impl ConfigEntry {
    /// `module.item`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.module, self.item)
    }
}

/// A setting changed: its key and its stored value before (None when it had no row) and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigChange {
    pub item: String,
    pub before: Option<String>,
    pub after: String,
}

/// Every stored setting, by id.
pub async fn config_list(db: &MySqlPool) -> Result<Vec<ConfigEntry>, OpsError> {
    Ok(mysql::setting_entries(db)
        .await?
        .into_iter()
        .map(|e| ConfigEntry {
            id: e.id,
            module: e.module,
            item: e.item,
            value: e.value,
            kind: e.kind,
            desc: e.description,
        })
        .collect())
}

/// Sets `key` (`module.item`) to `value` after checking it against the item's rule and every
/// rule spanning items ([`mysql::set_setting`]); nothing is stored when it is refused.
pub async fn config_set(db: &MySqlPool, key: &str, value: &str) -> Result<ConfigChange, OpsError> {
    let before = mysql::setting_rows(db)
        .await?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v);
    mysql::set_setting(db, key, value).await?;
    Ok(ConfigChange {
        item: key.to_owned(),
        before,
        after: value.trim().to_owned(),
    })
}

/// One stratum port, in nodejs-pool's `port_config` shape plus `proxyProtocol`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortView {
    pub port: u16,
    pub diff: u64,
    pub desc: String,
    pub port_type: PoolType,
    pub hidden: bool,
    pub ssl: bool,
    pub proxy_protocol: bool,
}

/// A port to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub port: u16,
    pub diff: u64,
    pub desc: String,
    pub pool_type: PoolType,
    pub hidden: bool,
    pub tls: bool,
    pub proxy_protocol: bool,
}

/// Whether a port write may add, change, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortWrite {
    /// Adds the port or changes it (the CLI's `port add`).
    Upsert,
    /// Adds a port; refused when it exists.
    Create,
    /// Changes a port; refused when it does not exist.
    Update,
}

/// A port written: before (None when new) and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortChange {
    pub before: Option<PortView>,
    pub after: PortView,
}

/// Every configured port, by number.
pub async fn port_list(db: &MySqlPool) -> Result<Vec<PortView>, OpsError> {
    let proxied = registry::proxy_protocol_ports(db).await?;
    Ok(registry::ports(db)
        .await?
        .into_iter()
        .map(|p| PortView {
            port: p.port,
            diff: p.difficulty,
            proxy_protocol: proxied.contains(&p.port),
            desc: p.description,
            port_type: p.pool_type,
            hidden: p.hidden,
            ssl: p.tls,
        })
        .collect())
}

async fn port_get(db: &MySqlPool, port: u16) -> Result<Option<PortView>, OpsError> {
    Ok(port_list(db).await?.into_iter().find(|p| p.port == port))
}

/// Writes a port. `diff_bounds` (the vardiff `pool.minDifficulty..=pool.maxDifficulty`), when
/// given, bounds its starting difficulty.
pub async fn port_set(
    db: &MySqlPool,
    spec: PortSpec,
    diff_bounds: Option<(u64, u64)>,
    mode: PortWrite,
) -> Result<PortChange, OpsError> {
    if spec.port == 0 {
        return Err(OpsError::Invalid("port: must be 1 to 65535".into()));
    }
    if let Some((min, max)) = diff_bounds
        && (spec.diff < min || spec.diff > max)
    {
        return Err(OpsError::Invalid(format!(
            "diff: must be within the vardiff bounds {min} to {max} \
                 (pool.minDifficulty, pool.maxDifficulty)"
        )));
    }
    let before = port_get(db, spec.port).await?;
    match (mode, &before) {
        (PortWrite::Create, Some(_)) => {
            return Err(OpsError::Conflict(format!(
                "port {} is already configured",
                spec.port
            )));
        }
        (PortWrite::Update, None) => {
            return Err(OpsError::NotFound(format!(
                "port {} is not configured",
                spec.port
            )));
        }
        _ => {}
    }
    let port = PortConfig {
        port: spec.port,
        difficulty: spec.diff,
        description: spec.desc,
        pool_type: spec.pool_type,
        hidden: spec.hidden,
        tls: spec.tls,
    };
    registry::upsert_port(db, &port).await?;
    registry::set_proxy_protocol(db, port.port, spec.proxy_protocol).await?;
    Ok(PortChange {
        before,
        after: PortView {
            port: port.port,
            diff: port.difficulty,
            desc: port.description,
            port_type: port.pool_type,
            hidden: port.hidden,
            ssl: port.tls,
            proxy_protocol: spec.proxy_protocol,
        },
    })
}

/// Removes a port and returns what it was.
pub async fn port_remove(db: &MySqlPool, port: u16) -> Result<PortView, OpsError> {
    let not_configured = || OpsError::NotFound(format!("port {port} is not configured"));
    let before = port_get(db, port).await?.ok_or_else(not_configured)?;
    if !registry::remove_port(db, port).await? {
        return Err(not_configured());
    }
    Ok(before)
}

/// An active ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BanView {
    pub id: u32,
    /// The banned IP, or None for an address ban.
    pub ip: Option<String>,
    /// The banned payout address, or None for an IP ban.
    pub address: Option<String>,
    pub reason: String,
}

impl From<registry::Ban> for BanView {
    fn from(ban: registry::Ban) -> BanView {
        let (ip, address) = match ban.target {
            BanTarget::Ip(ip) => (Some(ip.to_string()), None),
            BanTarget::Address(a) => (None, Some(a)),
        };
        BanView {
            id: ban.id,
            ip,
            address,
            reason: ban.reason,
        }
    }
}

/// Every active ban, by id.
pub async fn ban_list(db: &MySqlPool) -> Result<Vec<BanView>, OpsError> {
    Ok(registry::active_bans(db)
        .await?
        .into_iter()
        .map(BanView::from)
        .collect())
}

/// Bans an IP or a payout address. An address is trimmed and must be 1 to 200 characters;
/// with `network`, it must also be an address of that network.
pub async fn ban_add(
    db: &MySqlPool,
    target: BanTarget,
    reason: &str,
    network: Option<Network>,
) -> Result<BanView, OpsError> {
    let target = match target {
        BanTarget::Ip(ip) => BanTarget::Ip(ip),
        BanTarget::Address(address) => {
            let address = address.trim().to_owned();
            if address.is_empty() || address.chars().count() > 200 {
                return Err(OpsError::Invalid(
                    "address: must be 1 to 200 characters".into(),
                ));
            }
            if let Some(network) = network {
                WalletAddress::parse(&address, network)
                    .map_err(|e| OpsError::Invalid(format!("address: {e}")))?;
            }
            BanTarget::Address(address)
        }
    };
    let id = registry::add_ban(db, &target, reason).await?;
    Ok(BanView::from(registry::Ban {
        id,
        target,
        reason: reason.chars().take(256).collect(),
    }))
}

/// Lifts an active ban and returns what it was.
pub async fn ban_remove(db: &MySqlPool, id: u32) -> Result<BanView, OpsError> {
    let not_active = || OpsError::NotFound(format!("no active ban {id}"));
    let before = ban_list(db)
        .await?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(not_active)?;
    if !registry::remove_ban(db, id).await? {
        return Err(not_active());
    }
    Ok(before)
}

/// A miner's payout-threshold lock, before and after a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThresholdLock {
    /// The payout key (an integrated address for `address.<payment id>`).
    pub miner: String,
    pub locked: bool,
}

/// Locks (or unlocks) a miner's payout threshold: while locked, `POST /user/updateThreshold`
/// is refused. `miner` is an address of `network` or `address.<payment id>`. Returns the lock
/// before and after.
pub async fn threshold_lock(
    db: &MySqlPool,
    miner: &str,
    network: Network,
    locked: bool,
) -> Result<(ThresholdLock, ThresholdLock), OpsError> {
    let key = WalletAddress::parse_payout_key(miner.trim(), network)
        .map_err(|e| OpsError::Invalid(format!("address: {e}")))?
        .text;
    let sql = |e: sqlx::Error| OpsError::Store(MysqlError::from(e));
    let was = miner_settings::user_settings(db, &key)
        .await
        .map_err(sql)?
        .is_some_and(|s| s.threshold_locked);
    miner_settings::set_threshold_lock(db, &key, locked)
        .await
        .map_err(sql)?;
    Ok((
        ThresholdLock {
            miner: key.clone(),
            locked: was,
        },
        ThresholdLock { miner: key, locked },
    ))
}
