//! The pool's abuse limits end to end on real sockets: rate-limit refusals that end a
//! connection, the invalid-share ratio kept per IP across reconnects (regtest monerod), caps
//! and bans per IPv6 prefix, the process-wide connection cap, PROXY protocol ports, and
//! settings re-read from MySQL while the role runs (`pool::run` on the devnet MariaDB).

#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod pool_db;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;

use rxpool::devnet::{Monerod, MonerodOptions, free_port};
use rxpool::domain::PoolType;
use rxpool::pool::proxy_protocol::{TrustedProxies, V2_SIGNATURE};
use rxpool::pool::rejection::Rejection;
use rxpool::pool::settings::PoolSettings;
use rxpool::pool::state::Shared;
use rxpool::store::mysql::{self, PortConfig};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use stratum::{ADDR, Client, Listen, TestPool, error_of, test_settings};

/// Starts a pool on a port of difficulty 1; `prepare` may set what `pool::run` sets from
/// config.toml before the state is shared (connection cap, trusted proxies). With a daemon it
/// polls templates, without one it serves only what needs no template (connection limits).
async fn start(
    daemon: Option<&Monerod>,
    settings: PoolSettings,
    proxy_protocol: bool,
    prepare: impl FnOnce(&mut Shared),
) -> TestPool {
    let urls: Vec<String> = daemon.map(Monerod::rpc_url).into_iter().collect();
    let listen = Listen {
        difficulty: 1,
        tls: None,
        proxy_protocol,
    };
    stratum::start_pool_on(&urls, settings, listen, prepare).await
}

const TOO_MANY: &str = "Too many requests, slow down";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_keeps_hitting_the_rate_limit_is_closed_after_a_bounded_number_of_refusals()
 {
    let pool = start(None, test_settings(), false, |_| {}).await;
    let limit = pool.shared.settings().protocol_error_limit;
    let stream = TcpStream::connect(pool.addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    // 100,000 keepalives in one write (the burst is 10).
    let flood: Vec<u8> = (0..100_000)
        .flat_map(|i| {
            format!("{{\"id\":{i},\"method\":\"keepalived\",\"params\":{{}}}}\n").into_bytes()
        })
        .collect();
    let writer = tokio::spawn(async move { write.write_all(&flood).await });
    let mut io = BufReader::new(read);
    let (mut refusals, mut replies) = (0u32, 0u32);
    let closed = loop {
        let mut line = String::new();
        match tokio::time::timeout(Duration::from_secs(10), io.read_line(&mut line)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {
                replies += 1;
                let v: Value = serde_json::from_str(&line).unwrap();
                if error_of(&v) == Some(TOO_MANY) {
                    refusals += 1;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = writer.await;
    assert!(
        closed,
        "the connection stays open after {refusals} refusals"
    );
    // Counted by the server: the client may lose the last replies to the reset that closing
    // a socket with unread requests causes.
    assert_eq!(
        pool.shared.rejections.get(Rejection::RateLimited),
        u64::from(limit + 1),
        "refusals before the close ({replies} replies read)"
    );
    assert!(
        refusals <= limit + 1 && replies < 100,
        "{replies} replies to a flood"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_under_its_rate_limit_is_never_closed_for_occasional_refusals() {
    let pool = start(None, test_settings(), false, |_| {}).await;
    let limit = pool.shared.settings().protocol_error_limit;
    let mut c = Client::connect(pool.addr).await;
    // Each round drains the burst and runs `limit` refusals in a row, then waits for a
    // token: a request let through starts the count again.
    for _ in 0..3 {
        let mut refused = 0;
        while refused < limit {
            let r = c.try_call("keepalived", json!({})).await.expect("closed");
            if error_of(&r) == Some(TOO_MANY) {
                refused += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(c.served().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invalid_share_ratio_follows_the_ip_across_reconnects() {
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let mut s = test_settings();
    s.bans.threshold = 4;
    s.bans.length_secs = 60;
    let pool = start(Some(&monerod), s, false, |_| {}).await;
    let mut nonce = 0u32;
    // Two bad shares per connection, then a reconnect: per session the ratio would never
    // reach its threshold of 4 and the miner would never be banned.
    for round in 0..2 {
        let mut c = Client::connect(pool.addr).await;
        let login = c
            .try_call("login", json!({"login": ADDR, "pass": "x"}))
            .await
            .unwrap();
        let job = login["result"]["job"].clone();
        assert!(job.is_object(), "{login}");
        for _ in 0..2 {
            nonce += 1;
            let r = c
                .try_call(
                    "submit",
                    json!({"id": job["id"], "job_id": job["job_id"], "nonce": hex::encode(nonce.to_le_bytes()), "result": "22".repeat(32)}),
                )
                .await
                .unwrap();
            assert_eq!(error_of(&r), Some("Low difficulty share"), "{r}");
        }
        if round == 1 {
            assert!(c.closed().await, "the fourth bad share of the IP bans it");
        }
    }
    let mut d = Client::connect(pool.addr).await;
    let r = d
        .try_call("login", json!({"login": ADDR, "pass": "x"}))
        .await
        .unwrap();
    assert_eq!(error_of(&r), Some("IP Address currently banned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_connection_cap_closes_connections_past_it_and_frees_slots_on_close() {
    let pool = start(None, test_settings(), false, |shared| {
        shared.connection_cap = Arc::new(tokio::sync::Semaphore::new(2));
    })
    .await;
    let mut a = Client::connect(pool.addr).await;
    let mut b = Client::connect(pool.addr).await;
    assert!(a.served().await && b.served().await);
    let mut c = Client::connect(pool.addr).await;
    assert!(c.closed().await, "a third connection is over the cap");
    drop(a);
    // The slot comes back once the server has seen the close.
    let mut served = false;
    for _ in 0..50 {
        let mut d = Client::connect(pool.addr).await;
        if d.served().await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a freed slot is not reused");
    assert!(b.served().await);
}

/// A v1 PROXY line for a client at `source`.
fn v1(source: &str) -> Vec<u8> {
    let family = if source.contains(':') { "TCP6" } else { "TCP4" };
    let dest = if source.contains(':') {
        "::1"
    } else {
        "127.0.0.1"
    };
    format!("PROXY {family} {source} {dest} 40000 3333\r\n").into_bytes()
}

/// Connects and sends `header` first.
async fn via_proxy(pool: &TestPool, header: &[u8]) -> Client<TcpStream> {
    let mut stream = TcpStream::connect(pool.addr).await.unwrap();
    stream.write_all(header).await.unwrap();
    Client::new(stream)
}

fn proxy_settings(max_per_ip: u32) -> PoolSettings {
    PoolSettings {
        max_connections_per_ip: max_per_ip,
        ..test_settings()
    }
}

fn trust_loopback(shared: &mut Shared) {
    shared.proxies = TrustedProxies::parse(&["127.0.0.0/8"]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_count_an_ipv6_slash_64_as_one_ip() {
    let pool = start(None, proxy_settings(2), true, trust_loopback).await;
    let mut a = via_proxy(&pool, &v1("2001:db8:1:2::1")).await;
    let mut b = via_proxy(&pool, &v1("2001:db8:1:2:ffff::9")).await;
    assert!(a.served().await && b.served().await);
    let mut c = via_proxy(&pool, &v1("2001:db8:1:2:abcd::77")).await;
    assert!(
        c.closed().await,
        "a third address of the same /64 is over the cap"
    );
    let mut other = via_proxy(&pool, &v1("2001:db8:1:3::1")).await;
    assert!(other.served().await, "the next /64 is another IP");
    let mut v4 = via_proxy(&pool, &v1("203.0.113.1")).await;
    assert!(v4.served().await);

    // The prefix follows the settings: at /128 every address is its own IP.
    let mut s = proxy_settings(2);
    s.bans.ipv6_prefix = 128;
    pool.shared.set_settings(s);
    let mut d = via_proxy(&pool, &v1("2001:db8:1:2:abcd::77")).await;
    assert!(d.served().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_covers_the_whole_ipv6_slash_64_of_the_banned_address() {
    let pool = start(None, proxy_settings(0), true, trust_loopback).await;
    let now = pool.shared.now();
    pool.shared
        .bans
        .ban_ip("2001:db8:5:6::1".parse().unwrap(), now, 60);
    let mut c = via_proxy(&pool, &v1("2001:db8:5:6:9::2")).await;
    let r = c.try_call("keepalived", json!({})).await.unwrap();
    assert_eq!(error_of(&r), Some("IP Address currently banned"));
    assert!(c.closed().await);
    let mut next = via_proxy(&pool, &v1("2001:db8:5:7::1")).await;
    assert!(next.served().await, "the neighbouring /64 is not banned");
    // Permanent bans from the `bans` table cover the prefix too.
    pool.shared.bans.replace_permanent(
        ["2001:db8:9:9::1".parse().unwrap()].into(),
        Default::default(),
    );
    let mut p = via_proxy(&pool, &v1("2001:db8:9:9:1:2:3:4")).await;
    let r = p.try_call("keepalived", json!({})).await.unwrap();
    assert_eq!(error_of(&r), Some("IP Address currently banned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_port_bans_and_caps_the_miners_address_from_v1_and_v2_headers() {
    let pool = start(None, proxy_settings(1), true, trust_loopback).await;
    let mut a = via_proxy(&pool, &v1("198.51.100.7")).await;
    assert!(a.served().await);
    // The same miner through a v2 header: over its cap of one, though the proxy is the
    // same loopback address for both.
    let mut v2 = V2_SIGNATURE.to_vec();
    v2.extend_from_slice(&[
        0x21, 0x11, 0, 12, 198, 51, 100, 7, 127, 0, 0, 1, 0x9c, 0x40, 0x0d, 0x05,
    ]);
    let mut same = via_proxy(&pool, &v2).await;
    assert!(
        same.closed().await,
        "the cap sees the miner, not the balancer"
    );
    v2[16..20].copy_from_slice(&[198, 51, 100, 8]);
    let mut other = via_proxy(&pool, &v2).await;
    assert!(
        other.served().await,
        "another miner behind the same balancer"
    );
    // A v2 LOCAL health check is the balancer's own connection.
    let mut local = V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    let mut check = via_proxy(&pool, &local).await;
    assert!(check.served().await);

    let now = pool.shared.now();
    pool.shared
        .bans
        .ban_ip("198.51.100.8".parse().unwrap(), now, 60);
    let r = other.try_call("keepalived", json!({})).await.unwrap();
    assert_eq!(error_of(&r), Some("IP Address currently banned"));
    assert!(
        a.served().await,
        "a ban of one miner leaves the others behind the balancer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_port_refuses_bad_headers_and_addresses_that_are_not_a_configured_proxy() {
    let pool = start(None, proxy_settings(0), true, trust_loopback).await;
    for bad in [
        &b"{\"id\":1,\"method\":\"keepalived\",\"params\":{}}\n"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n",
        &[&V2_SIGNATURE[..], &[0x21, 0x51, 0, 12], &[0; 12]].concat(),
        &[&V2_SIGNATURE[..], &[0x21, 0x11, 0xff, 0xff]].concat(),
    ] {
        let mut c = via_proxy(&pool, bad).await;
        assert!(
            c.closed().await,
            "{:?} is taken",
            String::from_utf8_lossy(bad)
        );
    }
    // A header cut short and then silence: dropped with the header timeout, never served.
    let mut cut = via_proxy(&pool, b"PROXY TCP4 1.2.3.4").await;
    assert!(!cut.served().await);

    // Without loopback among the proxies, even a good header is refused.
    let untrusted = start(None, proxy_settings(0), true, |shared| {
        shared.proxies = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
    })
    .await;
    let mut c = via_proxy(&untrusted, &v1("198.51.100.7")).await;
    assert!(
        c.closed().await,
        "a PROXY header from a non-proxy address is refused"
    );
    // A port without the opt-in takes no header: the line is garbage there.
    let plain = start(None, test_settings(), false, trust_loopback).await;
    let mut c = via_proxy(&plain, &v1("198.51.100.7")).await;
    assert!(c.closed().await);
}

/// Waits until `port` on loopback accepts (`true`) or refuses (`false`) connections.
async fn wait_port(port: u16, open: bool) -> bool {
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() == open {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_changed_in_mysql_apply_without_a_restart() {
    let (url, db, port) =
        pool_db::pool_database_at_difficulty_one("pool_limits_refresh", ADDR).await;
    let pps = free_port().unwrap();
    mysql::registry::upsert_port(
        &db,
        &PortConfig {
            port: pps,
            difficulty: 1,
            description: "pps".into(),
            pool_type: PoolType::Pps,
            hidden: false,
            tls: false,
        },
    )
    .await
    .unwrap();
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1,
    })
    .await
    .unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    let config = pool_db::pool_config(
        &url,
        lmdb.path(),
        &monerod.rpc_url(),
        100,
        "pool_id = 9\nrefresh_secs = 1\nproxy_addresses = [\"127.0.0.1\"]",
    );
    let shutdown = CancellationToken::new();
    let role = tokio::spawn(rxpool::pool::run(config, shutdown.clone()));
    assert!(wait_port(port, true).await, "pplns port never opened");
    assert!(
        wait_port(pps, false).await,
        "pps.enable is false by default"
    );

    // pps.enable opens the PPS port, and closing it again ends its connections. The port
    // sits behind a balancer (port_config.proxyProtocol, [pool] proxy_addresses).
    mysql::registry::set_proxy_protocol(&db, pps, true)
        .await
        .unwrap();
    mysql::set_setting(&db, "pps.enable", "true").await.unwrap();
    assert!(wait_port(pps, true).await, "the PPS port did not open");
    let pps_addr = SocketAddr::from(([127, 0, 0, 1], pps));
    let mut direct = Client::connect(pps_addr).await;
    assert!(!direct.served().await, "a PROXY port takes no bare stratum");
    let mut stream = TcpStream::connect(pps_addr).await.unwrap();
    stream.write_all(&v1("198.51.100.7")).await.unwrap();
    let mut on_pps = Client::new(stream);
    assert!(on_pps.served().await);
    mysql::set_setting(&db, "pps.enable", "false")
        .await
        .unwrap();
    assert!(wait_port(pps, false).await, "the PPS port did not close");
    assert!(on_pps.closed().await, "its connections are closed with it");

    // maxConnectionsPerIp.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut first = Client::connect(addr).await;
    assert!(first.served().await);
    mysql::set_setting(&db, "pool.maxConnectionsPerIp", "1")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut second = Client::connect(addr).await;
    assert!(second.closed().await, "a second connection is still taken");
    assert!(first.served().await, "lowering the cap closes nothing");

    // previousTemplates: with none kept, a job of the last template is expired at once.
    mysql::set_setting(&db, "pool.maxConnectionsPerIp", "256")
        .await
        .unwrap();
    mysql::set_setting(&db, "pool.previousTemplates", "0")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut miner = Client::connect(addr).await;
    let login = miner
        .login_when_ready(json!({"login": ADDR, "pass": "x"}))
        .await;
    let job = login["result"]["job"].clone();
    assert!(job.is_object(), "{login}");
    monerod.generate_blocks(1, ADDR).await.unwrap();
    let push = miner.next_push().await;
    assert_ne!(push["job_id"], job["job_id"]);
    let r = miner
        .try_call(
            "submit",
            json!({"id": job["id"], "job_id": job["job_id"], "nonce": "00000000", "result": "22".repeat(32)}),
        )
        .await
        .unwrap();
    assert_eq!(error_of(&r), Some("Block expired"), "{r}");
    pool_db::stop(shutdown, role).await;
}
