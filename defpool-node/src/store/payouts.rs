//! Payouts: pending → processing → completed | failed, each step one transaction.
//!
//! The debit is written when the payout is created; `processing` is committed before
//! the wallet is called (the intent), so after a crash the processor knows which
//! payouts may have been sent and reconciles them with the wallet instead of sending
//! again. The signed transaction is recorded before it is broadcast, so a payout with
//! a transaction can only ever be completed (or, when the network refused that exact
//! transaction, put back to pending), never failed and credited back while it might
//! still be mined. A failed payout is credited back.

use defpool_core::api::PayoutStatus;
use defpool_core::Amount;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::blocks::add_to_balance;
use super::{amount_from_db, amount_to_db, now_ms, Store, StoreError, StoreResult};

/// `reason` of a payout the operator cancelled.
pub const CANCELLED_REASON: &str = "cancelled by the operator";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutRecord {
    pub id: i64,
    pub coin: String,
    pub account: String,
    pub amount: Amount,
    pub fee: Option<Amount>,
    pub status: PayoutStatus,
    pub reason: Option<String>,
    pub tx_hash: Option<String>,
    pub origin: String,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub processing_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Confirmations of `tx_hash`, followed until final.
    pub confirmations: u64,
}

/// Filter and page of a payout listing.
#[derive(Clone, Debug, Default)]
pub struct PayoutQuery {
    pub account: Option<String>,
    pub coin: Option<String>,
    pub status: Option<PayoutStatus>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

const PAYOUT_COLUMNS: &str = "id, coin, account, amount, fee, status, reason, tx_hash, origin, \
    attempts, next_attempt_at, processing_at, created_at, updated_at, confirmations";

fn payout_from_row(r: &AnyRow) -> StoreResult<PayoutRecord> {
    let status: String = r.try_get(5)?;
    Ok(PayoutRecord {
        id: r.try_get(0)?,
        coin: r.try_get(1)?,
        account: r.try_get(2)?,
        amount: amount_from_db(r.try_get(3)?)?,
        fee: r
            .try_get::<Option<i64>, _>(4)?
            .map(amount_from_db)
            .transpose()?,
        status: PayoutStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("payout status {status:?}")))?,
        reason: r.try_get(6)?,
        tx_hash: r.try_get(7)?,
        origin: r.try_get(8)?,
        attempts: r.try_get::<i64, _>(9)? as u32,
        next_attempt_at: r.try_get(10)?,
        processing_at: r.try_get(11)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
        confirmations: r.try_get::<i64, _>(14)?.max(0) as u64,
    })
}

impl Store {
    /// Creates a payout and debits the balance in one transaction. Fails with
    /// `InsufficientBalance` when the balance is short, and with `Conflict` when the
    /// account already has an open payout for the coin.
    pub async fn create_payout(
        &self,
        coin: &str,
        account: &str,
        amount: Amount,
        origin: &str,
        reason: Option<&str>,
    ) -> StoreResult<PayoutRecord> {
        self.create_payout_retrying(coin, account, amount, origin, reason, None)
            .await
    }

    /// [`Store::create_payout`], recording the failed payout it retries (if any) in
    /// the same transaction; a failed payout can be retried once (`Conflict` after).
    async fn create_payout_retrying(
        &self,
        coin: &str,
        account: &str,
        amount: Amount,
        origin: &str,
        reason: Option<&str>,
        retry_of: Option<i64>,
    ) -> StoreResult<PayoutRecord> {
        let amount_db = amount_to_db(amount)?;
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        if let Some(failed) = retry_of {
            let earlier: Option<i64> =
                sqlx::query("SELECT id FROM payouts WHERE retry_of = $1 LIMIT 1")
                    .bind(failed)
                    .fetch_optional(&mut *wtx.tx)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
            if let Some(earlier) = earlier {
                return Err(StoreError::Conflict(format!(
                    "payout {failed} was already retried as payout {earlier}"
                )));
            }
        }
        let debited = sqlx::query(
            "UPDATE balances SET balance = balance - $3, updated_at = $4 \
             WHERE coin = $1 AND account = $2 AND balance >= $3",
        )
        .bind(coin)
        .bind(account)
        .bind(amount_db)
        .bind(now)
        .execute(&mut *wtx.tx)
        .await?
        .rows_affected();
        if debited != 1 {
            let available: Option<i64> =
                sqlx::query("SELECT balance FROM balances WHERE coin = $1 AND account = $2")
                    .bind(coin)
                    .bind(account)
                    .fetch_optional(&mut *wtx.tx)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
            return Err(StoreError::InsufficientBalance {
                available: available.unwrap_or(0).max(0) as u64,
                requested: amount.atomic(),
            });
        }
        let open: i64 = sqlx::query(
            "SELECT COUNT(*) FROM payouts WHERE coin = $1 AND account = $2 \
             AND status IN ('pending', 'processing')",
        )
        .bind(coin)
        .bind(account)
        .fetch_one(&mut *wtx.tx)
        .await?
        .try_get(0)?;
        if open > 0 {
            return Err(StoreError::Conflict(format!(
                "{account} already has an open {coin} payout"
            )));
        }
        let row = sqlx::query(&format!(
            "INSERT INTO payouts (coin, account, amount, status, reason, origin, created_at, updated_at, retry_of) \
             VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6, $7) RETURNING {PAYOUT_COLUMNS}"
        ))
        .bind(coin)
        .bind(account)
        .bind(amount_db)
        .bind(reason)
        .bind(origin)
        .bind(now)
        .bind(retry_of)
        .fetch_one(&mut *wtx.tx)
        .await?;
        let payout = payout_from_row(&row)?;
        sqlx::query(
            "INSERT INTO ledger_entries (coin, account, kind, delta, payout_id, created_at) \
             VALUES ($1, $2, 'payout', $3, $4, $5)",
        )
        .bind(coin)
        .bind(account)
        .bind(-amount_db)
        .bind(payout.id)
        .bind(now)
        .execute(&mut *wtx.tx)
        .await?;
        wtx.commit().await?;
        Ok(payout)
    }

    pub async fn payout(&self, id: i64) -> StoreResult<Option<PayoutRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(payout_from_row).transpose()
    }

    /// Payouts, newest first, filtered and paged.
    pub async fn payouts(&self, q: &PayoutQuery) -> StoreResult<Vec<PayoutRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts \
             WHERE ($1 = '' OR account = $1) AND ($2 = '' OR coin = $2) \
             AND ($3 = '' OR status = $3) AND id < $4 ORDER BY id DESC LIMIT $5"
        ))
        .bind(q.account.clone().unwrap_or_default())
        .bind(q.coin.clone().unwrap_or_default())
        .bind(q.status.map(|s| s.as_str()).unwrap_or(""))
        .bind(q.before_id.unwrap_or(i64::MAX))
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payout_from_row).collect()
    }

    /// Pending payouts of `coin` whose retry time has come, oldest first.
    pub async fn due_payouts(
        &self,
        coin: &str,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<PayoutRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE coin = $1 AND status = 'pending' \
             AND next_attempt_at <= $2 ORDER BY id LIMIT $3"
        ))
        .bind(coin)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payout_from_row).collect()
    }

    /// Payouts left in `processing`: after a crash these may or may not have been sent.
    pub async fn processing_payouts(&self, coin: &str) -> StoreResult<Vec<PayoutRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE coin = $1 AND status = 'processing' ORDER BY id"
        ))
        .bind(coin)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payout_from_row).collect()
    }

    /// Writes the intent: moves pending payouts to processing before the wallet call.
    /// Returns the ids that really moved (another processor may have taken some).
    pub async fn mark_processing(&self, ids: &[i64]) -> StoreResult<Vec<i64>> {
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        let mut moved = Vec::with_capacity(ids.len());
        for id in ids {
            let n = sqlx::query(
                "UPDATE payouts SET status = 'processing', processing_at = $2, \
                 attempts = attempts + 1, updated_at = $2 WHERE id = $1 AND status = 'pending'",
            )
            .bind(*id)
            .bind(now)
            .execute(&mut *wtx.tx)
            .await?
            .rows_affected();
            if n == 1 {
                moved.push(*id);
            }
        }
        wtx.commit().await?;
        Ok(moved)
    }

    /// Records a sent transaction for processing payouts. The network fee is split
    /// over the payouts of the batch by the caller (`fees` pairs with `ids`).
    pub async fn complete_payouts(
        &self,
        ids_and_fees: &[(i64, Amount)],
        tx_hash: &str,
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        for (id, fee) in ids_and_fees {
            let row = sqlx::query(
                "UPDATE payouts SET status = 'completed', tx_hash = $2, fee = $3, reason = NULL, \
                 signed_tx = NULL, updated_at = $4 WHERE id = $1 AND status = 'processing' \
                 RETURNING coin, account, amount",
            )
            .bind(*id)
            .bind(tx_hash)
            .bind(amount_to_db(*fee)?)
            .bind(now)
            .fetch_optional(&mut *wtx.tx)
            .await?;
            let Some(row) = row else {
                return Err(StoreError::Conflict(format!(
                    "payout {id} is not processing"
                )));
            };
            let (coin, account, amount): (String, String, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            sqlx::query(
                "UPDATE balances SET paid = paid + $3, updated_at = $4 WHERE coin = $1 AND account = $2",
            )
            .bind(&coin)
            .bind(&account)
            .bind(amount)
            .bind(now)
            .execute(&mut *wtx.tx)
            .await?;
        }
        wtx.commit().await
    }

    /// Records the transaction built for processing payouts, before it is broadcast:
    /// from here on the node only ever republishes this transaction for them. The
    /// network fee is split over the payouts by the caller (`ids_and_fees`). All or
    /// nothing: `Conflict` if any payout is not processing or already has one.
    pub async fn record_prepared(
        &self,
        ids_and_fees: &[(i64, Amount)],
        tx_hash: &str,
        signed_tx: &str,
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        for (id, fee) in ids_and_fees {
            let n = sqlx::query(
                "UPDATE payouts SET tx_hash = $2, fee = $3, signed_tx = $4, updated_at = $5 \
                 WHERE id = $1 AND status = 'processing' AND tx_hash IS NULL",
            )
            .bind(*id)
            .bind(tx_hash)
            .bind(amount_to_db(*fee)?)
            .bind(signed_tx)
            .bind(now)
            .execute(&mut *wtx.tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(StoreError::Conflict(format!(
                    "payout {id} is not processing without a transaction"
                )));
            }
        }
        wtx.commit().await
    }

    /// The signed transaction recorded for processing payouts with this hash.
    pub async fn signed_tx(&self, tx_hash: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT signed_tx FROM payouts WHERE tx_hash = $1 AND status = 'processing' \
             AND signed_tx IS NOT NULL LIMIT 1",
        )
        .bind(tx_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Drops a prepared transaction the network refused and never saw: its payouts go
    /// back to pending, to be built again at `next_attempt_at`.
    pub async fn abandon_prepared(
        &self,
        tx_hash: &str,
        reason: &str,
        next_attempt_at: i64,
    ) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE payouts SET status = 'pending', tx_hash = NULL, fee = NULL, signed_tx = NULL, \
             reason = $2, next_attempt_at = $3, updated_at = $4 \
             WHERE tx_hash = $1 AND status = 'processing'",
        )
        .bind(tx_hash)
        .bind(reason)
        .bind(next_attempt_at)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Fails an open payout with `reason` and credits its amount back.
    pub async fn fail_payout(&self, id: i64, reason: &str) -> StoreResult<()> {
        let failed = self
            .fail_where(
                id,
                reason,
                "(status = 'pending' OR (status = 'processing' AND tx_hash IS NULL))",
            )
            .await?;
        if failed {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!("payout {id} is not open")))
        }
    }

    /// The operator cancels a payout the processor has not taken yet: only `pending`
    /// (a pending payout never has a transaction), failed with
    /// [`CANCELLED_REASON`] and credited back like any failure. A `processing` payout
    /// may already be on its way to the network and is refused (`Conflict`), as is a
    /// finished one; an unknown id is `NotFound`.
    pub async fn cancel_payout(&self, id: i64) -> StoreResult<PayoutRecord> {
        let cancelled = self
            .fail_where(
                id,
                CANCELLED_REASON,
                "status = 'pending' AND tx_hash IS NULL",
            )
            .await?;
        let payout = self
            .payout(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no payout {id}")))?;
        if cancelled {
            return Ok(payout);
        }
        Err(StoreError::Conflict(match payout.status {
            PayoutStatus::Processing => format!(
                "payout {id} is processing: its transaction may already be sent, so it cannot \
                 be cancelled; it will complete, or fail and be credited back"
            ),
            other => format!(
                "payout {id} is {}; only a pending payout can be cancelled",
                other.as_str()
            ),
        }))
    }

    /// The operator retries a failed payout: a new pending payout of the same amount,
    /// coin and miner, debited from the balance the failure credited back. Refused
    /// (`Conflict`) unless the payout failed, if it was already retried once, or if
    /// the miner has an open payout in the coin; `InsufficientBalance` when the
    /// credited-back amount has since been paid or moved.
    pub async fn retry_payout(&self, id: i64) -> StoreResult<PayoutRecord> {
        let failed = self
            .payout(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no payout {id}")))?;
        // `failed` is final, so checking it outside the transaction is safe.
        if failed.status != PayoutStatus::Failed {
            return Err(StoreError::Conflict(format!(
                "payout {id} is {}; only a failed payout can be retried",
                failed.status.as_str()
            )));
        }
        self.create_payout_retrying(
            &failed.coin,
            &failed.account,
            failed.amount,
            "manual",
            Some(&format!("retry of payout {id}")),
            Some(id),
        )
        .await
    }

    /// Fails the payout if `condition` holds for it, crediting its amount back in the
    /// same transaction. Returns whether it was failed.
    async fn fail_where(&self, id: i64, reason: &str, condition: &str) -> StoreResult<bool> {
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE payouts SET status = 'failed', reason = $2, updated_at = $3 \
             WHERE id = $1 AND {condition} RETURNING coin, account, amount"
        ))
        .bind(id)
        .bind(reason)
        .bind(now)
        .fetch_optional(&mut *wtx.tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let (coin, account, amount): (String, String, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        sqlx::query(
            "INSERT INTO ledger_entries (coin, account, kind, delta, payout_id, created_at) \
             VALUES ($1, $2, 'payout_refund', $3, $4, $5)",
        )
        .bind(&coin)
        .bind(&account)
        .bind(amount)
        .bind(id)
        .bind(now)
        .execute(&mut *wtx.tx)
        .await?;
        add_to_balance(&mut wtx.tx, &coin, &account, amount, 0, now).await?;
        wtx.commit().await?;
        Ok(true)
    }

    /// Puts a processing payout back to pending after a transient error (the wallet
    /// did not send), to be retried at `next_attempt_at`.
    pub async fn retry_payout_later(
        &self,
        id: i64,
        reason: &str,
        next_attempt_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE payouts SET status = 'pending', reason = $2, next_attempt_at = $3, updated_at = $4 \
             WHERE id = $1 AND status = 'processing'",
        )
        .bind(id)
        .bind(reason)
        .bind(next_attempt_at)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Shows why pending payouts of a coin are not moving (e.g. no wallet configured).
    pub async fn set_pending_reason(&self, coin: &str, reason: &str) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE payouts SET reason = $2, updated_at = $3 WHERE coin = $1 AND status = 'pending' \
             AND (reason IS NULL OR reason <> $2)",
        )
        .bind(coin)
        .bind(reason)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}

impl Store {
    /// Payouts of `coin` updated at or after `since_ms` (for the live stream), oldest
    /// change first.
    pub async fn payouts_changed_since(
        &self,
        coin: &str,
        since_ms: i64,
    ) -> StoreResult<Vec<PayoutRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE coin = $1 AND updated_at >= $2 \
             ORDER BY updated_at, id LIMIT 1000"
        ))
        .bind(coin)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payout_from_row).collect()
    }

    /// Whether a completed payout already records this transaction.
    pub async fn tx_hash_known(&self, tx_hash: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM payouts WHERE tx_hash = $1")
            .bind(tx_hash)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n > 0)
    }
}

impl Store {
    /// Completed payouts of `coin` whose transaction has fewer than `final_after`
    /// confirmations, oldest first.
    pub async fn unconfirmed_payouts(
        &self,
        coin: &str,
        final_after: u64,
        limit: i64,
    ) -> StoreResult<Vec<PayoutRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE coin = $1 AND status = 'completed' \
             AND confirmations < $2 ORDER BY id LIMIT $3"
        ))
        .bind(coin)
        .bind(final_after as i64)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payout_from_row).collect()
    }

    /// Records how deep a payout's transaction is now.
    pub async fn set_payout_confirmations(&self, id: i64, confirmations: u64) -> StoreResult<()> {
        sqlx::query("UPDATE payouts SET confirmations = $2, updated_at = $3 WHERE id = $1 AND status = 'completed'")
            .bind(id)
            .bind(confirmations as i64)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
