//! A block's round: which shares its reward is split over, and the split itself.
//!
//! The same function serves crediting and the audit, so the audit recomputes exactly
//! what was credited from nothing but the shares and the block row.

use defpool_core::payout::{
    pplns_weights, pplns_window, prop_weights, solo_split, split_reward, RewardSplit, Scheme,
    SplitError,
};
use defpool_core::{Difficulty, Work};

use crate::store::{BlockRecord, Store, StoreResult};

/// Computes how `block`'s reward is split, from the stored shares.
pub async fn compute_split(store: &Store, block: &BlockRecord) -> StoreResult<RewardSplit> {
    let scheme: Scheme = block.scheme.parse().unwrap_or(Scheme::Solo);
    let weights = match scheme {
        Scheme::Solo | Scheme::Pps => {
            return Ok(solo_split(block.reward, block.fee, &block.finder))
        }
        Scheme::Pplns => {
            let network = Difficulty::new(block.network_difficulty)
                .unwrap_or_else(|_| Difficulty::new(1.0).expect("1 is a valid difficulty"));
            let window = pplns_window(block.pplns_factor, network);
            let mut shares: Vec<(String, Work)> = Vec::new();
            let mut filled: u128 = 0;
            store
                .round_shares_newest_first(&block.coin, 0, block.last_share_id, |page| {
                    for s in page {
                        let work = share_work(s.difficulty);
                        filled = filled.saturating_add(work.0);
                        shares.push((s.miner.clone(), work));
                        if filled >= window.0 {
                            return false;
                        }
                    }
                    true
                })
                .await?;
            pplns_weights(shares.iter().map(|(m, w)| (m.as_str(), *w)), window)
        }
        Scheme::Prop => {
            let start = store.previous_round_end(&block.coin, block.id).await?;
            let mut shares: Vec<(String, Work)> = Vec::new();
            store
                .round_shares_newest_first(&block.coin, start, block.last_share_id, |page| {
                    shares.extend(
                        page.iter()
                            .map(|s| (s.miner.clone(), share_work(s.difficulty))),
                    );
                    true
                })
                .await?;
            prop_weights(shares.iter().map(|(m, w)| (m.as_str(), *w)))
        }
    };
    match split_reward(block.reward, block.fee, &weights) {
        Ok(split) => Ok(split),
        // A round without pool shares (the finder's share is normally in it) still
        // has to pay someone: the finder, as in solo.
        Err(SplitError::NoShares) => Ok(solo_split(block.reward, block.fee, &block.finder)),
    }
}

fn share_work(difficulty: f64) -> Work {
    Difficulty::new(difficulty)
        .map(|d| d.work())
        .unwrap_or(Work(0))
}
