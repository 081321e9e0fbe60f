//! Shares, miners and workers: bulk writes from the share sink and round reads.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Backend, Store, StoreResult};

/// A validated share on its way to the database.
#[derive(Clone, Debug, PartialEq)]
pub struct NewShare {
    pub coin: String,
    pub miner: String,
    pub worker: String,
    /// Difficulty the share was accepted at (the session's target, not its hash).
    pub difficulty: f64,
    pub network_difficulty: f64,
    pub height: u64,
    /// False for rejected shares, kept for per-worker statistics only.
    pub accepted: bool,
    /// Mined in solo mode: never part of a pool round.
    pub solo: bool,
    pub created_at: i64,
}

/// One share as a round sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundShare {
    pub id: i64,
    pub miner: String,
    pub difficulty: f64,
}

/// Rows per SQLite statement: at most 9 binds each stays well under SQLite's 32766 limit.
const SQLITE_ROWS_PER_STATEMENT: usize = 1_000;

impl Store {
    /// Writes a batch of shares in one transaction with multi-row inserts, and
    /// records their miners and workers. Returns the id of the last share written.
    pub async fn insert_shares(&self, shares: &[NewShare]) -> StoreResult<Option<i64>> {
        if shares.is_empty() {
            return Ok(None);
        }
        if self.backend == Backend::Postgres {
            return self.insert_shares_postgres(shares).await;
        }
        let mut wtx = self.begin_write().await?;
        for chunk in shares.chunks(SQLITE_ROWS_PER_STATEMENT) {
            // OR FAIL, not the default OR ABORT: a failing row fails the whole batch
            // transaction anyway, and without ABORT's statement rollback SQLite keeps no
            // statement journal (a page copy to a temp file per page touched, ~20 % of
            // the insert's CPU).
            let sql = format!(
                "INSERT OR FAIL INTO shares (coin, miner, worker, difficulty, \
                 network_difficulty, height, accepted, solo, created_at) VALUES {}",
                values_list("(?,?,?,?,?,?,?,?,?)", chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q
                    .bind(&s.coin)
                    .bind(&s.miner)
                    .bind(&s.worker)
                    .bind(s.difficulty)
                    .bind(s.network_difficulty)
                    .bind(s.height as i64)
                    .bind(i64::from(s.accepted))
                    .bind(i64::from(s.solo))
                    .bind(s.created_at);
            }
            q.execute(&mut *wtx.tx).await?;
        }
        upsert_owners(&mut wtx.tx, shares).await?;
        let last: Option<i64> = sqlx::query("SELECT MAX(id) FROM shares")
            .fetch_one(&mut *wtx.tx)
            .await?
            .try_get(0)?;
        wtx.commit().await?;
        Ok(last)
    }

    /// PostgreSQL: `UNNEST` array inserts for the shares and their owners, in one
    /// transaction on the native pool (`Any` cannot bind arrays). A batch that fails
    /// part-way writes nothing, so the sink's retry cannot store a share twice.
    async fn insert_shares_postgres(&self, shares: &[NewShare]) -> StoreResult<Option<i64>> {
        let pg = self
            .pg
            .as_ref()
            .ok_or_else(|| super::StoreError::Corrupt("postgres pool missing".into()))?;
        let mut coin = Vec::with_capacity(shares.len());
        let mut miner = Vec::with_capacity(shares.len());
        let mut worker = Vec::with_capacity(shares.len());
        let mut diff = Vec::with_capacity(shares.len());
        let mut ndiff = Vec::with_capacity(shares.len());
        let mut height = Vec::with_capacity(shares.len());
        let mut accepted = Vec::with_capacity(shares.len());
        let mut solo = Vec::with_capacity(shares.len());
        let mut created = Vec::with_capacity(shares.len());
        for s in shares {
            coin.push(s.coin.as_str());
            miner.push(s.miner.as_str());
            worker.push(s.worker.as_str());
            diff.push(s.difficulty);
            ndiff.push(s.network_difficulty);
            height.push(s.height as i64);
            accepted.push(i64::from(s.accepted));
            solo.push(i64::from(s.solo));
            created.push(s.created_at);
        }
        let mut tx = pg.begin().await?;
        sqlx::query(
            "INSERT INTO shares (coin, miner, worker, difficulty, network_difficulty, \
             height, accepted, solo, created_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[], \
             $5::float8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[])",
        )
        .bind(&coin)
        .bind(&miner)
        .bind(&worker)
        .bind(&diff)
        .bind(&ndiff)
        .bind(&height)
        .bind(&accepted)
        .bind(&solo)
        .bind(&created)
        .execute(&mut *tx)
        .await?;

        let (miners, workers) = latest_owners(shares);
        let mut m_coin = Vec::with_capacity(miners.len());
        let mut m_address = Vec::with_capacity(miners.len());
        let mut m_at = Vec::with_capacity(miners.len());
        for ((c, a), at) in miners {
            m_coin.push(c);
            m_address.push(a);
            m_at.push(at);
        }
        sqlx::query(
            "INSERT INTO miners (coin, address, created_at, updated_at, last_share_at) \
             SELECT c, a, t, t, t FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS o (c, a, t) \
             ON CONFLICT (coin, address) DO UPDATE SET last_share_at = excluded.last_share_at, \
             updated_at = excluded.updated_at",
        )
        .bind(&m_coin)
        .bind(&m_address)
        .bind(&m_at)
        .execute(&mut *tx)
        .await?;
        let mut w_coin = Vec::with_capacity(workers.len());
        let mut w_miner = Vec::with_capacity(workers.len());
        let mut w_name = Vec::with_capacity(workers.len());
        let mut w_at = Vec::with_capacity(workers.len());
        for ((c, m, n), at) in workers {
            w_coin.push(c);
            w_miner.push(m);
            w_name.push(n);
            w_at.push(at);
        }
        sqlx::query(
            "INSERT INTO workers (coin, miner, name, created_at, updated_at, last_share_at) \
             SELECT c, m, n, t, t, t FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[]) \
             AS o (c, m, n, t) \
             ON CONFLICT (coin, miner, name) DO UPDATE SET last_share_at = excluded.last_share_at, \
             updated_at = excluded.updated_at",
        )
        .bind(&w_coin)
        .bind(&w_miner)
        .bind(&w_name)
        .bind(&w_at)
        .execute(&mut *tx)
        .await?;

        let last: Option<i64> = sqlx::query("SELECT MAX(id) FROM shares")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        tx.commit().await?;
        Ok(last)
    }

    /// Id of the newest share of `coin` (0 when none), used to close a block's round.
    pub async fn last_share_id(&self, coin: &str) -> StoreResult<i64> {
        let v: Option<i64> = sqlx::query("SELECT MAX(id) FROM shares WHERE coin = $1")
            .bind(coin)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(v.unwrap_or(0))
    }

    /// Accepted pool shares of `coin` with `after_id < id <= up_to_id`, newest first,
    /// read in pages so a million-share round never sits in one result set.
    pub async fn round_shares_newest_first(
        &self,
        coin: &str,
        after_id: i64,
        up_to_id: i64,
        mut visit: impl FnMut(&[RoundShare]) -> bool,
    ) -> StoreResult<()> {
        const PAGE: i64 = 50_000;
        let mut upper = up_to_id;
        loop {
            let rows = sqlx::query(
                "SELECT id, miner, difficulty FROM shares \
                 WHERE coin = $1 AND accepted = 1 AND solo = 0 AND id <= $2 AND id > $3 \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(coin)
            .bind(upper)
            .bind(after_id)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await?;
            let page: Vec<RoundShare> = rows
                .iter()
                .map(|r| {
                    Ok(RoundShare {
                        id: r.try_get(0)?,
                        miner: r.try_get(1)?,
                        difficulty: r.try_get(2)?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?;
            let Some(last) = page.last() else { break };
            upper = last.id - 1;
            let full = page.len() as i64 == PAGE;
            if !visit(&page) || !full {
                break;
            }
        }
        Ok(())
    }

    /// Number of shares stored (all coins).
    pub async fn share_count(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM shares")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }
}

/// Each distinct `(coin, miner)` and `(coin, miner, worker)` of a batch with its newest
/// share time, sorted so concurrent writers lock owner rows in the same order.
#[allow(clippy::type_complexity)]
fn latest_owners(
    shares: &[NewShare],
) -> (
    BTreeMap<(&str, &str), i64>,
    BTreeMap<(&str, &str, &str), i64>,
) {
    let mut miners: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut workers: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
    for s in shares {
        let m = miners.entry((&s.coin, &s.miner)).or_insert(s.created_at);
        *m = (*m).max(s.created_at);
        let w = workers
            .entry((&s.coin, &s.miner, &s.worker))
            .or_insert(s.created_at);
        *w = (*w).max(s.created_at);
    }
    (miners, workers)
}

/// Records each distinct miner and worker of the batch with its newest share time
/// (SQLite), a few multi-row upserts rather than one statement per owner.
async fn upsert_owners(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    shares: &[NewShare],
) -> StoreResult<()> {
    let (miners, workers) = latest_owners(shares);
    let miners: Vec<_> = miners.into_iter().collect();
    for chunk in miners.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO miners (coin, address, created_at, updated_at, last_share_at) \
             VALUES {} ON CONFLICT (coin, address) DO UPDATE SET \
             last_share_at = excluded.last_share_at, updated_at = excluded.updated_at",
            values_list("(?,?,?,?,?)", chunk.len())
        );
        // Not cached: the row count varies from batch to batch, and each size would
        // take a slot of the connection's statement cache.
        let mut q = sqlx::query(&sql).persistent(false);
        for ((coin, miner), at) in chunk {
            q = q.bind(*coin).bind(*miner).bind(*at).bind(*at).bind(*at);
        }
        q.execute(&mut **tx).await?;
    }
    let workers: Vec<_> = workers.into_iter().collect();
    for chunk in workers.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO workers (coin, miner, name, created_at, updated_at, last_share_at) \
             VALUES {} ON CONFLICT (coin, miner, name) DO UPDATE SET \
             last_share_at = excluded.last_share_at, updated_at = excluded.updated_at",
            values_list("(?,?,?,?,?,?)", chunk.len())
        );
        let mut q = sqlx::query(&sql).persistent(false);
        for ((coin, miner, worker), at) in chunk {
            q = q
                .bind(*coin)
                .bind(*miner)
                .bind(*worker)
                .bind(*at)
                .bind(*at)
                .bind(*at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `row` repeated `n` times, comma-separated: the VALUES list of a multi-row insert.
/// Anonymous `?` placeholders, not `$N`: the SQLite driver looks each numbered
/// parameter up with `sqlite3_bind_parameter_name`, a linear scan, which made binding
/// a 9,000-parameter statement quadratic (85 % of the insert time).
fn values_list(row: &str, n: usize) -> String {
    let mut sql = String::with_capacity(n * (row.len() + 1));
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(row);
    }
    sql
}
