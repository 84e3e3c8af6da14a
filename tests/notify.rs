//! monerod's `--block-notify` push and the pool's public address, end to end: a regtest monerod
//! runs the built `rxpool notify-block` for each block, the pool (`pool::run` with config.toml,
//! devnet MariaDB) polls at once and pushes the new job long before its 60 s poll; the CLI's
//! datagram, exit codes and input errors; `pools.ip`/`ports.ip_address` carry
//! `[pool] public_address`, never the bind address.

#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod pool_db;

use rxpool::devnet::{Monerod, MonerodOptions, free_port};
use serde_json::{Value, json};
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
const BLOCK: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

async fn database(name: &str) -> (String, sqlx::MySqlPool, u16) {
    pool_db::pool_database(name, ADDR, 1000).await
}

fn config(url: &str, lmdb: &Path, daemon: &str, pool_lines: &str) -> rxpool::config::FileConfig {
    // A minute between polls: a new job sooner than that came from the block notification.
    pool_db::pool_config(url, lmdb, daemon, 60_000, pool_lines)
}

/// The next line from the pool that satisfies `want`, within `within`.
async fn next_line(
    io: &mut BufReader<TcpStream>,
    within: Duration,
    want: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut line = String::new();
        match tokio::time::timeout_at(deadline, io.read_line(&mut line)).await {
            Err(_) => return None,
            Ok(read) => assert!(read.unwrap() > 0, "the pool closed the connection"),
        }
        let v: Value = serde_json::from_str(&line).unwrap();
        if want(&v) {
            return Some(v);
        }
    }
}

/// Connects and logs in (retrying until the first template is there); returns the first job.
async fn login(port: u16) -> (BufReader<TcpStream>, Value) {
    for _ in 0..100 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await {
            let mut io = BufReader::new(stream);
            let req = json!({"id": 1, "jsonrpc": "2.0", "method": "login",
                             "params": {"login": ADDR, "pass": "x"}});
            io.get_mut()
                .write_all(format!("{req}\n").as_bytes())
                .await
                .unwrap();
            let reply = next_line(&mut io, Duration::from_secs(30), |v| v["id"] == json!(1))
                .await
                .expect("no login reply");
            if reply["error"].is_null() {
                return (io, reply["result"]["job"].clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no login on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monerod_block_notify_pushes_the_new_job_long_before_the_poll_interval() {
    let (url, _db, port) = database("notify_push").await;
    let notify_port = free_port().unwrap();
    // monerod splits this on whitespace and runs it without a shell.
    let command = format!(
        "{} notify-block --to 127.0.0.1:{notify_port} %s",
        env!("CARGO_BIN_EXE_rxpool")
    );
    let monerod = Monerod::start_with_block_notify(MonerodOptions::default(), &command)
        .await
        .unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    let config = config(
        &url,
        lmdb.path(),
        &monerod.rpc_url(),
        &format!("pool_id = 11\nblock_notify = \"127.0.0.1:{notify_port}\""),
    );
    let shutdown = CancellationToken::new();
    let role = tokio::spawn(rxpool::pool::run(config, shutdown.clone()));

    let (mut io, job) = login(port).await;
    let first = job["height"].as_u64().expect("job height");
    // The poll interval is 60 s: only the notification can bring these jobs in time.
    for height in first..first + 2 {
        let started = Instant::now();
        let mined = monerod.generate_blocks(1, ADDR).await.unwrap();
        let pushed = next_line(&mut io, Duration::from_secs(15), |v| v["method"] == "job")
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no job within 15 s of block {} (poll interval 60 s)\n{}",
                    mined.height,
                    monerod.log_tail()
                )
            });
        let elapsed = started.elapsed();
        assert_eq!(pushed["params"]["height"], json!(height + 1), "{pushed}");
        assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    }

    pool_db::stop(shutdown, role).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_and_ports_carry_the_public_address_and_a_taken_pool_id_is_refused() {
    let (url, db, port) = database("notify_public_address").await;
    // A row as earlier versions wrote it: the bind address names no host and is taken over.
    sqlx::query("INSERT INTO pools (id, ip, hostname) VALUES (12, '0.0.0.0', 'old')")
        .execute(&db)
        .await
        .unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    // No daemon is needed to register: the feed just keeps failing.
    let daemon = "http://127.0.0.1:1";
    let first = config(
        &url,
        lmdb.path(),
        daemon,
        "pool_id = 12\npublic_address = \"pool-a.example.org\"",
    );
    assert_eq!(first.pool.bind, "127.0.0.1");
    let shutdown = CancellationToken::new();
    let role = tokio::spawn(rxpool::pool::run(first, shutdown.clone()));
    let mut port_ip = None;
    for _ in 0..100 {
        port_ip = sqlx::query_scalar::<_, String>(
            "SELECT ip_address FROM ports WHERE pool_id = 12 AND network_port = ?",
        )
        .bind(port)
        .fetch_optional(&db)
        .await
        .unwrap();
        if port_ip.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(port_ip.as_deref(), Some("pool-a.example.org"));
    let (ip, hostname): (String, String) =
        sqlx::query_as("SELECT ip, hostname FROM pools WHERE id = 12")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(
        (ip.as_str(), hostname.as_str()),
        ("pool-a.example.org", "test-pool")
    );
    pool_db::stop(shutdown, role).await;

    // Another host with the same pool_id would share extra nonces: it must not start.
    let second = config(
        &url,
        lmdb.path(),
        daemon,
        "pool_id = 12\npublic_address = \"pool-b.example.org\"",
    );
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        rxpool::pool::run(second, CancellationToken::new()),
    )
    .await
    .expect("the second host neither started nor stopped")
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("registered to pool-a.example.org"),
        "{err:#}"
    );
    let ip: String = sqlx::query_scalar("SELECT ip FROM pools WHERE id = 12")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(ip, "pool-a.example.org");
}

fn notify_block(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rxpool"))
        // It must read no config: monerod runs it with whatever environment it has.
        .args(["--config", "/nonexistent/rxpool.toml", "notify-block"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn notify_block_sends_the_block_id_in_one_datagram() {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let to = listener.local_addr().unwrap().to_string();
    let mut buf = [0u8; 256];

    let out = notify_block(&["--to", &to, BLOCK]);
    assert!(out.status.success(), "{out:?}");
    let (len, _) = listener.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], BLOCK.as_bytes());

    let out = notify_block(&["--to", &to]);
    assert!(out.status.success(), "{out:?}");
    let (len, _) = listener.recv_from(&mut buf).unwrap();
    assert_eq!(len, 0, "without a block id the datagram is empty");
}

#[test]
fn notify_block_exits_zero_when_nobody_listens() {
    let unused = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = unused.local_addr().unwrap().to_string();
    drop(unused);
    let out = notify_block(&["--to", &to, BLOCK]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn notify_block_refuses_a_malformed_address_or_block_id() {
    for args in [
        vec!["--to", "127.0.0.1", BLOCK],
        vec!["--to", "localhost:18090", BLOCK],
        vec!["--to", "127.0.0.1:99999", BLOCK],
        vec!["--to", "", BLOCK],
        vec![BLOCK],
    ] {
        let out = notify_block(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains("--to"), "{args:?}: {stderr}");
    }
    let out = notify_block(&["--to", "127.0.0.1:18090", "not-a-block-id"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("HASH") && stderr.contains("64 hex"),
        "{stderr}"
    );
}
