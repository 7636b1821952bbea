//! Program tests: the gpushare program compiled for the host, run as a builtin inside LiteSVM
//! with the real SPL Token and Token-2022 programs.
// Tests reuse one instruction for a refused and a successful send; a slice of a clone reads best.
#![allow(clippy::cloned_ref_to_slice_refs)]

mod attacks;
mod benchmark;
mod conservation;
mod delegation;
mod economics;
mod harness;
mod layout;
mod lifecycle;
mod outputs;
mod refusals;
mod spot_check;
mod staking;
