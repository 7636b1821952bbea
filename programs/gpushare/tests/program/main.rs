//! Program tests: the gpushare program compiled for the host, run as a builtin inside LiteSVM
//! with the real SPL Token and Token-2022 programs.
mod conservation;
mod harness;
mod lifecycle;
mod refusals;
mod staking;
