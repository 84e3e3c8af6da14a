//! A throwaway monero-wallet-rpc bound to a devnet monerod, with its wallets in a temp dir.
//!
//! Owns the process and a thin layer of raw JSON-RPC helpers tests need to set the scene
//! (create a wallet, read its address and balance). The sandbox keeps its wallets in its
//! state dir ([`WalletRpc::start_in`], [`WalletRpc::open_or_create_wallet`]). It deliberately does not use
//! `crate::monero::wallet`: that client is what the tests exercise, against this process.
//!
//! Regtest uses mainnet address prefixes, so a wallet for a `--regtest` daemon runs with
//! [`Network::Mainnet`] (no network flag); `--testnet`/`--stagenet` are passed for those.
//! Login is disabled (`--disable-rpc-login`) unless started with [`WalletRpc::start_with_login`]
//! (`--rpc-login USER:PASS`, HTTP digest, for tests of the client's login); the daemon is
//! trusted; it binds 127.0.0.1 only.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::process::Process;
use super::{DevnetError, Home, Monerod, free_port};
use crate::domain::{Atomic, Network};

const COMPONENT: &str = "monero-wallet-rpc";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const RPC_TIMEOUT: Duration = Duration::from_secs(120);

/// `get_balance` of account 0, in atomic units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletBalance {
    /// Everything the wallet owns, locked or not.
    pub balance: Atomic,
    /// What it can spend now (coinbase unlocks after 60 blocks, transfers after 10).
    pub unlocked: Atomic,
}

/// A running monero-wallet-rpc; killed and its wallet dir deleted on drop.
#[derive(Debug)]
pub struct WalletRpc {
    // Declared first so it is dropped (killed) before the directory is removed.
    process: Process,
    rpc_port: u16,
    dir: Home,
}

impl WalletRpc {
    /// Starts wallet-rpc against `daemon` and waits until it answers `get_version`.
    /// No wallet is open yet: call [`WalletRpc::create_wallet`].
    pub async fn start(daemon: &Monerod, network: Network) -> Result<WalletRpc, DevnetError> {
        Self::start_for(&format!("127.0.0.1:{}", daemon.rpc_port()), network).await
    }

    /// Starts wallet-rpc against any daemon at `daemon_address` (`host:port`).
    pub async fn start_for(
        daemon_address: &str,
        network: Network,
    ) -> Result<WalletRpc, DevnetError> {
        Self::launch(daemon_address, network, None, Home::temp("wallet")?).await
    }

    /// As [`WalletRpc::start`], with the wallet files and logs in `dir`, which is kept on
    /// drop; wallets made there earlier can be opened again.
    pub async fn start_in(
        dir: &Path,
        daemon: &Monerod,
        network: Network,
    ) -> Result<WalletRpc, DevnetError> {
        let address = format!("127.0.0.1:{}", daemon.rpc_port());
        Self::launch(&address, network, None, Home::kept(dir)?).await
    }

    /// As [`WalletRpc::start`], with `--rpc-login USER:PASS` (HTTP digest) instead of
    /// `--disable-rpc-login`. Start-up counts as done when it answers `401` with a digest
    /// challenge. This type's own RPC helpers send no credentials, so they are refused;
    /// talk to it with a client that logs in.
    pub async fn start_with_login(
        daemon: &Monerod,
        network: Network,
        user: &str,
        password: &str,
    ) -> Result<WalletRpc, DevnetError> {
        let address = format!("127.0.0.1:{}", daemon.rpc_port());
        let dir = Home::temp("wallet")?;
        Self::launch(&address, network, Some((user, password)), dir).await
    }

    async fn launch(
        daemon_address: &str,
        network: Network,
        login: Option<(&str, &str)>,
        dir: Home,
    ) -> Result<WalletRpc, DevnetError> {
        let wallets = dir.path().join("wallets");
        std::fs::create_dir_all(&wallets).map_err(DevnetError::io("create wallet dir"))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let rpc_port = free_port().map_err(DevnetError::io("pick a free port"))?;
            let log_file = dir.path().join("wallet-rpc.log");
            let mut command = Command::new("monero-wallet-rpc");
            command
                .arg("--wallet-dir")
                .arg(&wallets)
                .arg("--rpc-bind-ip")
                .arg("127.0.0.1")
                .arg("--rpc-bind-port")
                .arg(rpc_port.to_string())
                .arg("--disable-rpc-ban")
                // Its default (autodetect) makes a self-signed RSA certificate at every start:
                // 1 s becomes 18 s on a loaded 2-core machine. Clients here speak plain HTTP.
                .arg("--rpc-ssl")
                .arg("disabled")
                .arg("--daemon-address")
                .arg(daemon_address)
                .arg("--trusted-daemon")
                .arg("--shared-ringdb-dir")
                .arg(dir.path().join("ringdb"))
                .arg("--log-file")
                .arg(&log_file)
                .arg("--log-level")
                .arg("0")
                .arg("--non-interactive");
            match login {
                Some((user, password)) => {
                    command.arg("--rpc-login").arg(format!("{user}:{password}"));
                }
                None => {
                    command.arg("--disable-rpc-login");
                }
            }
            match network {
                Network::Mainnet => {}
                Network::Testnet => {
                    command.arg("--testnet");
                }
                Network::Stagenet => {
                    command.arg("--stagenet");
                }
            }
            let mut process = Process::spawn(
                COMPONENT,
                command,
                &dir.path().join("wallet-rpc.stdout.log"),
                &[log_file],
            )?;
            let url = format!("http://127.0.0.1:{rpc_port}");
            let ready = process
                .wait_ready(START_TIMEOUT, || {
                    let url = url.clone();
                    let with_login = login.is_some();
                    async move {
                        if with_login {
                            asks_for_digest_login(&url).await
                        } else {
                            super::json_rpc(
                                COMPONENT,
                                &url,
                                "get_version",
                                serde_json::json!({}),
                                Duration::from_secs(2),
                            )
                            .await
                            .is_ok()
                        }
                    }
                })
                .await;
            match ready {
                Ok(()) => {
                    return Ok(WalletRpc {
                        process,
                        rpc_port,
                        dir,
                    });
                }
                Err(e) if attempt < 3 && e.is_port_clash() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// The RPC port.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The temp dir (wallet files under `wallets/`, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// A JSON-RPC call (`/json_rpc`); returns the `result` object.
    pub async fn json_rpc(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, DevnetError> {
        super::json_rpc(COMPONENT, &self.rpc_url(), method, params, RPC_TIMEOUT).await
    }

    /// Creates a new wallet file `name` (empty password, English seed) and opens it.
    pub async fn create_wallet(&self, name: &str) -> Result<(), DevnetError> {
        self.json_rpc(
            "create_wallet",
            serde_json::json!({"filename": name, "password": "", "language": "English"}),
        )
        .await
        .map(|_| ())
    }

    /// Opens an existing wallet file `name` (empty password).
    pub async fn open_wallet(&self, name: &str) -> Result<(), DevnetError> {
        self.json_rpc(
            "open_wallet",
            serde_json::json!({"filename": name, "password": ""}),
        )
        .await
        .map(|_| ())
    }

    /// Opens the wallet file `name` if an earlier run made it, else creates it; returns
    /// whether it was created.
    pub async fn open_or_create_wallet(&self, name: &str) -> Result<bool, DevnetError> {
        if self.dir.path().join("wallets").join(name).is_file() {
            self.open_wallet(name).await.map(|()| false)
        } else {
            self.create_wallet(name).await.map(|()| true)
        }
    }

    /// The primary address of the open wallet.
    pub async fn address(&self) -> Result<String, DevnetError> {
        let result = self
            .json_rpc("get_address", serde_json::json!({"account_index": 0}))
            .await?;
        result
            .get("address")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.bad("get_address", format!("no address in {result}")))
    }

    /// Scans new blocks now (instead of waiting for the wallet's auto-refresh).
    pub async fn refresh(&self) -> Result<(), DevnetError> {
        self.json_rpc("refresh", serde_json::json!({}))
            .await
            .map(|_| ())
    }

    /// Balance of account 0 (call [`WalletRpc::refresh`] first to see the newest blocks).
    pub async fn balance(&self) -> Result<WalletBalance, DevnetError> {
        let result = self
            .json_rpc("get_balance", serde_json::json!({"account_index": 0}))
            .await?;
        let field = |name: &str| {
            result
                .get(name)
                .and_then(serde_json::Value::as_u64)
                .map(Atomic)
                .ok_or_else(|| self.bad("get_balance", format!("no {name} in {result}")))
        };
        Ok(WalletBalance {
            balance: field("balance")?,
            unlocked: field("unlocked_balance")?,
        })
    }

    /// Stops the process gracefully (SIGTERM: wallet-rpc stores the open wallet), killing it
    /// after 20 s. Only for a kept directory does this matter; drop kills at once.
    pub async fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(20)).await;
    }

    /// The last lines of the process's logs (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    fn bad(&self, method: &str, detail: String) -> DevnetError {
        DevnetError::Rpc {
            component: COMPONENT,
            method: method.into(),
            detail,
        }
    }
}

/// Whether `base_url` answers an unauthenticated `get_version` with `401` and a digest
/// challenge: a wallet-rpc started with `--rpc-login` is up.
async fn asks_for_digest_login(base_url: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    let body = serde_json::json!({"jsonrpc": "2.0", "id": "0", "method": "get_version"});
    match client
        .post(format!("{base_url}/json_rpc"))
        .json(&body)
        .send()
        .await
    {
        Ok(response) => {
            response.status() == reqwest::StatusCode::UNAUTHORIZED
                && response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|value| value.trim_start().starts_with("Digest"))
        }
        Err(_) => false,
    }
}
