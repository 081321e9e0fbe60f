//! Bitcoin's transaction merkle tree, and the branch a stratum miner needs to compute
//! the root from its own coinbase.
//!
//! Hashes are in internal byte order throughout (as `sha256d` returns them, as the
//! header stores the root and as stratum sends branch entries); RPCs show txids
//! reversed. A level with an odd number of nodes pairs its last node with itself.

use crate::pow::bitcoin::sha256d_64;

/// `sha256d(left ‖ right)`, one inner node.
pub fn merkle_parent(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(left);
    both[32..].copy_from_slice(right);
    sha256d_64(&both)
}

/// The merkle root of a block's txids (coinbase first). `None` for no leaves: a block
/// always has its coinbase.
pub fn merkle_root(leaves: &[[u8; 32]]) -> Option<[u8; 32]> {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| merkle_parent(&pair[0], pair.get(1).unwrap_or(&pair[0])))
            .collect();
    }
    level.first().copied()
}

/// The stratum merkle branch: the sibling of the coinbase's path at each level, from the
/// leaves up, given the txids of the other transactions in block order. Empty when the
/// coinbase is alone.
///
/// The coinbase is always leaf 0, so its sibling at each level is the second node there,
/// and the other nodes can be combined without knowing the coinbase.
pub fn merkle_branch(txids: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut branch = Vec::new();
    // The level without its first node (the one on the coinbase's path).
    let mut rest = txids.to_vec();
    while !rest.is_empty() {
        branch.push(rest[0]);
        // Nodes 2, 3, … of the level pair among themselves; the odd one out pairs with
        // itself.
        rest = rest[1..]
            .chunks(2)
            .map(|pair| merkle_parent(&pair[0], pair.get(1).unwrap_or(&pair[0])))
            .collect();
    }
    branch
}

/// The root from the coinbase txid and a [`merkle_branch`]: what the miner computes.
pub fn root_from_branch(coinbase_txid: &[u8; 32], branch: &[[u8; 32]]) -> [u8; 32] {
    branch.iter().fold(*coinbase_txid, |node, sibling| {
        merkle_parent(&node, sibling)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pow::bitcoin::{hash_from_display_hex, hash_to_display_hex};
    use proptest::prelude::*;

    fn txid(display: &str) -> [u8; 32] {
        hash_from_display_hex(display).unwrap()
    }

    /// Bitcoin mainnet block 100000: four transactions and the root in its header.
    const BLOCK_100000_TXIDS: [&str; 4] = [
        "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
        "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
        "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
        "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
    ];
    const BLOCK_100000_ROOT: &str =
        "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766";

    #[test]
    fn block_100000_root() {
        let leaves: Vec<_> = BLOCK_100000_TXIDS.iter().map(|t| txid(t)).collect();
        let root = merkle_root(&leaves).unwrap();
        assert_eq!(hash_to_display_hex(&root), BLOCK_100000_ROOT);
        let branch = merkle_branch(&leaves[1..]);
        assert_eq!(branch.len(), 2);
        assert_eq!(branch[0], leaves[1]);
        assert_eq!(branch[1], merkle_parent(&leaves[2], &leaves[3]));
        assert_eq!(root_from_branch(&leaves[0], &branch), root);
    }

    #[test]
    fn a_lone_coinbase_is_its_own_root() {
        let cb = [7u8; 32];
        assert_eq!(merkle_root(&[cb]), Some(cb));
        assert!(merkle_branch(&[]).is_empty());
        assert_eq!(root_from_branch(&cb, &[]), cb);
        assert_eq!(merkle_root(&[]), None);
    }

    #[test]
    fn odd_levels_pair_the_last_node_with_itself() {
        let leaves = [[1u8; 32], [2u8; 32], [3u8; 32]];
        let expected = merkle_parent(
            &merkle_parent(&leaves[0], &leaves[1]),
            &merkle_parent(&leaves[2], &leaves[2]),
        );
        assert_eq!(merkle_root(&leaves), Some(expected));
        assert_eq!(
            root_from_branch(&leaves[0], &merkle_branch(&leaves[1..])),
            expected
        );
    }

    proptest! {
        #[test]
        fn root_from_branch_equals_full_root(
            coinbase in any::<[u8; 32]>(),
            others in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
        ) {
            let mut leaves = vec![coinbase];
            leaves.extend_from_slice(&others);
            let branch = merkle_branch(&others);
            prop_assert_eq!(Some(root_from_branch(&coinbase, &branch)), merkle_root(&leaves));
            // One entry per level above the leaves.
            let levels = usize::BITS - (leaves.len() - 1).leading_zeros();
            prop_assert_eq!(branch.len(), levels as usize);
        }
    }
}
