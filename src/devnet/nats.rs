//! A throwaway NATS server with JetStream: `nats-server -js -sd DIR -a 127.0.0.1 -p PORT` in a
//! temp dir, for the feed and ingest tests and the feed bench.
//!
//! Owns the server process and its store dir. Tests drive the failures the feed must survive
//! through it: [`Nats::restart`] (stop, then start again on the same port and store, as a
//! service restart does), [`Nats::pause`] / [`Nats::resume`] (SIGSTOP / SIGCONT: a server that
//! is cut off without closing its connections). It never touches the system server on :4222
//! and knows nothing of streams or subjects: the code under test creates those.

use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::process::Process;
use super::{DevnetError, free_port};

const COMPONENT: &str = "nats-server";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running nats-server; killed and its store dir deleted on drop.
#[derive(Debug)]
pub struct Nats {
    // Declared first so it is dropped (killed) before the directory is removed.
    process: Process,
    port: u16,
    dir: TempDir,
}

impl Nats {
    /// Starts a server with JetStream and waits until it accepts connections.
    pub async fn start() -> Result<Nats, DevnetError> {
        let dir = super::component_dir("nats")?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port().map_err(DevnetError::io("pick a free port"))?;
            match spawn(&dir, port).await {
                Ok(process) => return Ok(Nats { process, port, dir }),
                Err(e) if attempt < 3 && e.is_port_clash() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and starts it again on the same
    /// port with the same JetStream store, as `systemctl restart nats-server` does.
    pub async fn restart(&mut self) -> Result<(), DevnetError> {
        self.process.terminate(Duration::from_secs(5)).await;
        self.process = spawn(&self.dir, self.port).await?;
        Ok(())
    }

    /// Freezes the server (SIGSTOP): its sockets stay open but nothing answers.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(pid) = self.pid().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: kill only sends a signal, to our own unreaped child (the `Process` holds
            // it), so the pid cannot have been reused.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// The last lines of the server's log (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// A `config.toml` for a host that runs only `ingest` (and feed sinks) against `nats_url`,
/// with LMDB in `dir/lmdb` (`map_size_mb` MiB to start) and spools under `dir`: MySQL, the
/// daemon and the wallet are never reached. `extra_feed` adds `[feed]` keys.
pub fn ingest_config_toml(
    dir: &std::path::Path,
    nats_url: &str,
    map_size_mb: usize,
    extra_feed: &str,
) -> Result<String, DevnetError> {
    Ok(format!(
        r#"
[mysql]
url = "mysql://unused:unused@127.0.0.1:1/unused"
[lmdb]
path = "{}"
map_size_mb = {map_size_mb}
[daemon]
urls = ["http://127.0.0.1:1"]
[wallet]
url = "http://127.0.0.1:1"
[pool]
pool_id = 1
[api]
bind = "127.0.0.1:{}"
[feed]
nats_url = "{nats_url}"
spool_dir = "{}"
{extra_feed}
"#,
        dir.join("lmdb").display(),
        free_port().map_err(DevnetError::io("pick a free port"))?,
        dir.join("spool").display(),
    ))
}

async fn spawn(dir: &TempDir, port: u16) -> Result<Process, DevnetError> {
    let mut command = Command::new("nats-server");
    command
        .args(["-js", "-sd"])
        .arg(dir.path().join("jetstream"))
        .args(["-a", "127.0.0.1", "-p"])
        .arg(port.to_string());
    let mut process = Process::spawn(COMPONENT, command, &dir.path().join("nats.log"), &[])?;
    process
        .wait_ready(START_TIMEOUT, || super::greets(port, b"INFO"))
        .await
        .map(|()| process)
}
