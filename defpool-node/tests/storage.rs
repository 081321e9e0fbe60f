//! The storage suite: every behaviour of the store runs against SQLite and against
//! PostgreSQL, so the two backends are held to the same contract.
//!
//! Each behaviour is one `check_*` function over a fresh database; `on_both_backends!`
//! turns it into a `*_sqlite` and a `*_postgres` test. The PostgreSQL variants skip
//! (pass) when `DEFPOOL_TEST_POSTGRES_URL` is unset and fail when it is set but the
//! server is unreachable.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use defpool_core::api::{AuditDifference, BlockStatus, PayoutStatus};
use defpool_core::payout::{
    pplns_weights, pplns_window, prop_weights, solo_split, split_reward, RewardSplit,
};
use defpool_core::{Amount, Difficulty, FeeRate, Work};
use defpool_node::accounting::{compute_split, run_audit, FoundBlock, ShareSink, SinkError};
use defpool_node::store::{
    now_ms, Backend, BlockRecord, CoinActivity, MinerQuery, NewBlock, NewShare, PayoutQuery,
    PayoutRecord, PayoutSettingsRecord, RoundShare, Store, StoreError, CANCELLED_REASON,
};
use defpool_node::store::{NetworkAtShare, NewProxyShare, UpstreamVerdict};
use sqlx::Row;

/// Generates the SQLite and PostgreSQL tests of one behaviour. `store` checks get a
/// connected [`Store`]; `url` checks get the database URL and connect themselves.
macro_rules! on_both_backends {
    (@run store, $check:ident, $url:expr) => {
        $check(connect($url).await).await
    };
    (@run url, $check:ident, $url:expr) => {
        $check($url).await
    };
    ($($check:ident($kind:ident) => $sqlite:ident, $postgres:ident;)*) => {$(
        #[tokio::test]
        async fn $sqlite() {
            let (_dir, url) = support::db::sqlite();
            on_both_backends!(@run $kind, $check, &url);
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(url) = support::db::postgres().await else { return };
            on_both_backends!(@run $kind, $check, &url);
        }
    )*};
}

on_both_backends! {
    check_migrations_apply_once(url) => migrations_apply_once_sqlite, migrations_apply_once_postgres;
    check_share_batch_round_trip(store) => share_batch_round_trip_sqlite, share_batch_round_trip_postgres;
    check_big_share_batch_is_stored_whole(store) => big_share_batch_is_stored_whole_sqlite, big_share_batch_is_stored_whole_postgres;
    check_sink_flushes_full_batches(store) => sink_flushes_full_batches_sqlite, sink_flushes_full_batches_postgres;
    check_sink_flushes_after_interval(store) => sink_flushes_after_interval_sqlite, sink_flushes_after_interval_postgres;
    check_sink_writes_queue_when_senders_drop(store) => sink_writes_queue_when_senders_drop_sqlite, sink_writes_queue_when_senders_drop_postgres;
    check_sink_block_closes_round(store) => sink_block_closes_round_sqlite, sink_block_closes_round_postgres;
    check_failed_batch_writes_nothing(store) => failed_batch_writes_nothing_sqlite, failed_batch_writes_nothing_postgres;
    check_pplns_block_lifecycle(store) => pplns_block_lifecycle_sqlite, pplns_block_lifecycle_postgres;
    check_prop_round_starts_after_previous_block(store) => prop_round_starts_after_previous_block_sqlite, prop_round_starts_after_previous_block_postgres;
    check_solo_block_pays_finder_less_fee(store) => solo_block_pays_finder_less_fee_sqlite, solo_block_pays_finder_less_fee_postgres;
    check_orphan_drops_immature_credits(store) => orphan_drops_immature_credits_sqlite, orphan_drops_immature_credits_postgres;
    check_duplicate_block_hash_conflicts(store) => duplicate_block_hash_conflicts_sqlite, duplicate_block_hash_conflicts_postgres;
    check_payout_lifecycle(store) => payout_lifecycle_sqlite, payout_lifecycle_postgres;
    check_prepared_payout_transaction(store) => prepared_payout_transaction_sqlite, prepared_payout_transaction_postgres;
    check_audit_detects_tampering(store) => audit_detects_tampering_sqlite, audit_detects_tampering_postgres;
    check_ledger_is_append_only(store) => ledger_is_append_only_sqlite, ledger_is_append_only_postgres;
    check_updated_at_follows_every_update(store) => updated_at_follows_every_update_sqlite, updated_at_follows_every_update_postgres;
    check_activity_stats(store) => activity_stats_sqlite, activity_stats_postgres;
    check_operator_cancel_and_retry(store) => operator_cancel_and_retry_sqlite, operator_cancel_and_retry_postgres;
    check_miner_listing(store) => miner_listing_sqlite, miner_listing_postgres;
    check_proxy_shares_credited_pps_once(store) => proxy_shares_credited_pps_once_sqlite, proxy_shares_credited_pps_once_postgres;
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

const XMR: &str = "xmr";
const LTC: &str = "ltc";
const FEE_ACCOUNT: &str = "pool-fee";
/// A fixed clock for share and block times, so windows are exact.
const T0: i64 = 1_700_000_000_000;

async fn connect(url: &str) -> Store {
    Store::connect(url, 4)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

fn share(coin: &str, miner: &str, worker: &str, difficulty: f64, created_at: i64) -> NewShare {
    NewShare {
        coin: coin.into(),
        miner: miner.into(),
        worker: worker.into(),
        difficulty,
        network_difficulty: 1_000_000.0,
        height: 3_000_000,
        accepted: true,
        solo: false,
        created_at,
    }
}

fn rejected(mut s: NewShare) -> NewShare {
    s.accepted = false;
    s
}

fn solo(mut s: NewShare) -> NewShare {
    s.solo = true;
    s
}

fn block(
    coin: &str,
    hash: &str,
    scheme: &str,
    reward: u64,
    fee: FeeRate,
    finder: &str,
) -> NewBlock {
    NewBlock {
        coin: coin.into(),
        height: 3_000_000,
        hash: hash.into(),
        reward: Amount::from_atomic(reward),
        finder: finder.into(),
        worker: "rig1".into(),
        mode: if scheme == "solo" { "solo" } else { "pool" }.into(),
        scheme: scheme.into(),
        network_difficulty: 1_000_000.0,
        last_share_id: 0,
        fee,
        pplns_factor: 2.0,
        maturity: 60,
        found_at: T0,
    }
}

fn fee(percent: f64) -> FeeRate {
    FeeRate::from_percent(percent).unwrap()
}

fn amt(atomic: u64) -> Amount {
    Amount::from_atomic(atomic)
}

fn work(difficulty: f64) -> Work {
    Difficulty::new(difficulty).unwrap().work()
}

fn credits(list: &[(&str, u64)]) -> Vec<(String, Amount)> {
    list.iter().map(|(a, v)| (a.to_string(), amt(*v))).collect()
}

async fn scalar(store: &Store, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get::<i64, _>(0)
        .unwrap()
}

async fn stored_block(store: &Store, id: i64) -> BlockRecord {
    store.block(id).await.unwrap().expect("block is stored")
}

/// `(balance, immature, paid)` of an account, zeros when it has no row.
async fn money(store: &Store, coin: &str, account: &str) -> (u64, u64, u64) {
    store
        .balance(coin, account)
        .await
        .unwrap()
        .map(|b| (b.balance.atomic(), b.immature.atomic(), b.paid.atomic()))
        .unwrap_or((0, 0, 0))
}

/// `(account, kind, delta, block_id, payout_id)` of every ledger entry, by id.
async fn ledger(store: &Store) -> Vec<(String, String, i64, Option<i64>, Option<i64>)> {
    sqlx::query("SELECT account, kind, delta, block_id, payout_id FROM ledger_entries ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<i64, _>(2),
                r.get::<Option<i64>, _>(3),
                r.get::<Option<i64>, _>(4),
            )
        })
        .collect()
}

/// Every share of a round, newest first, as `(id, miner, difficulty)`.
async fn round(store: &Store, coin: &str, after_id: i64, up_to_id: i64) -> Vec<(i64, String, f64)> {
    let mut out = Vec::new();
    store
        .round_shares_newest_first(coin, after_id, up_to_id, |page: &[RoundShare]| {
            out.extend(page.iter().map(|s| (s.id, s.miner.clone(), s.difficulty)));
            true
        })
        .await
        .unwrap();
    out
}

/// `(coin, address, created_at, last_share_at)` of every miner.
async fn miners(store: &Store) -> Vec<(String, String, i64, Option<i64>)> {
    sqlx::query(
        "SELECT coin, address, created_at, last_share_at FROM miners ORDER BY coin, address",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

/// `(coin, miner, name, last_share_at)` of every worker.
async fn workers(store: &Store) -> Vec<(String, String, String, Option<i64>)> {
    sqlx::query("SELECT coin, miner, name, last_share_at FROM workers ORDER BY coin, miner, name")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn payout_ids(list: Vec<PayoutRecord>) -> Vec<i64> {
    list.into_iter().map(|p| p.id).collect()
}

async fn assert_audit_clean(store: &Store) -> defpool_core::api::AuditReport {
    let report = run_audit(store).await.unwrap();
    assert!(
        report.ok,
        "audit found differences: {:#?}",
        report.differences
    );
    assert!(report.differences.is_empty());
    report
}

/// Gives `account` a matured balance the way production does: a confirmed solo block
/// without fee, so the ledger and the audit stay consistent.
async fn credit_matured(store: &Store, coin: &str, account: &str, amount: u64) -> i64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let hash = format!("credit-{}-{account}", SEQ.fetch_add(1, Ordering::Relaxed));
    let id = store
        .insert_block(&block(coin, &hash, "solo", amount, FeeRate::ZERO, account))
        .await
        .unwrap();
    let rec = stored_block(store, id).await;
    let split = compute_split(store, &rec).await.unwrap();
    store
        .record_block_credits(&rec, &split, FEE_ACCOUNT)
        .await
        .unwrap();
    store.confirm_block(id, 60).await.unwrap();
    id
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

// ---------------------------------------------------------------------------------
// Schema and shares
// ---------------------------------------------------------------------------------

/// A fresh database gets the whole schema; connecting again applies nothing and
/// keeps the data.
async fn check_migrations_apply_once(url: &str) {
    // Every migration file of the backend is applied exactly once.
    let dir = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let files = std::fs::read_dir(format!(
        "{}/../migrations/{dir}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
    })
    .count() as i64;
    let store = connect(url).await;
    for table in [
        "miners",
        "workers",
        "shares",
        "blocks",
        "block_credits",
        "ledger_entries",
        "balances",
        "payouts",
        "payout_settings",
    ] {
        assert_eq!(
            scalar(&store, &format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM _sqlx_migrations").await,
        files
    );
    assert_eq!(
        scalar(&store, "SELECT MAX(version) FROM _sqlx_migrations").await,
        files
    );
    store
        .insert_shares(&[share(XMR, "alice", "rig1", 10.0, T0)])
        .await
        .unwrap();
    store.close().await;

    let again = connect(url).await;
    assert_eq!(
        scalar(&again, "SELECT COUNT(*) FROM _sqlx_migrations").await,
        files
    );
    assert_eq!(again.share_count().await.unwrap(), 1);
    assert_eq!(
        round(&again, XMR, 0, i64::MAX).await,
        vec![(1, "alice".to_string(), 10.0)]
    );
    again.close().await;

    assert!(matches!(
        Store::connect("mysql://localhost/defpool", 1).await,
        Err(StoreError::UnsupportedUrl(_))
    ));
}

/// A batch keeps every share; rounds see only accepted pool shares of their coin,
/// newest first within their id bounds; miners and workers are recorded.
async fn check_share_batch_round_trip(store: Store) {
    assert_eq!(store.insert_shares(&[]).await.unwrap(), None);
    let batch = vec![
        share(XMR, "alice", "rig1", 100.0, T0 + 1), // id 1
        share(XMR, "bob", "rig1", 200.0, T0 + 2),   // id 2
        rejected(share(XMR, "alice", "rig2", 300.0, T0 + 3)), // id 3
        solo(share(XMR, "carol", "rig1", 400.0, T0 + 4)), // id 4
        share(LTC, "alice", "rig1", 50.0, T0 + 5),  // id 5
        share(XMR, "bob", "rig2", 500.0, T0 + 6),   // id 6
        share(XMR, "alice", "rig1", 600.0, T0 + 7), // id 7
    ];
    assert_eq!(store.insert_shares(&batch).await.unwrap(), Some(7));
    assert_eq!(store.share_count().await.unwrap(), 7);
    assert_eq!(store.last_share_id(XMR).await.unwrap(), 7);
    assert_eq!(store.last_share_id(LTC).await.unwrap(), 5);
    assert_eq!(store.last_share_id("doge").await.unwrap(), 0);

    // Ids follow the order of the batch.
    let stored: Vec<(i64, String, String, f64, i64, i64, i64)> = sqlx::query(
        "SELECT id, miner, worker, difficulty, accepted, solo, created_at FROM shares ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
        )
    })
    .collect();
    let expected: Vec<(i64, String, String, f64, i64, i64, i64)> = batch
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                i as i64 + 1,
                s.miner.clone(),
                s.worker.clone(),
                s.difficulty,
                i64::from(s.accepted),
                i64::from(s.solo),
                s.created_at,
            )
        })
        .collect();
    assert_eq!(stored, expected);

    let s = |id: i64, m: &str, d: f64| (id, m.to_string(), d);
    assert_eq!(
        round(&store, XMR, 0, 7).await,
        vec![
            s(7, "alice", 600.0),
            s(6, "bob", 500.0),
            s(2, "bob", 200.0),
            s(1, "alice", 100.0)
        ]
    );
    assert_eq!(
        round(&store, XMR, 1, 6).await,
        vec![s(6, "bob", 500.0), s(2, "bob", 200.0)]
    );
    assert!(round(&store, XMR, 2, 5).await.is_empty());
    assert_eq!(round(&store, LTC, 0, 7).await, vec![s(5, "alice", 50.0)]);

    let m = |c: &str, a: &str, created: i64, last: i64| {
        (c.to_string(), a.to_string(), created, Some(last))
    };
    assert_eq!(
        miners(&store).await,
        vec![
            m(LTC, "alice", T0 + 5, T0 + 5),
            m(XMR, "alice", T0 + 7, T0 + 7),
            m(XMR, "bob", T0 + 6, T0 + 6),
            m(XMR, "carol", T0 + 4, T0 + 4),
        ]
    );
    let w = |c: &str, m: &str, n: &str, last: i64| {
        (c.to_string(), m.to_string(), n.to_string(), Some(last))
    };
    assert_eq!(
        workers(&store).await,
        vec![
            w(LTC, "alice", "rig1", T0 + 5),
            w(XMR, "alice", "rig1", T0 + 7),
            w(XMR, "alice", "rig2", T0 + 3),
            w(XMR, "bob", "rig1", T0 + 2),
            w(XMR, "bob", "rig2", T0 + 6),
            w(XMR, "carol", "rig1", T0 + 4),
        ]
    );

    // A later batch moves last_share_at forward without new rows or a new created_at.
    assert_eq!(
        store
            .insert_shares(&[share(XMR, "bob", "rig1", 1.0, T0 + 100)])
            .await
            .unwrap(),
        Some(8)
    );
    let after = miners(&store).await;
    assert_eq!(after.len(), 4);
    assert_eq!(after[2], m(XMR, "bob", T0 + 6, T0 + 100));
    let after = workers(&store).await;
    assert_eq!(after.len(), 6);
    assert_eq!(after[3], w(XMR, "bob", "rig1", T0 + 100));
}

/// One `insert_shares` call of more rows than SQLite takes per statement stores all
/// of them, in order; a round longer than a read page is walked page by page.
async fn check_big_share_batch_is_stored_whole(store: Store) {
    const N: usize = 5_000;
    let make = |from: usize, to: usize| -> Vec<NewShare> {
        (from..to)
            .map(|i| {
                share(
                    XMR,
                    &format!("m{}", i % 50),
                    &format!("w{}", i % 7),
                    (i + 1) as f64,
                    T0 + i as i64,
                )
            })
            .collect()
    };
    assert_eq!(
        store.insert_shares(&make(0, N)).await.unwrap(),
        Some(N as i64)
    );
    assert_eq!(store.share_count().await.unwrap(), N as i64);
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM miners").await, 50);
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM workers").await, 350);
    let shares = round(&store, XMR, 0, i64::MAX).await;
    assert_eq!(shares.len(), N);
    for (k, (id, miner, difficulty)) in shares.iter().enumerate() {
        // Newest first: share number N - k, written from batch index N - k - 1.
        let i = N - k - 1;
        assert_eq!(
            (*id, miner.as_str(), *difficulty),
            (
                (i + 1) as i64,
                format!("m{}", i % 50).as_str(),
                (i + 1) as f64
            )
        );
    }

    // 55,000 shares: the round reader pages (50,000 rows a page) and stops when told.
    for from in (N..55_000).step_by(N) {
        store.insert_shares(&make(from, from + N)).await.unwrap();
    }
    let mut pages = Vec::new();
    store
        .round_shares_newest_first(XMR, 0, i64::MAX, |page| {
            pages.push((page.len(), page[0].id, page[page.len() - 1].id));
            true
        })
        .await
        .unwrap();
    assert_eq!(pages, vec![(50_000, 55_000, 5_001), (5_000, 5_000, 1)]);
    let mut calls = 0;
    store
        .round_shares_newest_first(XMR, 0, i64::MAX, |_| {
            calls += 1;
            false
        })
        .await
        .unwrap();
    assert_eq!(calls, 1);
}

// ---------------------------------------------------------------------------------
// Share sink
// ---------------------------------------------------------------------------------

/// Full batches are written as they fill; `flush` writes the rest. A queue smaller
/// than the submissions makes senders wait instead of dropping shares.
async fn check_sink_flushes_full_batches(store: Store) {
    let (sink, writer) = ShareSink::start(store.clone(), 4, 10, Duration::from_secs(3600));
    for i in 0..25 {
        sink.submit(share(XMR, "alice", "rig1", 1.0 + i as f64, T0 + i))
            .await
            .unwrap();
    }
    sink.flush().await.unwrap();
    assert_eq!(store.share_count().await.unwrap(), 25);
    let stats = sink.stats();
    assert_eq!(stats.written.load(Ordering::Relaxed), 25);
    assert_eq!(
        stats.batches.load(Ordering::Relaxed),
        3,
        "10 + 10 + the flushed 5"
    );
    assert_eq!(stats.write_errors.load(Ordering::Relaxed), 0);
    assert!(
        stats.backpressure_waits.load(Ordering::Relaxed) > 0,
        "a queue of 4 must have pushed back"
    );
    let diffs: Vec<f64> = round(&store, XMR, 0, i64::MAX)
        .await
        .into_iter()
        .map(|s| s.2)
        .collect();
    assert_eq!(
        diffs,
        (0..25).rev().map(|i| 1.0 + i as f64).collect::<Vec<_>>()
    );
    drop(sink);
    writer.await.unwrap();
}

/// A partial batch is written once its oldest share has waited the flush interval,
/// without anyone calling `flush`.
async fn check_sink_flushes_after_interval(store: Store) {
    let (sink, writer) = ShareSink::start(store.clone(), 100, 1_000, Duration::from_millis(50));
    for i in 0..3 {
        sink.submit(share(XMR, "alice", "rig1", 5.0, T0 + i))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.share_count().await.unwrap(), 3);
    assert_eq!(sink.stats().batches.load(Ordering::Relaxed), 1);
    drop(sink);
    writer.await.unwrap();
}

/// Dropping every sender ends the writer only after it wrote what was queued.
async fn check_sink_writes_queue_when_senders_drop(store: Store) {
    let (sink, writer) = ShareSink::start(store.clone(), 100, 1_000, Duration::from_secs(3600));
    let other = sink.clone();
    for i in 0..7 {
        let s = if i % 2 == 0 { &sink } else { &other };
        s.submit(share(XMR, "bob", "rig2", 3.0, T0 + i))
            .await
            .unwrap();
    }
    drop(sink);
    drop(other);
    tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("the writer ends when every sender is gone")
        .unwrap();
    assert_eq!(store.share_count().await.unwrap(), 7);
}

/// A found block closes its round at the last share submitted before it; shares
/// submitted after it belong to the next round.
async fn check_sink_block_closes_round(store: Store) {
    let (sink, writer) = ShareSink::start(store.clone(), 100, 1_000, Duration::from_secs(3600));
    for i in 0..5 {
        sink.submit(share(XMR, "early", "rig1", 10.0, T0 + i))
            .await
            .unwrap();
    }
    // Rejected and solo shares still count as "before the block" for the round end.
    sink.submit(rejected(share(XMR, "early", "rig1", 10.0, T0 + 5)))
        .await
        .unwrap();
    let id = sink
        .block_found(FoundBlock {
            block: block(XMR, "hash-a", "pplns", 1_000, fee(1.0), "early"),
        })
        .await
        .unwrap();
    for i in 0..3 {
        sink.submit(share(XMR, "late", "rig1", 10.0, T0 + 10 + i))
            .await
            .unwrap();
    }
    sink.flush().await.unwrap();

    let rec = stored_block(&store, id).await;
    assert_eq!(rec.last_share_id, 6);
    assert_eq!(
        rec.last_share_id,
        scalar(&store, "SELECT MAX(id) FROM shares WHERE miner = 'early'").await
    );
    assert_eq!(
        scalar(&store, "SELECT MIN(id) FROM shares WHERE miner = 'late'").await,
        7
    );
    let miners: Vec<String> = round(&store, XMR, 0, rec.last_share_id)
        .await
        .into_iter()
        .map(|s| s.1)
        .collect();
    assert_eq!(miners, vec!["early"; 5]);
    assert_eq!(store.share_count().await.unwrap(), 9);

    // The same block twice is refused through the sink too.
    let again = sink
        .block_found(FoundBlock {
            block: block(XMR, "hash-a", "pplns", 1_000, fee(1.0), "early"),
        })
        .await;
    assert!(
        matches!(again, Err(SinkError::Store(StoreError::Conflict(_)))),
        "{again:?}"
    );
    drop(sink);
    writer.await.unwrap();
}

/// Makes every insert into `workers` fail, as a lost connection or a full disk would
/// in the middle of a batch; `false` lifts it.
async fn sabotage_workers(store: &Store, on: bool) {
    let statements: &[&str] = match (store.backend(), on) {
        (Backend::Sqlite, true) => &["CREATE TRIGGER sabotage BEFORE INSERT ON workers \
             BEGIN SELECT RAISE(ABORT, 'sabotaged'); END"],
        (Backend::Sqlite, false) => &["DROP TRIGGER sabotage"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION sabotage() RETURNS TRIGGER AS $$ \
             BEGIN RAISE EXCEPTION 'sabotaged'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER sabotage BEFORE INSERT ON workers \
             FOR EACH ROW EXECUTE FUNCTION sabotage()",
        ],
        (Backend::Postgres, false) => &[
            "DROP TRIGGER sabotage ON workers",
            "DROP FUNCTION sabotage()",
        ],
    };
    for sql in statements {
        sqlx::query(sql)
            .execute(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// A batch that fails part-way writes nothing, so the sink's retry of the same batch
/// stores each share exactly once (a duplicate would be paid twice by PPLNS/PROP).
async fn check_failed_batch_writes_nothing(store: Store) {
    sabotage_workers(&store, true).await;
    let batch = [
        share(XMR, "alice", "rig1", 10.0, T0),
        share(XMR, "bob", "rig1", 20.0, T0 + 1),
    ];
    let err = store
        .insert_shares(&batch)
        .await
        .expect_err("the sabotaged batch must fail");
    assert!(err.to_string().contains("sabotaged"), "{err}");
    assert_eq!(store.share_count().await.unwrap(), 0);
    assert!(miners(&store).await.is_empty());

    // Through the sink: the writer keeps retrying; once the database heals, the batch
    // is there once.
    let (sink, writer) = ShareSink::start(store.clone(), 100, 1_000, Duration::from_secs(3600));
    for s in &batch {
        sink.submit(s.clone()).await.unwrap();
    }
    let flushing = tokio::spawn({
        let sink = sink.clone();
        async move { sink.flush().await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.stats().write_errors.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "the writer never tried to write");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sabotage_workers(&store, false).await;
    tokio::time::timeout(Duration::from_secs(10), flushing)
        .await
        .expect("the writer retries until the write succeeds")
        .unwrap()
        .unwrap();
    assert_eq!(store.share_count().await.unwrap(), 2);
    // (PostgreSQL identities are not gapless: the failed attempts used some ids.)
    let stored: Vec<(String, f64)> = round(&store, XMR, 0, i64::MAX)
        .await
        .into_iter()
        .map(|(_, miner, difficulty)| (miner, difficulty))
        .collect();
    assert_eq!(
        stored,
        vec![("bob".to_string(), 20.0), ("alice".to_string(), 10.0)]
    );
    assert_eq!(miners(&store).await.len(), 2);
    assert_eq!(sink.stats().written.load(Ordering::Relaxed), 2);
    drop(sink);
    writer.await.unwrap();
}

// ---------------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------------

/// PPLNS: the window (factor × network difficulty) cuts through the oldest counted
/// share, which is prorated; credits sum exactly to the reward; they are immature
/// until confirmation moves them, once, into ledger and balances.
async fn check_pplns_block_lifecycle(store: Store) {
    // Oldest first. Window = 2.0 × 900 = 1800: newest 100 + 600 + 200 + 400 = 1300,
    // then 500 of bob's 700; alice's 300 and carol's 500 fall outside.
    let round_shares = [
        ("carol", 500.0),
        ("alice", 300.0),
        ("bob", 700.0),
        ("alice", 400.0),
        ("carol", 200.0),
        ("bob", 600.0),
        ("alice", 100.0),
    ];
    let mut batch: Vec<NewShare> = round_shares
        .iter()
        .enumerate()
        .map(|(i, (m, d))| share(XMR, m, "rig1", *d, T0 + i as i64))
        .collect();
    // Never in a round: rejected, solo, and another coin.
    batch.push(rejected(share(XMR, "carol", "rig1", 9_000.0, T0 + 10)));
    batch.push(solo(share(XMR, "dave", "rig1", 9_000.0, T0 + 11)));
    batch.push(share(LTC, "dave", "rig1", 9_000.0, T0 + 12));
    store.insert_shares(&batch).await.unwrap();

    let mut new = block(XMR, "pplns-1", "pplns", 1_000_000_007, fee(1.0), "alice");
    new.network_difficulty = 900.0;
    new.pplns_factor = 2.0;
    new.last_share_id = store.last_share_id(XMR).await.unwrap();
    let id = store.insert_block(&new).await.unwrap();
    let rec = stored_block(&store, id).await;
    assert_eq!(rec.status, BlockStatus::Pending);
    assert!(!rec.credits_computed);
    assert_eq!(rec.fee.ppm(), 10_000);
    assert_eq!(rec.pplns_factor, 2.0);
    assert_eq!(rec.last_share_id, 9);

    let split = compute_split(&store, &rec).await.unwrap();
    // 1 % of 1_000_000_007 is 10_000_000 (rounded down); 990_000_007 over 500/1100/200
    // of 1800, the 2 leftover units to the largest remainders (alice .94, carol .78).
    assert_eq!(split.fee, amt(10_000_000));
    assert_eq!(
        split.credits,
        credits(&[
            ("alice", 275_000_002),
            ("bob", 605_000_004),
            ("carol", 110_000_001)
        ])
    );
    assert_eq!(split.total(), 1_000_000_007);

    // The same split from the pure functions over the same shares.
    let window = pplns_window(2.0, Difficulty::new(900.0).unwrap());
    assert_eq!(window, work(1800.0));
    let weights = pplns_weights(
        round_shares.iter().rev().map(|(m, d)| (*m, work(*d))),
        window,
    );
    assert_eq!(
        weights["bob"],
        work(1100.0),
        "bob's boundary share counts 500 of 700"
    );
    assert_eq!(weights["alice"], work(500.0));
    assert_eq!(weights["carol"], work(200.0));
    assert_eq!(
        split,
        split_reward(amt(1_000_000_007), fee(1.0), &weights).unwrap()
    );

    // Credits become immature balances.
    assert!(
        is_conflict(store.confirm_block(id, 60).await),
        "no confirmation before credits"
    );
    store
        .record_block_credits(&rec, &split, FEE_ACCOUNT)
        .await
        .unwrap();
    assert!(is_conflict(
        store.record_block_credits(&rec, &split, FEE_ACCOUNT).await
    ));
    let stored = store.block_credits(id).await.unwrap();
    let stored: Vec<(&str, &str, u64)> = stored
        .iter()
        .map(|c| (c.account.as_str(), c.kind.as_str(), c.amount.atomic()))
        .collect();
    assert_eq!(
        stored,
        vec![
            ("alice", "block_reward", 275_000_002),
            ("bob", "block_reward", 605_000_004),
            ("carol", "block_reward", 110_000_001),
            (FEE_ACCOUNT, "pool_fee", 10_000_000),
        ]
    );
    assert_eq!(money(&store, XMR, "alice").await, (0, 275_000_002, 0));
    assert_eq!(money(&store, XMR, "bob").await, (0, 605_000_004, 0));
    assert_eq!(money(&store, XMR, "carol").await, (0, 110_000_001, 0));
    assert_eq!(money(&store, XMR, FEE_ACCOUNT).await, (0, 10_000_000, 0));
    assert!(stored_block(&store, id).await.credits_computed);
    assert!(ledger(&store).await.is_empty());
    assert_audit_clean(&store).await;

    // Maturity moves the credits into the ledger and balances.
    store.confirm_block(id, 61).await.unwrap();
    let rec = stored_block(&store, id).await;
    assert_eq!(
        (rec.status, rec.confirmations),
        (BlockStatus::Confirmed, 61)
    );
    let entries = ledger(&store).await;
    let mut entries: Vec<_> = entries
        .iter()
        .map(|e| (e.0.as_str(), e.1.as_str(), e.2, e.3, e.4))
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        vec![
            ("alice", "block_reward", 275_000_002, Some(id), None),
            ("bob", "block_reward", 605_000_004, Some(id), None),
            ("carol", "block_reward", 110_000_001, Some(id), None),
            (FEE_ACCOUNT, "pool_fee", 10_000_000, Some(id), None),
        ]
    );
    assert_eq!(money(&store, XMR, "alice").await, (275_000_002, 0, 0));
    assert_eq!(money(&store, XMR, "bob").await, (605_000_004, 0, 0));
    assert_eq!(money(&store, XMR, "carol").await, (110_000_001, 0, 0));
    assert_eq!(money(&store, XMR, FEE_ACCOUNT).await, (10_000_000, 0, 0));

    // A second confirmation is refused and changes nothing.
    assert!(is_conflict(store.confirm_block(id, 70).await));
    assert_eq!(ledger(&store).await.len(), 4);
    assert_eq!(money(&store, XMR, "bob").await, (605_000_004, 0, 0));
    assert_eq!(stored_block(&store, id).await.confirmations, 61);

    let report = assert_audit_clean(&store).await;
    assert_eq!(
        (
            report.balances_checked,
            report.blocks_checked,
            report.payouts_checked
        ),
        (4, 1, 0)
    );
}

/// PROP: a block's round is every accepted pool share since the previous pool block
/// of the coin; a solo block in between does not end the round.
async fn check_prop_round_starts_after_previous_block(store: Store) {
    store
        .insert_shares(&[
            share(XMR, "alice", "rig1", 100.0, T0),
            share(XMR, "bob", "rig1", 300.0, T0 + 1),
        ])
        .await
        .unwrap();
    let mut first = block(XMR, "prop-1", "prop", 10_000, fee(2.0), "bob");
    first.last_share_id = store.last_share_id(XMR).await.unwrap();
    let first_id = store.insert_block(&first).await.unwrap();

    store
        .insert_shares(&[share(XMR, "bob", "rig1", 200.0, T0 + 2)])
        .await
        .unwrap();
    let mut solo_block = block(XMR, "solo-between", "solo", 500, fee(2.0), "dave");
    solo_block.last_share_id = store.last_share_id(XMR).await.unwrap();
    store.insert_block(&solo_block).await.unwrap();
    store
        .insert_shares(&[share(XMR, "carol", "rig1", 200.0, T0 + 3)])
        .await
        .unwrap();
    let mut second = block(XMR, "prop-2", "prop", 10_000, fee(2.0), "carol");
    second.last_share_id = store.last_share_id(XMR).await.unwrap();
    let second_id = store.insert_block(&second).await.unwrap();

    assert_eq!(store.previous_round_end(XMR, first_id).await.unwrap(), 0);
    assert_eq!(store.previous_round_end(XMR, second_id).await.unwrap(), 2);

    let first = stored_block(&store, first_id).await;
    let split = compute_split(&store, &first).await.unwrap();
    // Fee 200; 9_800 over alice 100 / bob 300.
    assert_eq!(
        split,
        RewardSplit {
            fee: amt(200),
            credits: credits(&[("alice", 2_450), ("bob", 7_350)])
        }
    );
    let weights = prop_weights([("alice", work(100.0)), ("bob", work(300.0))]);
    assert_eq!(
        split,
        split_reward(amt(10_000), fee(2.0), &weights).unwrap()
    );

    let second = stored_block(&store, second_id).await;
    let split = compute_split(&store, &second).await.unwrap();
    assert_eq!(
        split,
        RewardSplit {
            fee: amt(200),
            credits: credits(&[("bob", 4_900), ("carol", 4_900)])
        }
    );
    let weights = prop_weights([("carol", work(200.0)), ("bob", work(200.0))]);
    assert_eq!(
        split,
        split_reward(amt(10_000), fee(2.0), &weights).unwrap()
    );

    for rec in [&first, &second] {
        let split = compute_split(&store, rec).await.unwrap();
        store
            .record_block_credits(rec, &split, FEE_ACCOUNT)
            .await
            .unwrap();
        store.confirm_block(rec.id, 60).await.unwrap();
    }
    assert_eq!(money(&store, XMR, "alice").await, (2_450, 0, 0));
    assert_eq!(money(&store, XMR, "bob").await, (7_350 + 4_900, 0, 0));
    assert_eq!(money(&store, XMR, "carol").await, (4_900, 0, 0));
    assert_eq!(money(&store, XMR, FEE_ACCOUNT).await, (400, 0, 0));
    assert_audit_clean(&store).await;
}

/// SOLO: the finder takes the reward less the fee, the fee account the fee. A pool
/// block whose round has no shares falls back to the same split.
async fn check_solo_block_pays_finder_less_fee(store: Store) {
    // Shares of others must not matter for a solo block.
    store
        .insert_shares(&[share(XMR, "alice", "rig1", 1_000.0, T0)])
        .await
        .unwrap();
    let id = store
        .insert_block(&block(XMR, "solo-1", "solo", 5_000_000, fee(1.5), "dave"))
        .await
        .unwrap();
    let rec = stored_block(&store, id).await;
    assert_eq!((rec.mode.as_str(), rec.scheme.as_str()), ("solo", "solo"));
    let split = compute_split(&store, &rec).await.unwrap();
    assert_eq!(
        split,
        RewardSplit {
            fee: amt(75_000),
            credits: credits(&[("dave", 4_925_000)])
        }
    );
    assert_eq!(split, solo_split(amt(5_000_000), fee(1.5), "dave"));
    store
        .record_block_credits(&rec, &split, FEE_ACCOUNT)
        .await
        .unwrap();
    assert_eq!(money(&store, XMR, "dave").await, (0, 4_925_000, 0));
    assert_eq!(money(&store, XMR, FEE_ACCOUNT).await, (0, 75_000, 0));
    store.confirm_block(id, 60).await.unwrap();
    assert_eq!(money(&store, XMR, "dave").await, (4_925_000, 0, 0));
    assert_eq!(money(&store, XMR, FEE_ACCOUNT).await, (75_000, 0, 0));
    assert_eq!(money(&store, XMR, "alice").await, (0, 0, 0));

    // A PPLNS block of a coin without pool shares pays its finder.
    let id = store
        .insert_block(&block(LTC, "empty-round", "pplns", 1_000, fee(1.0), "erin"))
        .await
        .unwrap();
    let split = compute_split(&store, &stored_block(&store, id).await)
        .await
        .unwrap();
    assert_eq!(
        split,
        RewardSplit {
            fee: amt(10),
            credits: credits(&[("erin", 990)])
        }
    );
    assert_audit_clean(&store).await;
}

/// An orphaned block's immature credits leave the balances (the credits stay as
/// history); nothing reaches the ledger and the block cannot be confirmed later.
async fn check_orphan_drops_immature_credits(store: Store) {
    store
        .insert_shares(&[
            share(XMR, "alice", "rig1", 100.0, T0),
            share(XMR, "bob", "rig1", 300.0, T0 + 1),
        ])
        .await
        .unwrap();
    // A confirmed block first, so the orphan must leave other money alone.
    credit_matured(&store, XMR, "alice", 1_000).await;
    let mut new = block(XMR, "orphan-1", "pplns", 4_000, fee(1.0), "bob");
    new.last_share_id = store.last_share_id(XMR).await.unwrap();
    let id = store.insert_block(&new).await.unwrap();
    let rec = stored_block(&store, id).await;
    let split = compute_split(&store, &rec).await.unwrap();
    // Fee 40; 3_960 over 100/300.
    assert_eq!(split.credits, credits(&[("alice", 990), ("bob", 2_970)]));
    store
        .record_block_credits(&rec, &split, FEE_ACCOUNT)
        .await
        .unwrap();
    assert_eq!(money(&store, XMR, "alice").await, (1_000, 990, 0));
    assert_eq!(money(&store, XMR, "bob").await, (0, 2_970, 0));
    let ledger_before = ledger(&store).await;

    store.orphan_block(id).await.unwrap();
    assert_eq!(stored_block(&store, id).await.status, BlockStatus::Orphaned);
    assert_eq!(money(&store, XMR, "alice").await, (1_000, 0, 0));
    assert_eq!(money(&store, XMR, "bob").await, (0, 0, 0));
    assert_eq!(money(&store, XMR, FEE_ACCOUNT).await, (0, 0, 0));
    assert_eq!(ledger(&store).await, ledger_before);
    assert!(ledger_before.iter().all(|e| e.3 != Some(id)));
    assert_eq!(store.block_credits(id).await.unwrap().len(), 3);

    assert!(is_conflict(store.orphan_block(id).await));
    assert!(is_conflict(store.confirm_block(id, 60).await));
    assert_eq!(money(&store, XMR, "bob").await, (0, 0, 0));
    assert_audit_clean(&store).await;
}

/// A block hash is recorded once per coin.
async fn check_duplicate_block_hash_conflicts(store: Store) {
    let first = store
        .insert_block(&block(XMR, "dup", "pplns", 1_000, fee(1.0), "alice"))
        .await
        .unwrap();
    let again = store
        .insert_block(&block(XMR, "dup", "prop", 2_000, fee(2.0), "bob"))
        .await;
    assert!(is_conflict(again));
    // The same hash on another chain is another block.
    let other = store
        .insert_block(&block(LTC, "dup", "pplns", 1_000, fee(1.0), "alice"))
        .await
        .unwrap();
    assert_ne!(first, other);
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM blocks").await, 2);
    let rec = stored_block(&store, first).await;
    assert_eq!((rec.finder.as_str(), rec.reward), ("alice", amt(1_000)));
}

// ---------------------------------------------------------------------------------
// Payouts
// ---------------------------------------------------------------------------------

/// pending → processing → completed | failed (refunded) | back to pending, with the
/// balance debited once, refunded once, and `paid` following completions.
/// A payout's transaction is recorded before it is broadcast; from then on the payout
/// can be completed or (transaction refused by the network) go back to pending, but
/// never be failed and credited back while the transaction might still be mined.
async fn check_prepared_payout_transaction(store: Store) {
    credit_matured(&store, XMR, "alice", 1_000_000).await;
    credit_matured(&store, XMR, "bob", 500_000).await;
    let a = store
        .create_payout(XMR, "alice", amt(400_000), "manual", None)
        .await
        .unwrap();
    let b = store
        .create_payout(XMR, "bob", amt(100_000), "auto", None)
        .await
        .unwrap();
    assert_eq!(store.mark_processing(&[a.id, b.id]).await.unwrap().len(), 2);
    store
        .record_prepared(&[(a.id, amt(800)), (b.id, amt(200))], "tx-1", "signed-1")
        .await
        .unwrap();
    let p = store.payout(a.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.tx_hash.as_deref(), p.fee),
        (PayoutStatus::Processing, Some("tx-1"), Some(amt(800)))
    );
    assert_eq!(
        store.signed_tx("tx-1").await.unwrap().as_deref(),
        Some("signed-1")
    );
    // Recorded once: a second transaction for the same payouts is refused whole.
    assert!(is_conflict(
        store
            .record_prepared(&[(a.id, amt(1))], "tx-2", "signed-2")
            .await
    ));
    // A payout with a transaction is not failed (it may be mined).
    assert!(is_conflict(store.fail_payout(a.id, "no").await));
    assert_eq!(money(&store, XMR, "alice").await, (600_000, 0, 0));

    // Refused by the network: back to pending, transaction forgotten.
    assert_eq!(
        store
            .abandon_prepared("tx-1", "refused", now_ms() + 1_000)
            .await
            .unwrap(),
        2
    );
    let p = store.payout(b.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.tx_hash.clone(), p.fee),
        (PayoutStatus::Pending, None, None)
    );
    assert_eq!(store.signed_tx("tx-1").await.unwrap(), None);

    // Built again and completed: the signed bytes are dropped, the fees kept.
    store.mark_processing(&[a.id, b.id]).await.unwrap();
    store
        .record_prepared(&[(a.id, amt(700)), (b.id, amt(300))], "tx-3", "signed-3")
        .await
        .unwrap();
    store
        .complete_payouts(&[(a.id, amt(700)), (b.id, amt(300))], "tx-3")
        .await
        .unwrap();
    assert_eq!(store.signed_tx("tx-3").await.unwrap(), None);
    let p = store.payout(a.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.tx_hash.as_deref(), p.fee, p.attempts),
        (PayoutStatus::Completed, Some("tx-3"), Some(amt(700)), 2)
    );
    assert_eq!(money(&store, XMR, "alice").await, (600_000, 0, 400_000));
    assert_eq!(money(&store, XMR, "bob").await, (400_000, 0, 100_000));
    assert!(run_audit(&store).await.unwrap().ok);
}

async fn check_payout_lifecycle(store: Store) {
    credit_matured(&store, XMR, "alice", 1_000_000).await;
    credit_matured(&store, XMR, "bob", 300_000).await;
    credit_matured(&store, XMR, "carol", 50_000).await;
    let entries_before = ledger(&store).await.len();

    // Create: debit and a 'payout' ledger entry.
    let p1 = store
        .create_payout(XMR, "alice", amt(400_000), "manual", None)
        .await
        .unwrap();
    assert_eq!(
        (
            p1.coin.as_str(),
            p1.account.as_str(),
            p1.amount,
            p1.status,
            p1.origin.as_str()
        ),
        (XMR, "alice", amt(400_000), PayoutStatus::Pending, "manual")
    );
    assert_eq!(
        (
            p1.fee,
            p1.tx_hash.clone(),
            p1.reason.clone(),
            p1.attempts,
            p1.next_attempt_at
        ),
        (None, None, None, 0, 0)
    );
    assert_eq!(money(&store, XMR, "alice").await, (600_000, 0, 0));
    assert_eq!(
        store
            .balance(XMR, "alice")
            .await
            .unwrap()
            .unwrap()
            .pending_payouts,
        amt(400_000)
    );
    let entries = ledger(&store).await;
    assert_eq!(entries.len(), entries_before + 1);
    assert_eq!(
        entries.last().unwrap(),
        &(
            "alice".to_string(),
            "payout".to_string(),
            -400_000,
            None,
            Some(p1.id)
        )
    );

    // More than the balance: refused with the numbers, nothing written.
    let short = store
        .create_payout(XMR, "bob", amt(300_001), "manual", None)
        .await;
    assert!(
        matches!(
            short,
            Err(StoreError::InsufficientBalance {
                available: 300_000,
                requested: 300_001
            })
        ),
        "{short:?}"
    );
    let nobody = store
        .create_payout(XMR, "nobody", amt(5), "manual", None)
        .await;
    assert!(
        matches!(
            nobody,
            Err(StoreError::InsufficientBalance {
                available: 0,
                requested: 5
            })
        ),
        "{nobody:?}"
    );
    assert_eq!(money(&store, XMR, "bob").await, (300_000, 0, 0));

    // A second open payout of the same account and coin: refused, balance kept.
    assert!(is_conflict(
        store
            .create_payout(XMR, "alice", amt(100_000), "auto", None)
            .await
    ));
    assert_eq!(money(&store, XMR, "alice").await, (600_000, 0, 0));
    assert_eq!(ledger(&store).await.len(), entries_before + 1);

    // Processing (the intent), then completed with the transaction.
    assert_eq!(
        store.mark_processing(&[p1.id, 9_999]).await.unwrap(),
        vec![p1.id]
    );
    assert_eq!(
        store.mark_processing(&[p1.id]).await.unwrap(),
        Vec::<i64>::new()
    );
    let p = store.payout(p1.id).await.unwrap().unwrap();
    assert_eq!((p.status, p.attempts), (PayoutStatus::Processing, 1));
    assert!(p.processing_at.is_some());
    assert_eq!(
        store
            .processing_payouts(XMR)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        vec![p1.id]
    );
    assert!(!store.tx_hash_known("tx-a").await.unwrap());
    store
        .complete_payouts(&[(p1.id, amt(1_234))], "tx-a")
        .await
        .unwrap();
    let p = store.payout(p1.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.tx_hash.as_deref(), p.fee, p.reason),
        (
            PayoutStatus::Completed,
            Some("tx-a"),
            Some(amt(1_234)),
            None
        )
    );
    assert_eq!(money(&store, XMR, "alice").await, (600_000, 0, 400_000));
    assert_eq!(
        store
            .balance(XMR, "alice")
            .await
            .unwrap()
            .unwrap()
            .pending_payouts,
        Amount::ZERO
    );
    assert!(store.tx_hash_known("tx-a").await.unwrap());
    assert!(!store.tx_hash_known("tx-b").await.unwrap());
    assert!(is_conflict(
        store.complete_payouts(&[(p1.id, amt(1))], "tx-a").await
    ));
    assert!(is_conflict(store.fail_payout(p1.id, "too late").await));
    assert_eq!(money(&store, XMR, "alice").await, (600_000, 0, 400_000));

    // Failed: credited back with a 'payout_refund' entry, once.
    let p2 = store
        .create_payout(XMR, "bob", amt(200_000), "auto", Some("threshold"))
        .await
        .unwrap();
    assert_eq!(
        (p2.origin.as_str(), p2.reason.as_deref()),
        ("auto", Some("threshold"))
    );
    assert_eq!(money(&store, XMR, "bob").await, (100_000, 0, 0));
    store
        .fail_payout(p2.id, "wallet refused the address")
        .await
        .unwrap();
    let p = store.payout(p2.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.reason.as_deref()),
        (PayoutStatus::Failed, Some("wallet refused the address"))
    );
    assert_eq!(money(&store, XMR, "bob").await, (300_000, 0, 0));
    let entries = ledger(&store).await;
    assert_eq!(
        entries.last().unwrap(),
        &(
            "bob".to_string(),
            "payout_refund".to_string(),
            200_000,
            None,
            Some(p2.id)
        )
    );
    assert!(is_conflict(store.fail_payout(p2.id, "again").await));
    assert_eq!(money(&store, XMR, "bob").await, (300_000, 0, 0));

    // A transient wallet error: back to pending with a reason and a retry time.
    let now = now_ms();
    let p3 = store
        .create_payout(XMR, "carol", amt(50_000), "auto", None)
        .await
        .unwrap();
    assert_eq!(money(&store, XMR, "carol").await, (0, 0, 0));
    assert_eq!(store.mark_processing(&[p3.id]).await.unwrap(), vec![p3.id]);
    store
        .retry_payout_later(p3.id, "wallet busy", now + 60_000)
        .await
        .unwrap();
    let p = store.payout(p3.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.reason.as_deref(), p.next_attempt_at, p.attempts),
        (PayoutStatus::Pending, Some("wallet busy"), now + 60_000, 1)
    );
    // Retrying a payout that is not processing changes nothing.
    store.retry_payout_later(p1.id, "nope", now).await.unwrap();
    assert_eq!(
        store.payout(p1.id).await.unwrap().unwrap().status,
        PayoutStatus::Completed
    );

    let p4 = store
        .create_payout(XMR, "alice", amt(100_000), "manual", None)
        .await
        .unwrap();
    let ids = payout_ids;
    assert_eq!(
        ids(store.due_payouts(XMR, now, 10).await.unwrap()),
        vec![p4.id]
    );
    assert_eq!(
        ids(store.due_payouts(XMR, now + 60_000, 10).await.unwrap()),
        vec![p3.id, p4.id]
    );
    assert_eq!(
        ids(store.due_payouts(XMR, now + 60_000, 1).await.unwrap()),
        vec![p3.id]
    );
    assert_eq!(
        ids(store.due_payouts(LTC, now + 60_000, 10).await.unwrap()),
        Vec::<i64>::new()
    );

    assert_eq!(
        store
            .set_pending_reason(XMR, "no wallet configured")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .set_pending_reason(XMR, "no wallet configured")
            .await
            .unwrap(),
        0
    );
    for id in [p3.id, p4.id] {
        assert_eq!(
            store.payout(id).await.unwrap().unwrap().reason.as_deref(),
            Some("no wallet configured")
        );
    }
    assert_eq!(
        store
            .payout(p2.id)
            .await
            .unwrap()
            .unwrap()
            .reason
            .as_deref(),
        Some("wallet refused the address")
    );

    // Listing: newest first, filters, cursor pages.
    let list = |q: PayoutQuery| {
        let store = store.clone();
        async move { ids(store.payouts(&q).await.unwrap()) }
    };
    let q = |limit: i64| PayoutQuery {
        limit,
        ..Default::default()
    };
    assert_eq!(list(q(10)).await, vec![p4.id, p3.id, p2.id, p1.id]);
    assert_eq!(
        list(PayoutQuery {
            account: Some("alice".into()),
            ..q(10)
        })
        .await,
        vec![p4.id, p1.id]
    );
    assert_eq!(
        list(PayoutQuery {
            status: Some(PayoutStatus::Failed),
            ..q(10)
        })
        .await,
        vec![p2.id]
    );
    assert_eq!(
        list(PayoutQuery {
            status: Some(PayoutStatus::Pending),
            ..q(10)
        })
        .await,
        vec![p4.id, p3.id]
    );
    assert_eq!(
        list(PayoutQuery {
            coin: Some(LTC.into()),
            ..q(10)
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        list(PayoutQuery {
            coin: Some(XMR.into()),
            ..q(2)
        })
        .await,
        vec![p4.id, p3.id]
    );
    assert_eq!(
        list(PayoutQuery {
            before_id: Some(p3.id),
            ..q(2)
        })
        .await,
        vec![p2.id, p1.id]
    );
    assert_eq!(
        list(PayoutQuery {
            before_id: Some(p1.id),
            ..q(2)
        })
        .await,
        Vec::<i64>::new()
    );

    // Auto payouts: own threshold, else the default; never with an open payout.
    // alice 500_000 (open p4), bob 300_000, carol 0 (open p3), dave 80_000.
    credit_matured(&store, XMR, "dave", 80_000).await;
    let due = |default: u64| {
        let store = store.clone();
        async move {
            store
                .accounts_due_for_payout(XMR, amt(default))
                .await
                .unwrap()
                .into_iter()
                .map(|(a, v)| (a, v.atomic()))
                .collect::<Vec<_>>()
        }
    };
    let d = |list: &[(&str, u64)]| {
        list.iter()
            .map(|(a, v)| (a.to_string(), *v))
            .collect::<Vec<_>>()
    };
    assert_eq!(due(50_000).await, d(&[("bob", 300_000), ("dave", 80_000)]));
    assert_eq!(due(100_000).await, d(&[("bob", 300_000)]));
    let settings = |account: &str, threshold: u64| PayoutSettingsRecord {
        coin: XMR.into(),
        account: account.into(),
        threshold: amt(threshold),
        target_coin: XMR.into(),
        auto_exchange: false,
        updated_at: 0,
    };
    store
        .save_payout_settings(&settings("bob", 400_000))
        .await
        .unwrap();
    store
        .save_payout_settings(&settings("dave", 10_000))
        .await
        .unwrap();
    assert_eq!(due(50_000).await, d(&[("dave", 80_000)]));
    assert_eq!(due(100_000).await, d(&[("dave", 80_000)]));
    store
        .save_payout_settings(&settings("bob", 250_000))
        .await
        .unwrap();
    assert_eq!(
        due(1_000_000).await,
        d(&[("bob", 300_000), ("dave", 80_000)])
    );
    let saved = store.payout_settings(XMR, "bob").await.unwrap().unwrap();
    assert_eq!(
        (
            saved.threshold,
            saved.target_coin.as_str(),
            saved.auto_exchange
        ),
        (amt(250_000), XMR, false)
    );
    assert!(saved.updated_at > 0);
    assert_eq!(store.payout_settings(XMR, "carol").await.unwrap(), None);

    let report = assert_audit_clean(&store).await;
    assert_eq!(report.payouts_checked, 4);
}

// ---------------------------------------------------------------------------------
// Integrity
// ---------------------------------------------------------------------------------

/// The audit names each projection that no longer matches the ledger or the shares.
async fn check_audit_detects_tampering(store: Store) {
    store
        .insert_shares(&[
            share(XMR, "alice", "rig1", 100.0, T0),
            share(XMR, "bob", "rig1", 300.0, T0 + 1),
        ])
        .await
        .unwrap();
    credit_matured(&store, XMR, "alice", 1_000).await;
    let mut new = block(XMR, "audited", "pplns", 4_000, FeeRate::ZERO, "bob");
    new.last_share_id = store.last_share_id(XMR).await.unwrap();
    let id = store.insert_block(&new).await.unwrap();
    let rec = stored_block(&store, id).await;
    let split = compute_split(&store, &rec).await.unwrap();
    assert_eq!(split.credits, credits(&[("alice", 1_000), ("bob", 3_000)]));
    store
        .record_block_credits(&rec, &split, FEE_ACCOUNT)
        .await
        .unwrap();
    assert_audit_clean(&store).await;

    let exec = |sql: String| {
        let store = store.clone();
        async move {
            sqlx::query(&sql)
                .execute(store.pool())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    };
    let difference = |kind: &str, subject: &str, expected: i64, actual: i64| AuditDifference {
        kind: kind.into(),
        coin: XMR.into(),
        subject: subject.into(),
        expected: expected.to_string(),
        actual: actual.to_string(),
    };

    exec("UPDATE balances SET balance = balance + 1 WHERE account = 'alice'".into()).await;
    let report = run_audit(&store).await.unwrap();
    assert!(!report.ok);
    assert_eq!(
        report.differences,
        vec![difference("balance", "alice", 1_000, 1_001)]
    );
    exec("UPDATE balances SET balance = balance - 1 WHERE account = 'alice'".into()).await;
    assert_audit_clean(&store).await;

    exec(format!(
        "UPDATE block_credits SET amount = amount + 5 WHERE block_id = {id} AND account = 'bob'"
    ))
    .await;
    let report = run_audit(&store).await.unwrap();
    assert!(!report.ok);
    assert_eq!(
        report.differences,
        vec![
            difference("immature", "bob", 3_005, 3_000),
            difference("block_credits", &format!("block:{id}"), 4_000, 4_005),
            difference("block_round", &format!("block:{id}:bob"), 3_000, 3_005),
        ]
    );
}

/// Ledger entries cannot be edited or deleted, and a block credits an account once.
async fn check_ledger_is_append_only(store: Store) {
    let block_id = credit_matured(&store, XMR, "alice", 1_000).await;
    let before = ledger(&store).await;
    assert_eq!(
        before,
        vec![(
            "alice".to_string(),
            "block_reward".to_string(),
            1_000,
            Some(block_id),
            None
        )]
    );

    for sql in [
        "UPDATE ledger_entries SET delta = delta + 1",
        "UPDATE ledger_entries SET account = 'mallory'",
        "DELETE FROM ledger_entries",
    ] {
        let err = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let err = sqlx::query(
        "INSERT INTO ledger_entries (coin, account, kind, delta, block_id, created_at) \
         VALUES ('xmr', 'alice', 'block_reward', 1000, $1, 0)",
    )
    .bind(block_id)
    .execute(store.pool())
    .await;
    assert!(
        err.is_err(),
        "a second credit of the same block must be refused"
    );
    assert_eq!(ledger(&store).await, before);
    assert_audit_clean(&store).await;
}

/// A statement that forgets `updated_at` still moves it; one that sets it is obeyed.
async fn check_updated_at_follows_every_update(store: Store) {
    credit_matured(&store, XMR, "alice", 1_000).await;
    let payout = store
        .create_payout(XMR, "alice", amt(100), "manual", None)
        .await
        .unwrap();
    let updated_at = |sql: String| {
        let store = store.clone();
        async move { scalar(&store, &sql).await }
    };
    let balance_at =
        || updated_at("SELECT updated_at FROM balances WHERE account = 'alice'".into());
    let payout_at = || {
        updated_at(format!(
            "SELECT updated_at FROM payouts WHERE id = {}",
            payout.id
        ))
    };
    let exec = |sql: String| {
        let store = store.clone();
        async move {
            sqlx::query(&sql)
                .execute(store.pool())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    };

    exec("UPDATE balances SET updated_at = 1 WHERE account = 'alice'".into()).await;
    exec(format!(
        "UPDATE payouts SET updated_at = 1 WHERE id = {}",
        payout.id
    ))
    .await;
    assert_eq!(balance_at().await, 1);
    assert_eq!(payout_at().await, 1);

    let before = now_ms();
    exec("UPDATE balances SET paid = paid WHERE account = 'alice'".into()).await;
    exec(format!(
        "UPDATE payouts SET reason = 'checked' WHERE id = {}",
        payout.id
    ))
    .await;
    let after = now_ms();
    for (table, at) in [
        ("balances", balance_at().await),
        ("payouts", payout_at().await),
    ] {
        assert!(
            (before - 1_000..=after + 1_000).contains(&at),
            "{table}.updated_at = {at}, expected within [{before}, {after}]"
        );
    }
}

// ---------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------

/// Per-coin and per-worker activity over a window, and whether an address is known.
async fn check_activity_stats(store: Store) {
    store
        .insert_shares(&[
            share(XMR, "alice", "rig1", 100.0, T0 + 1_000),
            rejected(share(XMR, "alice", "rig1", 50.0, T0 + 2_000)),
            share(XMR, "alice", "rig2", 30.0, T0 - 10_000),
            share(XMR, "bob", "rig1", 200.0, T0 + 3_000),
            share(XMR, "carol", "rig1", 70.0, T0 - 20_000),
            share(LTC, "alice", "rig1", 5.0, T0 + 1_000),
        ])
        .await
        .unwrap();
    let at = |mut b: NewBlock, height: u64, found_at: i64| {
        b.height = height;
        b.found_at = found_at;
        b
    };
    store
        .insert_block(&at(
            block(XMR, "pending", "pplns", 1_000, fee(1.0), "alice"),
            100,
            T0 + 500,
        ))
        .await
        .unwrap();
    let orphan = store
        .insert_block(&at(
            block(XMR, "orphan", "pplns", 1_000, fee(1.0), "alice"),
            105,
            T0 + 600,
        ))
        .await
        .unwrap();
    store.orphan_block(orphan).await.unwrap();
    let solo_id = store
        .insert_block(&at(
            block(XMR, "solo", "solo", 1_000, fee(1.0), "bob"),
            101,
            T0 + 400,
        ))
        .await
        .unwrap();
    let rec = stored_block(&store, solo_id).await;
    let split = compute_split(&store, &rec).await.unwrap();
    store
        .record_block_credits(&rec, &split, FEE_ACCOUNT)
        .await
        .unwrap();
    store.confirm_block(solo_id, 60).await.unwrap();
    let p = store
        .create_payout(XMR, "bob", amt(600), "manual", None)
        .await
        .unwrap();
    store.mark_processing(&[p.id]).await.unwrap();
    store
        .complete_payouts(&[(p.id, amt(3))], "tx-stats")
        .await
        .unwrap();

    let xmr = store.coin_activity(XMR, T0).await.unwrap();
    assert_eq!(
        xmr,
        CoinActivity {
            miners: 2,
            workers: 2,
            accepted_difficulty: 300.0,
            blocks_pending: 1,
            blocks_confirmed: 1,
            blocks_orphaned: 1,
            last_block_height: Some(101),
            last_block_at: Some(T0 + 600),
            total_paid: amt(600),
        }
    );
    let wide = store.coin_activity(XMR, T0 - 60_000).await.unwrap();
    assert_eq!(
        (wide.miners, wide.workers, wide.accepted_difficulty),
        (3, 4, 400.0)
    );
    let ltc = store.coin_activity(LTC, T0).await.unwrap();
    assert_eq!(
        (
            ltc.miners,
            ltc.workers,
            ltc.accepted_difficulty,
            ltc.blocks_pending
        ),
        (1, 1, 5.0, 0)
    );
    assert_eq!(
        store.coin_activity("doge", T0).await.unwrap(),
        CoinActivity::default()
    );

    let workers: Vec<(String, String, f64, u64, u64, Option<i64>)> = store
        .worker_activity("alice", T0)
        .await
        .unwrap()
        .into_iter()
        .map(|w| {
            (
                w.coin,
                w.name,
                w.accepted_difficulty,
                w.valid_shares,
                w.invalid_shares,
                w.last_share_at,
            )
        })
        .collect();
    let w = |c: &str, n: &str, d: f64, v: u64, i: u64, at: i64| {
        (c.to_string(), n.to_string(), d, v, i, Some(at))
    };
    assert_eq!(
        workers,
        vec![
            w(LTC, "rig1", 5.0, 1, 0, T0 + 1_000),
            w(XMR, "rig1", 100.0, 1, 1, T0 + 2_000),
            w(XMR, "rig2", 0.0, 0, 0, T0 - 10_000),
        ]
    );
    assert!(store
        .worker_activity("nobody", T0)
        .await
        .unwrap()
        .is_empty());

    assert!(store.miner_known("alice").await.unwrap());
    assert!(store.miner_known("carol").await.unwrap());
    assert!(
        store.miner_known(FEE_ACCOUNT).await.unwrap(),
        "an account with money is known"
    );
    assert!(!store.miner_known("nobody").await.unwrap());
}

// ---------------------------------------------------------------------------------
// Operator actions
// ---------------------------------------------------------------------------------

/// Cancel takes only a pending payout and credits it back like a failure; retry
/// re-creates a failed payout once, from the balance, never beyond it.
async fn check_operator_cancel_and_retry(store: Store) {
    credit_matured(&store, XMR, "alice", 1_000_000).await;
    let p = store
        .create_payout(XMR, "alice", amt(400_000), "manual", None)
        .await
        .unwrap();
    assert_eq!(money(&store, XMR, "alice").await, (600_000, 0, 0));

    let cancelled = store.cancel_payout(p.id).await.unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Failed);
    assert_eq!(cancelled.reason.as_deref(), Some(CANCELLED_REASON));
    assert_eq!(money(&store, XMR, "alice").await, (1_000_000, 0, 0));
    assert!(is_conflict(store.cancel_payout(p.id).await), "twice");
    assert!(matches!(
        store.cancel_payout(9_999).await,
        Err(StoreError::NotFound(_))
    ));

    // Retry: a new pending payout of the same amount, debited again; only once.
    let retry = store.retry_payout(p.id).await.unwrap();
    assert_ne!(retry.id, p.id);
    assert_eq!(
        (
            retry.status,
            retry.amount,
            retry.account.as_str(),
            retry.origin.as_str()
        ),
        (PayoutStatus::Pending, amt(400_000), "alice", "manual")
    );
    assert_eq!(
        retry.reason.as_deref(),
        Some(format!("retry of payout {}", p.id).as_str())
    );
    assert_eq!(money(&store, XMR, "alice").await, (600_000, 0, 0));
    let again = store.retry_payout(p.id).await;
    assert!(is_conflict(again), "a failed payout is retried once");
    assert!(
        is_conflict(store.retry_payout(retry.id).await),
        "not failed"
    );

    // A processing payout may be on the network: never cancelled.
    assert_eq!(
        store.mark_processing(&[retry.id]).await.unwrap(),
        vec![retry.id]
    );
    match store.cancel_payout(retry.id).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("processing"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
    store.fail_payout(retry.id, "wallet refused").await.unwrap();
    assert_eq!(money(&store, XMR, "alice").await, (1_000_000, 0, 0));

    // The credited-back amount was paid out meanwhile: the retry is refused.
    store
        .create_payout(XMR, "alice", amt(900_000), "auto", None)
        .await
        .unwrap();
    assert!(matches!(
        store.retry_payout(retry.id).await,
        Err(StoreError::InsufficientBalance {
            available: 100_000,
            requested: 400_000
        })
    ));
    assert_audit_clean(&store).await;
}

/// Miners are listed per coin, newest first, with workers, window difficulty and
/// balance; the coin and activity filters and the cursor narrow the list.
async fn check_miner_listing(store: Store) {
    store
        .insert_shares(&[
            share(XMR, "alice", "rig1", 10.0, T0),
            share(XMR, "alice", "rig2", 5.0, T0 + 1_000),
            share(XMR, "bob", "rig1", 7.0, T0 - 600_000),
            share(LTC, "alice", "asic", 3.0, T0),
        ])
        .await
        .unwrap();
    credit_matured(&store, XMR, "alice", 1_000).await;
    let all = store
        .miners(
            &MinerQuery {
                limit: 10,
                ..Default::default()
            },
            T0 - 1,
        )
        .await
        .unwrap();
    let seen: Vec<(&str, &str, u64, f64, u64)> = all
        .iter()
        .map(|m| {
            (
                m.coin.as_str(),
                m.address.as_str(),
                m.workers,
                m.accepted_difficulty,
                m.balance.atomic(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.contains(&(XMR, "alice", 2, 15.0, 1_000)), "{seen:?}");
    assert!(seen.contains(&(XMR, "bob", 1, 0.0, 0)), "{seen:?}");
    assert!(seen.contains(&(LTC, "alice", 1, 3.0, 0)), "{seen:?}");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    let xmr_active = store
        .miners(
            &MinerQuery {
                coin: Some(XMR.into()),
                active_since: Some(T0 - 1),
                limit: 10,
                ..Default::default()
            },
            T0 - 1,
        )
        .await
        .unwrap();
    assert_eq!(
        xmr_active
            .iter()
            .map(|m| m.address.as_str())
            .collect::<Vec<_>>(),
        vec!["alice"]
    );
    let first = store
        .miners(
            &MinerQuery {
                limit: 1,
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
    let rest = store
        .miners(
            &MinerQuery {
                before_id: Some(first[0].id),
                limit: 10,
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 3);
}

fn proxy_share(
    miner: &str,
    difficulty: f64,
    verdict: UpstreamVerdict,
    network: Option<(f64, u64)>,
) -> NewProxyShare {
    NewProxyShare {
        coin: XMR.into(),
        miner: miner.into(),
        worker: "rig".into(),
        upstream: "stratum+tcp://upstream:3333".into(),
        difficulty,
        verdict,
        reason: None,
        network: network.map(|(d, r)| NetworkAtShare {
            difficulty: d,
            block_reward: amt(r),
        }),
        created_at: T0,
    }
}

/// Proxy mode: accepted shares are credited PPS exactly once, at the network data of
/// their time (or the first fresh data after, when they had none); rejected and lost
/// shares never; the audit recomputes every PPS entry from its shares.
async fn check_proxy_shares_credited_pps_once(store: Store) {
    use UpstreamVerdict::*;
    store
        .insert_proxy_shares(&[
            // 1000 / 1e6 of 600e9 = 600e6, fee 1 % = 6e6.
            proxy_share("alice", 1_000.0, Accepted, Some((1e6, 600_000_000_000))),
            proxy_share("alice", 1_000.0, Accepted, Some((2e6, 600_000_000_000))),
            proxy_share("bob", 500.0, Accepted, None),
            proxy_share("bob", 1_000.0, Rejected, Some((1e6, 600_000_000_000))),
            proxy_share("carol", 1_000.0, Lost, Some((1e6, 600_000_000_000))),
        ])
        .await
        .unwrap();
    // Without fresh data bob's share waits.
    let pass = store
        .credit_proxy_shares(XMR, fee(1.0), FEE_ACCOUNT, None, 100)
        .await
        .unwrap();
    assert_eq!((pass.shares, pass.waiting), (2, 1));
    assert_eq!(
        money(&store, XMR, "alice").await.0,
        594_000_000 + 297_000_000
    );
    assert_eq!(money(&store, XMR, "bob").await.0, 0);
    // Fresh data now: 500 / 1e6 of 400e9 = 200e6, fee 2e6.
    let fresh = NetworkAtShare {
        difficulty: 1e6,
        block_reward: amt(400_000_000_000),
    };
    let pass = store
        .credit_proxy_shares(XMR, fee(1.0), FEE_ACCOUNT, Some(fresh), 100)
        .await
        .unwrap();
    assert_eq!((pass.shares, pass.waiting), (1, 0));
    assert_eq!(pass.credited, amt(198_000_000));
    assert_eq!(money(&store, XMR, "bob").await.0, 198_000_000);
    assert_eq!(
        money(&store, XMR, "carol").await.0,
        0,
        "lost shares earn nothing"
    );
    assert_eq!(
        money(&store, XMR, FEE_ACCOUNT).await.0,
        6_000_000 + 3_000_000 + 2_000_000
    );
    // Nothing is credited twice.
    let again = store
        .credit_proxy_shares(XMR, fee(1.0), FEE_ACCOUNT, Some(fresh), 100)
        .await
        .unwrap();
    assert_eq!(again.shares, 0);
    let totals = store.proxy_totals(XMR, None).await.unwrap();
    assert_eq!(
        (
            totals.accepted,
            totals.rejected,
            totals.lost,
            totals.uncredited
        ),
        (3, 1, 1, 0)
    );
    assert_eq!(
        totals.credited,
        amt(594_000_000 + 297_000_000 + 198_000_000)
    );
    assert_eq!(totals.fees, amt(11_000_000));
    assert_audit_clean(&store).await;

    // A share's credit changed behind the ledger's back is found.
    sqlx::query(
        "UPDATE proxy_shares SET credit = credit + 1 WHERE miner = 'bob' AND status = 'accepted'",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let report = run_audit(&store).await.unwrap();
    assert!(!report.ok);
    assert!(
        report
            .differences
            .iter()
            .any(|d| d.kind == "pps_entry" && d.subject.ends_with(":bob")),
        "{:#?}",
        report.differences
    );
}
