//! The stats engine against brute force, and the stats layout through a real LMDB store.
//!
//! The property test drives [`Rollup`] and [`History`] with random share streams (several
//! miners, workers and modes; arrival out of time order and from the future; gaps long enough
//! to forget workers; times on a coarse grid so shares sit exactly on window edges) and, after
//! every advance, recomputes every figure from the raw shares: rates, counts, last shares,
//! identifiers, which entities are forgotten, that every changed entity is reported, and every
//! chart point (minute and hourly) that the history wrote. The LMDB test mines shares with
//! hostile payout keys and worker names into a real store, rolls them up, writes the batch with
//! `put_stats` and reads everything back with the api's readers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rxpool::domain::{Height, PoolType, UnixMillis};
use rxpool::stats::{
    self, Chunk, HistoryLayout, Metric, PoolScope, Resolution, Series, StatsBatch, StatsKey,
};
use rxpool::store::lmdb::{MinerId, NewShare, ShareStore, StoreOptions, WorkerId, WriterConfig};
use rxpool::worker::history::History;
use rxpool::worker::rollup::{Cycle, Rollup, RollupConfig, Share};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 3_600_000;

/// The figures of one entity as brute force computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Figures {
    hashes: u128,
    hashrate: u64,
    last: u64,
    miners: u64,
    workers: u64,
}

/// Everything the engine shows at one `now`, recomputed from the raw shares.
#[derive(Debug, Default, PartialEq, Eq)]
struct View {
    pool: Figures,
    modes: [Figures; 3],
    miners: BTreeMap<MinerId, Figures>,
    workers: BTreeMap<WorkerId, (MinerId, Figures)>,
    identifiers: BTreeMap<MinerId, Vec<WorkerId>>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn brute_force(shares: &[Share], config: &RollupConfig, now: u64) -> View {
    let window = ms(config.window).max(1);
    let forget = ms(config.forget_after).max(window);
    let in_window = |at: u64| at <= now && now.checked_sub(window).is_none_or(|c| at > c);
    let rate = |hashes: u128| (hashes * 1000 / u128::from(window)) as u64;
    let mut view = View::default();
    let mut pool_miners = HashSet::new();
    let mut pool_workers = HashSet::new();
    let mut mode_miners: [HashSet<MinerId>; 3] = Default::default();
    let mut mode_workers: [HashSet<WorkerId>; 3] = Default::default();
    let mut miner_workers: HashMap<MinerId, HashSet<WorkerId>> = HashMap::new();
    let mut last_worker: HashMap<WorkerId, (MinerId, u64)> = HashMap::new();
    let mut last_miner: HashMap<MinerId, u64> = HashMap::new();
    let mut worker_hashes: HashMap<WorkerId, u128> = HashMap::new();
    let mut miner_hashes: HashMap<MinerId, u128> = HashMap::new();
    let mut pool_last = 0;
    let mut mode_last = [0u64; 3];
    for s in shares.iter().filter(|s| s.at.0 <= now) {
        let m = s.mode as usize;
        let e = last_worker.entry(s.worker).or_insert((s.miner, 0));
        e.1 = e.1.max(s.at.0);
        let e = last_miner.entry(s.miner).or_insert(0);
        *e = (*e).max(s.at.0);
        pool_last = pool_last.max(s.at.0);
        mode_last[m] = mode_last[m].max(s.at.0);
        if in_window(s.at.0) {
            let h = u128::from(s.hashes);
            view.pool.hashes += h;
            view.modes[m].hashes += h;
            *worker_hashes.entry(s.worker).or_default() += h;
            *miner_hashes.entry(s.miner).or_default() += h;
            pool_miners.insert(s.miner);
            pool_workers.insert(s.worker);
            mode_miners[m].insert(s.miner);
            mode_workers[m].insert(s.worker);
            miner_workers.entry(s.miner).or_default().insert(s.worker);
        }
    }
    view.pool.hashrate = rate(view.pool.hashes);
    view.pool.last = pool_last;
    view.pool.miners = pool_miners.len() as u64;
    view.pool.workers = pool_workers.len() as u64;
    for m in 0..3 {
        view.modes[m].hashrate = rate(view.modes[m].hashes);
        view.modes[m].last = mode_last[m];
        view.modes[m].miners = mode_miners[m].len() as u64;
        view.modes[m].workers = mode_workers[m].len() as u64;
    }
    let known = |last: u64| now.checked_sub(forget).is_none_or(|h| last > h);
    let idw = ms(config.identifier_window);
    for (&w, &(miner, last)) in &last_worker {
        if !known(last) {
            continue;
        }
        let hashes = worker_hashes.get(&w).copied().unwrap_or(0);
        view.workers.insert(
            w,
            (
                miner,
                Figures {
                    hashes,
                    hashrate: rate(hashes),
                    last,
                    ..Figures::default()
                },
            ),
        );
        let ids = view.identifiers.entry(miner).or_default();
        if now.checked_sub(idw).is_none_or(|t| last > t) {
            ids.push(w);
        }
    }
    for (&miner, &last) in &last_miner {
        if !known(last) {
            continue;
        }
        let hashes = miner_hashes.get(&miner).copied().unwrap_or(0);
        view.miners.insert(
            miner,
            Figures {
                hashes,
                hashrate: rate(hashes),
                last,
                workers: miner_workers.get(&miner).map_or(0, |w| w.len() as u64),
                ..Figures::default()
            },
        );
        view.identifiers.entry(miner).or_default().sort();
    }
    view
}

fn engine_view(rollup: &Rollup) -> View {
    let fig = |r: rxpool::worker::rollup::Rate| Figures {
        hashes: r.hashes,
        hashrate: r.hashrate,
        last: r.last_share.map_or(0, |t| t.0),
        miners: r.miners,
        workers: r.workers,
    };
    let mut view = View {
        pool: fig(rollup.pool()),
        modes: PoolType::ALL.map(|m| fig(rollup.mode(m))),
        ..View::default()
    };
    for (id, miner, rate) in rollup.workers() {
        assert_eq!(rollup.worker(id).as_ref(), Some(rate));
        view.workers.insert(
            id,
            (
                miner,
                Figures {
                    hashes: rate.hashes,
                    hashrate: rate.hashrate,
                    last: rate.last_share.0,
                    ..Figures::default()
                },
            ),
        );
    }
    for (id, rate) in rollup.miners() {
        assert_eq!(rollup.miner(id).as_ref(), Some(rate));
        view.miners.insert(
            id,
            Figures {
                hashes: rate.hashes,
                hashrate: rate.hashrate,
                last: rate.last_share.0,
                workers: rate.workers,
                ..Figures::default()
            },
        );
        view.identifiers.insert(id, rollup.identifiers(id));
    }
    view
}

/// Every entity whose figures differ between two views (or that appeared) is reported, and the
/// forgotten ones are exactly those that disappeared.
fn check_cycle(before: &View, after: &View, cycle: &Cycle, case: u64) {
    let changed_workers: HashSet<_> = cycle.workers.iter().copied().collect();
    for (id, fig) in &after.workers {
        if before.workers.get(id) != Some(fig) {
            assert!(
                changed_workers.contains(id),
                "case {case}: worker {id:?} changed unreported"
            );
        }
    }
    // Forgotten: every worker that disappeared, plus possibly one that a late, already too old
    // share brought back for this cycle only; never one that is still known.
    for (id, (miner, _)) in &before.workers {
        if !after.workers.contains_key(id) {
            assert!(
                cycle.forgotten_workers.contains(&(*id, *miner)),
                "case {case}: {id:?} not forgotten"
            );
        }
    }
    for (id, _) in &cycle.forgotten_workers {
        assert!(
            !after.workers.contains_key(id),
            "case {case}: {id:?} forgotten but known"
        );
    }
    let changed_miners: HashSet<_> = cycle.miners.iter().copied().collect();
    for (id, fig) in &after.miners {
        if before.miners.get(id) != Some(fig)
            || before.identifiers.get(id) != after.identifiers.get(id)
        {
            assert!(
                changed_miners.contains(id),
                "case {case}: miner {id:?} changed unreported"
            );
        }
    }
    for id in before.miners.keys() {
        if !after.miners.contains_key(id) {
            assert!(
                cycle.forgotten_miners.contains(id),
                "case {case}: {id:?} not forgotten"
            );
        }
    }
    for id in &cycle.forgotten_miners {
        assert!(
            !after.miners.contains_key(id),
            "case {case}: {id:?} forgotten but known"
        );
    }
    if before.pool != after.pool {
        assert!(cycle.pool_changed, "case {case}: pool changed unreported");
    }
    for m in PoolType::ALL {
        if before.modes[m as usize] != after.modes[m as usize] {
            assert!(
                cycle.modes.contains(&m),
                "case {case}: mode {m} changed unreported"
            );
        }
    }
}

/// The stats database as a map, with a batch applied the way the worker applies it.
#[derive(Default)]
struct FakeStats(HashMap<String, Vec<u8>>);

impl FakeStats {
    fn apply(&mut self, batch: StatsBatch) {
        let (puts, deletes) = batch.into_parts();
        for key in deletes {
            self.0.remove(&key);
        }
        self.0.extend(puts);
    }
    fn chunk(
        &self,
        series: Series,
        res: Resolution,
        layout: HistoryLayout,
        period: u64,
    ) -> Option<Chunk> {
        let key = StatsKey::Chunk(series, res, layout.slot(res, period)).encode();
        let chunk = Chunk::decode(self.0.get(&key)?).unwrap_or_else(|e| panic!("{key}: {e}"));
        (chunk.period == period).then_some(chunk)
    }
}

fn all_series(view: &View) -> Vec<(Series, u64)> {
    let mut out = Vec::new();
    for scope in PoolScope::ALL {
        let f = match scope {
            PoolScope::Global => view.pool,
            PoolScope::Mode(m) => view.modes[m as usize],
        };
        out.push((Series::Pool(scope, Metric::Hashrate), f.hashrate));
        out.push((Series::Pool(scope, Metric::Miners), f.miners));
    }
    out.extend(
        view.miners
            .iter()
            .map(|(id, f)| (Series::Miner(*id), f.hashrate)),
    );
    out.extend(
        view.workers
            .iter()
            .map(|(id, (_, f))| (Series::Worker(*id), f.hashrate)),
    );
    out
}

/// What the cases exercised, so a generator change cannot quietly stop covering an edge.
#[derive(Debug, Default)]
struct Coverage {
    forgotten: usize,
    expired: usize,
    hour_rolls: usize,
    edge_shares: usize,
    future_shares: usize,
}

fn run_case(case: u64, coverage: &mut Coverage) {
    let mut rng = StdRng::seed_from_u64(case);
    let window = Duration::from_secs([10, 30, 60][rng.gen_range(0..3)]);
    let config = RollupConfig {
        window,
        identifier_window: Duration::from_secs(rng.gen_range(5..200)),
        minute_points: 120,
        history_days: 2,
        forget_after: Duration::from_secs(rng.gen_range(0..400)),
    };
    let layout = HistoryLayout {
        minute_points: 120,
        history_days: 2,
    };
    let mut rollup = Rollup::new(config.clone());
    let mut history = History::new(layout);
    let mut store = FakeStats::default();
    let mut shares: Vec<Share> = Vec::new();
    // Start a few minutes before an hour so the hour rolls during the case.
    let mut now: u64 = 480_000 * HOUR - rng.gen_range(0..20) * MINUTE;
    let mut before = View::default();
    // Minute points the history wrote in the hour being filled, and minutes recorded in it.
    let mut minutes_in_hour = 0u128;
    let mut hour = now / HOUR;
    let miners = rng.gen_range(1..5u32);
    let workers_per_miner = rng.gen_range(1..4u32);
    for _ in 0..rng.gen_range(20..80) {
        for _ in 0..rng.gen_range(0..6) {
            let miner = rng.gen_range(1..=miners);
            let worker = (miner - 1) * workers_per_miner + rng.gen_range(1..=workers_per_miner);
            // On a one-second grid: from 5 s in the past to 3 s in the future.
            let at = (now / 1000 + rng.gen_range(0..9)).saturating_sub(5) * 1000;
            let share = Share {
                at: UnixMillis(at),
                miner: MinerId(miner),
                worker: WorkerId(worker),
                hashes: rng.gen_range(1..5_000),
                mode: PoolType::ALL[rng.gen_range(0..3)],
            };
            shares.push(share);
            rollup.add(share);
        }
        now += [0, 1_000, 5_000, 10_000, 30_000, 60_000, 400_000][rng.gen_range(0..7)];
        let cycle = rollup.advance(UnixMillis(now));
        let after = brute_force(&shares, &config, now);
        coverage.forgotten += cycle.forgotten_workers.len();
        coverage.expired += cycle.expired;
        coverage.edge_shares += shares.iter().filter(|s| s.at.0 + ms(window) == now).count();
        coverage.future_shares += shares.iter().filter(|s| s.at.0 > now).count();
        assert_eq!(engine_view(&rollup), after, "case {case} at {now}");
        check_cycle(&before, &after, &cycle, case);

        let mut batch = StatsBatch::new();
        history.forget(&cycle, &mut batch);
        let recorded = history.record(&rollup, &mut batch);
        store.apply(batch);
        for (id, _) in &cycle.forgotten_workers {
            let prefix = format!("hist/worker/{}/", id.0);
            assert!(
                !store.0.keys().any(|k| k.starts_with(&prefix)),
                "case {case}: {prefix} left"
            );
        }
        if !recorded.recorded {
            before = after;
            continue;
        }
        let this_hour = now / HOUR;
        if this_hour != hour {
            // The closed hour's average went into its day chunk.
            for (series, _) in all_series(&after) {
                let Some(minutes) = store.chunk(series, Resolution::Minute, layout, hour) else {
                    continue;
                };
                let sum: u128 = minutes.points.iter().map(|p| u128::from(p.1)).sum();
                let day = store
                    .chunk(series, Resolution::Hour, layout, hour / 24)
                    .unwrap_or_else(|| panic!("case {case}: no day chunk for {series:?}"));
                let point = day.points.iter().find(|p| u64::from(p.0) == hour % 24);
                assert_eq!(
                    point.map(|p| u128::from(p.1)),
                    Some(sum / minutes_in_hour),
                    "case {case}: hourly point of {series:?}"
                );
            }
            hour = this_hour;
            minutes_in_hour = 0;
            coverage.hour_rolls += 1;
        }
        minutes_in_hour += 1;
        let offset = ((now % HOUR) / MINUTE) as u8;
        for (series, value) in all_series(&after) {
            let point = store
                .chunk(series, Resolution::Minute, layout, this_hour)
                .and_then(|c| c.points.iter().find(|p| p.0 == offset).copied());
            match point {
                Some((_, v)) => assert_eq!(v, value, "case {case}: minute point of {series:?}"),
                None => assert!(
                    value == 0 && !matches!(series, Series::Pool(..)),
                    "case {case}: {series:?} has no minute point at {now} (value {value})"
                ),
            }
        }
        before = after;
    }
}

#[test]
fn rollups_and_chart_points_equal_brute_force_for_random_share_streams() {
    let mut coverage = Coverage::default();
    for case in 0..400 {
        run_case(case, &mut coverage);
    }
    assert!(
        coverage.forgotten > 100
            && coverage.expired > 1000
            && coverage.hour_rolls > 100
            && coverage.edge_shares > 100
            && coverage.future_shares > 100,
        "{coverage:?}"
    );
}

#[test]
fn a_shorter_window_applies_exactly_at_the_next_advance() {
    let mut config = RollupConfig {
        window: Duration::from_secs(60),
        ..RollupConfig::default()
    };
    let mut rollup = Rollup::new(config.clone());
    let mut shares = Vec::new();
    let t0 = 1_700_000_000_000;
    for i in 0..60 {
        let share = Share {
            at: UnixMillis(t0 + i * 1000),
            miner: MinerId(1 + u32::from(i % 3 == 1)),
            worker: WorkerId(1 + (i % 3) as u32),
            hashes: 1000 + i,
            mode: PoolType::Pps,
        };
        shares.push(share);
        rollup.add(share);
    }
    rollup.advance(UnixMillis(t0 + 59_000));
    config.window = Duration::from_secs(20);
    rollup.set_config(config.clone());
    let cycle = rollup.advance(UnixMillis(t0 + 59_000));
    assert!(cycle.pool_changed);
    assert_eq!(
        engine_view(&rollup),
        brute_force(&shares, &config, t0 + 59_000)
    );
}

fn new_share(ts: u64, miner: &str, worker: &str, difficulty: u64, mode: PoolType) -> NewShare {
    NewShare {
        height: Height(100),
        timestamp: UnixMillis(ts),
        miner: Arc::from(miner),
        worker: Arc::from(worker),
        difficulty,
        job_difficulty: difficulty,
        pool_type: mode,
        trusted: false,
        found_block: false,
        host: 1,
    }
}

#[tokio::test]
async fn stats_written_for_hostile_names_read_back_through_the_api_readers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ShareStore::open(&StoreOptions::new(dir.path())).expect("open");
    let writer = store.writer(WriterConfig::default()).expect("writer");
    // Names that would collide under a naive `miner.worker` or `miner_worker` key scheme.
    let names = [
        ("4Addr", "a.b"),
        ("4Addr.a", "b"),
        ("4Addr_a", "b"),
        ("4Addr", "a_b"),
        ("4Addr", "x/y"),
        ("4Addr/x", "y"),
        ("4Addr", "räig🦀"),
        ("4Addr", ""),
    ];
    let t0 = 1_700_000_000_000u64;
    for (i, (miner, worker)) in names.iter().enumerate() {
        let mode = PoolType::ALL[i % 3];
        writer
            .append(new_share(
                t0 + i as u64,
                miner,
                worker,
                60_000 * (i as u64 + 1),
                mode,
            ))
            .await
            .expect("append");
    }
    writer.flush().await.expect("flush");

    let mut rollup = Rollup::new(RollupConfig::default());
    {
        let snap = store.read().expect("read");
        for record in snap.shares_at(Height(100)).expect("shares") {
            let record = record.expect("record");
            rollup.add(Share {
                at: record.timestamp(),
                miner: record.miner(),
                worker: record.worker(),
                hashes: record.difficulty(),
                mode: record.pool_type().expect("mode"),
            });
        }
    }
    let now = UnixMillis(t0 + 60_000);
    let cycle = rollup.advance(now);
    assert_eq!(cycle.workers.len(), names.len());

    let layout = HistoryLayout {
        minute_points: 1440,
        history_days: 30,
    };
    let mut history = History::new(layout);
    let mut batch = StatsBatch::new();
    for scope in PoolScope::ALL {
        batch.put_pool(scope, &rollup.scope(scope).pool_stats());
    }
    let mut worker_names: HashMap<WorkerId, String> = HashMap::new();
    {
        let snap = store.read().expect("read");
        for &id in &cycle.workers {
            let (_, name) = snap.worker(id).expect("worker").expect("known");
            worker_names.insert(id, name.to_owned());
        }
    }
    for &id in &cycle.workers {
        let rate = rollup.worker(id).expect("rate");
        batch.put_worker(id, &rate.entity_stats());
    }
    for &id in &cycle.miners {
        let rate = rollup.miner(id).expect("rate");
        batch.put_miner(id, &rate.entity_stats());
        let ids = rollup.identifiers(id);
        let names: Vec<&str> = ids.iter().map(|w| worker_names[w].as_str()).collect();
        batch.put_identifiers(id, &names);
    }
    history.record(&rollup, &mut batch);
    let (puts, deletes) = batch.into_parts();
    assert!(deletes.is_empty());
    writer.put_stats(puts).await.expect("put_stats");

    let snap = store.read().expect("read");
    // Each share's hashrate is difficulty / 600: every worker reads back its own.
    for (i, (miner, worker)) in names.iter().enumerate() {
        let stats = stats::read_worker(&snap, miner, worker)
            .expect("read")
            .unwrap_or_else(|| panic!("{miner} {worker}"));
        assert_eq!(stats.hash, 100 * (i as u64 + 1), "{miner} {worker}");
        assert_eq!(stats.last_hash, t0 + i as u64);
        let chart = stats::read_worker_history(&snap, miner, worker, Resolution::Minute, now)
            .expect("chart");
        assert_eq!(chart.len(), 1);
        assert_eq!(chart[0].hs, stats.hash);
        assert_eq!(chart[0].ts, now.0 - now.0 % MINUTE);
    }
    let mut ids = stats::read_identifiers(&snap, "4Addr").expect("identifiers");
    ids.sort();
    assert_eq!(ids, vec!["", "a.b", "a_b", "räig🦀", "x/y"]);
    let all = stats::read_workers(&snap, "4Addr").expect("workers");
    assert_eq!(all.len(), 5);
    assert_eq!(
        stats::read_miner(&snap, "4Addr")
            .expect("miner")
            .map(|m| m.hash),
        Some(100 * (1 + 4 + 5 + 7 + 8))
    );
    assert_eq!(stats::read_miner(&snap, "4Addr.a.b").expect("miner"), None);
    let pool = stats::read_pool(&snap, PoolScope::Global)
        .expect("pool")
        .expect("pool stats");
    assert_eq!(pool.miners, 4);
    assert_eq!(pool.workers, names.len() as u64);
    assert_eq!(pool.hash_rate, 100 * (1..=8).sum::<u64>());
    let chart = stats::read_pool_miners_history(&snap, PoolScope::Global, Resolution::Minute, now)
        .expect("chart");
    assert_eq!(chart.iter().map(|p| p.cn).collect::<Vec<_>>(), vec![4]);
    drop(snap);
    writer.close().await.expect("close");
}
