//! When an upstream stops being worth mining on: too many rejected shares, or no
//! new job for too long. Pure bookkeeping, fed by the connection and its shares.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Limits past which the connection leaves an upstream for the next one.
#[derive(Clone, Debug)]
pub struct HealthLimits {
    /// Outcomes looked at (the most recent ones).
    pub reject_window: usize,
    /// Rejected share of the window, in percent, that marks the upstream unhealthy.
    pub max_reject_percent: u32,
    /// No new job for this long marks the upstream unhealthy.
    pub job_timeout: Duration,
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits {
            reject_window: 50,
            max_reject_percent: 50,
            job_timeout: Duration::from_secs(600),
        }
    }
}

/// Outcomes of the recent shares sent to one upstream and when it last sent a job.
#[derive(Debug)]
pub struct UpstreamVitals {
    outcomes: VecDeque<bool>,
    last_job: Instant,
}

impl UpstreamVitals {
    pub fn new(now: Instant) -> Self {
        UpstreamVitals {
            outcomes: VecDeque::new(),
            last_job: now,
        }
    }

    pub fn job_received(&mut self, now: Instant) {
        self.last_job = now;
    }

    pub fn share_outcome(&mut self, accepted: bool, limits: &HealthLimits) {
        self.outcomes.push_back(accepted);
        while self.outcomes.len() > limits.reject_window {
            self.outcomes.pop_front();
        }
    }

    /// Why the upstream should be left, if it should.
    pub fn verdict(&self, limits: &HealthLimits, now: Instant) -> Option<String> {
        let idle = now.saturating_duration_since(self.last_job);
        if idle >= limits.job_timeout {
            return Some(format!(
                "no new job for {}",
                humantime::format_duration(Duration::from_secs(idle.as_secs()))
            ));
        }
        // Judge only a full window: two early rejects must not fail an upstream over.
        if self.outcomes.len() >= limits.reject_window && limits.reject_window > 0 {
            let rejected = self.outcomes.iter().filter(|a| !**a).count();
            if rejected * 100 > limits.max_reject_percent as usize * self.outcomes.len() {
                return Some(format!(
                    "rejected {rejected} of the last {} shares",
                    self.outcomes.len()
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HealthLimits {
        HealthLimits {
            reject_window: 10,
            max_reject_percent: 50,
            job_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn rejects_judged_on_a_full_window_only() {
        let now = Instant::now();
        let mut v = UpstreamVitals::new(now);
        for _ in 0..9 {
            v.share_outcome(false, &limits());
        }
        assert_eq!(v.verdict(&limits(), now), None, "window not full yet");
        v.share_outcome(false, &limits());
        assert!(v
            .verdict(&limits(), now)
            .unwrap()
            .contains("rejected 10 of the last 10"));
        for _ in 0..6 {
            v.share_outcome(true, &limits());
        }
        assert_eq!(v.verdict(&limits(), now), None, "4 of 10 is under 50 %");
    }

    #[test]
    fn no_job_for_too_long() {
        let start = Instant::now();
        let mut v = UpstreamVitals::new(start);
        assert_eq!(v.verdict(&limits(), start + Duration::from_secs(59)), None);
        assert!(v
            .verdict(&limits(), start + Duration::from_secs(61))
            .unwrap()
            .starts_with("no new job"));
        v.job_received(start + Duration::from_secs(61));
        assert_eq!(v.verdict(&limits(), start + Duration::from_secs(62)), None);
    }
}
