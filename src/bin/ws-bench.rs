//! The websocket push's benchmark: one update of a topic fanned out to many subscribers
//! (10,000 by default) of `/ws`, server and clients on this machine.
//!
//! The server runs in this process: the real [`push::Hub`] and `/ws` route over a stand-in
//! public route `/pool/stats` answering `{"seq":N}`, with the default producer refresh
//! ([`push::REFRESH`], 250 ms). The clients run in child processes (this binary again, in its
//! `client` mode), because 10,000 client sockets and 10,000 server sockets do not fit one
//! process's open-file limit here (soft = hard = 20,000); each process raises its
//! `RLIMIT_NOFILE` soft limit to the hard limit first. Every client subscribes, then the
//! parent bumps `seq` a few times, one second apart; the clients note when each update reached
//! them (wall-clock nanoseconds; one host, one clock) and report at the end. Printed, per update
//! and over all of them:
//!
//! - **fan-out**: from the producer's render that first saw the change (the moment the hub
//!   publishes) to each subscriber's receipt: p50, p99 and the last one;
//! - **change to receipt**: the same from the moment `seq` changed, which adds the wait for the
//!   producer's next refresh (up to [`push::REFRESH`]).
//!
//! `cargo run --bin ws-bench [subscribers=10000] [updates=5] [processes=2]` (figures in the
//! README, "Websocket push").

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use rxpool::api::push::{self, Hub, PushLimits};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Pause between updates (longer than the refresh, so each update is its own publish).
const BETWEEN_UPDATES: Duration = Duration::from_secs(1);
/// Concurrent handshakes per client process.
const CONNECTING: usize = 200;

fn main() -> anyhow::Result<()> {
    let open_files = raise_open_files()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    if args.first().map(String::as_str) == Some("client") {
        let url = args.get(1).context("client URL")?.clone();
        let count: usize = args.get(2).context("client count")?.parse()?;
        let updates: u64 = args.get(3).context("updates")?.parse()?;
        return runtime.block_on(clients(url, count, updates));
    }
    let mut subscribers = 10_000usize;
    let mut updates = 5u64;
    let mut processes = 2usize;
    for arg in &args {
        let (key, value) = arg
            .split_once('=')
            .with_context(|| format!("bad argument {arg:?}"))?;
        match key {
            "subscribers" => subscribers = value.parse()?,
            "updates" => updates = value.parse()?,
            "processes" => processes = value.parse()?,
            _ => bail!("unknown parameter {key}"),
        }
    }
    println!(
        "ws-bench: {subscribers} subscribers of one topic over {processes} client processes, \
         {updates} updates; open-file limit {open_files}"
    );
    runtime.block_on(bench(subscribers, updates, processes.max(1)))
}

/// Raises the soft open-file limit to the hard limit; returns it.
fn raise_open_files() -> anyhow::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit; raising the soft limit up to the hard one is allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        bail!("setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}

fn now_nanos() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// CPU time this process has used so far (all threads), in nanoseconds.
fn cpu_nanos() -> u64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    let nanos = |t: libc::timeval| {
        u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_usec).unwrap_or(0) * 1000
    };
    nanos(usage.ru_utime) + nanos(usage.ru_stime)
}

/// The stand-in route's state: the current `seq` and when a render first saw each value.
#[derive(Debug, Default)]
struct Topic {
    seq: AtomicU64,
    first_seen: Mutex<HashMap<u64, u64>>,
}

async fn bench(subscribers: usize, updates: u64, processes: usize) -> anyhow::Result<()> {
    let topic = Arc::new(Topic::default());
    let public = Router::new()
        .route(
            "/pool/stats",
            get(|State(t): State<Arc<Topic>>| async move {
                let seq = t.seq.load(Ordering::SeqCst);
                let mut first = t.first_seen.lock().unwrap_or_else(|p| p.into_inner());
                first.entry(seq).or_insert_with(now_nanos);
                axum::Json(serde_json::json!({ "seq": seq }))
            }),
        )
        .with_state(topic.clone());
    let hub = Hub::new(
        public,
        PushLimits {
            max_sockets: subscribers + 100,
            max_sockets_per_ip: subscribers + 100,
            ..PushLimits::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/ws", listener.local_addr()?);
    let app = push::router(hub.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for i in 0..processes {
        let count = subscribers / processes + usize::from(i < subscribers % processes);
        let child = Command::new(&exe)
            .args(["client", &url, &count.to_string(), &updates.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .context("starting a client process")?;
        children.push(child);
    }
    let mut outputs = Vec::new();
    for child in &mut children {
        let stdout = child.stdout.take().context("client stdout")?;
        outputs.push(BufReader::new(stdout).lines());
    }
    let connecting = std::time::Instant::now();
    // Each client process says READY once all its clients have their first frame.
    let outputs = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut outputs = outputs;
        for lines in &mut outputs {
            match lines.next() {
                Some(Ok(line)) if line == "READY" => {}
                other => bail!("a client process did not get ready: {other:?}"),
            }
        }
        Ok(outputs)
    })
    .await??;
    let stats = hub.stats();
    println!(
        "connected and subscribed: {} sockets in {:.1?}",
        stats.sockets.load(Ordering::Relaxed),
        connecting.elapsed()
    );

    let mut changed_at = HashMap::new();
    let mut server_done = HashMap::new();
    let mut server_cpu = HashMap::new();
    for seq in 1..=updates {
        tokio::time::sleep(BETWEEN_UPDATES).await;
        let sent_before = stats.sent.load(Ordering::Relaxed);
        let cpu_before = cpu_nanos();
        changed_at.insert(seq, now_nanos());
        topic.seq.store(seq, Ordering::SeqCst);
        // The server's side: when its sockets have taken the last frame of this update.
        let target = sent_before + u64::try_from(subscribers)?;
        let waited = tokio::time::timeout(BETWEEN_UPDATES, async {
            while stats.sent.load(Ordering::Relaxed) < target {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        if waited.is_ok() {
            server_done.insert(seq, now_nanos());
            server_cpu.insert(seq, cpu_nanos().saturating_sub(cpu_before));
        }
    }
    let receipts = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(u64, u64)>> {
        let mut receipts = Vec::new();
        for lines in outputs {
            for line in lines {
                let line = line?;
                if line == "DONE" {
                    break;
                }
                let mut fields = line.split(' ');
                let (Some(seq), Some(at)) = (fields.next(), fields.next()) else {
                    bail!("bad client line {line:?}");
                };
                receipts.push((seq.parse()?, at.parse()?));
            }
        }
        Ok(receipts)
    })
    .await??;
    for mut child in children {
        child.wait()?;
    }

    let first_seen = topic
        .first_seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut fan_out_all = Vec::new();
    let mut change_all = Vec::new();
    println!(
        "update  received  fan-out p50 / p99 / last (ms)    change->receipt p50 / p99 / last (ms)"
    );
    for seq in 1..=updates {
        let (Some(&published), Some(&changed)) = (first_seen.get(&seq), changed_at.get(&seq))
        else {
            println!("{seq:>6}  never published");
            continue;
        };
        let mut fan_out: Vec<u64> = Vec::new();
        let mut change: Vec<u64> = Vec::new();
        for &(s, at) in &receipts {
            if s == seq {
                fan_out.push(at.saturating_sub(published));
                change.push(at.saturating_sub(changed));
            }
        }
        let server = server_done.get(&seq).map_or("-".to_owned(), |&done| {
            summary(&mut [done.saturating_sub(published)])
                .split(" / ")
                .last()
                .unwrap_or_default()
                .trim()
                .to_owned()
        });
        let cpu = server_cpu
            .get(&seq)
            .map_or("-".to_owned(), |n| format!("{}", n / 1_000_000));
        println!(
            "{seq:>6}  {:>8}  {}    {}    {server:>9}  {cpu:>6}",
            fan_out.len(),
            summary(&mut fan_out),
            summary(&mut change)
        );
        fan_out_all.extend(fan_out);
        change_all.extend(change);
    }
    println!(
        "   all  {:>8}  {}    {}",
        fan_out_all.len(),
        summary(&mut fan_out_all),
        summary(&mut change_all)
    );
    println!(
        "published frames: {}, dropped sockets: {} slow, {} idle",
        stats.published.load(Ordering::Relaxed),
        stats.dropped_slow.load(Ordering::Relaxed),
        stats.dropped_idle.load(Ordering::Relaxed)
    );
    Ok(())
}

/// p50 / p99 / max of nanosecond durations, in milliseconds.
fn summary(nanos: &mut [u64]) -> String {
    if nanos.is_empty() {
        return "-".to_owned();
    }
    nanos.sort_unstable();
    let at = |per_mille: usize| nanos[(nanos.len() - 1) * per_mille / 1000];
    let ms = |n: u64| format!("{}.{:03}", n / 1_000_000, n / 1000 % 1000);
    format!(
        "{:>9} / {:>9} / {:>9}",
        ms(at(500)),
        ms(at(990)),
        ms(at(1000))
    )
}

/// Client mode: `count` subscribers of `/pool/stats`; prints READY when all have their first
/// frame, then, after update `updates` (or a timeout), `SEQ NANOS` per receipt and DONE.
async fn clients(url: String, count: usize, updates: u64) -> anyhow::Result<()> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    let ready = Arc::new(AtomicUsize::new(0));
    let all_ready = Arc::new(tokio::sync::Notify::new());
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTING));
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let (url, ready, all_ready, gate) =
            (url.clone(), ready.clone(), all_ready.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await?;
            let mut first = Some(permit);
            let result =
                subscriber(&url, config, updates, &mut first, &ready, count, &all_ready).await;
            if first.is_some() {
                // Never subscribed: count it so the others do not wait for it.
                if ready.fetch_add(1, Ordering::SeqCst) + 1 == count {
                    all_ready.notify_one();
                }
            }
            result
        }));
    }
    all_ready.notified().await;
    println!("READY");
    std::io::stdout().flush()?;
    let mut out = String::new();
    let deadline =
        BETWEEN_UPDATES * u32::try_from(updates).unwrap_or(u32::MAX) + Duration::from_secs(30);
    for task in tasks {
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(Ok(receipts))) => {
                for (seq, at) in receipts {
                    out.push_str(&format!("{seq} {at}\n"));
                }
            }
            Ok(Ok(Err(e))) => eprintln!("ws-bench client: {e:#}"),
            Ok(Err(e)) => eprintln!("ws-bench client task: {e}"),
            Err(_) => eprintln!("ws-bench client: timed out"),
        }
    }
    out.push_str("DONE\n");
    std::io::stdout().write_all(out.as_bytes())?;
    std::io::stdout().flush()?;
    Ok(())
}

/// One subscriber: its receipts of updates after the first frame. `first` holds the
/// connection permit until the first frame arrives.
async fn subscriber(
    url: &str,
    config: WebSocketConfig,
    updates: u64,
    first: &mut Option<tokio::sync::OwnedSemaphorePermit>,
    ready: &AtomicUsize,
    count: usize,
    all_ready: &tokio::sync::Notify,
) -> anyhow::Result<Vec<(u64, u64)>> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), false).await?;
    ws.send(Message::text(r#"{"op":"subscribe","topic":"/pool/stats"}"#))
        .await?;
    let mut receipts = Vec::new();
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let at = now_nanos();
        let frame: serde_json::Value = serde_json::from_str(text.as_str())?;
        let seq = frame["data"]["seq"].as_u64().context("a data frame")?;
        if first.take().is_some() {
            if ready.fetch_add(1, Ordering::SeqCst) + 1 == count {
                all_ready.notify_one();
            }
            continue;
        }
        receipts.push((seq, at));
        if seq >= updates {
            // Stay open a little: the others may still be receiving the last update, and
            // closing now would add the close handshakes to its fan-out.
            tokio::time::sleep(Duration::from_secs(2)).await;
            break;
        }
    }
    Ok(receipts)
}
