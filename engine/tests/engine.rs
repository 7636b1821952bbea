//! The compute engine against the reference definitions: every backend usable here on random shapes
//! with ragged edges, and every bad shape refused with its named error.
use gpushare_core::kernels::{Kernel, KernelError};
use gpushare_engine::backend::{Backend, compute_shard};
use gpushare_engine::cpu::CpuBackend;
use gpushare_engine::embed::seeded_embedding_case;
use gpushare_engine::error::EngineError;
use gpushare_engine::gpu::GpuBackend;
use gpushare_engine::reference::{gemm_i8_naive, reference_shard};
use gpushare_engine::select::{self, BackendChoice, BackendOptions};
use gpushare_engine::shard::Input;
use proptest::prelude::*;

fn backends() -> Vec<std::sync::Arc<dyn Backend>> {
    select::available()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn gemm_matches_the_naive_product_on_ragged_shapes(m in 1usize..70, n in 1usize..70, k in 1usize..140, seed in any::<u64>()) {
        let mut state = seed;
        let mut next = || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (state >> 56) as i8 };
        let a: Vec<i8> = (0..m * k).map(|_| next()).collect();
        let b: Vec<i8> = (0..k * n).map(|_| next()).collect();
        let expected = gemm_i8_naive(&a, &b, m, n, k);
        for backend in backends() {
            prop_assert_eq!(&backend.gemm_i8(&a, &b, m, n, k).unwrap(), &expected, "{}", backend.name());
        }
    }

    #[test]
    fn seeded_gemm_shards_match_the_reference(m in 1u32..40, n in 1u32..40, k in 1u32..90, shards in 1u32..4, seed in any::<[u8; 32]>()) {
        let kernel = Kernel::GemmI8 { m: m.max(shards), n, k };
        let shard = shards - 1;
        let reference = reference_shard(kernel, &Input::Seed(seed), shards, shard).unwrap();
        for backend in backends() {
            let computed = compute_shard(backend.as_ref(), kernel, &Input::Seed(seed), shards, shard).unwrap();
            prop_assert_eq!(&computed.bytes, &reference.bytes);
            prop_assert_eq!(computed.root, reference.root);
        }
    }

    #[test]
    fn chains_and_monte_carlo_match_the_reference(leaves in 1u32..20, leaf_every in 1u32..40, blocks in 1u32..12, samples in 1u32..3000, seed in any::<[u8; 32]>()) {
        let kernels = [
            (Kernel::Sha256Chain { steps: leaves * leaf_every, leaf_every }, 2, 1),
            (Kernel::MonteCarlo { blocks, samples_per_block: samples }, blocks.min(3), 0),
        ];
        for (kernel, shards, shard) in kernels {
            let reference = reference_shard(kernel, &Input::Seed(seed), shards, shard).unwrap();
            for backend in backends() {
                let computed = compute_shard(backend.as_ref(), kernel, &Input::Seed(seed), shards, shard).unwrap();
                prop_assert_eq!(&computed.bytes, &reference.bytes);
            }
        }
    }
}

#[test]
fn data_inputs_match_the_reference() {
    let (m, n, k) = (19u32, 7u32, 33u32);
    let data: Vec<u8> = (0..(m * k + k * n))
        .map(|i| (i * 131 % 256) as u8)
        .collect();
    let kernel = Kernel::GemmI8 { m, n, k };
    let reference = reference_shard(kernel, &Input::Data(data.clone()), 2, 1).unwrap();
    let computed = compute_shard(&CpuBackend::new(), kernel, &Input::Data(data), 2, 1).unwrap();
    assert_eq!(computed.bytes, reference.bytes);
}

fn kernel_error(result: Result<impl std::fmt::Debug, EngineError>) -> KernelError {
    match result {
        Err(EngineError::Kernel(error)) => error,
        other => panic!("expected a kernel error, got {other:?}"),
    }
}

#[test]
fn bad_shapes_and_inputs_are_refused_by_name() {
    let cpu = CpuBackend::new();
    let seed = Input::Seed([1; 32]);
    let gemm = Kernel::GemmI8 { m: 8, n: 8, k: 8 };
    assert_eq!(
        kernel_error(compute_shard(&cpu, gemm, &seed, 2, 2)),
        KernelError::ShardOutOfRange {
            shard: 2,
            shards: 2
        }
    );
    assert_eq!(
        kernel_error(compute_shard(&cpu, gemm, &seed, 9, 0)),
        KernelError::InvalidShape
    );
    assert_eq!(
        kernel_error(compute_shard(
            &cpu,
            Kernel::GemmI8 {
                m: 8,
                n: 8,
                k: 1 << 17
            },
            &seed,
            1,
            0
        )),
        KernelError::InvalidShape
    );
    assert_eq!(
        kernel_error(compute_shard(
            &cpu,
            Kernel::GemmI8 { m: 0, n: 8, k: 8 },
            &seed,
            1,
            0
        )),
        KernelError::InvalidShape
    );
    assert_eq!(
        kernel_error(compute_shard(&cpu, gemm, &Input::Data(vec![0; 5]), 1, 0)),
        KernelError::InputSize {
            expected: 128,
            actual: 5
        }
    );
    let chain = Kernel::Sha256Chain {
        steps: 10,
        leaf_every: 5,
    };
    assert_eq!(
        kernel_error(compute_shard(&cpu, chain, &Input::Data(vec![0; 5]), 1, 0)),
        KernelError::SeedOnly
    );
    assert_eq!(
        kernel_error(compute_shard(
            &cpu,
            Kernel::Sha256Chain {
                steps: 10,
                leaf_every: 3
            },
            &seed,
            1,
            0
        )),
        KernelError::InvalidShape
    );
    assert!(matches!(
        cpu.gemm_i8(&[1, 2, 3], &[1], 2, 1, 2),
        Err(EngineError::Shape(_))
    ));
    assert!(matches!(
        cpu.sha256_chains(&[[0; 32]], &[0; 16], 10, 3),
        Err(EngineError::Shape(_))
    ));
}

#[test]
fn without_a_gpu_the_worker_falls_back_to_the_cpu_without_panicking() {
    let options = |choice| BackendOptions {
        choice,
        ..BackendOptions::default()
    };
    let chosen =
        select::select(&options(BackendChoice::Auto)).expect("auto always finds a backend");
    let gpu = select::select(&options(BackendChoice::Gpu));
    if gpu.is_err() {
        assert!(chosen.name().starts_with("cpu"), "{}", chosen.name());
    }
}

/// Shards split into row panels (a device memory budget far below the shard) give the reference
/// bits, through cuBLAS (k, n multiples of 4) and through the dp4a kernel; seeded and data inputs.
/// Runs on every GPU of the machine; nothing to check where there is none.
#[test]
fn panelled_gpu_shards_match_the_reference() {
    for gpu in select::available_gpus() {
        let limited = GpuBackend::new(gpu.ordinal())
            .unwrap()
            .with_memory_limit(Some(420_000));
        for (m, n, k) in [(997u32, 96u32, 100u32), (997, 98, 101)] {
            let kernel = Kernel::GemmI8 { m, n, k };
            let data: Vec<u8> = (0..m * k + k * n).map(|i| (i * 31 % 251) as u8).collect();
            for input in [Input::Seed([3; 32]), Input::Data(data)] {
                let reference = reference_shard(kernel, &input, 2, 1).unwrap();
                let computed = compute_shard(&limited, kernel, &input, 2, 1).unwrap();
                assert_eq!(
                    computed.root,
                    reference.root,
                    "{} {m}x{n}x{k}",
                    limited.name()
                );
                assert!(computed.bytes == reference.bytes);
            }
        }
    }
}

/// Several shards at once on a pool of every GPU: each comes back right, from some device.
#[test]
fn a_pool_of_every_gpu_computes_concurrent_shards_right() {
    let options = BackendOptions {
        choice: BackendChoice::Gpu,
        ..BackendOptions::default()
    };
    let Ok(pool) = select::select(&options) else {
        return;
    };
    let kernel = Kernel::GemmI8 {
        m: 256,
        n: 64,
        k: 96,
    };
    let input = Input::Seed([4; 32]);
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..8u32)
            .map(|shard| {
                let (pool, input) = (&pool, &input);
                scope.spawn(move || (shard, pool.shard(kernel, input, 8, shard).unwrap()))
            })
            .collect();
        for run in runs {
            let (shard, run) = run.join().unwrap();
            assert!(pool.device_names().contains(&run.device), "{}", run.device);
            assert_eq!(
                run.output.root,
                reference_shard(kernel, &input, 8, shard).unwrap().root
            );
        }
    });
}

/// What a spot-check recomputes on-chain (`seeded_leaf`) is exactly what the worker commits to.
#[test]
fn every_leaf_of_a_computed_shard_is_the_on_chain_reference_leaf() {
    use gpushare_core::kernels::seeded_leaf;
    let seed = [9; 32];
    let kernels = [
        Kernel::GemmI8 {
            m: 21,
            n: 11,
            k: 17,
        },
        Kernel::Sha256Chain {
            steps: 96,
            leaf_every: 8,
        },
        Kernel::MonteCarlo {
            blocks: 9,
            samples_per_block: 777,
        },
    ];
    for kernel in kernels {
        let output = compute_shard(&CpuBackend::new(), kernel, &Input::Seed(seed), 3, 2).unwrap();
        let leaf_bytes = kernel.leaf_bytes();
        let mut previous = None;
        for (leaf, bytes) in output.bytes.chunks(leaf_bytes).enumerate() {
            let reference = seeded_leaf(kernel, &seed, 3, 2, leaf as u64, previous).unwrap();
            assert_eq!(bytes, reference.as_slice(), "{kernel:?} leaf {leaf}");
            previous = bytes.try_into().ok();
        }
    }
}

#[test]
fn embedding_shards_match_the_reference() {
    for (layers, sequences, shards, seed) in [(1, 3, 1, 1), (2, 7, 3, 2), (1, 4, 4, 3)] {
        let (kernel, input) = seeded_embedding_case(layers, sequences, seed);
        for shard in 0..shards {
            let reference = reference_shard(kernel, &input, shards, shard).unwrap();
            for backend in backends() {
                let computed =
                    compute_shard(backend.as_ref(), kernel, &input, shards, shard).unwrap();
                assert_eq!(computed.bytes, reference.bytes, "{}", backend.name());
                assert_eq!(computed.root, reference.root);
            }
        }
    }
}

#[test]
fn an_embedding_shard_needs_its_model_of_the_right_width() {
    let (kernel, input) = seeded_embedding_case(1, 2, 4);
    let cpu = CpuBackend::new();
    assert!(matches!(
        compute_shard(&cpu, kernel, &Input::Seed([1; 32]), 1, 0),
        Err(EngineError::InvalidArgument(_))
    ));
    let Kernel::Embedding {
        model,
        batch,
        sequences,
        tokens,
        ..
    } = kernel
    else {
        unreachable!()
    };
    let wider = Kernel::Embedding {
        model,
        batch,
        dims: 512,
        sequences,
        tokens,
    };
    assert!(matches!(
        compute_shard(&cpu, wider, &input, 1, 0),
        Err(EngineError::Shape(_))
    ));
}
