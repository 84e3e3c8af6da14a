//! Child processes that cannot outlive their test.
//!
//! Owns spawning (each child in its own process group, with `PR_SET_PDEATHSIG = SIGKILL`),
//! waiting for readiness while watching for an early exit, and killing the whole group and
//! reaping it on drop. Every child is forked by one dedicated thread that lives as long as the
//! process: the death signal fires when the *forking thread* exits, and a test's own thread
//! ends with the test while a shared daemon must live on.
//!
//! It must not interpret the component's protocol; callers pass a readiness probe.

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use super::{DevnetError, log_tail};

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("devnet-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    // If the caller is gone, nobody owns the child: a std Child does not kill
                    // on drop, so kill and reap it here.
                    if let Err(mpsc::SendError(Ok(mut child))) = reply.send(command.spawn()) {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                }
            })
            .expect("spawn the devnet spawner thread");
        Mutex::new(tx)
    })
}

/// A running component process, killed with its whole process group on drop.
#[derive(Debug)]
pub struct Process {
    component: &'static str,
    child: Option<Child>,
    logs: Vec<PathBuf>,
}

impl Process {
    /// Starts `command` with stdout and stderr appended to `stdio_log`. `extra_logs` are other
    /// files the component writes (its own log file), quoted in start-up errors.
    pub fn spawn(
        component: &'static str,
        mut command: Command,
        stdio_log: &Path,
        extra_logs: &[PathBuf],
    ) -> Result<Process, DevnetError> {
        let program = command.get_program().to_string_lossy().into_owned();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(stdio_log)
            .map_err(DevnetError::io(format!("open {}", stdio_log.display())))?;
        let log_err = log
            .try_clone()
            .map_err(DevnetError::io("clone log handle"))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0);
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (prctl, getppid, _exit); it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl: then nobody will reap us.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let (reply_tx, reply_rx) = mpsc::channel();
        spawner()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((command, reply_tx))
            .map_err(|_| DevnetError::Setup {
                component,
                step: "spawn",
                detail: "the devnet spawner thread is gone".into(),
            })?;
        let child = reply_rx
            .recv()
            .map_err(|_| DevnetError::Setup {
                component,
                step: "spawn",
                detail: "the devnet spawner thread did not answer".into(),
            })?
            .map_err(|source| DevnetError::Spawn { program, source })?;
        let mut logs = vec![stdio_log.to_path_buf()];
        logs.extend_from_slice(extra_logs);
        Ok(Process {
            component,
            child: Some(child),
            logs,
        })
    }

    /// The child's pid (also its process group id), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The exit status if the process has already exited (and is reaped now).
    pub fn try_exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            Ok(None) | Err(_) => None,
        }
    }

    /// The last lines of every log of this component.
    pub fn log_tail(&self) -> String {
        self.logs
            .iter()
            .map(|path| format!("--- {} ---\n{}", path.display(), log_tail(path, 40)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Polls `probe` until it returns true, failing early (with the log tail) if the process
    /// exits, or after `timeout`.
    pub async fn wait_ready<F, Fut>(
        &mut self,
        timeout: Duration,
        mut probe: F,
    ) -> Result<(), DevnetError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            if let Some(status) = self.try_exited() {
                return Err(DevnetError::Exited {
                    component: self.component,
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            if probe().await {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(DevnetError::NotReady {
                    component: self.component,
                    waited: timeout,
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Sends `signal` to the whole process group.
    fn signal_group(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
                return;
            };
            // SAFETY: killpg only sends a signal; the group id is our own child's pid, which is
            // still unreaped (we hold the Child), so it cannot have been reused.
            unsafe {
                libc::killpg(pgid, signal);
            }
        }
    }

    /// Kills the process group at once (SIGKILL) and reaps the child.
    pub fn kill(&mut self) {
        self.signal_group(libc::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Asks the process group to stop (SIGTERM), waits up to `grace`, then kills it.
    pub async fn terminate(&mut self, grace: Duration) {
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.is_none() || self.try_exited().is_some() {
                // The leader is gone; kill any stragglers of its group too.
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

impl DevnetError {
    /// Whether a start failed because another process took one of our ports first.
    pub(crate) fn is_port_clash(&self) -> bool {
        match self {
            DevnetError::Exited { log, .. } | DevnetError::NotReady { log, .. } => {
                let log = log.to_ascii_lowercase();
                log.contains("address already in use")
                    || log.contains("errno: 98")
                    || log.contains("failed to bind")
                    || log.contains("do you already have a server running")
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[tokio::test]
    async fn start_failure_reports_exit_status_and_log_tail() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("out.log");
        let mut process = Process::spawn(
            "fake",
            shell("echo first line; echo 'bind: Address already in use' >&2; exit 3"),
            &log,
            &[],
        )
        .expect("spawn");
        let error = process
            .wait_ready(Duration::from_secs(10), || async { false })
            .await
            .expect_err("the process exits");
        let text = error.to_string();
        assert!(matches!(error, DevnetError::Exited { .. }), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("Address already in use"), "{text}");
        assert!(error.is_port_clash());
    }

    #[tokio::test]
    async fn slow_start_times_out_with_log_tail_and_is_killed_on_drop() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("out.log");
        let mut process = Process::spawn(
            "fake",
            shell("echo still booting; exec sleep 60"),
            &log,
            &[],
        )
        .expect("spawn");
        let pid = process.pid().expect("pid");
        let error = process
            .wait_ready(Duration::from_millis(300), || async { false })
            .await
            .expect_err("never ready");
        assert!(matches!(error, DevnetError::NotReady { .. }), "{error}");
        assert!(error.to_string().contains("still booting"), "{error}");
        assert!(!error.is_port_clash());
        drop(process);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "killed and reaped on drop"
        );
    }

    #[tokio::test]
    async fn drop_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("out.log");
        // The shell forks a grandchild; killing only the shell would orphan it.
        let pid_file = dir.path().join("grandchild.pid");
        let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
        let mut process = Process::spawn("fake", shell(&script), &log, &[]).expect("spawn");
        process
            // The redirection creates the file before `echo` writes to it: wait for the line.
            .wait_ready(Duration::from_secs(10), || async {
                std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
            })
            .await
            .expect("grandchild started");
        let grandchild: u32 = std::fs::read_to_string(&pid_file)
            .expect("pid")
            .trim()
            .parse()
            .expect("number");
        drop(process);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{grandchild}")).exists()
            && !std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .unwrap_or_default()
                .contains(") Z")
        {
            assert!(
                Instant::now() < deadline,
                "grandchild {grandchild} survived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn missing_program_is_a_spawn_error_naming_it() {
        let dir = tempfile::tempdir().expect("dir");
        let error = Process::spawn(
            "fake",
            Command::new("rxpool-no-such-program"),
            &dir.path().join("out.log"),
            &[],
        )
        .expect_err("not installed");
        assert!(
            matches!(&error, DevnetError::Spawn { program, .. } if program == "rxpool-no-such-program"),
            "{error}"
        );
    }
}
