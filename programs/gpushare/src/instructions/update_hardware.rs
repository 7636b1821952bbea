//! `update_hardware`: a provider updates its self-reported hardware profile.
use anchor_lang::prelude::*;

use crate::events::{HardwareUpdated, emit_event};
use crate::instructions::ProviderProfile;
use crate::state::HardwareProfile;

impl ProviderProfile<'_> {
    pub fn update_hardware(ctx: Context<Self>, hardware: HardwareProfile) -> Result<()> {
        let provider = &mut ctx.accounts.provider;
        provider.hardware = hardware;
        emit_event(HardwareUpdated {
            provider: provider.key(),
            hardware,
        });
        Ok(())
    }
}
