//! Which upstream a connection tries next: straight to the next one in configured
//! order when one fails, a backoff only once every upstream failed in a row, and a
//! fresh round (from the first, without delay) after a connection that worked.

use std::time::Duration;

#[derive(Debug)]
pub struct Rotation {
    count: usize,
    index: usize,
    failures_in_a_row: usize,
    backoff: Duration,
    min: Duration,
    max: Duration,
}

impl Rotation {
    pub fn new(count: usize, min: Duration, max: Duration) -> Rotation {
        Rotation {
            count: count.max(1),
            index: 0,
            failures_in_a_row: 0,
            backoff: min,
            min,
            max,
        }
    }

    /// The upstream to connect to now.
    pub fn current(&self) -> usize {
        self.index
    }

    /// The connection to [`Rotation::current`] ended; `worked` when it got as far as
    /// a job. Returns how long to wait before the next attempt.
    pub fn ended(&mut self, worked: bool) -> Duration {
        if worked {
            self.failures_in_a_row = 0;
            self.backoff = self.min;
        }
        self.failures_in_a_row += 1;
        self.index = (self.index + 1) % self.count;
        if self.failures_in_a_row < self.count {
            return Duration::ZERO;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(self.max);
        self.failures_in_a_row = 0;
        self.index = 0;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn next_upstream_at_once_and_backoff_after_a_full_round() {
        let mut r = Rotation::new(3, S, 4 * S);
        assert_eq!(r.current(), 0);
        assert_eq!(r.ended(false), Duration::ZERO);
        assert_eq!(r.current(), 1);
        assert_eq!(r.ended(false), Duration::ZERO);
        assert_eq!(r.current(), 2);
        assert_eq!(r.ended(false), S, "every upstream failed: wait");
        assert_eq!(r.current(), 0, "then from the first again");
        for _ in 0..2 {
            r.ended(false);
        }
        assert_eq!(r.ended(false), 2 * S);
        for _ in 0..2 {
            r.ended(false);
        }
        assert_eq!(r.ended(false), 4 * S);
        for _ in 0..2 {
            r.ended(false);
        }
        assert_eq!(r.ended(false), 4 * S, "capped");
    }

    #[test]
    fn a_connection_that_worked_starts_a_fresh_round() {
        let mut r = Rotation::new(2, S, 60 * S);
        r.ended(false);
        assert_eq!(r.ended(false), S);
        // The first upstream worked for a while, then dropped: the second at once.
        assert_eq!(r.ended(true), Duration::ZERO);
        assert_eq!(r.current(), 1);
        assert_eq!(r.ended(false), S, "backoff back to its minimum");
    }

    #[test]
    fn one_upstream_retries_with_backoff() {
        let mut r = Rotation::new(1, S, 8 * S);
        assert_eq!(r.ended(true), S);
        assert_eq!(r.ended(false), 2 * S);
        assert_eq!(r.current(), 0);
    }
}
