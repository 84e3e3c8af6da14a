//! PoW throughput: raw randomx-rs hashing vs hashes verified through rxpool's `Verifier`, on 1
//! and 2 threads, in the same run, and the ratio (target >= 0.95).
//!
//! Fast mode by default (one 2 GiB dataset for the raw side, one per Verifier; peak 4.6 GB);
//! `--light` for light mode. Raw and Verifier windows alternate (`--rounds`, `--secs` each) so
//! load from other processes hits both sides alike. Before timing, both sides must agree on the
//! first hashes and on the PoW hash monerod reports for regtest block 1 (this also proves the
//! multi-threaded dataset initialisation is correct).
//!
//! Run: `cargo bench --locked --bench pow -- [--light] [--secs N] [--rounds N] [--threads 1,2]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use randomx_rs::{RandomXCache, RandomXDataset, RandomXFlag, RandomXVM};
use rxpool::domain::Hash32;
use rxpool::monero::pow::{PowAlgo, RandomxMode, Verifier, VerifierConfig};

/// Mainnet genesis id: the seed of regtest block 1.
const SEED: &str = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3";
/// Hashing blob of regtest block 1 and the PoW hash monerod reports for it.
const BLOCK1_BLOB: &str = "1010dda887d806418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3000000008ad4148b6d2b1b51392f176e07561653ec33ad3d0d31b7fd9a6301942b9d777201";
const BLOCK1_POW: &str = "c489b22faab75f87070b23b38b09f55d15b81194d1a71ac191925c1d4a80030a";

struct Options {
    light: bool,
    secs: u64,
    rounds: u32,
    threads: Vec<u32>,
}

fn options() -> Options {
    let mut options = Options {
        light: false,
        secs: 5,
        rounds: 3,
        threads: vec![1, 2],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--light" => options.light = true,
            "--secs" => options.secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--rounds" => options.rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            "--threads" => {
                options.threads = args
                    .next()
                    .map(|v| v.split(',').filter_map(|t| t.parse().ok()).collect())
                    .unwrap_or_default();
            }
            // `cargo bench` passes `--bench`; ignore it and anything unknown.
            _ => {}
        }
    }
    options.rounds = options.rounds.max(1);
    options
}

/// The blob for hash number `n`: block 1 with `n` as its nonce.
fn blob(n: u32) -> Vec<u8> {
    let mut blob = hex::decode(BLOCK1_BLOB).unwrap();
    if n != 0 {
        blob[39..43].copy_from_slice(&n.to_le_bytes());
    }
    blob
}

/// randomx-rs handles are `!Send`; this moves clones of them into the hashing threads.
struct Shared {
    flags: RandomXFlag,
    cache: RandomXCache,
    dataset: Option<RandomXDataset>,
}

struct AssertSend<T>(T);
// SAFETY: RandomX caches and datasets are read-only once initialised and may be used by VMs on
// any number of threads (RandomX API); randomx-rs's handles are `Arc`s, whose counts are atomic.
// Each thread creates its own VM from its clone and never shares that VM.
unsafe impl<T> Send for AssertSend<T> {}

impl Shared {
    fn vm(&self) -> RandomXVM {
        RandomXVM::new(self.flags, Some(self.cache.clone()), self.dataset.clone()).unwrap()
    }
}

/// Raw randomx-rs: `threads` threads hashing distinct blobs for `window`; returns H/s.
fn raw_rate(shared: &Shared, threads: u32, window: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let clones = AssertSend(Shared {
                flags: shared.flags,
                cache: shared.cache.clone(),
                dataset: shared.dataset.clone(),
            });
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                let clones = clones;
                let vm = clones.0.vm();
                let mut n = t << 24;
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(vm.calculate_hash(&blob(n)).unwrap());
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let before = done.load(Ordering::Relaxed);
    std::thread::sleep(window);
    let hashed = done.load(Ordering::Relaxed) - before;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().unwrap();
    }
    rate(hashed, elapsed)
}

/// Verifier: enough concurrent requests to keep every verifier thread busy for `window`.
fn verifier_rate(rt: &tokio::runtime::Runtime, verifier: &Verifier, window: Duration) -> f64 {
    let seed: Hash32 = SEED.parse().unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let callers = verifier.threads() as u32 * 4;
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..callers)
            .map(|c| {
                let (verifier, done, stop) = (verifier.clone(), done.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = (c + 16) << 24;
                    while !stop.load(Ordering::Relaxed) {
                        let hash = verifier.hash(PowAlgo::RandomX, seed, blob(n)).await;
                        std::hint::black_box(hash.unwrap());
                        n += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let started = Instant::now();
        let before = done.load(Ordering::Relaxed);
        tokio::time::sleep(window).await;
        let hashed = done.load(Ordering::Relaxed) - before;
        let elapsed = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.unwrap();
        }
        rate(hashed, elapsed)
    })
}

#[expect(
    clippy::float_arithmetic,
    reason = "a benchmark reports rates; no money flows here"
)]
fn rate(hashes: u64, elapsed: Duration) -> f64 {
    hashes as f64 / elapsed.as_secs_f64()
}

#[expect(
    clippy::float_arithmetic,
    reason = "a benchmark reports rates; no money flows here"
)]
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[expect(
    clippy::float_arithmetic,
    reason = "a benchmark reports rates; no money flows here"
)]
fn main() {
    let options = options();
    let mode = if options.light { "light" } else { "fast" };
    let window = Duration::from_secs(options.secs);
    let seed: Hash32 = SEED.parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    println!(
        "pow bench: {mode} mode, {} cores, {} s windows x {} rounds, flags {:?}",
        num_cpus::get(),
        options.secs,
        options.rounds,
        RandomXFlag::get_recommended_flags()
    );

    let mut flags = RandomXFlag::get_recommended_flags();
    if !options.light {
        flags |= RandomXFlag::FLAG_FULL_MEM;
    }
    let started = Instant::now();
    let cache = RandomXCache::new(flags, &seed.0).unwrap();
    let dataset = (!options.light).then(|| RandomXDataset::new(flags, cache.clone(), 0).unwrap());
    println!(
        "raw randomx-rs: cache{} ready in {:.1} s (randomx-rs initialises on one thread)",
        if options.light { "" } else { " + dataset" },
        started.elapsed().as_secs_f64()
    );
    let raw = Shared {
        flags,
        cache,
        dataset,
    };
    let reference: Vec<Vec<u8>> = {
        let vm = raw.vm();
        (0..8)
            .map(|n| vm.calculate_hash(&blob(n)).unwrap())
            .collect()
    };
    assert_eq!(
        hex::encode(&reference[0]),
        BLOCK1_POW,
        "randomx-rs disagrees with monerod"
    );

    let mut summary = Vec::new();
    for &threads in &options.threads {
        let started = Instant::now();
        let verifier = Verifier::new(VerifierConfig {
            randomx_mode: if options.light {
                RandomxMode::Light
            } else {
                RandomxMode::Fast
            },
            threads: threads as usize,
            init_threads: 0,
            queue_capacity: 0,
        });
        verifier.set_seeds(seed, None);
        // Requests are served (light) while the dataset builds; wait for fast mode to measure it.
        while !options.light && !verifier.has_dataset(&seed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let how = if options.light {
            "light: cache built on first hash".to_string()
        } else {
            format!("dataset over {} init threads", num_cpus::get())
        };
        println!(
            "verifier({threads} thread{}): ready in {:.1} s ({how})",
            if threads == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64(),
        );
        rt.block_on(async {
            for (n, expected) in reference.iter().enumerate() {
                let got = verifier
                    .hash(PowAlgo::RandomX, seed, blob(n as u32))
                    .await
                    .unwrap();
                assert_eq!(got.0.as_slice(), expected.as_slice(), "hash {n} differs");
            }
        });
        let (mut raw_rates, mut ours) = (Vec::new(), Vec::new());
        for round in 1..=options.rounds {
            let r = raw_rate(&raw, threads, window);
            let v = verifier_rate(&rt, &verifier, window);
            println!("  {threads} thread(s) round {round}: raw {r:8.1} H/s   verifier {v:8.1} H/s");
            raw_rates.push(r);
            ours.push(v);
        }
        let mut paired: Vec<f64> = raw_rates.iter().zip(&ours).map(|(r, v)| v / r).collect();
        paired.sort_by(f64::total_cmp);
        summary.push((
            threads,
            mean(&raw_rates),
            mean(&ours),
            paired[paired.len() / 2],
        ));
        drop(verifier);
    }

    println!(
        "\n{mode} mode   raw randomx-rs H/s   Verifier verified H/s   ratio of means   median round ratio"
    );
    for (threads, raw, ours, median) in summary {
        println!(
            "{threads} thread(s)   {raw:18.1}   {ours:21.1}   {:14.3}   {median:18.3}",
            ours / raw
        );
    }
}
