//! The first connection to MySQL, made once before a pool is built so that a server that is
//! down, a wrong host, a wrong password or a missing database is reported at once, in one
//! line that names `host:port` and the cause ([`ConnectError`]), instead of after sqlx's pool
//! acquire timeout as "pool timed out while waiting for an open connection".
//!
//! It owns only that probe and the classification of its failure. It opens one connection,
//! closes it and keeps nothing; the pool itself is still built by `store::mysql`. It does not
//! retry: a role started before MariaDB is up exits non-zero, and its service manager
//! (`Restart=on-failure` in `deployment/`) starts it again.

use std::fmt;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError};
use sqlx::{ConnectOptions, Connection};

/// How long the first connection may take: a server on the same network answers in
/// milliseconds, so a few seconds of silence means a firewall drops the packets.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// Why the first connection to MySQL failed, with the address it tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot connect to MySQL at {address}: {cause}")]
pub struct ConnectError {
    /// `host:port`, or the socket path.
    pub address: String,
    pub cause: ConnectCause,
}

/// What went wrong, in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectCause {
    /// Nothing listens on the port (MariaDB is not running there).
    Refused,
    /// The host name does not resolve.
    UnknownHost,
    /// No answer within [`CONNECT_TIMEOUT`].
    NoAnswer(Duration),
    /// The server refused the user or its password (MySQL error 1045).
    AccessDenied { user: String },
    /// The database does not exist (1049).
    UnknownDatabase { database: String },
    /// The user may not use the database (1044).
    DatabaseDenied { user: String, database: String },
    /// Anything else, as the server or the network stack said it.
    Other(String),
}

impl fmt::Display for ConnectCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectCause::Refused => f.write_str("connection refused (is MariaDB running there?)"),
            ConnectCause::UnknownHost => f.write_str("unknown host"),
            ConnectCause::NoAnswer(after) => {
                write!(f, "no answer within {} s", after.as_secs())
            }
            ConnectCause::AccessDenied { user } => {
                write!(f, "access denied for user '{user}' (wrong password?)")
            }
            ConnectCause::UnknownDatabase { database } => {
                write!(f, "unknown database '{database}'")
            }
            ConnectCause::DatabaseDenied { user, database } => {
                write!(
                    f,
                    "user '{user}' has no access to database '{database}' (does it exist?)"
                )
            }
            ConnectCause::Other(message) => f.write_str(message),
        }
    }
}

/// Opens one connection with `options` and closes it, within `timeout`.
pub async fn probe(options: &MySqlConnectOptions, timeout: Duration) -> Result<(), ConnectError> {
    let address = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let cause = match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(connection)) => {
            // Closing politely is a courtesy; the server drops it anyway.
            let _ = connection.close().await;
            return Ok(());
        }
        Ok(Err(error)) => classify(&error, options),
        Err(_) => ConnectCause::NoAnswer(timeout),
    };
    Err(ConnectError { address, cause })
}

fn classify(error: &sqlx::Error, options: &MySqlConnectOptions) -> ConnectCause {
    let user = options.get_username().to_owned();
    let database = options.get_database().unwrap_or_default().to_owned();
    match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            ConnectCause::Refused
        }
        sqlx::Error::Io(io) if io.to_string().contains("lookup address") => {
            ConnectCause::UnknownHost
        }
        sqlx::Error::Io(io) => ConnectCause::Other(io.to_string()),
        sqlx::Error::Database(db) => match db.try_downcast_ref::<MySqlDatabaseError>() {
            Some(my) if my.number() == 1045 => ConnectCause::AccessDenied { user },
            Some(my) if my.number() == 1049 => ConnectCause::UnknownDatabase { database },
            Some(my) if my.number() == 1044 => ConnectCause::DatabaseDenied { user, database },
            _ => ConnectCause::Other(db.message().to_owned()),
        },
        other => ConnectCause::Other(other.to_string()),
    }
}
