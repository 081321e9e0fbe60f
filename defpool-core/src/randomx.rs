//! RandomX hashing (Monero's proof of work) through the system's `librandomx`
//! (Debian's `librandomx-dev`, RandomX 1.1.10).
//!
//! The C library lets one cache (light mode, 256 MiB) or one dataset (full mode,
//! 2 GiB) serve any number of VMs, one per thread. [`RandomxKey`] owns that memory for
//! one seed and is shared behind an `Arc`; each verifier thread owns a [`RandomxVm`]
//! (2 MiB scratchpad plus JIT code) that keeps its key alive. Light mode verifies at
//! ~40 H/s per core after a 0.5 s cache init; full mode hashes ~6× faster but takes
//! ~24 s (two threads) and 2.4 GB to build.
//!
//! This is the one module of the crate that is not pure Rust: it is behind the
//! `randomx` feature and links `librandomx` (a shared library that brings its own
//! `libstdc++` dependency).

use std::ffi::{c_int, c_ulong, c_void};
use std::ptr;
use std::sync::Arc;

mod ffi {
    use std::ffi::{c_int, c_ulong, c_void};

    /// Opaque `randomx_cache`.
    #[repr(C)]
    pub struct Cache {
        _opaque: [u8; 0],
    }
    /// Opaque `randomx_dataset`.
    #[repr(C)]
    pub struct Dataset {
        _opaque: [u8; 0],
    }
    /// Opaque `randomx_vm`.
    #[repr(C)]
    pub struct Vm {
        _opaque: [u8; 0],
    }

    /// `randomx_flags` is a C enum: passed as an `int`.
    pub const FLAG_FULL_MEM: c_int = 4;

    #[link(name = "randomx")]
    extern "C" {
        pub fn randomx_get_flags() -> c_int;
        pub fn randomx_alloc_cache(flags: c_int) -> *mut Cache;
        pub fn randomx_init_cache(cache: *mut Cache, key: *const c_void, key_size: usize);
        pub fn randomx_release_cache(cache: *mut Cache);
        pub fn randomx_alloc_dataset(flags: c_int) -> *mut Dataset;
        pub fn randomx_dataset_item_count() -> c_ulong;
        pub fn randomx_init_dataset(
            dataset: *mut Dataset,
            cache: *mut Cache,
            start_item: c_ulong,
            item_count: c_ulong,
        );
        pub fn randomx_release_dataset(dataset: *mut Dataset);
        pub fn randomx_create_vm(flags: c_int, cache: *mut Cache, dataset: *mut Dataset)
            -> *mut Vm;
        pub fn randomx_vm_set_cache(machine: *mut Vm, cache: *mut Cache);
        pub fn randomx_vm_set_dataset(machine: *mut Vm, dataset: *mut Dataset);
        pub fn randomx_destroy_vm(machine: *mut Vm);
        pub fn randomx_calculate_hash(
            machine: *mut Vm,
            input: *const c_void,
            input_size: usize,
            output: *mut c_void,
        );
    }
}

/// How a key hashes: from the cache alone, or from the full dataset built from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RandomxMode {
    /// 256 MiB cache, cheap to build, ~40 H/s per core: verifying shares.
    Light,
    /// 2 GiB dataset, ~24 s to build, ~250 H/s per core: heavy verification loads.
    Full,
}

/// Why RandomX memory or a VM could not be set up (all allocation failures in practice).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RandomxError {
    #[error("could not allocate the RandomX cache (256 MiB)")]
    CacheAlloc,
    #[error("could not allocate the RandomX dataset (2 GiB)")]
    DatasetAlloc,
    #[error("could not create a RandomX VM (scratchpad or JIT memory)")]
    VmCreate,
    #[error("a {vm:?}-mode VM cannot switch to a {key:?}-mode key")]
    ModeMismatch { vm: RandomxMode, key: RandomxMode },
}

/// The cache (light mode) or dataset (full mode) for one seed, shared by every VM
/// hashing with that seed.
pub struct RandomxKey {
    seed: Vec<u8>,
    mode: RandomxMode,
    /// Flags VMs on this key are created with: the machine's recommended flags (JIT,
    /// hardware AES, Argon2 variant) plus `FULL_MEM` in full mode.
    vm_flags: c_int,
    /// Owned; null in full mode once the dataset is built (full VMs never read it).
    cache: *mut ffi::Cache,
    /// Owned; null in light mode.
    dataset: *mut ffi::Dataset,
}

// SAFETY: after `RandomxKey::new` returns, the cache and dataset are only read, by VMs
// (librandomx is designed for one cache/dataset read by many VMs on many threads), and
// they are freed only in `Drop`, which runs once no VM holds the `Arc`.
unsafe impl Send for RandomxKey {}
unsafe impl Sync for RandomxKey {}

impl RandomxKey {
    /// Builds the cache for `seed` (Monero's `seed_hash`) and, in full mode, the dataset,
    /// its initialisation split over `init_threads` threads (0 counts as 1).
    pub fn new(
        seed: &[u8],
        mode: RandomxMode,
        init_threads: usize,
    ) -> Result<Arc<Self>, RandomxError> {
        // SAFETY: no arguments; returns a flag set.
        let flags = unsafe { ffi::randomx_get_flags() };
        // SAFETY: `flags` comes from the library itself.
        let cache = unsafe { ffi::randomx_alloc_cache(flags) };
        if cache.is_null() {
            return Err(RandomxError::CacheAlloc);
        }
        // Owned from here on, so every early return frees what was allocated.
        let mut key = RandomxKey {
            seed: seed.to_vec(),
            mode,
            vm_flags: flags,
            cache,
            dataset: ptr::null_mut(),
        };
        // SAFETY: `cache` is a live allocation; the seed pointer is valid for its length
        // (never null, even for an empty slice).
        unsafe {
            ffi::randomx_init_cache(
                key.cache,
                key.seed.as_ptr().cast::<c_void>(),
                key.seed.len(),
            )
        };

        if mode == RandomxMode::Full {
            // SAFETY: as for the cache; only LARGE_PAGES matters here and it is not set.
            let dataset = unsafe { ffi::randomx_alloc_dataset(flags) };
            if dataset.is_null() {
                return Err(RandomxError::DatasetAlloc);
            }
            key.dataset = dataset;
            init_dataset(key.dataset, key.cache, init_threads);
            // SAFETY: the cache is ours and no VM was created from it.
            unsafe { ffi::randomx_release_cache(key.cache) };
            key.cache = ptr::null_mut();
            key.vm_flags |= ffi::FLAG_FULL_MEM;
        }
        Ok(Arc::new(key))
    }

    pub fn seed(&self) -> &[u8] {
        &self.seed
    }

    pub fn mode(&self) -> RandomxMode {
        self.mode
    }
}

impl std::fmt::Debug for RandomxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomxKey")
            .field("seed", &hex::encode(&self.seed))
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Drop for RandomxKey {
    fn drop(&mut self) {
        // SAFETY: both are owned, allocated by librandomx, and freed only here; no VM
        // outlives the key because every VM holds an `Arc` to it.
        unsafe {
            if !self.dataset.is_null() {
                ffi::randomx_release_dataset(self.dataset);
            }
            if !self.cache.is_null() {
                ffi::randomx_release_cache(self.cache);
            }
        }
    }
}

/// A pointer handed to the dataset-init threads; they write disjoint item ranges.
struct SharedPtr<T>(*mut T);
// SAFETY: only used inside `init_dataset`'s scope, where the pointees outlive the threads
// and librandomx allows concurrent init of non-overlapping ranges from one cache.
unsafe impl<T> Send for SharedPtr<T> {}
unsafe impl<T> Sync for SharedPtr<T> {}
impl<T> SharedPtr<T> {
    /// Through a method, so closures capture the wrapper (Send) and not the raw field.
    fn get(&self) -> *mut T {
        self.0
    }
}

fn init_dataset(dataset: *mut ffi::Dataset, cache: *mut ffi::Cache, threads: usize) {
    // SAFETY: no arguments.
    let items = unsafe { ffi::randomx_dataset_item_count() };
    let threads = (threads.max(1) as c_ulong).min(items.max(1));
    let dataset = SharedPtr(dataset);
    let cache = SharedPtr(cache);
    let init = |start: c_ulong, count: c_ulong| {
        // SAFETY: the dataset and initialised cache are live for the whole scope, and
        // the ranges given to the threads do not overlap.
        unsafe { ffi::randomx_init_dataset(dataset.get(), cache.get(), start, count) }
    };
    std::thread::scope(|scope| {
        let per_thread = items / threads;
        let mut start = 0;
        for i in 0..threads {
            // The last thread also takes the remainder.
            let count = if i + 1 == threads {
                items - start
            } else {
                per_thread
            };
            let init = &init;
            let spawned = std::thread::Builder::new()
                .name(format!("randomx-init-{i}"))
                .spawn_scoped(scope, move || init(start, count));
            if spawned.is_err() {
                // No thread to be had: do this share here rather than fail.
                init(start, count);
            }
            start += count;
        }
    });
}

/// One RandomX virtual machine: hashes with its key's cache or dataset. Create one per
/// thread; it can move between threads but not be shared.
pub struct RandomxVm {
    vm: *mut ffi::Vm,
    /// Keeps the cache/dataset the VM reads alive.
    key: Arc<RandomxKey>,
}

// SAFETY: the VM's own state (scratchpad, JIT code, registers) is used by one `&mut self`
// at a time; what it shares with other VMs is the key, which is `Sync`. Not `Sync`
// itself (the raw pointer keeps it so): hashing needs exclusive access.
unsafe impl Send for RandomxVm {}

impl RandomxVm {
    pub fn new(key: Arc<RandomxKey>) -> Result<Self, RandomxError> {
        // SAFETY: the cache (light) or dataset (full) matches the flags and is
        // initialised; the key outlives the VM through the `Arc` stored with it.
        let vm = unsafe { ffi::randomx_create_vm(key.vm_flags, key.cache, key.dataset) };
        if vm.is_null() {
            return Err(RandomxError::VmCreate);
        }
        Ok(RandomxVm { vm, key })
    }

    /// The RandomX hash of `input` (for Monero, the hashing blob with the nonce in it).
    pub fn hash(&mut self, input: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: the VM is live and used by this `&mut self` only; input is valid for
        // its length (never null); the output has the 32 bytes RANDOMX_HASH_SIZE needs.
        unsafe {
            ffi::randomx_calculate_hash(
                self.vm,
                input.as_ptr().cast::<c_void>(),
                input.len(),
                out.as_mut_ptr().cast::<c_void>(),
            )
        };
        out
    }

    pub fn key(&self) -> &Arc<RandomxKey> {
        &self.key
    }

    /// Switches the VM to another key of the same mode (Monero changes seed every 2048
    /// blocks), keeping its scratchpad and JIT buffers.
    ///
    /// A key with the same seed changes nothing and the current key is kept: librandomx
    /// skips a cache switch when the seeds match, so the VM would go on reading the old
    /// cache, which must then stay alive.
    pub fn set_key(&mut self, key: Arc<RandomxKey>) -> Result<(), RandomxError> {
        if key.mode != self.key.mode {
            return Err(RandomxError::ModeMismatch {
                vm: self.key.mode,
                key: key.mode,
            });
        }
        if key.seed == self.key.seed {
            return Ok(());
        }
        // SAFETY: the VM is live; the new key's memory is initialised and of the VM's
        // mode, and is kept alive by storing its `Arc` below.
        unsafe {
            match key.mode {
                RandomxMode::Light => ffi::randomx_vm_set_cache(self.vm, key.cache),
                RandomxMode::Full => ffi::randomx_vm_set_dataset(self.vm, key.dataset),
            }
        }
        self.key = key;
        Ok(())
    }
}

impl std::fmt::Debug for RandomxVm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomxVm")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Drop for RandomxVm {
    fn drop(&mut self) {
        // SAFETY: created by `randomx_create_vm` and destroyed only here, before the
        // `key` field (and with it possibly the cache/dataset) is dropped.
        unsafe { ffi::randomx_destroy_vm(self.vm) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pow::check_hash;
    use std::collections::HashMap;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn key_is_shareable_and_vm_is_movable() {
        assert_send_sync::<RandomxKey>();
        assert_send_sync::<Arc<RandomxKey>>();
        assert_send::<RandomxVm>();
    }

    #[test]
    fn light_mode_matches_the_reference_vector() {
        // RandomX's own test vector (key "test key 000", input "This is a test").
        let key = RandomxKey::new(b"test key 000", RandomxMode::Light, 1).unwrap();
        assert_eq!(key.seed(), b"test key 000");
        assert_eq!(key.mode(), RandomxMode::Light);
        let mut vm = RandomxVm::new(key).unwrap();
        assert_eq!(
            hex::encode(vm.hash(b"This is a test")),
            "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f"
        );
    }

    #[test]
    fn vms_on_several_threads_share_one_key() {
        let key = RandomxKey::new(b"test key 000", RandomxMode::Light, 1).unwrap();
        let hashes: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let key = Arc::clone(&key);
                    s.spawn(move || RandomxVm::new(key).unwrap().hash(b"This is a test"))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(hashes[0], hashes[1]);
        assert_eq!(
            hex::encode(hashes[0]),
            "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f"
        );
    }

    #[test]
    fn set_key_switches_seed_and_refuses_other_modes() {
        let a = RandomxKey::new(b"test key 000", RandomxMode::Light, 1).unwrap();
        let b = RandomxKey::new(b"another seed", RandomxMode::Light, 1).unwrap();
        let mut on_b = RandomxVm::new(Arc::clone(&b)).unwrap();
        let from_b = on_b.hash(b"This is a test");

        let mut vm = RandomxVm::new(Arc::clone(&a)).unwrap();
        vm.set_key(Arc::clone(&b)).unwrap();
        assert_eq!(vm.key().seed(), b"another seed");
        assert_eq!(vm.hash(b"This is a test"), from_b);
        // The first key can go: the VM no longer reads it.
        drop(a);
        assert_eq!(vm.hash(b"This is a test"), from_b);

        // Same seed, another key object: the VM keeps the key it reads.
        let b_again = RandomxKey::new(b"another seed", RandomxMode::Light, 1).unwrap();
        vm.set_key(Arc::clone(&b_again)).unwrap();
        assert!(Arc::ptr_eq(vm.key(), &b));
        drop(b_again);
        assert_eq!(vm.hash(b"This is a test"), from_b);
    }

    /// Real xmrig 6.26 shares (tests/fixtures/xmrig_session_diff256.jsonl, captured against a
    /// regtest monerod): for every submit, RandomX(seed_hash, job blob with the submitted
    /// nonce at the header's nonce offset) is the submitted `result`, and it meets the
    /// job's difficulty (target "ffffff00" = 256).
    #[test]
    fn xmrig_diff256_shares_verify() {
        // A copy of shared/samples/xmrig_session_diff256.jsonl kept with the crate.
        let text = include_str!("../tests/fixtures/xmrig_session_diff256.jsonl");

        struct Job {
            blob: Vec<u8>,
            seed: Vec<u8>,
            difficulty: u64,
        }
        let mut jobs: HashMap<String, Job> = HashMap::new();
        let mut keys: HashMap<Vec<u8>, Arc<RandomxKey>> = HashMap::new();
        let mut checked = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            let msg = &entry["msg"];
            // Jobs come in the login reply (result.job) and in "job" notifications.
            let job = if !msg["result"]["job"].is_null() {
                Some(&msg["result"]["job"])
            } else if msg["method"] == "job" {
                Some(&msg["params"])
            } else {
                None
            };
            if let Some(job) = job {
                let target = job["target"].as_str().unwrap();
                jobs.insert(
                    job["job_id"].as_str().unwrap().to_string(),
                    Job {
                        blob: hex::decode(job["blob"].as_str().unwrap()).unwrap(),
                        seed: hex::decode(job["seed_hash"].as_str().unwrap()).unwrap(),
                        difficulty: crate::pow::difficulty_from_job_target(target).unwrap(),
                    },
                );
            }
            if entry["dir"] == "recv" && msg["method"] == "submit" {
                let params = &msg["params"];
                let job = &jobs[params["job_id"].as_str().unwrap()];
                assert_eq!(job.difficulty, 256);
                let nonce = hex::decode(params["nonce"].as_str().unwrap()).unwrap();
                let result: [u8; 32] = hex::decode(params["result"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();

                let at = crate::job::monero::blob_nonce_offset(&job.blob).unwrap();
                assert_eq!(at, 39);
                let mut work = job.blob.clone();
                work[at..at + 4].copy_from_slice(&nonce);
                let key = keys
                    .entry(job.seed.clone())
                    .or_insert_with(|| RandomxKey::new(&job.seed, RandomxMode::Light, 1).unwrap());
                let mut vm = RandomxVm::new(Arc::clone(key)).unwrap();
                assert_eq!(hex::encode(vm.hash(&work)), hex::encode(result), "{line}");
                assert!(check_hash(&result, u128::from(job.difficulty)), "{line}");
                checked += 1;
            }
        }
        assert!(checked >= 5, "only {checked} submits found in the fixture");
    }

    #[test]
    #[ignore = "full mode allocates 2.4 GB and takes ~24 s to build the dataset"]
    fn full_mode_matches_the_reference_vector() {
        let key = RandomxKey::new(b"test key 000", RandomxMode::Full, 2).unwrap();
        let mut vm = RandomxVm::new(Arc::clone(&key)).unwrap();
        assert_eq!(
            hex::encode(vm.hash(b"This is a test")),
            "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f"
        );
        let light = RandomxKey::new(b"test key 000", RandomxMode::Light, 1).unwrap();
        assert_eq!(
            vm.set_key(light),
            Err(RandomxError::ModeMismatch {
                vm: RandomxMode::Full,
                key: RandomxMode::Light
            })
        );
    }
}
