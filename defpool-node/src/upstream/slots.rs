//! Many miners on few upstream connections: each connection's nonce space is cut
//! into slots (the top nonce byte for CryptoNote, an extranonce2 prefix for the
//! Bitcoin dialect), one miner per slot. A miner takes the first free slot of an
//! open connection; when every connection is full a new one is opened. A slot is
//! handed back when its miner leaves, so no two miners ever search the same nonces.

use std::sync::{Arc, Mutex};

/// One upstream connection and which of its slots are taken.
struct Group<U> {
    upstream: Arc<U>,
    taken: Vec<u64>,
    used: usize,
}

impl<U> Group<U> {
    fn take_free(&mut self, per_connection: usize) -> Option<u32> {
        for (w, word) in self.taken.iter_mut().enumerate() {
            if *word != u64::MAX {
                let bit = word.trailing_ones();
                let slot = w as u32 * 64 + bit;
                if slot as usize >= per_connection {
                    return None;
                }
                *word |= 1 << bit;
                self.used += 1;
                return Some(slot);
            }
        }
        None
    }
}

/// The connections of one coin in proxy mode and their slots.
pub struct SlotPool<U> {
    per_connection: usize,
    groups: Mutex<Vec<Group<U>>>,
    open: Box<dyn Fn() -> Arc<U> + Send + Sync>,
}

/// A miner's slot; given back on drop.
pub struct SlotLease<U> {
    pool: Arc<SlotPool<U>>,
    group: usize,
    pub slot: u32,
    pub upstream: Arc<U>,
}

impl<U> Drop for SlotLease<U> {
    fn drop(&mut self) {
        if let Ok(mut groups) = self.pool.groups.lock() {
            if let Some(g) = groups.get_mut(self.group) {
                let (w, bit) = (self.slot as usize / 64, self.slot % 64);
                if g.taken[w] & (1 << bit) != 0 {
                    g.taken[w] &= !(1 << bit);
                    g.used -= 1;
                }
            }
        }
    }
}

impl<U> SlotPool<U> {
    /// `open` starts a new upstream connection; `per_connection` is how many miners
    /// one connection's nonce space holds.
    pub fn new(
        per_connection: usize,
        open: impl Fn() -> Arc<U> + Send + Sync + 'static,
    ) -> Arc<SlotPool<U>> {
        assert!(per_connection > 0, "a connection must hold a miner");
        Arc::new(SlotPool {
            per_connection,
            groups: Mutex::new(Vec::new()),
            open: Box::new(open),
        })
    }

    /// A free slot, on a new connection if every open one is full.
    pub fn lease(self: &Arc<Self>) -> Option<SlotLease<U>> {
        let mut groups = self.groups.lock().ok()?;
        for (i, g) in groups.iter_mut().enumerate() {
            if g.used < self.per_connection {
                if let Some(slot) = g.take_free(self.per_connection) {
                    return Some(SlotLease {
                        pool: self.clone(),
                        group: i,
                        slot,
                        upstream: g.upstream.clone(),
                    });
                }
            }
        }
        let mut group = Group {
            upstream: (self.open)(),
            taken: vec![0; self.per_connection.div_ceil(64)],
            used: 0,
        };
        let slot = group.take_free(self.per_connection)?;
        let upstream = group.upstream.clone();
        groups.push(group);
        Some(SlotLease {
            pool: self.clone(),
            group: groups.len() - 1,
            slot,
            upstream,
        })
    }

    /// Slot number `slot` on any connection, on a new one if it is taken on every
    /// open one: a miner whose nonce space is fixed by that number (a Bitcoin-dialect
    /// miner's extranonce1) moving to this pool from another. `None` when `slot` does
    /// not exist in this pool.
    pub fn lease_slot(self: &Arc<Self>, slot: u32) -> Option<SlotLease<U>> {
        if slot as usize >= self.per_connection {
            return None;
        }
        let (w, bit) = (slot as usize / 64, slot % 64);
        let mut groups = self.groups.lock().ok()?;
        let free = groups.iter().position(|g| g.taken[w] & (1 << bit) == 0);
        let i = match free {
            Some(i) => i,
            None => {
                groups.push(Group {
                    upstream: (self.open)(),
                    taken: vec![0; self.per_connection.div_ceil(64)],
                    used: 0,
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[i];
        g.taken[w] |= 1 << bit;
        g.used += 1;
        Some(SlotLease {
            pool: self.clone(),
            group: i,
            slot,
            upstream: g.upstream.clone(),
        })
    }

    /// Every upstream connection opened so far, with how many miners it holds.
    pub fn connections(&self) -> Vec<(Arc<U>, usize)> {
        self.groups
            .lock()
            .map(|g| g.iter().map(|g| (g.upstream.clone(), g.used)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn fills_connections_in_order_and_reuses_freed_slots() {
        let opened = Arc::new(AtomicUsize::new(0));
        let o = opened.clone();
        let pool = SlotPool::new(256, move || Arc::new(o.fetch_add(1, Ordering::SeqCst)));
        let leases: Vec<_> = (0..300).map(|_| pool.lease().unwrap()).collect();
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        let keys: HashSet<(usize, u32)> = leases.iter().map(|l| (*l.upstream, l.slot)).collect();
        assert_eq!(keys.len(), 300, "no two miners share a slot");
        assert!(leases.iter().all(|l| l.slot < 256));
        assert_eq!(
            pool.connections().iter().map(|c| c.1).collect::<Vec<_>>(),
            vec![256, 44]
        );

        let freed = leases[17].slot;
        let mut leases = leases;
        leases.remove(17);
        let again = pool.lease().unwrap();
        assert_eq!((*again.upstream, again.slot), (0, freed));
        assert_eq!(opened.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_given_slot_is_taken_where_it_is_free() {
        let opened = Arc::new(AtomicUsize::new(0));
        let o = opened.clone();
        let pool = SlotPool::new(4, move || Arc::new(o.fetch_add(1, Ordering::SeqCst)));
        let a = pool.lease_slot(2).unwrap();
        assert_eq!((*a.upstream, a.slot), (0, 2));
        // Taken on connection 0: a second connection is opened for it.
        let b = pool.lease_slot(2).unwrap();
        assert_eq!((*b.upstream, b.slot), (1, 2));
        // Ordinary leases fill around it and never hand out slot 2 again.
        let rest: Vec<_> = (0..6).map(|_| pool.lease().unwrap()).collect();
        assert!(rest.iter().all(|l| l.slot != 2));
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        assert!(pool.lease_slot(4).is_none(), "no slot 4 in a pool of 4");
        drop(a);
        let c = pool.lease_slot(2).unwrap();
        assert_eq!((*c.upstream, c.slot), (0, 2));
    }

    #[test]
    fn odd_sizes() {
        let pool = SlotPool::new(3, || Arc::new(()));
        let l: Vec<_> = (0..7).map(|_| pool.lease().unwrap()).collect();
        assert_eq!(pool.connections().len(), 3);
        assert_eq!(
            l.iter().map(|l| l.slot).collect::<Vec<_>>(),
            vec![0, 1, 2, 0, 1, 2, 0]
        );
    }
}
