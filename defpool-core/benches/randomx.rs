//! RandomX share verification throughput: light mode (shared 256 MiB cache) per core,
//! and on every core sharing one cache; full mode (2.3 GiB dataset, ~30 s to build)
//! when DEFPOOL_BENCH_RANDOMX_FULL=1.

use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use defpool_core::randomx::{RandomxKey, RandomxMode, RandomxVm};

/// A real regtest hashing blob (shared/samples/xmr_gbt.json).
const BLOB: &str = "101089da9bd806b5c35a7f01073009db768affde5365634b51f39d4b560ede90de26c3478bb17600000000b4fc0786be1b0faa3b8708c74e63f97e573419fb5ff9a69be474093ac032064d01";

fn bench_mode(c: &mut Criterion, mode: RandomxMode, name: &str) {
    let seed = [0x42u8; 32];
    let key = RandomxKey::new(
        &seed,
        mode,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    )
    .expect("randomx key");
    let blob = hex::decode(BLOB).expect("hex");
    let mut group = c.benchmark_group(format!("randomx_{name}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    let mut vm = RandomxVm::new(key.clone()).expect("vm");
    let mut nonce = 0u32;
    group.bench_function("verify_one_share_one_core", |b| {
        b.iter(|| {
            let mut input = blob.clone();
            input[39..43].copy_from_slice(&nonce.to_le_bytes());
            nonce = nonce.wrapping_add(1);
            vm.hash(&input)
        })
    });
    group.finish();
    all_cores(&key, &blob, name);
}

/// Shares per second with one VM per core on one shared key (printed; criterion
/// measures single-threaded work).
fn all_cores(key: &Arc<RandomxKey>, blob: &[u8], name: &str) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let per_thread = 200u32;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let key = key.clone();
            s.spawn(move || {
                let mut vm = RandomxVm::new(key).expect("vm");
                let mut input = blob.to_vec();
                for i in 0..per_thread {
                    input[39..43].copy_from_slice(&(i + (t as u32) * per_thread).to_le_bytes());
                    criterion::black_box(vm.hash(&input));
                }
            });
        }
    });
    let rate = f64::from(per_thread) * threads as f64 / started.elapsed().as_secs_f64();
    println!("randomx_{name}/all_cores: {rate:.1} shares/s on {threads} threads sharing one key");
}

fn randomx(c: &mut Criterion) {
    bench_mode(c, RandomxMode::Light, "light");
    if std::env::var("DEFPOOL_BENCH_RANDOMX_FULL").as_deref() == Ok("1") {
        bench_mode(c, RandomxMode::Full, "full");
    }
}

criterion_group!(benches, randomx);
criterion_main!(benches);
