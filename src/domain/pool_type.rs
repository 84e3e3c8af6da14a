//! Payout modes. A miner picks one by the port it connects to; balances are kept per mode.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The payout mode of a port and of every share mined on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum PoolType {
    Pplns = 0,
    Pps = 1,
    Solo = 2,
}

/// The `balance.pool_type` column: a payout mode, or fee income.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BalanceType {
    Pplns,
    Pps,
    Solo,
    Fees,
}

/// A pool type name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pool type {0:?} (expected pplns, pps or solo)")]
pub struct UnknownPoolType(pub String);

impl PoolType {
    pub const ALL: [PoolType; 3] = [PoolType::Pplns, PoolType::Pps, PoolType::Solo];

    pub fn as_str(self) -> &'static str {
        match self {
            PoolType::Pplns => "pplns",
            PoolType::Pps => "pps",
            PoolType::Solo => "solo",
        }
    }

    pub fn from_u8(v: u8) -> Option<PoolType> {
        Self::ALL.into_iter().find(|t| *t as u8 == v)
    }
}

impl From<PoolType> for BalanceType {
    fn from(t: PoolType) -> BalanceType {
        match t {
            PoolType::Pplns => BalanceType::Pplns,
            PoolType::Pps => BalanceType::Pps,
            PoolType::Solo => BalanceType::Solo,
        }
    }
}

impl BalanceType {
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceType::Pplns => "pplns",
            BalanceType::Pps => "pps",
            BalanceType::Solo => "solo",
            BalanceType::Fees => "fees",
        }
    }
}

impl FromStr for PoolType {
    type Err = UnknownPoolType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownPoolType(s.to_owned()))
    }
}

impl FromStr for BalanceType {
    type Err = UnknownPoolType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fees" => Ok(BalanceType::Fees),
            other => other.parse::<PoolType>().map(BalanceType::from),
        }
    }
}

impl fmt::Display for PoolType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for BalanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
