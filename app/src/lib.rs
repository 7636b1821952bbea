//! gpushare's client side: posting and following jobs ([`jobs`]), fetching and verifying their results
//! ([`verify`]), private jobs' keys and sealing ([`private`]), embedding texts locally and writing embeddings ([`embeddings`]) with the `model`
//! subcommands ([`model_command`]), delegating stake and claiming rewards ([`stake`]), the local demo that runs a whole network on one machine ([`demo`]), and the
//! misbehaving RPC proxy its chaos runs use ([`chaos`]), a run's throughput, latency and costs
//! read back from the chain ([`load`]) and drawn over time ([`plot`]), the web dashboard's
//! server ([`dashboard`]), and the other gpushare binaries it runs ([`process`]).
pub mod chaos;
pub mod dashboard;
pub mod demo;
pub mod embeddings;
pub mod error;
pub mod jobs;
pub mod load;
pub mod model_command;
pub mod plot;
pub mod private;
pub mod process;
pub mod stake;
pub mod verify;
