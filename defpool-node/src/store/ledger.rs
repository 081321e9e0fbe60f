//! Balances (the projection of the ledger) and per-miner payout settings.

use defpool_core::Amount;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{amount_from_db, amount_to_db, now_ms, Store, StoreResult};

/// An account's money in one coin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRecord {
    pub coin: String,
    pub account: String,
    pub balance: Amount,
    pub immature: Amount,
    pub paid: Amount,
    /// Sum of the account's pending and processing payouts.
    pub pending_payouts: Amount,
    pub updated_at: i64,
}

/// A miner's saved payout settings for one coin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutSettingsRecord {
    pub coin: String,
    pub account: String,
    pub threshold: Amount,
    pub target_coin: String,
    pub auto_exchange: bool,
    pub updated_at: i64,
}

const BALANCE_SELECT: &str = "SELECT b.coin, b.account, b.balance, b.immature, b.paid, \
    COALESCE((SELECT CAST(SUM(p.amount) AS BIGINT) FROM payouts p WHERE p.coin = b.coin \
    AND p.account = b.account AND p.status IN ('pending', 'processing')), 0), b.updated_at \
    FROM balances b";

fn balance_from_row(r: &AnyRow) -> StoreResult<BalanceRecord> {
    Ok(BalanceRecord {
        coin: r.try_get(0)?,
        account: r.try_get(1)?,
        balance: amount_from_db(r.try_get(2)?)?,
        immature: amount_from_db(r.try_get(3)?)?,
        paid: amount_from_db(r.try_get(4)?)?,
        pending_payouts: amount_from_db(r.try_get(5)?)?,
        updated_at: r.try_get(6)?,
    })
}

impl Store {
    /// Every coin balance of an account.
    pub async fn balances_of(&self, account: &str) -> StoreResult<Vec<BalanceRecord>> {
        let rows = sqlx::query(&format!(
            "{BALANCE_SELECT} WHERE b.account = $1 ORDER BY b.coin"
        ))
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(balance_from_row).collect()
    }

    pub async fn balance(&self, coin: &str, account: &str) -> StoreResult<Option<BalanceRecord>> {
        let row = sqlx::query(&format!(
            "{BALANCE_SELECT} WHERE b.coin = $1 AND b.account = $2"
        ))
        .bind(coin)
        .bind(account)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(balance_from_row).transpose()
    }

    /// Accounts of `coin` whose balance reached their threshold (their own, else
    /// `default_threshold`) and that have no open payout: candidates for auto payouts.
    pub async fn accounts_due_for_payout(
        &self,
        coin: &str,
        default_threshold: Amount,
    ) -> StoreResult<Vec<(String, Amount)>> {
        let rows = sqlx::query(
            "SELECT b.account, b.balance FROM balances b \
             LEFT JOIN payout_settings s ON s.coin = b.coin AND s.account = b.account \
             WHERE b.coin = $1 AND b.balance > 0 AND b.balance >= COALESCE(s.threshold, $2) \
             AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.coin = b.coin AND p.account = b.account \
                             AND p.status IN ('pending', 'processing')) \
             ORDER BY b.account",
        )
        .bind(coin)
        .bind(amount_to_db(default_threshold)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, amount_from_db(r.try_get(1)?)?)))
            .collect()
    }

    pub async fn payout_settings(
        &self,
        coin: &str,
        account: &str,
    ) -> StoreResult<Option<PayoutSettingsRecord>> {
        let row = sqlx::query(
            "SELECT coin, account, threshold, target_coin, auto_exchange, updated_at \
             FROM payout_settings WHERE coin = $1 AND account = $2",
        )
        .bind(coin)
        .bind(account)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PayoutSettingsRecord {
                coin: r.try_get(0)?,
                account: r.try_get(1)?,
                threshold: amount_from_db(r.try_get(2)?)?,
                target_coin: r.try_get(3)?,
                auto_exchange: r.try_get::<i64, _>(4)? != 0,
                updated_at: r.try_get(5)?,
            })
        })
        .transpose()
    }

    /// Saves a miner's payout settings (insert or replace).
    pub async fn save_payout_settings(&self, s: &PayoutSettingsRecord) -> StoreResult<()> {
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO payout_settings (coin, account, threshold, target_coin, auto_exchange, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (coin, account) DO UPDATE SET threshold = excluded.threshold, \
             target_coin = excluded.target_coin, auto_exchange = excluded.auto_exchange, \
             updated_at = excluded.updated_at",
        )
        .bind(&s.coin)
        .bind(&s.account)
        .bind(amount_to_db(s.threshold)?)
        .bind(&s.target_coin)
        .bind(i64::from(s.auto_exchange))
        .bind(now)
        .execute(&mut *wtx.tx)
        .await?;
        wtx.commit().await
    }
}
