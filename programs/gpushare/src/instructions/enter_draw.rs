//! `enter_draw`: an eligible provider enters the lottery for a shard's extra replica. The best
//! (lowest) ticket so far is kept; after the draw closes only its holder may claim the slot.
use anchor_lang::prelude::*;

use crate::constants::SLOT_HASHES_SYSVAR;
use crate::errors::GpuShareError;
use crate::events::{DrawEntered, emit_event};
use crate::seeds;
use crate::slot_hashes::seed_after;
use crate::state::{Draw, Job, Network, Provider, Shard};

#[derive(Accounts)]
pub struct EnterDraw<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(
        seeds = [seeds::PROVIDER, network.key().as_ref(), authority.key().as_ref()],
        bump = provider.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        has_one = network @ GpuShareError::WrongNetwork,
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        seeds = [seeds::JOB, network.key().as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
        has_one = network @ GpuShareError::WrongNetwork,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        seeds = [seeds::SHARD, job.key().as_ref(), &shard.index.to_le_bytes()],
        bump = shard.bump,
        has_one = job @ GpuShareError::WrongJob,
    )]
    pub shard: Box<Account<'info, Shard>>,
    /// CHECK: the SlotHashes sysvar (address checked).
    #[account(address = SLOT_HASHES_SYSVAR @ GpuShareError::WrongSlotHashes)]
    pub slot_hashes: UncheckedAccount<'info>,
}

impl EnterDraw<'_> {
    /// The draw's seed (fixed now if this is the first entry) and this provider's ticket.
    fn seed_and_ticket(&self) -> Result<([u8; 32], [u8; 32])> {
        let now = Clock::get()?.unix_timestamp;
        let provider = &self.provider;
        provider.check_can_claim(&self.network.params)?;
        let draw = self
            .shard
            .check_can_enter_draw(&provider.key(), provider.active_since, now)?;
        let seed = match draw.seed {
            Some(seed) => seed,
            None => seed_after(
                &self.slot_hashes.try_borrow_data()?,
                draw.after_slot,
                &self.shard.key(),
            )?,
        };
        let ticket = Draw::ticket(&seed, &provider.key());
        require!(ticket < draw.best_ticket, GpuShareError::DrawLost);
        Ok((seed, ticket))
    }

    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let (seed, ticket) = ctx.accounts.seed_and_ticket()?;
        let provider = ctx.accounts.provider.key();
        let shard = &mut ctx.accounts.shard;
        if let Some(draw) = shard.draw.as_mut() {
            draw.seed = Some(seed);
            draw.best_ticket = ticket;
            draw.winner = provider;
        }
        emit_event(DrawEntered {
            job: shard.job,
            shard_index: shard.index,
            provider,
            ticket,
        });
        Ok(())
    }
}
