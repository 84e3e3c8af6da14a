//! Progress of long work (a RandomX dataset, a chain catch-up, a backup or a restore) shown the
//! way the reader sees it: a bar on a terminal, and a log line at most every
//! [`LOG_EVERY`] (plus one at the end) when stderr is not a terminal, as under systemd, where a
//! bar would fill the journal with carriage returns.
//!
//! A [`Progress`] is cheap to clone and safe to advance from several threads at once (the
//! dataset is built on several). Work that does not know its total up front passes `None` and
//! shows a count and a rate instead of a percentage. Dropping a `Progress` without
//! [`Progress::finish`] (an error, a cancellation) clears the bar and logs nothing more, so the
//! error that follows is the last word.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Under systemd (no terminal), at most one progress line per this interval.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// What the counted things are, for the figures shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Plain counts (dataset items, shares).
    Items,
    /// Bytes, shown as KiB/MiB/GiB.
    Bytes,
    /// Chain heights.
    Heights,
}

/// Where progress goes: chosen once per process from whether stderr is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A bar redrawn in place on stderr.
    Bar,
    /// A `tracing` info line at most every [`LOG_EVERY`], and one at the end.
    Log,
}

impl Display {
    /// A bar when stderr is a terminal, log lines otherwise.
    pub fn detect() -> Display {
        if std::io::stderr().is_terminal() {
            Display::Bar
        } else {
            Display::Log
        }
    }
}

/// One piece of long work being shown. Clones advance the same count.
#[derive(Debug, Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    label: String,
    unit: Unit,
    total: AtomicU64,
    done: AtomicU64,
    started: Instant,
    /// Milliseconds after `started` of the last log line (log display only).
    last_log_ms: AtomicU64,
    bar: Option<ProgressBar>,
    finished: Mutex<bool>,
}

/// `total` 0 in the atomic means "not known".
const UNKNOWN: u64 = 0;

impl Progress {
    /// Starts showing `label` with the display this process uses ([`Display::detect`]).
    pub fn new(label: impl Into<String>, total: Option<u64>, unit: Unit) -> Progress {
        Progress::with_display(label, total, unit, Display::detect())
    }

    /// Starts showing `label` on the given display.
    pub fn with_display(
        label: impl Into<String>,
        total: Option<u64>,
        unit: Unit,
        display: Display,
    ) -> Progress {
        let label = label.into();
        let bar = (display == Display::Bar).then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total),
                None => ProgressBar::no_length(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(style(unit, total.is_some()));
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        if bar.is_none() {
            tracing::info!(
                "{label}: started{}",
                total.map_or(String::new(), |t| format!(" ({})", amount(unit, t)))
            );
        }
        Progress {
            inner: Arc::new(Inner {
                label,
                unit,
                total: AtomicU64::new(total.unwrap_or(UNKNOWN)),
                done: AtomicU64::new(0),
                started: Instant::now(),
                last_log_ms: AtomicU64::new(0),
                bar,
                finished: Mutex::new(false),
            }),
        }
    }

    /// Counts `n` more done.
    pub fn inc(&self, n: u64) {
        let done = self.inner.done.fetch_add(n, Ordering::Relaxed) + n;
        self.shown(done);
    }

    /// Sets how much is done (for work that reports a position rather than steps).
    pub fn set(&self, done: u64) {
        self.inner.done.store(done, Ordering::Relaxed);
        self.shown(done);
    }

    /// Sets or corrects the total (a catch-up that learns the chain grew meanwhile).
    pub fn set_total(&self, total: u64) {
        self.inner.total.store(total, Ordering::Relaxed);
        if let Some(bar) = &self.inner.bar {
            bar.set_length(total);
        }
    }

    /// How much is done so far.
    pub fn done(&self) -> u64 {
        self.inner.done.load(Ordering::Relaxed)
    }

    /// The line a log display prints now, e.g. `RandomX dataset: 41% (13,631,488 of 34,078,719
    /// items), 12 s, about 17 s left`.
    pub fn line(&self) -> String {
        let inner = &self.inner;
        let done = inner.done.load(Ordering::Relaxed);
        let total = inner.total.load(Ordering::Relaxed);
        let elapsed = inner.started.elapsed();
        let mut line = if total == UNKNOWN {
            format!("{}: {}", inner.label, amount(inner.unit, done))
        } else {
            let percent = done.min(total).saturating_mul(100) / total.max(1);
            format!(
                "{}: {percent}% ({} of {})",
                inner.label,
                count(inner.unit, done),
                amount(inner.unit, total)
            )
        };
        line.push_str(&format!(", {} s", elapsed.as_secs()));
        if total != UNKNOWN && done > 0 && done < total {
            let left_ms = elapsed.as_millis() * u128::from(total - done) / u128::from(done);
            line.push_str(&format!(", about {} s left", left_ms.div_ceil(1000)));
        }
        line
    }

    /// Ends the display with a last line (`label: done, N s`).
    pub fn finish(self) {
        let mut finished = self
            .inner
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *finished {
            return;
        }
        *finished = true;
        let done = self.inner.done.load(Ordering::Relaxed);
        let tenths = self.inner.started.elapsed().as_millis() / 100;
        if let Some(bar) = &self.inner.bar {
            bar.finish_and_clear();
        }
        tracing::info!(
            "{}: done, {} in {}.{} s",
            self.inner.label,
            amount(self.inner.unit, done),
            tenths / 10,
            tenths % 10
        );
    }

    fn shown(&self, done: u64) {
        match &self.inner.bar {
            Some(bar) => bar.set_position(done),
            None => {
                let now_ms = self.inner.started.elapsed().as_millis() as u64;
                let last = self.inner.last_log_ms.load(Ordering::Relaxed);
                if now_ms.saturating_sub(last) >= LOG_EVERY.as_millis() as u64
                    && self
                        .inner
                        .last_log_ms
                        .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::info!("{}", self.line());
                }
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_and_clear();
        }
    }
}

fn style(unit: Unit, known_total: bool) -> ProgressStyle {
    let template = match (unit, known_total) {
        (Unit::Bytes, true) => {
            "{prefix} [{bar:32}] {percent:>3}% {binary_bytes}/{binary_total_bytes} {elapsed} (eta {eta})"
        }
        (Unit::Bytes, false) => {
            "{prefix} {spinner} {binary_bytes} {elapsed} ({binary_bytes_per_sec})"
        }
        (_, true) => {
            "{prefix} [{bar:32}] {percent:>3}% {human_pos}/{human_len} {elapsed} (eta {eta})"
        }
        (_, false) => "{prefix} {spinner} {human_pos} {elapsed} ({per_sec})",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// `n` alone, grouped, in the unit's scale.
fn count(unit: Unit, n: u64) -> String {
    match unit {
        Unit::Bytes => bytes(n),
        Unit::Items | Unit::Heights => grouped(n),
    }
}

/// `n` with its unit's name.
fn amount(unit: Unit, n: u64) -> String {
    match unit {
        Unit::Bytes => bytes(n),
        Unit::Items => format!("{} items", grouped(n)),
        Unit::Heights => format!("{} heights", grouped(n)),
    }
}

/// Bytes in the largest binary unit below them, with one decimal (rounded down).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    let mut scale = 1u64;
    let mut name = None;
    for unit in UNITS {
        if n / scale < 1024 {
            break;
        }
        scale *= 1024;
        name = Some(unit);
    }
    match name {
        None => format!("{n} B"),
        Some(unit) => {
            let tenths = u128::from(n) * 10 / u128::from(scale);
            format!("{}.{} {unit}", tenths / 10, tenths % 10)
        }
    }
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_total_shows_percent_count_and_what_is_left() {
        let progress =
            Progress::with_display("RandomX dataset", Some(4_000), Unit::Items, Display::Log);
        progress.inc(1_000);
        let line = progress.line();
        assert!(
            line.starts_with("RandomX dataset: 25% (1,000 of 4,000 items), "),
            "{line}"
        );
        progress.set(4_000);
        assert!(progress.line().contains("100% (4,000 of 4,000 items)"));
        assert!(!progress.line().contains("left"), "nothing is left at 100%");
    }

    #[test]
    fn an_unknown_total_shows_the_count_and_bytes_are_scaled() {
        let progress = Progress::with_display("backup", None, Unit::Bytes, Display::Log);
        progress.inc(3 * 1024 * 1024 + 512 * 1024);
        assert!(
            progress.line().starts_with("backup: 3.5 MiB, "),
            "{}",
            progress.line()
        );
        progress.set_total(7 * 1024 * 1024);
        assert!(
            progress
                .line()
                .starts_with("backup: 50% (3.5 MiB of 7.0 MiB)")
        );
    }

    #[test]
    fn clones_on_many_threads_add_up() {
        let progress = Progress::with_display("items", Some(80_000), Unit::Items, Display::Log);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let p = progress.clone();
                scope.spawn(move || (0..10_000).for_each(|_| p.inc(1)));
            }
        });
        assert_eq!(progress.done(), 80_000);
        progress.clone().finish();
        progress.finish(); // a second finish is a no-op
    }

    #[test]
    fn a_total_beyond_done_never_shows_more_than_100_percent() {
        let progress = Progress::with_display("scan", Some(10), Unit::Heights, Display::Log);
        progress.set(25);
        assert!(progress.line().starts_with("scan: 100% (25 of 10 heights)"));
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(34_078_719), "34,078,719");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2 * 1024 * 1024 * 1024), "2.0 GiB");
    }
}
