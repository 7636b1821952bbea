//! Runs the linked program in solana-sbpf's interpreter, metered as agave meters a program: one
//! unit per instruction, and each syscall charged at agave's cost (`execution_budget.rs` and the
//! syscalls of agave 4.2; solana-sbpf is the version agave pins).
use std::sync::Arc;

use solana_sbpf::aligned_memory::AlignedMemory;
use solana_sbpf::declare_builtin_function;
use solana_sbpf::ebpf;
use solana_sbpf::elf::Executable;
use solana_sbpf::error::EbpfError;
use solana_sbpf::memory_region::{AccessType, MemoryMapping, MemoryRegion};
use solana_sbpf::program::{
    BuiltinFunctionDefinition, BuiltinProgram, FunctionRegistry, SBPFVersion,
};
use solana_sbpf::verifier::RequisiteVerifier;
use solana_sbpf::vm::{CallFrame, Config, ContextObject, EbpfVm, ExecutionMode};

use solana_program_runtime::execution_budget::{
    SVMTransactionExecutionBudget, SVMTransactionExecutionCost,
};

use crate::error::MeterError;
use crate::link::{Linked, RODATA_VADDR, key};

/// The heap the VM maps: the most a transaction may request (`RequestHeapFrame`), so that a run
/// reports what it allocates even past the runtime's default 32 KiB (`HEAP_LENGTH`), which the
/// budget test holds the program's own checks to.
const HEAP_BYTES: usize = 256 * 1024;
/// Units a run may use before it is stopped: far beyond any transaction, so that an over-budget
/// path is measured, not cut short.
const RUN_LIMIT: u64 = 1 << 32;

/// The meter and the memory the syscalls read.
pub struct Meter {
    remaining: u64,
    /// Units charged by syscalls (the rest are instructions).
    pub syscall_units: u64,
    /// agave's syscall costs and limits, from agave itself (solana-program-runtime's defaults).
    costs: SVMTransactionExecutionCost,
    max_sha256_slices: u64,
    mapping: MemoryMapping,
}

impl ContextObject for Meter {
    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }
    fn get_remaining(&self) -> u64 {
        self.remaining
    }
    fn active_mapping_ptr(&mut self) -> std::ptr::NonNull<MemoryMapping> {
        std::ptr::NonNull::from(&mut self.mapping)
    }
}

impl Meter {
    fn charge(&mut self, units: u64) {
        self.syscall_units += units;
        self.consume(units);
    }

    /// `len` bytes of VM memory at `address`, as host memory.
    fn bytes(
        &self,
        access: AccessType,
        address: u64,
        len: u64,
    ) -> Result<*mut u8, Box<dyn std::error::Error>> {
        let host: Result<u64, EbpfError> = self.mapping.map(access, address, len).into();
        Ok(host? as *mut u8)
    }

    fn read(&self, address: u64, len: u64) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let host = self.bytes(AccessType::Load, address, len)?;
        // SAFETY: the mapping checked that `len` bytes at `host` belong to a mapped region.
        Ok(unsafe { std::slice::from_raw_parts(host, len as usize) }.to_vec())
    }

    fn write(&self, address: u64, bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
        let host = self.bytes(AccessType::Store, address, bytes.len() as u64)?;
        // SAFETY: as in `read`, for a writable region.
        unsafe { std::ptr::copy(bytes.as_ptr(), host, bytes.len()) };
        Ok(())
    }

    /// Copies `n` bytes from `src` to `dst` (overlap allowed), charged as `sol_memmove_`.
    fn copy(&mut self, dst: u64, src: u64, n: u64) -> Result<u64, Box<dyn std::error::Error>> {
        self.charge_mem_op(n);
        let bytes = self.read(src, n)?;
        self.write(dst, &bytes)?;
        Ok(0)
    }

    /// agave's `mem_op_consume`.
    fn charge_mem_op(&mut self, len: u64) {
        self.charge(
            self.costs
                .mem_op_base_cost
                .max(len / self.costs.cpi_bytes_per_unit),
        );
    }
}

declare_builtin_function!(
    /// `sol_sha256(vals, vals_len, result)`: 85 units, then per slice max(10, len / 2).
    SolSha256,
    fn rust(meter: &mut Meter, vals: u64, vals_len: u64, result: u64, _d: u64, _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        if vals_len > meter.max_sha256_slices {
            return Err("sol_sha256: too many slices".into());
        }
        meter.charge(meter.costs.sha256_base_cost);
        let table = meter.read(vals, vals_len * 16)?;
        let mut parts = Vec::new();
        for entry in table.chunks_exact(16) {
            let address = u64::from_le_bytes(entry[..8].try_into()?);
            let len = u64::from_le_bytes(entry[8..].try_into()?);
            let units = meter.costs.mem_op_base_cost.max(meter.costs.sha256_byte_cost * (len / 2));
            meter.charge(units);
            parts.push(meter.read(address, len)?);
        }
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        meter.write(result, &gpushare_core::sha256(&slices))?;
        Ok(0)
    }
);

declare_builtin_function!(
    /// `sol_memcpy_(dst, src, n)`, charged as agave's `mem_op_consume`; overlapping ranges are
    /// refused, as agave refuses them.
    SolMemcpy,
    fn rust(meter: &mut Meter, dst: u64, src: u64, n: u64, _d: u64, _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        if src.max(dst) - src.min(dst) < n {
            return Err("sol_memcpy_: overlapping copy".into());
        }
        meter.copy(dst, src, n)
    }
);

declare_builtin_function!(
    /// `sol_memmove_(dst, src, n)`, charged as agave's `mem_op_consume`.
    SolMemmove,
    fn rust(meter: &mut Meter, dst: u64, src: u64, n: u64, _d: u64, _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        meter.copy(dst, src, n)
    }
);

declare_builtin_function!(
    /// `sol_memset_(dst, c, n)`, charged as agave's `mem_op_consume`.
    SolMemset,
    fn rust(meter: &mut Meter, dst: u64, c: u64, n: u64, _d: u64, _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        meter.charge_mem_op(n);
        meter.write(dst, &vec![c as u8; n as usize])?;
        Ok(0)
    }
);

declare_builtin_function!(
    /// `sol_memcmp_(a, b, n, result)`, charged as agave's `mem_op_consume`: the difference of the
    /// first differing bytes (0 when equal) written to `result` as an i32.
    SolMemcmp,
    fn rust(meter: &mut Meter, a: u64, b: u64, n: u64, result: u64, _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        meter.charge_mem_op(n);
        let (left, right) = (meter.read(a, n)?, meter.read(b, n)?);
        let difference = left
            .iter()
            .zip(&right)
            .find(|(x, y)| x != y)
            .map_or(0, |(x, y)| i32::from(*x) - i32::from(*y));
        meter.write(result, &difference.to_le_bytes())?;
        Ok(0)
    }
);

declare_builtin_function!(
    /// `sol_log_(message, len)`: max(100, len) units.
    SolLog,
    fn rust(meter: &mut Meter, _message: u64, len: u64, _c: u64, _d: u64, _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        meter.charge(meter.costs.syscall_base_cost.max(len));
        Ok(0)
    }
);

declare_builtin_function!(
    /// `sol_log_64_(a, b, c, d, e)`: 100 units.
    SolLog64,
    fn rust(meter: &mut Meter, _a: u64, _b: u64, _c: u64, _d: u64, _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        meter.charge(meter.costs.log_64_units);
        Ok(0)
    }
);

declare_builtin_function!(
    /// `abort()`: the program panicked.
    Abort,
    fn rust(_meter: &mut Meter, _a: u64, _b: u64, _c: u64, _d: u64, _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        Err("the program panicked (abort)".into())
    }
);

/// The linked program, verified and ready to run.
pub struct Program {
    executable: Executable<Meter>,
    rodata: Vec<u8>,
}

/// What one run cost and left in the input region.
pub struct Run {
    /// All units: instructions and syscalls.
    pub units: u64,
    pub syscall_units: u64,
    /// Heap the run allocated (its allocator never frees).
    pub heap_bytes: u64,
    pub input: Vec<u8>,
}

impl Program {
    /// Loads and verifies `linked` with the syscalls registered.
    pub fn load(linked: Linked) -> Result<Self, MeterError> {
        let config = Config {
            enabled_sbpf_versions: SBPFVersion::V0..=SBPFVersion::V0,
            aligned_memory_mapping: false,
            ..Config::default()
        };
        let mut loader = BuiltinProgram::<Meter>::new_loader(config);
        let load = |e: solana_sbpf::elf::ElfError| MeterError::Load(e.to_string());
        SolSha256::register(&mut loader, "sol_sha256").map_err(load)?;
        SolMemcpy::register(&mut loader, "sol_memcpy_").map_err(load)?;
        SolMemmove::register(&mut loader, "sol_memmove_").map_err(load)?;
        SolMemset::register(&mut loader, "sol_memset_").map_err(load)?;
        SolMemcmp::register(&mut loader, "sol_memcmp_").map_err(load)?;
        SolLog::register(&mut loader, "sol_log_").map_err(load)?;
        SolLog64::register(&mut loader, "sol_log_64_").map_err(load)?;
        Abort::register(&mut loader, "abort").map_err(load)?;
        let unknown: Vec<_> = linked
            .syscalls
            .iter()
            .filter(|name| {
                loader
                    .get_function_registry()
                    .lookup_by_name(name.as_bytes())
                    .is_none()
            })
            .collect();
        if !unknown.is_empty() {
            return Err(MeterError::Load(format!(
                "calls to undefined functions {unknown:?}"
            )));
        }
        let mut functions = FunctionRegistry::default();
        functions
            .register_function(key(linked.entry), *b"entrypoint", linked.entry)
            .map_err(load)?;
        for &pc in &linked.functions {
            functions
                .register_function(key(pc), format!("function@{pc}"), pc)
                .map_err(load)?;
        }
        let executable =
            Executable::from_text_bytes(&linked.text, Arc::new(loader), SBPFVersion::V0, functions)
                .map_err(|e| MeterError::Load(e.to_string()))?;
        executable
            .verify::<RequisiteVerifier>()
            .map_err(|e| MeterError::Load(e.to_string()))?;
        Ok(Self {
            executable,
            rodata: linked.rodata,
        })
    }

    /// Runs the program on `input` (the input region's contents).
    pub fn run(&self, mut input: Vec<u8>) -> Result<Run, String> {
        let config = self.executable.get_config();
        let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
        let stack_len = stack.len();
        let mut heap = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(HEAP_BYTES);
        let regions = vec![
            self.executable.get_ro_region(),
            MemoryRegion::new_gapped(
                &mut stack,
                ebpf::MM_STACK_START,
                config.stack_frame_size as u64,
            ),
            MemoryRegion::new(&mut heap, ebpf::MM_HEAP_START),
            MemoryRegion::new(input.as_mut_slice() as *mut [u8], ebpf::MM_INPUT_START),
            MemoryRegion::new(self.rodata.as_slice() as *const [u8], RODATA_VADDR),
        ];
        // SAFETY: every region's host memory outlives the run.
        let mapping = unsafe { MemoryMapping::new(regions, config, SBPFVersion::V0) }
            .map_err(|e| e.to_string())?;
        let mut meter = Meter {
            remaining: RUN_LIMIT,
            costs: SVMTransactionExecutionCost::default(),
            // SIMD-0268 changes only the instruction stack depth, not the slice limit.
            max_sha256_slices: SVMTransactionExecutionBudget::new_with_defaults(false)
                .sha256_max_slices,
            syscall_units: 0,
            mapping,
        };
        let loader = Arc::clone(self.executable.get_loader());
        let mut vm = EbpfVm::new(loader, SBPFVersion::V0, &mut meter, stack_len);
        // The entry point's argument: the input region, as the runtime passes it.
        vm.registers[1] = ebpf::MM_INPUT_START;
        let mut frames = vec![CallFrame::default(); config.max_call_depth];
        let (units, result) = vm.execute_program(
            &self.executable,
            &mut ExecutionMode::Interpreted,
            &mut frames,
        );
        let result: Result<u64, EbpfError> = result.into();
        match result {
            Ok(0) => {}
            Ok(code) => return Err(format!("the entry point returned {code}")),
            Err(error) => return Err(error.to_string()),
        }
        let syscall_units = meter.syscall_units;
        drop(meter);
        // The probe's allocator keeps its cursor (the next free address) in the heap's first word.
        let cursor = u64::from_le_bytes(heap.as_slice()[..8].try_into().unwrap_or_default());
        Ok(Run {
            units,
            syscall_units,
            heap_bytes: cursor.saturating_sub(ebpf::MM_HEAP_START),
            input,
        })
    }
}
