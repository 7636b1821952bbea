//! Merkle trees of shard outputs on the CPU, every level hashed in parallel (rayon) with the sha2
//! crate's compression function (SHA-NI where the processor has it) on blocks padded here, which
//! saves the streaming hasher's buffering on these one- and two-block messages; the same trees as
//! `gpushare_core::merkle`; and digests as the CUDA kernels hold them (eight big-endian words).
use gpushare_core::merkle::{Hash, MerkleTree, leaf_hash, root_with};
use rayon::prelude::*;
use sha2::digest::generic_array::GenericArray;

/// Nodes below which one thread hashes a whole level (rayon's overhead would dominate).
const SERIAL_LEVEL: usize = 1 << 12;
/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
/// The longest message that fits one block with its padding.
const ONE_BLOCK_MESSAGE: usize = 55;

/// SHA-256 of `prefix ‖ data` for messages that fill at most two blocks with their padding.
fn sha256_short<const BLOCKS: usize>(prefix: u8, data: &[u8]) -> Hash {
    let mut padded = [[0u8; 64]; BLOCKS];
    let flat = padded.as_flattened_mut();
    flat[0] = prefix;
    flat[1..=data.len()].copy_from_slice(data);
    flat[data.len() + 1] = 0x80;
    let bits = (data.len() as u64 + 1) * 8;
    flat[BLOCKS * 64 - 8..].copy_from_slice(&bits.to_be_bytes());
    let mut state = SHA256_IV;
    let blocks = padded.map(GenericArray::from);
    sha2::compress256(&mut state, &blocks);
    let mut digest = [0u8; 32];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// An RFC 6962 leaf hash: one compression for leaves up to 54 bytes (a gemm_i8 leaf is 32).
fn fast_leaf_hash(data: &[u8]) -> Hash {
    if data.len() < ONE_BLOCK_MESSAGE {
        sha256_short::<1>(0x00, data)
    } else {
        leaf_hash(data)
    }
}

/// An RFC 6962 node (65 bytes: two compressions), or `left` carried up when it has no sibling.
fn fast_parent(left: &Hash, right: Option<&Hash>) -> Hash {
    match right {
        Some(right) => {
            let mut children = [0u8; 64];
            children[..32].copy_from_slice(left);
            children[32..].copy_from_slice(right);
            sha256_short::<2>(0x01, &children)
        }
        None => *left,
    }
}

fn leaf_hashes(data: &[u8], leaf_bytes: usize) -> Vec<Hash> {
    data.par_chunks(leaf_bytes.max(1))
        .with_min_len(SERIAL_LEVEL)
        .map(fast_leaf_hash)
        .collect()
}

fn level_above(below: &[Hash]) -> Vec<Hash> {
    below
        .par_chunks(2)
        .with_min_len(SERIAL_LEVEL)
        .map(|pair| fast_parent(&pair[0], pair.get(1)))
        .collect()
}

/// The whole tree of `data` cut into `leaf_bytes`-byte leaves, for audit paths.
pub fn tree(data: &[u8], leaf_bytes: usize) -> MerkleTree {
    MerkleTree::from_leaf_hashes_with(leaf_hashes(data, leaf_bytes), level_above)
}

/// The root of that tree, without keeping its levels.
pub fn root(data: &[u8], leaf_bytes: usize) -> Hash {
    root_with(leaf_hashes(data, leaf_bytes), level_above)
}

/// State bytes as the kernels' big-endian words.
pub(crate) fn state_words(state: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| {
        u32::from_be_bytes([
            state[4 * i],
            state[4 * i + 1],
            state[4 * i + 2],
            state[4 * i + 3],
        ])
    })
}

/// Digest words from the kernels back as bytes.
pub(crate) fn digest_bytes(words: &[u32]) -> [u8; 32] {
    let mut state = [0u8; 32];
    for (i, word) in words.iter().take(8).enumerate() {
        state[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn short_hashes_are_the_core_hashes(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            prop_assert_eq!(fast_leaf_hash(&data), leaf_hash(&data));
            if data.len() >= 64 {
                let (left, right) = (data[..32].try_into().unwrap(), data[32..64].try_into().unwrap());
                prop_assert_eq!(fast_parent(&left, Some(&right)), gpushare_core::merkle::node_hash(&left, &right));
            }
        }

        /// Ragged data and leaf sizes, across the serial/parallel threshold.
        #[test]
        fn parallel_trees_are_the_core_trees(len in 0usize..(3 << 14), leaf_bytes in 1usize..40) {
            let data: Vec<u8> = (0..len).map(|i| (i * 131 % 251) as u8).collect();
            let reference = MerkleTree::from_data(&data, leaf_bytes);
            let ours = tree(&data, leaf_bytes);
            prop_assert_eq!(ours.root(), reference.root());
            prop_assert_eq!(root(&data, leaf_bytes), reference.root());
            let last = ours.size().saturating_sub(1);
            prop_assert_eq!(ours.audit_path(last), reference.audit_path(last));
        }
    }
}
