//! The verification paths the program runs in a proof instruction, as the compute-unit meter runs
//! them: one [`Case`] encoded into a flat buffer, computed by [`Case::run`], the result written after
//! it (or one [`EmbeddingCase`], in the probe built with `embedding-checks`). With the `ebpf` feature
//! the crate is `no_std` and exports `entrypoint`, for lowering to eBPF;
//! without it, the meter uses the same encoding and runs the same cases natively to check the results.
#![cfg_attr(feature = "ebpf", no_std)]

extern crate alloc;

pub mod case;
pub mod embedding;
#[cfg(feature = "ebpf")]
mod entry;

pub use case::{Case, Outcome};
pub use embedding::EmbeddingCase;
