//! Program tests: the gpushare program inside LiteSVM with the real SPL Token and Token-2022
//! programs — its SBPF build (scripts/build-sbf) when `GPUSHARE_PROGRAM_SO` names it, else compiled
//! for the host and run as a builtin.
// Tests reuse one instruction for a refused and a successful send; a slice of a clone reads best.
#![allow(clippy::cloned_ref_to_slice_refs)]

mod attacks;
mod benchmark;
mod compute_units;
mod conservation;
mod delegation;
mod economics;
mod embedding_spot_check;
mod harness;
mod layout;
mod lifecycle;
mod outputs;
mod pool_vectors;
mod privacy;
mod refusals;
mod spot_check;
mod staking;
