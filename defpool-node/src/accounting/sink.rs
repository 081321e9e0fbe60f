//! The share sink: a bounded channel in front of a batching writer.
//!
//! Sessions hand shares over without touching the database; the writer flushes a
//! batch when it is full or when the oldest share has waited `flush_interval`. When the
//! channel is full, senders wait (back-pressure, visible in [`SinkStats`]) rather than
//! drop a share. A found block travels through the same channel, so every share
//! submitted before it is written before the block closes its round.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::events::EventHub;
use crate::store::{NewBlock, NewShare, Store, StoreError};

/// A block the daemon accepted; the sink fills in the end of its round.
#[derive(Clone, Debug)]
pub struct FoundBlock {
    pub block: NewBlock,
}

enum SinkMessage {
    Share(NewShare),
    Block(FoundBlock, oneshot::Sender<Result<i64, StoreError>>),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the share sink has stopped")]
    Closed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters of the sink, for metrics and the stream.
#[derive(Debug, Default)]
pub struct SinkStats {
    pub written: AtomicU64,
    pub batches: AtomicU64,
    /// Times a sender found the queue full and had to wait.
    pub backpressure_waits: AtomicU64,
    pub write_errors: AtomicU64,
}

/// Sending side of the sink; clone it into every session.
#[derive(Clone)]
pub struct ShareSink {
    tx: mpsc::Sender<SinkMessage>,
    stats: Arc<SinkStats>,
}

impl ShareSink {
    /// Starts the writer task. It ends, after writing everything queued, when every
    /// `ShareSink` clone is dropped.
    pub fn start(
        store: Store,
        capacity: usize,
        batch_size: usize,
        flush_interval: Duration,
    ) -> (ShareSink, JoinHandle<()>) {
        Self::start_with_events(store, capacity, batch_size, flush_interval, None)
    }

    /// Like [`ShareSink::start`], also tallying shares and announcing recorded blocks
    /// on the live stream.
    pub fn start_with_events(
        store: Store,
        capacity: usize,
        batch_size: usize,
        flush_interval: Duration,
        events: Option<EventHub>,
    ) -> (ShareSink, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stats = Arc::new(SinkStats::default());
        let writer = Writer {
            store,
            rx,
            batch_size: batch_size.max(1),
            flush_interval,
            stats: stats.clone(),
            events,
        };
        let handle = tokio::spawn(writer.run());
        (ShareSink { tx, stats }, handle)
    }

    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }

    /// Queues a share; waits only when the queue is full.
    pub async fn submit(&self, share: NewShare) -> Result<(), SinkError> {
        match self.tx.try_send(SinkMessage::Share(share)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(msg)) => {
                self.stats
                    .backpressure_waits
                    .fetch_add(1, Ordering::Relaxed);
                self.tx.send(msg).await.map_err(|_| SinkError::Closed)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SinkError::Closed),
        }
    }

    /// Records a found block after every share queued before it; returns its id.
    pub async fn block_found(&self, found: FoundBlock) -> Result<i64, SinkError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(SinkMessage::Block(found, reply))
            .await
            .map_err(|_| SinkError::Closed)?;
        Ok(rx.await.map_err(|_| SinkError::Closed)??)
    }

    /// Waits until everything queued so far is written.
    pub async fn flush(&self) -> Result<(), SinkError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(SinkMessage::Flush(reply))
            .await
            .map_err(|_| SinkError::Closed)?;
        rx.await.map_err(|_| SinkError::Closed)
    }
}

struct Writer {
    store: Store,
    rx: mpsc::Receiver<SinkMessage>,
    batch_size: usize,
    flush_interval: Duration,
    stats: Arc<SinkStats>,
    events: Option<EventHub>,
}

impl Writer {
    async fn run(mut self) {
        let mut batch: Vec<NewShare> = Vec::with_capacity(self.batch_size);
        let mut inbox: Vec<SinkMessage> = Vec::with_capacity(self.batch_size);
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let received = match deadline {
                Some(d) => tokio::select! {
                    n = self.rx.recv_many(&mut inbox, self.batch_size) => Some(n),
                    _ = tokio::time::sleep_until(d) => None,
                },
                None => Some(self.rx.recv_many(&mut inbox, self.batch_size).await),
            };
            match received {
                // Channel closed and drained.
                Some(0) => {
                    self.write(&mut batch).await;
                    return;
                }
                None => {
                    self.write(&mut batch).await;
                    deadline = None;
                }
                Some(_) => {
                    for msg in inbox.drain(..) {
                        match msg {
                            SinkMessage::Share(s) => {
                                if let Some(events) = &self.events {
                                    events.count_share(&s);
                                }
                                if batch.is_empty() {
                                    deadline =
                                        Some(tokio::time::Instant::now() + self.flush_interval);
                                }
                                batch.push(s);
                                if batch.len() >= self.batch_size {
                                    self.write(&mut batch).await;
                                    deadline = None;
                                }
                            }
                            SinkMessage::Block(found, reply) => {
                                self.write(&mut batch).await;
                                deadline = None;
                                let _ = reply.send(self.record_block(found).await);
                            }
                            SinkMessage::Flush(reply) => {
                                self.write(&mut batch).await;
                                deadline = None;
                                let _ = reply.send(());
                            }
                        }
                    }
                }
            }
        }
    }

    /// Writes the batch, retrying with backoff while the database is unavailable:
    /// a share accepted from a miner is never thrown away.
    async fn write(&self, batch: &mut Vec<NewShare>) {
        if batch.is_empty() {
            return;
        }
        let mut delay = Duration::from_millis(100);
        loop {
            match self.store.insert_shares(batch).await {
                Ok(_) => {
                    self.stats
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    batch.clear();
                    return;
                }
                Err(e) => {
                    self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, shares = batch.len(), retry_in = ?delay, "cannot write shares; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn record_block(&self, found: FoundBlock) -> Result<i64, StoreError> {
        let mut block = found.block;
        block.last_share_id = self.store.last_share_id(&block.coin).await?;
        let id = self.store.insert_block(&block).await?;
        tracing::info!(coin = %block.coin, height = block.height, hash = %block.hash, id, "block recorded");
        if let Some(events) = &self.events {
            if let Ok(Some(record)) = self.store.block(id).await {
                events.publish(defpool_core::stream::Event::BlockFound {
                    block: crate::api::block_view(record),
                });
            }
        }
        Ok(id)
    }
}
