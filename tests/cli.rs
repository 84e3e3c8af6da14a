//! The operator CLI contract (design.md §1) through the real binary against a throwaway
//! MariaDB: migrate, config check, admin config set/get, admin port add/list; shared settings
//! checked by type and meaning when set and by `config check`; and the `[mysql]` section a
//! role's connection pool is built from.

use std::path::PathBuf;
use std::process::Output;

use rxpool::devnet::MariaDb;

struct Fixture {
    _dir: tempfile::TempDir,
    config: PathBuf,
    /// The fixture database, for writing rows as another program (or an older rxpool) would.
    url: String,
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
    Fixture {
        _dir: dir,
        config,
        url,
    }
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

/// The Monero general fund's mainnet address.
const MAINNET: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

/// The same keys as [`MAINNET`] in another form: (testnet standard, mainnet subaddress).
fn other_addresses() -> (String, String) {
    let keys: monero::Address = MAINNET.parse().unwrap();
    let testnet = monero::Address::standard(
        monero::Network::Testnet,
        keys.public_spend,
        keys.public_view,
    );
    let sub = monero::Address::subaddress(
        monero::Network::Mainnet,
        keys.public_spend,
        keys.public_view,
    );
    (testnet.to_string(), sub.to_string())
}

/// Every row of the `config` table.
async fn config_table(f: &Fixture) -> Vec<(String, String, String)> {
    let db = rxpool::store::mysql::connect(&f.url).await.unwrap();
    let rows = sqlx::query_as("SELECT module, item, item_value FROM config ORDER BY module, item")
        .fetch_all(&db)
        .await
        .unwrap();
    db.close().await;
    rows
}

async fn store_directly(f: &Fixture, module: &str, item: &str, value: &str) {
    let db = rxpool::store::mysql::connect(&f.url).await.unwrap();
    let done = sqlx::query("UPDATE config SET item_value = ? WHERE module = ? AND item = ?")
        .bind(value)
        .bind(module)
        .bind(item)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "{module}.{item}");
    db.close().await;
}

#[tokio::test]
async fn admin_config_set_refuses_values_that_break_their_items_rule_and_writes_nothing() {
    let f = fixture("cli_config_rules").await;
    assert!(rxpool(&f, &["migrate"]).status.success());
    let set = rxpool(&f, &["admin", "config", "set", "pool.address", MAINNET]);
    assert!(set.status.success(), "{}", text(&set));
    let (testnet, subaddress) = other_addresses();
    let before = config_table(&f).await;
    for (key, value, rule) in [
        // The example: any text was taken as an address.
        (
            "pool.address",
            "not-an-address",
            "must be a standard mainnet wallet address",
        ),
        ("pool.address", subaddress.as_str(), "it is a subaddress"),
        (
            "payout.feeAddress",
            testnet.as_str(),
            "address is for testnet",
        ),
        (
            "payout.devAddress",
            &MAINNET[..94],
            "must be a mainnet wallet address",
        ),
        (
            "pool.exchangeAddresses",
            &format!("{MAINNET},junk"),
            "entry 2",
        ),
        ("pool.bannedAddresses", "x", "wallet addresses"),
        ("payout.pplnsFee", "65", "a percentage between 0 and 50"),
        (
            "payout.devDonation",
            "100.5",
            "a percentage between 0 and 100",
        ),
        ("payout.walletMin", "0", "an XMR amount between"),
        (
            "payout.denom",
            "2",
            "an XMR amount between 0.000000000001 and 1",
        ),
        (
            "pool.targetTime",
            "0",
            "a duration between 1 and 3600 seconds",
        ),
        (
            "payout.timer",
            "-5",
            "a duration between 1 and 35791 minutes",
        ),
        (
            "payout.maxPaymentTxns",
            "16",
            "a whole number between 1 and 15",
        ),
        (
            "pool.trustMin",
            "256",
            "a probability between 0 and 255 in 256",
        ),
        ("general.adminEmail", "root", "an e-mail address"),
        ("pool.banEnabled", "yes", "true or false"),
        (
            "pool.maxDifficulty",
            "50",
            "at most pool.maxDifficulty (50)",
        ),
        // Switching the network would strand the mainnet pool address.
        (
            "general.network",
            "testnet",
            "it would break another setting: pool.address",
        ),
        // A required item cannot be emptied.
        ("pool.address", "", "not set"),
    ] {
        let out = rxpool(&f, &["admin", "config", "set", key, value]);
        let shown = text(&out);
        assert!(
            !out.status.success(),
            "{key} = {value:?} was accepted: {shown}"
        );
        assert!(
            shown.contains(key),
            "{key}: the message does not name the item: {shown}"
        );
        assert!(
            shown.contains(rule),
            "{key}: the message does not name the rule {rule:?}: {shown}"
        );
    }
    assert_eq!(
        config_table(&f).await,
        before,
        "a refused value changed the config table"
    );
    let get = rxpool(&f, &["admin", "config", "get", "pool.address"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), MAINNET);
}

#[tokio::test]
async fn admin_config_set_accepts_values_that_keep_their_rules() {
    let f = fixture("cli_config_good").await;
    assert!(rxpool(&f, &["migrate"]).status.success());
    let (_, subaddress) = other_addresses();
    for (key, value) in [
        ("pool.address", MAINNET),
        ("payout.feeAddress", subaddress.as_str()),
        ("payout.devAddress", ""),
        (
            "pool.exchangeAddresses",
            &format!("{MAINNET}, {subaddress}"),
        ),
        ("payout.pplnsFee", "1.25"),
        ("payout.walletMin", "0.01"),
        ("payout.feesForTXN", "0"),
        ("pool.targetTime", "15"),
        ("general.adminEmail", "ops@pool.example.org"),
    ] {
        let out = rxpool(&f, &["admin", "config", "set", key, value]);
        assert!(out.status.success(), "{key} = {value:?}: {}", text(&out));
        let get = rxpool(&f, &["admin", "config", "get", key]);
        assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), value.trim());
    }
    let check = rxpool(&f, &["config", "check"]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("configuration OK"),
        "{}",
        text(&check)
    );
    // The listing states each item's rule for the stored network.
    let list = text(&rxpool(&f, &["admin", "config", "list"]));
    let line = list
        .lines()
        .find(|l| l.starts_with("pool.address "))
        .unwrap();
    assert!(
        line.contains("Rule: a standard mainnet wallet address"),
        "{line}"
    );
}

#[tokio::test]
async fn config_check_reports_bad_values_stored_directly_in_mysql() {
    let f = fixture("cli_check_stored").await;
    assert!(rxpool(&f, &["migrate"]).status.success());
    for (key, value) in [("pool.address", MAINNET), ("payout.feeAddress", MAINNET)] {
        assert!(
            rxpool(&f, &["admin", "config", "set", key, value])
                .status
                .success()
        );
    }
    assert!(rxpool(&f, &["config", "check"]).status.success());
    // What an older rxpool (or a hand-written UPDATE) may have stored.
    store_directly(&f, "payout", "feeAddress", "not-an-address").await;
    store_directly(&f, "pool", "targetTime", "0").await;
    store_directly(&f, "payout", "pplnsFee", "65").await;
    let out = rxpool(&f, &["config", "check"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    for expected in [
        "payout.feeAddress: \"not-an-address\" breaks the rule: must be a mainnet wallet address",
        "pool.targetTime: \"0\" breaks the rule: must be a duration between 1 and 3600 seconds",
        "payout.pplnsFee: \"65\" breaks the rule: must be a percentage between 0 and 50",
        "3 shared setting problem(s)",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in: {shown}");
    }
    // Each can be repaired on its own while the others are still broken.
    let fix = rxpool(&f, &["admin", "config", "set", "pool.targetTime", "30"]);
    assert!(fix.status.success(), "{}", text(&fix));
    let shown = text(&rxpool(&f, &["config", "check"]));
    assert!(shown.contains("2 shared setting problem(s)"), "{shown}");
}

#[tokio::test]
async fn two_changes_at_once_cannot_together_break_a_rule_spanning_items() {
    use rxpool::store::mysql;
    let server = MariaDb::shared().await.expect("mariadb starts");
    let db = mysql::connect(&server.create_database("settings_race").await.unwrap())
        .await
        .unwrap();
    mysql::migrate(&db).await.unwrap();
    let no_overrides = std::collections::BTreeMap::new();
    for round in 0..20 {
        // Each alone keeps pool.minDifficulty <= pool.maxDifficulty (100 and 500000); both
        // together would not.
        let (min, max) = tokio::join!(
            mysql::set_setting(&db, "pool.minDifficulty", "1000"),
            mysql::set_setting(&db, "pool.maxDifficulty", "500"),
        );
        assert!(
            min.is_ok() != max.is_ok(),
            "round {round}: exactly one change must be refused: {min:?} / {max:?}"
        );
        mysql::load_settings(&db, &no_overrides)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the table was broken: {e}"));
        mysql::set_setting(&db, "pool.maxDifficulty", "500000")
            .await
            .unwrap();
        mysql::set_setting(&db, "pool.minDifficulty", "100")
            .await
            .unwrap();
    }
    db.close().await;
}

#[tokio::test]
async fn mysql_max_connections_is_the_size_of_a_roles_pool() {
    let server = MariaDb::shared().await.expect("mariadb starts");
    let url = server.create_database("max_connections").await.unwrap();
    let config = rxpool::config::FileConfig::parse(&format!(
        "[mysql]\nurl = \"{url}\"\nmax_connections = 3\n[lmdb]\npath = \"/tmp/unused\"\n\
         [daemon]\nurls = [\"http://127.0.0.1:1\"]\n[wallet]\nurl = \"http://127.0.0.1:2\"\n\
         [pool]\npool_id = 1\n"
    ))
    .unwrap();
    let pool = rxpool::store::mysql::connect_config(&config.mysql)
        .await
        .unwrap();
    assert_eq!(pool.options().get_max_connections(), 3);
    // The server sees no more than that: a fourth acquire waits while three are held.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.acquire().await.unwrap());
    }
    let fourth = tokio::time::timeout(std::time::Duration::from_millis(500), pool.acquire()).await;
    assert!(fourth.is_err(), "a fourth connection was opened");
    let observer = rxpool::store::mysql::connect_with(&url, 2).await.unwrap();
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND ID <> CONNECTION_ID()",
    )
    .fetch_one(&observer)
    .await
    .unwrap();
    assert_eq!(open, 3, "connections the server sees from the role's pool");
    drop(held);
    pool.close().await;
    observer.close().await;
}

#[test]
fn the_shipped_units_start_every_role() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let target = read("deployment/rxpool.target");
    let wants = target.lines().find(|l| l.starts_with("Wants=")).unwrap();
    let install = read("install.sh");
    let enabled = install
        .split("systemctl enable rxpool.target")
        .nth(1)
        .and_then(|rest| rest.split(">/dev/null").next())
        .expect("install.sh enables rxpool.target");
    for working in [
        "pool",
        "block-manager",
        "payments",
        "worker",
        "api",
        "cleaner",
    ] {
        let unit = format!("rxpool-{working}.service");
        assert!(root.join("deployment").join(&unit).exists(), "{unit}");
        assert!(wants.contains(&unit), "rxpool.target does not want {unit}");
        assert!(enabled.contains(&unit), "install.sh does not enable {unit}");
    }
}
