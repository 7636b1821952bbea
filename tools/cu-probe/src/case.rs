//! What one metered run computes, and its encoding in the VM's input region.
use alloc::vec::Vec;

use gpushare_core::kernels::{Kernel, KernelError, seeded_leaf};
use gpushare_core::merkle::{Hash, verify_audit_path};

/// Bytes of the input region: the encoded case (a witness up to the proof buffer's 64 KiB, less
/// the case's own fields), then the outcome at [`OUTCOME_OFFSET`].
pub const INPUT_REGION_BYTES: usize = 72 * 1024;
/// Where the outcome is written: status (u64), length (u64), then the bytes.
pub const OUTCOME_OFFSET: usize = 64 * 1024;
/// Longest audit path a case may carry (a tree of 2⁶⁴ leaves).
pub const MAX_PATH: usize = 64;

/// One verification the program performs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Case {
    /// Recompute leaf `leaf` of shard `shard` of a seeded job (`seeded_leaf`).
    Leaf {
        kernel: Kernel,
        seed: [u8; 32],
        shards: u32,
        shard: u32,
        leaf: u64,
        previous: Option<[u8; 32]>,
    },
    /// Check an RFC 6962 audit path (`verify_audit_path`).
    Inclusion {
        index: u64,
        size: u64,
        leaf_hash: Hash,
        path: Vec<Hash>,
        root: Hash,
    },
}

/// What a case computed: a leaf's bytes, or whether the path holds (one byte, 1 or 0).
pub type Outcome = Result<Vec<u8>, KernelError>;

/// Reads the input region front to back.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    pub(crate) fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

impl Case {
    /// The case as the entry point reads it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Case::Leaf {
                kernel,
                seed,
                shards,
                shard,
                leaf,
                previous,
            } => {
                let (tag, a, b, c) = match *kernel {
                    Kernel::GemmI8 { m, n, k } => (0u8, m, n, k),
                    Kernel::Sha256Chain { steps, leaf_every } => (1, steps, leaf_every, 0),
                    Kernel::MonteCarlo {
                        blocks,
                        samples_per_block,
                    } => (2, blocks, samples_per_block, 0),
                    // Not recomputed leaf by leaf: the entry point refuses this tag.
                    Kernel::Embedding { .. } => (4, 0, 0, 0),
                };
                out.push(tag);
                for word in [a, b, c, *shards, *shard] {
                    out.extend_from_slice(&word.to_le_bytes());
                }
                out.extend_from_slice(&leaf.to_le_bytes());
                out.extend_from_slice(seed);
                out.push(u8::from(previous.is_some()));
                out.extend_from_slice(&previous.unwrap_or_default());
            }
            Case::Inclusion {
                index,
                size,
                leaf_hash,
                path,
                root,
            } => {
                out.push(3);
                out.extend_from_slice(&index.to_le_bytes());
                out.extend_from_slice(&size.to_le_bytes());
                out.extend_from_slice(leaf_hash);
                out.extend_from_slice(root);
                out.extend_from_slice(&(path.len() as u64).to_le_bytes());
                path.iter().for_each(|hash| out.extend_from_slice(hash));
            }
        }
        out
    }

    /// Reads a case back, or None for bytes no [`Case::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<Case> {
        let mut read = Reader(bytes);
        let [tag] = read.take()?;
        if tag == 3 {
            let (index, size) = (read.u64()?, read.u64()?);
            let (leaf_hash, root) = (read.take()?, read.take()?);
            let length = usize::try_from(read.u64()?)
                .ok()
                .filter(|n| *n <= MAX_PATH)?;
            let path = (0..length)
                .map(|_| read.take())
                .collect::<Option<Vec<_>>>()?;
            return Some(Case::Inclusion {
                index,
                size,
                leaf_hash,
                path,
                root,
            });
        }
        let (a, b, c) = (read.u32()?, read.u32()?, read.u32()?);
        let kernel = match tag {
            0 => Kernel::GemmI8 { m: a, n: b, k: c },
            1 => Kernel::Sha256Chain {
                steps: a,
                leaf_every: b,
            },
            2 => Kernel::MonteCarlo {
                blocks: a,
                samples_per_block: b,
            },
            _ => return None,
        };
        let (shards, shard, leaf) = (read.u32()?, read.u32()?, read.u64()?);
        let seed = read.take()?;
        let [has_previous] = read.take()?;
        let previous: [u8; 32] = read.take()?;
        Some(Case::Leaf {
            kernel,
            seed,
            shards,
            shard,
            leaf,
            previous: (has_previous == 1).then_some(previous),
        })
    }

    /// Computes the case with gpushare-core, as the program's proof instruction does.
    pub fn run(&self) -> Outcome {
        match self {
            Case::Leaf {
                kernel,
                seed,
                shards,
                shard,
                leaf,
                previous,
            } => seeded_leaf(*kernel, seed, *shards, *shard, *leaf, *previous),
            Case::Inclusion {
                index,
                size,
                leaf_hash,
                path,
                root,
            } => Ok(alloc::vec![u8::from(verify_audit_path(
                *index, *size, leaf_hash, path, root
            ))]),
        }
    }
}
