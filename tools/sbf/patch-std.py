# Patches a copy of Debian's rust-web-src 1.96 std ($SBF_STD_SOURCE = its library/ folder) so that
# target_os = "solana" (arch bpf) builds, on std's `unsupported` platform layer and no-threads thread-locals.
# Run by scripts/build-sbf; idempotent. Each change says what the real target needs.
import os, pathlib
STD = pathlib.Path(os.environ['SBF_STD_SOURCE']) / 'std/src'
def sub(path, old, new):
    """Replaces the first `old` in std/src/`path` by `new`, unless `new` is there already."""
    p = STD / path; t = p.read_text()
    if new in t: return
    assert old in t, (path, old)
    p.write_text(t.replace(old, new, 1))
# MIN_ALIGN: bpf is a 64-bit arch
sub('sys/alloc/mod.rs', '    target_arch = "x86_64",\n', '    target_arch = "x86_64",\n    target_arch = "bpf",\n')
# System allocator: null (Solana programs bring their own #[global_allocator])
sub('sys/alloc/mod.rs', '    target_os = "zkvm" => {', '    target_os = "solana" => {\n        mod solana;\n    }\n    target_os = "zkvm" => {')
(STD / 'sys/alloc/solana.rs').write_text('''use crate::alloc::{GlobalAlloc, Layout, System};

#[stable(feature = "alloc_system_type", since = "1.28.0")]
unsafe impl GlobalAlloc for System {
    #[inline]
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        crate::ptr::null_mut()
    }

    #[inline]
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
''')
sub('sys/io/error/mod.rs', '        target_os = "zkvm",\n    ) => {\n        mod generic;', '        target_os = "zkvm",\n        target_os = "solana",\n    ) => {\n        mod generic;')
sub('sys/random/mod.rs', '        target_os = "xous",\n        target_os = "vexos",\n    ) => {', '        target_os = "xous",\n        target_os = "vexos",\n        target_os = "solana",\n    ) => {')
sub('sys/random/mod.rs', '    target_os = "xous",\n    target_os = "vexos",\n)))]\npub fn hashmap_random_keys', '    target_os = "xous",\n    target_os = "vexos",\n    target_os = "solana",\n)))]\npub fn hashmap_random_keys')
sub('sys/thread_local/mod.rs', '        target_os = "vexos",\n    ) => {\n        mod no_threads;', '        target_os = "vexos",\n        target_os = "solana",\n    ) => {\n        mod no_threads;')
sub('sys/thread_local/mod.rs', '            target_os = "vexos",\n        ) => {\n            pub(crate) fn enable()', '            target_os = "vexos",\n            target_os = "solana",\n        ) => {\n            pub(crate) fn enable()')
# Panics: call the program's `custom_panic` (solana-program-entrypoint defines it for target_os="solana") and
# the `abort` syscall, as Solana's std fork does; skips std's panic count and hook (writable statics).
old = "#[panic_handler]\npub fn panic_handler(info: &core::panic::PanicInfo<'_>) -> ! {\n"
new = old + '''    #[cfg(target_os = "solana")]
    {
        unsafe extern "Rust" {
            fn custom_panic(info: &core::panic::PanicInfo<'_>);
        }
        unsafe extern "C" {
            fn abort() -> !;
        }
        unsafe {
            custom_panic(info);
            abort()
        }
    }
'''
sub('panicking.rs', old, new)
old = "pub fn abort_internal() -> ! {\n    core::intrinsics::abort();\n}"
new = '''pub fn abort_internal() -> ! {
    #[cfg(target_os = "solana")]
    {
        unsafe extern "C" {
            fn abort() -> !;
        }
        unsafe { abort() }
    }
    #[cfg(not(target_os = "solana"))]
    core::intrinsics::abort();
}'''
sub('sys/pal/unsupported/common.rs', old, new)
# begin_panic / panic_any path: skip the panic count and hook (writable statics) on os=solana.
old = "    force_no_backtrace: bool,\n) -> ! {\n    let must_abort = panic_count::increase(true);\n"
new = "    force_no_backtrace: bool,\n) -> ! {\n    #[cfg(target_os = \"solana\")]\n    {\n        let _ = (payload, location, can_unwind, force_no_backtrace);\n        crate::sys::abort_internal();\n    }\n    let must_abort = panic_count::increase(true);\n"
sub('panicking.rs', old, new)
# Writable statics (.bss) SBPF cannot hold: RandomState's per-thread keys, the alloc error hook's flag.
old = "        thread_local!(static KEYS: Cell<(u64, u64)> = {\n"
new = "        #[cfg(target_os = \"solana\")]\n        {\n            return RandomState { k0: 0x736f6d6570736575, k1: 0x646f72616e646f6d };\n        }\n" + old
sub('hash/random.rs', old, new)
old = "    if cfg!(panic = \"immediate-abort\") {\n        return;\n    }\n\n    // This is the default path taken on OOM"
new = "    if cfg!(any(panic = \"immediate-abort\", target_os = \"solana\")) {\n        return;\n    }\n\n    // This is the default path taken on OOM"
sub('alloc.rs', old, new)
