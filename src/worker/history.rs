//! Chart histories: one point a minute and one point an hour for the pool and each mode
//! (hashrate and miner count), each miner and each worker (hashrate).
//!
//! Fed from an advanced [`Rollup`] once a minute; writes into a [`StatsBatch`] the chunks it
//! changed (the current hour's minute chunk of every series that got a point, and at each hour
//! the day chunk of every series that had points in the closing hour). Nothing else is
//! rewritten: a series gets a minute point while its hashrate is above zero and once more
//! when it drops to zero; the pool and mode series get one every minute. An hourly point is
//! the average of the hour's minute points (a minute the worker recorded without a point for
//! the series counts as zero). Memory holds, per series, only the chunk being filled of each
//! resolution (encoded, a few bytes a point), and series go when their entity is forgotten;
//! LMDB holds a fixed ring of chunk slots per series (see [`crate::stats`]). No I/O, no clock.

use std::collections::HashMap;

use crate::domain::UnixMillis;
use crate::stats::{
    Chunk, ChunkBuilder, HistoryLayout, Metric, PoolScope, Resolution, Series, StatsBatch,
};
use crate::worker::rollup::{Cycle, Rollup};

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

#[derive(Debug)]
struct SeriesState {
    hour: ChunkBuilder,
    day: ChunkBuilder,
    hour_sum: u128,
    last: u64,
}

impl SeriesState {
    fn new(hour: u64) -> SeriesState {
        SeriesState {
            hour: ChunkBuilder::new(Resolution::Minute, hour),
            day: ChunkBuilder::new(Resolution::Hour, hour / 24),
            hour_sum: 0,
            last: 0,
        }
    }
}

/// What one [`History::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryCycle {
    /// False when a point was already recorded in this minute (nothing done).
    pub recorded: bool,
    pub minute_points: usize,
    pub hour_points: usize,
}

/// The chart builder. See the module documentation.
#[derive(Debug)]
pub struct History {
    layout: HistoryLayout,
    layout_written: bool,
    last_minute: Option<u64>,
    /// The hour being filled and how many minutes were recorded in it.
    hour: u64,
    minutes_in_hour: u32,
    series: HashMap<Series, SeriesState>,
    /// Hourly chunks closed but not yet written, and how many [`History::flush_pending`]
    /// writes per call (`None`: written at once, in the closing minute's batch).
    pending_days: Vec<(Series, ChunkBuilder)>,
    day_writes_per_flush: Option<usize>,
}

impl History {
    pub fn new(layout: HistoryLayout) -> History {
        History {
            layout,
            layout_written: false,
            last_minute: None,
            hour: 0,
            minutes_in_hour: 0,
            series: HashMap::new(),
            pending_days: Vec::new(),
            day_writes_per_flush: None,
        }
    }

    /// Spreads the hourly chunks an hour's close produces over the following calls of
    /// [`History::flush_pending`], `per_flush` at a time, instead of writing them all in the
    /// closing minute's batch (the largest write of the hour: one chunk per live series).
    pub fn spread_hourly_writes(&mut self, per_flush: usize) {
        self.day_writes_per_flush = Some(per_flush.max(1));
    }

    /// Writes hourly chunks left pending by the last hour's close (see
    /// [`History::spread_hourly_writes`]); returns how many.
    pub fn flush_pending(&mut self, batch: &mut StatsBatch) -> usize {
        let n = self
            .day_writes_per_flush
            .unwrap_or(usize::MAX)
            .min(self.pending_days.len());
        let layout = self.layout;
        for (series, chunk) in self.pending_days.drain(..n) {
            batch.put_chunk(series, layout, &chunk);
        }
        n
    }

    pub fn layout(&self) -> HistoryLayout {
        self.layout
    }

    /// Series held in memory.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// New span settings; the layout key is rewritten with the next record.
    pub fn set_layout(&mut self, layout: HistoryLayout) {
        if layout != self.layout {
            self.layout = layout;
            self.layout_written = false;
        }
    }

    /// Takes up a series where an earlier run left it: its stored chunks of the hour and the
    /// day that contain `now` (older chunks are ignored). Call before the first
    /// [`History::record`] after a restart, so the current hour's minute points and the day's
    /// hourly points are kept and the hour's average still counts every recorded minute.
    pub fn resume(&mut self, series: Series, stored: &[Chunk], now: UnixMillis) {
        let hour = now.0 / HOUR_MS;
        let mut state = SeriesState::new(hour);
        for chunk in stored {
            let (builder, current) = match chunk.resolution {
                Resolution::Minute => (&mut state.hour, chunk.period == hour),
                Resolution::Hour => (&mut state.day, chunk.period == hour / 24),
            };
            if !current {
                continue;
            }
            *builder = ChunkBuilder::new(chunk.resolution, chunk.period);
            for &(offset, value) in &chunk.points {
                if builder.push(offset, value) && chunk.resolution == Resolution::Minute {
                    state.hour_sum += u128::from(value);
                    state.last = value;
                }
            }
        }
        if state.hour.is_empty() && state.day.is_empty() {
            return;
        }
        if let Some(&(offset, _)) = stored
            .iter()
            .find(|c| c.resolution == Resolution::Minute && c.period == hour)
            .and_then(|c| c.points.last())
        {
            let minute = hour * 60 + u64::from(offset);
            self.last_minute = Some(self.last_minute.map_or(minute, |m| m.max(minute)));
            if matches!(series, Series::Pool(PoolScope::Global, Metric::Hashrate)) {
                // The pool series gets a point every recorded minute: its count is the hour's.
                self.minutes_in_hour = u32::try_from(state.hour.len()).unwrap_or(u32::MAX);
            }
        }
        self.hour = hour;
        self.series.insert(series, state);
    }

    /// Records the minute of `rollup.now()` (once per minute; later calls in the same minute
    /// do nothing) from the rollup's current figures.
    pub fn record(&mut self, rollup: &Rollup, batch: &mut StatsBatch) -> HistoryCycle {
        let now = rollup.now();
        let minute = now.0 / MINUTE_MS;
        if self.last_minute.is_some_and(|m| minute <= m) {
            return HistoryCycle::default();
        }
        self.last_minute = Some(minute);
        let mut cycle = HistoryCycle {
            recorded: true,
            ..HistoryCycle::default()
        };
        if !self.layout_written {
            batch.put_layout(self.layout);
            self.layout_written = true;
        }
        let hour = now.0 / HOUR_MS;
        if hour != self.hour {
            cycle.hour_points = self.close_hour(hour, batch);
            self.hour = hour;
            self.minutes_in_hour = 0;
        }
        self.minutes_in_hour += 1;
        // Below 60: a minute's offset in its hour.
        let offset = ((now.0 % HOUR_MS) / MINUTE_MS) as u8;

        for scope in PoolScope::ALL {
            let rate = rollup.scope(scope);
            for (metric, value) in [
                (Metric::Hashrate, rate.hashrate),
                (Metric::Miners, rate.miners),
            ] {
                cycle.minute_points += self.point(
                    Series::Pool(scope, metric),
                    value,
                    true,
                    hour,
                    offset,
                    batch,
                );
            }
        }
        for (id, rate) in rollup.miners() {
            cycle.minute_points +=
                self.point(Series::Miner(id), rate.hashrate, false, hour, offset, batch);
        }
        for (id, _, rate) in rollup.workers() {
            cycle.minute_points += self.point(
                Series::Worker(id),
                rate.hashrate,
                false,
                hour,
                offset,
                batch,
            );
        }
        cycle
    }

    fn point(
        &mut self,
        series: Series,
        value: u64,
        always: bool,
        hour: u64,
        offset: u8,
        batch: &mut StatsBatch,
    ) -> usize {
        let state = match self.series.get_mut(&series) {
            Some(state) if always || value > 0 || state.last > 0 => state,
            Some(_) => return 0,
            None if always || value > 0 => self
                .series
                .entry(series)
                .or_insert_with(|| SeriesState::new(hour)),
            None => return 0,
        };
        if state.hour.period() != hour {
            // Only an empty chunk is left from an earlier hour (close_hour empties them).
            state.hour = ChunkBuilder::new(Resolution::Minute, hour);
        }
        if !state.hour.push(offset, value) {
            return 0;
        }
        state.hour_sum += u128::from(value);
        state.last = value;
        batch.put_chunk(series, self.layout, &state.hour);
        1
    }

    /// Turns the closing hour's minute points into hourly points; drops idle series whose
    /// chunks are complete. `next` is the hour being entered.
    fn close_hour(&mut self, next: u64, batch: &mut StatsBatch) -> usize {
        let closing = self.hour;
        let minutes = u128::from(self.minutes_in_hour.max(1));
        let layout = self.layout;
        for (series, chunk) in self.pending_days.drain(..) {
            batch.put_chunk(series, layout, &chunk);
        }
        let spread = self.day_writes_per_flush.is_some();
        let pending = &mut self.pending_days;
        let mut points = 0;
        self.series.retain(|series, state| {
            if state.hour.period() == closing && !state.hour.is_empty() {
                let day = closing / 24;
                if state.day.period() != day {
                    state.day = ChunkBuilder::new(Resolution::Hour, day);
                }
                let average = u64::try_from(state.hour_sum / minutes).unwrap_or(u64::MAX);
                // Below 24: the hour's offset in its day.
                if state.day.push((closing % 24) as u8, average) {
                    if spread {
                        pending.push((*series, state.day.clone()));
                    } else {
                        batch.put_chunk(*series, layout, &state.day);
                    }
                    points += 1;
                }
                state.hour = ChunkBuilder::new(Resolution::Minute, next);
                state.hour_sum = 0;
            }
            let pool = matches!(series, Series::Pool(..));
            pool || state.last > 0 || state.day.period() >= next / 24
        });
        points
    }

    /// Drops the series of forgotten miners and workers and deletes their stats and charts.
    pub fn forget(&mut self, cycle: &Cycle, batch: &mut StatsBatch) {
        let forgotten = !cycle.forgotten_workers.is_empty() || !cycle.forgotten_miners.is_empty();
        if forgotten && !self.pending_days.is_empty() {
            let gone: std::collections::HashSet<Series> = cycle
                .forgotten_workers
                .iter()
                .map(|&(w, _)| Series::Worker(w))
                .chain(cycle.forgotten_miners.iter().map(|&m| Series::Miner(m)))
                .collect();
            self.pending_days
                .retain(|(series, _)| !gone.contains(series));
        }
        for &(worker, _) in &cycle.forgotten_workers {
            self.series.remove(&Series::Worker(worker));
            batch.forget_worker(worker, self.layout);
        }
        for &miner in &cycle.forgotten_miners {
            self.series.remove(&Series::Miner(miner));
            batch.forget_miner(miner, self.layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PoolType, UnixMillis};
    use crate::stats::{Chunk, StatsKey};
    use crate::store::lmdb::{MinerId, WorkerId};
    use crate::worker::rollup::{RollupConfig, Share};

    fn layout() -> HistoryLayout {
        HistoryLayout {
            minute_points: 120,
            history_days: 2,
        }
    }

    fn chunk_points(batch: StatsBatch, series: Series, res: Resolution) -> Vec<(UnixMillis, u64)> {
        let (puts, _) = batch.into_parts();
        let mut out = Vec::new();
        for (key, value) in puts {
            if let Some(StatsKey::Chunk(s, r, _)) = StatsKey::parse(&key)
                && s == series
                && r == res
            {
                let chunk = Chunk::decode(&value).unwrap_or_else(|e| panic!("{e}"));
                out.extend(chunk.points.iter().map(|&(o, v)| (chunk.ts(o), v)));
            }
        }
        out
    }

    #[test]
    fn a_worker_gets_points_while_hashing_and_one_zero_when_it_stops() {
        let mut rollup = Rollup::new(RollupConfig {
            window: std::time::Duration::from_secs(60),
            ..RollupConfig::default()
        });
        let mut history = History::new(layout());
        let t0 = 1_000 * HOUR_MS;
        rollup.add(Share {
            at: UnixMillis(t0),
            miner: MinerId(1),
            worker: WorkerId(1),
            hashes: 6_000,
            mode: PoolType::Pplns,
        });
        let w = Series::Worker(WorkerId(1));
        let mut seen = Vec::new();
        for minute in 0..4 {
            rollup.advance(UnixMillis(t0 + minute * MINUTE_MS));
            let mut batch = StatsBatch::new();
            history.record(&rollup, &mut batch);
            seen.extend(chunk_points(batch, w, Resolution::Minute).last().copied());
        }
        // Minute 0: 100 H/s; minute 1: the share left the 60 s window (0, written once);
        // minutes 2 and 3: no point.
        assert_eq!(
            seen,
            vec![(UnixMillis(t0), 100), (UnixMillis(t0 + MINUTE_MS), 0)]
        );
    }

    #[test]
    fn the_hourly_point_is_the_average_of_the_recorded_minutes() {
        let mut rollup = Rollup::new(RollupConfig {
            window: std::time::Duration::from_secs(60),
            ..RollupConfig::default()
        });
        let mut history = History::new(layout());
        let t0 = 1_000 * HOUR_MS;
        // Hashing at 100 H/s in minutes 0 and 1 of four recorded minutes: average 50.
        for minute in 0..2 {
            rollup.add(Share {
                at: UnixMillis(t0 + minute * MINUTE_MS),
                miner: MinerId(1),
                worker: WorkerId(1),
                hashes: 6_000,
                mode: PoolType::Pplns,
            });
        }
        for minute in 0..4 {
            rollup.advance(UnixMillis(t0 + minute * MINUTE_MS));
            history.record(&rollup, &mut StatsBatch::new());
        }
        rollup.advance(UnixMillis(t0 + HOUR_MS));
        let mut batch = StatsBatch::new();
        let cycle = history.record(&rollup, &mut batch);
        assert!(cycle.hour_points > 0);
        assert_eq!(
            chunk_points(batch, Series::Worker(WorkerId(1)), Resolution::Hour),
            vec![(UnixMillis(t0), 50)]
        );
    }

    #[test]
    fn a_restarted_history_keeps_the_hour_and_day_it_resumes() {
        let mut rollup = Rollup::new(RollupConfig {
            window: std::time::Duration::from_secs(60),
            ..RollupConfig::default()
        });
        let t0 = 1_000 * HOUR_MS;
        for minute in 0..2 {
            rollup.add(Share {
                at: UnixMillis(t0 + minute * MINUTE_MS),
                miner: MinerId(1),
                worker: WorkerId(1),
                hashes: 6_000,
                mode: PoolType::Pplns,
            });
        }
        // The first run records minutes 0 and 1; what it wrote stands in for LMDB.
        let mut stored: HashMap<String, Vec<u8>> = HashMap::new();
        let mut first = History::new(layout());
        for minute in 0..2 {
            rollup.advance(UnixMillis(t0 + minute * MINUTE_MS));
            let mut batch = StatsBatch::new();
            first.record(&rollup, &mut batch);
            stored.extend(batch.into_parts().0);
        }
        // A new run resumes from the stored chunks of the current hour and day.
        let now = UnixMillis(t0 + 2 * MINUTE_MS);
        let mut second = History::new(layout());
        let mut by_series: HashMap<Series, Vec<Chunk>> = HashMap::new();
        for (key, value) in &stored {
            if let Some(StatsKey::Chunk(series, _, _)) = StatsKey::parse(key) {
                by_series
                    .entry(series)
                    .or_default()
                    .push(Chunk::decode(value).unwrap());
            }
        }
        for (series, chunks) in &by_series {
            second.resume(*series, chunks, now);
        }
        // The minute it resumed in is not recorded twice; minutes 2 and 3 add to the chunk.
        let w = Series::Worker(WorkerId(1));
        let mut last = Vec::new();
        for minute in 2..4 {
            rollup.advance(UnixMillis(t0 + minute * MINUTE_MS));
            let mut batch = StatsBatch::new();
            second.record(&rollup, &mut batch);
            let written = chunk_points(batch, w, Resolution::Minute);
            if !written.is_empty() {
                last = written;
            }
        }
        assert_eq!(
            last,
            vec![
                (UnixMillis(t0), 100),
                (UnixMillis(t0 + MINUTE_MS), 100),
                (UnixMillis(t0 + 2 * MINUTE_MS), 0)
            ]
        );
        // The hour's average counts the minutes of both runs: (100 + 100 + 0 + 0) / 4.
        rollup.advance(UnixMillis(t0 + HOUR_MS));
        let mut batch = StatsBatch::new();
        second.record(&rollup, &mut batch);
        assert_eq!(
            chunk_points(batch, w, Resolution::Hour),
            vec![(UnixMillis(t0), 50)]
        );
    }

    #[test]
    fn spread_hourly_chunks_are_written_by_the_following_flushes_and_never_for_forgotten_series() {
        let mut rollup = Rollup::new(RollupConfig {
            window: std::time::Duration::from_secs(60),
            forget_after: std::time::Duration::from_secs(120),
            ..RollupConfig::default()
        });
        let mut history = History::new(layout());
        history.spread_hourly_writes(1);
        let t0 = 1_000 * HOUR_MS;
        for w in 1..=2 {
            rollup.add(Share {
                at: UnixMillis(t0 + HOUR_MS - MINUTE_MS),
                miner: MinerId(w),
                worker: WorkerId(w),
                hashes: 6_000,
                mode: PoolType::Pplns,
            });
        }
        rollup.advance(UnixMillis(t0 + HOUR_MS - MINUTE_MS));
        history.record(&rollup, &mut StatsBatch::new());
        // The hour closes: no hourly chunk in that batch.
        rollup.advance(UnixMillis(t0 + HOUR_MS));
        let mut batch = StatsBatch::new();
        assert!(history.record(&rollup, &mut batch).hour_points > 0);
        let worker_1 = Series::Worker(WorkerId(1));
        assert!(chunk_points(batch, worker_1, Resolution::Hour).is_empty());
        // Each flush writes one; the pool's and the workers' come in turn.
        let mut written = Vec::new();
        loop {
            let mut batch = StatsBatch::new();
            if history.flush_pending(&mut batch) == 0 {
                break;
            }
            let (puts, _) = batch.into_parts();
            assert_eq!(puts.len(), 1);
            written.extend(puts.into_iter().map(|(k, _)| k));
        }
        assert!(
            written.iter().any(|k| k.starts_with("hist/worker/1/h/")),
            "{written:?}"
        );
        // A series forgotten while its chunk is pending never gets it written.
        rollup.add(Share {
            at: UnixMillis(t0 + 2 * HOUR_MS - MINUTE_MS),
            miner: MinerId(1),
            worker: WorkerId(1),
            hashes: 6_000,
            mode: PoolType::Pplns,
        });
        for at in [t0 + 2 * HOUR_MS - MINUTE_MS, t0 + 2 * HOUR_MS] {
            let cycle = rollup.advance(UnixMillis(at));
            history.forget(&cycle, &mut StatsBatch::new());
            history.record(&rollup, &mut StatsBatch::new());
        }
        let cycle = rollup.advance(UnixMillis(t0 + 2 * HOUR_MS + 10 * MINUTE_MS));
        assert!(
            cycle
                .forgotten_workers
                .iter()
                .any(|&(w, _)| w == WorkerId(1)),
            "{cycle:?}"
        );
        history.forget(&cycle, &mut StatsBatch::new());
        let mut batch = StatsBatch::new();
        while history.flush_pending(&mut batch) > 0 {}
        assert!(chunk_points(batch, worker_1, Resolution::Hour).is_empty());
    }
}
