//! Lowers the probe crate to an eBPF object: rustc emits the whole program (the probe, gpushare-core,
//! core and alloc, merged by fat LTO) as LLVM bitcode for the host; the IR is retargeted to BPF, with
//! what the upstream BPF backend cannot select rewritten as the SBF toolchain provides it: memory
//! operations of variable length, and comparisons (`bcmp`, `memcmp`), call the `sol_mem*_` syscalls; a 128-bit multiply, and the high half
//! an overflow-checked 64-bit multiply (unsigned or signed) needs, call out-of-line functions computing it in 64-bit parts,
//! as SBF programs call compiler-builtins' `__multi3` (out of line, so that known-zero operands cannot
//! fold the work away, as they cannot on SBF); `llc-22` emits the object.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::MeterError;

/// The BPF target's data layout, replacing the host's.
const BPF_DATA_LAYOUT: &str = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128";
/// The host attributes that mean nothing for BPF.
const HOST_ATTRIBUTES: [&str; 4] = ["probe-stack", "target-cpu", "target-features", "tune-cpu"];

/// Helpers the rewritten IR calls; each is inlined before code generation.
const HELPERS: &str = r#"
declare i64 @sol_memcpy_(ptr, ptr, i64)
declare i64 @sol_memmove_(ptr, ptr, i64)
declare i64 @sol_memset_(ptr, i64, i64)
declare i64 @sol_memcmp_(ptr, ptr, i64, ptr)
define internal i32 @gpushare.bcmp(ptr %a, ptr %b, i64 %n) alwaysinline {
  %r = alloca i32, align 4
  call i64 @sol_memcmp_(ptr %a, ptr %b, i64 %n, ptr %r)
  %v = load i32, ptr %r, align 4
  ret i32 %v
}
define internal void @gpushare.memcpy(ptr %d, ptr %s, i64 %n, i1 %v) alwaysinline {
  call i64 @sol_memcpy_(ptr %d, ptr %s, i64 %n)
  ret void
}
define internal void @gpushare.memmove(ptr %d, ptr %s, i64 %n, i1 %v) alwaysinline {
  call i64 @sol_memmove_(ptr %d, ptr %s, i64 %n)
  ret void
}
define internal void @gpushare.memset(ptr %d, i8 %c, i64 %n, i1 %v) alwaysinline {
  %w = zext i8 %c to i64
  call i64 @sol_memset_(ptr %d, i64 %w, i64 %n)
  ret void
}
define internal { i64, i1 } @gpushare.umul_with_overflow_i64(i64 %a, i64 %b) alwaysinline {
  %p = mul i64 %a, %b
  %h = call i64 @gpushare.umulh(i64 %a, i64 %b)
  %o = icmp ne i64 %h, 0
  %r0 = insertvalue { i64, i1 } poison, i64 %p, 0
  %r1 = insertvalue { i64, i1 } %r0, i1 %o, 1
  ret { i64, i1 } %r1
}
define internal { i64, i1 } @gpushare.smul_with_overflow_i64(i64 %a, i64 %b) alwaysinline {
  %p = mul i64 %a, %b
  %u = call i64 @gpushare.umulh(i64 %a, i64 %b)
  %an = icmp slt i64 %a, 0
  %bn = icmp slt i64 %b, 0
  %sa = select i1 %an, i64 %b, i64 0
  %sb = select i1 %bn, i64 %a, i64 0
  %h1 = sub i64 %u, %sa
  %h = sub i64 %h1, %sb
  %s = ashr i64 %p, 63
  %o = icmp ne i64 %h, %s
  %r0 = insertvalue { i64, i1 } poison, i64 %p, 0
  %r1 = insertvalue { i64, i1 } %r0, i1 %o, 1
  ret { i64, i1 } %r1
}
define internal i64 @gpushare.multi3_hi(i64 %alo, i64 %ahi, i64 %blo, i64 %bhi) noinline {
  %h0 = call i64 @gpushare.umulh(i64 %alo, i64 %blo)
  %h1 = mul i64 %ahi, %blo
  %h2 = mul i64 %alo, %bhi
  %h3 = add i64 %h0, %h1
  %hi = add i64 %h3, %h2
  ret i64 %hi
}
define internal i64 @gpushare.umulh(i64 %a, i64 %b) noinline {
  %al = and i64 %a, 4294967295
  %ah = lshr i64 %a, 32
  %bl = and i64 %b, 4294967295
  %bh = lshr i64 %b, 32
  %ll = mul i64 %al, %bl
  %t0 = lshr i64 %ll, 32
  %hl = mul i64 %ah, %bl
  %t1 = add i64 %t0, %hl
  %t1l = and i64 %t1, 4294967295
  %t1h = lshr i64 %t1, 32
  %lh = mul i64 %al, %bh
  %t2 = add i64 %t1l, %lh
  %t2h = lshr i64 %t2, 32
  %hh = mul i64 %ah, %bh
  %s0 = add i64 %hh, %t1h
  %s1 = add i64 %s0, %t2h
  ret i64 %s1
}
"#;

/// Builds the probe crate's merged bitcode; returns its path.
pub fn probe_bitcode(
    workspace: &Path,
    target_dir: &Path,
    features: &str,
) -> Result<PathBuf, MeterError> {
    check_llvm_version()?;
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(workspace)
        // The probe is built for the host, as it is: nothing inherited may redirect or reconfigure it.
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .args([
            "rustc",
            "--quiet",
            "--locked",
            "-p",
            "gpushare-cu-probe",
            "--release",
        ])
        .args([
            "--features",
            features,
            "--crate-type",
            "staticlib",
            "--target-dir",
        ])
        .arg(target_dir)
        .args(["--", "--emit=llvm-bc", "-C", "panic=abort"])
        .args(["-C", "no-vectorize-loops", "-C", "no-vectorize-slp"])
        .status()
        .map_err(|e| MeterError::Tool("cargo".into(), e.to_string()))?;
    if !status.success() {
        return Err(MeterError::Tool(
            "cargo rustc (the probe)".into(),
            status.to_string(),
        ));
    }
    let deps = target_dir.join("release").join("deps");
    std::fs::read_dir(&deps)
        .map_err(|e| MeterError::Io(deps.display().to_string(), e))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "bc")
                && path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("gpushare_cu_probe-"))
        })
        .max_by_key(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
        .ok_or_else(|| MeterError::Tool("cargo rustc".into(), "no bitcode written".into()))
}

/// The LLVM major version of the tools (`llc-22` …).
const LLVM_MAJOR: &str = "22";

/// Refuses a rustc whose LLVM is not the tools' (its bitcode would not read, or read differently).
fn check_llvm_version() -> Result<(), MeterError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| MeterError::Tool("rustc -vV".into(), e.to_string()))?;
    let version = String::from_utf8_lossy(&output.stdout);
    let llvm = version
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))
        .unwrap_or("unknown");
    if llvm.split('.').next() == Some(LLVM_MAJOR) {
        Ok(())
    } else {
        Err(MeterError::Tool(
            "rustc".into(),
            format!(
                "its LLVM is {llvm}; the meter lowers with LLVM {LLVM_MAJOR}'s tools (llc-{LLVM_MAJOR})"
            ),
        ))
    }
}

/// How much of the probe is inlined before code generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inlining {
    /// What LLVM chose, and the rewriting's helpers.
    Chosen,
    /// Every function: upstream BPF passes at most five arguments, in registers, and returns no
    /// aggregates, where SBF passes more on its stack. The embedding check's functions take more
    /// (slices are two words each), so its probe is measured without the calls' few units.
    Everything,
}

/// Lowers `bitcode` to a BPF object in `dir`: disassembly, rewriting, inlining, code generation.
pub fn to_object(bitcode: &Path, dir: &Path, inlining: Inlining) -> Result<PathBuf, MeterError> {
    let host_ir = dir.join("probe.ll");
    run(
        "llvm-dis-22",
        &[bitcode.as_os_str(), "-o".as_ref(), host_ir.as_os_str()],
    )?;
    let text = std::fs::read_to_string(&host_ir)
        .map_err(|e| MeterError::Io(host_ir.display().to_string(), e))?;
    let rewritten = dir.join("probe-bpf.ll");
    let retargeted = match inlining {
        Inlining::Chosen => retarget(&text),
        Inlining::Everything => inline_everything(&retarget(&text)),
    };
    std::fs::write(&rewritten, retargeted)
        .map_err(|e| MeterError::Io(rewritten.display().to_string(), e))?;
    let inlined = dir.join("probe-bpf-inlined.ll");
    run(
        "opt-22",
        &[
            "-passes=always-inline".as_ref(),
            "-S".as_ref(),
            rewritten.as_os_str(),
            "-o".as_ref(),
            inlined.as_os_str(),
        ],
    )?;
    let object = dir.join("probe.o");
    run(
        "llc-22",
        &[
            "-mtriple=bpfel".as_ref(),
            // v2: 64-bit arithmetic only (SBF sign-extends 32-bit results where BPF's alu32 zero-extends).
            "-mcpu=v2".as_ref(),
            // SBF frames are 4 KiB, not BPF's 512 bytes.
            "-bpf-stack-size=4096".as_ref(),
            "-O2".as_ref(),
            "-filetype=obj".as_ref(),
            inlined.as_os_str(),
            "-o".as_ref(),
            object.as_os_str(),
        ],
    )?;
    Ok(object)
}

fn run(tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), MeterError> {
    let output = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| MeterError::Tool(tool.into(), format!("{e} (apt install llvm-22)")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(MeterError::Tool(
            tool.into(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }
}

/// The host IR retargeted to BPF, with the operations the BPF backend cannot select rewritten.
pub fn retarget(ir: &str) -> String {
    let mut out = String::with_capacity(ir.len() + HELPERS.len());
    for line in ir.lines() {
        if line.starts_with("target datalayout") {
            out.push_str(&format!("target datalayout = \"{BPF_DATA_LAYOUT}\"\n"));
        } else if line.starts_with("target triple") {
            out.push_str("target triple = \"bpfel\"\n");
        } else if line.starts_with("attributes #") {
            out.push_str(&strip_host_attributes(line));
            out.push('\n');
        } else if line.starts_with("declare") {
            out.push_str(line);
            out.push('\n');
        } else if let Some(expanded) = expand_wide_multiply(line) {
            out.push_str(&expanded);
        } else {
            out.push_str(&rewrite_calls(line));
            out.push('\n');
        }
    }
    out.push_str(HELPERS);
    out
}

/// `ir` with every attribute group asking its functions to be inlined: `noinline` and `optnone`
/// dropped, `alwaysinline` added (the rewriting's helpers, which name their attributes in place,
/// keep theirs).
pub fn inline_everything(ir: &str) -> String {
    let mut out = String::with_capacity(ir.len());
    for line in ir.lines() {
        match line.strip_suffix('}') {
            Some(group) if line.starts_with("attributes #") => {
                let kept: Vec<&str> = group
                    .split(' ')
                    .filter(|word| *word != "noinline" && *word != "optnone")
                    .collect();
                out.push_str(&format!("{} alwaysinline }}\n", kept.join(" ").trim_end()));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn strip_host_attributes(line: &str) -> String {
    line.split(' ')
        .filter(|word| {
            !HOST_ATTRIBUTES
                .iter()
                .any(|a| word.starts_with(&format!("\"{a}\"=")))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Memory operations of variable length, and overflow-checked 64-bit multiplies (unsigned and
/// signed), call the helpers instead of the intrinsics. Constant-length memory operations are left to `llc`, which expands
/// them inline as SBF's backend does, or fails loudly where it would need a library call.
fn rewrite_calls(line: &str) -> String {
    let mut line = line
        .replace("@bcmp(", "@gpushare.bcmp(")
        .replace("@memcmp(", "@gpushare.bcmp(")
        .replace(
            "@llvm.umul.with.overflow.i64(",
            "@gpushare.umul_with_overflow_i64(",
        )
        .replace(
            "@llvm.smul.with.overflow.i64(",
            "@gpushare.smul_with_overflow_i64(",
        );
    for (intrinsic, helper) in [
        ("@llvm.memcpy.p0.p0.i64(", "@gpushare.memcpy("),
        ("@llvm.memmove.p0.p0.i64(", "@gpushare.memmove("),
        ("@llvm.memset.p0.i64(", "@gpushare.memset("),
    ] {
        if line.contains(intrinsic) && constant_length(&line).is_none() {
            line = line.replace(intrinsic, helper);
        }
    }
    line
}

/// The constant length of a memory intrinsic call (`…, i64 32, i1 false)`), if it has one.
fn constant_length(line: &str) -> Option<u64> {
    let end = line.find(", i1 false)")?;
    let before = &line[..end];
    let start = before.rfind(", i64 ")? + 6;
    before[start..].trim_start_matches("noundef ").parse().ok()
}

/// `%x = mul … i128 %a, %b` computed from 64-bit parts: the low half inline, the high half by the
/// out-of-line `gpushare.multi3_hi`, standing for SBF's call to `__multi3` (which the BPF backend
/// cannot make).
fn expand_wide_multiply(line: &str) -> Option<String> {
    let (result, rest) = line.trim_start().split_once(" = mul ")?;
    let operands = rest.split_once("i128 ")?.1;
    let operands = operands.split(", !").next().unwrap_or(operands);
    let (a, b) = operands.split_once(", ")?;
    let name = result.trim_start_matches('%');
    let v = |suffix: &str| format!("%\"{name}.{suffix}\"");
    let mut out = String::new();
    for (side, operand) in [("a", a.trim()), ("b", b.trim())] {
        out.push_str(&format!(
            "  {} = trunc i128 {operand} to i64\n",
            v(&format!("{side}lo"))
        ));
        out.push_str(&format!(
            "  {} = lshr i128 {operand}, 64\n",
            v(&format!("{side}s"))
        ));
        out.push_str(&format!(
            "  {} = trunc i128 {} to i64\n",
            v(&format!("{side}hi")),
            v(&format!("{side}s"))
        ));
    }
    let (alo, ahi, blo, bhi) = (v("alo"), v("ahi"), v("blo"), v("bhi"));
    out.push_str(&format!("  {} = mul i64 {alo}, {blo}\n", v("lo")));
    out.push_str(&format!(
        "  {} = call i64 @gpushare.multi3_hi(i64 {alo}, i64 {ahi}, i64 {blo}, i64 {bhi})\n",
        v("hi")
    ));
    out.push_str(&format!("  {} = zext i64 {} to i128\n", v("lz"), v("lo")));
    out.push_str(&format!("  {} = zext i64 {} to i128\n", v("hz"), v("hi")));
    out.push_str(&format!("  {} = shl i128 {}, 64\n", v("hs"), v("hz")));
    out.push_str(&format!("  {result} = or i128 {}, {}\n", v("hs"), v("lz")));
    Some(out)
}
