//! The RFC 6962 §2.1 Merkle Tree Hash over a kernel's output leaves (SHA-256; leaf = H(0x00 ‖ d),
//! node = H(0x01 ‖ left ‖ right), split at the largest power of two below n) with the audit paths of
//! §2.1.1 and their verification (RFC 9162 §2.1.3.2), and proofs of a contiguous range of leaves.
use alloc::vec::Vec;
use core::ops::Range;

use crate::sha256;

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// `H(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// `H(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// The hash of the empty tree, `H()`.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// A parent node: `node_hash(left, right)`, or `left` carried up unchanged when it has no sibling.
pub fn parent(left: &Hash, right: Option<&Hash>) -> Hash {
    match right {
        Some(right) => node_hash(left, right),
        None => *left,
    }
}

/// The level above `below` (one node per pair, a last unpaired node carried up), one node at a time.
pub fn level_above(below: &[Hash]) -> Vec<Hash> {
    below
        .chunks(2)
        .map(|pair| parent(&pair[0], pair.get(1)))
        .collect()
}

/// The Merkle Tree Hash of already-hashed leaves, each level computed by `level_above` and dropped
/// once the next exists (for a root without keeping the tree).
pub fn root_with(leaves: Vec<Hash>, level_above: impl Fn(&[Hash]) -> Vec<Hash>) -> Hash {
    let mut level = leaves;
    while level.len() > 1 {
        level = level_above(&level);
    }
    level.first().copied().unwrap_or_else(empty_root)
}

/// A Merkle tree kept level by level: level 0 holds the leaf hashes; a node without a sibling is
/// carried up unchanged, which is exactly RFC 6962's split at the largest power of two.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

/// Why a proof could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MerkleError {
    /// The leaf index is not below the tree size.
    IndexOutOfRange { index: u64, size: u64 },
}

impl MerkleTree {
    /// Builds the tree over already-hashed leaves.
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Self {
        Self::from_leaf_hashes_with(leaves, level_above)
    }

    /// Builds the tree over already-hashed leaves, each level computed by `level_above` (which must
    /// agree with [`level_above`]; a caller may compute it in parallel).
    pub fn from_leaf_hashes_with(
        leaves: Vec<Hash>,
        level_above: impl Fn(&[Hash]) -> Vec<Hash>,
    ) -> Self {
        let mut levels = alloc::vec![leaves];
        while let Some(below) = levels.last().filter(|level| level.len() > 1) {
            let above = level_above(below);
            levels.push(above);
        }
        Self { levels }
    }

    /// Builds the tree over `leaves`, each hashed as a leaf.
    pub fn from_leaves(leaves: &[impl AsRef<[u8]>]) -> Self {
        Self::from_leaf_hashes(leaves.iter().map(|leaf| leaf_hash(leaf.as_ref())).collect())
    }

    /// Builds the tree over `data` cut into `leaf_bytes`-byte leaves (the last may be shorter).
    pub fn from_data(data: &[u8], leaf_bytes: usize) -> Self {
        Self::from_leaf_hashes(data.chunks(leaf_bytes.max(1)).map(leaf_hash).collect())
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The Merkle Tree Hash.
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) if top.len() == 1 => top[0],
            _ => empty_root(),
        }
    }

    /// The audit path of leaf `index`, from the leaf's sibling up to the root's child.
    pub fn audit_path(&self, index: u64) -> Result<Vec<Hash>, MerkleError> {
        if index >= self.size() {
            return Err(MerkleError::IndexOutOfRange {
                index,
                size: self.size(),
            });
        }
        let mut path = Vec::new();
        let mut position = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = position ^ 1;
            if sibling < level.len() {
                path.push(level[sibling]);
            }
            position /= 2;
        }
        Ok(path)
    }

    /// The proof that leaves `range` (contiguous, not empty) are in the tree: level by level from the
    /// leaves, the left neighbour of the range's first node when it is a right child, then the right
    /// neighbour of its last node when it is a left child with a sibling. At most two hashes a level:
    /// a range of any length costs about two audit paths ([`verify_range`]).
    pub fn range_proof(&self, range: Range<u64>) -> Result<Vec<Hash>, MerkleError> {
        if range.is_empty() || range.end > self.size() {
            return Err(MerkleError::IndexOutOfRange {
                index: range.end,
                size: self.size(),
            });
        }
        let mut proof = Vec::new();
        let (mut first, mut end) = (range.start as usize, range.end as usize);
        for level in &self.levels[..self.levels.len() - 1] {
            if first % 2 == 1 {
                proof.push(level[first - 1]);
            }
            if end % 2 == 1 && end < level.len() {
                proof.push(level[end]);
            }
            first /= 2;
            end = end.div_ceil(2);
        }
        Ok(proof)
    }
}

/// Checks that `leaf_hashes` are the leaves `range` of the tree of `size` leaves whose root is
/// `root`, with a [`MerkleTree::range_proof`]: each level of the range is completed by the proof's
/// boundary nodes and paired up as the tree pairs it, until one node is left. The levels are
/// computed in `leaf_hashes`' own buffer (two spare slots spare it a reallocation): on SBF, whose
/// allocator never frees, a range costs its hashes and nothing more.
pub fn verify_range(
    range: Range<u64>,
    size: u64,
    leaf_hashes: Vec<Hash>,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if range.is_empty() || range.end > size || leaf_hashes.len() as u64 != range.end - range.start {
        return false;
    }
    let mut proof = proof.iter();
    let mut nodes = leaf_hashes;
    let (mut first, mut end, mut count) = (range.start, range.end, size);
    while count > 1 {
        if first % 2 == 1 {
            match proof.next() {
                Some(left) => nodes.insert(0, *left),
                None => return false,
            }
        }
        if end % 2 == 1 && end < count {
            match proof.next() {
                Some(right) => nodes.push(*right),
                None => return false,
            }
        }
        pair_up_in_place(&mut nodes);
        first /= 2;
        end = end.div_ceil(2);
        count = count.div_ceil(2);
    }
    proof.next().is_none() && nodes.as_slice() == [*root]
}

/// [`level_above`] of `nodes`, written over them: node i of the level above is the parent of
/// nodes 2i and 2i + 1, which are read before anything at or after 2i is written.
fn pair_up_in_place(nodes: &mut Vec<Hash>) {
    let pairs = nodes.len().div_ceil(2);
    for i in 0..pairs {
        let right = nodes.get(2 * i + 1).copied();
        nodes[i] = parent(&nodes[2 * i], right.as_ref());
    }
    nodes.truncate(pairs);
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_audit_path(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    path: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut hash = *leaf_hash;
    for sibling in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            hash = node_hash(sibling, &hash);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && hash == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6962 §2.1 written out as the RFC states it (recursion, split at the largest power of two).
    fn rfc_mth(leaves: &[&[u8]]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(leaves[0]),
            n => {
                let k = split(n);
                node_hash(&rfc_mth(&leaves[..k]), &rfc_mth(&leaves[k..]))
            }
        }
    }

    fn rfc_path(m: usize, leaves: &[&[u8]]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        let (mut path, sibling) = if m < k {
            (rfc_path(m, &leaves[..k]), rfc_mth(&leaves[k..]))
        } else {
            (rfc_path(m - k, &leaves[k..]), rfc_mth(&leaves[..k]))
        };
        path.push(sibling);
        path
    }

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn data(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| (i as u32).to_le_bytes().repeat(i % 3 + 1))
            .collect()
    }

    #[test]
    fn the_empty_tree_is_the_hash_of_nothing() {
        assert_eq!(
            MerkleTree::from_leaf_hashes(Vec::new()).root(),
            rfc_mth(&[])
        );
    }

    proptest! {
        #[test]
        fn roots_and_paths_match_the_rfc_definition(n in 1usize..70) {
            let leaves = data(n);
            let slices: Vec<&[u8]> = leaves.iter().map(|l| l.as_slice()).collect();
            let tree = MerkleTree::from_leaf_hashes(slices.iter().map(|d| leaf_hash(d)).collect());
            prop_assert_eq!(tree.root(), rfc_mth(&slices));
            for m in 0..n {
                let path = tree.audit_path(m as u64).unwrap();
                prop_assert_eq!(&path, &rfc_path(m, &slices));
                prop_assert!(verify_audit_path(m as u64, n as u64, &leaf_hash(slices[m]), &path, &tree.root()));
            }
        }

        #[test]
        fn tampered_proofs_are_refused(n in 2usize..40, pick in any::<usize>(), flip in any::<usize>()) {
            let leaves = data(n);
            let tree = MerkleTree::from_leaf_hashes(leaves.iter().map(|d| leaf_hash(d)).collect());
            let m = pick % n;
            let root = tree.root();
            let leaf = leaf_hash(&leaves[m]);
            let path = tree.audit_path(m as u64).unwrap();
            let mut bad_path = path.clone();
            let at = flip % bad_path.len();
            bad_path[at][flip % 32] ^= 1;
            prop_assert!(!verify_audit_path(m as u64, n as u64, &leaf, &bad_path, &root));
            let mut bad_leaf = leaf;
            bad_leaf[0] ^= 0x80;
            prop_assert!(!verify_audit_path(m as u64, n as u64, &bad_leaf, &path, &root));
            prop_assert!(!verify_audit_path(((m + 1) % n) as u64, n as u64, &leaf, &path, &root));
            prop_assert!(!verify_audit_path(n as u64, n as u64, &leaf, &path, &root));
            prop_assert!(!verify_audit_path(m as u64, n as u64, &leaf, &path[..path.len() - 1], &root));
        }
    }

    proptest! {
        #[test]
        fn the_root_alone_is_the_trees_root(n in 0usize..70) {
            let hashes: Vec<Hash> = data(n).iter().map(|d| leaf_hash(d)).collect();
            let tree = MerkleTree::from_leaf_hashes(hashes.clone());
            prop_assert_eq!(root_with(hashes, level_above), tree.root());
        }
    }

    proptest! {
        /// Every range of every tree verifies with its proof; a changed leaf, a changed or missing
        /// proof hash, or a shifted range does not.
        #[test]
        fn range_proofs_verify_and_tampering_is_refused(n in 1usize..70, a in any::<usize>(), b in any::<usize>(), flip in any::<usize>()) {
            let leaves = data(n);
            let slices: Vec<&[u8]> = leaves.iter().map(|l| l.as_slice()).collect();
            let hashes: Vec<Hash> = slices.iter().map(|d| leaf_hash(d)).collect();
            let tree = MerkleTree::from_leaf_hashes(hashes.clone());
            let root = rfc_mth(&slices);
            let (first, end) = (a % n, a % n + 1 + b % (n - a % n));
            let range = first as u64..end as u64;
            let proof = tree.range_proof(range.clone()).unwrap();
            prop_assert!(proof.len() <= 2 * (usize::BITS - n.leading_zeros()) as usize);
            prop_assert!(verify_range(range.clone(), n as u64, hashes[first..end].to_vec(), &proof, &root));
            let mut bad = hashes[first..end].to_vec();
            let at = flip % bad.len();
            bad[at][flip % 32] ^= 1;
            prop_assert!(!verify_range(range.clone(), n as u64, bad.clone(), &proof, &root));
            if !proof.is_empty() {
                let mut bad_proof = proof.clone();
                bad_proof[flip % proof.len()][0] ^= 1;
                prop_assert!(!verify_range(range.clone(), n as u64, hashes[first..end].to_vec(), &bad_proof, &root));
                prop_assert!(!verify_range(range.clone(), n as u64, hashes[first..end].to_vec(), &proof[1..], &root));
            }
            let mut longer = proof.clone();
            longer.push(root);
            prop_assert!(!verify_range(range.clone(), n as u64, hashes[first..end].to_vec(), &longer, &root));
            if end < n {
                prop_assert!(!verify_range(range.start + 1..range.end + 1, n as u64, hashes[first..end].to_vec(), &proof, &root));
            }
            // A single leaf's range proof is its audit path's content, checked the same way.
            prop_assert!(verify_range(first as u64..first as u64 + 1, n as u64, hashes[first..=first].to_vec(), &tree.range_proof(first as u64..first as u64 + 1).unwrap(), &root));
        }
    }

    #[test]
    fn proofs_for_missing_leaves_are_errors() {
        let tree = MerkleTree::from_data(&[1, 2, 3, 4, 5], 2);
        assert_eq!(tree.size(), 3);
        assert_eq!(
            tree.audit_path(3),
            Err(MerkleError::IndexOutOfRange { index: 3, size: 3 })
        );
    }
}
