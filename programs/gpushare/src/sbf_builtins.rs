//! The 128-bit integer routines as the SBPF code generator calls them, for builds without Solana's
//! platform-tools (scripts/build-sbf, docs/sbf.md).
//!
//! LLVM 23's BPF backend passes each 128-bit operand in two registers and takes a 128-bit result
//! from R0 and R2. rustc 1.96 compiles a Rust-ABI or `extern "C"` function for arch `bpf` to return it
//! through a hidden pointer in R1 instead, so `solana-compiler-builtins`' own definitions write
//! through the first operand. `extern "unadjusted"` keeps the plain `i128(i128, i128)` signature the
//! backend expects; the arithmetic is `compiler_builtins`' (these strong symbols override the weak
//! ones `solana-compiler-builtins` defines with `weak-linkage`). u64 `checked_mul`, so every
//! multiplication under overflow checks, reaches `__multi3`.
extern crate compiler_builtins as builtins;

#[unsafe(no_mangle)]
extern "unadjusted" fn __multi3(a: i128, b: i128) -> i128 {
    builtins::int::mul::__multi3(a, b)
}

#[unsafe(no_mangle)]
extern "unadjusted" fn __udivti3(n: u128, d: u128) -> u128 {
    builtins::int::udiv::__udivti3(n, d)
}

#[unsafe(no_mangle)]
extern "unadjusted" fn __umodti3(n: u128, d: u128) -> u128 {
    builtins::int::udiv::__umodti3(n, d)
}

#[unsafe(no_mangle)]
extern "unadjusted" fn __divti3(a: i128, b: i128) -> i128 {
    builtins::int::sdiv::__divti3(a, b)
}

#[unsafe(no_mangle)]
extern "unadjusted" fn __modti3(a: i128, b: i128) -> i128 {
    builtins::int::sdiv::__modti3(a, b)
}
