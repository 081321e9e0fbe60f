//! RandomX share verification on dedicated threads.
//!
//! A RandomX hash costs ~25 ms in light mode, so it never runs on the async runtime.
//! Each worker thread keeps one VM; all VMs of a seed share one cache (or dataset),
//! which is built once per seed change on a blocking thread.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex};

use defpool_core::randomx::{RandomxKey, RandomxMode, RandomxVm};
use tokio::sync::oneshot;

/// How many seeds' keys are kept (the current and the previous epoch).
const KEPT_KEYS: usize = 2;

struct Task {
    key: Arc<RandomxKey>,
    input: Vec<u8>,
    reply: oneshot::Sender<[u8; 32]>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("RandomX key for seed {0} failed: {1}")]
    Key(String, String),
    #[error("the verifier has stopped")]
    Stopped,
}

pub struct RandomxVerifier {
    tx: mpsc::SyncSender<Task>,
    mode: RandomxMode,
    keys: Mutex<VecDeque<(Vec<u8>, Arc<RandomxKey>)>>,
    /// Serialises key creation so two sessions never build the same cache twice.
    building: tokio::sync::Mutex<()>,
}

impl RandomxVerifier {
    pub fn start(threads: usize, mode: RandomxMode) -> Arc<Self> {
        let threads = if threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            threads
        };
        let (tx, rx) = mpsc::sync_channel::<Task>(threads * 64);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("randomx-{i}"))
                .spawn(move || worker(rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a RandomX verifier thread");
            }
        }
        Arc::new(RandomxVerifier {
            tx,
            mode,
            keys: Mutex::new(VecDeque::new()),
            building: tokio::sync::Mutex::new(()),
        })
    }

    /// The key for `seed`, built on a blocking thread the first time it is needed.
    pub async fn key(&self, seed: &[u8]) -> Result<Arc<RandomxKey>, VerifyError> {
        if let Some(k) = self.cached(seed) {
            return Ok(k);
        }
        let _guard = self.building.lock().await;
        if let Some(k) = self.cached(seed) {
            return Ok(k);
        }
        let owned = seed.to_vec();
        let mode = self.mode;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let started = std::time::Instant::now();
        let key = tokio::task::spawn_blocking(move || RandomxKey::new(&owned, mode, threads))
            .await
            .map_err(|e| VerifyError::Key(hex::encode(seed), e.to_string()))?
            .map_err(|e| VerifyError::Key(hex::encode(seed), e.to_string()))?;
        tracing::info!(seed = %hex::encode(seed), elapsed = ?started.elapsed(), "RandomX key ready");
        if let Ok(mut keys) = self.keys.lock() {
            keys.push_back((seed.to_vec(), key.clone()));
            while keys.len() > KEPT_KEYS {
                keys.pop_front();
            }
        }
        Ok(key)
    }

    fn cached(&self, seed: &[u8]) -> Option<Arc<RandomxKey>> {
        self.keys
            .lock()
            .ok()?
            .iter()
            .find(|(s, _)| s == seed)
            .map(|(_, k)| k.clone())
    }

    /// RandomX(seed, input).
    pub async fn hash(&self, seed: &[u8], input: Vec<u8>) -> Result<[u8; 32], VerifyError> {
        let key = self.key(seed).await?;
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.clone();
        // The queue is bounded; waiting for room must not block the runtime.
        tokio::task::spawn_blocking(move || tx.send(Task { key, input, reply }))
            .await
            .map_err(|_| VerifyError::Stopped)?
            .map_err(|_| VerifyError::Stopped)?;
        rx.await.map_err(|_| VerifyError::Stopped)
    }
}

fn worker(rx: Arc<Mutex<mpsc::Receiver<Task>>>) {
    let mut vm: Option<RandomxVm> = None;
    loop {
        let task = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(t) => t,
                Err(_) => return,
            }
        };
        let reuse = vm.as_ref().is_some_and(|v| Arc::ptr_eq(v.key(), &task.key));
        if !reuse {
            match RandomxVm::new(task.key.clone()) {
                Ok(v) => vm = Some(v),
                Err(e) => {
                    tracing::error!(error = %e, "cannot create a RandomX VM");
                    continue;
                }
            }
        }
        if let Some(v) = vm.as_mut() {
            let _ = task.reply.send(v.hash(&task.input));
        }
    }
}
