//! Miner work built from a daemon's block template, and the block built back from a
//! solved job.
//!
//! One submodule per chain family ([`bitcoin`], [`monero`]). Each turns the template
//! bytes a daemon hands out into what a miner hashes (with the pool's extra nonce
//! written in), and the miner's answer into the block the daemon accepts. Everything is byte-exact and checked
//! against real daemon output in the tests.

pub mod bitcoin;
pub mod monero;

pub use monero::MoneroTemplate;

/// Why a template could not be turned into work, or work into a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The blob ends inside a field: cut short on the way, or not a block at all.
    #[error("block blob ends at byte {offset}, inside the {what}")]
    Truncated { offset: usize, what: &'static str },
    /// A field cannot be read: an invalid varint, or a count larger than the blob.
    #[error("malformed {what} at byte {offset}: {reason}")]
    Malformed {
        offset: usize,
        what: &'static str,
        reason: &'static str,
    },
    /// The blob is well formed but uses a form a pool template never has (an input other
    /// than the coinbase, an unknown output type, a non-null RingCT section...).
    #[error("unsupported {what} {value} at byte {offset}")]
    Unsupported {
        what: &'static str,
        value: u64,
        offset: usize,
    },
    /// Bytes follow the last transaction hash.
    #[error("{count} unexpected bytes after the block at byte {offset}")]
    TrailingBytes { offset: usize, count: usize },
    /// The daemon's `reserved_offset`/`reserve_size` do not fall inside the miner
    /// transaction's extra field, so writing an extra nonce there would corrupt the block.
    #[error(
        "reserved space {offset}..{offset}+{size} is not inside the miner tx extra field \
         ({extra_start}..{extra_end})"
    )]
    ReservedOutsideExtra {
        offset: usize,
        size: usize,
        extra_start: usize,
        extra_end: usize,
    },
    /// The extra nonce is longer than the space the template reserved for it.
    #[error("extra nonce of {len} bytes does not fit the {reserve_size} reserved bytes")]
    ExtraNonceTooLong { len: usize, reserve_size: usize },
}
