//! The devnet components every other test relies on: each starts, answers, and is gone after
//! drop (port closed, process reaped, temp dir removed), and a regtest chain pays a
//! wallet-rpc wallet. Also proves a killed test binary does not leak its daemons.

use std::io::BufRead;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rxpool::devnet::{DevnetError, MariaDb, Monerod, MonerodOptions, Smtp, WalletRpc};
use rxpool::domain::{Height, Network};
use sqlx::Connection;

/// A valid mainnet address (regtest uses mainnet prefixes): the Monero general fund.
const MAINNET_ADDRESS: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

/// What must be true of a component once dropped.
struct Footprint {
    port: u16,
    pid: u32,
    dir: PathBuf,
}

fn process_is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie whose parent is not us (reparented) is dead too.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn port_is_closed(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_err()
}

fn assert_gone(what: &str, footprint: Footprint) {
    // The process was reaped inside Drop: /proc/PID is gone at once (unless the pid is reused,
    // which would not be our child: check it is not a zombie of ours either way).
    assert!(
        process_is_dead(footprint.pid),
        "{what}: pid {} still alive",
        footprint.pid
    );
    assert!(
        port_is_closed(footprint.port),
        "{what}: port {} still open",
        footprint.port
    );
    assert!(
        !footprint.dir.exists(),
        "{what}: {} not removed",
        footprint.dir.display()
    );
}

async fn query_i64(url: &str, sql: &'static str) -> Result<i64, sqlx::Error> {
    let mut connection = sqlx::MySqlConnection::connect(url).await?;
    let value: (i64,) = sqlx::query_as(sql).fetch_one(&mut connection).await?;
    connection.close().await?;
    Ok(value.0)
}

#[tokio::test]
async fn mariadb_gives_each_caller_a_separate_database_and_is_gone_after_drop() {
    let db = MariaDb::start().await.expect("start MariaDB");
    let first = db.create_database("same name").await.expect("first db");
    let second = db.create_database("same name").await.expect("second db");
    assert_ne!(
        first, second,
        "same prefix must still give distinct databases"
    );

    let mut one = sqlx::MySqlConnection::connect(&first)
        .await
        .expect("connect first");
    sqlx::raw_sql("CREATE TABLE t (v BIGINT NOT NULL); INSERT INTO t VALUES (42);")
        .execute(&mut one)
        .await
        .expect("create table in first");
    one.close().await.expect("close");
    assert_eq!(
        query_i64(&first, "SELECT v FROM t")
            .await
            .expect("read back"),
        42
    );
    // The second database is empty, and its user cannot read the first one's tables.
    assert!(query_i64(&second, "SELECT v FROM t").await.is_err());
    let first_db = first.rsplit('/').next().expect("db name").to_owned();
    let mut two = sqlx::MySqlConnection::connect(&second)
        .await
        .expect("connect second");
    let cross = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SELECT v FROM `{first_db}`.t")))
        .execute(&mut two)
        .await;
    assert!(
        cross.is_err(),
        "a test's user must not see another test's database"
    );
    two.close().await.expect("close");
    // The admin account sees both.
    assert!(
        query_i64(&db.admin_url(), "SELECT COUNT(*) FROM mysql.user")
            .await
            .expect("admin")
            >= 3
    );

    let footprint = Footprint {
        port: db.port(),
        pid: db.pid().expect("running"),
        dir: db.dir().to_path_buf(),
    };
    drop(db);
    assert_gone("MariaDB", footprint);
}

#[tokio::test]
async fn mariadb_shared_is_one_server_for_the_whole_binary() {
    let a = MariaDb::shared().await.expect("shared");
    let b = MariaDb::shared().await.expect("shared again");
    assert!(Arc::ptr_eq(&a, &b));
    let url = b.create_database("shared").await.expect("db");
    assert_eq!(query_i64(&url, "SELECT 1").await.expect("query"), 1);
}

#[tokio::test]
async fn monerod_mines_regtest_blocks_and_reports_the_height() {
    let daemon = Monerod::start(MonerodOptions::default())
        .await
        .expect("start monerod");
    assert_eq!(
        daemon.height().await.expect("height"),
        Height(1),
        "genesis only"
    );
    let mined = daemon
        .generate_blocks(5, MAINNET_ADDRESS)
        .await
        .expect("generateblocks");
    assert_eq!(mined.blocks.len(), 5);
    assert_eq!(mined.height, Height(5), "height of the last mined block");
    assert_eq!(daemon.height().await.expect("height"), Height(6));
    let header = daemon
        .json_rpc("get_last_block_header", serde_json::json!({}))
        .await
        .expect("last header");
    assert_eq!(
        header["block_header"]["hash"].as_str(),
        Some(mined.blocks[4].to_string().as_str())
    );
    // A bad address is an RPC error, not a panic or a hang.
    let bad = daemon.generate_blocks(1, "not-an-address").await;
    assert!(matches!(bad, Err(DevnetError::Rpc { .. })), "{bad:?}");

    let footprint = Footprint {
        port: daemon.rpc_port(),
        pid: daemon.pid().expect("running"),
        dir: daemon.dir().to_path_buf(),
    };
    drop(daemon);
    assert_gone("monerod", footprint);
}

#[tokio::test]
async fn monerod_stop_refuses_connections_and_restart_serves_a_fresh_chain_on_the_same_port() {
    let mut daemon = Monerod::start(MonerodOptions::default())
        .await
        .expect("start");
    daemon
        .generate_blocks(3, MAINNET_ADDRESS)
        .await
        .expect("mine");
    let port = daemon.rpc_port();
    let old_pid = daemon.pid().expect("pid");

    daemon.stop().await;
    assert!(!daemon.is_running());
    assert!(process_is_dead(old_pid));
    assert!(port_is_closed(port));
    assert!(daemon.height().await.is_err());

    daemon.restart().await.expect("restart");
    assert_eq!(daemon.rpc_port(), port);
    assert!(daemon.is_running());
    assert_eq!(
        daemon.height().await.expect("height"),
        Height(1),
        "regtest starts over"
    );

    daemon.kill();
    assert!(port_is_closed(port));
}

#[tokio::test]
async fn regtest_chain_pays_a_wallet_rpc_wallet() {
    let daemon = Monerod::shared().await.expect("shared monerod");
    let wallet = WalletRpc::start(&daemon, Network::Mainnet)
        .await
        .expect("start wallet-rpc");
    wallet.create_wallet("miner").await.expect("create wallet");
    let address = wallet.address().await.expect("address");
    assert!(
        address.starts_with('4'),
        "mainnet-prefix address on regtest: {address}"
    );
    assert_eq!(wallet.balance().await.expect("balance").balance.0, 0);

    daemon
        .generate_blocks(2, &address)
        .await
        .expect("mine to the wallet");
    wallet.refresh().await.expect("refresh");
    let balance = wallet.balance().await.expect("balance");
    assert!(balance.balance.0 > 0, "coinbase must show up: {balance:?}");
    assert_eq!(balance.unlocked.0, 0, "coinbase stays locked for 60 blocks");

    // A second wallet in the same process is independent.
    wallet.create_wallet("other").await.expect("second wallet");
    assert_ne!(wallet.address().await.expect("address"), address);
    wallet.open_wallet("miner").await.expect("reopen");
    assert_eq!(wallet.address().await.expect("address"), address);

    let footprint = Footprint {
        port: wallet.rpc_port(),
        pid: wallet.pid().expect("running"),
        dir: wallet.dir().to_path_buf(),
    };
    drop(wallet);
    assert_gone("wallet-rpc", footprint);
}

#[tokio::test]
async fn smtp_keeps_every_received_message_and_is_gone_after_drop() {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let smtp = Smtp::start().await.expect("start smtp");
    assert!(smtp.messages().expect("empty").is_empty());
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host())
        .port(smtp.port())
        .build();
    for n in 0..2 {
        let message = Message::builder()
            .from("pool@example.org".parse().expect("from"))
            .to("miner@example.org".parse().expect("to"))
            .subject(format!("worker stopped {n}"))
            .body(format!("body {n}\n.\nstill body"))
            .expect("message");
        mailer.send(message).await.expect("send");
    }
    let messages = smtp
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .expect("received");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].mail_from, "pool@example.org");
    assert_eq!(messages[0].rcpt_tos, vec!["miner@example.org".to_owned()]);
    assert!(
        messages[0].data.contains("Subject: worker stopped 0"),
        "{}",
        messages[0].data
    );
    assert!(messages[1].data.contains("Subject: worker stopped 1"));
    assert!(
        messages[1].data.contains("\n.\nstill body")
            || messages[1].data.contains("\r\n.\r\nstill body")
    );
    // Nothing more arrives, and waiting for it times out with a useful error.
    assert!(
        smtp.wait_for_messages(3, Duration::from_millis(300))
            .await
            .is_err()
    );

    let footprint = Footprint {
        port: smtp.port(),
        pid: smtp.pid().expect("running"),
        dir: smtp.dir().to_path_buf(),
    };
    drop(smtp);
    assert_gone("smtp", footprint);
}

/// Set by `killed_test_binary_takes_its_daemons_along_and_its_dir_is_swept_later` for the
/// child test binary it starts and kills.
const CHILD_ENV: &str = "RXPOOL_DEVNET_CHILD";

/// The child half of `killed_test_binary_takes_its_daemons_along_and_its_dir_is_swept_later`:
/// returns at once unless that test started this binary with `RXPOOL_DEVNET_CHILD=1`.
#[tokio::test]
async fn child_process_holding_an_smtp_server() {
    if std::env::var_os(CHILD_ENV).is_none_or(|value| value != "1") {
        return;
    }
    let smtp = Smtp::start().await.expect("start smtp");
    println!("SMTP-PID {} {}", smtp.pid().expect("pid"), smtp.port());
    tokio::time::sleep(Duration::from_secs(120)).await;
    drop(smtp);
}

#[tokio::test]
async fn killed_test_binary_takes_its_daemons_along_and_its_dir_is_swept_later() {
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "child_process_holding_an_smtp_server",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child test binary");
    let stdout = child.stdout.take().expect("stdout");
    let line = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("SMTP-PID "))
        .expect("child reports its SMTP server");
    let mut fields = line.split_whitespace().skip(1);
    let pid: u32 = fields.next().and_then(|f| f.parse().ok()).expect("pid");
    let port: u16 = fields.next().and_then(|f| f.parse().ok()).expect("port");
    assert!(!process_is_dead(pid));

    let child_pid = child.id();
    child.kill().expect("SIGKILL the child test binary");
    child.wait().expect("reap child");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(process_is_dead(pid) && port_is_closed(port)) {
        assert!(
            Instant::now() < deadline,
            "SMTP server {pid} outlived its killed test binary"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its temp dir outlived it (nobody could remove it), until the next component starts.
    let child_prefix = format!("rxpool-devnet-{child_pid}-");
    let leftovers = || {
        std::fs::read_dir(std::env::temp_dir())
            .expect("read temp dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&child_prefix))
            .count()
    };
    assert_eq!(leftovers(), 1, "the killed child's SMTP dir");
    let smtp = Smtp::start().await.expect("start smtp");
    assert_eq!(leftovers(), 0, "stale dir swept by the next start");
    drop(smtp);
}
