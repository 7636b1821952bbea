//! Accounts the program owns, one module each, with the methods that keep them consistent.
pub mod assignment;
pub mod benchmark;
pub mod delegation;
pub mod job;
pub mod network;
pub mod pool;
pub mod privacy;
pub mod proof_buffer;
pub mod provider;
pub mod shard;

pub use assignment::*;
pub use benchmark::*;
pub use delegation::*;
pub use job::*;
pub use network::*;
pub use pool::*;
pub use privacy::*;
pub use proof_buffer::*;
pub use provider::*;
pub use shard::*;
