//! The open-loop schedule: how many requests per second to offer, second by second.
//!
//! A schedule is a list of segments, each a duration and a rate that moves in a straight
//! line from `from` to `to` (equal for a constant rate, so steps are constant segments one
//! after another). Arrivals are not drawn at random: request `k` (counting from 0) is due at
//! the moment the expected number of arrivals N(t), the integral of the rate, reaches `k`.
//! That inverse is exact for constant and linear rates, so a run at R req/s for D seconds
//! offers R×D requests, and the load generator needs no ticker that could drift.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::units::parse_duration;

/// One stretch of a schedule: a rate changing linearly from `from` to `to` req/s over
/// `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// How long the segment lasts.
    pub duration: Duration,
    /// Requests per second at the start of the segment.
    pub from: f64,
    /// Requests per second at its end; equal to `from` for a constant rate.
    pub to: f64,
}

impl Segment {
    /// A constant rate.
    pub fn constant(duration: Duration, rate: f64) -> Self {
        Self {
            duration,
            from: rate,
            to: rate,
        }
    }

    /// A linear ramp from one rate to another.
    pub fn ramp(duration: Duration, from: f64, to: f64) -> Self {
        Self { duration, from, to }
    }

    /// Expected arrivals in the first `s` seconds of the segment.
    fn arrivals_within(&self, s: f64) -> f64 {
        let d = self.duration.as_secs_f64();
        self.from * s + (self.to - self.from) * s * s / (2.0 * d)
    }

    /// The offset in seconds at which `m` arrivals have accumulated in this segment.
    ///
    /// Solves `from·s + (to − from)·s²/(2d) = m` in the form `2m / (a + √(a² + 4αm))`, which
    /// stays exact when the ramp is flat (α = 0) or falling (α < 0), where the schoolbook
    /// formula divides by zero or cancels badly.
    fn offset_of(&self, m: f64) -> f64 {
        if m <= 0.0 {
            return 0.0;
        }
        let d = self.duration.as_secs_f64();
        let alpha = (self.to - self.from) / (2.0 * d);
        let discriminant = (self.from * self.from + 4.0 * alpha * m).max(0.0);
        let s = 2.0 * m / (self.from + discriminant.sqrt());
        s.clamp(0.0, d)
    }
}

/// A schedule that cannot be used.
#[derive(Debug, Error, PartialEq)]
pub enum ScheduleError {
    /// No segments at all.
    #[error("the schedule is empty: give at least one segment, e.g. \"10s@100\"")]
    Empty,
    /// A segment of zero length.
    #[error("segment {index} lasts no time: give it a duration above zero")]
    ZeroDuration {
        /// Which segment, from 1.
        index: usize,
    },
    /// A negative, infinite or NaN rate.
    #[error("segment {index} has rate {rate}: rates are requests per second, 0 or more")]
    BadRate {
        /// Which segment, from 1.
        index: usize,
        /// The rate given.
        rate: f64,
    },
    /// A compact schedule that could not be read.
    #[error("{input:?} is not a schedule: write segments like \"10s@100,5s@100..1000\"")]
    Syntax {
        /// The text given.
        input: String,
    },
}

/// A validated schedule, with the arrivals before each segment worked out once.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    segments: Vec<Segment>,
    /// Per segment: its start in seconds and the expected arrivals before it.
    starts: Vec<(f64, f64)>,
    /// Expected arrivals over the whole schedule.
    expected: f64,
}

impl Schedule {
    /// Checks the segments and prepares the arithmetic.
    pub fn new(segments: Vec<Segment>) -> Result<Self, ScheduleError> {
        if segments.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let mut starts = Vec::with_capacity(segments.len());
        let (mut time, mut arrivals) = (0.0, 0.0);
        for (i, segment) in segments.iter().enumerate() {
            let index = i + 1;
            if segment.duration.is_zero() {
                return Err(ScheduleError::ZeroDuration { index });
            }
            for rate in [segment.from, segment.to] {
                if !rate.is_finite() || rate < 0.0 {
                    return Err(ScheduleError::BadRate { index, rate });
                }
            }
            starts.push((time, arrivals));
            time += segment.duration.as_secs_f64();
            arrivals += segment.arrivals_within(segment.duration.as_secs_f64());
        }
        Ok(Self {
            segments,
            starts,
            expected: arrivals,
        })
    }

    /// One constant rate for a while: the command line's `--rate R --duration D`.
    pub fn constant(duration: Duration, rate: f64) -> Result<Self, ScheduleError> {
        Self::new(vec![Segment::constant(duration, rate)])
    }

    /// Reads the compact form `DURATION@RATE` or `DURATION@FROM..TO`, comma-separated:
    /// `"10s@100,5s@100..1000,20s@1000"`.
    pub fn parse(input: &str) -> Result<Self, ScheduleError> {
        let syntax = || ScheduleError::Syntax {
            input: input.to_owned(),
        };
        let mut segments = Vec::new();
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (duration, rate) = part.split_once('@').ok_or_else(syntax)?;
            let duration = parse_duration(duration).map_err(|_| syntax())?;
            let number = |text: &str| text.trim().parse::<f64>().map_err(|_| syntax());
            segments.push(match rate.split_once("..") {
                Some((from, to)) => Segment::ramp(duration, number(from)?, number(to)?),
                None => Segment::constant(duration, number(rate)?),
            });
        }
        Self::new(segments)
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// How long the whole schedule lasts.
    pub fn duration(&self) -> Duration {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// The target rate in req/s at `t` seconds from the start; 0 outside the schedule.
    pub fn rate_at(&self, t: f64) -> f64 {
        match self.locate_time(t) {
            Some((index, s)) => {
                let segment = &self.segments[index];
                let d = segment.duration.as_secs_f64();
                segment.from + (segment.to - segment.from) * s / d
            }
            None => 0.0,
        }
    }

    /// Expected arrivals in the first `t` seconds: N(t), the integral of the rate.
    pub fn arrivals_by(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        match self.locate_time(t) {
            Some((index, s)) => self.starts[index].1 + self.segments[index].arrivals_within(s),
            None => self.expected,
        }
    }

    /// Requests the schedule sends in all: the `k` with N(t) = k for some t before the end.
    pub fn total(&self) -> u64 {
        // The tolerance keeps 1000.0000000001 expected arrivals from becoming 1001 requests.
        (self.expected - 1e-6).ceil().max(0.0) as u64
    }

    /// When request `k` (from 0) is due, in seconds from the start; `None` past the end.
    pub fn arrival_time(&self, k: u64) -> Option<f64> {
        if k >= self.total() {
            return None;
        }
        let m = k as f64;
        // The segment whose arrivals cover `m`; segments with a rate of zero cover nothing.
        // Rounding may put the last arrival just past every segment's share: it belongs to
        // the last segment that has any.
        let has_arrivals = |i: &usize| self.segment_arrivals(*i) > 0.0;
        let index = (0..self.segments.len())
            .filter(has_arrivals)
            .find(|&i| self.starts[i].1 + self.segment_arrivals(i) > m)
            .or_else(|| (0..self.segments.len()).rev().find(has_arrivals))?;
        let (start, before) = self.starts[index];
        Some(start + self.segments[index].offset_of(m - before))
    }

    fn segment_arrivals(&self, index: usize) -> f64 {
        let segment = &self.segments[index];
        segment.arrivals_within(segment.duration.as_secs_f64())
    }

    /// The index of the segment covering `t` and the offset into it.
    fn locate_time(&self, t: f64) -> Option<(usize, f64)> {
        if t < 0.0 {
            return None;
        }
        self.segments
            .iter()
            .zip(&self.starts)
            .position(|(segment, (start, _))| t < start + segment.duration.as_secs_f64())
            .map(|index| (index, t - self.starts[index].0))
    }
}

/// The compact form, as [`Schedule::parse`] reads it.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let seconds = segment.duration.as_secs_f64();
            if segment.from == segment.to {
                write!(f, "{seconds}s@{}", segment.from)?;
            } else {
                write!(f, "{seconds}s@{}..{}", segment.from, segment.to)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_constant_rate_spaces_arrivals_evenly() {
        let schedule = Schedule::constant(secs(10), 100.0).unwrap();
        assert_eq!(schedule.total(), 1000);
        assert_eq!(schedule.rate_at(5.0), 100.0);
        assert_eq!(schedule.rate_at(10.0), 0.0);
        assert!(close(schedule.arrival_time(0).unwrap(), 0.0));
        assert!(close(schedule.arrival_time(1).unwrap(), 0.01));
        assert!(close(schedule.arrival_time(999).unwrap(), 9.99));
        assert_eq!(schedule.arrival_time(1000), None);
        assert!(close(schedule.arrivals_by(2.5), 250.0));
    }

    #[test]
    fn steps_change_rate_at_their_boundaries() {
        let schedule = Schedule::parse("2s@10,3s@0,1s@100").unwrap();
        assert_eq!(schedule.duration(), secs(6));
        assert_eq!(schedule.rate_at(1.999), 10.0);
        assert_eq!(schedule.rate_at(2.0), 0.0);
        assert_eq!(schedule.rate_at(5.5), 100.0);
        assert_eq!(schedule.total(), 120);
        // The 20th request (index 19) is the last of the first step; the 21st waits out the
        // idle step and comes at its end.
        assert!(close(schedule.arrival_time(19).unwrap(), 1.9));
        assert!(close(schedule.arrival_time(20).unwrap(), 5.0));
        assert!(close(schedule.arrival_time(21).unwrap(), 5.01));
        assert!(close(schedule.arrivals_by(4.0), 20.0));
    }

    #[test]
    fn a_ramp_accelerates_linearly() {
        // 0 → 100 req/s over 10 s: N(t) = 5·t², so 500 requests, the k-th at √(k/5).
        let schedule = Schedule::new(vec![Segment::ramp(secs(10), 0.0, 100.0)]).unwrap();
        assert_eq!(schedule.total(), 500);
        assert!(close(schedule.rate_at(2.5), 25.0));
        assert!(close(schedule.arrivals_by(4.0), 80.0));
        for k in [0_u64, 1, 5, 80, 320, 499] {
            let expected = (k as f64 / 5.0).sqrt();
            let got = schedule.arrival_time(k).unwrap();
            assert!((got - expected).abs() < 1e-9, "k={k}: {got} vs {expected}");
        }
    }

    #[test]
    fn a_falling_ramp_inverts_too() {
        // 100 → 0 over 10 s: N(t) = 100t − 5t², 500 requests.
        let schedule = Schedule::new(vec![Segment::ramp(secs(10), 100.0, 0.0)]).unwrap();
        assert_eq!(schedule.total(), 500);
        for k in [0_u64, 100, 255, 480, 499] {
            let t = schedule.arrival_time(k).unwrap();
            assert!(
                (schedule.arrivals_by(t) - k as f64).abs() < 1e-6,
                "k={k} t={t}"
            );
        }
    }

    #[test]
    fn arrival_times_never_go_backwards() {
        let schedule = Schedule::parse("1s@0..50,1s@50,2s@200..10,1s@0,1s@7").unwrap();
        let mut previous = -1.0;
        for k in 0..schedule.total() {
            let t = schedule.arrival_time(k).unwrap();
            assert!(t >= previous, "request {k} at {t} before {previous}");
            assert!(t < schedule.duration().as_secs_f64());
            previous = t;
        }
        assert_eq!(schedule.arrival_time(schedule.total()), None);
    }

    #[test]
    fn the_compact_form_round_trips() {
        let schedule = Schedule::parse("10s@100, 5s@100..1000,500ms@0").unwrap();
        assert_eq!(schedule.to_string(), "10s@100,5s@100..1000,0.5s@0");
        assert_eq!(Schedule::parse(&schedule.to_string()), Ok(schedule));
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert_eq!(Schedule::parse(""), Err(ScheduleError::Empty));
        assert!(matches!(
            Schedule::parse("10s"),
            Err(ScheduleError::Syntax { .. })
        ));
        assert!(matches!(
            Schedule::parse("10@5"),
            Err(ScheduleError::Syntax { .. })
        ));
        assert_eq!(
            Schedule::parse("1s@-5"),
            Err(ScheduleError::BadRate {
                index: 1,
                rate: -5.0
            })
        );
        assert_eq!(
            Schedule::parse("1s@5,0s@5"),
            Err(ScheduleError::ZeroDuration { index: 2 })
        );
    }
}
