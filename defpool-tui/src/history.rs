//! Bounded histories behind the charts: hashrate per coin and shares per second.
//!
//! A dashboard left open for days must not grow; every history is a ring that drops its
//! oldest sample once full.

use std::collections::VecDeque;

/// Samples kept per series: ten minutes at one sample a second.
pub const HISTORY_LEN: usize = 600;

/// A ring of timestamped samples, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ring<T> {
    samples: VecDeque<(i64, T)>,
    capacity: usize,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Self {
        Ring {
            samples: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, at: i64, value: T) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back((at, value));
    }

    pub fn last(&self) -> Option<&(i64, T)> {
        self.samples.back()
    }

    pub fn last_mut(&mut self) -> Option<&mut (i64, T)> {
        self.samples.back_mut()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(i64, T)> {
        self.samples.iter()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// Accepted and rejected shares per second in one second of the pool.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ShareRate {
    pub accepted: f64,
    pub rejected: f64,
}

/// Recent share windows of one coin or miner, for a hashrate averaged over
/// [`Self::SPAN_MS`] instead of the noisy one-second window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkWindow {
    /// `(end of window ms, hashes)` of the windows still inside the span.
    windows: VecDeque<(i64, f64)>,
    /// When the first window started: before a full span has passed, the average is
    /// over the time actually observed.
    first_start: Option<i64>,
}

impl WorkWindow {
    /// Averaging span of the hashrate estimate.
    pub const SPAN_MS: i64 = 30_000;

    /// Adds a window of `window_ms` ending at `at` in which `hashes` were done.
    pub fn add(&mut self, at: i64, window_ms: u64, hashes: f64) {
        let start = at - window_ms as i64;
        self.first_start = Some(self.first_start.map_or(start, |s| s.min(start)));
        self.windows.push_back((at, hashes));
        self.trim(at);
    }

    /// Hashes per second over the span ending at `now`.
    pub fn rate(&self, now: i64) -> f64 {
        let Some(first) = self.first_start else {
            return 0.0;
        };
        let from = now - Self::SPAN_MS;
        let hashes: f64 = self
            .windows
            .iter()
            .filter(|(at, _)| *at > from && *at <= now)
            .map(|(_, h)| h)
            .sum();
        let span_ms = (now - first.max(from)).clamp(1_000, Self::SPAN_MS);
        hashes * 1000.0 / span_ms as f64
    }

    fn trim(&mut self, now: i64) {
        while let Some((at, _)) = self.windows.front() {
            if *at <= now - Self::SPAN_MS {
                self.windows.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ring_drops_its_oldest_sample() {
        let mut r = Ring::new(3);
        for i in 0..5 {
            r.push(i, i);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![2, 3, 4]);
    }

    #[test]
    fn hashrate_averages_over_the_observed_time_until_the_span_is_full() {
        let mut w = WorkWindow::default();
        w.add(1_000, 1_000, 100.0);
        w.add(2_000, 1_000, 300.0);
        assert_eq!(w.rate(2_000), 200.0);
        for i in 3..=40 {
            w.add(i * 1000, 1_000, 100.0);
        }
        assert_eq!(w.rate(40_000), 100.0);
        assert_eq!(w.rate(100_000), 0.0, "old windows age out");
    }
}
