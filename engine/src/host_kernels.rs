//! The CUDA kernels' per-thread bodies (`cuda/common.cuh`), compiled as host C by the build script
//! and run here over every thread index, checked against `gpushare-core` and the CPU backend: the
//! GPU's arithmetic and index math, tested on machines without a GPU.
use gpushare_core::kernels::{
    SeededGemm, monte_carlo_block, monte_carlo_key, sha256_chain_advance, sha256_chain_key,
    sha256_chain_start,
};
use gpushare_core::merkle::MerkleTree;
use proptest::prelude::*;

use crate::freivalds;
use crate::hashing::{digest_bytes, state_words};

unsafe extern "C" {
    fn gs_host_leaf_hashes(data: *const u8, len: u64, leaf_bytes: u32, leaves: u64, out: *mut u32);
    fn gs_host_merkle_level(below: *const u32, count: u64, above: *mut u32);
    fn gs_host_seeded_operand(
        seed: u64,
        first_row: u64,
        row_stride: u64,
        col_stride: u64,
        rows: u64,
        cols: u32,
        ld_words: u32,
        out: *mut u32,
    );
    fn gs_host_strided_operand(
        src: *const u8,
        row_stride: u64,
        col_stride: u64,
        rows: u64,
        cols: u32,
        ld_words: u32,
        out: *mut u32,
    );
    fn gs_host_sha256_chains(
        starts: *const u32,
        key: *const u32,
        chains: u64,
        leaves: u32,
        leaf_every: u32,
        out: *mut u32,
    );
    fn gs_host_monte_carlo_block(k0: u32, k1: u32, block: u32, samples: u32) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn gs_host_freivalds(
        a: *const i8,
        a_ld: u64,
        bt: *const i8,
        bt_ld: u64,
        c: *const i32,
        rows: u64,
        n: u32,
        k: u32,
        parts: u32,
        r: *const u64,
        x: *mut u64,
        y: *mut u64,
        z: *mut u64,
    );
}

/// The Merkle root the device's leaf and level kernels compute for `data`.
fn device_root(data: &[u8], leaf_bytes: u32) -> [u8; 32] {
    let leaves = (data.len() as u64).div_ceil(u64::from(leaf_bytes));
    let mut level = vec![0u32; leaves as usize * 8];
    // SAFETY: `level` holds 8 words per leaf; the C code reads only `data.len()` bytes.
    unsafe {
        gs_host_leaf_hashes(
            data.as_ptr(),
            data.len() as u64,
            leaf_bytes,
            leaves,
            level.as_mut_ptr(),
        )
    };
    let mut count = leaves;
    while count > 1 {
        let mut above = vec![0u32; count.div_ceil(2) as usize * 8];
        // SAFETY: `level` holds `count` digests and `above` room for their parents.
        unsafe { gs_host_merkle_level(level.as_ptr(), count, above.as_mut_ptr()) };
        level = above;
        count = count.div_ceil(2);
    }
    digest_bytes(&level[..8])
}

/// Unpacks K-contiguous operand words (`ld_words` per row) into rows of `cols` i8 values.
fn unpack(words: &[u32], ld_words: usize, cols: usize) -> Vec<Vec<i8>> {
    words
        .chunks(ld_words)
        .map(|row| {
            let bytes: Vec<u8> = row.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert!(bytes[cols..].iter().all(|b| *b == 0), "padding is zero");
            bytes[..cols].iter().map(|b| *b as i8).collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn device_merkle_roots_are_the_core_roots(len in 1usize..2000, leaf_bytes in 1u32..80) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        prop_assert_eq!(device_root(&data, leaf_bytes), MerkleTree::from_data(&data, leaf_bytes as usize).root());
    }

    /// A (row stride k) and Bᵀ (row stride 1, column stride n), padded to whole words.
    #[test]
    fn device_operands_are_the_seeded_operands(seed in any::<u64>(), first_row in 0u64..1000, rows in 1u64..6, cols in 1u32..40, n in 1u64..50) {
        let ld_words = cols.div_ceil(4);
        let mut a = vec![0u32; (rows * u64::from(ld_words)) as usize];
        // SAFETY: `a` holds rows × ld_words words.
        unsafe { gs_host_seeded_operand(seed, first_row, u64::from(cols), 1, rows, cols, ld_words, a.as_mut_ptr()) };
        for (r, row) in unpack(&a, ld_words as usize, cols as usize).iter().enumerate() {
            let mut expected = vec![0i8; cols as usize];
            SeededGemm::fill(seed, (first_row + r as u64) * u64::from(cols), &mut expected);
            prop_assert_eq!(row, &expected);
        }
        let mut bt = vec![0u32; (n * u64::from(ld_words)) as usize];
        // SAFETY: `bt` holds n × ld_words words.
        unsafe { gs_host_seeded_operand(seed, 0, 1, n, n, cols, ld_words, bt.as_mut_ptr()) };
        for (j, row) in unpack(&bt, ld_words as usize, cols as usize).iter().enumerate() {
            let expected: Vec<i8> = (0..u64::from(cols)).map(|p| SeededGemm::element(seed, p * n + j as u64)).collect();
            prop_assert_eq!(row, &expected);
        }
        let b: Vec<u8> = (0..u64::from(cols) * n).map(|i| SeededGemm::element(seed, i) as u8).collect();
        let mut packed = vec![0u32; bt.len()];
        // SAFETY: `b` holds cols × n bytes, `packed` n × ld_words words.
        unsafe { gs_host_strided_operand(b.as_ptr(), 1, n, n, cols, ld_words, packed.as_mut_ptr()) };
        prop_assert_eq!(packed, bt);
    }

    #[test]
    fn device_freivalds_vectors_are_the_cpu_vectors(m in 1usize..9, n in 1usize..70, k in 1usize..70, parts in 1u32..5, salt in any::<u64>()) {
        let a: Vec<i8> = (0..m * k).map(|i| SeededGemm::element(salt, i as u64)).collect();
        let b: Vec<i8> = (0..k * n).map(|i| SeededGemm::element(!salt, i as u64)).collect();
        let c: Vec<i32> = (0..m * n).map(|i| (i as i32 - 40) * 1_000_003).collect();
        let r: Vec<u64> = (0..n as u64).map(|j| j.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(salt) % freivalds::P).collect();
        let ld = k.next_multiple_of(4);
        let pad = |rows: usize, get: &dyn Fn(usize, usize) -> i8| -> Vec<i8> {
            (0..rows * ld).map(|t| if t % ld < k { get(t / ld, t % ld) } else { 0 }).collect()
        };
        let (a_dev, bt) = (pad(m, &|i, p| a[i * k + p]), pad(n, &|j, p| b[p * n + j]));
        let (mut x, mut y, mut z) = (vec![0u64; k], vec![0u64; m], vec![0u64; m]);
        // SAFETY: every buffer has the length its shape gives.
        unsafe {
            gs_host_freivalds(a_dev.as_ptr(), ld as u64, bt.as_ptr(), ld as u64, c.as_ptr(), m as u64, n as u32, k as u32,
                parts, r.as_ptr(), x.as_mut_ptr(), y.as_mut_ptr(), z.as_mut_ptr())
        };
        let expected = freivalds::products(&a, &b, &c, (m, n, k), &r);
        prop_assert_eq!(x, expected.br);
        prop_assert_eq!(y, expected.abr);
        prop_assert_eq!(z, expected.cr);
    }

    #[test]
    fn device_chains_are_the_core_chains(shard in 0u32..1000, leaves in 1u32..5, leaf_every in 1u32..9) {
        let seed = [shard as u8; 32];
        let (start, key) = (sha256_chain_start(&seed, shard), sha256_chain_key(&seed, shard));
        let key_words: [u32; 4] = std::array::from_fn(|i| u32::from_be_bytes(key[4 * i..4 * i + 4].try_into().unwrap()));
        let mut out = vec![0u32; leaves as usize * 8];
        // SAFETY: one chain of `leaves` leaves of 8 words.
        unsafe { gs_host_sha256_chains(state_words(&start).as_ptr(), key_words.as_ptr(), 1, leaves, leaf_every, out.as_mut_ptr()) };
        let mut state = start;
        for leaf in out.chunks(8) {
            state = sha256_chain_advance(state, &key, leaf_every);
            prop_assert_eq!(digest_bytes(leaf), state);
        }
    }

    #[test]
    fn device_monte_carlo_blocks_are_the_core_blocks(block in any::<u32>(), samples in 1u32..3000) {
        let key = monte_carlo_key(&[block as u8; 32]);
        // SAFETY: plain values in, one count out.
        let hits = unsafe { gs_host_monte_carlo_block(key[0], key[1], block, samples) };
        prop_assert_eq!(hits, monte_carlo_block(key, block, samples));
    }
}
