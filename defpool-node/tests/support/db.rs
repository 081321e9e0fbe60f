//! Databases for tests: a fresh SQLite file, or a fresh schema in the PostgreSQL
//! named by `DEFPOOL_TEST_POSTGRES_URL`.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// A SQLite URL in a new temporary directory (kept alive by the returned guard).
pub fn sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("defpool.sqlite").display());
    (dir, url)
}

/// A URL whose connections use a new, empty schema of the test PostgreSQL.
/// `None` when `DEFPOOL_TEST_POSTGRES_URL` is unset (the PostgreSQL suite is skipped);
/// panics when it is set but the server cannot be reached: CI must fail, not skip.
pub async fn postgres() -> Option<String> {
    let base = match std::env::var("DEFPOOL_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            eprintln!("SKIPPED: DEFPOOL_TEST_POSTGRES_URL is not set");
            return None;
        }
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("DEFPOOL_TEST_POSTGRES_URL={base} is set but unreachable: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create test schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}
