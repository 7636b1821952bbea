//! Off-chain access to the gpushare program: the addresses it derives ([`pda`]) and a builder for every
//! instruction ([`ix`]), so that the worker, clients, tools and tests assemble transactions one way.
pub mod ix;
pub mod pda;
