//! Accounts shared by the instructions that end an assignment (`settle_assignment`,
//! `expire_claim`, `give_back_claim`), and the one routine that applies a verdict: pay from escrow
//! (the commission to the provider, the rest to its reward vault, and what the provider's own stake
//! has earned so far from the vault to it), slash the claim's share of stake into the escrow vault
//! (burned at close), or release; then close the assignment.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{
    ClaimExpired, ClaimGivenBack, ProviderSlashed, ReplicaPaid, ReplicaReleased, emit_event,
};
use crate::instructions::pay_from_reward_vault;
use crate::state::{Assignment, Job, Network, Provider, Shard, Verdict};
use crate::{seeds, token};

#[derive(Accounts)]
pub struct AssignmentOutcome<'info> {
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
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
    #[account(
        mut,
        close = rent_receiver,
        seeds = [seeds::ASSIGNMENT, shard.key().as_ref(), &[assignment.replica]],
        bump = assignment.bump,
        has_one = shard @ GpuShareError::WrongJob,
        has_one = provider @ GpuShareError::WrongProvider,
    )]
    pub assignment: Box<Account<'info, Assignment>>,
    #[account(mut, has_one = network @ GpuShareError::WrongNetwork)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        seeds = [seeds::STAKE_VAULT, provider.key().as_ref()],
        bump = provider.vault_bump,
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        seeds = [seeds::ESCROW_VAULT, job.key().as_ref()],
        bump = job.vault_bump,
    )]
    pub escrow_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Receives the delegators' part of the pay.
    #[account(
        mut,
        seeds = [seeds::REWARD_VAULT, provider.key().as_ref()],
        bump = provider.reward_vault_bump,
    )]
    pub reward_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Receives the provider's part of the pay: its commission and its own stake's share.
    #[account(
        mut,
        constraint = provider_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = provider_token.owner == provider.authority @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub provider_token: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: receives the assignment's rent; must be the wallet that paid it.
    #[account(mut, address = assignment.authority @ GpuShareError::WrongRentReceiver)]
    pub rent_receiver: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl AssignmentOutcome<'_> {
    /// The verdict on this assignment now.
    pub fn verdict(&self) -> Result<Verdict> {
        let now = Clock::get()?.unix_timestamp;
        Ok(self.assignment.verdict(&self.shard, &self.job, now))
    }

    /// Applies `verdict` (never `Pending`) and updates the counters; the assignment account is
    /// closed by its `close` constraint.
    pub fn apply(&mut self, verdict: Verdict) -> Result<()> {
        let (replica, shard_index) = (self.assignment.replica, self.shard.index);
        let (job_key, provider_key) = (self.job.key(), self.provider.key());
        match verdict {
            Verdict::Pay => {
                let (price, fee) = (self.job.price, self.job.fee_per_slot);
                let now = Clock::get()?.unix_timestamp;
                let (commission, to_stakers) = self.provider.split_pay(
                    price,
                    self.assignment.commission_bps,
                    now,
                    self.network.params.reward_vesting,
                )?;
                for (to, amount) in [
                    (&self.provider_token, commission),
                    (&self.reward_vault, to_stakers),
                ] {
                    self.job.with_signer(|signer| {
                        token::transfer(
                            &self.token_program,
                            &self.mint,
                            &self.escrow_vault,
                            to,
                            self.job.to_account_info(),
                            signer,
                            amount,
                        )
                    })?;
                }
                let own = self.provider.take_own_rewards(now)?;
                pay_from_reward_vault(
                    &self.token_program,
                    &self.mint,
                    &self.reward_vault,
                    &self.provider_token,
                    &self.provider,
                    own,
                )?;
                let job = &mut self.job;
                job.paid_out = job
                    .paid_out
                    .checked_add(price)
                    .ok_or(GpuShareError::MathOverflow)?;
                job.fees_accrued = job
                    .fees_accrued
                    .checked_add(fee)
                    .ok_or(GpuShareError::MathOverflow)?;
                let provider = &mut self.provider;
                provider.completed += 1;
                provider.earned = provider.earned.saturating_add(price);
                emit_event(ReplicaPaid {
                    job: job_key,
                    shard_index,
                    replica,
                    provider: provider_key,
                    amount: price,
                    fee,
                    to_stakers,
                });
            }
            Verdict::SlashFraud | Verdict::SlashMissed { .. } => {
                let fraud = verdict == Verdict::SlashFraud;
                let bps = if fraud {
                    self.job.fraud_slash_bps
                } else {
                    self.job.miss_slash_bps
                };
                let amount = self.slash(bps)?;
                if fraud {
                    self.provider.failed += 1;
                } else {
                    self.provider.missed += 1;
                }
                emit_event(ProviderSlashed {
                    job: job_key,
                    shard_index,
                    replica,
                    provider: provider_key,
                    amount,
                    fraud,
                });
            }
            Verdict::Release | Verdict::Unkeyed { .. } => emit_event(ReplicaReleased {
                job: job_key,
                shard_index,
                replica,
                provider: provider_key,
            }),
            Verdict::Pending => return err!(GpuShareError::AssignmentNotSettleable),
        }
        self.end_assignment()
    }

    /// Takes `bps` of the stake that backed this claim (the job's `stake_per_claim`) from the stake
    /// that stood behind it into the job's escrow vault, where it is held until `close_job` burns it;
    /// returns the amount.
    pub fn slash(&mut self, bps: u16) -> Result<u64> {
        let amount = self.provider.slash(
            bps,
            self.job.stake_per_claim,
            self.assignment.unbonded_at_claim,
        );
        self.provider.with_signer(|signer| {
            token::transfer(
                &self.token_program,
                &self.mint,
                &self.stake_vault,
                &self.escrow_vault,
                self.provider.to_account_info(),
                signer,
                amount,
            )
        })?;
        let job = &mut self.job;
        job.slashes_held = job
            .slashes_held
            .checked_add(amount)
            .ok_or(GpuShareError::MathOverflow)?;
        Ok(amount)
    }

    /// Frees the assignment's slot and counters; the account itself closes by its `close` constraint.
    pub fn end_assignment(&mut self) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        self.assignment.return_refusal(&mut self.shard);
        self.shard.release(self.assignment.replica, now);
        self.job.assignments_live -= 1;
        self.provider.end_claim(self.job.stake_per_claim);
        Ok(())
    }
}

/// `settle_assignment` (anyone): once its shard is settled, or the job expired, an assignment is
/// paid, slashed for fraud, or released; its account closes, rent back to the provider.
impl AssignmentOutcome<'_> {
    fn validate_settle(&self) -> Result<()> {
        let settleable = matches!(
            self.verdict()?,
            Verdict::Pay | Verdict::SlashFraud | Verdict::Release
        );
        require!(settleable, GpuShareError::AssignmentNotSettleable);
        Ok(())
    }

    #[access_control(ctx.accounts.validate_settle())]
    pub fn settle_assignment(ctx: Context<Self>) -> Result<()> {
        let verdict = ctx.accounts.verdict()?;
        ctx.accounts.apply(verdict)
    }
}

/// `expire_claim` (anyone): an assignment that missed its commit deadline or its reveal window is
/// slashed the missed-claim share and closed; a slot that never committed reopens for others. A
/// private claim whose client never delivered its key is closed the same way without a slash.
impl AssignmentOutcome<'_> {
    fn validate_expire(&self) -> Result<()> {
        require!(
            matches!(
                self.verdict()?,
                Verdict::SlashMissed { .. } | Verdict::Unkeyed { .. }
            ),
            GpuShareError::NotMissed
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate_expire())]
    pub fn expire_claim(ctx: Context<Self>) -> Result<()> {
        let verdict = ctx.accounts.verdict()?;
        ctx.accounts.apply(verdict)?;
        let reopened = matches!(
            verdict,
            Verdict::SlashMissed { reopens: true } | Verdict::Unkeyed { reopens: true }
        );
        emit_event(ClaimExpired {
            job: ctx.accounts.job.key(),
            shard_index: ctx.accounts.shard.index,
            replica: ctx.accounts.assignment.replica,
            reopened,
        });
        Ok(())
    }
}

/// `give_back_claim`: a provider that cannot finish a claim returns it before its commit deadline.
/// The slot reopens at once and the provider is slashed half the missed-claim share: less than
/// letting the claim lapse, more than nothing (a free give-back would let anyone hold slots idle).
/// A private claim given back within `KEY_REFUSAL_SECONDS` of its key's delivery costs nothing,
/// spending the free refusal it reserved at its claim: its key may not work, which only the holder
/// can see.
impl AssignmentOutcome<'_> {
    /// The holder's wallet signs as the rent receiver; the claim is uncommitted and not yet late.
    fn validate_give_back(&self) -> Result<()> {
        require!(self.rent_receiver.is_signer, GpuShareError::NotHolder);
        self.assignment
            .check_uncommitted_in_time(Clock::get()?.unix_timestamp)
    }

    #[access_control(ctx.accounts.validate_give_back())]
    pub fn give_back_claim(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let now = Clock::get()?.unix_timestamp;
        let slashed = if accounts.assignment.spend_refusal(now) {
            0
        } else {
            accounts.slash(accounts.job.give_back_slash_bps())?
        };
        accounts.end_assignment()?;
        emit_event(ClaimGivenBack {
            job: accounts.job.key(),
            shard_index: accounts.shard.index,
            replica: accounts.assignment.replica,
            provider: accounts.provider.key(),
            slashed,
        });
        Ok(())
    }
}
