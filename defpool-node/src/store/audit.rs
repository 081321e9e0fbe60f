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
