//! Blocks and their credits: pending → confirmed (credits move into balances) or
//! orphaned (immature credits dropped). Each transition is one transaction.

use defpool_core::api::BlockStatus;
use defpool_core::payout::RewardSplit;
use defpool_core::{Amount, FeeRate};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{amount_from_db, amount_to_db, now_ms, Store, StoreError, StoreResult};
use crate::failpoint;

/// A block the daemon accepted, as the stratum side records it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewBlock {
    pub coin: String,
    pub height: u64,
    pub hash: String,
    pub reward: Amount,
    pub finder: String,
    pub worker: String,
    /// `pool` or `solo`.
    pub mode: String,
    /// `pplns`, `prop` or `solo`.
    pub scheme: String,
    pub network_difficulty: f64,
    /// The newest share of the coin when the block was found: the round ends here.
    pub last_share_id: i64,
    /// Pool fee in force when the block was found.
    pub fee: FeeRate,
    pub pplns_factor: f64,
    pub maturity: u64,
    pub found_at: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BlockRecord {
    pub id: i64,
    pub coin: String,
    pub height: u64,
    pub hash: String,
    pub reward: Amount,
    pub finder: String,
    pub worker: String,
    pub mode: String,
    pub scheme: String,
    pub network_difficulty: f64,
    pub last_share_id: i64,
    pub fee: FeeRate,
    pub pplns_factor: f64,
    pub status: BlockStatus,
    pub credits_computed: bool,
    pub confirmations: u64,
    pub maturity: u64,
    pub found_at: i64,
    pub updated_at: i64,
}

/// A stored credit of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockCredit {
    pub account: String,
    /// `block_reward` or `pool_fee`.
    pub kind: String,
    pub amount: Amount,
}

const BLOCK_COLUMNS: &str = "id, coin, height, hash, reward, finder, worker, mode, scheme, \
    network_difficulty, last_share_id, status, credits_computed, confirmations, maturity, \
    found_at, updated_at, fee_ppm, pplns_factor";

fn block_from_row(r: &AnyRow) -> StoreResult<BlockRecord> {
    let status: String = r.try_get(11)?;
    Ok(BlockRecord {
        id: r.try_get(0)?,
        coin: r.try_get(1)?,
        height: r.try_get::<i64, _>(2)? as u64,
        hash: r.try_get(3)?,
        reward: amount_from_db(r.try_get(4)?)?,
        finder: r.try_get(5)?,
        worker: r.try_get(6)?,
        mode: r.try_get(7)?,
        scheme: r.try_get(8)?,
        network_difficulty: r.try_get(9)?,
        last_share_id: r.try_get(10)?,
        status: BlockStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("block status {status:?}")))?,
        credits_computed: r.try_get::<i64, _>(12)? != 0,
        confirmations: r.try_get::<i64, _>(13)? as u64,
        maturity: r.try_get::<i64, _>(14)? as u64,
        found_at: r.try_get(15)?,
        updated_at: r.try_get(16)?,
        fee: u32::try_from(r.try_get::<i64, _>(17)?)
            .ok()
            .and_then(FeeRate::from_ppm)
            .ok_or_else(|| StoreError::Corrupt("block fee_ppm out of range".into()))?,
        pplns_factor: r.try_get(18)?,
    })
}

/// Filter and page of a block listing.
#[derive(Clone, Debug, Default)]
pub struct BlockQuery {
    pub coin: Option<String>,
    pub status: Option<BlockStatus>,
    pub finder: Option<String>,
    /// Return blocks with id below this (the cursor).
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Records a found block. The same hash twice is a conflict, not a second block.
    pub async fn insert_block(&self, b: &NewBlock) -> StoreResult<i64> {
        let mut wtx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO blocks (coin, height, hash, reward, finder, worker, mode, scheme, \
             network_difficulty, last_share_id, maturity, found_at, updated_at, fee_ppm, pplns_factor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14) \
             ON CONFLICT (coin, hash) DO NOTHING RETURNING id",
        )
        .bind(&b.coin)
        .bind(b.height as i64)
        .bind(&b.hash)
        .bind(amount_to_db(b.reward)?)
        .bind(&b.finder)
        .bind(&b.worker)
        .bind(&b.mode)
        .bind(&b.scheme)
        .bind(b.network_difficulty)
        .bind(b.last_share_id)
        .bind(b.maturity as i64)
        .bind(b.found_at)
        .bind(i64::from(b.fee.ppm()))
        .bind(b.pplns_factor)
        .fetch_optional(&mut *wtx.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!(
                "block {} of {} is already recorded",
                b.hash, b.coin
            )));
        };
        let id: i64 = row.try_get(0)?;
        wtx.commit().await?;
        Ok(id)
    }

    pub async fn block(&self, id: i64) -> StoreResult<Option<BlockRecord>> {
        let row = sqlx::query(&format!("SELECT {BLOCK_COLUMNS} FROM blocks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(block_from_row).transpose()
    }

    /// Blocks, newest first, filtered and paged.
    pub async fn blocks(&self, q: &BlockQuery) -> StoreResult<Vec<BlockRecord>> {
        // Each optional filter is written as `($n IS NULL OR col = $n)` so one
        // statement (and one cached plan) serves every combination.
        let rows = sqlx::query(&format!(
            "SELECT {BLOCK_COLUMNS} FROM blocks \
             WHERE ($1 = '' OR coin = $1) AND ($2 = '' OR status = $2) \
             AND ($3 = '' OR finder = $3) AND id < $4 \
             ORDER BY id DESC LIMIT $5"
        ))
        .bind(q.coin.clone().unwrap_or_default())
        .bind(q.status.map(|s| s.as_str()).unwrap_or(""))
        .bind(q.finder.clone().unwrap_or_default())
        .bind(q.before_id.unwrap_or(i64::MAX))
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(block_from_row).collect()
    }

    /// Pending blocks of every coin, oldest first.
    pub async fn pending_blocks(&self) -> StoreResult<Vec<BlockRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {BLOCK_COLUMNS} FROM blocks WHERE status = 'pending' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(block_from_row).collect()
    }

    /// The `last_share_id` of the previous pool block of `coin` before block `id`
    /// (0 when there is none): where a PROP round starts.
    pub async fn previous_round_end(&self, coin: &str, block_id: i64) -> StoreResult<i64> {
        let v: Option<i64> = sqlx::query(
            "SELECT MAX(last_share_id) FROM blocks WHERE coin = $1 AND id < $2 AND mode = 'pool'",
        )
        .bind(coin)
        .bind(block_id)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        Ok(v.unwrap_or(0))
    }

    /// Fixes a pending block's split: stores its credits and adds them to the
    /// accounts' immature balances, in one transaction.
    pub async fn record_block_credits(
        &self,
        block: &BlockRecord,
        split: &RewardSplit,
        fee_account: &str,
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE blocks SET credits_computed = 1, updated_at = $2 \
             WHERE id = $1 AND status = 'pending' AND credits_computed = 0",
        )
        .bind(block.id)
        .bind(now)
        .execute(&mut *wtx.tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Err(StoreError::Conflict(format!(
                "block {} is not pending without credits",
                block.id
            )));
        }
        let mut entries: Vec<(&str, &str, Amount)> = split
            .credits
            .iter()
            .map(|(a, amt)| (a.as_str(), "block_reward", *amt))
            .collect();
        if !split.fee.is_zero() {
            entries.push((fee_account, "pool_fee", split.fee));
        }
        for (account, kind, amount) in entries {
            let amount = amount_to_db(amount)?;
            sqlx::query(
                "INSERT INTO block_credits (block_id, coin, account, kind, amount) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(block.id)
            .bind(&block.coin)
            .bind(account)
            .bind(kind)
            .bind(amount)
            .execute(&mut *wtx.tx)
            .await?;
            failpoint::hit("block_credits.mid").await;
            add_to_balance(&mut wtx.tx, &block.coin, account, 0, amount, now).await?;
        }
        wtx.commit().await
    }

    pub async fn block_credits(&self, block_id: i64) -> StoreResult<Vec<BlockCredit>> {
        let rows = sqlx::query(
            "SELECT account, kind, amount FROM block_credits WHERE block_id = $1 \
             ORDER BY account, kind",
        )
        .bind(block_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BlockCredit {
                    account: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    amount: amount_from_db(r.try_get(2)?)?,
                })
            })
            .collect()
    }

    /// Notes the confirmations a pending block has now.
    pub async fn set_block_confirmations(&self, id: i64, confirmations: u64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE blocks SET confirmations = $2, updated_at = $3 WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(confirmations as i64)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Matures a block: its credits become ledger entries and move from immature to
    /// balance, all in one transaction. A block is credited at most once: the status
    /// change and the ledger's unique index both refuse a second time.
    pub async fn confirm_block(&self, id: i64, confirmations: u64) -> StoreResult<()> {
        let credits = self.block_credits(id).await?;
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE blocks SET status = 'confirmed', confirmations = $2, updated_at = $3 \
             WHERE id = $1 AND status = 'pending' AND credits_computed = 1 RETURNING coin",
        )
        .bind(id)
        .bind(confirmations as i64)
        .bind(now)
        .fetch_optional(&mut *wtx.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!(
                "block {id} is not pending with computed credits"
            )));
        };
        let coin: String = row.try_get(0)?;
        for c in &credits {
            let amount = amount_to_db(c.amount)?;
            sqlx::query(
                "INSERT INTO ledger_entries (coin, account, kind, delta, block_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&coin)
            .bind(&c.account)
            .bind(&c.kind)
            .bind(amount)
            .bind(id)
            .bind(now)
            .execute(&mut *wtx.tx)
            .await?;
            // kill -9 here must leave no half-credited block (the test pauses here).
            failpoint::hit("confirm_block.mid").await;
            add_to_balance(&mut wtx.tx, &coin, &c.account, amount, -amount, now).await?;
        }
        wtx.commit().await
    }

    /// Marks a block orphaned and drops its immature credits from balances.
    pub async fn orphan_block(&self, id: i64) -> StoreResult<()> {
        let credits = self.block_credits(id).await?;
        let now = now_ms();
        let mut wtx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE blocks SET status = 'orphaned', updated_at = $2 \
             WHERE id = $1 AND status = 'pending' RETURNING coin",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *wtx.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!("block {id} is not pending")));
        };
        let coin: String = row.try_get(0)?;
        for c in &credits {
            let amount = amount_to_db(c.amount)?;
            add_to_balance(&mut wtx.tx, &coin, &c.account, 0, -amount, now).await?;
        }
        wtx.commit().await
    }
}

/// Adds to an account's balance and immature amounts (either may be negative),
/// creating the row on first use. The CHECK constraints refuse a negative result.
pub(crate) async fn add_to_balance(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    coin: &str,
    account: &str,
    balance_delta: i64,
    immature_delta: i64,
    now: i64,
) -> StoreResult<()> {
    // UPDATE first: an upsert would check the proposed row (with a negative delta)
    // against the CHECK constraints before noticing the conflict.
    let updated = sqlx::query(
        "UPDATE balances SET balance = balance + $3, immature = immature + $4, updated_at = $5 \
         WHERE coin = $1 AND account = $2",
    )
    .bind(coin)
    .bind(account)
    .bind(balance_delta)
    .bind(immature_delta)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        if balance_delta < 0 || immature_delta < 0 {
            return Err(StoreError::Corrupt(format!(
                "debit from {account} ({coin}) which has no balance"
            )));
        }
        sqlx::query(
            "INSERT INTO balances (coin, account, balance, immature, paid, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(coin)
        .bind(account)
        .bind(balance_delta)
        .bind(immature_delta)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
