//! gpushare-worker: the provider's side of the network. Finds, claims, computes (on
//! `gpushare-engine`), commits, reveals, proves and settles work as a daemon, with the provider's
//! chain commands and its local state around it.
//!
//! Module map, lowest first (a module uses only those above it):
//! - [`budget`], [`fault`], [`identity`], [`input_policy`]: the provider's limits, test-only fault
//!   injection, its identity on the network, what a job's input may reach and each refusal's name;
//! - [`error`]: [`error::WorkerError`], which wraps the engine's, the chain's and the inputs' errors;
//! - [`store`], [`index`], [`prover`]: the data directory, the index of the network's open work,
//!   Merkle proofs of committed outputs;
//! - [`inputs`], [`metrics`], [`config`]: fetching data inputs under the policy, the Prometheus
//!   endpoint, the configuration;
//! - [`models`]: the embedding models the provider serves, by identity;
//! - [`embedding_prover`]: the witnesses of a spot-checked embedding shard's samples, checked here
//!   before they are staged;
//! - [`benchmark`]: the on-chain benchmark that proves a machine's throughput;
//! - [`daemon`]: the round loop and the slot state machine;
//! - [`provider`], [`cli`]: the provider's commands, and the command line that runs them.
pub mod benchmark;
pub mod budget;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod embedding_prover;
pub mod error;
pub mod fault;
pub mod identity;
pub mod index;
pub mod input_policy;
pub mod inputs;
pub mod metrics;
pub mod models;
pub mod prover;
pub mod provider;
pub mod store;
#[cfg(test)]
mod testing;
