//! Miner and operator e-mail, below the roles: the pool and the api take addresses and honour
//! links through [`subscriptions`], the worker and the operator alerts queue mail through
//! [`outbox`], and the worker's [`sender`] delivers it over SMTP.
//!
//! Every mail is first a row in MySQL `mail_outbox`, written in the same transaction as the
//! state change it reports (exactly once: UNIQUE per miner, kind and event time); nothing here
//! talks SMTP except the sender. Miner mail goes only to an address confirmed through a signed
//! link ([`token`]); a confirmed address changes only after the current one approves and the
//! new one confirms. Addresses and tokens are never logged at info or above (this module logs
//! row ids and miners only).

pub mod address;
pub mod outbox;
pub mod sender;
pub mod subscribers;
pub mod subscriptions;
pub mod token;

use crate::config::Settings;

pub use address::{EmailAddress, mask};
pub use outbox::{Enqueued, enqueue_to_admin, enqueue_to_miner, render};
pub use subscriptions::{Subscription, confirmed, confirmed_many, request};

/// What a mail is about; stored in `mail_outbox.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    WorkersStopped,
    WorkersResumed,
    PaymentSent,
    BlockFound,
    Confirm,
    ApproveChange,
    Operator,
}

impl MailKind {
    pub const ALL: [MailKind; 7] = [
        MailKind::WorkersStopped,
        MailKind::WorkersResumed,
        MailKind::PaymentSent,
        MailKind::BlockFound,
        MailKind::Confirm,
        MailKind::ApproveChange,
        MailKind::Operator,
    ];

    /// The `mail_outbox.kind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::WorkersStopped => "workers_stopped",
            MailKind::WorkersResumed => "workers_resumed",
            MailKind::PaymentSent => "payment_sent",
            MailKind::BlockFound => "block_found",
            MailKind::Confirm => "confirm",
            MailKind::ApproveChange => "approve_change",
            MailKind::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Alerts a miner can switch off and unsubscribe from (not the link mails, not operator).
    pub fn is_miner_alert(self) -> bool {
        matches!(
            self,
            MailKind::WorkersStopped
                | MailKind::WorkersResumed
                | MailKind::PaymentSent
                | MailKind::BlockFound
        )
    }
}

/// Everything that can go wrong in this module, as values.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("not a usable e-mail address: {0}")]
    InvalidAddress(&'static str),
    #[error("not a usable miner (payout key): {0}")]
    InvalidMiner(&'static str),
    #[error("link refused: {0}")]
    Token(#[from] token::TokenError),
    #[error("{0}")]
    Refused(&'static str),
    #[error("{0}")]
    Config(String),
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
}

/// The base URL of links in mail: `general.publicUrl`, without a trailing `/`. Roles fill an
/// empty one from `[api] bind` with [`resolve_public_url`] after loading settings; an empty one
/// still falls back to the default bind.
pub fn base_url(settings: &Settings) -> String {
    let url = settings.general.public_url.trim_end_matches('/');
    if url.is_empty() {
        format!("http://{}", crate::config::ApiConfig::default().bind)
    } else {
        url.to_owned()
    }
}

/// Fills an empty `general.publicUrl` as `http://BIND` from `[api] bind`.
pub fn resolve_public_url(settings: &mut Settings, api_bind: &str) {
    if settings.general.public_url.trim().is_empty() {
        settings.general.public_url = format!("http://{api_bind}");
    }
}
