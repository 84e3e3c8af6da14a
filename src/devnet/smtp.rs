//! A throwaway SMTP server that keeps every message it receives: `python3 -m aiosmtpd -n -l
//! 127.0.0.1:PORT` with a small handler that writes each message (envelope and raw data) as a
//! JSON file into a temp dir, which tests read with [`Smtp::messages`].
//!
//! It accepts anything (no TLS, no AUTH) and never relays. The mailer's own behaviour (retry,
//! de-bounce, templates) is tested by the worker against this server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tempfile::TempDir;

use super::process::Process;
use super::{DevnetError, free_port};

const COMPONENT: &str = "aiosmtpd";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The handler aiosmtpd loads (`-c rxpool_devnet_sink.Sink DIR`). Each message is written to a
/// temp name and renamed, so a reader never sees half a message.
const SINK_PY: &str = r#"
import itertools, json, os

class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        content = envelope.original_content or envelope.content
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        record = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos), "data": content}
        tmp = os.path.join(self.directory, ".%08d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, "%08d.json" % n))
        return "250 Message accepted for delivery"
"#;

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_tos: Vec<String>,
    /// The raw message: headers, blank line, body (as sent, dot-unstuffed).
    pub data: String,
}

/// A running SMTP sink; killed and its mail dir deleted on drop.
#[derive(Debug)]
pub struct Smtp {
    // Declared first so it is dropped (killed) before the directory is removed.
    process: Process,
    port: u16,
    dir: TempDir,
}

impl Smtp {
    /// Starts the server and waits for its `220` greeting.
    pub async fn start() -> Result<Smtp, DevnetError> {
        let dir = super::component_dir("smtp")?;
        std::fs::write(dir.path().join("rxpool_devnet_sink.py"), SINK_PY)
            .map_err(DevnetError::io("write SMTP handler"))?;
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).map_err(DevnetError::io("create mail dir"))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port().map_err(DevnetError::io("pick a free port"))?;
            let mut command = Command::new("python3");
            command
                .env("PYTHONPATH", dir.path())
                .env("PYTHONUNBUFFERED", "1")
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["-c", "rxpool_devnet_sink.Sink"])
                .arg(&mail);
            let mut process =
                Process::spawn(COMPONENT, command, &dir.path().join("smtp.log"), &[])?;
            let ready = process
                .wait_ready(START_TIMEOUT, || super::greets(port, b"220"))
                .await;
            match ready {
                Ok(()) => return Ok(Smtp { process, port, dir }),
                Err(e) if attempt < 3 && e.is_port_clash() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The port (127.0.0.1, plain SMTP, no AUTH).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The temp dir (handler, `mail/`, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Result<Vec<ReceivedMail>, DevnetError> {
        let mail = self.dir.path().join("mail");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&mail)
            .map_err(DevnetError::io("read mail dir"))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let text = std::fs::read(path)
                    .map_err(DevnetError::io(format!("read {}", path.display())))?;
                serde_json::from_slice(&text).map_err(|e| DevnetError::Setup {
                    component: COMPONENT,
                    step: "read received message",
                    detail: format!("{}: {e}", path.display()),
                })
            })
            .collect()
    }

    /// Waits until at least `count` messages have arrived, then returns them all; fails with
    /// the messages seen so far after `timeout`.
    pub async fn wait_for_messages(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMail>, DevnetError> {
        let started = Instant::now();
        loop {
            let messages = self.messages()?;
            if messages.len() >= count {
                return Ok(messages);
            }
            if started.elapsed() > timeout {
                return Err(DevnetError::NotReady {
                    component: COMPONENT,
                    waited: timeout,
                    log: format!(
                        "expected {count} messages, got {}; server log:\n{}",
                        messages.len(),
                        self.process.log_tail()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of the server's log (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}
