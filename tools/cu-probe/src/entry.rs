//! The eBPF entry point: decodes the case from the input region (`r1`), runs it, writes the
//! outcome; a bump allocator over the VM heap; panics end the run through the `abort` syscall.
use core::alloc::{GlobalAlloc, Layout};

use crate::case::{INPUT_REGION_BYTES, OUTCOME_OFFSET};

/// Where the VM maps the heap, and its size (the most a transaction may request; the meter reports
/// what a run allocated, against the runtime's default 32 KiB).
const HEAP_START: usize = 0x3_0000_0000;
const HEAP_BYTES: usize = 256 * 1024;

unsafe extern "C" {
    /// Ends the run with an error (a syscall of the meter).
    fn abort() -> !;
}

/// Runs the case in the input region; returns 0 after writing its outcome, 1 for an undecodable case.
///
/// # Safety
/// `input` points at [`INPUT_REGION_BYTES`] writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn entrypoint(input: *mut u8) -> u64 {
    // SAFETY: the caller maps the whole input region at `input`.
    let region = unsafe { core::slice::from_raw_parts_mut(input, INPUT_REGION_BYTES) };
    #[cfg(not(feature = "embedding-checks"))]
    let case = crate::Case::decode(&region[..OUTCOME_OFFSET]);
    #[cfg(feature = "embedding-checks")]
    let case = crate::EmbeddingCase::decode(&region[..OUTCOME_OFFSET]);
    let Some(case) = case else {
        return 1;
    };
    let (status, bytes) = match case.run() {
        Ok(bytes) => (0u64, bytes),
        Err(_) => (2, alloc::vec::Vec::new()),
    };
    let out = &mut region[OUTCOME_OFFSET..];
    out[..8].copy_from_slice(&status.to_le_bytes());
    out[8..16].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
    out[16..16 + bytes.len()].copy_from_slice(&bytes);
    0
}

/// Allocates upward from the heap's start and never frees, as the runtime's default allocator does;
/// the first word of the heap holds the next free address (programs have no writable statics).
struct Bump;

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let cursor = HEAP_START as *mut usize;
        // SAFETY: the heap is mapped writable; its first word is reserved for the cursor.
        let next = match unsafe { *cursor } {
            0 => HEAP_START + core::mem::size_of::<usize>(),
            next => next,
        };
        let start = next.next_multiple_of(layout.align());
        let end = start + layout.size();
        if end > HEAP_START + HEAP_BYTES {
            return core::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { *cursor = end };
        start as *mut u8
    }

    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: a syscall that does not return.
    unsafe { abort() }
}
