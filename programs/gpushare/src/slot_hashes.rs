//! The SlotHashes sysvar as a source of seeds nobody knew in advance: the hashes of the first slots
//! after a given slot, for spot-check challenges and extra-replica draws.
use anchor_lang::prelude::*;
use gpushare_core::spot_check::{CHALLENGE_SLOTS, challenge_seed};

use crate::errors::GpuShareError;

/// The hashes of the first [`CHALLENGE_SLOTS`] slots after `after` in the SlotHashes sysvar's data
/// (entries newest first: a u64 count, then (slot u64, hash [u8; 32]) pairs), oldest first. None of
/// them existed in slot `after`, and they span more than one leader's four-slot turn, so no single
/// leader can grind them all. Refused while fewer later slots are recorded, and once the entries no
/// longer reach back to `after` (an early one may have been dropped). Also returns the newest of
/// those slots: the first in which all of them were known.
pub fn slot_hashes_after(data: &[u8], after: u64) -> Result<([[u8; 32]; CHALLENGE_SLOTS], u64)> {
    const ENTRY: usize = 40;
    let count =
        data.get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default())) as usize;
    // Read in place: mainnet's sysvar holds 512 entries, and the program heap is 32 KiB.
    let entries = data
        .get(8..)
        .unwrap_or_default()
        .chunks_exact(ENTRY)
        .take(count);
    let slot = |entry: &[u8]| u64::from_le_bytes(entry[..8].try_into().unwrap_or_default());
    let later = entries
        .clone()
        .take_while(|entry| slot(entry) > after)
        .count();
    require!(later >= CHALLENGE_SLOTS, GpuShareError::ChallengeNotReady);
    require!(later < entries.len(), GpuShareError::ChallengeUnavailable);
    // The used entries, newest first; the hashes go oldest first.
    let mut hashes = [[0u8; 32]; CHALLENGE_SLOTS];
    let mut newest = 0;
    for (i, entry) in entries
        .skip(later - CHALLENGE_SLOTS)
        .take(CHALLENGE_SLOTS)
        .enumerate()
    {
        if i == 0 {
            newest = slot(entry);
        }
        hashes[CHALLENGE_SLOTS - 1 - i].copy_from_slice(&entry[8..]);
    }
    Ok((hashes, newest))
}

/// `challenge_seed` of the slot hashes after `after`, mixed with the account `key` it is for.
pub fn seed_after(data: &[u8], after: u64, key: &Pubkey) -> Result<[u8; 32]> {
    Ok(seed_and_slot_after(data, after, key)?.0)
}

/// `seed_after`, and the slot from which the seed could be known.
pub fn seed_and_slot_after(data: &[u8], after: u64, key: &Pubkey) -> Result<([u8; 32], u64)> {
    let (hashes, newest) = slot_hashes_after(data, after)?;
    Ok((challenge_seed(&hashes, &key.to_bytes()), newest))
}
