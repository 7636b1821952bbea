//! Off-chain access to the gpushare program: the addresses it derives ([`pda`]), a builder for every
//! instruction ([`ix`]), chain I/O over JSON-RPC ([`chain`]) and the program's error names
//! ([`errors`]), so that the worker, clients, tools and tests talk to the chain one way.
pub mod chain;
pub mod errors;
pub mod filters;
pub mod ix;
pub mod pda;
