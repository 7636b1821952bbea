//! The accounts the index keeps, as decoded from a node's answers: by discriminator, with every size,
//! count and index the program would never write refused by name (the node may not be honest, and
//! these numbers index arrays and size allocations in the worker).
use std::sync::Arc;

use anchor_lang::{AccountDeserialize, Discriminator};
use gpushare::constants::{
    MAX_ENDPOINT_LEN, MAX_REPLICAS_LIMIT, MAX_SHARDS_LIMIT, MAX_SLOTS_PER_SHARD,
};
use gpushare::state::{Assignment, Benchmark, Job, Network, Provider, Shard};

/// A gpushare account the worker keeps track of.
#[derive(Clone)]
pub enum Tracked {
    Network(Box<Network>),
    Provider(Box<Provider>),
    Benchmark(Box<Benchmark>),
    Job(Arc<Job>),
    Shard(Arc<Shard>),
    Assignment(Box<Assignment>),
}

/// Why account data a node returned was not taken into the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainDataError {
    #[error("not a gpushare account this worker tracks")]
    UnknownKind,
    #[error("the account data does not decode")]
    Undecodable,
    #[error("{0} is outside what the program allows")]
    OutOfBounds(&'static str),
}

/// Refuses a job with values no program instruction writes: counts, lengths and sizes that index
/// arrays or size work in the worker.
pub fn check_job(job: &Job) -> Result<(), ChainDataError> {
    bounded((1..=MAX_SHARDS_LIMIT).contains(&job.shards), "job.shards")?;
    bounded(
        (1..=MAX_REPLICAS_LIMIT).contains(&job.replicas),
        "job.replicas",
    )?;
    bounded(
        job.started.len() == usize::from(job.shards).div_ceil(8),
        "job.started",
    )?;
    bounded(
        job.shards_settled <= job.shards && job.shards_started <= job.shards,
        "job.shards_settled",
    )?;
    bounded(job.mode.validate(job.replicas).is_ok(), "job.mode")?;
    bounded(job.input.validate(&job.kernel).is_ok(), "job.input")?;
    bounded(
        job.kernel
            .to_core()
            .check_shard_size(u32::from(job.shards))
            .is_ok(),
        "job.kernel",
    )
}

/// Refuses a shard whose counts could not have been written by the program; the shard's own
/// methods subtract them and index with them.
pub fn check_shard(shard: &Shard) -> Result<(), ChainDataError> {
    let open = usize::from(shard.replicas_open);
    bounded(
        (1..=MAX_SLOTS_PER_SHARD).contains(&open),
        "shard.replicas_open",
    )?;
    bounded(
        usize::from(shard.distinct_roots) <= open,
        "shard.distinct_roots",
    )?;
    bounded(
        shard.root_of.iter().all(|&root| usize::from(root) < open),
        "shard.root_of",
    )?;
    bounded(
        shard.votes.iter().map(|&v| usize::from(v)).sum::<usize>() <= open,
        "shard.votes",
    )
}

/// `Ok` when `holds`, else the named field out of bounds.
fn bounded(holds: bool, field: &'static str) -> Result<(), ChainDataError> {
    if holds {
        Ok(())
    } else {
        Err(ChainDataError::OutOfBounds(field))
    }
}

impl Tracked {
    /// Decodes a gpushare account by its discriminator, and refuses by name data of other kinds, data
    /// that does not decode, and sizes, counts and indices the program would never write: the node
    /// the worker reads from may not be honest, and these numbers index arrays and size allocations.
    pub fn decode(data: &[u8]) -> Result<Self, ChainDataError> {
        fn as_<T: AccountDeserialize + Discriminator>(
            data: &[u8],
        ) -> Option<Result<Box<T>, ChainDataError>> {
            data.starts_with(T::DISCRIMINATOR).then(|| {
                T::try_deserialize(&mut &data[..])
                    .map(Box::new)
                    .map_err(|_| ChainDataError::Undecodable)
            })
        }
        let account = as_(data)
            .map(|job| job.map(|job| Self::Job(Arc::from(job))))
            .or_else(|| as_(data).map(|shard| shard.map(|shard| Self::Shard(Arc::from(shard)))))
            .or_else(|| as_(data).map(|a| a.map(Self::Assignment)))
            .or_else(|| as_(data).map(|p| p.map(Self::Provider)))
            .or_else(|| as_(data).map(|n| n.map(Self::Network)))
            .or_else(|| as_(data).map(|b| b.map(Self::Benchmark)))
            .ok_or(ChainDataError::UnknownKind)??;
        account.check_bounds()?;
        Ok(account)
    }

    /// Refuses values no program instruction writes.
    fn check_bounds(&self) -> Result<(), ChainDataError> {
        let slots = MAX_SLOTS_PER_SHARD;
        match self {
            Self::Job(job) => check_job(job),
            Self::Shard(shard) => check_shard(shard),
            Self::Assignment(assignment) => bounded(
                usize::from(assignment.replica) < slots,
                "assignment.replica",
            ),
            Self::Provider(provider) => bounded(
                provider.endpoint.len() <= MAX_ENDPOINT_LEN,
                "provider.endpoint",
            ),
            Self::Network(network) => bounded(network.params.validate().is_ok(), "network.params"),
            Self::Benchmark(_) => Ok(()),
        }
    }

    pub(super) fn kind(&self) -> Kind {
        match self {
            Self::Network(_) | Self::Provider(_) | Self::Benchmark(_) => Kind::Single,
            Self::Job(_) => Kind::Job,
            Self::Shard(_) => Kind::Shard,
            Self::Assignment(_) => Kind::Assignment,
        }
    }
}

/// Which resync listing an account belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Single,
    Job,
    Shard,
    Assignment,
}
