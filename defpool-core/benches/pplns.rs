//! PPLNS over one million shares: weights plus the exact split.
//! Goal from the foundation issue: under 200 ms.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use defpool_core::payout::{pplns_weights, split_reward};
use defpool_core::{Amount, Difficulty, FeeRate};

fn pplns_one_million(c: &mut Criterion) {
    let miners: Vec<String> = (0..5_000).map(|i| format!("miner-{i:05}")).collect();
    // Deterministic spread of share difficulties and owners.
    let shares: Vec<(usize, f64)> = (0..1_000_000u64)
        .map(|i| {
            (
                (i * 7919 % 5_000) as usize,
                1_000.0 + (i * 31 % 9_000) as f64,
            )
        })
        .collect();
    let total: f64 = shares.iter().map(|(_, d)| d).sum();
    // Window covering ~all shares so the whole million is walked.
    let window = Difficulty::new(total).unwrap().work();
    let fee = FeeRate::from_percent(1.0).unwrap();
    let mut group = c.benchmark_group("pplns");
    group.sample_size(10);
    group.bench_function("weights_and_split_1m_shares_5k_miners", |b| {
        b.iter_batched(
            || (),
            |_| {
                let weights = pplns_weights(
                    shares
                        .iter()
                        .map(|(m, d)| (miners[*m].as_str(), Difficulty::new(*d).unwrap().work())),
                    window,
                );
                split_reward(Amount::from_atomic(600_000_000_000), fee, &weights).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, pplns_one_million);
criterion_main!(benches);
