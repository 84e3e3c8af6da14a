//! `/admin/config`, `/admin/ports` and `/admin/bans`: nodejs-pool's shapes over
//! `admin::ops` (the code `rxpool admin config|port|ban` runs). A config write reloads the
//! api's settings and empties its cache so every route answers with the new value at once.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::{ApiError, ApiState, Segment, audit, json, path_param, reason};
use crate::admin::ops::{
    self, BanView, ConfigChange, ConfigEntry, PortSpec, PortView, PortWrite, ThresholdLock,
};
use crate::api::auth::AdminIdentity;
use crate::api::params::JsonBody;
use crate::domain::PoolType;
use crate::store::mysql::BanTarget;

/// `GET /admin/config`: `[{id, module, item, value, type, desc}]`.
pub(super) async fn config(
    State(state): State<ApiState>,
) -> Result<Json<Vec<ConfigEntry>>, ApiError> {
    Ok(Json(ops::config_list(&state.db).await?))
}

/// `PUT /admin/config` body: the item by `module.item` (or nodejs-pool's row `id`) and its
/// new value (a string, or a number or boolean taken as its text).
#[derive(Debug, Deserialize)]
pub(super) struct ConfigWrite {
    item: Option<String>,
    id: Option<u64>,
    value: serde_json::Value,
}

/// `PUT /admin/config`: validated exactly as `rxpool admin config set`.
pub(super) async fn set_config(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    JsonBody(body): JsonBody<ConfigWrite>,
) -> Result<Json<ConfigChange>, ApiError> {
    let value = match &body.value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "value: must be a string, a number or a boolean",
            ));
        }
    };
    if value.len() > 16 * 1024 {
        return Err(ApiError::bad_request("value: longer than 16 KiB"));
    }
    let key = match (body.item, body.id) {
        (Some(item), None) => item,
        (None, Some(id)) => ops::config_list(&state.db)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .map(|e| e.key())
            .ok_or_else(|| ApiError::not_found(format!("no config row {id}")))?,
        _ => return Err(ApiError::bad_request("give either item or id")),
    };
    if key.len() > 128 {
        return Err(ApiError::bad_request("item: longer than 128 characters"));
    }
    let change = ops::config_set(&state.db, &key, &value).await?;
    audit(
        &state,
        &who,
        "config.set",
        &key,
        change
            .before
            .as_ref()
            .map(|v| serde_json::json!({ "value": v })),
        Some(serde_json::json!({ "value": change.after })),
    )
    .await?;
    if let Err(e) = state.reload_settings().await {
        tracing::warn!(error = %e, "api: reloading the settings after a config write failed");
    }
    state.cache.invalidate("");
    Ok(Json(change))
}

/// `GET /admin/ports`.
pub(super) async fn ports(State(state): State<ApiState>) -> Result<Json<Vec<PortView>>, ApiError> {
    Ok(Json(ops::port_list(&state.db).await?))
}

/// A port in nodejs-pool's body shape: `port` (POST) or `portNum` (PUT), `diff`, `desc`,
/// `portType`, `hidden`, `ssl`, plus `proxyProtocol`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PortBody {
    port: Option<i64>,
    port_num: Option<i64>,
    diff: i64,
    #[serde(default)]
    desc: String,
    port_type: String,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    ssl: bool,
    #[serde(default)]
    proxy_protocol: bool,
}

/// `DELETE /admin/ports` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PortKey {
    port: Option<i64>,
    port_num: Option<i64>,
}

fn port_number(port: Option<i64>, port_num: Option<i64>) -> Result<u16, ApiError> {
    let n = port
        .or(port_num)
        .ok_or_else(|| ApiError::bad_request("port: give port (or portNum)"))?;
    u16::try_from(n)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::bad_request("port: must be 1 to 65535"))
}

impl PortBody {
    fn spec(self) -> Result<PortSpec, ApiError> {
        let port = port_number(self.port, self.port_num)?;
        let diff = u64::try_from(self.diff)
            .map_err(|_| ApiError::bad_request("diff: must be a positive whole number"))?;
        let pool_type: PoolType = self
            .port_type
            .parse()
            .map_err(|_| ApiError::bad_request("portType: must be pplns, pps or solo"))?;
        if self.desc.chars().any(char::is_control) {
            return Err(ApiError::bad_request("desc: control characters"));
        }
        Ok(PortSpec {
            port,
            diff,
            desc: self.desc,
            pool_type,
            hidden: self.hidden,
            tls: self.ssl,
            proxy_protocol: self.proxy_protocol,
        })
    }
}

async fn write_port(
    state: ApiState,
    who: AdminIdentity,
    body: PortBody,
    mode: PortWrite,
) -> Result<Json<PortView>, ApiError> {
    let spec = body.spec()?;
    let settings = state.settings();
    let bounds = (settings.pool.min_difficulty, settings.pool.max_difficulty);
    let change = ops::port_set(&state.db, spec, Some(bounds), mode).await?;
    let action = if change.before.is_some() {
        "port.update"
    } else {
        "port.add"
    };
    audit(
        &state,
        &who,
        action,
        &change.after.port.to_string(),
        change.before.as_ref().and_then(json),
        json(&change.after),
    )
    .await?;
    state.cache.invalidate("/pool/ports");
    Ok(Json(change.after))
}

/// `POST /admin/ports`: adds a port (409 when it exists).
pub(super) async fn add_port(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    JsonBody(body): JsonBody<PortBody>,
) -> Result<Json<PortView>, ApiError> {
    write_port(state, who, body, PortWrite::Create).await
}

/// `PUT /admin/ports`: changes a port (404 when it does not exist).
pub(super) async fn update_port(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    JsonBody(body): JsonBody<PortBody>,
) -> Result<Json<PortView>, ApiError> {
    write_port(state, who, body, PortWrite::Update).await
}

/// `DELETE /admin/ports {portNum}`.
pub(super) async fn remove_port(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    JsonBody(body): JsonBody<PortKey>,
) -> Result<Json<PortView>, ApiError> {
    let port = port_number(body.port, body.port_num)?;
    let before = ops::port_remove(&state.db, port).await?;
    audit(
        &state,
        &who,
        "port.remove",
        &port.to_string(),
        json(&before),
        None,
    )
    .await?;
    state.cache.invalidate("/pool/ports");
    Ok(Json(before))
}

/// `GET /admin/bans`: the active bans.
pub(super) async fn bans(State(state): State<ApiState>) -> Result<Json<Vec<BanView>>, ApiError> {
    Ok(Json(ops::ban_list(&state.db).await?))
}

/// `POST /admin/bans` body: one of `ip` and `address`, and a reason.
#[derive(Debug, Deserialize)]
pub(super) struct BanBody {
    ip: Option<String>,
    address: Option<String>,
    reason: Option<String>,
}

/// `POST /admin/bans`: bans an IP or a payout address of the pool's network.
pub(super) async fn add_ban(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    JsonBody(body): JsonBody<BanBody>,
) -> Result<Json<BanView>, ApiError> {
    let target = match (body.ip, body.address) {
        (Some(ip), None) => BanTarget::Ip(
            ip.trim()
                .parse()
                .map_err(|_| ApiError::bad_request("ip: not an IPv4 or IPv6 address"))?,
        ),
        (None, Some(address)) => BanTarget::Address(address),
        _ => return Err(ApiError::bad_request("give either ip or address")),
    };
    let why = reason(body.reason, "")?;
    let network = state.settings().general.network;
    let ban = ops::ban_add(&state.db, target, &why, Some(network)).await?;
    audit(
        &state,
        &who,
        "ban.add",
        &ban.id.to_string(),
        None,
        json(&ban),
    )
    .await?;
    Ok(Json(ban))
}

/// `DELETE /admin/bans/:id`: lifts an active ban.
pub(super) async fn remove_ban(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(id): Segment,
) -> Result<Json<BanView>, ApiError> {
    let id: u32 = path_param("id", &id)?;
    let before = ops::ban_remove(&state.db, id).await?;
    audit(
        &state,
        &who,
        "ban.remove",
        &id.to_string(),
        json(&before),
        None,
    )
    .await?;
    Ok(Json(before))
}

/// `POST /admin/miners/:address/threshold-lock` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ThresholdLockBody {
    locked: bool,
}

/// `POST /admin/miners/:address/threshold-lock {locked}`: locks or unlocks a miner's payout
/// threshold (`rxpool admin miner threshold-lock`).
pub(super) async fn threshold_lock(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(address): Segment,
    JsonBody(body): JsonBody<ThresholdLockBody>,
) -> Result<Json<ThresholdLock>, ApiError> {
    if address.len() > crate::api::params::MAX_ADDRESS_TEXT {
        return Err(ApiError::bad_request("address: too long"));
    }
    let network = state.settings().general.network;
    let (before, after) = ops::threshold_lock(&state.db, &address, network, body.locked).await?;
    audit(
        &state,
        &who,
        "miner.threshold_lock",
        &after.miner,
        json(&before),
        json(&after),
    )
    .await?;
    state.cache.invalidate("/user/");
    Ok(Json(after))
}
