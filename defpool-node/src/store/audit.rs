//! Raw sums the audit compares: the ledger against its projections.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Store, StoreResult};

/// `(coin, account)` → value.
pub type AccountSums = BTreeMap<(String, String), i128>;

/// One stored balance row as the audit reads it.
#[derive(Clone, Debug)]
pub struct BalanceRow {
    pub balance: i64,
    pub immature: i64,
    pub paid: i64,
}

/// Per payout: amount, status and the sum of its ledger entries by kind.
#[derive(Clone, Debug)]
pub struct PayoutLedgerRow {
    pub id: i64,
    pub coin: String,
    pub amount: i64,
    pub status: String,
    pub debit: i64,
    pub refund: i64,
}

impl Store {
    async fn sums(&self, sql: &str) -> StoreResult<AccountSums> {
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut out = AccountSums::new();
        for r in rows {
            out.insert(
                (r.try_get(0)?, r.try_get(1)?),
                i128::from(r.try_get::<i64, _>(2)?),
            );
        }
        Ok(out)
    }

    /// PPS ledger entries whose amount is not the sum of the shares tied to them, or
    /// that carry shares of another miner: `(coin, subject, expected, actual)`.
    pub async fn pps_entry_differences(&self) -> StoreResult<Vec<(String, String, i128, i128)>> {
        let rows = sqlx::query(
            "SELECT e.coin, e.id, e.account, e.delta, \
               CAST(COALESCE(SUM(p.credit), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN p.miner <> e.account THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM ledger_entries e LEFT JOIN proxy_shares p ON p.ledger_entry = e.id \
             WHERE e.kind = 'pps_credit' GROUP BY e.coin, e.id, e.account, e.delta",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let coin: String = r.try_get(0)?;
            let id: i64 = r.try_get(1)?;
            let account: String = r.try_get(2)?;
            let delta: i64 = r.try_get(3)?;
            let shares: i64 = r.try_get(4)?;
            let foreign: i64 = r.try_get(5)?;
            if delta != shares || foreign != 0 {
                out.push((
                    coin,
                    format!("pps_entry:{id}:{account}"),
                    i128::from(shares),
                    i128::from(delta),
                ));
            }
        }
        Ok(out)
    }

    /// Per coin: PPS fees in the ledger (pool_fee entries of no block and no payout)
    /// and the fees of the credited proxy shares.
    pub async fn pps_fee_sums(
        &self,
    ) -> StoreResult<std::collections::BTreeMap<String, (i128, i128)>> {
        let mut out: std::collections::BTreeMap<String, (i128, i128)> = Default::default();
        let ledger = sqlx::query(
            "SELECT coin, CAST(SUM(delta) AS BIGINT) FROM ledger_entries \
             WHERE kind = 'pool_fee' AND block_id IS NULL AND payout_id IS NULL GROUP BY coin",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in ledger {
            out.entry(r.try_get(0)?).or_default().0 = i128::from(r.try_get::<i64, _>(1)?);
        }
        let shares = sqlx::query(
            "SELECT coin, CAST(SUM(fee) AS BIGINT) FROM proxy_shares \
             WHERE ledger_entry IS NOT NULL GROUP BY coin",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in shares {
            out.entry(r.try_get(0)?).or_default().1 = i128::from(r.try_get::<i64, _>(1)?);
        }
        Ok(out)
    }

    /// Σ ledger deltas per account: what every balance must equal.
    pub async fn ledger_sums(&self) -> StoreResult<AccountSums> {
        self.sums(
            "SELECT coin, account, CAST(SUM(delta) AS BIGINT) FROM ledger_entries GROUP BY coin, account",
        )
        .await
    }

    /// Σ credits of pending blocks per account: what every immature amount must equal.
    pub async fn pending_credit_sums(&self) -> StoreResult<AccountSums> {
        self.sums(
            "SELECT c.coin, c.account, CAST(SUM(c.amount) AS BIGINT) FROM block_credits c \
             JOIN blocks b ON b.id = c.block_id WHERE b.status = 'pending' GROUP BY c.coin, c.account",
        )
        .await
    }

    /// Σ completed payouts per account: what every `paid` must equal.
    pub async fn completed_payout_sums(&self) -> StoreResult<AccountSums> {
        self.sums(
            "SELECT coin, account, CAST(SUM(amount) AS BIGINT) FROM payouts WHERE status = 'completed' \
             GROUP BY coin, account",
        )
        .await
    }

    pub async fn balance_rows(&self) -> StoreResult<BTreeMap<(String, String), BalanceRow>> {
        let rows = sqlx::query("SELECT coin, account, balance, immature, paid FROM balances")
            .fetch_all(&self.pool)
            .await?;
        let mut out = BTreeMap::new();
        for r in rows {
            out.insert(
                (r.try_get(0)?, r.try_get(1)?),
                BalanceRow {
                    balance: r.try_get(2)?,
                    immature: r.try_get(3)?,
                    paid: r.try_get(4)?,
                },
            );
        }
        Ok(out)
    }

    /// Σ ledger entries that carry each block's id, per block.
    pub async fn block_ledger_sums(&self) -> StoreResult<BTreeMap<i64, i128>> {
        let rows = sqlx::query(
            "SELECT block_id, CAST(SUM(delta) AS BIGINT) FROM ledger_entries WHERE block_id IS NOT NULL GROUP BY block_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = BTreeMap::new();
        for r in rows {
            out.insert(r.try_get(0)?, i128::from(r.try_get::<i64, _>(1)?));
        }
        Ok(out)
    }

    pub async fn payout_ledger_rows(&self) -> StoreResult<Vec<PayoutLedgerRow>> {
        let rows = sqlx::query(
            "SELECT p.id, p.coin, p.amount, p.status, \
             COALESCE((SELECT CAST(SUM(delta) AS BIGINT) FROM ledger_entries l WHERE l.payout_id = p.id AND l.kind = 'payout'), 0), \
             COALESCE((SELECT CAST(SUM(delta) AS BIGINT) FROM ledger_entries l WHERE l.payout_id = p.id AND l.kind = 'payout_refund'), 0) \
             FROM payouts p ORDER BY p.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PayoutLedgerRow {
                    id: r.try_get(0)?,
                    coin: r.try_get(1)?,
                    amount: r.try_get(2)?,
                    status: r.try_get(3)?,
                    debit: r.try_get(4)?,
                    refund: r.try_get(5)?,
                })
            })
            .collect()
    }
}
