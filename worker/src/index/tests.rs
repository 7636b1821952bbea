//! The index against a node's answers: decoding and bounds, ordering by slot, changes against re-reads.
use super::*;
use crate::testing::zeroed;
use anchor_lang::{AccountSerialize, Discriminator};
use gpushare::state::Benchmark;

fn bytes<T: AccountSerialize>(account: &T) -> Vec<u8> {
    let mut data = Vec::new();
    account.try_serialize(&mut data).unwrap();
    data
}

fn index_with_network() -> (Index, Pubkey) {
    let (network, provider) = (Pubkey::new_unique(), Pubkey::new_unique());
    let mut index = Index::new(network, provider);
    let mut network_account: Network = zeroed();
    network_account.mint = Pubkey::new_unique();
    // Parameters `initialize_network` accepts (`NetworkParams::validate`).
    let params = &mut network_account.params;
    (
        params.min_stake,
        params.stake_per_claim,
        params.min_delegation,
    ) = (1, 1, 1);
    (params.max_claim_timeout, params.reveal_window) = (60, 60);
    (
        params.max_shards,
        params.max_replicas,
        params.benchmark_millis,
    ) = (8, 3, 1);
    params.proof_validity_slots = 1;
    assert!(index.apply(network, 1, Some(&bytes(&network_account))));
    let mut provider_account: Provider = zeroed();
    provider_account.network = network;
    assert!(index.apply(provider, 1, Some(&bytes(&provider_account))));
    (index, network)
}

/// A job the program could have written: one 8×8×8 gemm_i8 shard, two replicas.
fn plausible_job(network: Pubkey, price: u64) -> Job {
    let mut job: Job = zeroed();
    (job.network, job.price) = (network, price);
    (job.shards, job.replicas, job.started) = (1, 2, vec![0]);
    job.kernel = gpushare::state::KernelSpec::GemmI8 { m: 8, n: 8, k: 8 };
    job.mode = gpushare::state::VerificationMode::Quorum { q: 2 };
    job
}

fn job_on(network: Pubkey, price: u64) -> Vec<u8> {
    bytes(&plausible_job(network, price))
}

#[test]
fn values_the_program_never_writes_are_refused_by_name() {
    let network = Pubkey::new_unique();
    let refused = |data: Vec<u8>| Tracked::decode(&data).err();
    let job = |change: fn(&mut Job)| {
        let mut job = plausible_job(network, 1);
        change(&mut job);
        refused(bytes(&job))
    };
    assert_eq!(job(|_| ()), None);
    let out = ChainDataError::OutOfBounds;
    assert_eq!(job(|j| j.shards = 0), Some(out("job.shards")));
    assert_eq!(job(|j| j.replicas = 200), Some(out("job.replicas")));
    assert_eq!(job(|j| j.started = vec![0; 4096]), Some(out("job.started")));
    assert_eq!(
        job(|j| j.shards_settled = 2),
        Some(out("job.shards_settled"))
    );
    assert_eq!(
        job(|j| j.kernel = gpushare::state::KernelSpec::GemmI8 {
            m: 1 << 16,
            n: 1 << 16,
            k: 8
        }),
        Some(out("job.kernel"))
    );
    let shard = |change: fn(&mut Shard)| {
        let mut shard: Shard = zeroed();
        shard.replicas_open = 2;
        change(&mut shard);
        refused(bytes(&shard))
    };
    assert_eq!(shard(|_| ()), None);
    assert_eq!(
        shard(|s| s.replicas_open = 200),
        Some(out("shard.replicas_open"))
    );
    assert_eq!(
        shard(|s| s.replicas_open = 0),
        Some(out("shard.replicas_open"))
    );
    assert_eq!(
        shard(|s| s.distinct_roots = 3),
        Some(out("shard.distinct_roots"))
    );
    assert_eq!(shard(|s| s.root_of[3] = 2), Some(out("shard.root_of")));
    assert_eq!(shard(|s| s.votes[0] = 255), Some(out("shard.votes")));
    assert_eq!(
        job(|j| j.mode = gpushare::state::VerificationMode::SpotCheck { samples: 200 }),
        Some(out("job.mode"))
    );
    let mut assignment: Assignment = zeroed();
    assignment.replica = 16;
    assert_eq!(refused(bytes(&assignment)), Some(out("assignment.replica")));
    let mut provider: Provider = zeroed();
    provider.endpoint = "x".repeat(4096);
    assert_eq!(refused(bytes(&provider)), Some(out("provider.endpoint")));
    assert_eq!(
        refused(b"not an account".to_vec()),
        Some(ChainDataError::UnknownKind)
    );
}

proptest::proptest! {
    /// Any bytes behind any tracked account's discriminator decode or are refused by name,
    /// without panicking and without allocating what a length prefix claims.
    #[test]
    fn random_account_data_is_refused_by_name_and_never_panics(
        kind in 0usize..6,
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
    ) {
        let discriminators = [
            Job::DISCRIMINATOR, Shard::DISCRIMINATOR, Assignment::DISCRIMINATOR,
            Provider::DISCRIMINATOR, Network::DISCRIMINATOR, Benchmark::DISCRIMINATOR,
        ];
        let mut data = discriminators[kind].to_vec();
        data.extend_from_slice(&body);
        if let Err(error) = Tracked::decode(&data) {
            proptest::prop_assert!(error != ChainDataError::UnknownKind);
        }
    }

    /// A valid account cut short anywhere is refused as undecodable.
    #[test]
    fn truncated_account_data_is_undecodable(cut in 0usize..1000) {
        let data = job_on(Pubkey::new_unique(), 1);
        let cut = cut % data.len();
        let error = Tracked::decode(&data[..cut]).err();
        let expected = if cut < 8 { ChainDataError::UnknownKind } else { ChainDataError::Undecodable };
        proptest::prop_assert_eq!(error, Some(expected));
    }
}

#[test]
fn an_older_update_never_overwrites_a_newer_one() {
    let (mut index, network) = index_with_network();
    let key = Pubkey::new_unique();
    assert!(index.apply(key, 10, Some(&job_on(network, 2))));
    assert!(!index.apply(key, 9, Some(&job_on(network, 1))));
    assert_eq!(index.view().unwrap().jobs[&key].price, 2);
    index.forget(key, 5);
    assert!(
        index.view().unwrap().jobs.is_empty(),
        "closed at slot 10 at the earliest"
    );
    assert!(
        !index.apply(key, 9, Some(&job_on(network, 1))),
        "a stale update cannot reopen it"
    );
}

#[test]
fn reading_the_same_data_again_is_not_a_change() {
    let (mut index, network) = index_with_network();
    let key = Pubkey::new_unique();
    assert!(index.apply(key, 10, Some(&job_on(network, 2))));
    assert!(!index.apply(key, 30, Some(&job_on(network, 2))));
    assert_eq!(index.changed_at(&key), 10);
    assert!(
        !index.apply(key, 20, Some(&job_on(network, 3))),
        "older than the re-read"
    );
    assert!(index.apply(key, 31, Some(&job_on(network, 3))));
    assert_eq!(index.changed_at(&key), 31);
}

#[test]
fn other_networks_and_other_providers_are_not_tracked() {
    let (mut index, network) = index_with_network();
    assert!(!index.apply(
        Pubkey::new_unique(),
        3,
        Some(&job_on(Pubkey::new_unique(), 1))
    ));
    let mut assignment: Assignment = zeroed();
    assignment.provider = Pubkey::new_unique();
    assert!(!index.apply(Pubkey::new_unique(), 3, Some(&bytes(&assignment))));
    assert!(!index.apply(Pubkey::new_unique(), 3, Some(b"not an account")));
    assert!(index.apply(Pubkey::new_unique(), 3, Some(&job_on(network, 1))));
    let view = index.view().unwrap();
    assert_eq!((view.jobs.len(), view.held.len()), (1, 0));
}

#[test]
fn a_resync_drops_what_closed_and_keeps_what_is_newer() {
    let (mut index, network) = index_with_network();
    let (closed, newer, kept) = (
        Pubkey::new_unique(),
        Pubkey::new_unique(),
        Pubkey::new_unique(),
    );
    index.apply(closed, 5, Some(&job_on(network, 1)));
    index.apply(newer, 25, Some(&job_on(network, 3)));
    index.apply(kept, 5, Some(&job_on(network, 1)));
    let snapshot = Snapshot {
        slot: 20,
        accounts: vec![(kept, job_on(network, 4)), (newer, job_on(network, 2))],
    };
    index.resync(Kind::Job, &snapshot);
    let jobs = index.view().unwrap().jobs;
    assert_eq!(jobs.len(), 2);
    assert_eq!((jobs[&kept].price, jobs[&newer].price), (4, 3));
    assert!(index.view().unwrap().shards.is_empty());
    assert!(
        index.view().is_some(),
        "a job listing leaves the network and provider alone"
    );
}
