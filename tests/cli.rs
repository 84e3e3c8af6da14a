//! The operator CLI contract (design.md §1) through the real binary against a throwaway
//! MariaDB: migrate, config check, admin config set/get, admin port add/list.

use std::path::PathBuf;
use std::process::Output;

use rxpool::devnet::MariaDb;

struct Fixture {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

async fn fixture(name: &str) -> Fixture {
    let server = MariaDb::shared().await.expect("mariadb starts");
    let url = server.create_database(name).await.expect("database");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"http://127.0.0.1:1\"]\n\
             [wallet]\nurl = \"http://127.0.0.1:2\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"test\"\n",
            dir.path().join("lmdb").display()
        ),
    )
    .unwrap();
    Fixture { _dir: dir, config }
}

fn rxpool(f: &Fixture, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rxpool"))
        .arg("--config")
        .arg(&f.config)
        .args(args)
        .output()
        .expect("rxpool runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn admin_config_set_round_trips_through_mysql() {
    let f = fixture("cli_config").await;
    assert!(rxpool(&f, &["migrate"]).status.success());
    let again = rxpool(&f, &["migrate"]);
    assert!(
        text(&again).contains("schema up to date"),
        "{}",
        text(&again)
    );
    let set = rxpool(&f, &["admin", "config", "set", "payout.walletMin", "0.25"]);
    assert!(set.status.success(), "{}", text(&set));
    let get = rxpool(&f, &["admin", "config", "get", "payout.walletMin"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "0.25");
}

#[tokio::test]
async fn admin_config_set_refuses_bad_values_naming_the_item() {
    let f = fixture("cli_config_bad").await;
    assert!(rxpool(&f, &["migrate"]).status.success());
    for (key, value) in [
        ("payout.walletMin", "abc"),
        ("pool.targetTime", "0"),
        ("bogus.item", "1"),
    ] {
        let out = rxpool(&f, &["admin", "config", "set", key, value]);
        assert!(!out.status.success());
        assert!(text(&out).contains(key), "{}", text(&out));
    }
    let get = rxpool(&f, &["admin", "config", "get", "pool.targetTime"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "30");
}

#[tokio::test]
async fn admin_port_add_round_trips_and_rejects_bad_types() {
    let f = fixture("cli_ports").await;
    assert!(rxpool(&f, &["migrate"]).status.success());
    let add = rxpool(
        &f,
        &[
            "admin", "port", "add", "9000", "--diff", "20000", "--type", "solo", "--tls",
            "--hidden",
        ],
    );
    assert!(add.status.success(), "{}", text(&add));
    let list = text(&rxpool(&f, &["admin", "port", "list"]));
    assert!(
        list.lines().any(|l| l.starts_with("9000")
            && l.contains("solo")
            && l.contains("20000")
            && l.contains("tls=true")
            && l.contains("hidden=true")),
        "{list}"
    );
    let bad = rxpool(
        &f,
        &[
            "admin", "port", "add", "9001", "--diff", "1", "--type", "prop",
        ],
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("prop"), "{}", text(&bad));
    let bad = rxpool(
        &f,
        &[
            "admin", "port", "add", "70000", "--diff", "1", "--type", "pps",
        ],
    );
    assert!(!bad.status.success());
}

#[tokio::test]
async fn config_check_masks_the_database_password() {
    let f = fixture("cli_check").await;
    assert!(rxpool(&f, &["migrate"]).status.success());
    let out = rxpool(&f, &["config", "check"]);
    let shown = text(&out);
    let config = std::fs::read_to_string(&f.config).unwrap();
    let password = config
        .split("://")
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap();
    assert!(!password.is_empty());
    assert!(!shown.contains(password), "password leaked: {shown}");
    assert!(shown.contains("***"));
    // pool.address and payout.feeAddress are unset in a fresh database: check says so.
    assert!(!out.status.success());
    assert!(shown.contains("pool.address"), "{shown}");
}

#[test]
fn a_config_with_an_unknown_key_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[mysql]\nurl = \"mysql://a:b@127.0.0.1/x\"\nsurprise = 1\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rxpool"))
        .arg("--config")
        .arg(&path)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("surprise"));
}
