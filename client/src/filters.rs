//! Byte offsets of the account fields that `getProgramAccounts` filters match on (after the 8-byte
//! discriminator), checked against the accounts' serialization by the tests below.

/// `Job::network`.
pub const JOB_NETWORK: usize = 8 + 32;
/// `Shard::job`.
pub const SHARD_JOB: usize = 8;
/// `Shard::payer`.
pub const SHARD_PAYER: usize = 8 + 32 + 2;
/// `Assignment::job`.
pub const ASSIGNMENT_JOB: usize = 8;
/// `Assignment::provider`.
pub const ASSIGNMENT_PROVIDER: usize = 8 + 32 + 32 + 2 + 1;
/// `Delegation::delegator`.
pub const DELEGATION_DELEGATOR: usize = 8;
/// `Delegation::provider`.
pub const DELEGATION_PROVIDER: usize = 8 + 32;
/// `Provider::network`.
pub const PROVIDER_NETWORK: usize = 8 + 32;
/// `ProofBuffer::authority`.
pub const PROOF_BUFFER_AUTHORITY: usize = 8 + 32 + 1;

#[cfg(test)]
mod tests {
    use anchor_lang::prelude::Pubkey;
    use anchor_lang::{AccountSerialize, Space};
    use gpushare::state::{Assignment, Delegation, Job, ProofBuffer, Provider, Shard};

    fn serialized<T: AccountSerialize>(account: &T, space: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(space);
        account.try_serialize(&mut bytes).unwrap();
        bytes
    }

    fn at(bytes: &[u8], offset: usize) -> Pubkey {
        Pubkey::try_from(&bytes[offset..offset + 32]).unwrap()
    }

    #[test]
    fn offsets_match_the_serialized_accounts() {
        let key = Pubkey::new_unique();
        let mut assignment: Assignment = zeroed();
        assignment.provider = key;
        assignment.job = Pubkey::new_unique();
        let bytes = serialized(&assignment, Assignment::INIT_SPACE);
        assert_eq!(at(&bytes, super::ASSIGNMENT_PROVIDER), key);
        assert_eq!(at(&bytes, super::ASSIGNMENT_JOB), assignment.job);
        let mut shard: Shard = zeroed();
        shard.job = key;
        shard.payer = Pubkey::new_unique();
        let bytes = serialized(&shard, Shard::INIT_SPACE);
        assert_eq!(at(&bytes, super::SHARD_JOB), key);
        assert_eq!(at(&bytes, super::SHARD_PAYER), shard.payer);
        let mut delegation: Delegation = zeroed();
        delegation.delegator = key;
        delegation.provider = Pubkey::new_unique();
        let bytes = serialized(&delegation, Delegation::INIT_SPACE);
        assert_eq!(at(&bytes, super::DELEGATION_DELEGATOR), key);
        assert_eq!(at(&bytes, super::DELEGATION_PROVIDER), delegation.provider);
        let mut provider: Provider = zeroed();
        provider.network = key;
        let bytes = serialized(&provider, Provider::INIT_SPACE);
        assert_eq!(at(&bytes, super::PROVIDER_NETWORK), key);
        let mut buffer: ProofBuffer = zeroed();
        buffer.assignment = Pubkey::new_unique();
        buffer.authority = key;
        let bytes = serialized(&buffer, ProofBuffer::INIT_SPACE);
        assert_eq!(at(&bytes, super::PROOF_BUFFER_AUTHORITY), key);
        let mut job: Job = zeroed();
        job.network = key;
        assert_eq!(
            at(&serialized(&job, Job::INIT_SPACE), super::JOB_NETWORK),
            key
        );
    }

    /// An all-zero account, decoded the way the program decodes a fresh one.
    fn zeroed<T: anchor_lang::AccountDeserialize + anchor_lang::Discriminator + Space>() -> T {
        let mut bytes = T::DISCRIMINATOR.to_vec();
        bytes.resize(8 + T::INIT_SPACE, 0);
        T::try_deserialize(&mut &bytes[..]).unwrap()
    }
}
