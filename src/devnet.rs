//! Throwaway MariaDB, regtest monerod, monero-wallet-rpc, SMTP and NATS processes for tests, benches
//! and `rxpool sandbox` (`crate::sandbox`).
//!
//! Owns starting each component on free loopback ports ([`port`]) in its own temp dir, waiting
//! until it answers, and stopping it again: on drop the whole process group is killed and
//! reaped and the temp dir removed, also when a test panics. The sandbox starts MariaDB,
//! monerod and wallet-rpc in directories it names instead (`start_in`): those are kept on
//! drop, and a component started again in one continues from what it holds ([`Home`]). Children are spawned from one
//! long-lived thread with `PR_SET_PDEATHSIG` ([`process`]), so a test binary that is killed
//! outright takes its daemons with it. Start-up failures carry the tail of the component's log.
//!
//! It must never touch a system service (the MariaDB on :3306, a real monerod): everything it
//! starts lives under a fresh temp dir and binds 127.0.0.1 only. It talks to the components
//! with raw JSON-RPC and single SQL statements, and does not depend on `crate::monero` or
//! `crate::store`, so every other module's tests can use it.
//!
//! The API is async (tokio) but spawns no tasks: a shared instance ([`MariaDb::shared`],
//! [`Monerod::shared`]) started in one test's runtime keeps working in the next test's runtime.
//! Shared instances are stopped when the test binary exits.

pub mod mariadb;
pub mod monerod;
pub mod nats;
pub mod port;
pub mod process;
pub mod smtp;
pub mod wallet_rpc;

pub use mariadb::MariaDb;
pub use monerod::{GeneratedBlocks, Monerod, MonerodOptions};
pub use nats::Nats;
pub use port::free_port;
pub use smtp::{ReceivedMail, Smtp};
pub use wallet_rpc::{WalletBalance, WalletRpc};

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a devnet component could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The program could not be executed (usually: not installed; see `install.sh test`).
    #[error(
        "could not run `{program}` (is it installed? `./install.sh test` installs it): {source}"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The component exited while we waited for it to answer.
    #[error("{component} exited during start-up ({status}); log tail:\n{log}")]
    Exited {
        component: &'static str,
        status: String,
        log: String,
    },
    /// The component did not answer in time.
    #[error("{component} did not answer within {waited:?}; log tail:\n{log}")]
    NotReady {
        component: &'static str,
        waited: Duration,
        log: String,
    },
    /// A set-up step (install-db, bootstrap SQL, script file) failed.
    #[error("{component}: {step} failed: {detail}")]
    Setup {
        component: &'static str,
        step: &'static str,
        detail: String,
    },
    /// A JSON-RPC call failed or returned an error object.
    #[error("{component} RPC `{method}` failed: {detail}")]
    Rpc {
        component: &'static str,
        method: String,
        detail: String,
    },
    /// An SQL statement against the throwaway MariaDB failed.
    #[error("MariaDB: {context}: {source}")]
    Sql {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    /// A local file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl DevnetError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DevnetError {
        let context = context.into();
        move |source| DevnetError::Io { context, source }
    }
}

/// Raw JSON-RPC 2.0 call (`POST {base}/json_rpc`), shared by monerod and wallet-rpc.
///
/// A fresh HTTP client per call on purpose: a reqwest client keeps connections bound to the
/// tokio runtime that opened them, and shared instances outlive each test's runtime.
pub(crate) async fn json_rpc(
    component: &'static str,
    base_url: &str,
    method: &str,
    params: serde_json::Value,
    timeout: Duration,
) -> Result<serde_json::Value, DevnetError> {
    let rpc_err = |detail: String| DevnetError::Rpc {
        component,
        method: method.to_owned(),
        detail,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| rpc_err(e.to_string()))?;
    let body = serde_json::json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params});
    let response = client
        .post(format!("{base_url}/json_rpc"))
        .json(&body)
        .send()
        .await
        .map_err(|e| rpc_err(e.to_string()))?;
    let status = response.status();
    let mut value: serde_json::Value = response
        .json()
        .await
        .map_err(|e| rpc_err(format!("HTTP {status}, body is not JSON: {e}")))?;
    if let Some(error) = value.get("error") {
        return Err(rpc_err(error.to_string()));
    }
    match value.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(rpc_err(format!("HTTP {status}, no result in {value}"))),
    }
}

/// Whether something on `port` greets a new TCP connection with `expected` (SMTP's `220`,
/// NATS's `INFO`) within 2 s.
pub(crate) async fn greets(port: u16, expected: &[u8]) -> bool {
    use tokio::io::AsyncReadExt;
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let mut buf = vec![0u8; expected.len()];
        stream.read_exact(&mut buf).await.ok()?;
        Some(buf == expected)
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The last `lines` lines of a log file, or a note saying why there is none.
pub(crate) fn log_tail(path: &std::path::Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}

/// Registers (once) a process-exit hook that stops the shared instances, so their temp dirs
/// are removed too. (If the process is killed instead, `PR_SET_PDEATHSIG` still stops them.)
pub(crate) fn stop_shared_at_exit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn at_exit() {
        MariaDb::release_shared();
        Monerod::release_shared();
    }
    ONCE.call_once(|| {
        // SAFETY: `at_exit` is a plain `extern "C" fn()` that lives for the whole program;
        // registering it has no other precondition.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

/// Where a component keeps its files (data, logs, socket).
#[derive(Debug)]
pub(crate) enum Home {
    /// A temp dir of its own, removed on drop.
    Temp(tempfile::TempDir),
    /// A directory the caller named (the sandbox's state dir): kept on drop, reused by the
    /// next start in it.
    Kept(PathBuf),
}

impl Home {
    /// A fresh temp dir for a component of `kind` ([`component_dir`]).
    pub(crate) fn temp(kind: &str) -> Result<Home, DevnetError> {
        component_dir(kind).map(Home::Temp)
    }

    /// `dir`, created if missing.
    pub(crate) fn kept(dir: &Path) -> Result<Home, DevnetError> {
        std::fs::create_dir_all(dir)
            .map_err(DevnetError::io(format!("create {}", dir.display())))?;
        Ok(Home::Kept(dir.to_path_buf()))
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            Home::Temp(dir) => dir.path(),
            Home::Kept(dir) => dir,
        }
    }
}

/// A fresh temp dir `rxpool-devnet-PID-KIND-…` for one component. Each call also removes such
/// dirs left behind by test binaries that were killed (their PID is gone).
pub(crate) fn component_dir(kind: &str) -> Result<tempfile::TempDir, DevnetError> {
    let base = std::env::temp_dir();
    sweep_stale_dirs(&base);
    tempfile::Builder::new()
        .prefix(&format!("rxpool-devnet-{}-{kind}-", std::process::id()))
        .tempdir_in(&base)
        .map_err(DevnetError::io(format!(
            "create {kind} temp dir in {}",
            base.display()
        )))
}

fn sweep_stale_dirs(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("rxpool-devnet-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
