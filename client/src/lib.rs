//! Off-chain access to the gpushare program: the addresses it derives ([`pda`]), a builder for every
//! instruction ([`ix`]), the compute units each may consume ([`compute_budget`]) and the price offered
//! for them ([`priority_fee`]), chain I/O over
//! JSON-RPC ([`chain`]) and the program's error names ([`errors`]), so that the worker, clients,
//! tools and tests talk to the chain one way; and what every binary does locally ([`local`]: its
//! keypair, an operator's signal to stop).
pub mod chain;
pub mod compute_budget;
pub mod errors;
pub mod filters;
pub mod ix;
pub mod local;
pub mod pda;
pub mod priority_fee;
