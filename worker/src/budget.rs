//! The machine's resource budgets for held slots: what one shard of a job needs in memory (its
//! output, its Merkle tree, its operands or input, an embedding model's working memory) and on disk
//! (its output and input), checked
//! before a slot is claimed against the share of the budgets one slot may use. The defaults come
//! from the machine: half of the memory available and nine tenths of the data directory's free
//! space when the worker starts.
use std::path::Path;

use gpushare_core::embedding::model::Shape;
use gpushare_core::kernels::{Kernel, KernelError};
use gpushare_engine::embed::host_working_memory;

/// What one shard of a job needs, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardNeeds {
    pub memory: u64,
    pub disk: u64,
}

/// Why a job is over the budgets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    #[error("a shard needs {needed} bytes of memory; one slot may use {allowed}")]
    Memory { needed: u64, allowed: u64 },
    #[error("a shard needs {needed} bytes of disk; one slot may use {allowed}")]
    Disk { needed: u64, allowed: u64 },
    #[error("the job's kernel is unusable: {0}")]
    Kernel(#[from] KernelError),
}

impl OverBudget {
    /// The refusal's name in logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Memory { .. } => "memory",
            Self::Disk { .. } => "disk",
            Self::Kernel(_) => "invalid_kernel",
        }
    }
}

/// The needs of the largest shard of `kernel` split into `shards`, with a data input of
/// `input_bytes` (0 for seeded inputs). Kernel sizes come from chain data: they are validated here
/// and every product is checked, so no size read from a node can overflow or be trusted blindly.
pub fn shard_needs(
    kernel: &Kernel,
    shards: u32,
    input_bytes: u64,
) -> Result<ShardNeeds, KernelError> {
    kernel.check_shard_size(shards)?;
    let output = kernel.largest_shard_output_bytes(shards)?;
    let leaves = output.div_ceil(kernel.leaf_bytes() as u64);
    // Every level of the tree: at most twice the leaves' hashes.
    let tree = leaves.saturating_mul(2 * 32);
    let operands = match *kernel {
        // The shard's rows of A and all of B, whether generated from a seed or read from the input.
        Kernel::GemmI8 { m, n, k } => {
            let rows = u64::from(m).div_ceil(u64::from(shards.max(1)));
            u64::from(k).saturating_mul(rows.saturating_add(u64::from(n)))
        }
        _ => 0,
    };
    Ok(ShardNeeds {
        memory: output
            .saturating_add(tree)
            .saturating_add(operands)
            .saturating_add(input_bytes),
        disk: output.saturating_add(input_bytes),
    })
}

/// [`shard_needs`] of an embedding job whose model has `shape`, with the host's working memory for
/// its longest possible sequence on `threads` threads ([`host_working_memory`]).
pub fn embedding_shard_needs(
    kernel: &Kernel,
    shards: u32,
    input_bytes: u64,
    shape: &Shape,
    threads: u64,
) -> Result<ShardNeeds, KernelError> {
    let needs = shard_needs(kernel, shards, input_bytes)?;
    let tokens = match *kernel {
        Kernel::Embedding { tokens, .. } => u64::from(tokens),
        _ => 0,
    };
    let longest = tokens.min(u64::from(shape.max_tokens));
    Ok(ShardNeeds {
        memory: needs
            .memory
            .saturating_add(host_working_memory(shape, longest, threads)),
        ..needs
    })
}

/// The budgets, and how many slots share them.
#[derive(Clone, Copy, Debug)]
pub struct Budgets {
    pub memory: u64,
    pub disk: u64,
    pub slots: usize,
}

impl Budgets {
    /// Refuses needs over one slot's share of either budget.
    pub fn check(&self, needs: ShardNeeds) -> Result<(), OverBudget> {
        let share = |budget: u64| budget / self.slots.max(1) as u64;
        if needs.memory > share(self.memory) {
            return Err(OverBudget::Memory {
                needed: needs.memory,
                allowed: share(self.memory),
            });
        }
        if needs.disk > share(self.disk) {
            return Err(OverBudget::Disk {
                needed: needs.disk,
                allowed: share(self.disk),
            });
        }
        Ok(())
    }
}

/// Half of the memory available now (`MemAvailable` in /proc/meminfo), or None where it cannot be read.
pub fn default_memory_budget() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024 / 2)
}

/// Nine tenths of the free space of the file system holding `dir`, or None where it cannot be read.
pub fn default_disk_budget(dir: &Path) -> Option<u64> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stats` is written by statvfs before it is read.
    if unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    Some(free / 10 * 9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_needs_its_output_tree_operands_and_input() {
        let gemm = Kernel::GemmI8 {
            m: 1024,
            n: 1024,
            k: 512,
        };
        let needs = shard_needs(&gemm, 4, 0).unwrap();
        let output = 256 * 1024 * 4;
        assert_eq!(needs.disk, output);
        assert_eq!(needs.memory, output + output / 32 * 64 + 512 * (256 + 1024));
        let with_input = shard_needs(&gemm, 4, 1 << 20).unwrap();
        assert_eq!(with_input.disk, needs.disk + (1 << 20));
        let chain = Kernel::Sha256Chain {
            steps: 1 << 20,
            leaf_every: 1 << 10,
        };
        assert_eq!(
            shard_needs(&chain, 1, 0).unwrap(),
            ShardNeeds {
                memory: 1024 * 32 * 3,
                disk: 1024 * 32
            }
        );
    }

    /// A long sequence of MiniLM on many threads needs its traces in memory: a budget that holds the
    /// output alone refuses it.
    #[test]
    fn an_embedding_shard_needs_its_working_memory() {
        let shape = Shape::MINILM_L6;
        let kernel = Kernel::Embedding {
            model: [0; 32],
            batch: [0; 32],
            dims: shape.hidden,
            sequences: 64,
            tokens: 64 * 256,
        };
        let plain = shard_needs(&kernel, 1, 0).unwrap();
        let needs = embedding_shard_needs(&kernel, 1, 0, &shape, 16).unwrap();
        let per_sequence = 256 * 4 * 6 * (8 * 384 + 1536);
        assert!(
            needs.memory >= plain.memory + 16 * per_sequence,
            "{needs:?}"
        );
        let budgets = Budgets {
            memory: 2 * plain.memory,
            disk: u64::MAX,
            slots: 1,
        };
        assert!(budgets.check(plain).is_ok());
        assert!(matches!(
            budgets.check(needs),
            Err(OverBudget::Memory { .. })
        ));
        // A short batch bounds its sequences by its tokens, not the model's length.
        let short = Kernel::Embedding {
            model: [0; 32],
            batch: [0; 32],
            dims: shape.hidden,
            sequences: 1,
            tokens: 8,
        };
        let small = embedding_shard_needs(&short, 1, 0, &shape, 16).unwrap();
        assert!(small.memory < needs.memory / 8, "{small:?}");
    }

    #[test]
    fn sizes_from_chain_are_validated_before_use() {
        // Impossible shapes a node could report: zero sizes, more shards than rows, a shard over the limit.
        for (kernel, shards) in [
            (Kernel::GemmI8 { m: 0, n: 8, k: 8 }, 1),
            (Kernel::GemmI8 { m: 4, n: 8, k: 8 }, 5),
            (
                Kernel::GemmI8 {
                    m: 1 << 16,
                    n: 1 << 16,
                    k: 1 << 16,
                },
                1,
            ),
            (
                Kernel::MonteCarlo {
                    blocks: 0,
                    samples_per_block: 1,
                },
                1,
            ),
        ] {
            assert!(
                shard_needs(&kernel, shards, 0).is_err(),
                "{kernel:?} / {shards}"
            );
        }
    }

    #[test]
    fn each_slot_gets_its_share_of_the_budgets() {
        let budgets = Budgets {
            memory: 1_000,
            disk: 400,
            slots: 2,
        };
        assert!(
            budgets
                .check(ShardNeeds {
                    memory: 500,
                    disk: 200
                })
                .is_ok()
        );
        assert_eq!(
            budgets
                .check(ShardNeeds {
                    memory: 501,
                    disk: 1
                })
                .unwrap_err()
                .reason(),
            "memory"
        );
        assert_eq!(
            budgets
                .check(ShardNeeds {
                    memory: 1,
                    disk: 201
                })
                .unwrap_err()
                .reason(),
            "disk"
        );
    }

    #[test]
    fn the_machine_provides_defaults() {
        assert!(default_memory_budget().is_some_and(|bytes| bytes > 0));
        assert!(default_disk_budget(Path::new("/")).is_some_and(|bytes| bytes > 0));
    }
}
