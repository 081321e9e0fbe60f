//! What every stratum session does the same way, whatever its dialect or mode:
//! writing to its miner with a timeout, and counting malformed requests.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::transport::MinerWrite;
use super::StratumShared;
use crate::config::StratumConfig;

/// A miner that does not take a line within this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes `bytes` to the miner; the error says why the session must end.
pub async fn send_to_miner<W: MinerWrite>(writer: &mut W, bytes: &[u8]) -> Result<(), String> {
    match writer.send(bytes, WRITE_TIMEOUT).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            Err("miner does not read; write timed out".into())
        }
        Err(e) => Err(format!("write failed: {e}")),
    }
}

/// Counts an invalid share of a session from `ip`. At the port's limit the address
/// is banned, and the reason the session must end is returned.
pub fn invalid_share(
    count: &mut u32,
    shared: &StratumShared,
    settings: &StratumConfig,
    ip: IpAddr,
) -> Option<String> {
    *count += 1;
    if *count < settings.ban_after_invalid_shares {
        return None;
    }
    shared.ban(ip, settings.ban_duration);
    Some(format!("banned after {count} invalid shares"))
}

/// Malformed requests of one session within the current minute.
#[derive(Debug)]
pub struct BadMessages {
    window_start: Instant,
    in_window: u32,
}

impl BadMessages {
    pub fn new() -> Self {
        BadMessages {
            window_start: Instant::now(),
            in_window: 0,
        }
    }

    /// Counts one; more than `limit` within a minute ends the session.
    pub fn count(&mut self, limit: u32) -> Result<(), String> {
        if self.window_start.elapsed() > Duration::from_secs(60) {
            self.window_start = Instant::now();
            self.in_window = 0;
        }
        self.in_window += 1;
        if self.in_window > limit {
            return Err("too many malformed requests".into());
        }
        Ok(())
    }

    /// No malformed request this minute (a first bad line may be another dialect).
    pub fn none(&self) -> bool {
        self.in_window == 0
    }
}

impl Default for BadMessages {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_the_limit_in_a_minute_ends_the_session() {
        let mut bad = BadMessages::new();
        assert!(bad.none());
        for _ in 0..3 {
            assert!(bad.count(3).is_ok());
        }
        assert!(!bad.none());
        assert_eq!(bad.count(3), Err("too many malformed requests".into()));
    }
}
