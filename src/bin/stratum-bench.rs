//! Stratum load generator and pool benchmark.
//!
//! `stratum-bench [--miners N] [--pushes K] [--rate SHARES_PER_SEC] [--seconds S] [--fast]
//! [--trust [--submitters M] [--trust-min T]]` starts a regtest monerod (devnet), runs the pool's share path in
//! this process (real verifier, real LMDB writer, real daemon client) on a loopback port, and
//! drives it from a CHILD process (this binary with `--client`) so the pool's RSS is measured
//! alone. The child opens N connections from 127.0.0.x source addresses, logs every miner in
//! (login, getjob, keepalived), then:
//! 1. K times, the pool re-publishes its template and every miner gets a new job. Two times
//!    per push: `pool` = from `publish_template` until the pool has written the last miner's
//!    job into its socket (the pool's `jobs_pushed` counter, polled every 0.2 ms), and
//!    `client` = until the child has read the last job (this includes the child's own work
//!    on the same cores: a read and a substring search per miner, no JSON parse). Then K
//!    more pushes "isolated": the child first takes its sockets out of its epoll set (blocking
//!    sockets, as on a remote miner's host: an arriving job wakes nothing here) and starts
//!    reading only after the pool has written every job, so the pool has the cores to itself
//!    (but for monerod and anything else running). The kernel still runs loopback's receive
//!    path inside each of the pool's sends; a real NIC takes that half off the pool host.
//! 2. Without `--trust`: the child submits deliberately wrong results at the chosen rate for S
//!    seconds (every one is hashed by the verifier, then refused), reporting replies per
//!    second and submit latency p50/p99. Raw RandomX hashes per second are measured in the
//!    same run, before and after the submit phase, for the "verified shares ÷ raw hashes"
//!    ratio; the verified rate is the phase's steady middle (give a rate above the raw rate).
//! 3. With `--trust` (fast mode): M submitting miners first earn trust under the pool's
//!    default trust settings with real shares (job difficulty 1, so every correct hash is a
//!    share; the hashes are computed beforehand in this process, outside every timed
//!    window), as many as it takes for the verify probability to reach its floor; then they
//!    submit real shares at the chosen rate for S seconds. Reported: p50/p99 latency, the
//!    share of submissions that skipped PoW, accepted and rejected per second. A verified
//!    share waits for one RandomX hash, so p99 is a hash time whenever more than 1 % of shares
//!    are verified; `--trust-min` lowers the floor to see the skipped path alone.
//!
//! Without `--trust` the child runs at nice 10 (`--client-nice`): it stands in for miners on
//! other hosts, so on these shared cores it yields to the pool rather than taking the
//! verifier's time. With `--trust` it runs at nice 0, since it times every reply.
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
use rxpool::pool::trust::TrustConfig;
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

/// CPU time this process (the pool, here) has used so far, all threads, in nanoseconds.
fn process_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u128::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u128::try_from(ts.tv_nsec).unwrap_or(0)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

const USAGE: &str = "stratum-bench [--miners N] [--pushes K] [--rate SHARES_PER_SEC] [--seconds S] [--fast] [--trust [--submitters M] [--trust-min T]] [--client-nice P]
  --miners N      connections to open and log in (default 1000; the fd limit bounds it)
  --pushes K      template re-publications to time, twice: child reading, then isolated (default 5)
  --rate R        submissions per second in the submit phase (default 100)
  --seconds S     length of the submit phase (default 10)
  --fast          RandomX fast mode (dataset) instead of light mode
  --trust         submit real shares: earn trust first, then measure at --rate (implies --fast)
  --submitters M  miners that submit in --trust mode (default 50)
  --trust-min T   verify-probability floor, T/256 (default: the pool's, 20)
  --client-nice P nice value of the load-generating child (default 10, or 0 with --trust)";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let is_client = args.iter().any(|a| a == "--client");
    if is_client {
        // The load generator stands in for miners on other hosts: on these shared cores it
        // yields to the pool (threads inherit this, so set it before the runtime starts).
        let nice = arg(&args, "--client-nice", default_client_nice(&args)).min(19);
        // SAFETY: plain syscall on this thread; no pointers.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice as libc::c_int) } != 0 {
            eprintln!("could not lower the client's priority; figures include its CPU");
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if is_client {
        rt.block_on(client(args))
    } else {
        rt.block_on(server(args))
    }
}

/// The child's nice value unless `--client-nice` says otherwise: 10 where the verifier keeps
/// both cores busy and the child would take its time (the verified ÷ raw ratio), 0 with
/// `--trust`, where the child times each reply and a lowered priority would be counted as
/// the pool's latency.
fn default_client_nice(args: &[String]) -> u64 {
    if args.iter().any(|a| a == "--trust") {
        0
    } else {
        10
    }
}

/// Shares a miner must have accepted before trust reaches its floor: the verified threshold,
/// then one step of `change / 256` per accepted share down to `min / 256`.
fn shares_to_full_trust(trust: &TrustConfig) -> u64 {
    let steps = (256 - u64::from(trust.min.min(256))).div_ceil(u64::from(trust.change.max(1)));
    u64::from(trust.threshold) + steps
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Hashes per second the verifier reaches on its own: twice as many callers as threads keep
/// every thread busy for [`RAW_SECS`].
async fn raw_hashes_per_sec(verifier: &Verifier, seed: Hash32, blob: &[u8]) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..(verifier.threads() * 2) {
        let (v, done, mut b) = (verifier.clone(), done.clone(), blob.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut n = t as u32 * 1_000_000;
            while start.elapsed() < RAW_SECS {
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
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// How long each raw RandomX measurement runs.
const RAW_SECS: Duration = Duration::from_secs(5);

/// The submit phase's first and last seconds are left out of the verified rate (ramp-up and
/// the drain of the last replies).
const STEADY_MARGIN: Duration = Duration::from_secs(2);

async fn server(args: Vec<String>) -> anyhow::Result<()> {
    let miners = arg(&args, "--miners", 1000);
    let rate = arg(&args, "--rate", 100);
    let seconds = arg(&args, "--seconds", 10);
    let pushes = arg(&args, "--pushes", 5);
    let trust = args.iter().any(|a| a == "--trust");
    let submitters = arg(&args, "--submitters", 50);
    let fast = trust || args.iter().any(|a| a == "--fast");
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
    if let Some(min) = args
        .iter()
        .position(|a| a == "--trust-min")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
    {
        settings.trust.min = min;
    }
    let trust_config = settings.trust.clone();
    let warmup = shares_to_full_trust(&trust_config);
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
        proxy_protocol: false,
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

    // Raw RandomX throughput through the verifier, all threads busy; measured again after the
    // submit phase, and the ratio is taken against both (the machine's speed drifts).
    let raw_hps = raw_hashes_per_sec(&verifier, seed, &blob).await?;
    println!(
        "raw_randomx_hashes_per_sec = {raw_hps:.1} ({} mode)",
        if fast { "fast" } else { "light" }
    );
    if trust {
        println!(
            "trust_settings = {trust_config:?}; {warmup} accepted shares per miner to reach the floor"
        );
    }

    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .args(["--client", "--addr", &addr.to_string()])
        .args(["--miners", &miners.to_string(), "--rate", &rate.to_string()])
        .args([
            "--client-nice",
            &arg(&args, "--client-nice", default_client_nice(&args)).to_string(),
        ])
        .args([
            "--seconds",
            &seconds.to_string(),
            "--pushes",
            &(2 * pushes).to_string(),
        ])
        .args(if trust {
            vec![
                "--trust".to_string(),
                "--submitters".into(),
                submitters.to_string(),
                "--warmup".into(),
                warmup.to_string(),
            ]
        } else {
            Vec::new()
        })
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
    let mut pool_ms = Vec::new();
    let mut client_ms = Vec::new();
    let mut pushes_done = 0;
    let mut pending_pool: Option<std::thread::JoinHandle<(f64, f64)>> = None;
    let mut to_mine: Vec<(usize, u64, Vec<u8>)> = Vec::new();
    let mut at_measure = (0, 0, 0);
    let mut submit_started = (Instant::now(), 0);
    let mut steady: Option<tokio::task::JoinHandle<f64>> = None;
    // Rounds 1..=K: the child reads while the pool writes. Rounds K+1..=2K ("isolated"): the
    // child's sockets are out of its epoll set and it is told only once the pool has written
    // every job, so it takes no CPU meanwhile (the kernel still delivers each segment to its
    // socket inside the pool's send).
    let mut isolated_ms = Vec::new();
    let mut isolated_cpu_ms = Vec::new();
    let push = |to_child: &mut std::process::ChildStdin,
                isolated: bool|
     -> anyhow::Result<std::thread::JoinHandle<(f64, f64)>> {
        let held = shared.stats.logged_in.load(Ordering::Relaxed);
        let target = shared.stats.jobs_pushed.load(Ordering::Relaxed) + held;
        let t0 = now_ns();
        let started = Instant::now();
        let cpu_before = process_cpu_ns();
        let watched = shared.clone();
        shared.publish_template(slot.template.clone());
        let poller = std::thread::spawn(move || {
            while watched.stats.jobs_pushed.load(Ordering::Relaxed) < target {
                std::thread::sleep(Duration::from_micros(500));
            }
            let wall = started.elapsed().as_secs_f64() * 1e3;
            let cpu = process_cpu_ns().saturating_sub(cpu_before) as f64 / 1e6;
            (wall, cpu)
        });
        if isolated {
            let pool = poller.join().unwrap_or((f64::NAN, f64::NAN));
            writeln!(to_child, "PUSH {t0}")?;
            to_child.flush()?;
            return Ok(std::thread::spawn(move || pool));
        }
        writeln!(to_child, "PUSH {t0}")?;
        to_child.flush()?;
        Ok(poller)
    };
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
            pending_pool = Some(push(&mut to_child, false)?);
        } else if let Some(rest) = line.strip_prefix("PUSHED ") {
            let (pool, cpu) = pending_pool
                .take()
                .and_then(|p| p.join().ok())
                .unwrap_or((f64::NAN, f64::NAN));
            let client: f64 = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            pushes_done += 1;
            if pushes_done <= pushes {
                println!("job_push_{pushes_done} = pool {pool:.1} ms, client {rest}");
                pool_ms.push(pool);
                client_ms.push(client);
            } else {
                println!(
                    "job_push_{pushes_done} (isolated) = pool {pool:.1} ms, pool CPU {cpu:.1} ms"
                );
                isolated_ms.push(pool);
                isolated_cpu_ms.push(cpu);
            }
            if pushes_done < 2 * pushes {
                pending_pool = Some(push(&mut to_child, pushes_done >= pushes)?);
            } else {
                let held = shared.stats.logged_in.load(Ordering::Relaxed).max(1);
                let (p, c) = (median(&mut pool_ms), median(&mut client_ms));
                let i = median(&mut isolated_ms);
                let cpu = median(&mut isolated_cpu_ms);
                println!(
                    "job_push_all_miners_ms = pool {p:.1}, client {c:.1} (child reading meanwhile); pool {i:.1} (isolated); medians of {pushes}"
                );
                println!(
                    "job_push_per_miner_us = pool {:.2}, client {:.2}, pool isolated {:.2}",
                    p * 1e3 / held as f64,
                    c * 1e3 / held as f64,
                    i * 1e3 / held as f64
                );
                // CPU ÷ wall: 2.0 on 2 cores means the push is bound by work, not by waiting.
                println!(
                    "job_push_isolated_pool_cpu_ms = {cpu:.1} ({:.2} us per miner; cpu/wall {:.2})",
                    cpu * 1e3 / held as f64,
                    cpu / i
                );
                submit_started = (
                    Instant::now(),
                    shared.stats.verified.load(Ordering::Relaxed),
                );
                // A phase too short for a steady middle is taken whole.
                let window = Duration::from_secs(seconds).saturating_sub(2 * STEADY_MARGIN);
                if !window.is_zero() {
                    let watched = shared.clone();
                    steady = Some(tokio::spawn(async move {
                        tokio::time::sleep(STEADY_MARGIN).await;
                        let verified = || watched.stats.verified.load(Ordering::Relaxed);
                        let (t0, v0) = (Instant::now(), verified());
                        tokio::time::sleep(window).await;
                        (verified() - v0) as f64 / t0.elapsed().as_secs_f64()
                    }));
                }
                writeln!(to_child, "SUBMIT")?;
                to_child.flush()?;
            }
        } else if let Some(rest) = line.strip_prefix("MINE ") {
            // "MINE <miner> <shares> <blob hex>": real hashes for nonces 1..=shares.
            let mut parts = rest.split_whitespace();
            let (Some(i), Some(n), Some(b)) = (parts.next(), parts.next(), parts.next()) else {
                anyhow::bail!("bad MINE line");
            };
            to_mine.push((i.parse()?, n.parse()?, hex::decode(b)?));
        } else if line == "MINE-END" {
            let started = Instant::now();
            let total: u64 = to_mine.iter().map(|(_, n, _)| n).sum();
            let work = Arc::new(std::sync::Mutex::new(
                to_mine
                    .drain(..)
                    .flat_map(|(i, n, b)| (1..=n as u32).map(move |nonce| (i, nonce, b.clone())))
                    .collect::<Vec<_>>(),
            ));
            let results = Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for _ in 0..verifier.threads() * 2 {
                let (v, work, results) = (verifier.clone(), work.clone(), results.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let next = work.lock().ok().and_then(|mut w| w.pop());
                        let Some((i, nonce, mut b)) = next else { break };
                        b[39..43].copy_from_slice(&nonce.to_le_bytes());
                        if let Ok(h) = v.hash(PowAlgo::RandomX, seed, b).await
                            && let Ok(mut r) = results.lock()
                        {
                            r.push((i, nonce, h));
                        }
                    }
                }));
            }
            for t in tasks {
                t.await?;
            }
            let results = results.lock().map(|r| r.clone()).unwrap_or_default();
            println!(
                "trust_precompute = {} real shares hashed in {:.1} s (outside the timed windows)",
                results.len().min(total as usize),
                started.elapsed().as_secs_f64()
            );
            for (i, nonce, h) in results {
                writeln!(to_child, "SHARE {i} {nonce} {h}")?;
            }
            writeln!(to_child, "SHARE-END")?;
            to_child.flush()?;
        } else if line.starts_with("MEASURE") {
            let s = &shared.stats;
            at_measure = (
                s.accepted.load(Ordering::Relaxed),
                s.trusted.load(Ordering::Relaxed),
                s.verified.load(Ordering::Relaxed),
            );
            println!("{line}");
        } else if let Some(rest) = line.strip_prefix("DONE ") {
            println!("{rest}");
            let s = &shared.stats;
            let verified = s.verified.load(Ordering::Relaxed);
            println!("pool_verified_shares = {verified}");
            if trust {
                let accepted = s.accepted.load(Ordering::Relaxed) - at_measure.0;
                let skipped = s.trusted.load(Ordering::Relaxed) - at_measure.1;
                let hashed = verified - at_measure.2;
                println!(
                    "trust_measured_phase = accepted {accepted}, skipped PoW {skipped} ({:.1} %), hashed {hashed}",
                    skipped as f64 * 100.0 / accepted.max(1) as f64
                );
            } else {
                let (since, v0) = submit_started;
                let whole = (verified - v0) as f64 / since.elapsed().as_secs_f64();
                let steady = match steady.take() {
                    Some(task) => task.await?,
                    None => whole,
                };
                let raw_after = raw_hashes_per_sec(&verifier, seed, &blob).await?;
                println!("raw_randomx_hashes_per_sec_after = {raw_after:.1}");
                println!(
                    "verified_shares_per_sec = {steady:.1} steady (the phase without its first and last {} s); {whole:.1} over the whole phase",
                    STEADY_MARGIN.as_secs()
                );
                println!(
                    "verified_per_raw_ratio = {:.2} (steady ÷ mean raw of before and after; {:.2} against before, {:.2} against after; meaningful when --rate exceeds the raw rate)",
                    2.0 * steady / (raw_hps + raw_after),
                    steady / raw_hps,
                    steady / raw_after
                );
            }
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
    /// The hashing blob hex of the current job.
    blob: String,
}

async fn read_json(io: &mut BufReader<tokio::net::TcpStream>) -> Option<serde_json::Value> {
    let mut line = String::new();
    match io.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => serde_json::from_str(&line).ok(),
    }
}

/// The text of `"name":"..."` in a job line, found without parsing the JSON (the values are
/// hex and never contain quotes).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":\"");
    let start = line.find(&key)? + key.len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// Waits for one job push per miner; returns the miners with their new jobs, the time of the
/// last arrival after `t0` (ns since the epoch) and how many got one.
async fn await_push(all: Vec<Miner>, t0: u128) -> anyhow::Result<(Vec<Miner>, u64, usize)> {
    let latest = Arc::new(AtomicU64::new(0));
    let pushed = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(all.len());
    for mut m in all {
        let (latest, pushed) = (latest.clone(), pushed.clone());
        handles.push(tokio::spawn(async move {
            let mut line = String::new();
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(60), m.io.read_line(&mut line)).await
            {
                let at = (now_ns().saturating_sub(t0)) as u64;
                if n > 0
                    && line.contains("\"method\":\"job\"")
                    && let (Some(j), Some(b)) = (field(&line, "job_id"), field(&line, "blob"))
                {
                    m.job_id = j.to_string();
                    m.blob = b.to_string();
                    pushed.fetch_add(1, Ordering::Relaxed);
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
    let n = pushed.load(Ordering::Relaxed);
    Ok((all, latest.load(Ordering::Relaxed), n))
}

/// A miner whose socket is out of the reactor: blocking, and in no epoll set.
struct Parked {
    stream: std::net::TcpStream,
    session: String,
    job_id: String,
    blob: String,
}

/// Takes every miner's socket out of the tokio reactor (nothing is buffered between pushes).
fn park(all: Vec<Miner>) -> anyhow::Result<Vec<Parked>> {
    all.into_iter()
        .map(|m| {
            anyhow::ensure!(m.io.buffer().is_empty(), "unread data before a push");
            let stream = m.io.into_inner().into_std()?;
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            Ok(Parked {
                stream,
                session: m.session,
                job_id: m.job_id,
                blob: m.blob,
            })
        })
        .collect()
}

/// Reads the pushed job from each parked socket, one after another (the pool has written them
/// all): the time of the last arrival after `t0` and how many got a job, as [`await_push`].
fn read_parked(parked: &mut [Parked], t0: u128) -> anyhow::Result<(u64, usize)> {
    let (mut latest, mut pushed) = (0u64, 0usize);
    for p in parked {
        let mut reader = std::io::BufReader::new(&p.stream);
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap_or(0);
        let at = (now_ns().saturating_sub(t0)) as u64;
        if n > 0
            && line.contains("\"method\":\"job\"")
            && let (Some(j), Some(b)) = (field(&line, "job_id"), field(&line, "blob"))
        {
            (p.job_id, p.blob) = (j.to_string(), b.to_string());
            pushed += 1;
            latest = latest.max(at);
        }
        anyhow::ensure!(reader.buffer().is_empty(), "more than one line pushed");
    }
    Ok((latest, pushed))
}

/// Puts parked sockets back into the tokio reactor.
fn unpark(parked: Vec<Parked>) -> anyhow::Result<Vec<Miner>> {
    parked
        .into_iter()
        .map(|p| {
            p.stream.set_nonblocking(true)?;
            Ok(Miner {
                io: BufReader::new(tokio::net::TcpStream::from_std(p.stream)?),
                session: p.session,
                job_id: p.job_id,
                blob: p.blob,
            })
        })
        .collect()
}

/// Waits for the submitting miners, then tells the server how the phase went (`DONE ...`).
async fn report_done(
    handles: Vec<tokio::task::JoinHandle<()>>,
    tally: &Tally,
    rate: u64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for h in handles {
        let _ = h.await;
    }
    println!(
        "DONE {}",
        tally.report(started.elapsed().as_secs_f64(), rate)
    );
    std::io::stdout().flush()?;
    Ok(())
}

/// Submission results of one phase.
#[derive(Default)]
struct Tally {
    latencies: std::sync::Mutex<Vec<u64>>,
    ok: AtomicU64,
    bad: AtomicU64,
}

impl Tally {
    async fn submit(&self, m: &mut Miner, nonce: u32, result: &str) -> bool {
        let req = format!(
            "{{\"id\":9,\"method\":\"submit\",\"params\":{{\"id\":\"{}\",\"job_id\":\"{}\",\"nonce\":\"{}\",\"result\":\"{result}\"}}}}\n",
            m.session,
            m.job_id,
            hex::encode(nonce.to_le_bytes())
        );
        let sent = Instant::now();
        if m.io.get_mut().write_all(req.as_bytes()).await.is_err() {
            return false;
        }
        let Some(v) = read_json(&mut m.io).await else {
            return false;
        };
        let us = sent.elapsed().as_micros() as u64;
        if v["error"].is_null() {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.bad.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut l) = self.latencies.lock() {
            l.push(us);
        }
        true
    }

    fn report(&self, secs: f64, rate: u64) -> String {
        let mut l = self.latencies.lock().map(|l| l.clone()).unwrap_or_default();
        l.sort_unstable();
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let (ok, bad) = (
            self.ok.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed),
        );
        format!(
            "submits_per_sec = {:.1} (accepted {ok} = {:.1}/s, rejected {bad} = {:.1}/s in {secs:.1} s, target rate {rate})\nsubmit_latency_p50_ms = {:.2}\nsubmit_latency_p99_ms = {:.2}",
            l.len() as f64 / secs,
            ok as f64 / secs,
            bad as f64 / secs,
            pct(0.50) as f64 / 1000.0,
            pct(0.99) as f64 / 1000.0,
        )
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
    let pushes = arg(&args, "--pushes", 5);
    let trust = args.iter().any(|a| a == "--trust");
    let submitters = arg(&args, "--submitters", 50) as usize;
    let warmup = arg(&args, "--warmup", 0);

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
            let blob = reply["result"]["blob"].as_str()?.to_string();
            let keep = "{\"id\":3,\"method\":\"keepalived\",\"params\":{}}\n";
            io.get_mut().write_all(keep.as_bytes()).await.ok()?;
            read_json(&mut io).await?;
            Some(Miner { io, session, job_id, blob })
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
    std::io::stdout().flush()?;
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    // The second half of the rounds is "isolated": the sockets leave this process's epoll set
    // before the round's push starts (before the previous round's PUSHED line), so a job
    // arriving wakes nothing here, as on a remote miner's host. They return after the last.
    let mut parked: Option<Vec<Parked>> = None;
    if pushes / 2 == 0 {
        parked = Some(park(std::mem::take(&mut all))?);
    }
    for round in 0..pushes {
        line.clear();
        stdin.read_line(&mut line)?;
        let t0: u128 = line
            .trim()
            .strip_prefix("PUSH ")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let (latest, n) = match parked.as_mut() {
            Some(parked) => read_parked(parked, t0)?,
            None => {
                let (back, latest, n) = await_push(std::mem::take(&mut all), t0).await?;
                all = back;
                (latest, n)
            }
        };
        if round + 1 >= pushes / 2 && parked.is_none() {
            parked = Some(park(std::mem::take(&mut all))?);
        }
        println!(
            "PUSHED {:.1} ms ({n} of {} miners got the job)",
            latest as f64 / 1e6,
            all.len() + parked.as_ref().map_or(0, Vec::len)
        );
        std::io::stdout().flush()?;
    }
    if let Some(parked) = parked {
        all = unpark(parked)?;
    }
    line.clear();
    stdin.read_line(&mut line)?;

    if trust {
        return trusted_phase(all, stdin, rate, seconds, submitters, warmup).await;
    }

    // Submit wrong results at `rate` per second, spread over the miners, one in flight each.
    // At most `rate` miners submit, each once per second (idle runs use a small rate).
    let active = all.len().min(rate.max(1) as usize);
    let interval = Duration::from_secs_f64(active as f64 / rate.max(1) as f64);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tally = Arc::new(Tally::default());
    let mut handles = Vec::new();
    for (i, mut m) in all.into_iter().enumerate().take(active) {
        let tally = tally.clone();
        handles.push(tokio::spawn(async move {
            // Spread the miners' first submits evenly over one interval.
            tokio::time::sleep(interval.mul_f64(i as f64 / active.max(1) as f64)).await;
            let mut tick = tokio::time::interval(interval);
            let mut nonce = 0u32;
            let wrong = Hash32([0x11; 32]).to_string();
            while Instant::now() < deadline {
                tick.tick().await;
                nonce += 1;
                if !tally.submit(&mut m, nonce, &wrong).await {
                    break;
                }
            }
        }));
    }
    report_done(handles, &tally, rate).await
}

/// `--trust`: earn trust with real shares, then submit real shares at `rate`.
async fn trusted_phase(
    all: Vec<Miner>,
    mut stdin: std::io::StdinLock<'static>,
    rate: u64,
    seconds: u64,
    submitters: usize,
    warmup: u64,
) -> anyhow::Result<()> {
    let active = all.len().min(submitters.max(1));
    let interval = Duration::from_secs_f64(active as f64 / rate.max(1) as f64);
    // Enough shares for the measured phase at the paced rate, with a margin.
    let measured = (rate * seconds).div_ceil(active as u64) + 10;
    let mut all: Vec<Miner> = all.into_iter().take(active).collect();
    for (i, m) in all.iter().enumerate() {
        println!("MINE {i} {} {}", warmup + measured, m.blob);
    }
    println!("MINE-END");
    std::io::stdout().flush()?;
    let mut shares: Vec<Vec<(u32, String)>> = vec![Vec::new(); active];
    let mut line = String::new();
    loop {
        line.clear();
        if stdin.read_line(&mut line)? == 0 || line.trim() == "SHARE-END" {
            break;
        }
        let mut parts = line.split_whitespace().skip(1);
        if let (Some(i), Some(nonce), Some(hash)) = (parts.next(), parts.next(), parts.next())
            && let (Ok(i), Ok(nonce)) = (i.parse::<usize>(), nonce.parse::<u32>())
            && let Some(list) = shares.get_mut(i)
        {
            list.push((nonce, hash.to_string()));
        }
    }

    // Warm-up: every share real and verified until trust is earned; as fast as the pool goes.
    let warm = Arc::new(Tally::default());
    let started = Instant::now();
    let mut handles = Vec::new();
    for (m, mut list) in all.drain(..).zip(shares) {
        let warm = warm.clone();
        let rest = list.split_off((warmup as usize).min(list.len()));
        let mut m = m;
        handles.push(tokio::spawn(async move {
            for (nonce, hash) in &list {
                if !warm.submit(&mut m, *nonce, hash).await {
                    break;
                }
            }
            (m, rest)
        }));
    }
    let mut ready = Vec::new();
    for h in handles {
        ready.push(h.await?);
    }
    println!(
        "trust_warmup = {} accepted, {} rejected in {:.1} s ({warmup} per miner, {active} miners)",
        warm.ok.load(Ordering::Relaxed),
        warm.bad.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    println!(
        "MEASURE {active} miners at {:.1} ms intervals",
        interval.as_secs_f64() * 1e3
    );
    std::io::stdout().flush()?;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tally = Arc::new(Tally::default());
    let mut handles = Vec::new();
    for (i, (mut m, list)) in ready.into_iter().enumerate() {
        let tally = tally.clone();
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(interval.mul_f64(i as f64 / active.max(1) as f64)).await;
            let mut tick = tokio::time::interval(interval);
            for (nonce, hash) in &list {
                if Instant::now() >= deadline {
                    break;
                }
                tick.tick().await;
                if !tally.submit(&mut m, *nonce, hash).await {
                    break;
                }
            }
        }));
    }
    report_done(handles, &tally, rate).await
}
