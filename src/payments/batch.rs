//! The payout batch state machine, as the payments role names it. [`BatchStatus`] and its
//! transition table live in [`crate::domain::payout`] (the MySQL store persists them and must
//! not depend on a role); this module re-exports them so `payments::batch::BatchStatus` keeps
//! working.

pub use crate::domain::payout::{BatchStatus, TRANSITIONS, UnknownStatus};
