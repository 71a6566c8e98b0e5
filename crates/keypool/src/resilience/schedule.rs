//! The daily reset schedule: when per-key daily counters roll over.
//!
//! Owns parsing `DAILY_RESET_TIME` / `DAILY_RESET_TIMEZONE` and turning "HH:MM
//! in an IANA zone" into UTC instants: the last and next reset, and whether one
//! was missed (e.g. while the daemon was down). Pure: no clock, no I/O.
//!
//! DST rules, per local calendar day:
//! - the reset time does not exist (spring-forward gap, e.g. 02:30 in
//!   America/New_York on the March change day): the reset runs at the first
//!   valid instant after the gap (03:00 local there);
//! - the reset time occurs twice (fall-back): the earliest occurrence is
//!   used, so the day still has exactly one reset.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{GapInfo, Tz};

/// A reset at a fixed local time of day in an IANA time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailySchedule {
    time: NaiveTime,
    zone: Tz,
}

impl DailySchedule {
    /// Parses a time (`HH:MM`, `H:MM` or `HH:MM:SS`, surrounding spaces
    /// ignored) and an IANA zone name (case-sensitive, e.g. `Europe/Berlin`).
    /// Errors name the setting, echo the value and say what is accepted.
    pub fn parse(time: &str, zone: &str) -> Result<DailySchedule, String> {
        let t = parse_time(time.trim()).ok_or_else(|| {
            format!("`DAILY_RESET_TIME` = `{time}` is not a time of day: use HH:MM, e.g. 03:00")
        })?;
        let z = zone.trim().parse::<Tz>().map_err(|_| {
            format!(
                "`DAILY_RESET_TIMEZONE` = `{zone}` is not an IANA time zone: \
                 use e.g. UTC, Europe/Berlin, America/New_York"
            )
        })?;
        Ok(DailySchedule::new(t, z))
    }

    /// A reset at local `time` in `zone`.
    pub fn new(time: NaiveTime, zone: Tz) -> DailySchedule {
        DailySchedule { time, zone }
    }

    /// The local time of day of the reset.
    pub fn time(&self) -> NaiveTime {
        self.time
    }

    /// The zone the reset time is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The most recent scheduled reset at or before `now` (equality counts).
    /// Saturates to `DateTime::<Utc>::MIN_UTC` at the edge of chrono's range.
    pub fn last_at_or_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.around(now)
            .filter(|t| *t <= now)
            .max()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The first scheduled reset strictly after `now`.
    /// Saturates to `DateTime::<Utc>::MAX_UTC` at the edge of chrono's range.
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.around(now)
            .filter(|t| *t > now)
            .min()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Whether a reset fell due after `last_done` (when the previous reset
    /// ran) and at or before `now`, i.e. `last_at_or_before(now) > last_done`.
    /// `None` (a fresh database, nothing to reset) is never due.
    pub fn is_due(&self, last_done: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        last_done.is_some_and(|done| self.last_at_or_before(now) > done)
    }

    /// Resets of the local days around `now` (today -2 ..= today +2): wide
    /// enough that the last reset at or before and the first after are in it,
    /// even with day-long gaps (Pacific/Apia skipped 2011-12-30).
    fn around(&self, now: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> {
        let s = *self;
        let utc = now.naive_utc();
        let offset = s.zone.offset_from_utc_datetime(&utc).fix();
        let today = utc.checked_add_offset(offset).unwrap_or(utc).date();
        (-2..=2)
            .filter_map(move |k| today.checked_add_signed(TimeDelta::days(k)))
            .filter_map(move |day| s.reset_on(day))
    }

    /// The reset instant of local calendar day `day` (DST rules: module doc).
    fn reset_on(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        let local = day.and_time(self.time);
        let at = match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t,
            LocalResult::Ambiguous(a, b) => a.min(b),
            LocalResult::None => GapInfo::new(&local, &self.zone)?.end?,
        };
        Some(at.with_timezone(&Utc))
    }
}

impl Default for DailySchedule {
    /// 03:00 UTC.
    fn default() -> Self {
        let three = NaiveTime::from_hms_opt(3, 0, 0).unwrap_or(NaiveTime::MIN);
        DailySchedule::new(three, Tz::UTC)
    }
}

/// `H:MM`, `HH:MM` or `HH:MM:SS`, digits only, within a day (no leap second).
fn parse_time(s: &str) -> Option<NaiveTime> {
    let field = |p: &str, min_len: usize| -> Option<u32> {
        let ok = (min_len..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| p.parse().ok()).flatten()
    };
    match s.split(':').collect::<Vec<_>>().as_slice() {
        [h, m] => NaiveTime::from_hms_opt(field(h, 1)?, field(m, 2)?, 0),
        [h, m, sec] => NaiveTime::from_hms_opt(field(h, 1)?, field(m, 2)?, field(sec, 2)?),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A UTC instant from "YYYY-MM-DD HH:MM[:SS]".
    fn at(s: &str) -> DateTime<Utc> {
        let p = |f| chrono::NaiveDateTime::parse_from_str(s, f);
        p("%F %T").or_else(|_| p("%F %R")).unwrap().and_utc()
    }

    fn sched(time: &str, zone: &str) -> DailySchedule {
        DailySchedule::parse(time, zone).unwrap()
    }

    /// (time, zone, now, last_at_or_before, next_after); instants are UTC.
    #[rustfmt::skip]
    const CASES: &[(&str, &str, &str, &str, &str)] = &[
        // Default 03:00 UTC around the boundary.
        ("03:00", "UTC", "2024-05-10 02:59:59", "2024-05-09 03:00", "2024-05-10 03:00"),
        ("03:00", "UTC", "2024-05-10 03:00", "2024-05-10 03:00", "2024-05-11 03:00"),
        ("03:00", "UTC", "2024-12-31 23:59:59", "2024-12-31 03:00", "2025-01-01 03:00"),
        // Asia/Kolkata (+05:30): 03:00 local is 21:30 UTC the day before.
        ("03:00", "Asia/Kolkata", "2024-05-10 00:00", "2024-05-09 21:30", "2024-05-10 21:30"),
        // America/New_York: EDT (-4) in summer, EST (-5) in winter.
        ("03:00", "America/New_York", "2024-07-01 12:00", "2024-07-01 07:00", "2024-07-02 07:00"),
        ("03:00", "America/New_York", "2024-01-15 07:59:59", "2024-01-14 08:00", "2024-01-15 08:00"),
        // NY spring-forward 2024-03-10: 02:30 does not exist -> 03:00 EDT.
        ("02:30", "America/New_York", "2024-03-09 12:00", "2024-03-09 07:30", "2024-03-10 07:00"),
        ("02:30", "America/New_York", "2024-03-10 07:00", "2024-03-10 07:00", "2024-03-11 06:30"),
        // NY fall-back 2024-11-03: 01:30 EDT (05:30Z) and EST (06:30Z); earliest wins.
        ("01:30", "America/New_York", "2024-11-03 06:30", "2024-11-03 05:30", "2024-11-04 06:30"),
        ("01:30", "America/New_York", "2024-11-03 05:29:59", "2024-11-02 05:30", "2024-11-03 05:30"),
        // Berlin spring-forward 2024-03-31: 02:30 does not exist -> 03:00 CEST.
        ("02:30", "Europe/Berlin", "2024-03-31 12:00", "2024-03-31 01:00", "2024-04-01 00:30"),
        // Berlin fall-back 2024-10-27: 02:30 CEST (00:30Z) and CET (01:30Z).
        ("02:30", "Europe/Berlin", "2024-10-27 01:30", "2024-10-27 00:30", "2024-10-28 01:30"),
        // Pacific/Apia skipped 2011-12-30: its reset is 12-31 00:00 +14.
        ("03:00", "Pacific/Apia", "2011-12-30 11:00", "2011-12-30 10:00", "2011-12-30 13:00"),
    ];

    #[test]
    fn last_and_next_table() {
        for &(time, zone, now, last, next) in CASES {
            let s = sched(time, zone);
            let got = (s.last_at_or_before(at(now)), s.next_after(at(now)));
            assert_eq!(got, (at(last), at(next)), "{time} {zone} {now}");
        }
    }

    #[test]
    fn sweep_is_consistent() {
        for zone in "UTC America/New_York Europe/Berlin Australia/Lord_Howe".split(' ') {
            for time in ["00:00", "01:30", "02:30", "23:59:59"] {
                let s = sched(time, zone);
                let mut now = at("2024-01-01 00:00");
                while now < at("2025-01-01 00:00") {
                    let (last, next) = (s.last_at_or_before(now), s.next_after(now));
                    assert!(last <= now && now < next, "{time} {zone} {now}");
                    assert_eq!(s.next_after(last), next, "{time} {zone} {now}");
                    assert!(next - last <= TimeDelta::hours(25), "{time} {zone} {now}");
                    now += TimeDelta::minutes(47);
                }
            }
        }
    }

    #[test]
    fn is_due_table() {
        let s = DailySchedule::default();
        #[rustfmt::skip]
        let cases = [
            (Some("2024-05-08 03:00"), "2024-05-10 12:00", true), // missed while down
            (Some("2024-05-10 03:00:05"), "2024-05-10 12:00", false), // done today
            (Some("2024-05-09 03:00"), "2024-05-10 02:59:59", false),
            (Some("2024-05-09 03:00"), "2024-05-10 03:00", true),
            (Some("2024-05-11 00:00"), "2024-05-10 12:00", false), // clock went back
            (None, "2024-05-10 12:00", false), // fresh database
        ];
        for (done, now, want) in cases {
            assert_eq!(s.is_due(done.map(at), at(now)), want, "{done:?} {now}");
        }
    }

    #[test]
    fn extremes_do_not_panic() {
        for zone in ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"] {
            let s = sched("23:59:59", zone);
            for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
                assert!(s.last_at_or_before(now) <= s.next_after(now));
                assert!(!s.is_due(Some(now), now));
            }
        }
    }

    #[test]
    fn parse_default_and_accessors() {
        assert_eq!(DailySchedule::default(), sched("03:00", "UTC"));
        for input in ["03:00", "3:00", " 03:00:00 "] {
            assert_eq!(
                sched(input, "UTC").time().to_string(),
                "03:00:00",
                "{input}"
            );
        }
        assert_eq!(sched("23:59:59", "UTC").time().to_string(), "23:59:59");
        assert_eq!(sched("03:00", " Europe/Berlin ").zone(), Tz::Europe__Berlin);
    }

    #[test]
    fn parse_rejects() {
        assert_eq!(
            DailySchedule::parse("25:00", "UTC").unwrap_err(),
            "`DAILY_RESET_TIME` = `25:00` is not a time of day: use HH:MM, e.g. 03:00"
        );
        assert_eq!(
            DailySchedule::parse("03:00", "Mars/Olympus").unwrap_err(),
            "`DAILY_RESET_TIMEZONE` = `Mars/Olympus` is not an IANA time zone: \
             use e.g. UTC, Europe/Berlin, America/New_York"
        );
        for bad in [
            "", "3", "24:00", "03:60", "3:0", "003:00", "03:00:60", "+3:00", "3h",
        ] {
            let err = DailySchedule::parse(bad, "UTC").unwrap_err();
            assert!(err.starts_with("`DAILY_RESET_TIME`"), "{bad}: {err}");
        }
        for bad in ["", "utc", "europe/berlin", "EST5", "+02:00"] {
            let err = DailySchedule::parse("03:00", bad).unwrap_err();
            assert!(err.starts_with("`DAILY_RESET_TIMEZONE`"), "{bad}: {err}");
        }
    }
}
