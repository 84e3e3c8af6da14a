//! What a new operator sees when something is wrong, through the real binary: an unreachable
//! MySQL, a wrong password, a missing or invalid config file, and `config check` against a
//! real throwaway MariaDB. Each assertion is on the whole output: the message appears once,
//! names the address or file, the process exits non-zero quickly, and nothing is Rust debug
//! output.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use rxpool::devnet::{MariaDb, Nats, free_port};

const MAINNET: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

fn write_config(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"http://127.0.0.1:1\"]\n\
             [wallet]\nurl = \"http://127.0.0.1:2\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"test\"\n{extra}",
            dir.join("lmdb").display()
        ),
    )
    .unwrap();
    config
}

/// Runs `rxpool --config CONFIG ARGS` and returns its output and how long it took.
fn rxpool(config: &Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rxpool"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("rxpool runs");
    (out, started.elapsed())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that stderr is exactly one line, `error: ` + `expected`.
fn assert_one_error_line(o: &Output, expected: &str) {
    assert!(!o.status.success(), "exit status {:?}", o.status);
    assert_eq!(
        stderr(o),
        format!("error: {expected}\n"),
        "stdout: {}",
        stdout(o)
    );
}

#[tokio::test]
async fn an_unreachable_mysql_fails_within_five_seconds_in_one_line_naming_host_and_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let config = write_config(
        dir.path(),
        &format!("mysql://pool:secret@127.0.0.1:{port}/pool"),
        "",
    );
    for args in [&["pool"][..], &["all"], &["migrate"]] {
        let (out, took) = rxpool(&config, args);
        assert_one_error_line(
            &out,
            &format!(
                "cannot connect to MySQL at 127.0.0.1:{port}: connection refused (is MariaDB running there?)"
            ),
        );
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
    let config = write_config(
        dir.path(),
        "mysql://pool:secret@no-such-host.invalid:3306/pool",
        "",
    );
    let (out, took) = rxpool(&config, &["pool"]);
    assert_one_error_line(
        &out,
        "cannot connect to MySQL at no-such-host.invalid:3306: unknown host",
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn a_wrong_mysql_password_is_reported_once_with_where_to_check_it() {
    let server = MariaDb::shared().await.expect("mariadb starts");
    let url = server.create_database("first_hour_pw").await.unwrap();
    let user = url["mysql://".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let (head, tail) = url.split_once('@').unwrap();
    let (head, password) = head.rsplit_once(':').unwrap();
    let wrong = format!("{head}:not-{password}@{tail}");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &wrong, "");
    // What install.sh leaves beside the config.
    let password_file = dir.path().join("mysql-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let expected = format!(
        "cannot connect to MySQL at 127.0.0.1:{}: access denied for user '{user}' (wrong \
         password?); check the password in mysql.url of {} against {} (the installer's copy)",
        server.port(),
        config.display(),
        password_file.display()
    );
    for args in [&["pool"][..], &["all"], &["migrate"]] {
        let (out, took) = rxpool(&config, args);
        assert_one_error_line(&out, &expected);
        assert_eq!(stdout(&out), "", "no config dump before the error");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
    // A database that does not exist is named as such.
    let (head, _) = url.rsplit_once('/').unwrap();
    let config = write_config(dir.path(), &format!("{head}/no_such_db"), "");
    let (out, _) = rxpool(&config, &["pool"]);
    assert_one_error_line(
        &out,
        &format!(
            "cannot connect to MySQL at 127.0.0.1:{}: user '{user}' has no access to database \
             'no_such_db' (does it exist?)",
            server.port()
        ),
    );
}

#[test]
fn a_missing_config_file_is_reported_once_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.toml");
    for args in [&["pool"][..], &["config", "check"]] {
        let (out, took) = rxpool(&missing, args);
        assert_one_error_line(
            &out,
            &format!(
                "cannot read {}: No such file or directory (os error 2)",
                missing.display()
            ),
        );
        assert!(took < Duration::from_secs(5));
    }
}

#[test]
fn a_bad_config_value_is_reported_once_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "mysql://pool:secret@127.0.0.1:1/pool",
        "[api]\nbind = \"nowhere\"\n",
    );
    let (out, _) = rxpool(&config, &["pool"]);
    assert_one_error_line(
        &out,
        &format!(
            "{}: api.bind: must be an address:port such as 127.0.0.1:8001",
            config.display()
        ),
    );
}

/// The lines of `config check`'s stdout after its title, as (mark, subject, text).
fn check_lines(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let (mark, rest) = l.split_at(9);
            let (subject, text) = rest.split_at(17);
            (
                mark.trim().to_owned(),
                subject.trim().to_owned(),
                text.to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn config_check_prints_one_readable_line_per_check_and_fails_on_a_problem() {
    let server = MariaDb::shared().await.expect("mariadb starts");
    let url = server.create_database("first_hour_check").await.unwrap();
    let password = url.split('@').next().unwrap().rsplit(':').next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &url, "");
    assert!(rxpool(&config, &["migrate"]).0.status.success());
    for (key, value) in [("pool.address", MAINNET), ("payout.feeAddress", MAINNET)] {
        let (out, _) = rxpool(&config, &["admin", "config", "set", key, value]);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    let (out, took) = rxpool(&config, &["config", "check"]);
    let shown = stdout(&out);
    assert!(out.status.success(), "{shown}{}", stderr(&out));
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(!shown.contains(password), "password leaked: {shown}");
    assert!(!shown.contains('{'), "debug output: {shown}");
    assert_eq!(
        shown.lines().next().unwrap(),
        format!("rxpool config check: {}", config.display())
    );
    assert!(
        shown.ends_with("\nconfiguration OK (2 warning(s) above)\n"),
        "{shown}"
    );
    let lines = check_lines(&shown);
    let subjects: Vec<&str> = lines.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "config file",
            "MySQL",
            "migrations",
            "shared settings",
            "stratum ports",
            "api",
            "monerod",
            "wallet-rpc",
            "TLS files",
            "share feed",
            "LMDB",
            "RandomX",
            "network",
        ],
        "{shown}"
    );
    for (mark, subject, text) in &lines {
        let expected = match subject.as_str() {
            "monerod" | "wallet-rpc" => "warn",
            "network" => "note",
            _ => "ok",
        };
        assert_eq!(mark, expected, "{subject}: {text}");
    }
    let text = |subject: &str| {
        lines
            .iter()
            .find(|(_, s, _)| s == subject)
            .map(|(_, _, t)| t.clone())
            .unwrap()
    };
    let masked = format!(
        "mysql://{}:***@",
        url["mysql://".len()..].split(':').next().unwrap()
    );
    assert!(text("MySQL").starts_with(&masked), "{}", text("MySQL"));
    assert!(text("monerod").contains("http://127.0.0.1:1"));
    assert!(
        text("LMDB").starts_with(&format!(
            "{}: will be created in",
            dir.path().join("lmdb").display()
        )),
        "{}",
        text("LMDB")
    );
    let randomx = text("RandomX");
    assert!(randomx.starts_with("auto: "), "{randomx}");
    assert!(
        randomx.contains("light mode") && randomx.contains("cores"),
        "{randomx}"
    );

    // Missing TLS files and a broken setting: PROBLEM lines naming them, and a non-zero exit.
    let tls = dir.path().join("no-cert.pem");
    let config = write_config(
        dir.path(),
        &url,
        &format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n[overrides]\n\"pool.targetTime\" = \"0\"\n",
            tls.display(),
            tls.display()
        ),
    );
    let (out, _) = rxpool(&config, &["config", "check"]);
    let shown = stdout(&out);
    assert!(!out.status.success(), "{shown}");
    let problems: Vec<_> = check_lines(&shown)
        .into_iter()
        .filter(|(mark, _, _)| mark == "PROBLEM")
        .map(|(_, subject, text)| format!("{subject}: {text}"))
        .collect();
    assert_eq!(
        problems,
        [
            "shared settings: pool.targetTime: \"0\" breaks the rule: must be a duration between 1 and 3600 seconds".to_owned(),
            format!("TLS files: tls.cert {}: No such file or directory (os error 2)", tls.display()),
            format!("TLS files: tls.key {}: No such file or directory (os error 2)", tls.display()),
        ],
        "{shown}"
    );
    assert_eq!(
        stderr(&out),
        "error: 3 problem(s) above; 1 shared setting problem(s) (fix with `rxpool admin config set MODULE.ITEM VALUE`)\n"
    );
}

#[tokio::test]
async fn config_check_says_whether_the_share_feed_answers_and_its_spool_is_writable() {
    let server = MariaDb::shared().await.expect("mariadb starts");
    let url = server.create_database("first_hour_feed").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start().await.expect("nats-server starts");
    let spool = dir.path().join("spool");
    let feed = |nats_url: &str, spool: &Path| {
        format!(
            "[feed]\nnats_url = \"{nats_url}\"\nspool_dir = \"{}\"\n",
            spool.display()
        )
    };
    let line = |config: &Path, subject: &str| {
        let (out, _) = rxpool(config, &["config", "check"]);
        let shown = stdout(&out);
        check_lines(&shown)
            .into_iter()
            .find(|(_, s, _)| s == subject)
            .map(|(mark, _, text)| format!("{mark} {text}"))
            .unwrap_or_else(|| panic!("no {subject} line: {shown}"))
    };

    // Answering, before any pool or ingest made the stream: a warning that says who makes it.
    let config = write_config(dir.path(), &url, &feed(&nats.url(), &spool));
    let shown = line(&config, "share feed");
    assert!(shown.starts_with("warn "), "{shown}");
    assert!(
        shown.contains("the first pool or ingest start creates it"),
        "{shown}"
    );
    assert!(line(&config, "feed spool").starts_with("ok "));

    // With the stream: ok, and how much waits for the ingest.
    let loaded = rxpool::config::FileConfig::load(&config).unwrap();
    let feed_config = loaded.feed.expect("[feed] parsed");
    let context = rxpool::feed::link::connect(&feed_config, "test")
        .await
        .unwrap();
    rxpool::feed::link::ensure_stream(&context, &feed_config)
        .await
        .unwrap();
    let shown = line(&config, "share feed");
    assert_eq!(
        shown,
        format!(
            "ok {}: stream {} holds 0 message(s) not yet ingested",
            nats.url(),
            feed_config.stream
        )
    );

    // Nobody listening: a warning within the time limit, not a hang; a spool under a file: a
    // problem naming the key.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").unwrap();
    let dead = format!("nats://127.0.0.1:{}", free_port().unwrap());
    let config = write_config(dir.path(), &url, &feed(&dead, &blocker.join("spool")));
    let started = Instant::now();
    let shown = line(&config, "share feed");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(shown.starts_with(&format!("warn {dead}: ")), "{shown}");
    let spool_line = line(&config, "feed spool");
    assert!(
        spool_line.starts_with("PROBLEM ") && spool_line.contains("feed.spool_dir"),
        "{spool_line}"
    );
}
