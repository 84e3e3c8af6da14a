//! Wall-clock time as a seam: roles ask a `Clock` so tests can drive time.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// The time as people read it in an e-mail: `2026-12-01 21:48:37` (UTC, to the second).
    pub fn utc_text(self) -> String {
        let secs = self.as_secs();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let of_day = secs % 86_400;
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
            of_day / 3600,
            of_day % 3600 / 60,
            of_day % 60
        )
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The source of "now" for every role.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> UnixMillis;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixMillis(d.as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::UnixMillis;

    #[test]
    fn utc_text_matches_known_dates() {
        assert_eq!(UnixMillis(0).utc_text(), "1970-01-01 00:00:00");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.789
        assert_eq!(
            UnixMillis(951_827_696_789).utc_text(),
            "2000-02-29 12:34:56"
        );
        // 2026-12-01 21:48:37
        assert_eq!(
            UnixMillis(1_796_161_717_000).utc_text(),
            "2026-12-01 21:48:37"
        );
        // 2100-03-01 (2100 is not a leap year)
        assert_eq!(
            UnixMillis(4_107_542_400_000).utc_text(),
            "2100-03-01 00:00:00"
        );
    }
}
