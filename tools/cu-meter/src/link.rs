//! Links the BPF object into what solana-sbpf runs (SBPF v0, the version programs deployed with
//! the classic toolchain run as): the text sections one after another, calls between functions
//! keyed by the hash of their target's position (registered in a function registry), calls to
//! undefined symbols keyed by the hash of their name (syscalls), `lddw`s of read-only data pointed
//! at where the meter maps it. Upstream lld cannot link BPF, so this does what the SBF linker and
//! the program loader do between them, for one object.
use std::collections::BTreeSet;

use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SymbolSection,
};
use solana_sbpf::ebpf;

use crate::error::MeterError;

/// Where the meter maps the object's read-only data.
pub const RODATA_VADDR: u64 = 5 * ebpf::MM_REGION_SIZE;
/// BPF relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def).
const R_BPF_64_64: u32 = 1;
const R_BPF_64_32: u32 = 10;
const CALL_IMM: u8 = 0x85;
const LD_DW_IMM: u8 = 0x18;

/// The linked program.
pub struct Linked {
    pub text: Vec<u8>,
    pub rodata: Vec<u8>,
    /// Instruction indices that calls land on, the entry point's included.
    pub functions: BTreeSet<usize>,
    pub entry: usize,
    /// The syscalls the program calls.
    pub syscalls: BTreeSet<String>,
}

/// Links `object`'s text and read-only data.
pub fn link(object: &[u8]) -> Result<Linked, MeterError> {
    let file = object::File::parse(object).map_err(|e| MeterError::Link(e.to_string()))?;
    let texts: Vec<_> = file
        .sections()
        .filter(|s| s.kind() == object::SectionKind::Text && s.size() > 0)
        .collect();
    // Unwinding tables are never read: panics abort.
    let rodatas: Vec<_> = file
        .sections()
        .filter(|s| {
            matches!(
                s.kind(),
                object::SectionKind::ReadOnlyData | object::SectionKind::ReadOnlyString
            ) && s.name() != Ok(".eh_frame")
        })
        .collect();
    // Pointers inside read-only data would need relocating at load time; the probe has none.
    if let Some(section) = rodatas.iter().find(|s| s.relocations().next().is_some()) {
        return Err(MeterError::Link(format!(
            "{} holds relocations (pointer tables), which this linker does not apply",
            section.name().unwrap_or("read-only data")
        )));
    }
    let mut text = Vec::new();
    let mut text_base = std::collections::HashMap::new();
    for section in &texts {
        text_base.insert(section.index(), text.len() as u64);
        text.extend_from_slice(
            section
                .data()
                .map_err(|e| MeterError::Link(e.to_string()))?,
        );
    }
    let mut rodata = Vec::new();
    let mut rodata_base = std::collections::HashMap::new();
    for section in &rodatas {
        rodata.resize(rodata.len().next_multiple_of(8), 0);
        rodata_base.insert(section.index(), rodata.len() as u64);
        rodata.extend_from_slice(
            section
                .data()
                .map_err(|e| MeterError::Link(e.to_string()))?,
        );
    }
    let mut functions = BTreeSet::new();
    let mut syscalls = BTreeSet::new();
    let mut relocated = BTreeSet::new();
    for section in &texts {
        let base = text_base[&section.index()];
        for (offset, relocation) in section.relocations() {
            let RelocationFlags::Elf { r_type } = relocation.flags() else {
                continue;
            };
            let RelocationTarget::Symbol(index) = relocation.target() else {
                return Err(MeterError::Link(format!(
                    "relocation at {offset:#x} without a symbol"
                )));
            };
            let symbol = file
                .symbol_by_index(index)
                .map_err(|e| MeterError::Link(e.to_string()))?;
            let at = (base + offset) as usize;
            let end = (at + 16).min(text.len());
            let insn = text
                .get_mut(at..end)
                .filter(|insn| insn.len() >= 8)
                .ok_or_else(|| MeterError::Link(format!("relocation past the text at {at:#x}")))?;
            let implicit = i64::from(i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]));
            match (r_type, symbol.section()) {
                (R_BPF_64_32, SymbolSection::Undefined) => {
                    let name = symbol.name().map_err(|e| MeterError::Link(e.to_string()))?;
                    syscalls.insert(name.to_owned());
                    set_call(insn, ebpf::hash_symbol_name(name.as_bytes()));
                    relocated.insert(at / 8);
                }
                (R_BPF_64_32, SymbolSection::Section(target)) => {
                    let target_base = text_base.get(&target).ok_or_else(|| {
                        MeterError::Link(format!("call at {at:#x} into a section that is not text"))
                    })?;
                    // A call's implicit addend is the target's offset in its section, in instructions, less one.
                    let pc = ((target_base + symbol.address()) / 8) as i64 + implicit + 1;
                    let pc = usize::try_from(pc).map_err(|_| {
                        MeterError::Link(format!("call at {at:#x} before the text"))
                    })?;
                    functions.insert(pc);
                    set_call(insn, key(pc));
                    relocated.insert(at / 8);
                }
                (R_BPF_64_64, SymbolSection::Section(_)) if insn.len() < 16 => {
                    return Err(MeterError::Link(format!(
                        "lddw at {at:#x} cut off by the text's end"
                    )));
                }
                (R_BPF_64_64, SymbolSection::Section(target)) => {
                    let target_base = rodata_base.get(&target).ok_or_else(|| {
                        MeterError::Link(format!("lddw at {at:#x} of data that is not read-only"))
                    })?;
                    let address = RODATA_VADDR + target_base + symbol.address() + implicit as u64;
                    insn[4..8].copy_from_slice(&(address as u32).to_le_bytes());
                    insn[12..16].copy_from_slice(&((address >> 32) as u32).to_le_bytes());
                }
                (other, _) => {
                    return Err(MeterError::Link(format!(
                        "relocation type {other} at {at:#x}"
                    )));
                }
            }
        }
    }
    // Calls inside one section carry no relocation: LLVM wrote them relative to the next instruction.
    let mut pc = 0;
    while pc * 8 < text.len() {
        let insn = &mut text[pc * 8..pc * 8 + 8];
        if insn[0] == CALL_IMM && !relocated.contains(&pc) {
            let offset = i64::from(i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]));
            let target = usize::try_from(pc as i64 + 1 + offset)
                .map_err(|_| MeterError::Link(format!("call at {pc} before the text")))?;
            functions.insert(target);
            set_call(insn, key(target));
        }
        pc += if insn[0] == LD_DW_IMM { 2 } else { 1 };
    }
    let entry_symbol = file
        .symbol_by_name("entrypoint")
        .ok_or_else(|| MeterError::Link("no entrypoint".into()))?;
    let SymbolSection::Section(entry_section) = entry_symbol.section() else {
        return Err(MeterError::Link("entrypoint is not defined".into()));
    };
    let entry = ((text_base[&entry_section] + entry_symbol.address()) / 8) as usize;
    functions.insert(entry);
    Ok(Linked {
        text,
        rodata,
        functions,
        entry,
        syscalls,
    })
}

/// The key SBPF v0 calls an internal function by: the hash of its instruction index.
pub fn key(pc: usize) -> u32 {
    ebpf::hash_symbol_name(&pc.to_le_bytes())
}

/// Makes `insn` a `call imm` by key (src 0, as SBPF v0 has it).
fn set_call(insn: &mut [u8], key: u32) {
    insn[1] &= 0x0f;
    insn[4..8].copy_from_slice(&key.to_le_bytes());
}
