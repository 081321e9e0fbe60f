//! Read models for the API: per-coin pool stats and per-miner activity.

use sqlx::Row;

use super::{amount_from_db, Store, StoreResult};
use defpool_core::Amount;

/// Activity of one worker over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerActivity {
    pub coin: String,
    pub name: String,
    /// Σ difficulty of accepted shares in the window.
    pub accepted_difficulty: f64,
    pub valid_shares: u64,
    pub invalid_shares: u64,
    pub last_share_at: Option<i64>,
}

/// Per-coin counters for the pool stats.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CoinActivity {
    pub miners: u64,
    pub workers: u64,
    pub accepted_difficulty: f64,
    pub blocks_pending: u64,
    pub blocks_confirmed: u64,
    pub blocks_orphaned: u64,
    pub last_block_height: Option<u64>,
    pub last_block_at: Option<i64>,
    pub total_paid: Amount,
}

/// One miner of a coin in the miner listing.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerSummary {
    /// Row id of the miner in its coin; the listing's cursor.
    pub id: i64,
    pub coin: String,
    pub address: String,
    pub workers: u64,
    /// Σ difficulty of accepted shares since the window start.
    pub accepted_difficulty: f64,
    pub last_share_at: Option<i64>,
    /// Payable balance in the coin (zero without a balance row).
    pub balance: Amount,
    pub created_at: i64,
}

/// Filter and page of the miner listing.
#[derive(Clone, Debug, Default)]
pub struct MinerQuery {
    pub coin: Option<String>,
    /// Only miners with a share at or after this time.
    pub active_since: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Miners (per coin, as they first submitted shares), newest first, with their
    /// worker count, accepted difficulty since `since_ms` and balance.
    pub async fn miners(&self, q: &MinerQuery, since_ms: i64) -> StoreResult<Vec<MinerSummary>> {
        let rows = sqlx::query(
            "SELECT m.id, m.coin, m.address, \
             (SELECT COUNT(*) FROM workers w WHERE w.miner = m.address AND w.coin = m.coin), \
             COALESCE((SELECT SUM(s.difficulty) FROM shares s WHERE substr(s.miner, 1, 12) = substr(m.address, 1, 12) \
                       AND s.miner = m.address AND s.coin = m.coin AND s.created_at >= $4 AND s.accepted = 1), 0.0), \
             m.last_share_at, \
             COALESCE((SELECT b.balance FROM balances b WHERE b.coin = m.coin AND b.account = m.address), 0), \
             m.created_at \
             FROM miners m WHERE ($1 = '' OR m.coin = $1) AND m.id < $2 \
             AND COALESCE(m.last_share_at, 0) >= $3 ORDER BY m.id DESC LIMIT $5",
        )
        .bind(q.coin.clone().unwrap_or_default())
        .bind(q.before_id.unwrap_or(i64::MAX))
        .bind(q.active_since.unwrap_or(0))
        .bind(since_ms)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MinerSummary {
                    id: r.try_get(0)?,
                    coin: r.try_get(1)?,
                    address: r.try_get(2)?,
                    workers: r.try_get::<i64, _>(3)? as u64,
                    accepted_difficulty: r.try_get(4)?,
                    last_share_at: r.try_get(5)?,
                    balance: amount_from_db(r.try_get(6)?)?,
                    created_at: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Workers of a miner (all coins) with their share counts since `since_ms`.
    pub async fn worker_activity(
        &self,
        miner: &str,
        since_ms: i64,
    ) -> StoreResult<Vec<WorkerActivity>> {
        let rows = sqlx::query(
            "SELECT w.coin, w.name, \
             COALESCE((SELECT SUM(s.difficulty) FROM shares s WHERE substr(s.miner, 1, 12) = substr(w.miner, 1, 12) AND s.miner = w.miner AND s.coin = w.coin \
                       AND s.worker = w.name AND s.created_at >= $2 AND s.accepted = 1), 0.0), \
             (SELECT COUNT(*) FROM shares s WHERE substr(s.miner, 1, 12) = substr(w.miner, 1, 12) AND s.miner = w.miner AND s.coin = w.coin \
                       AND s.worker = w.name AND s.created_at >= $2 AND s.accepted = 1), \
             (SELECT COUNT(*) FROM shares s WHERE substr(s.miner, 1, 12) = substr(w.miner, 1, 12) AND s.miner = w.miner AND s.coin = w.coin \
                       AND s.worker = w.name AND s.created_at >= $2 AND s.accepted = 0), \
             w.last_share_at \
             FROM workers w WHERE w.miner = $1 ORDER BY w.coin, w.name",
        )
        .bind(miner)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkerActivity {
                    coin: r.try_get(0)?,
                    name: r.try_get(1)?,
                    accepted_difficulty: r.try_get(2)?,
                    valid_shares: r.try_get::<i64, _>(3)? as u64,
                    invalid_shares: r.try_get::<i64, _>(4)? as u64,
                    last_share_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Whether the node has ever seen this address (shares or money).
    pub async fn miner_known(&self, miner: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM miners WHERE address = $1) + \
             (SELECT COUNT(*) FROM balances WHERE account = $1)",
        )
        .bind(miner)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        Ok(n > 0)
    }

    /// Counters of one coin; miners and workers are those with a share since `since_ms`.
    pub async fn coin_activity(&self, coin: &str, since_ms: i64) -> StoreResult<CoinActivity> {
        let r = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM miners WHERE coin = $1 AND last_share_at >= $2), \
             (SELECT COUNT(*) FROM workers WHERE coin = $1 AND last_share_at >= $2), \
             COALESCE((SELECT SUM(difficulty) FROM shares WHERE coin = $1 AND created_at >= $2 AND accepted = 1), 0.0), \
             (SELECT COUNT(*) FROM blocks WHERE coin = $1 AND status = 'pending'), \
             (SELECT COUNT(*) FROM blocks WHERE coin = $1 AND status = 'confirmed'), \
             (SELECT COUNT(*) FROM blocks WHERE coin = $1 AND status = 'orphaned'), \
             (SELECT MAX(height) FROM blocks WHERE coin = $1 AND status <> 'orphaned'), \
             (SELECT MAX(found_at) FROM blocks WHERE coin = $1), \
             COALESCE((SELECT CAST(SUM(amount) AS BIGINT) FROM payouts WHERE coin = $1 AND status = 'completed'), 0)",
        )
        .bind(coin)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(CoinActivity {
            miners: r.try_get::<i64, _>(0)? as u64,
            workers: r.try_get::<i64, _>(1)? as u64,
            accepted_difficulty: r.try_get(2)?,
            blocks_pending: r.try_get::<i64, _>(3)? as u64,
            blocks_confirmed: r.try_get::<i64, _>(4)? as u64,
            blocks_orphaned: r.try_get::<i64, _>(5)? as u64,
            last_block_height: r.try_get::<Option<i64>, _>(6)?.map(|h| h as u64),
            last_block_at: r.try_get(7)?,
            total_paid: amount_from_db(r.try_get(8)?)?,
        })
    }
}
