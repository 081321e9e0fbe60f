//! Variable difficulty: one small retarget state machine per session.
//!
//! A session's share difficulty should make its worker find one share every
//! `target_seconds`: often enough that the pool sees its hashrate and credits it
//! fairly, rarely enough that validation stays cheap. The state lives in every session
//! (100k of them on one node), so it is three numbers and no history: shares are counted
//! over a window that restarts at each retarget. The configuration is per port and is
//! passed to every call rather than stored. Time is passed in as unix milliseconds;
//! nothing here reads a clock.

use serde::{Deserialize, Serialize};

/// How a port retargets its sessions. The field names are the config keys
/// (`vardiff = { target_seconds = 15, min = 100, max = 1000000000 }`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VardiffConfig {
    /// Seconds per share the difficulty aims at.
    pub target_seconds: f64,
    /// The window: least time between two retargets, so a retarget sees several shares.
    pub retarget_seconds: f64,
    /// Lowest difficulty a session is given.
    pub min: f64,
    /// Highest difficulty a session is given.
    pub max: f64,
    /// Largest factor one retarget may move the difficulty by, up or down; it damps the
    /// noise of a window with few shares.
    pub max_jump: f64,
    /// Relative deviation from `target_seconds` that is tolerated without a change, so a
    /// steady miner is not sent a new difficulty (and a new job) every window.
    pub variance: f64,
}

impl Default for VardiffConfig {
    fn default() -> Self {
        VardiffConfig {
            target_seconds: 15.0,
            retarget_seconds: 60.0,
            min: 100.0,
            max: 1e12,
            max_jump: 4.0,
            variance: 0.3,
        }
    }
}

/// Why a [`VardiffConfig`] cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VardiffConfigError {
    #[error("vardiff {field} must be a finite number above zero, got {value}")]
    NotPositive { field: &'static str, value: f64 },
    #[error("vardiff min ({min}) is above max ({max})")]
    MinAboveMax { min: f64, max: f64 },
    #[error("vardiff max_jump must be at least 1, got {0}")]
    JumpBelowOne(f64),
    #[error("vardiff variance must be between 0 and 1, got {0}")]
    Variance(f64),
}

impl VardiffConfig {
    /// Checks the config once at start, so the per-share code can trust it.
    pub fn validate(&self) -> Result<(), VardiffConfigError> {
        for (field, value) in [
            ("target_seconds", self.target_seconds),
            ("retarget_seconds", self.retarget_seconds),
            ("min", self.min),
            ("max", self.max),
            ("max_jump", self.max_jump),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(VardiffConfigError::NotPositive { field, value });
            }
        }
        if self.min > self.max {
            return Err(VardiffConfigError::MinAboveMax {
                min: self.min,
                max: self.max,
            });
        }
        if self.max_jump < 1.0 {
            return Err(VardiffConfigError::JumpBelowOne(self.max_jump));
        }
        if !(0.0..1.0).contains(&self.variance) {
            return Err(VardiffConfigError::Variance(self.variance));
        }
        Ok(())
    }

    /// The window in milliseconds.
    fn window_ms(&self) -> f64 {
        self.retarget_seconds * 1000.0
    }

    /// `max_jump` as a usable factor even if the config was never validated.
    fn jump(&self) -> f64 {
        // `f64::max` ignores NaN, so a NaN jump means "no change" rather than poison.
        self.max_jump.max(1.0)
    }

    fn clamp(&self, difficulty: f64) -> f64 {
        // Not `f64::clamp`, which panics when min > max.
        let d = if difficulty.is_nan() {
            self.min
        } else {
            difficulty
        };
        d.min(self.max).max(self.min)
    }
}

/// The retarget state of one session: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vardiff {
    /// The difficulty the session mines at now.
    difficulty: f64,
    /// When the current window started: the last retarget, or the session's start.
    window_start_ms: i64,
    /// Accepted shares since `window_start_ms`.
    shares: u32,
}

impl Vardiff {
    /// A session starting at `start` difficulty (the port's `difficulty`), clamped to
    /// the config's range. Keep using the same config: the jump bound of later
    /// retargets holds relative to a difficulty inside `[min, max]`.
    pub fn new(cfg: &VardiffConfig, start: f64, now_ms: i64) -> Self {
        Vardiff {
            difficulty: cfg.clamp(start),
            window_start_ms: now_ms,
            shares: 0,
        }
    }

    /// The difficulty the session mines at now.
    pub fn difficulty(&self) -> f64 {
        self.difficulty
    }

    /// Records an accepted share at `now_ms`; `Some(new difficulty)` when a retarget is
    /// due and moves the difficulty.
    pub fn on_share(&mut self, cfg: &VardiffConfig, now_ms: i64) -> Option<f64> {
        self.shares = self.shares.saturating_add(1);
        let elapsed_ms = self.elapsed_ms(now_ms);
        if elapsed_ms < cfg.window_ms() {
            return None;
        }
        self.retarget(cfg, elapsed_ms, now_ms)
    }

    /// Periodic check (on each new job, say): retargets a session whose window is over
    /// even if no share closes it, and lowers one that found no share for two windows,
    /// which `on_share` alone could never do.
    pub fn on_tick(&mut self, cfg: &VardiffConfig, now_ms: i64) -> Option<f64> {
        let elapsed_ms = self.elapsed_ms(now_ms);
        if elapsed_ms < cfg.window_ms() {
            return None;
        }
        if self.shares > 0 {
            return self.retarget(cfg, elapsed_ms, now_ms);
        }
        if elapsed_ms <= 2.0 * cfg.window_ms() {
            return None;
        }
        // Silence says only "too hard"; by how much is unknown, so step down the most
        // one retarget may, and look again after another window.
        let new = self.difficulty / cfg.jump();
        self.finish(cfg, new, now_ms)
    }

    /// Milliseconds since the window started. A clock that stepped back restarts the
    /// window at `now_ms` rather than leaving it open until time catches up.
    fn elapsed_ms(&mut self, now_ms: i64) -> f64 {
        if now_ms < self.window_start_ms {
            self.window_start_ms = now_ms;
        }
        now_ms.saturating_sub(self.window_start_ms) as f64
    }

    fn retarget(&mut self, cfg: &VardiffConfig, elapsed_ms: f64, now_ms: i64) -> Option<f64> {
        let observed = elapsed_ms / 1000.0 / f64::from(self.shares.max(1));
        let target = cfg.target_seconds;
        if (observed - target).abs() <= cfg.variance * target {
            return self.finish(cfg, self.difficulty, now_ms);
        }
        let jump = cfg.jump();
        // `observed` is 0 only with a zero-length window; the clamp turns the infinite
        // ratio into one full step up.
        let factor = (target / observed).min(jump).max(1.0 / jump);
        self.finish(cfg, self.difficulty * factor, now_ms)
    }

    /// Starts a new window at `now_ms` with `new` (clamped) as the difficulty; `Some`
    /// only if it differs from the current one.
    fn finish(&mut self, cfg: &VardiffConfig, new: f64, now_ms: i64) -> Option<f64> {
        self.window_start_ms = now_ms;
        self.shares = 0;
        let new = cfg.clamp(new);
        if new == self.difficulty {
            return None;
        }
        self.difficulty = new;
        Some(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_700_000_000_000;

    fn cfg() -> VardiffConfig {
        VardiffConfig::default()
    }

    /// A miner of `hashrate` H/s whose shares arrive exactly every `difficulty /
    /// hashrate` seconds, for `seconds`; returns the session and how many retargets
    /// changed the difficulty.
    fn simulate(cfg: &VardiffConfig, start: f64, hashrate: f64, seconds: f64) -> (Vardiff, u32) {
        let mut v = Vardiff::new(cfg, start, T0);
        let mut t = 0.0f64;
        let mut changes = 0;
        loop {
            t += v.difficulty() / hashrate;
            if t > seconds {
                break;
            }
            if v.on_share(cfg, T0 + (t * 1000.0) as i64).is_some() {
                changes += 1;
            }
        }
        (v, changes)
    }

    fn within_variance(cfg: &VardiffConfig, difficulty: f64, hashrate: f64) -> bool {
        let ideal = hashrate * cfg.target_seconds;
        (difficulty / ideal - 1.0).abs() <= cfg.variance
    }

    #[test]
    fn state_is_a_few_dozen_bytes() {
        assert!(std::mem::size_of::<Vardiff>() <= 24);
    }

    #[test]
    fn default_config_is_valid() {
        assert_eq!(cfg().validate(), Ok(()));
    }

    #[test]
    fn bad_configs_are_named() {
        let c = VardiffConfig { min: 0.0, ..cfg() };
        assert!(matches!(
            c.validate(),
            Err(VardiffConfigError::NotPositive { field: "min", .. })
        ));
        let c = VardiffConfig {
            min: 10.0,
            max: 1.0,
            ..cfg()
        };
        assert!(matches!(
            c.validate(),
            Err(VardiffConfigError::MinAboveMax { .. })
        ));
        let c = VardiffConfig {
            max_jump: 0.5,
            ..cfg()
        };
        assert_eq!(c.validate(), Err(VardiffConfigError::JumpBelowOne(0.5)));
        let c = VardiffConfig {
            variance: f64::NAN,
            ..cfg()
        };
        assert!(matches!(c.validate(), Err(VardiffConfigError::Variance(_))));
    }

    #[test]
    fn config_reads_from_the_documented_keys_with_defaults() {
        let c: VardiffConfig =
            serde_json::from_str(r#"{"target_seconds": 10, "min": 50, "max": 1000000000}"#)
                .unwrap();
        assert_eq!(c.target_seconds, 10.0);
        assert_eq!(c.min, 50.0);
        assert_eq!(c.max, 1e9);
        assert_eq!(c.retarget_seconds, 60.0);
        assert_eq!(c.max_jump, 4.0);
    }

    #[test]
    fn steady_fast_miner_converges_to_its_hashrate_times_target() {
        let c = cfg();
        let hashrate = 5_000.0;
        let (v, changes) = simulate(&c, 1_000.0, hashrate, 3_600.0);
        assert!(changes >= 3, "needed several 4x steps, got {changes}");
        assert!(
            within_variance(&c, v.difficulty(), hashrate),
            "difficulty {} for ideal {}",
            v.difficulty(),
            hashrate * c.target_seconds
        );
    }

    #[test]
    fn steady_slow_miner_converges_down() {
        let c = cfg();
        let hashrate = 35.0; // one xmrig light-mode thread
        let (v, _) = simulate(&c, 1e6, hashrate, 86_400.0);
        assert!(
            within_variance(&c, v.difficulty(), hashrate),
            "difficulty {} for ideal {}",
            v.difficulty(),
            hashrate * c.target_seconds
        );
    }

    #[test]
    fn converged_miner_is_left_alone() {
        let c = cfg();
        let hashrate = 2_000.0;
        let mut v = Vardiff::new(&c, hashrate * c.target_seconds, T0);
        let mut t = T0;
        for i in 1..=1_000 {
            // Intervals ±20% around the target, inside the 30% variance.
            let jitter = if i % 2 == 0 { 0.8 } else { 1.2 };
            t += (c.target_seconds * jitter * 1000.0) as i64;
            assert_eq!(v.on_share(&c, t), None, "share {i}");
        }
    }

    #[test]
    fn retarget_waits_for_the_window() {
        let c = cfg();
        let mut v = Vardiff::new(&c, 1_000.0, T0);
        // A share every second (15x too fast), but only 59 s have passed.
        for s in 1..60 {
            assert_eq!(v.on_share(&c, T0 + s * 1000), None);
        }
        assert_eq!(v.on_tick(&c, T0 + 59_999), None);
        assert_eq!(v.on_share(&c, T0 + 60_000), Some(4_000.0));
        // The window restarted at the retarget.
        assert_eq!(v.on_share(&c, T0 + 61_000), None);
    }

    #[test]
    fn one_retarget_moves_by_at_most_max_jump_each_way() {
        let c = cfg();
        let mut v = Vardiff::new(&c, 1_000.0, T0);
        for s in 1..=600 {
            v.on_share(&c, T0 + s * 100); // 150x too fast
        }
        // One window of 60 s closed at 60 s: exactly one step of 4x.
        assert_eq!(v.difficulty(), 4_000.0);

        let mut v = Vardiff::new(&c, 1_000_000.0, T0);
        assert_eq!(v.on_share(&c, T0 + 3_600_000), Some(250_000.0)); // 240x too slow
    }

    #[test]
    fn an_ordinary_retarget_uses_the_observed_rate() {
        let c = cfg();
        let mut v = Vardiff::new(&c, 1_000.0, T0);
        // 6 shares in 60 s: 10 s per share instead of 15 → 1.5x.
        for s in 1..=6 {
            v.on_share(&c, T0 + s * 10_000);
        }
        assert_eq!(v.difficulty(), 1_500.0);
    }

    #[test]
    fn difficulty_stays_within_min_and_max() {
        let c = VardiffConfig {
            min: 500.0,
            max: 10_000.0,
            ..cfg()
        };
        let (v, _) = simulate(&c, 1_000.0, 1e9, 3_600.0);
        assert_eq!(v.difficulty(), 10_000.0);
        let (v, _) = simulate(&c, 1_000.0, 0.001, 100.0 * 86_400.0);
        assert_eq!(v.difficulty(), 500.0);
        // At the bound, a retarget that cannot move reports no change.
        let mut v = Vardiff::new(&c, 10_000.0, T0);
        for s in 1..=120 {
            assert_eq!(v.on_share(&c, T0 + s * 1000), None);
        }
    }

    #[test]
    fn start_outside_the_range_is_clamped() {
        let c = cfg();
        assert_eq!(Vardiff::new(&c, 1.0, T0).difficulty(), c.min);
        assert_eq!(Vardiff::new(&c, 1e300, T0).difficulty(), c.max);
        assert_eq!(Vardiff::new(&c, f64::NAN, T0).difficulty(), c.min);
    }

    #[test]
    fn silence_lowers_after_two_windows() {
        let c = cfg();
        let mut v = Vardiff::new(&c, 100_000.0, T0);
        assert_eq!(v.on_tick(&c, T0 + 60_000), None);
        assert_eq!(v.on_tick(&c, T0 + 120_000), None);
        assert_eq!(v.on_tick(&c, T0 + 120_001), Some(25_000.0));
        // The next step needs another two silent windows.
        assert_eq!(v.on_tick(&c, T0 + 200_000), None);
        assert_eq!(v.on_tick(&c, T0 + 240_002), Some(6_250.0));
    }

    #[test]
    fn silence_never_goes_below_min() {
        let c = cfg();
        let mut v = Vardiff::new(&c, 300.0, T0);
        assert_eq!(v.on_tick(&c, T0 + 121_000), Some(100.0));
        assert_eq!(v.on_tick(&c, T0 + 242_000), None);
        assert_eq!(v.difficulty(), 100.0);
    }

    #[test]
    fn tick_retargets_a_window_that_has_shares() {
        let c = cfg();
        let mut v = Vardiff::new(&c, 1_000.0, T0);
        v.on_share(&c, T0 + 1_000);
        // One share in 60 s: 4x too slow → one full step down.
        assert_eq!(v.on_tick(&c, T0 + 60_000), Some(250.0));
    }

    #[test]
    fn clock_stepping_back_restarts_the_window() {
        let c = cfg();
        let mut v = Vardiff::new(&c, 1_000.0, T0);
        assert_eq!(v.on_share(&c, T0 - 3_600_000), None);
        assert_eq!(v.on_tick(&c, T0), Some(250.0)); // 1 share in an hour from the new start
    }

    #[test]
    fn poisson_miner_stays_near_its_hashrate() {
        // Exponential arrivals from a fixed-seed xorshift: with ~4 shares per window the
        // estimate is noisy, so look at the geometric mean over many retargets. It sits
        // about 20% below the ideal (11_685 here): elapsed / shares over a window closed
        // by a share overestimates seconds per share by E[1/(1 + Poisson(4))] × 75 s ≈
        // 18 s. That is inside the variance, and errs towards more shares, not fewer.
        let c = cfg();
        let hashrate = 1_000.0;
        let mut v = Vardiff::new(&c, 100.0, T0);
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut t = 0.0f64;
        let mut log_sum = 0.0;
        let mut n = 0;
        for i in 0..50_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
            t += -(1.0 - u).ln() * v.difficulty() / hashrate;
            v.on_share(&c, T0 + (t * 1000.0) as i64);
            if i > 5_000 {
                log_sum += v.difficulty().ln();
                n += 1;
            }
        }
        let mean = (log_sum / n as f64).exp();
        let ideal = hashrate * c.target_seconds;
        assert!(
            (mean / ideal - 1.0).abs() < 0.35,
            "geometric mean {mean} for ideal {ideal}"
        );
    }

    proptest! {
        #[test]
        fn every_change_is_in_range_and_within_one_jump(
            min in 1.0f64..1e6,
            span in 1.0f64..1e6,
            max_jump in 1.0f64..16.0,
            variance in 0.0f64..0.9,
            start_frac in 0.0f64..=1.0,
            events in proptest::collection::vec((0i64..300_000, any::<bool>()), 1..200),
        ) {
            let c = VardiffConfig { min, max: min * span, max_jump, variance, ..cfg() };
            let mut v = Vardiff::new(&c, min + (c.max - min) * start_frac, T0);
            prop_assert!(v.difficulty() >= c.min && v.difficulty() <= c.max);
            let mut now = T0;
            for (step, is_share) in events {
                now += step;
                let before = v.difficulty();
                let changed = if is_share { v.on_share(&c, now) } else { v.on_tick(&c, now) };
                let after = v.difficulty();
                if let Some(d) = changed {
                    prop_assert_eq!(d, after);
                    prop_assert!(d != before);
                } else {
                    prop_assert_eq!(before, after);
                }
                prop_assert!(after >= c.min && after <= c.max, "{} outside [{}, {}]", after, c.min, c.max);
                let ratio = after / before;
                let slack = 1.0 + 1e-12;
                prop_assert!(ratio <= max_jump * slack && ratio >= 1.0 / (max_jump * slack),
                    "jump {} > {}", ratio, max_jump);
            }
        }
    }
}
