//! gpushare-worker: the provider's side of the network. Finds, claims, computes (on
//! `gpushare-engine`), commits, reveals, proves and settles work as a daemon, with the provider's
//! chain commands and its local state around it.
//!
//! Module map, lowest first (a module uses only those above it):
//! - [`error`]: [`error::WorkerError`], which wraps the engine's and the chain's errors;
//! - [`budget`], [`fault`], [`store`], [`inputs`]: the provider's limits, test-only fault injection,
//!   the data directory, data inputs under the input policy;
//! - [`config`], [`index`], [`metrics`], [`prover`]: the configuration file, the index of the
//!   network's open work, the Prometheus endpoint, Merkle proofs of committed outputs;
//! - [`benchmark`]: the on-chain benchmark that proves a machine's throughput;
//! - [`daemon`]: the round loop and the slot state machine;
//! - [`provider`], [`cli`]: the provider's commands, and the command line that runs them.
pub mod benchmark;
pub mod budget;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod error;
pub mod fault;
pub mod identity;
pub mod index;
pub mod inputs;
pub mod metrics;
pub mod prover;
pub mod provider;
pub mod store;
#[cfg(test)]
mod testing;
