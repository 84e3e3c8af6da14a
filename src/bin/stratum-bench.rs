//! Stratum load generator and pool benchmark.
//!
//! `stratum-bench [--miners N] [--rate SHARES_PER_SEC] [--seconds S] [--fast]` starts a regtest
//! monerod (devnet), runs the pool's share path in this process (real verifier, real LMDB
//! writer, real daemon client) on a loopback port, and drives it from a CHILD process (this
//! binary with `--client`) so the pool's RSS is measured alone. The child opens N connections
//! from 127.0.0.x source addresses, logs every miner in (login, getjob, keepalived), then:
//! 1. the pool re-publishes its template and the child reports when every miner had the push;
//! 2. the child submits deliberately wrong results at the chosen rate for S seconds (every one
//!    is hashed by the verifier, then refused), reporting replies per second and submit
//!    latency p50/p99. Raw RandomX hashes per second are measured in the same run for the
//!    "verified shares ÷ raw hashes" ratio.
//!
//! Output: one `key = value` line per figure. Bans are disabled (wrong shares would ban the
//! loopback IP) and the per-IP cap is lifted.

#![expect(
    clippy::float_arithmetic,
    reason = "benchmark figures (rates, milliseconds); no money flows here"
)]

use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::domain::{Difficulty, Hash32, PoolType, SystemClock};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::pow::{PowAlgo, RandomxMode, Verifier, VerifierConfig};
use rxpool::pool::services::{DaemonSubmitter, LmdbSink, VerifierHasher};
use rxpool::pool::session::PortInfo;
use rxpool::pool::settings::PoolSettings;
use rxpool::pool::state::Shared;
use rxpool::store::lmdb::{ShareStore, StoreOptions, WriterConfig};
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.iter().any(|a| a == "--client") {
        rt.block_on(client(args))
    } else {
        rt.block_on(server(args))
    }
}

async fn server(args: Vec<String>) -> anyhow::Result<()> {
    let miners = arg(&args, "--miners", 1000);
    let rate = arg(&args, "--rate", 100);
    let seconds = arg(&args, "--seconds", 10);
    let fast = args.iter().any(|a| a == "--fast");
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000_000,
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let store = ShareStore::open(&StoreOptions {
        map_size: 256 << 20,
        ..StoreOptions::new(dir.path())
    })?;
    let writer = store.writer(WriterConfig::default())?;
    let verifier = Verifier::new(VerifierConfig {
        randomx_mode: if fast {
            RandomxMode::Fast
        } else {
            RandomxMode::Light
        },
        ..VerifierConfig::light(0)
    });
    let daemon = Arc::new(DaemonClient::with_timeout(
        &[monerod.rpc_url()],
        Duration::from_secs(30),
    )?);
    let defaults = PoolSettings::default();
    let mut settings = PoolSettings {
        pool_address: ADDR.into(),
        max_connections_per_ip: 0,
        template_poll: Duration::from_secs(3600),
        ..defaults.clone()
    };
    settings.bans.enabled = false;
    settings.vardiff.min = 1;
    settings.submit_rate.rate_per_sec = 0;
    settings.getjob_rate.rate_per_sec = 0;
    settings.keepalive_rate.rate_per_sec = 0;
    let shared = Arc::new(Shared::new(
        settings,
        1,
        7,
        Arc::new(VerifierHasher(verifier.clone())),
        Arc::new(LmdbSink(writer)),
        Arc::new(DaemonSubmitter(daemon.clone())),
        Arc::new(SystemClock),
    ));
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(rxpool::pool::feed::run(
        shared.clone(),
        daemon,
        shutdown.clone(),
    ));
    let port = PortInfo {
        port: 0,
        difficulty: Difficulty(1),
        pool_type: PoolType::Pplns,
        tls: false,
    };
    let addr = rxpool::pool::start_listeners(
        shared.clone(),
        "127.0.0.1",
        vec![(port, None)],
        &shutdown,
        &tracker,
    )
    .await?[0];
    while shared.current_template().is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let slot = shared
        .current_template()
        .ok_or_else(|| anyhow::anyhow!("no template"))?;
    let seed = slot.template.seed_hash();
    // Warm the verifier (cache/dataset for the seed).
    let blob = slot.template.hashing_blob(&[0u8; 16])?.into_bytes();
    verifier.hash(PowAlgo::RandomX, seed, blob.clone()).await?;
    while fast && !verifier.has_dataset(&seed) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rss_before = rss_kb();

    // Raw RandomX throughput through the verifier, all threads busy.
    let raw_secs = 5.0_f64;
    let raw_done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..(verifier.threads() * 2) {
        let (v, done, mut b) = (verifier.clone(), raw_done.clone(), blob.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = t as u32 * 1_000_000;
            while start.elapsed().as_secs_f64() < raw_secs {
                n += 1;
                b[39..43].copy_from_slice(&n.to_le_bytes());
                if v.hash(PowAlgo::RandomX, seed, b.clone()).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let raw_hps = raw_done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!("raw_randomx_hashes_per_sec = {raw_hps:.1}");

    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .args(["--client", "--addr", &addr.to_string()])
        .args(["--miners", &miners.to_string(), "--rate", &rate.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut to_child = child.stdin.take().ok_or_else(|| anyhow::anyhow!("stdin"))?;
    let from_child = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("stdout"))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(from_child)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        if let Some(rest) = line.strip_prefix("READY ") {
            let held = shared.stats.logged_in.load(Ordering::Relaxed);
            let rss = rss_kb();
            println!("connections_requested = {miners}");
            println!("login_phase = {rest}");
            println!("connections_held = {held}");
            println!("pool_rss_kb = {rss} (before connections: {rss_before})");
            if let Some(per) = (rss.saturating_sub(rss_before) * 1024).checked_div(held) {
                println!("pool_rss_per_connection_bytes = {per}");
            }
            let t0 = now_ns();
            let template = slot.template.clone();
            shared.publish_template(template);
            writeln!(to_child, "PUSH {t0}")?;
            to_child.flush()?;
        } else if let Some(rest) = line.strip_prefix("PUSHED ") {
            println!("job_push_all_miners_ms = {rest}");
            writeln!(to_child, "SUBMIT")?;
            to_child.flush()?;
        } else if let Some(rest) = line.strip_prefix("DONE ") {
            println!("{rest}");
            let verified = shared.stats.verified.load(Ordering::Relaxed);
            println!("pool_verified_shares = {verified}");
            println!("pool_rejections = {:?}", shared.rejections.snapshot());
        } else {
            println!("{line}");
        }
    }
    let _ = child.wait();
    shutdown.cancel();
    Ok(())
}

struct Miner {
    io: BufReader<tokio::net::TcpStream>,
    session: String,
    job_id: String,
}

async fn read_json(io: &mut BufReader<tokio::net::TcpStream>) -> Option<serde_json::Value> {
    let mut line = String::new();
    match io.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => serde_json::from_str(&line).ok(),
    }
}

async fn client(args: Vec<String>) -> anyhow::Result<()> {
    let addr: SocketAddr = args
        .iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1))
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("--addr"))?;
    let miners = arg(&args, "--miners", 1000) as usize;
    let rate = arg(&args, "--rate", 100);
    let seconds = arg(&args, "--seconds", 10);

    // Log in every miner, 256 at a time.
    let start = Instant::now();
    let mut all = Vec::with_capacity(miners);
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    let mut handles = Vec::with_capacity(miners);
    for i in 0..miners {
        let sem = sem.clone();
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.ok()?;
            let src = IpAddr::V4(Ipv4Addr::new(127, 0, ((i / 250) % 250) as u8, (i % 250 + 2) as u8));
            let socket = tokio::net::TcpSocket::new_v4().ok()?;
            socket.bind(SocketAddr::new(src, 0)).ok()?;
            let stream = socket.connect(addr).await.ok()?;
            let mut io = BufReader::new(stream);
            let login = format!(
                "{{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"login\",\"params\":{{\"login\":\"{ADDR}\",\"pass\":\"x\",\"agent\":\"stratum-bench\",\"rigid\":\"m{i}\"}}}}\n"
            );
            io.get_mut().write_all(login.as_bytes()).await.ok()?;
            let reply = read_json(&mut io).await?;
            let session = reply["result"]["id"].as_str()?.to_string();
            let job_id = reply["result"]["job"]["job_id"].as_str()?.to_string();
            let getjob = format!("{{\"id\":2,\"method\":\"getjob\",\"params\":{{\"id\":\"{session}\"}}}}\n");
            io.get_mut().write_all(getjob.as_bytes()).await.ok()?;
            let reply = read_json(&mut io).await?;
            let job_id = reply["result"]["job_id"].as_str().map(str::to_string).unwrap_or(job_id);
            let keep = "{\"id\":3,\"method\":\"keepalived\",\"params\":{}}\n";
            io.get_mut().write_all(keep.as_bytes()).await.ok()?;
            read_json(&mut io).await?;
            Some(Miner { io, session, job_id })
        }));
    }
    for h in handles {
        if let Ok(Some(m)) = h.await {
            all.push(m);
        }
    }
    println!(
        "READY {} logged in of {miners} in {:.2} s",
        all.len(),
        start.elapsed().as_secs_f64()
    );
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line)?;
    let t0: u128 = line
        .trim()
        .strip_prefix("PUSH ")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);

    // Wait for every miner's push; keep the new job id.
    let latest = Arc::new(AtomicU64::new(0));
    let pushed = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(all.len());
    for mut m in all {
        let (latest, pushed) = (latest.clone(), pushed.clone());
        handles.push(tokio::spawn(async move {
            if let Ok(Some(v)) =
                tokio::time::timeout(Duration::from_secs(60), read_json(&mut m.io)).await
            {
                if let Some(j) = v["params"]["job_id"].as_str() {
                    m.job_id = j.to_string();
                    pushed.fetch_add(1, Ordering::Relaxed);
                    let at = (now_ns().saturating_sub(t0)) as u64;
                    latest.fetch_max(at, Ordering::Relaxed);
                }
            }
            m
        }));
    }
    let mut all = Vec::with_capacity(handles.len());
    for h in handles {
        all.push(h.await?);
    }
    println!(
        "PUSHED {:.1} ({} of {} miners got the job)",
        latest.load(Ordering::Relaxed) as f64 / 1e6,
        pushed.load(Ordering::Relaxed),
        all.len()
    );
    line.clear();
    stdin.read_line(&mut line)?;

    // Submit wrong results at `rate` per second, spread over the miners, one in flight each.
    // At most `rate` miners submit, each once per second (idle runs use a small rate).
    let active = all.len().min(rate.max(1) as usize);
    let interval = Duration::from_secs_f64(active as f64 / rate.max(1) as f64);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut handles = Vec::new();
    let mut idle = Vec::new();
    for (i, mut m) in all.into_iter().enumerate() {
        if i >= active {
            idle.push(m);
            continue;
        }
        let (latencies, ok, bad) = (latencies.clone(), ok.clone(), bad.clone());
        handles.push(tokio::spawn(async move {
            // Spread the miners' first submits evenly over one interval.
            tokio::time::sleep(interval.mul_f64(i as f64 / active.max(1) as f64)).await;
            let mut tick = tokio::time::interval(interval);
            let mut nonce = 0u32;
            while Instant::now() < deadline {
                tick.tick().await;
                nonce += 1;
                let req = format!(
                    "{{\"id\":9,\"method\":\"submit\",\"params\":{{\"id\":\"{}\",\"job_id\":\"{}\",\"nonce\":\"{}\",\"result\":\"{}\"}}}}\n",
                    m.session, m.job_id, hex::encode(nonce.to_le_bytes()), Hash32([0x11; 32])
                );
                let sent = Instant::now();
                if m.io.get_mut().write_all(req.as_bytes()).await.is_err() {
                    break;
                }
                let Some(v) = read_json(&mut m.io).await else { break };
                let us = sent.elapsed().as_micros() as u64;
                if v["error"].is_null() { ok.fetch_add(1, Ordering::Relaxed); } else { bad.fetch_add(1, Ordering::Relaxed); }
                if let Ok(mut l) = latencies.lock() { l.push(us); }
            }
        }));
    }
    let started = Instant::now();
    for h in handles {
        let _ = h.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "DONE submits_per_sec = {:.1} (accepted {} rejected {} in {secs:.1} s, target rate {rate})\nsubmit_latency_p50_ms = {:.2}\nsubmit_latency_p99_ms = {:.2}",
        l.len() as f64 / secs,
        ok.load(Ordering::Relaxed),
        bad.load(Ordering::Relaxed),
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
    );
    std::io::stdout().flush()?;
    Ok(())
}
