//! The stores the roles meet in. This is the only code that names heed or sqlx.
//!
//! - `lmdb`: shares, found blocks and the stats cache (OWNER: lmdb helper).
//! - `mysql`: configuration, balances, credits and payouts (OWNER: config/mysql helper).

pub mod lmdb;
pub mod mysql;
