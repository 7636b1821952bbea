//! Helpers shared by the worker's unit tests.
use anchor_lang::AnchorDeserialize;

/// An account decoded from zeroes: every number 0, every enum its first variant, every option and
/// list empty.
pub fn zeroed<T: AnchorDeserialize>() -> T {
    T::deserialize(&mut &[0u8; 4096][..]).expect("4 KiB of zeroes decode as any gpushare account")
}
