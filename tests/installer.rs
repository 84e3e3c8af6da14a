//! `./install.sh` (install mode) as an operator runs it, against a throwaway root on this host,
//! which has no systemd as PID 1: a private MariaDB (its root account over its socket as the
//! MySQL administrator), the built binary instead of a cargo build, and the caller as every
//! service user. The installer runs twice and must change nothing the second time; then the
//! operator's edits (daemon and wallet URLs, light RandomX) and a third run keep the config;
//! the shared settings and ports are set with `rxpool admin`, and `rxpool all` started from
//! the installed config serves a stratum login.
//!
//! `./install.sh central` (the same plus nats-server with a password per pool host) and
//! `./install.sh pool-host` fed with what the central install printed, each twice, in their own
//! throwaway roots: the NATS conf passes `nats-server -t`, the pool host's `[feed]` parses and
//! its config reaches the central MariaDB. No nats-server or pool is started there.
//!
//! Also: `./install.sh check-monerod` against small fake `monerod` scripts that only print a
//! version, and the opt-in release download against a local signed hashes.txt.

#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "only connect_when_open is used")]
mod pool_db;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "only the line client is used")]
mod stratum;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rxpool::devnet::{MariaDb, Monerod, WalletRpc, free_port};
use rxpool::domain::Network;
use serde_json::json;

const INSTALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh");
const RXPOOL: &str = env!("CARGO_BIN_EXE_rxpool");

/// The throwaway root every path of the install points into.
struct Root {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        Root { _dir: dir, path }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    fn etc(&self) -> PathBuf {
        self.at("etc/rxpool")
    }

    fn config(&self) -> PathBuf {
        self.etc().join("config.toml")
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.at(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

fn me() -> String {
    stdout(&Command::new("id").arg("-un").output().unwrap())
        .trim()
        .to_owned()
}

fn host_name() -> String {
    let out = Command::new("sh")
        .args(["-c", "hostname -f 2>/dev/null || hostname"])
        .output()
        .unwrap();
    stdout(&out).trim().to_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `install.sh ARGS` with the throwaway root's paths and `extra` variables.
fn install_sh(root: &Root, args: &[&str], extra: &[(&str, String)]) -> Output {
    let user = me();
    let mut command = Command::new("bash");
    command.arg(INSTALL).args(args).stdin(Stdio::null());
    for (key, rel) in [
        ("PREFIX", "usr/local"),
        ("RXPOOL_ETC", "etc/rxpool"),
        ("RXPOOL_STATE", "var/lib/rxpool"),
        ("SYSTEMD_DIR", "etc/systemd/system"),
        ("MONERO_STATE", "var/lib/monero"),
        ("MONERO_WALLET_STATE", "var/lib/monero-wallet"),
        ("MONERO_WALLET_ETC", "etc/monero-wallet"),
        ("NATS_ETC", "etc/nats-server"),
        ("NATS_STATE", "var/lib/nats"),
    ] {
        command.env(key, root.at(rel));
    }
    for key in [
        "RXPOOL_USER",
        "MONERO_USER",
        "MONERO_WALLET_USER",
        "NATS_USER",
    ] {
        command.env(key, &user);
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    command.output().expect("bash runs install.sh")
}

/// Install mode against `maria`, with the built binary; must succeed.
fn install(root: &Root, maria: &MariaDb) -> Output {
    install_as(root, maria, &[], &[])
}

/// `install.sh ARGS` (install or central mode) against `maria` with the built binary and
/// `extra` variables; must succeed.
fn install_as(root: &Root, maria: &MariaDb, args: &[&str], extra: &[(&str, String)]) -> Output {
    let mut vars = vec![
        ("RXPOOL_BIN", RXPOOL.to_owned()),
        (
            "RXPOOL_MYSQL_ADMIN",
            format!(
                "mariadb --no-defaults --socket={} -uroot",
                maria.dir().join("mysqld.sock").display()
            ),
        ),
        ("RXPOOL_DB_PORT", maria.port().to_string()),
    ];
    vars.extend(extra.iter().cloned());
    let started = Instant::now();
    let out = succeeded(install_sh(root, args, &vars));
    eprintln!("install.sh {args:?} took {:?}", started.elapsed());
    out
}

/// `out` of a run that must have succeeded.
fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "install.sh failed ({:?}):\n{}\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Every entry of the installed tree with its type, mode, owner and size, and every file's
/// modification time and SHA-256: what "re-running changes nothing" compares.
fn listing(root: &Root) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            "find . -printf '%p %y %m %u:%g %s\\n' | sort && \
             find . -type f -printf '%p %T@\\n' | sort && \
             find . -type f -exec sha256sum {} + | sort -k2",
        )
        .current_dir(&root.path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// `rxpool --config CONFIG ARGS`; must succeed. Returns stdout.
fn rxpool(config: &Path, args: &[&str]) -> String {
    let out = Command::new(RXPOOL)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rxpool {args:?}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Sets `key = value` in `[section]` of a config.toml text, as an operator's editor would.
fn set_key(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut current = String::new();
    let mut done = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                current = line.trim().to_owned();
            }
            let is_key = line
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == key && !k.trim_start().starts_with('#'));
            if !done && current == format!("[{section}]") && is_key {
                done = true;
                format!("{key} = {value}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert!(done, "no {key} in [{section}]");
    lines.join("\n") + "\n"
}

/// The numbered items of the installer's closing list, in order ("1. ...").
fn numbered_steps(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|line| {
            let (n, rest) = line.split_once(". ")?;
            Some((n.parse().ok()?, rest.to_owned()))
        })
        .collect()
}

/// The closing list of `text`, numbered 1, 2, ... without a gap, with a step starting with
/// each of `titles`, in that order.
fn steps_in_order(text: &str, titles: &[&str]) -> Vec<(u32, String)> {
    let steps = numbered_steps(text);
    let numbers: Vec<u32> = steps.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
    let mut at = 0;
    for title in titles {
        let found = steps[at..]
            .iter()
            .position(|(_, text)| text.starts_with(title))
            .unwrap_or_else(|| panic!("no step {title:?} after step {at}: {steps:?}"));
        at += found + 1;
    }
    steps
}

/// A child process killed if the test ends before it is stopped.
struct Role(Child);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_twice_changes_nothing_and_the_installed_pool_serves_a_miner() {
    let started = Instant::now();
    let maria = MariaDb::shared().await.unwrap();
    let daemon = Monerod::shared().await.unwrap();
    let wallet = WalletRpc::start(&daemon, Network::Mainnet).await.unwrap();
    wallet.create_wallet("pool").await.unwrap();
    let pool_address = wallet.address().await.unwrap();
    let root = Root::new();
    let prefix = root.at("usr/local");
    let etc = root.etc();

    let first = install(&root, &maria);
    let listed = listing(&root);
    let password = root.read("etc/rxpool/mysql-password");
    let second = install(&root, &maria);
    assert_eq!(listing(&root), listed, "the second run changed the tree");
    assert_eq!(root.read("etc/rxpool/mysql-password"), password);
    let out = stdout(&second);
    assert!(out.contains("keeping"), "{out}");
    assert!(
        !out.contains("installed /"),
        "second run wrote a file:\n{out}"
    );

    // The installed config: this host's values, no copy instruction, TLS where it was made.
    let config = std::fs::read_to_string(root.config()).unwrap();
    assert!(!config.contains("copy it there"), "{config}");
    assert!(!config.contains("Copy to"), "{config}");
    assert!(
        config.contains(&format!("hostname = \"{}\"\n", host_name())),
        "{config}"
    );
    let cert = etc.join("tls/cert.pem");
    assert!(cert.is_file() && etc.join("tls/key.pem").is_file());
    assert!(
        config.contains(&format!("[tls]\ncert = \"{}\"\n", cert.display())),
        "{config}"
    );
    assert!(config.contains(&format!(
        "url = \"mysql://rxpool:{}@127.0.0.1:{}/rxpool\"",
        password.trim(),
        maria.port()
    )));
    assert!(root.at("etc/monero-wallet/password").is_file());
    let readme = prefix.join("share/doc/rxpool/README.md");
    assert!(readme.is_file());

    // Units: every Documentation= file exists and every rxpool ExecStart runs the installed
    // binary with the installed config.
    let units = root.at("etc/systemd/system");
    let mut unit_count = 0;
    for entry in std::fs::read_dir(&units).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        unit_count += 1;
        for line in text.lines() {
            if let Some(docs) = line.strip_prefix("Documentation=") {
                for doc in docs.split_whitespace() {
                    let file = doc.strip_prefix("file://").expect("a file:// link");
                    assert!(Path::new(file).is_file(), "{}: {doc}", path.display());
                }
            }
        }
        if path.to_string_lossy().contains("rxpool-") {
            assert!(
                text.contains(&format!(
                    "ExecStart={} --config {}",
                    prefix.join("bin/rxpool").display(),
                    root.config().display()
                )),
                "{text}"
            );
        }
        // No default path is left: each one points into the root.
        let relocated = text
            .replace(&prefix.display().to_string(), "PREFIX")
            .replace(&etc.display().to_string(), "ETC");
        assert!(!relocated.contains("/usr/local"), "{}", path.display());
        assert!(!relocated.contains("/etc/rxpool"), "{}", path.display());
    }
    // Units only: deployment/ also ships nats-server.conf, which is not a unit.
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/deployment"))
        .unwrap()
        .filter(|e| {
            let path = e.as_ref().unwrap().path();
            path.extension()
                .is_some_and(|ext| ext == "service" || ext == "target")
        })
        .count();
    assert_eq!(
        unit_count, shipped,
        "every unit of deployment/ is installed"
    );

    // Without systemd: what was not enabled, how to start the roles instead, and the numbered
    // list of what is left, in order, with the real paths and the seeded ports.
    let said = format!("{}{}", stdout(&first), stderr(&first));
    assert!(said.contains("systemd is not running as PID 1"), "{said}");
    assert!(said.contains("none was enabled or started"), "{said}");
    let rx = format!(
        "{} --config {}",
        prefix.join("bin/rxpool").display(),
        root.config().display()
    );
    assert!(
        said.contains(&format!("env RUST_LOG=info {rx} all")),
        "{said}"
    );
    let steps = steps_in_order(
        &stdout(&first),
        &[
            "Start monerod",
            "Create the pool wallet",
            "Start monero-wallet-rpc",
            "Choose the fee address",
            "Set the shared settings",
            "Check ",
            "Stratum ports",
            "Start the pool",
            "The dashboard",
        ],
    );
    for needle in [
        "3333 (difficulty",
        "5555 (5000",
        "7777 (10000",
        &format!("{rx} admin port add PORT"),
        &format!("{rx} admin config set pool.address"),
        &format!(
            "--generate-new-wallet {}",
            root.at("var/lib/monero-wallet/pool").display()
        ),
        &format!(
            "--password-file {}",
            root.at("etc/monero-wallet/password").display()
        ),
    ] {
        assert!(said.contains(needle), "missing {needle:?} in:\n{said}");
    }
    // This host's monerod is Debian's 0.18.0.0: step 1 says what to do.
    if steps[0].1.starts_with("Get monerod") {
        assert!(said.contains("MONEROD_BIN=") && said.contains("MONERO_DOWNLOAD=1"));
    }

    // The operator's edits: this regtest daemon and wallet, light RandomX, a free api port.
    let mut edited = config.clone();
    for (section, key, value) in [
        ("daemon", "urls", format!("[\"{}\"]", daemon.rpc_url())),
        ("wallet", "url", format!("\"{}\"", wallet.rpc_url())),
        ("pool", "bind", "\"127.0.0.1\"".to_owned()),
        ("pow", "randomx_mode", "\"light\"".to_owned()),
        ("pow", "verifier_threads", "1".to_owned()),
        (
            "api",
            "bind",
            format!("\"127.0.0.1:{}\"", free_port().unwrap()),
        ),
        ("lmdb", "map_size_mb", "64".to_owned()),
    ] {
        edited = set_key(&edited, section, key, &value);
    }
    std::fs::write(root.config(), &edited).unwrap();
    install(&root, &maria);
    assert_eq!(std::fs::read_to_string(root.config()).unwrap(), edited);
    assert_eq!(root.read("etc/rxpool/mysql-password"), password);
    // Out of order: the password file is lost but config.toml holds the password; a new one
    // would lock the roles out, so the installer restores the file from the config.
    std::fs::remove_file(etc.join("mysql-password")).unwrap();
    let out = stdout(&install(&root, &maria));
    assert!(out.contains("restored"), "{out}");
    assert_eq!(root.read("etc/rxpool/mysql-password"), password);

    // The shared settings and ports, as the closing list says.
    let config_path = root.config();
    rxpool(
        &config_path,
        &["admin", "config", "set", "pool.address", &pool_address],
    );
    rxpool(
        &config_path,
        &["admin", "config", "set", "payout.feeAddress", stratum::ADDR],
    );
    let ports = rxpool(&config_path, &["admin", "port", "list"]);
    for (port, diff) in [("3333", "1000"), ("5555", "5000"), ("7777", "10000")] {
        assert!(
            ports
                .lines()
                .any(|l| l.starts_with(port) && l.contains(&format!("diff {diff} "))),
            "{ports}"
        );
        // Other processes on this host may hold the seeded ports.
        rxpool(&config_path, &["admin", "port", "remove", port]);
    }
    let port = free_port().unwrap();
    rxpool(
        &config_path,
        &[
            "admin",
            "port",
            "add",
            &port.to_string(),
            "--diff",
            "1000",
            "--type",
            "pplns",
        ],
    );
    let check = rxpool(&config_path, &["config", "check"]);
    assert!(check.contains("configuration OK"), "{check}");

    // `rxpool all` from the installed config, as the closing list prints it.
    let log = root.at("var/lib/rxpool/rxpool.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut role = Role(
        Command::new(prefix.join("bin/rxpool"))
            .arg("--config")
            .arg(&config_path)
            .arg("all")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap(),
    );
    let Some(stream) =
        pool_db::connect_when_open(port, || role.0.try_wait().unwrap().is_none()).await
    else {
        panic!(
            "rxpool all ended before opening its port:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    let mut client = stratum::Client::new(stream);
    let login = client
        .login_when_ready(
            json!({"login": stratum::ADDR, "pass": "installer", "agent": "XMRig/6.26.0"}),
        )
        .await;
    assert!(
        login["result"]["job"]["blob"].is_string(),
        "{login}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(login["result"]["status"], "OK");

    // SIGTERM, as `kill -TERM PID` in the closing list: every role stops cleanly.
    let pid = i32::try_from(role.0.id()).unwrap();
    // SAFETY: kill has no memory preconditions; pid is our own live child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = role.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "rxpool all did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status.success(),
        "{status:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    eprintln!("whole test: {:?}", started.elapsed());
}

/// Writes a fake `monerod` that prints `version_line` for `--version`. A fake because this
/// host has one real monerod (Debian's 0.18.0.0) and the check must be tried on both sides of
/// the minimum.
fn fake_monerod(dir: &Path, name: &str, version_line: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\necho \"{version_line}\"\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn check_monerod_accepts_0_18_4_0_and_later_and_says_what_to_do_below() {
    let root = Root::new();
    let cases = [
        ("Monero 'Fluorine Fermi' (v0.18.0.0-unknown)", 1),
        ("Monero 'Fluorine Fermi' (v0.18.3.4-release)", 1),
        ("Monero 'Fluorine Fermi' (v0.18.3.99-release)", 1),
        ("Monero 'Fluorine Fermi' (v0.18.4.0-release)", 0),
        ("Monero 'Fluorine Fermi' (v0.18.5.1-release)", 0),
        ("Monero 'Fluorine Fermi' (v0.18.10.0-release)", 0),
        ("Monero 'Future' (v0.19.0.0-release)", 0),
        ("Monero 'Oxygen Orion' (v0.17.3.2-release)", 1),
        ("no version here", 2),
        ("", 2),
    ];
    for (i, (line, expected)) in cases.into_iter().enumerate() {
        let bin = fake_monerod(&root.path, &format!("monerod{i}"), line);
        let bin_text = bin.display().to_string();
        let out = install_sh(&root, &["check-monerod", &bin_text], &[]);
        let said = stdout(&out);
        assert_eq!(out.status.code(), Some(expected), "{line:?}: {said}");
        assert!(said.starts_with(&bin_text), "{said}");
        if expected == 0 {
            assert!(said.contains(": ok"), "{said}");
        } else {
            assert!(
                said.contains("MONEROD_BIN=/path/to/monerod") && said.contains("MONERO_DOWNLOAD=1"),
                "{line:?}: {said}"
            );
        }
        if expected == 1 {
            assert!(said.contains("older than 0.18.4.0"), "{said}");
        }
    }
    let missing = root.path.join("no-such-monerod");
    let out = install_sh(
        &root,
        &["check-monerod", &missing.display().to_string()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("no such executable"),
        "{}",
        stdout(&out)
    );
}

/// A local stand-in for getmonero.org: a GPG key of its own (the test cannot sign with
/// binaryFate's), a release archive with fake binaries for this machine, and hashes.txt
/// clear-signed by that key. Returns the key's fingerprint.
fn fake_release(dir: &Path) -> String {
    let script = r#"
set -eu
export GNUPGHOME="$PWD/gnupg"
mkdir -m 700 gnupg
gpg --batch --quiet --passphrase '' --quick-gen-key 'rxpool test <test@invalid>' ed25519 sign never 2>/dev/null
fpr=$(gpg --batch --with-colons --fingerprint | awk -F: '/^fpr/ { print $10; exit }')
gpg --batch --armor --export "$fpr" >key.asc
case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=armv8 ;; *) arch=$(uname -m) ;; esac
name=monero-linux-$arch-v0.18.9.9.tar.bz2
mkdir -p pkg/monero-v0.18.9.9 files evil
for bin in monerod monero-wallet-rpc monero-wallet-cli; do
    printf '#!/bin/sh\necho "Monero (v0.18.9.9-release)"\n' >pkg/monero-v0.18.9.9/$bin
    chmod +x pkg/monero-v0.18.9.9/$bin
done
tar -cjf files/$name -C pkg monero-v0.18.9.9
echo '# harmless' >>pkg/monero-v0.18.9.9/monerod
tar -cjf evil/$name -C pkg monero-v0.18.9.9
{ echo '## CLI'; (cd files && sha256sum $name); } >hashes.plain
gpg --batch --yes --pinentry-mode loopback --passphrase '' --clearsign -o hashes.txt hashes.plain
sed 's/^## CLI$/## CLI (altered)/' hashes.txt >altered.txt
gpgconf --kill all
echo "$fpr"
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn the_release_download_installs_only_a_signed_archive_whose_sha256_matches() {
    let root = Root::new();
    let web = tempfile::tempdir().unwrap();
    let fingerprint = fake_release(web.path());
    let url = |name: &str| format!("file://{}", web.path().join(name).display());
    let download = |hashes: &str, files: &str, fingerprint: &str| {
        install_sh(
            &root,
            &["download-monero"],
            &[
                ("MONERO_HASHES_URL", url(hashes)),
                ("MONERO_DOWNLOADS", url(files)),
                ("MONERO_KEY_URL", url("key.asc")),
                ("MONERO_KEY_FINGERPRINT", fingerprint.to_owned()),
            ],
        )
    };
    let unpacked = root.at("usr/local/lib/monero/v0.18.9.9/monerod");

    // Not the expected signer, a list altered after signing, an archive altered after
    // hashing: each refused with its reason, nothing unpacked.
    let other = "0000000000000000000000000000000000000000";
    for (hashes, files, fpr, reason) in [
        ("hashes.txt", "files", other, format!("is not {other}")),
        (
            "altered.txt",
            "files",
            &fingerprint,
            "has no good signature".to_owned(),
        ),
        (
            "hashes.txt",
            "evil",
            &fingerprint,
            "does not match its published SHA-256".to_owned(),
        ),
    ] {
        let out = download(hashes, files, fpr);
        assert!(!out.status.success(), "{hashes} {files}: {}", stdout(&out));
        assert!(stderr(&out).contains(&reason), "{reason}: {}", stderr(&out));
        assert!(!unpacked.exists());
        assert!(!root.at("usr/local/lib/monero/v0.18.9.9.partial").exists());
    }

    let out = download("hashes.txt", "files", &fingerprint);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("matches its published SHA-256"));
    assert!(stdout(&out).contains(&format!("{} is 0.18.9.9: ok", unpacked.display())));
    // Again: the version is there, nothing is fetched.
    let out = download("hashes.txt", "evil", &fingerprint);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("already in"), "{}", stdout(&out));
}

#[test]
fn hostile_settings_are_refused_in_one_line_before_anything_is_written() {
    let root = Root::new();
    let cases: [(&str, &str, &str); 9] = [
        (
            "RXPOOL_DB_NAME",
            "rxpool`; DROP DATABASE mysql; --",
            "it goes into SQL",
        ),
        ("RXPOOL_DB_USER", "x'@'%", "it goes into SQL"),
        ("RXPOOL_DB_PORT", "99999", "is not a TCP port"),
        ("RXPOOL_HOSTNAME", "pool\"; x = \"1", "is not a host name"),
        ("PREFIX", "/opt/my pool", "an absolute path"),
        ("RXPOOL_ETC", "etc/rxpool", "an absolute path"),
        (
            "MONEROD_BIN",
            "/usr/bin/monerod --rpc-login x:y",
            "an absolute path",
        ),
        ("RXPOOL_USER", "rxpool; rm -rf /", "is not a user name"),
        (
            "RXPOOL_BIN",
            "/nonexistent/rxpool",
            "is not an executable file",
        ),
    ];
    for (name, value, reason) in cases {
        let out = install_sh(&root, &[], &[(name, value.to_owned())]);
        assert!(!out.status.success(), "{name}={value:?} was accepted");
        let said = stderr(&out);
        let last = said.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("error: {name}=")) && last.contains(reason),
            "{name}={value:?}: {said}"
        );
        let left: Vec<_> = std::fs::read_dir(&root.path).unwrap().collect();
        assert!(left.is_empty(), "{name}={value:?} wrote {left:?}");
    }
}

/// The file at `path` and its permission bits.
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Runs the installer twice with `run`; the second run must change nothing in `root`. Returns
/// the first run's output.
fn twice(root: &Root, run: impl Fn() -> Output) -> Output {
    let first = run();
    let listed = listing(root);
    let second = run();
    assert_eq!(listing(root), listed, "the second run changed the tree");
    let out = stdout(&second);
    assert!(
        !out.contains("installed /"),
        "second run wrote a file:\n{out}"
    );
    first
}

/// `rxpool config check` of an installed config: it may report problems (nothing runs), but
/// the config itself must parse.
fn config_parses(config: &Path) -> rxpool::config::FileConfig {
    let out = Command::new(RXPOOL)
        .arg("--config")
        .arg(config)
        .args(["config", "check"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let said = stdout(&out);
    assert!(
        said.contains("config file      parsed and validated"),
        "{said}{}",
        stderr(&out)
    );
    rxpool::config::FileConfig::load(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_and_pool_host_installs_twice_change_nothing_and_fit_together() {
    let started = Instant::now();
    let maria = MariaDb::shared().await.unwrap();
    let central = Root::new();
    // Its own database and user: the other install test shares this MariaDB and sets the
    // password of user `rxpool`.
    let hosts = [
        ("RXPOOL_POOL_HOSTS", "eu us:7".to_owned()),
        ("RXPOOL_DB_NAME", "rxpool_central".to_owned()),
        ("RXPOOL_DB_USER", "rxpool_central".to_owned()),
    ];
    let first = twice(&central, || {
        install_as(&central, &maria, &["central"], &hosts)
    });
    let said = format!("{}{}", stdout(&first), stderr(&first));

    // A password per pool host and one for this host's ingest: 0600, distinct, kept, and
    // printed where they are.
    let nats = central.at("etc/nats-server");
    let mut passwords = Vec::new();
    for name in ["ingest", "eu", "us"] {
        let file = nats.join("passwords").join(name);
        assert_eq!(mode_of(&file), 0o600, "{name}");
        let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
        assert_eq!(password.len(), 48, "{password}");
        assert!(!passwords.contains(&password));
        passwords.push(password);
        if name != "ingest" {
            assert!(said.contains(&file.display().to_string()), "{said}");
        }
    }
    // The conf: JetStream in the root, every user with its password and own subject, checked
    // by the real nats-server.
    let conf_path = nats.join("rxpool.conf");
    assert_eq!(mode_of(&conf_path), 0o640);
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    assert!(!conf.contains("CHANGE-ME"), "{conf}");
    assert!(
        conf.contains(&format!(
            "store_dir: {}",
            central.at("var/lib/nats").display()
        )),
        "{conf}"
    );
    for (i, (name, subject)) in [
        ("ingest", "rxpool.shares.1"),
        ("eu", "rxpool.shares.2"),
        ("us", "rxpool.shares.7"),
    ]
    .into_iter()
    .enumerate()
    {
        let entry = format!("user: {name}\n      password: \"{}\"", passwords[i]);
        let at = conf
            .find(&entry)
            .unwrap_or_else(|| panic!("{entry}\n{conf}"));
        let publish = conf[at..].lines().nth(3).unwrap();
        assert!(publish.contains(&format!("[\"{subject}\"")), "{publish}");
    }
    let check = Command::new("/usr/sbin/nats-server")
        .arg("-c")
        .arg(&conf_path)
        .arg("-t")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert_eq!(mode_of(&nats.join("server-key.pem")), 0o640);
    let ca = central.etc().join("nats-ca.pem");
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        std::fs::read(nats.join("server.pem")).unwrap()
    );
    // nats-server's unit runs the installed conf; the pool hosts are told what to copy.
    let unit = central.read("etc/systemd/system/nats-server.service");
    assert!(
        unit.contains(&format!("-c {}", conf_path.display())),
        "{unit}"
    );
    steps_in_order(
        &stdout(&first),
        &[
            "Start monerod",
            "Set the shared settings",
            "Start nats-server",
            "Let the pool hosts reach MariaDB",
            "Pool host 'eu' (pool_id 2)",
            "Pool host 'us' (pool_id 7)",
            "Start the pool",
        ],
    );
    assert!(said.contains("RXPOOL_NATS_USER=eu"), "{said}");

    // This host's [feed]: the ingest's user over TLS on loopback.
    let config = config_parses(&central.config());
    let feed = config.feed.expect("a [feed] section");
    assert_eq!(feed.nats_url, "tls://127.0.0.1:4222");
    assert_eq!(feed.user.as_deref(), Some("ingest"));
    assert_eq!(feed.password.unwrap().expose(), passwords[0]);
    assert_eq!(feed.tls_ca.as_deref(), Some(ca.as_path()));

    // Pool host "eu" with the files and values the central host's list names.
    let pool_host = Root::new();
    let mysql_password = central.read("etc/rxpool/mysql-password");
    let mysql_url = format!(
        "mysql://rxpool_central:{}@127.0.0.1:{}/rxpool_central",
        mysql_password.trim(),
        maria.port()
    );
    let vars = [
        ("RXPOOL_BIN", RXPOOL.to_owned()),
        ("RXPOOL_POOL_ID", "2".to_owned()),
        ("RXPOOL_MYSQL_URL", mysql_url.clone()),
        ("RXPOOL_NATS_URL", "tls://127.0.0.1:4222".to_owned()),
        ("RXPOOL_NATS_USER", "eu".to_owned()),
        (
            "RXPOOL_NATS_PASSWORD_FILE",
            nats.join("passwords/eu").display().to_string(),
        ),
        ("RXPOOL_NATS_CA", ca.display().to_string()),
    ];
    let first = twice(&pool_host, || {
        succeeded(install_sh(&pool_host, &["pool-host"], &vars))
    });
    let config = config_parses(&pool_host.config());
    assert_eq!(config.pool.pool_id, 2);
    assert_eq!(config.mysql.url.expose(), mysql_url);
    let feed = config.feed.expect("a [feed] section");
    assert_eq!(feed.user.as_deref(), Some("eu"));
    assert_eq!(feed.password.unwrap().expose(), passwords[1]);
    let host_ca = pool_host.etc().join("nats-ca.pem");
    assert_eq!(feed.tls_ca.as_deref(), Some(host_ca.as_path()));
    assert_eq!(
        std::fs::read(&host_ca).unwrap(),
        std::fs::read(&ca).unwrap()
    );
    assert_eq!(feed.spool_dir, pool_host.at("var/lib/rxpool/spool"));
    // The central MariaDB answers the pool host's config.
    let check = Command::new(RXPOOL)
        .arg("--config")
        .arg(pool_host.config())
        .args(["config", "check"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(stdout(&check).contains(": reachable"), "{}", stdout(&check));
    // No MariaDB, no LMDB, no wallet here; only the pool's and monerod's units.
    for absent in [
        "etc/rxpool/mysql-password",
        "var/lib/rxpool/lmdb",
        "var/lib/monero-wallet",
        "etc/monero-wallet",
        "etc/nats-server",
    ] {
        assert!(!pool_host.at(absent).exists(), "{absent}");
    }
    let mut units: Vec<_> = std::fs::read_dir(pool_host.at("etc/systemd/system"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    units.sort();
    assert_eq!(units, ["monerod.service", "rxpool-pool.service"]);
    let said = format!("{}{}", stdout(&first), stderr(&first));
    let rx = format!(
        "{} --config {}",
        pool_host.at("usr/local/bin/rxpool").display(),
        pool_host.config().display()
    );
    steps_in_order(
        &stdout(&first),
        &[
            "Start monerod",
            "Check ",
            "Open the stratum ports",
            "Start the pool",
        ],
    );
    assert!(
        said.contains(&format!("env RUST_LOG=info {rx} pool >>")),
        "{said}"
    );
    assert!(!said.contains("Create the pool wallet"), "{said}");
    eprintln!("whole test: {:?}", started.elapsed());
}

#[test]
fn hostile_pool_hosts_and_pool_host_settings_are_refused_before_anything_is_written() {
    let root = Root::new();
    let outside = tempfile::tempdir().unwrap();
    let password = outside.path().join("eu");
    std::fs::write(&password, "0123456789abcdef0123456789abcdef\n").unwrap();
    let bad_password = outside.path().join("bad");
    std::fs::write(&bad_password, "pass\"word = 1\n").unwrap();
    let refused = |args: &[&str], vars: &[(&str, String)], name: &str, reason: &str| {
        let out = install_sh(&root, args, vars);
        assert!(!out.status.success(), "{vars:?} was accepted");
        let said = stderr(&out);
        let last = said.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("error: {name}=")) && last.contains(reason),
            "{vars:?}: {said}"
        );
        assert!(!said.contains("secret"), "{said}");
        let left: Vec<_> = std::fs::read_dir(&root.path).unwrap().collect();
        assert!(left.is_empty(), "{vars:?} wrote {left:?}");
    };
    for (hosts, reason) in [
        ("", "name the pool hosts"),
        ("  ", "name the pool hosts"),
        ("eu eu", "'eu' is named twice"),
        ("eu us:2", "pool_id 2 of 'us' is taken"),
        ("eu:1", "pool_id 1 of 'eu' is taken (this host is 1)"),
        ("eu:x", "must be a number"),
        ("eu:0", "must be a number"),
        ("ingest", "not a pool host name"),
        ("eu;rm -rf /", "not a pool host name"),
        ("'eu'", "not a pool host name"),
        ("*", "not a pool host name"),
    ] {
        refused(
            &["central"],
            &[("RXPOOL_POOL_HOSTS", hosts.to_owned())],
            "RXPOOL_POOL_HOSTS",
            reason,
        );
    }
    let good = [
        ("RXPOOL_POOL_ID", "2"),
        (
            "RXPOOL_MYSQL_URL",
            "mysql://rxpool:secret@10.0.0.1:3306/rxpool",
        ),
        ("RXPOOL_NATS_URL", "tls://central.example:4222"),
        ("RXPOOL_NATS_USER", "eu"),
    ];
    let password = password.display().to_string();
    let bad_password = bad_password.display().to_string();
    let nonexistent = outside.path().join("none").display().to_string();
    for (name, value, reason) in [
        ("RXPOOL_POOL_ID", "", "give this host's pool_id"),
        ("RXPOOL_POOL_ID", "0", "give this host's pool_id"),
        ("RXPOOL_POOL_ID", "2; x", "give this host's pool_id"),
        ("RXPOOL_MYSQL_URL", "", "is not mysql://"),
        (
            "RXPOOL_MYSQL_URL",
            "mysql://rxpool:se\"cret@h/rxpool",
            "is not mysql://",
        ),
        (
            "RXPOOL_MYSQL_URL",
            "mysql://rxpool:secret@h/rx pool",
            "is not mysql://",
        ),
        (
            "RXPOOL_MYSQL_URL",
            "postgres://rxpool:secret@h/rxpool",
            "is not mysql://",
        ),
        ("RXPOOL_NATS_URL", "", "is not tls://HOST:PORT"),
        (
            "RXPOOL_NATS_URL",
            "tls://h:4222\"",
            "is not tls://HOST:PORT",
        ),
        ("RXPOOL_NATS_URL", "http://h:4222", "is not tls://HOST:PORT"),
        ("RXPOOL_NATS_USER", "", "is not a NATS user"),
        ("RXPOOL_NATS_USER", "eu\"", "is not a NATS user"),
        ("RXPOOL_NATS_PASSWORD_FILE", "", "is not a readable file"),
        (
            "RXPOOL_NATS_PASSWORD_FILE",
            &nonexistent,
            "is not a readable file",
        ),
        (
            "RXPOOL_NATS_PASSWORD_FILE",
            &bad_password,
            "is not a password",
        ),
        ("RXPOOL_NATS_CA", &password, "is not a PEM certificate"),
    ] {
        let mut vars: Vec<(&str, String)> =
            good.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        vars.push(("RXPOOL_NATS_PASSWORD_FILE", password.clone()));
        vars.retain(|(k, _)| *k != name);
        vars.push((name, value.to_owned()));
        refused(&["pool-host"], &vars, name, reason);
    }
}
