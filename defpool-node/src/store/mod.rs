//! Storage: sqlx repositories over SQLite (the embedded default) or PostgreSQL.
//!
//! One `AnyPool` serves both backends with the same SQL wherever the two agree;
//! the few places they differ (bulk share insert, upserts) branch on [`Backend`].
//! Each backend has its own embedded migrations under `migrations/`. Money is BIGINT
//! atomic units, time BIGINT unix milliseconds, flags 0/1, so the two behave alike.

mod audit;
mod blocks;
mod ledger;
mod payouts;
mod proxy;
mod shares;
mod stats;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor, PgPool};

pub use audit::*;
pub use blocks::*;
pub use ledger::*;
pub use payouts::*;
pub use proxy::*;
pub use shares::*;
pub use stats::*;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database the store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?} (use sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("amount out of range for storage: {0}")]
    AmountRange(String),
    /// A state change found the row in another state than it required (someone else
    /// already moved it, or it never was there).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("insufficient balance: {available} available, {requested} requested")]
    InsufficientBalance { available: u64, requested: u64 },
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// A native pool for what `Any` cannot express (array binds for `UNNEST`).
    pg: Option<PgPool>,
    backend: Backend,
    /// SQLite allows one writer; serialising this process's write transactions here
    /// keeps them from failing on each other with SQLITE_BUSY.
    write_gate: Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Connects, creating the SQLite file (and its directory) if needed, and runs the
    /// embedded migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let store = match backend {
            Backend::Sqlite => {
                let url = sqlite_url_with_create(url)?;
                let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections.max(2))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL lets readers (API) run beside the writer; NORMAL sync is
                            // durable across process crashes, which is what kill -9 needs.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                                 PRAGMA temp_store = MEMORY;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?;
                SQLITE_MIGRATIONS.run(&pool).await?;
                Store {
                    pool,
                    pg: None,
                    backend,
                    write_gate: Arc::new(tokio::sync::Mutex::new(())),
                }
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                let pg_options = PgConnectOptions::from_str(url)?.disable_statement_logging();
                let pg = PgPoolOptions::new()
                    .max_connections(2)
                    .connect_with(pg_options)
                    .await?;
                Store {
                    pool,
                    pg: Some(pg),
                    backend,
                    write_gate: Arc::new(tokio::sync::Mutex::new(())),
                }
            }
        };
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so a read inside it can never be invalidated by another
    /// writer; the returned guard also serialises this process's writers.
    pub(crate) async fn begin_write(&self) -> StoreResult<WriteTx<'_>> {
        let gate = match self.backend {
            Backend::Sqlite => Some(self.write_gate.lock().await),
            Backend::Postgres => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _gate: gate })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
    }
}

/// A write transaction plus, on SQLite, this process's writer slot.
pub(crate) struct WriteTx<'a> {
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// `sqlite://path` with `mode=rwc` so a fresh data dir gets its database file; the
/// directory is created too.
fn sqlite_url_with_create(url: &str) -> StoreResult<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path != ":memory:" && !path.is_empty() {
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
        }
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => url.to_string(),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

/// Current time in unix milliseconds (the only clock read of the store).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn amount_to_db(a: defpool_core::Amount) -> StoreResult<i64> {
    a.to_i64()
        .ok_or_else(|| StoreError::AmountRange(a.atomic().to_string()))
}

pub(crate) fn amount_from_db(v: i64) -> StoreResult<defpool_core::Amount> {
    defpool_core::Amount::from_i64(v)
        .ok_or_else(|| StoreError::Corrupt(format!("negative amount {v} in the database")))
}

/// Opaque list cursor: the last id of the previous page.
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, String> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(|| format!("cursor {c:?} is not valid")),
    }
}
