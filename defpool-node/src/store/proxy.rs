//! Proxy-mode shares (forwarded upstream, with the upstream's verdict) and their
//! PPS credits.

use std::collections::BTreeMap;

use defpool_core::payout::pps_value;
use defpool_core::{Amount, FeeRate};
use sqlx::Row;

use super::blocks::add_to_balance;
use super::{amount_to_db, now_ms, Store, StoreError, StoreResult};

/// What the upstream said about a forwarded share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamVerdict {
    Accepted,
    Rejected,
    /// The connection dropped (or the answer timed out) before a verdict.
    Lost,
}

impl UpstreamVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamVerdict::Accepted => "accepted",
            UpstreamVerdict::Rejected => "rejected",
            UpstreamVerdict::Lost => "lost",
        }
    }
}

/// A share the proxy forwarded.
#[derive(Clone, Debug, PartialEq)]
pub struct NewProxyShare {
    pub coin: String,
    pub miner: String,
    pub worker: String,
    pub upstream: String,
    pub difficulty: f64,
    pub verdict: UpstreamVerdict,
    pub reason: Option<String>,
    /// The network data in force when the share was found, when the node had fresh
    /// data then; credited with the first fresh data after otherwise.
    pub network: Option<NetworkAtShare>,
    pub created_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkAtShare {
    pub difficulty: f64,
    pub block_reward: Amount,
}

/// What one crediting pass did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PpsPass {
    pub shares: u64,
    pub credited: Amount,
    pub fees: Amount,
    /// Accepted shares left for a later pass: no network data for them yet.
    pub waiting: u64,
}

/// Per-miner sums of proxy shares (for the reconciliation report).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProxyTotals {
    pub accepted: u64,
    pub rejected: u64,
    pub lost: u64,
    pub credited: Amount,
    pub fees: Amount,
    /// Accepted shares not yet credited.
    pub uncredited: u64,
}

impl Store {
    /// Writes forwarded shares and their verdicts in one transaction.
    pub async fn insert_proxy_shares(&self, shares: &[NewProxyShare]) -> StoreResult<()> {
        if shares.is_empty() {
            return Ok(());
        }
        let mut wtx = self.begin_write().await?;
        for s in shares {
            let reward = s
                .network
                .map(|n| amount_to_db(n.block_reward))
                .transpose()?;
            sqlx::query(
                "INSERT INTO proxy_shares (coin, miner, worker, upstream, difficulty, status, \
                 reason, network_difficulty, block_reward, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&s.coin)
            .bind(&s.miner)
            .bind(&s.worker)
            .bind(&s.upstream)
            .bind(s.difficulty)
            .bind(s.verdict.as_str())
            .bind(s.reason.as_deref())
            .bind(s.network.map(|n| n.difficulty))
            .bind(reward)
            .bind(s.created_at)
            .execute(&mut *wtx.tx)
            .await?;
        }
        wtx.commit().await
    }

    /// Credits up to `limit` accepted, uncredited shares of `coin` by PPS, in one
    /// transaction: one `pps_credit` ledger entry per miner and one `pool_fee` entry,
    /// each share tied to its miner's entry. Shares without network data take
    /// `fallback` (fresh data now), or wait for a later pass when there is none.
    pub async fn credit_proxy_shares(
        &self,
        coin: &str,
        fee: FeeRate,
        fee_account: &str,
        fallback: Option<NetworkAtShare>,
        limit: i64,
    ) -> StoreResult<PpsPass> {
        let mut wtx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT id, miner, difficulty, network_difficulty, block_reward FROM proxy_shares \
             WHERE coin = $1 AND status = 'accepted' AND ledger_entry IS NULL \
             ORDER BY id LIMIT $2",
        )
        .bind(coin)
        .bind(limit)
        .fetch_all(&mut *wtx.tx)
        .await?;
        let mut pass = PpsPass::default();
        // miner -> (credit, fee, [(share id, credit, fee, network used)])
        type Credited = (i64, Amount, Amount, NetworkAtShare);
        let mut by_miner: BTreeMap<String, Vec<Credited>> = BTreeMap::new();
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let miner: String = row.try_get(1)?;
            let difficulty: f64 = row.try_get(2)?;
            let nd: Option<f64> = row.try_get(3)?;
            let br: Option<i64> = row.try_get(4)?;
            let network = match (nd, br) {
                (Some(d), Some(r)) => Some(NetworkAtShare {
                    difficulty: d,
                    block_reward: Amount::from_i64(r).ok_or_else(|| {
                        StoreError::Corrupt(format!("negative reward in proxy share {id}"))
                    })?,
                }),
                _ => fallback,
            };
            let Some(network) = network else {
                pass.waiting += 1;
                continue;
            };
            let Some(v) = pps_value(difficulty, network.difficulty, network.block_reward, fee)
            else {
                return Err(StoreError::Corrupt(format!(
                    "proxy share {id}: difficulty {difficulty} over network {} has no value",
                    network.difficulty
                )));
            };
            by_miner
                .entry(miner)
                .or_default()
                .push((id, v.credit, v.fee, network));
        }
        let now = now_ms();
        let mut fee_total: u128 = 0;
        for (miner, shares) in &by_miner {
            let credit: u128 = shares.iter().map(|s| u128::from(s.1.atomic())).sum();
            fee_total += shares
                .iter()
                .map(|s| u128::from(s.2.atomic()))
                .sum::<u128>();
            let credit = Amount::from_atomic(
                u64::try_from(credit).map_err(|_| StoreError::AmountRange(credit.to_string()))?,
            );
            // A share whose value rounds to zero still gets tied to an entry; a
            // ledger entry itself is never zero, so such shares share the pass's
            // first non-zero entry or stay entry-less with credit 0.
            let entry: Option<i64> = if credit.is_zero() {
                None
            } else {
                let row = sqlx::query(
                    "INSERT INTO ledger_entries (coin, account, kind, delta, created_at) \
                     VALUES ($1, $2, 'pps_credit', $3, $4) RETURNING id",
                )
                .bind(coin)
                .bind(miner)
                .bind(amount_to_db(credit)?)
                .bind(now)
                .fetch_one(&mut *wtx.tx)
                .await?;
                let id: i64 = row.try_get(0)?;
                add_to_balance(&mut wtx.tx, coin, miner, amount_to_db(credit)?, 0, now).await?;
                Some(id)
            };
            for (id, c, f, network) in shares {
                // 0 marks "credited with nothing" (value below one atomic unit).
                sqlx::query(
                    "UPDATE proxy_shares SET credit = $2, fee = $3, ledger_entry = $4, \
                     network_difficulty = $5, block_reward = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(amount_to_db(*c)?)
                .bind(amount_to_db(*f)?)
                .bind(entry.unwrap_or(0))
                .bind(network.difficulty)
                .bind(amount_to_db(network.block_reward)?)
                .execute(&mut *wtx.tx)
                .await?;
                pass.shares += 1;
            }
            pass.credited = pass
                .credited
                .checked_add(credit)
                .ok_or_else(|| StoreError::AmountRange("PPS pass credit overflows".into()))?;
        }
        let fees = Amount::from_atomic(
            u64::try_from(fee_total).map_err(|_| StoreError::AmountRange(fee_total.to_string()))?,
        );
        if !fees.is_zero() {
            sqlx::query(
                "INSERT INTO ledger_entries (coin, account, kind, delta, created_at) \
                 VALUES ($1, $2, 'pool_fee', $3, $4)",
            )
            .bind(coin)
            .bind(fee_account)
            .bind(amount_to_db(fees)?)
            .bind(now)
            .execute(&mut *wtx.tx)
            .await?;
            add_to_balance(&mut wtx.tx, coin, fee_account, amount_to_db(fees)?, 0, now).await?;
        }
        pass.fees = fees;
        wtx.commit().await?;
        Ok(pass)
    }

    /// Totals of `coin`'s proxy shares (every miner when `miner` is `None`).
    pub async fn proxy_totals(&self, coin: &str, miner: Option<&str>) -> StoreResult<ProxyTotals> {
        // CAST: PostgreSQL sums BIGINT to NUMERIC, which `Any` cannot decode.
        let sql = format!(
            "SELECT \
               CAST(COALESCE(SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN status = 'lost' THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(credit), 0) AS BIGINT), CAST(COALESCE(SUM(fee), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN status = 'accepted' AND ledger_entry IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM proxy_shares WHERE coin = $1{}",
            if miner.is_some() { " AND miner = $2" } else { "" }
        );
        let mut q = sqlx::query(&sql).bind(coin);
        if let Some(m) = miner {
            q = q.bind(m);
        }
        let row = q.fetch_one(&self.pool).await?;
        let n = |i: usize| -> StoreResult<i64> { Ok(row.try_get::<i64, _>(i)?) };
        let amount = |v: i64| {
            Amount::from_i64(v).ok_or_else(|| StoreError::Corrupt(format!("negative sum {v}")))
        };
        Ok(ProxyTotals {
            accepted: n(0)? as u64,
            rejected: n(1)? as u64,
            lost: n(2)? as u64,
            credited: amount(n(3)?)?,
            fees: amount(n(4)?)?,
            uncredited: n(5)? as u64,
        })
    }
}
