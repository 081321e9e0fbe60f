//! Bitcoin-family share validation per core: the pure path a session runs for every
//! `mining.submit`, against raw hashing of an 80-byte header.
//!
//! The path: `check_submit` (decode and bound the fields) → duplicate-key lookup in
//! the job's set → `BitcoinJob::header` (coinbase txid from coinb1 ‖ en1 ‖ en2 ‖
//! coinb2, merkle root up the branch) → proof-of-work hash (sha256d or scrypt) → the
//! share target for the session's difficulty → compare with the share and network
//! targets. Every submit has its own extranonce2 and nonce, as an ASIC's shares do,
//! so nothing carries over from one share to the next.
//!
//! Two templates: Bitcoin mainnet block 840,000's shape (bits 17034219, 3,050
//! transactions, so a 12-entry merkle branch; the txids are synthetic, which changes
//! nothing in the cost) and a lone coinbase (empty branch, as on an idle regtest).
//! Goal from the issue: sha256d validation within 2× of raw header hashing.
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall
//! time: on a shared machine, time the thread spends preempted by other work does not
//! count, so "per second" reads as per second of one core.

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::Arc;

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use defpool_core::coin::{Network, BTC};
use defpool_core::job::bitcoin::template::GbtTransaction;
use defpool_core::job::bitcoin::{
    script_pubkey_for, BitcoinJob, GetBlockTemplate, JobParams, Template,
};
use defpool_core::pow::bitcoin::{sha256d, PowAlgorithm, Target, HEADER_LEN};
use defpool_core::share::bitcoin::{
    check_submit, DuplicateKey, NtimeWindow, SubmitRules, DEFAULT_MAX_NTIME_AHEAD_SECS,
};
use defpool_core::stratum::bitcoin::SubmitParams;
use defpool_core::Difficulty;

const EXTRANONCE1: [u8; 4] = [0x00, 0x00, 0x12, 0x34];
const CURTIME: u32 = 1_713_571_767;
/// Submits generated up front and cycled through; the duplicate set is emptied at
/// each wrap (a job rarely holds more shares than this per session).
const SUBMITS: usize = 1 << 14;

/// CPU time of the calling thread.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu_now().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Durations in ns, like wall time.
        const WALL: &WallTime = &WallTime;
        WALL.formatter()
    }
}

/// A template shaped like mainnet block 840,000 with `transactions` transactions.
fn template(transactions: usize) -> Template {
    let gbt = GetBlockTemplate {
        version: 0x2000_0000,
        previousblockhash: "0000000000000000000172014ba58d66455762add0512355ad651207918494ab"
            .into(),
        transactions: (0..transactions as u64)
            .map(|i| GbtTransaction {
                data: "00".into(),
                txid: Some(hex::encode(sha256d(&i.to_le_bytes()))),
                hash: None,
                fee: None,
                weight: None,
            })
            .collect(),
        coinbasevalue: 312_500_000 + 37_626_516_985,
        bits: "17034219".into(),
        curtime: u64::from(CURTIME),
        mintime: Some(u64::from(CURTIME) - 3600),
        height: 840_000,
        default_witness_commitment: Some(format!("6a24aa21a9ed{}", "ab".repeat(32))),
        rules: vec!["csv".into(), "!segwit".into(), "taproot".into()],
        mweb: None,
        target: None,
        longpollid: None,
    };
    Template::from_gbt(&gbt).unwrap()
}

fn job(transactions: usize) -> BitcoinJob {
    let params = JobParams {
        payout_script: script_pubkey_for(
            &BTC,
            Network::Mainnet,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        )
        .unwrap(),
        pool_tag: b"/DefPool/".to_vec(),
        extranonce1_len: EXTRANONCE1.len(),
        extranonce2_len: 4,
    };
    BitcoinJob::new(Arc::new(template(transactions)), &params).unwrap()
}

fn submits() -> Vec<SubmitParams> {
    (0..SUBMITS as u32)
        .map(|i| SubmitParams {
            worker: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4.rig1".into(),
            job_id: "1a".into(),
            extranonce2: format!("{:08x}", i.wrapping_mul(0x9e37_79b9)),
            ntime: format!("{:08x}", CURTIME + i % 7),
            nonce: format!("{:08x}", i.wrapping_mul(0x85eb_ca6b)),
            version_bits: None,
        })
        .collect()
}

/// One share through the session's pure path; true when it met the share target.
struct Validator {
    job: BitcoinJob,
    algorithm: PowAlgorithm,
    rules: SubmitRules,
    difficulty: Difficulty,
    seen: HashSet<DuplicateKey>,
    submits: Vec<SubmitParams>,
    next: usize,
}

impl Validator {
    fn new(transactions: usize, algorithm: PowAlgorithm) -> Validator {
        let job = job(transactions);
        let template = job.template();
        let rules = SubmitRules {
            extranonce2_len: job.extranonce2_len(),
            ntime: NtimeWindow::for_job(
                template.mintime,
                template.curtime,
                DEFAULT_MAX_NTIME_AHEAD_SECS,
            ),
            version_mask: None,
        };
        Validator {
            job,
            algorithm,
            rules,
            // Not a power of two, so the target division runs its full length.
            difficulty: Difficulty::new(65_536.0 * 1.37).unwrap(),
            seen: HashSet::with_capacity(SUBMITS),
            submits: submits(),
            next: 0,
        }
    }

    fn validate(&mut self) -> bool {
        if self.next == self.submits.len() {
            self.next = 0;
            self.seen.clear();
        }
        let submit = &self.submits[self.next];
        self.next += 1;
        let checked = check_submit(submit, self.job.work().version, &self.rules).unwrap();
        assert!(self.seen.insert(checked.duplicate_key()), "duplicate");
        let header = self
            .job
            .header(
                &EXTRANONCE1,
                checked.extranonce2.as_bytes(),
                checked.version,
                checked.ntime,
                checked.nonce,
            )
            .unwrap();
        let hash = self.algorithm.hash_header(&header.to_bytes());
        let share_target = self.algorithm.target_for_difficulty(self.difficulty);
        let share = share_target.is_met_by(&hash);
        share && self.job.network_target().is_met_by(&hash)
    }
}

fn headers() -> Vec<[u8; HEADER_LEN]> {
    let header = job(0).header(&EXTRANONCE1, &[0; 4], 0x2000_0000, CURTIME, 0);
    let bytes = header.unwrap().to_bytes();
    (0..SUBMITS as u32)
        .map(|i| {
            let mut h = bytes;
            h[76..80].copy_from_slice(&i.wrapping_mul(0x85eb_ca6b).to_le_bytes());
            h
        })
        .collect()
}

fn sha256d_shares(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("sha256d");
    group.throughput(Throughput::Elements(1));
    let raw = headers();
    let mut i = 0;
    group.bench_function("raw_header_hash", |b| {
        b.iter(|| {
            i = (i + 1) % raw.len();
            PowAlgorithm::Sha256d.hash_header(black_box(&raw[i]))
        })
    });
    for (name, txs) in [("validate_branch12", 3050), ("validate_branch0", 0)] {
        let mut v = Validator::new(txs, PowAlgorithm::Sha256d);
        group.bench_function(name, |b| b.iter(|| v.validate()));
    }
    group.finish();

    // The pieces, to see where validation time goes.
    let mut group = c.benchmark_group("sha256d_parts");
    group.throughput(Throughput::Elements(1));
    let subs = submits();
    let v = Validator::new(3050, PowAlgorithm::Sha256d);
    let mut i = 0;
    group.bench_function("check_submit", |b| {
        b.iter(|| {
            i = (i + 1) % subs.len();
            check_submit(black_box(&subs[i]), 0x2000_0000, &v.rules).unwrap()
        })
    });
    for (name, txs) in [("header_branch12", 3050), ("header_branch0", 0)] {
        let job = job(txs);
        let mut n = 0u32;
        group.bench_function(name, |b| {
            b.iter(|| {
                n = n.wrapping_add(1);
                job.header(&EXTRANONCE1, &n.to_le_bytes(), 0x2000_0000, CURTIME, n)
                    .unwrap()
            })
        });
    }
    let mut d = 1.37;
    group.bench_function("target_for_difficulty", |b| {
        b.iter(|| {
            d += 1.0;
            PowAlgorithm::Sha256d.target_for_difficulty(Difficulty::new(black_box(d)).unwrap())
        })
    });
    let target: Target = PowAlgorithm::Sha256d.target_for_difficulty(v.difficulty);
    let mut i = 0;
    group.bench_function("target_compare", |b| {
        b.iter(|| {
            i = (i + 1) % raw.len();
            target.is_met_by(black_box(&raw[i][..32].try_into().unwrap()))
        })
    });
    group.finish();
}

fn scrypt_shares(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("scrypt");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    let raw = headers();
    let mut i = 0;
    group.bench_function("raw_header_hash", |b| {
        b.iter(|| {
            i = (i + 1) % raw.len();
            PowAlgorithm::Scrypt.hash_header(black_box(&raw[i]))
        })
    });
    let mut v = Validator::new(3050, PowAlgorithm::Scrypt);
    group.bench_function("validate_branch12", |b| b.iter(|| v.validate()));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = sha256d_shares, scrypt_shares
}
criterion_main!(benches);
