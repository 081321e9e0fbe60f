//! How fast accepted shares reach the database, and how fast a block's PPLNS round is
//! split from them.
//!
//! `share_sink/*` drives the real path a stratum session uses: [`ShareSink::submit`]
//! into the bounded channel, the batching writer, and the store's multi-row insert with
//! its miner/worker upserts, on SQLite (a temporary file) and, when
//! `DEFPOOL_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL schema. Each iteration
//! submits 50,000 shares from 50 miners and waits for `flush()`; throughput is shares
//! per second. `pplns_split/sqlite_1m_shares` times `accounting::compute_split` over a
//! round of 1,000,000 stored shares, the worst case of the balance updater and the
//! audit; `…_read_only` times the store's paging of that round alone, so the two say
//! how much of the split is the database read.
//!
//! Run: `cargo bench -p defpool-node --bench share_sink`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use defpool_core::{Amount, FeeRate};
use defpool_node::accounting::{compute_split, ShareSink};
use defpool_node::config::{AccountingConfig, DatabaseConfig};
use defpool_node::store::{BlockRecord, NewBlock, NewShare, Store};
use sqlx::Connection;
use tokio::runtime::Runtime;

/// Shares submitted per measured iteration.
const SHARES_PER_ITER: u64 = 50_000;
/// Distinct miners (each with two workers) the shares come from.
const MINERS: u64 = 50;
/// Size of the stored round the PPLNS split walks.
const PPLNS_SHARES: u64 = 1_000_000;
const COIN: &str = "xmr";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Miner addresses shaped like the real thing (95 characters), so row sizes are too.
fn miner_names() -> Vec<String> {
    (0..MINERS).map(|i| format!("4{i:0>94}")).collect()
}

/// `n` accepted pool shares, round-robin over the miners, starting at `seq`.
fn shares(miners: &[String], seq: u64, n: u64) -> Vec<NewShare> {
    (seq..seq + n)
        .map(|i| {
            let m = (i % miners.len() as u64) as usize;
            NewShare {
                coin: COIN.to_string(),
                miner: miners[m].clone(),
                worker: format!("rig{}", (i / miners.len() as u64) % 2),
                difficulty: 10_000.0 + (i % 1_000) as f64,
                network_difficulty: 300_000_000_000.0,
                height: 3_000_000 + i / 100_000,
                accepted: true,
                solo: false,
                created_at: 1_700_000_000_000 + i as i64,
            }
        })
        .collect()
}

/// A new, empty schema of the benchmark PostgreSQL, or `None` when
/// `DEFPOOL_TEST_POSTGRES_URL` is unset. (Same approach as the tests'
/// `support::db::postgres`, which benches cannot import.)
struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    /// A URL whose connections use this schema.
    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
    }

    /// Drops the schema and the shares the bench left in it.
    async fn drop(self) {
        let mut conn = sqlx::PgConnection::connect(&self.base)
            .await
            .expect("reconnect");
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
            .execute(&mut conn)
            .await
            .expect("drop bench schema");
    }
}

async fn postgres_schema() -> Option<PgSchema> {
    let base = std::env::var("DEFPOOL_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "bench_{}_{}_{}",
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
        .expect("create bench schema");
    Some(PgSchema { base, name: schema })
}

/// Measures `SHARES_PER_ITER` shares through one long-lived sink, as a node runs it.
fn bench_sink(c: &mut Criterion, rt: &Runtime, name: &str, store: Store) {
    let cfg = AccountingConfig::default();
    let (sink, writer) = rt.block_on(async {
        ShareSink::start(
            store.clone(),
            cfg.share_queue_capacity,
            cfg.share_batch_size,
            cfg.share_flush_interval,
        )
    });
    let miners = miner_names();
    let mut seq = 0u64;

    let mut group = c.benchmark_group("share_sink");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(SHARES_PER_ITER));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Building the shares is the sessions' work, not the sink's.
                let batch = shares(&miners, seq, SHARES_PER_ITER);
                seq += SHARES_PER_ITER;
                total += rt.block_on(async {
                    let start = Instant::now();
                    for s in batch {
                        sink.submit(s).await.expect("sink is running");
                    }
                    sink.flush().await.expect("sink is running");
                    start.elapsed()
                });
            }
            total
        })
    });
    group.finish();

    let stats = sink.stats();
    let written = stats.written.load(Ordering::Relaxed);
    let batches = stats.batches.load(Ordering::Relaxed);
    if written > 0 {
        eprintln!(
            "share_sink/{name}: {written} shares in {batches} batches ({} per batch), \
             {} back-pressure waits, {} write errors",
            written / batches.max(1),
            stats.backpressure_waits.load(Ordering::Relaxed),
            stats.write_errors.load(Ordering::Relaxed),
        );
    }
    assert_eq!(rt.block_on(store.share_count()).unwrap() as u64, written);
    drop(sink);
    rt.block_on(writer).unwrap();
    rt.block_on(store.close());
}

fn share_sink(c: &mut Criterion) {
    let rt = runtime();
    let max_connections = DatabaseConfig::default().max_connections;

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.sqlite").display());
    let store = rt
        .block_on(Store::connect(&url, max_connections))
        .expect("sqlite store");
    bench_sink(c, &rt, "sqlite", store);

    match rt.block_on(postgres_schema()) {
        Some(schema) => {
            let store = rt
                .block_on(Store::connect(&schema.url(), max_connections))
                .expect("postgres store");
            bench_sink(c, &rt, "postgres", store);
            rt.block_on(schema.drop());
        }
        None => eprintln!("share_sink/postgres: SKIPPED (DEFPOOL_TEST_POSTGRES_URL is not set)"),
    }
}

/// A SQLite store holding one PPLNS round of `PPLNS_SHARES` shares and its block.
struct PplnsRound {
    _dir: tempfile::TempDir,
    store: Store,
    block: BlockRecord,
}

/// Stores the round (about ten seconds), once, and only if a PPLNS bench runs.
fn pplns_round(rt: &Runtime) -> PplnsRound {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("pplns.sqlite").display());
    let store = rt.block_on(Store::connect(&url, 8)).expect("sqlite store");
    let miners = miner_names();
    let setup = Instant::now();
    let block = rt.block_on(async {
        const CHUNK: u64 = 50_000;
        let mut total_difficulty = 0.0;
        for from in (0..PPLNS_SHARES).step_by(CHUNK as usize) {
            let batch = shares(&miners, from, CHUNK.min(PPLNS_SHARES - from));
            total_difficulty += batch.iter().map(|s| s.difficulty).sum::<f64>();
            store.insert_shares(&batch).await.expect("insert shares");
        }
        // A window (factor × network difficulty) larger than all the work stored, so
        // the split reads every share.
        let last = store.last_share_id(COIN).await.unwrap();
        let id = store
            .insert_block(&NewBlock {
                coin: COIN.into(),
                height: 3_000_000,
                hash: "pplns-bench".into(),
                reward: Amount::from_atomic(600_000_000_000),
                finder: miners[0].clone(),
                worker: "rig0".into(),
                mode: "pool".into(),
                scheme: "pplns".into(),
                network_difficulty: total_difficulty,
                last_share_id: last,
                fee: FeeRate::from_percent(1.0).unwrap(),
                pplns_factor: 2.0,
                maturity: 60,
                found_at: 1_700_000_000_000,
            })
            .await
            .unwrap();
        store.block(id).await.unwrap().unwrap()
    });
    eprintln!(
        "pplns_split: stored {PPLNS_SHARES} shares with insert_shares in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let split = rt.block_on(compute_split(&store, &block)).unwrap();
    assert_eq!(split.credits.len(), miners.len());
    assert_eq!(split.total(), 600_000_000_000);
    PplnsRound {
        _dir: dir,
        store,
        block,
    }
}

fn pplns_split(c: &mut Criterion) {
    let rt = runtime();
    let fixture = std::cell::OnceCell::new();
    let round = || fixture.get_or_init(|| pplns_round(&rt));

    let mut group = c.benchmark_group("pplns_split");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(PPLNS_SHARES));
    group.bench_function("sqlite_1m_shares", |b| {
        let PplnsRound { store, block, .. } = round();
        b.iter(|| rt.block_on(compute_split(store, block)).unwrap())
    });
    // The store's part alone: paging the round out of the database, no weights.
    group.bench_function("sqlite_1m_shares_read_only", |b| {
        let PplnsRound { store, block, .. } = round();
        b.iter(|| {
            let mut n = 0usize;
            rt.block_on(
                store.round_shares_newest_first(COIN, 0, block.last_share_id, |page| {
                    n += page.len();
                    true
                }),
            )
            .unwrap();
            assert_eq!(n as u64, PPLNS_SHARES);
        })
    });
    group.finish();
}

criterion_group!(benches, share_sink, pplns_split);
criterion_main!(benches);
