//! The stores the roles meet in. This is the only code that names heed or sqlx.
//!
//! - `lmdb`: shares, found blocks and the stats cache (OWNER: lmdb helper).
//! - `mysql`: configuration, balances, credits and payouts (OWNER: config/mysql helper).
//! - `sink`: the seam the pool writes shares and found blocks through (LMDB here, or the
//!   share feed on a pool host of several).

pub mod lmdb;
pub mod mysql;
pub mod sink;
