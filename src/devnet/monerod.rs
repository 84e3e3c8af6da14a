//! A throwaway regtest monerod: `monerod --regtest --offline --fixed-difficulty N` on free
//! loopback ports, with its chain in a temp dir.
//!
//! Owns the daemon process, mining with `generateblocks` (design.md §2: light-mode RandomX on
//! one core; difficulty 1 makes ~10 blocks/s, difficulty 1000 about one block per half
//! minute), stopping and restarting it on the same port for failover tests, and raw JSON-RPC
//! for anything else a test needs. A regtest chain does not survive a restart, except for a
//! daemon started in a kept directory ([`Monerod::start_in`], `--keep-fakechain`): the sandbox
//! pre-mines at difficulty 1 and goes on at its own difficulty with
//! [`Monerod::restart_with`]. A daemon can be started with `--block-notify`
//! ([`Monerod::start_with_block_notify`]).
//!
//! It does not parse templates or blocks (that is `crate::monero`); answers stay JSON.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use super::process::Process;
use super::{DevnetError, Home, free_port};
use crate::domain::{Hash32, Height};

const COMPONENT: &str = "monerod";
const START_TIMEOUT: Duration = Duration::from_secs(90);
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

static SHARED: tokio::sync::Mutex<Option<Arc<Monerod>>> = tokio::sync::Mutex::const_new(None);

/// How to start a regtest daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonerodOptions {
    /// `--fixed-difficulty`: 1 accepts every nonce (every share is a block); use e.g. 1000
    /// where shares and blocks must differ.
    pub fixed_difficulty: u64,
}

impl Default for MonerodOptions {
    fn default() -> Self {
        MonerodOptions {
            fixed_difficulty: 1,
        }
    }
}

/// What `generateblocks` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedBlocks {
    /// The ids of the mined blocks, oldest first.
    pub blocks: Vec<Hash32>,
    /// The `height` field of the answer: the height of the last mined block.
    pub height: Height,
}

/// A running regtest monerod; killed and its data dir deleted on drop.
#[derive(Debug)]
pub struct Monerod {
    // Declared first so it is dropped (killed) before the directory is removed.
    process: Option<Process>,
    options: MonerodOptions,
    /// `--block-notify` command, kept across restarts.
    block_notify: Option<String>,
    rpc_port: u16,
    p2p_port: u16,
    /// `--keep-fakechain`: the chain in `dir` survives restarts (and is reused at start).
    keep_chain: bool,
    dir: Home,
}

impl Monerod {
    /// Starts a fresh regtest daemon (a few seconds) and waits until `get_info` answers.
    pub async fn start(options: MonerodOptions) -> Result<Monerod, DevnetError> {
        Monerod::start_inner(options, None, Home::temp("monerod")?, false).await
    }

    /// Starts a daemon whose chain and logs live in `dir`, which is kept on drop. The chain
    /// there (an earlier start in `dir`) is continued, and survives [`Monerod::restart_with`].
    /// `block_notify` as in [`Monerod::start_with_block_notify`].
    pub async fn start_in(
        dir: &Path,
        options: MonerodOptions,
        block_notify: Option<&str>,
    ) -> Result<Monerod, DevnetError> {
        let notify = block_notify.map(str::to_owned);
        Monerod::start_inner(options, notify, Home::kept(dir)?, true).await
    }

    /// Starts a daemon that runs `command` for every block it adds to its chain
    /// (`--block-notify`; `%s` becomes the block id). monerod splits `command` on whitespace
    /// and runs it without a shell: the program must be an absolute path without spaces.
    pub async fn start_with_block_notify(
        options: MonerodOptions,
        command: &str,
    ) -> Result<Monerod, DevnetError> {
        let dir = Home::temp("monerod")?;
        Monerod::start_inner(options, Some(command.to_owned()), dir, false).await
    }

    async fn start_inner(
        options: MonerodOptions,
        block_notify: Option<String>,
        mut dir: Home,
        keep_chain: bool,
    ) -> Result<Monerod, DevnetError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let rpc_port = free_port().map_err(DevnetError::io("pick a free port"))?;
            let p2p_port = free_port().map_err(DevnetError::io("pick a free port"))?;
            let mut daemon = Monerod {
                process: None,
                options,
                block_notify: block_notify.clone(),
                rpc_port,
                p2p_port,
                keep_chain,
                dir,
            };
            match daemon.launch().await {
                Ok(()) => return Ok(daemon),
                Err(e) if attempt < 3 && e.is_port_clash() => dir = daemon.into_dir(),
                Err(e) => return Err(e),
            }
        }
    }

    /// The difficulty-1 daemon shared by every test of this test binary, started on first use
    /// and stopped when the binary exits. Tests that stop, restart or need a quiet chain should
    /// start their own.
    pub async fn shared() -> Result<Arc<Monerod>, DevnetError> {
        let mut guard = SHARED.lock().await;
        if let Some(daemon) = guard.as_ref() {
            return Ok(Arc::clone(daemon));
        }
        let daemon = Arc::new(Monerod::start(MonerodOptions::default()).await?);
        *guard = Some(Arc::clone(&daemon));
        super::stop_shared_at_exit();
        Ok(daemon)
    }

    /// Drops the shared instance (called at process exit).
    pub(crate) fn release_shared() {
        if let Ok(mut guard) = SHARED.try_lock() {
            guard.take();
        }
    }

    /// Gives the temp dir back after a failed launch (to retry on other ports).
    fn into_dir(self) -> Home {
        self.dir
    }

    async fn launch(&mut self) -> Result<(), DevnetError> {
        let data_dir = self.dir.path().join("data");
        let log_file = self.dir.path().join("monerod.log");
        let mut command = Command::new("monerod");
        command
            .arg("--regtest")
            .arg("--offline")
            .arg("--fixed-difficulty")
            .arg(self.options.fixed_difficulty.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--log-file")
            .arg(&log_file)
            .arg("--log-level")
            .arg("0")
            .arg("--rpc-bind-ip")
            .arg("127.0.0.1")
            .arg("--rpc-bind-port")
            .arg(self.rpc_port.to_string())
            .arg("--p2p-bind-ip")
            .arg("127.0.0.1")
            .arg("--p2p-bind-port")
            .arg(self.p2p_port.to_string())
            .arg("--no-zmq")
            .arg("--no-igd")
            .arg("--non-interactive")
            .arg("--disable-rpc-ban")
            // Its default (autodetect) makes a self-signed RSA certificate at every start,
            // seconds to tens of seconds on a loaded machine; clients here speak plain HTTP.
            .arg("--rpc-ssl")
            .arg("disabled")
            .arg("--max-concurrency")
            .arg("1");
        if self.keep_chain {
            command.arg("--keep-fakechain");
        }
        if let Some(notify) = &self.block_notify {
            command.arg("--block-notify").arg(notify);
        }
        let mut process = Process::spawn(
            COMPONENT,
            command,
            &self.dir.path().join("monerod.stdout.log"),
            &[log_file],
        )?;
        let url = self.rpc_url();
        process
            .wait_ready(START_TIMEOUT, || {
                let url = url.clone();
                async move {
                    super::json_rpc(
                        COMPONENT,
                        &url,
                        "get_info",
                        serde_json::json!({}),
                        Duration::from_secs(2),
                    )
                    .await
                    .is_ok()
                }
            })
            .await?;
        self.process = Some(process);
        Ok(())
    }

    /// `http://127.0.0.1:PORT` (the daemon's RPC, unrestricted).
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// The RPC port; `host:port` for wallet-rpc's `--daemon-address`.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The options this daemon was started with.
    pub fn options(&self) -> MonerodOptions {
        self.options
    }

    /// The daemon's temp dir (chain data and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// Whether the daemon process is running (not stopped, not exited).
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut() {
            Some(process) => process.try_exited().is_none() && process.pid().is_some(),
            None => false,
        }
    }

    /// A JSON-RPC call (`/json_rpc`); returns the `result` object.
    pub async fn json_rpc(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, DevnetError> {
        super::json_rpc(COMPONENT, &self.rpc_url(), method, params, RPC_TIMEOUT).await
    }

    /// Mines `count` blocks paying `address` (any mainnet-prefix address on regtest).
    pub async fn generate_blocks(
        &self,
        count: u64,
        address: &str,
    ) -> Result<GeneratedBlocks, DevnetError> {
        let method = "generateblocks";
        let bad = |detail: String| DevnetError::Rpc {
            component: COMPONENT,
            method: method.into(),
            detail,
        };
        // Real hashing: allow for a slow (high fixed difficulty) daemon.
        let timeout = Duration::from_secs(60 + 60 * count.min(1000));
        let result = super::json_rpc(
            COMPONENT,
            &self.rpc_url(),
            method,
            serde_json::json!({"amount_of_blocks": count, "wallet_address": address}),
            timeout,
        )
        .await?;
        let height = result
            .get("height")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad(format!("no height in {result}")))?;
        let blocks = result
            .get("blocks")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| bad(format!("no blocks in {result}")))?
            .iter()
            .map(|b| {
                b.as_str()
                    .and_then(|s| s.parse::<Hash32>().ok())
                    .ok_or_else(|| bad(format!("bad block id {b}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GeneratedBlocks {
            blocks,
            height: Height(height),
        })
    }

    /// The chain height as `get_info` reports it: the number of blocks, i.e. the height the
    /// next block will have.
    pub async fn height(&self) -> Result<Height, DevnetError> {
        let info = self.json_rpc("get_info", serde_json::json!({})).await?;
        info.get("height")
            .and_then(serde_json::Value::as_u64)
            .map(Height)
            .ok_or_else(|| DevnetError::Rpc {
                component: COMPONENT,
                method: "get_info".into(),
                detail: format!("no height in {info}"),
            })
    }

    /// Stops the daemon gracefully (SIGTERM, then SIGKILL after 20 s). Its ports stay
    /// reserved for [`Monerod::restart`]; clients see connection refused meanwhile.
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(20)).await;
        }
    }

    /// Kills the daemon at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the daemon again on the same RPC port (stopping it first if it runs). Regtest
    /// starts a fresh chain from genesis, except in a daemon started with
    /// [`Monerod::start_in`], which continues its chain.
    pub async fn restart(&mut self) -> Result<(), DevnetError> {
        self.restart_with(self.options).await
    }

    /// Sets (or clears) the `--block-notify` command used from the next (re)start on.
    pub fn set_block_notify(&mut self, command: Option<&str>) {
        self.block_notify = command.map(str::to_owned);
    }

    /// [`Monerod::restart`] with other options (a new fixed difficulty).
    pub async fn restart_with(&mut self, options: MonerodOptions) -> Result<(), DevnetError> {
        self.stop().await;
        let data_dir = self.dir.path().join("data");
        if !self.keep_chain && data_dir.exists() {
            std::fs::remove_dir_all(&data_dir).map_err(DevnetError::io("clear monerod data"))?;
        }
        self.options = options;
        self.launch().await
    }

    /// The last lines of the daemon's logs (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process
            .as_ref()
            .map(Process::log_tail)
            .unwrap_or_else(|| super::log_tail(&self.dir.path().join("monerod.log"), 40))
    }
}
