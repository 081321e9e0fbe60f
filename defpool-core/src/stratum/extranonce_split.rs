//! Proxy mode, Bitcoin dialect: many miners on one upstream connection, by cutting
//! the connection's extranonce2 into a per-miner prefix and the part the miner rolls.
//!
//! The upstream gave the connection an extranonce1 `E1` and an `extranonce2_size` `N`.
//! The miner in slot `s` is told extranonce1 = `prefix(s)` (`P` bytes, the slot
//! big-endian) and extranonce2_size `M`, and is sent each job with `E1` appended to
//! `coinb1` (and `pad` = `N − P − M` zero bytes in front of `coinb2`). The miner hashes
//! `coinb1 ‖ E1 ‖ prefix ‖ en2 ‖ 0^pad ‖ coinb2`, which is byte for byte the coinbase
//! the upstream rebuilds from the submitted extranonce2 `prefix ‖ en2 ‖ 0^pad`: the
//! split is exact, and two slots can never produce the same upstream extranonce2.
//!
//! `E1` travels in the job, not in the miner's extranonce1, so a new upstream
//! extranonce1 (a failover, `mining.set_extranonce`) reaches the miners with the next
//! job and needs no reconnect; only a change of `N` that the miner's layout no longer
//! fits does (the padding absorbs a larger `N`).

use crate::job::bitcoin::{CoinbaseSplit, StratumWork, MAX_EXTRANONCE2_LEN};

/// Longest per-miner prefix: 65,536 miners per upstream connection.
pub const MAX_PREFIX_LEN: usize = 2;

/// Bytes of the upstream extranonce2 kept per miner as its prefix: 2 when the upstream
/// gives at least 4 (the miner keeps at least 2, which cpuminer and every ASIC
/// handle), 1 when it gives 3, none below (one miner per connection).
pub fn prefix_len_for(extranonce2_size: usize) -> usize {
    match extranonce2_size {
        0..=2 => 0,
        3 => 1,
        _ => MAX_PREFIX_LEN,
    }
}

/// How many miners a prefix of `prefix_len` bytes tells apart.
pub fn slots_for(prefix_len: usize) -> usize {
    1usize << (8 * prefix_len.min(MAX_PREFIX_LEN))
}

/// What an upstream connection may roll: its extranonce1 and extranonce2 size.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NonceSpace {
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
}

/// How a miner's part of a nonce space is cut: prefix bytes, then what the miner
/// rolls; the rest of the upstream extranonce2 is zero padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub prefix_len: usize,
    pub miner_extranonce2_len: usize,
}

impl Layout {
    /// The cut a new miner gets: the prefix of [`prefix_len_for`], the rest to the
    /// miner (up to [`MAX_EXTRANONCE2_LEN`]; any excess is padding).
    pub fn for_space(space: &NonceSpace) -> Result<Layout, SplitError> {
        let n = space.extranonce2_size;
        let prefix_len = prefix_len_for(n);
        let miner = (n - prefix_len).min(MAX_EXTRANONCE2_LEN);
        if miner == 0 {
            return Err(SplitError::NoRoom { size: n });
        }
        Ok(Layout {
            prefix_len,
            miner_extranonce2_len: miner,
        })
    }

    /// How many miners one connection holds with this layout.
    pub fn slots(&self) -> usize {
        slots_for(self.prefix_len)
    }

    /// Whether a nonce space can carry this layout (a larger one pads).
    pub fn fits(&self, space: &NonceSpace) -> bool {
        self.prefix_len + self.miner_extranonce2_len <= space.extranonce2_size
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("upstream extranonce2_size {size} leaves no extranonce2 to a miner")]
    NoRoom { size: usize },
    #[error("slot {slot} does not fit a {prefix_len}-byte prefix")]
    SlotOutOfRange { slot: u32, prefix_len: usize },
    #[error("a {prefix_len}+{miner_len}-byte extranonce2 layout does not fit the upstream's {size} bytes")]
    LayoutDoesNotFit {
        prefix_len: usize,
        miner_len: usize,
        size: usize,
    },
    #[error("extranonce2 of {got} bytes; the miner's is {expected}")]
    Extranonce2Length { expected: usize, got: usize },
}

/// One miner's place in one nonce space: what it is told, how its jobs are shown to
/// it, and how its extranonce2 maps to the upstream's and back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinerSplit {
    upstream_extranonce1: Vec<u8>,
    prefix: [u8; MAX_PREFIX_LEN],
    layout: Layout,
    pad_len: usize,
}

impl MinerSplit {
    /// Slot `slot` of `space`, cut as `layout`.
    pub fn new(space: &NonceSpace, layout: Layout, slot: u32) -> Result<MinerSplit, SplitError> {
        if layout.prefix_len > MAX_PREFIX_LEN || slot as usize >= layout.slots() {
            return Err(SplitError::SlotOutOfRange {
                slot,
                prefix_len: layout.prefix_len,
            });
        }
        if layout.miner_extranonce2_len == 0
            || layout.miner_extranonce2_len > MAX_EXTRANONCE2_LEN
            || !layout.fits(space)
        {
            return Err(SplitError::LayoutDoesNotFit {
                prefix_len: layout.prefix_len,
                miner_len: layout.miner_extranonce2_len,
                size: space.extranonce2_size,
            });
        }
        let mut prefix = [0u8; MAX_PREFIX_LEN];
        let be = slot.to_be_bytes();
        prefix[..layout.prefix_len].copy_from_slice(&be[4 - layout.prefix_len..]);
        Ok(MinerSplit {
            upstream_extranonce1: space.extranonce1.clone(),
            prefix,
            layout,
            pad_len: space.extranonce2_size - layout.prefix_len - layout.miner_extranonce2_len,
        })
    }

    /// The extranonce1 the miner is told: its prefix.
    pub fn miner_extranonce1(&self) -> &[u8] {
        &self.prefix[..self.layout.prefix_len]
    }

    pub fn miner_extranonce2_len(&self) -> usize {
        self.layout.miner_extranonce2_len
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Zero bytes after the miner's extranonce2 in the upstream's.
    pub fn pad_len(&self) -> usize {
        self.pad_len
    }

    pub fn upstream_extranonce1(&self) -> &[u8] {
        &self.upstream_extranonce1
    }

    /// The coinbase as the miner is shown it: `coinb1 ‖ E1` and `0^pad ‖ coinb2`.
    pub fn miner_coinbase(&self, upstream: &CoinbaseSplit) -> CoinbaseSplit {
        let mut coinb1 =
            Vec::with_capacity(upstream.coinb1.len() + self.upstream_extranonce1.len());
        coinb1.extend_from_slice(&upstream.coinb1);
        coinb1.extend_from_slice(&self.upstream_extranonce1);
        let mut coinb2 = Vec::with_capacity(self.pad_len + upstream.coinb2.len());
        coinb2.resize(self.pad_len, 0);
        coinb2.extend_from_slice(&upstream.coinb2);
        CoinbaseSplit { coinb1, coinb2 }
    }

    /// An upstream job as the miner is sent it (only the coinbase differs).
    pub fn miner_work(&self, upstream: &StratumWork) -> StratumWork {
        StratumWork {
            coinbase: self.miner_coinbase(&upstream.coinbase),
            ..upstream.clone()
        }
    }

    /// What to submit upstream for the miner's extranonce2: `prefix ‖ en2 ‖ 0^pad`.
    pub fn upstream_extranonce2(&self, miner_extranonce2: &[u8]) -> Result<Vec<u8>, SplitError> {
        if miner_extranonce2.len() != self.layout.miner_extranonce2_len {
            return Err(SplitError::Extranonce2Length {
                expected: self.layout.miner_extranonce2_len,
                got: miner_extranonce2.len(),
            });
        }
        let mut en2 =
            Vec::with_capacity(self.layout.prefix_len + miner_extranonce2.len() + self.pad_len);
        en2.extend_from_slice(self.miner_extranonce1());
        en2.extend_from_slice(miner_extranonce2);
        en2.resize(en2.len() + self.pad_len, 0);
        Ok(en2)
    }

    /// The miner's extranonce2 inside an upstream one; `None` when the upstream
    /// extranonce2 is not this miner's (another prefix, non-zero padding, wrong size).
    pub fn miner_extranonce2<'a>(&self, upstream_extranonce2: &'a [u8]) -> Option<&'a [u8]> {
        let (p, m) = (self.layout.prefix_len, self.layout.miner_extranonce2_len);
        if upstream_extranonce2.len() != p + m + self.pad_len
            || upstream_extranonce2[..p] != *self.miner_extranonce1()
            || upstream_extranonce2[p + m..].iter().any(|b| *b != 0)
        {
            return None;
        }
        Some(&upstream_extranonce2[p..p + m])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::bitcoin::fixtures::{captured_shares, CPUMINER_SCRYPT_SESSION};
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn space(en1: &[u8], size: usize) -> NonceSpace {
        NonceSpace {
            extranonce1: en1.to_vec(),
            extranonce2_size: size,
        }
    }

    #[test]
    fn prefix_length_follows_the_upstream_extranonce2_size() {
        let cut =
            |n| Layout::for_space(&space(&[1], n)).map(|l| (l.prefix_len, l.miner_extranonce2_len));
        assert_eq!(cut(8), Ok((2, 6)));
        assert_eq!(cut(4), Ok((2, 2)));
        assert_eq!(cut(3), Ok((1, 2)));
        assert_eq!(cut(2), Ok((0, 2)));
        assert_eq!(cut(1), Ok((0, 1)));
        assert_eq!(cut(0), Err(SplitError::NoRoom { size: 0 }));
        // More than a miner can take: the excess is padding.
        assert_eq!(cut(20), Ok((2, MAX_EXTRANONCE2_LEN)));
        assert_eq!(Layout::for_space(&space(&[], 4)).unwrap().slots(), 65_536);
        assert_eq!(Layout::for_space(&space(&[], 3)).unwrap().slots(), 256);
        assert_eq!(Layout::for_space(&space(&[], 2)).unwrap().slots(), 1);
    }

    #[test]
    fn what_the_miner_is_told_and_what_goes_upstream() {
        let s = space(&[0xaa, 0xbb, 0xcc, 0xdd], 4);
        let split = MinerSplit::new(&s, Layout::for_space(&s).unwrap(), 0x0102).unwrap();
        assert_eq!(split.miner_extranonce1(), [1, 2]);
        assert_eq!(split.miner_extranonce2_len(), 2);
        assert_eq!(split.upstream_extranonce2(&[7, 8]).unwrap(), [1, 2, 7, 8]);
        assert_eq!(split.miner_extranonce2(&[1, 2, 7, 8]), Some(&[7u8, 8][..]));
        assert_eq!(split.miner_extranonce2(&[1, 3, 7, 8]), None, "another slot");
        assert_eq!(
            split.upstream_extranonce2(&[7]),
            Err(SplitError::Extranonce2Length {
                expected: 2,
                got: 1
            })
        );
        let cb = split.miner_coinbase(&CoinbaseSplit {
            coinb1: vec![0x10],
            coinb2: vec![0x20],
        });
        assert_eq!(
            (cb.coinb1, cb.coinb2),
            (vec![0x10, 0xaa, 0xbb, 0xcc, 0xdd], vec![0x20])
        );
        // A slot past the prefix is refused.
        assert_eq!(
            MinerSplit::new(
                &space(&[], 3),
                Layout::for_space(&space(&[], 3)).unwrap(),
                256
            ),
            Err(SplitError::SlotOutOfRange {
                slot: 256,
                prefix_len: 1
            })
        );
    }

    #[test]
    fn a_failover_to_a_longer_extranonce2_keeps_the_miner_and_pads() {
        let first = space(&[1, 1, 1, 1], 4);
        let layout = Layout::for_space(&first).unwrap();
        let second = space(&[9, 9], 6);
        let split = MinerSplit::new(&second, layout, 5).unwrap();
        assert_eq!(
            split.miner_extranonce1(),
            [0, 5],
            "the miner's extranonce1 is unchanged"
        );
        assert_eq!(split.pad_len(), 2);
        assert_eq!(
            split.upstream_extranonce2(&[7, 8]).unwrap(),
            [0, 5, 7, 8, 0, 0]
        );
        assert_eq!(
            split.miner_extranonce2(&[0, 5, 7, 8, 0, 0]),
            Some(&[7u8, 8][..])
        );
        assert_eq!(split.miner_extranonce2(&[0, 5, 7, 8, 0, 1]), None);
        let cb = split.miner_coinbase(&CoinbaseSplit {
            coinb1: vec![0x10],
            coinb2: vec![0x20],
        });
        assert_eq!((cb.coinb1, cb.coinb2), (vec![0x10, 9, 9], vec![0, 0, 0x20]));
        // A shorter one does not fit: the miner needs a new extranonce.
        assert!(!layout.fits(&space(&[1], 3)));
        assert!(matches!(
            MinerSplit::new(&space(&[1], 3), layout, 5),
            Err(SplitError::LayoutDoesNotFit { .. })
        ));
    }

    /// The share cpuminer found against the stub pool (extranonce1 4 bytes,
    /// extranonce2 4 bytes) is found again by a miner behind the proxy: with the stub as
    /// upstream, the slot being the share's first two extranonce2 bytes, the miner hashes
    /// the same header the stub checked (and litecoind accepted as a block).
    #[test]
    fn the_miner_hashes_the_header_the_upstream_checks() {
        for share in captured_shares(CPUMINER_SCRYPT_SESSION) {
            let upstream = space(&share.extranonce1, share.extranonce2_size);
            let layout = Layout::for_space(&upstream).unwrap();
            let en2 = hex::decode(&share.submit.extranonce2).unwrap();
            let slot = u32::from(u16::from_be_bytes([en2[0], en2[1]]));
            let split = MinerSplit::new(&upstream, layout, slot).unwrap();
            let miner_en2 = split.miner_extranonce2(&en2).unwrap();
            assert_eq!(split.upstream_extranonce2(miner_en2).unwrap(), en2);

            let work = StratumWork::from_notify(&share.notify).unwrap();
            let miner_work = split.miner_work(&work);
            let ntime = u32::from_str_radix(&share.submit.ntime, 16).unwrap();
            let nonce = u32::from_str_radix(&share.submit.nonce, 16).unwrap();
            let miner_header = miner_work.header(
                split.miner_extranonce1(),
                miner_en2,
                work.version,
                ntime,
                nonce,
            );
            assert_eq!(hex::encode(miner_header.to_bytes()), share.header);
            assert_eq!(
                miner_work.coinbase_tx(split.miner_extranonce1(), miner_en2),
                work.coinbase_tx(&share.extranonce1, &en2)
            );
        }
    }

    /// The proof the issue asks for: 300 miners on two upstream connections (256 slots
    /// each, as the CryptoNote side cuts them; here a 1-byte prefix of a 2-byte
    /// extranonce2 so every miner extranonce2 can be enumerated) never produce the same
    /// upstream (extranonce1, extranonce2) — nor the same coinbase — for any
    /// extranonce2 the miners roll.
    #[test]
    fn three_hundred_slots_never_collide_upstream() {
        let connections = [space(&[0, 0, 0, 1], 2), space(&[0, 0, 0, 2], 2)];
        let layout = Layout {
            prefix_len: 1,
            miner_extranonce2_len: 1,
        };
        let coinbase = CoinbaseSplit {
            coinb1: vec![1, 2, 3],
            coinb2: vec![4, 5],
        };
        let mut upstream_keys = HashSet::new();
        let mut coinbases = HashSet::new();
        for miner in 0..300u32 {
            let (connection, slot) = (miner as usize / 256, miner % 256);
            let split = MinerSplit::new(&connections[connection], layout, slot).unwrap();
            let shown = split.miner_coinbase(&coinbase);
            for en2 in 0..=255u8 {
                let up = split.upstream_extranonce2(&[en2]).unwrap();
                assert!(upstream_keys.insert((split.upstream_extranonce1().to_vec(), up)));
                let mut tx = shown.coinb1.clone();
                tx.extend_from_slice(split.miner_extranonce1());
                tx.push(en2);
                tx.extend_from_slice(&shown.coinb2);
                assert!(coinbases.insert(tx));
            }
        }
        assert_eq!(upstream_keys.len(), 300 * 256);
    }

    proptest! {
        /// Two different (slot, extranonce2) of one connection never map to the same
        /// upstream extranonce2, and the mapping inverts.
        #[test]
        fn distinct_miners_distinct_upstream_extranonce2(
            size in 1usize..=12,
            a in (any::<u16>(), proptest::collection::vec(any::<u8>(), 16)),
            b in (any::<u16>(), proptest::collection::vec(any::<u8>(), 16)),
        ) {
            let s = space(&[0xee; 4], size);
            let layout = Layout::for_space(&s).unwrap();
            let slots = layout.slots() as u32;
            let m = layout.miner_extranonce2_len;
            let (slot_a, slot_b) = (u32::from(a.0) % slots, u32::from(b.0) % slots);
            let (en2_a, en2_b) = (&a.1[..m], &b.1[..m]);
            let split_a = MinerSplit::new(&s, layout, slot_a).unwrap();
            let split_b = MinerSplit::new(&s, layout, slot_b).unwrap();
            let up_a = split_a.upstream_extranonce2(en2_a).unwrap();
            let up_b = split_b.upstream_extranonce2(en2_b).unwrap();
            prop_assert_eq!(up_a.len(), size);
            prop_assert_eq!(split_a.miner_extranonce2(&up_a), Some(en2_a));
            if (slot_a, en2_a) != (slot_b, en2_b) {
                prop_assert_ne!(&up_a, &up_b);
            }
            if slot_a != slot_b {
                prop_assert_eq!(split_b.miner_extranonce2(&up_a), None);
            }
        }

        /// Whatever the miner rolls, the coinbase it hashes is the one the upstream
        /// rebuilds from the submit.
        #[test]
        fn the_split_is_exact(
            en1 in proptest::collection::vec(any::<u8>(), 0..8),
            size in 1usize..=12,
            extra in 0usize..4,
            slot in any::<u16>(),
            coinb1 in proptest::collection::vec(any::<u8>(), 0..40),
            coinb2 in proptest::collection::vec(any::<u8>(), 0..40),
            roll in proptest::collection::vec(any::<u8>(), 16),
        ) {
            // A layout made for `size`, used on a connection `extra` bytes larger.
            let layout = Layout::for_space(&space(&en1, size)).unwrap();
            let s = space(&en1, size + extra);
            let slot = u32::from(slot) % layout.slots() as u32;
            let split = MinerSplit::new(&s, layout, slot).unwrap();
            let upstream = CoinbaseSplit { coinb1, coinb2 };
            let en2 = &roll[..layout.miner_extranonce2_len];
            let miner_sees = split.miner_coinbase(&upstream).assemble(split.miner_extranonce1(), en2);
            let upstream_builds = upstream.assemble(&en1, &split.upstream_extranonce2(en2).unwrap());
            prop_assert_eq!(miner_sees, upstream_builds);
        }
    }
}
