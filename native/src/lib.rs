//! Runs the gpushare program, compiled for the host, as a builtin inside real agave runtimes, and
//! says which build ([`ProgramBuild`]: that builtin or the SBPF bytecode) a runtime should host.
//!
//! Anchor reaches CPIs, sysvars and logs through the syscall stubs of `solana-sysvar` 3.x, while
//! program-test installs its runtime-backed stubs into `solana-sysvar` 4.x. [`install`] bridges the
//! two, and [`builtin`] wraps the program's entrypoint so that `sol_log_data` (Anchor events)
//! reaches the executing transaction's log as `Program data:` lines, as it does on-chain.
pub mod program_build;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Once};

use anchor_lang::solana_program::{
    account_info::AccountInfo, entrypoint::ProgramResult, instruction::Instruction, pubkey::Pubkey,
};
use solana_program_runtime::invoke_context::BuiltinFunctionRegisterer;
use solana_program_runtime::stable_log;
use solana_program_test::{
    BuiltinFunctionDefinition, EbpfError, EncryptedHostAddressToEbpfVm, InvokeContext, ProgramTest,
    invoke_builtin_function,
};
use solana_svm_log_collector::LogCollector;

pub use program_build::{PROGRAM_SO_VAR, ProgramBuild};

/// The program's entrypoint with the free lifetimes the runtime's builtin interface wants.
fn process(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    // SAFETY: Anchor's `entry` ties the slice's and the infos' lifetimes together ('info); the
    // runtime hands us both for the duration of this call, so unifying them is sound.
    let accounts: &[AccountInfo] = unsafe { std::mem::transmute(accounts) };
    gpushare::entry(program_id, accounts, data)
}

thread_local! {
    /// Log collector of the transaction the builtin is executing on this thread.
    static LOG_COLLECTOR: RefCell<Option<Rc<RefCell<LogCollector>>>> = const { RefCell::new(None) };
}

struct GpushareBuiltin;

impl BuiltinFunctionDefinition<InvokeContext<'_, '_>> for GpushareBuiltin {
    type Error = Box<dyn std::error::Error>;

    fn rust(
        _: &mut InvokeContext<'_, '_>,
        _: u64,
        _: u64,
        _: u64,
        _: u64,
        _: u64,
    ) -> Result<u64, Self::Error> {
        Err("the gpushare builtin runs through its VM entry".into())
    }

    fn vm(
        mut vm: EncryptedHostAddressToEbpfVm<InvokeContext>,
        _: u64,
        _: u64,
        _: u64,
        _: u64,
        _: u64,
    ) {
        // SAFETY: the runtime calls this with a live VM for the instruction being executed.
        unsafe {
            vm.with_vm(|vm| {
                // Held only for this call: the runtime checks it owns the collector afterwards.
                let collector = vm.context().get_log_collector();
                let first = logged(&collector);
                let outer = LOG_COLLECTOR.with(|slot| slot.replace(collector.clone()));
                vm.program_result = invoke_builtin_function(process, vm.context())
                    .map_err(EbpfError::SyscallError)
                    .into();
                LOG_COLLECTOR.with(|slot| slot.replace(outer));
                drop_frame_lines(&collector, first, true);
            });
        }
    }
}

/// How many lines the transaction has logged so far.
fn logged(collector: &Option<Rc<RefCell<LogCollector>>>) -> usize {
    collector.as_ref().map_or(0, |c| c.borrow().messages.len())
}

/// program-test logs its own `invoke` line when it enters a builtin or a CPI, and a closing
/// `success`/`failed` line when it leaves, on top of the runtime's: the duplicates break every log
/// parser (Anchor's event parser among them). Removes the ones logged since line `first`: the
/// opening line, and the closing one when `closed` (the frame returned normally).
fn drop_frame_lines(collector: &Option<Rc<RefCell<LogCollector>>>, first: usize, closed: bool) {
    let Some(collector) = collector else { return };
    let messages = &mut collector.borrow_mut().messages;
    let is_frame = |line: &str, marker: &str| line.starts_with("Program ") && line.contains(marker);
    if closed
        && messages.len() > first + 1
        && messages
            .last()
            .is_some_and(|l| is_frame(l, " success") || is_frame(l, " failed: "))
    {
        messages.pop();
    }
    if messages
        .get(first)
        .is_some_and(|l| is_frame(l, " invoke ["))
    {
        messages.remove(first);
    }
}

/// The gpushare program as a builtin function, to register at `gpushare::ID`.
pub fn builtin() -> BuiltinFunctionRegisterer {
    <GpushareBuiltin as BuiltinFunctionDefinition<_>>::register
}

type StubsV4 = dyn solana_sysvar_v4::program_stubs::SyscallStubs;

/// Forwards every syscall stub to program-test's, and `sol_log_data` to the transaction's log.
struct Bridge(Arc<Box<StubsV4>>);

macro_rules! forward_stubs {
    ($stubs:path) => {
        impl $stubs for Bridge {
            fn sol_log(&self, m: &str) {
                self.0.sol_log(m)
            }
            fn sol_log_compute_units(&self) {
                self.0.sol_log_compute_units()
            }
            fn sol_remaining_compute_units(&self) -> u64 {
                self.0.sol_remaining_compute_units()
            }
            fn sol_invoke_signed(
                &self,
                ix: &Instruction,
                infos: &[AccountInfo],
                seeds: &[&[&[u8]]],
            ) -> ProgramResult {
                let collector = LOG_COLLECTOR.with(|slot| slot.borrow().clone());
                let first = logged(&collector);
                let result = self.0.sol_invoke_signed(ix, infos, seeds);
                drop_frame_lines(&collector, first, result.is_ok());
                result
            }
            fn sol_get_sysvar(&self, id: *const u8, out: *mut u8, offset: u64, len: u64) -> u64 {
                self.0.sol_get_sysvar(id, out, offset, len)
            }
            fn sol_get_clock_sysvar(&self, v: *mut u8) -> u64 {
                self.0.sol_get_clock_sysvar(v)
            }
            fn sol_get_epoch_schedule_sysvar(&self, v: *mut u8) -> u64 {
                self.0.sol_get_epoch_schedule_sysvar(v)
            }
            fn sol_get_fees_sysvar(&self, v: *mut u8) -> u64 {
                self.0.sol_get_fees_sysvar(v)
            }
            fn sol_get_rent_sysvar(&self, v: *mut u8) -> u64 {
                self.0.sol_get_rent_sysvar(v)
            }
            fn sol_get_epoch_rewards_sysvar(&self, v: *mut u8) -> u64 {
                self.0.sol_get_epoch_rewards_sysvar(v)
            }
            fn sol_get_last_restart_slot(&self, v: *mut u8) -> u64 {
                self.0.sol_get_last_restart_slot(v)
            }
            fn sol_get_epoch_stake(&self, v: *const u8) -> u64 {
                self.0.sol_get_epoch_stake(v)
            }
            unsafe fn sol_memcpy(&self, d: *mut u8, s: *const u8, n: usize) {
                unsafe { self.0.sol_memcpy(d, s, n) }
            }
            unsafe fn sol_memmove(&self, d: *mut u8, s: *const u8, n: usize) {
                unsafe { self.0.sol_memmove(d, s, n) }
            }
            unsafe fn sol_memcmp(&self, a: *const u8, b: *const u8, n: usize, r: *mut i32) {
                unsafe { self.0.sol_memcmp(a, b, n, r) }
            }
            unsafe fn sol_memset(&self, s: *mut u8, c: u8, n: usize) {
                unsafe { self.0.sol_memset(s, c, n) }
            }
            fn sol_get_return_data(&self) -> Option<(Pubkey, Vec<u8>)> {
                self.0.sol_get_return_data()
            }
            fn sol_set_return_data(&self, d: &[u8]) {
                self.0.sol_set_return_data(d)
            }
            fn sol_log_data(&self, fields: &[&[u8]]) {
                LOG_COLLECTOR.with(|slot| stable_log::program_data(&slot.borrow(), fields));
            }
            fn sol_get_processed_sibling_instruction(&self, i: usize) -> Option<Instruction> {
                self.0.sol_get_processed_sibling_instruction(i)
            }
            fn sol_get_stack_height(&self) -> u64 {
                self.0.sol_get_stack_height()
            }
        }
    };
}
forward_stubs!(solana_sysvar_v3::program_stubs::SyscallStubs);
forward_stubs!(solana_sysvar_v4::program_stubs::SyscallStubs);

/// Installs the syscall-stub bridge once per process. Call before running the program.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // program-test installs its stubs the first time it sets up a bank.
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(async {
                let _ = ProgramTest::default().start().await;
            });
        }
        struct Placeholder;
        impl solana_sysvar_v4::program_stubs::SyscallStubs for Placeholder {}
        let program_test_stubs = Arc::new(solana_sysvar_v4::program_stubs::set_syscall_stubs(
            Box::new(Placeholder),
        ));
        solana_sysvar_v4::program_stubs::set_syscall_stubs(Box::new(Bridge(
            program_test_stubs.clone(),
        )));
        solana_sysvar_v3::program_stubs::set_syscall_stubs(Box::new(Bridge(program_test_stubs)));
    });
}
