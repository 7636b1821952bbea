//! `bench`: throughput of each kernel on each backend — TOPS for GEMM (and against the naive triple
//! loop on the CPU, and cuBLAS int8 on a GPU), SHA-256 hashes/s, Monte Carlo samples/s — and
//! Freivalds' time as a fraction of GEMM's. `bench --pipeline`: whole shards end to end on each
//! backend with the time of each phase, next to the bare kernel (and an embedding shard's sequences
//! per second). Human-readable, or `--json`.
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpushare_core::kernels::{Kernel, monte_carlo_key, sha256_chain_key, sha256_chain_start};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::backend::Backend;
use crate::cpu::CpuBackend;
use crate::embed::seeded_embedding_case;
use crate::error::EngineError;
use crate::freivalds;
use crate::gpu::GpuBackend;
use crate::reference::gemm_i8_naive;
use crate::select;
use crate::shard::{Input, Phases};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// GEMM size: m = n = k.
    #[arg(long, default_value_t = 1024)]
    pub gemm_size: usize,
    /// Also time the naive triple loop at the GEMM size (CPU).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub naive: bool,
    /// SHA-256 chains run side by side, and steps per chain.
    #[arg(long, default_value_t = 64)]
    pub chains: usize,
    #[arg(long, default_value_t = 1 << 14)]
    pub chain_steps: u32,
    /// Monte Carlo blocks and samples per block.
    #[arg(long, default_value_t = 64)]
    pub mc_blocks: u32,
    #[arg(long, default_value_t = 1 << 18)]
    pub mc_samples: u32,
    /// Time whole shards end to end (one shard of each kernel at the sizes above), phase by phase,
    /// next to the bare kernel, instead of the kernels alone.
    #[arg(long)]
    pub pipeline: bool,
    /// Sequences in the pipeline's embedding shard: 1 to 64 tokens each, through a seeded model of
    /// all-MiniLM-L6-v2's shape (6 layers; the weights' values do not change the work).
    #[arg(long, default_value_t = 64)]
    pub embedding_sequences: u32,
    /// Timed runs of each shard or bare GEMM after one warm-up (the fastest shard is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: u32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One measurement.
#[derive(Debug, Serialize)]
pub struct Measurement {
    pub backend: String,
    pub kernel: &'static str,
    pub shape: String,
    pub seconds: f64,
    /// The throughput in `unit`.
    pub rate: f64,
    pub unit: &'static str,
}

/// Everything `bench` measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub measurements: Vec<Measurement>,
    /// CPU fast GEMM over the naive triple loop, at the same size.
    pub cpu_speedup_over_naive: Option<f64>,
    /// Freivalds (one round, CPU) time over each backend's GEMM time.
    pub freivalds_fraction: Vec<(String, f64)>,
    /// The bare device GEMMs, one per usable GPU.
    pub device_gemm: Vec<DeviceGemm>,
}

/// The bare GEMM on the device, operands already there, timed with CUDA events.
#[derive(Debug, Serialize)]
pub struct DeviceGemm {
    pub device: String,
    pub shape: String,
    pub dp4a_seconds: f64,
    pub dp4a_tops: f64,
    /// cuBLAS int8 in the "TN" layout, when usable here (its C checked equal to the kernel's).
    pub cublas_seconds: Option<f64>,
    pub cublas_tops: Option<f64>,
    /// Our kernel's time over cuBLAS's.
    pub dp4a_over_cublas: Option<f64>,
}

/// One shard end to end on one backend.
#[derive(Debug, Serialize)]
pub struct ShardTiming {
    pub backend: String,
    pub kernel: &'static str,
    pub shape: String,
    /// The fastest of the timed runs, phase by phase (`phases.total` is its wall clock).
    pub phases: Phases,
    /// The bare kernel on the same backend (on a GPU: device time, operands already there).
    pub bare_kernel_seconds: f64,
    /// Everything that is not the kernel, over the kernel: (total − kernel phase) / kernel phase.
    pub overhead_over_kernel: f64,
    /// Sequences per second of whole shards (embedding shards only).
    pub sequences_per_second: Option<f64>,
}

/// Everything `bench --pipeline` measured.
#[derive(Debug, Default, Serialize)]
pub struct PipelineReport {
    pub shards: Vec<ShardTiming>,
}

fn timed<T>(f: impl FnOnce() -> Result<T, EngineError>) -> Result<(T, Duration), EngineError> {
    let started = Instant::now();
    let value = f()?;
    Ok((value, started.elapsed()))
}

fn progress_bar(steps: usize) -> ProgressBar {
    let progress = ProgressBar::new(steps as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress
}

fn print_json(value: &impl Serialize) -> Result<(), EngineError> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs the benchmark and prints the report.
pub fn run(args: &BenchArgs) -> Result<(), EngineError> {
    let gpus = select::available_gpus();
    let mut backends: Vec<Arc<dyn Backend>> = vec![Arc::new(CpuBackend::new())];
    backends.extend(gpus.iter().map(|gpu| Arc::clone(gpu) as Arc<dyn Backend>));
    if args.pipeline {
        let progress = progress_bar(backends.len() * 4);
        let report = measure_pipeline(args, &backends, &progress)?;
        progress.finish_and_clear();
        return if args.json {
            print_json(&report)
        } else {
            print_pipeline(&report);
            Ok(())
        };
    }
    let progress = progress_bar(backends.len() * 3 + usize::from(args.naive) + gpus.len());
    let report = measure(args, &backends, &gpus, &progress)?;
    progress.finish_and_clear();
    if args.json {
        print_json(&report)
    } else {
        print_report(&report);
        Ok(())
    }
}

fn measure(
    args: &BenchArgs,
    backends: &[Arc<dyn Backend>],
    gpus: &[Arc<GpuBackend>],
    progress: &ProgressBar,
) -> Result<Report, EngineError> {
    let size = args.gemm_size;
    let (a, b) = crate::backend::bench_operands(size);
    let ops = 2.0 * (size as f64).powi(3);
    let shape = format!("{size}x{size}x{size}");
    let mut report = Report::default();
    let mut cpu_gemm_seconds = None;
    for backend in backends {
        progress.set_message(format!("gemm_i8 on {}", backend.name()));
        let (c, elapsed) = timed(|| backend.gemm_i8(&a, &b, size, size, size))?;
        progress.inc(1);
        let seconds = elapsed.as_secs_f64();
        if backend.name().starts_with("cpu") {
            cpu_gemm_seconds = Some(seconds);
        }
        report.measurements.push(Measurement {
            backend: backend.name(),
            kernel: "gemm_i8",
            shape: shape.clone(),
            seconds,
            rate: ops / seconds / 1e12,
            unit: "TOPS",
        });
        let (passed, check) = timed(|| {
            Ok(freivalds::check(
                &a,
                &b,
                &c,
                (size, size, size),
                1,
                &mut rand::rng(),
            ))
        })?;
        if !passed {
            return Err(EngineError::SelfCheck(format!(
                "{} computed a wrong GEMM in the benchmark",
                backend.name()
            )));
        }
        report
            .freivalds_fraction
            .push((backend.name(), check.as_secs_f64() / seconds));

        progress.set_message(format!("sha256_chain on {}", backend.name()));
        let starts: Vec<[u8; 32]> = (0..args.chains as u32)
            .map(|i| sha256_chain_start(&[1; 32], i))
            .collect();
        let key = sha256_chain_key(&[1; 32], 0);
        let (_, elapsed) =
            timed(|| backend.sha256_chains(&starts, &key, args.chain_steps, args.chain_steps))?;
        progress.inc(1);
        let hashes = args.chains as f64 * f64::from(args.chain_steps);
        report.measurements.push(Measurement {
            backend: backend.name(),
            kernel: "sha256_chain",
            shape: format!("{} chains x {} steps", args.chains, args.chain_steps),
            seconds: elapsed.as_secs_f64(),
            rate: hashes / elapsed.as_secs_f64(),
            unit: "hashes/s",
        });

        progress.set_message(format!("monte_carlo on {}", backend.name()));
        let key = monte_carlo_key(&[2; 32]);
        let (_, elapsed) = timed(|| backend.monte_carlo(key, 0..args.mc_blocks, args.mc_samples))?;
        progress.inc(1);
        let samples = f64::from(args.mc_blocks) * f64::from(args.mc_samples);
        report.measurements.push(Measurement {
            backend: backend.name(),
            kernel: "monte_carlo",
            shape: format!("{} blocks x {} samples", args.mc_blocks, args.mc_samples),
            seconds: elapsed.as_secs_f64(),
            rate: samples / elapsed.as_secs_f64(),
            unit: "samples/s",
        });
    }
    if args.naive {
        progress.set_message("gemm_i8 naive triple loop (cpu, one thread)");
        let (_, elapsed) = timed(|| Ok(gemm_i8_naive(&a, &b, size, size, size)))?;
        progress.inc(1);
        let seconds = elapsed.as_secs_f64();
        report.measurements.push(Measurement {
            backend: "cpu naive triple loop".into(),
            kernel: "gemm_i8",
            shape: shape.clone(),
            seconds,
            rate: ops / seconds / 1e12,
            unit: "TOPS",
        });
        report.cpu_speedup_over_naive = cpu_gemm_seconds.map(|fast| seconds / fast);
    }
    for gpu in gpus {
        progress.set_message(format!("{}: dp4a kernel and cuBLAS int8", gpu.name()));
        report
            .device_gemm
            .extend(device_gemm(gpu, size, args.repeats)?);
        progress.inc(1);
    }
    Ok(report)
}

/// The bare dp4a and cuBLAS GEMMs on `gpu` (results checked equal).
fn device_gemm(
    gpu: &GpuBackend,
    size: usize,
    repeats: u32,
) -> Result<Option<DeviceGemm>, EngineError> {
    let ops = 2.0 * (size as f64).powi(3);
    let Some((dp4a_seconds, ours)) = gpu.time_device_gemm(size, false, repeats)? else {
        return Ok(None);
    };
    let cublas = gpu.time_device_gemm(size, true, repeats)?;
    if let Some((_, theirs)) = &cublas
        && *theirs != ours
    {
        return Err(EngineError::SelfCheck(
            "cuBLAS and our GEMM kernel disagree".into(),
        ));
    }
    let cublas_seconds = cublas.map(|(seconds, _)| seconds);
    Ok(Some(DeviceGemm {
        device: gpu.name(),
        shape: format!("{size}x{size}x{size}"),
        dp4a_seconds,
        dp4a_tops: ops / dp4a_seconds / 1e12,
        cublas_seconds,
        cublas_tops: cublas_seconds.map(|seconds| ops / seconds / 1e12),
        dp4a_over_cublas: cublas_seconds.map(|seconds| dp4a_seconds / seconds),
    }))
}

/// The fastest of `repeats` timed runs of one shard, after a warm-up run.
fn fastest_shard(
    backend: &dyn Backend,
    kernel: Kernel,
    input: &Input,
    repeats: u32,
) -> Result<Phases, EngineError> {
    backend.shard(kernel, input, 1, 0)?;
    let mut best: Option<Phases> = None;
    for _ in 0..repeats.max(1) {
        let phases = backend.shard(kernel, input, 1, 0)?.phases;
        if best.is_none_or(|best| phases.total < best.total) {
            best = Some(phases);
        }
    }
    best.ok_or_else(|| EngineError::InvalidArgument("no timed run".into()))
}

fn measure_pipeline(
    args: &BenchArgs,
    backends: &[Arc<dyn Backend>],
    progress: &ProgressBar,
) -> Result<PipelineReport, EngineError> {
    let size = args.gemm_size;
    let dim = u32::try_from(size)
        .map_err(|_| EngineError::InvalidArgument("--gemm-size too large".into()))?;
    let seed = Input::Seed([0xbe; 32]);
    let leaf_every = (args.chain_steps / 64).max(1);
    let (embedding, embedding_input) = seeded_embedding_case(6, args.embedding_sequences, 0xbe);
    let embedding_tokens = match embedding {
        Kernel::Embedding { tokens, .. } => tokens,
        _ => 0,
    };
    let cases = [
        (
            "gemm_i8",
            Kernel::GemmI8 {
                m: dim,
                n: dim,
                k: dim,
            },
            format!("{size}x{size}x{size}"),
        ),
        (
            "sha256_chain",
            Kernel::Sha256Chain {
                steps: args.chain_steps - args.chain_steps % leaf_every,
                leaf_every,
            },
            format!("1 chain x {} steps", args.chain_steps),
        ),
        (
            "monte_carlo",
            Kernel::MonteCarlo {
                blocks: args.mc_blocks,
                samples_per_block: args.mc_samples,
            },
            format!("{} blocks x {} samples", args.mc_blocks, args.mc_samples),
        ),
        (
            "embedding",
            embedding,
            format!(
                "{} seqs, {embedding_tokens} tokens",
                args.embedding_sequences
            ),
        ),
    ];
    let mut report = PipelineReport::default();
    for backend in backends {
        for (name, kernel, shape) in &cases {
            progress.set_message(format!("{name} shard on {}", backend.name()));
            let input = match kernel {
                Kernel::Embedding { .. } => &embedding_input,
                _ => &seed,
            };
            let phases = fastest_shard(backend.as_ref(), *kernel, input, args.repeats)?;
            let bare_kernel_seconds = match kernel {
                Kernel::GemmI8 { .. } => backend.bare_gemm_seconds(size, args.repeats)?,
                _ => phases.kernel,
            };
            progress.inc(1);
            report.shards.push(ShardTiming {
                backend: backend.name(),
                kernel: name,
                shape: shape.clone(),
                phases,
                bare_kernel_seconds,
                overhead_over_kernel: (phases.total - phases.kernel) / phases.kernel,
                sequences_per_second: matches!(kernel, Kernel::Embedding { .. })
                    .then(|| f64::from(args.embedding_sequences) / phases.total),
            });
        }
    }
    Ok(report)
}

fn print_report(report: &Report) {
    println!(
        "{:<34} {:<14} {:<28} {:>10} {:>14}",
        "backend", "kernel", "shape", "seconds", "rate"
    );
    for m in &report.measurements {
        println!(
            "{:<34} {:<14} {:<28} {:>10.4} {:>10.4e} {}",
            m.backend, m.kernel, m.shape, m.seconds, m.rate, m.unit
        );
    }
    if let Some(speedup) = report.cpu_speedup_over_naive {
        println!("cpu gemm_i8 vs naive triple loop: {speedup:.1}x faster");
    }
    for (backend, fraction) in &report.freivalds_fraction {
        println!(
            "freivalds (1 round) / gemm time on {backend}: {:.2} %",
            fraction * 100.0
        );
    }
    if report.device_gemm.is_empty() {
        println!("device GEMM: no usable GPU here");
    }
    for gemm in &report.device_gemm {
        println!(
            "device gemm_i8 {} on {}: dp4a kernel {:.3} ms ({:.1} TOPS)",
            gemm.shape,
            gemm.device,
            gemm.dp4a_seconds * 1e3,
            gemm.dp4a_tops
        );
        match (gemm.cublas_seconds, gemm.cublas_tops, gemm.dp4a_over_cublas) {
            (Some(seconds), Some(tops), Some(ratio)) => println!(
                "  cuBLAS int8 {:.3} ms ({tops:.1} TOPS); dp4a / cuBLAS time {ratio:.2}",
                seconds * 1e3
            ),
            _ => println!("  cuBLAS int8 not usable here"),
        }
    }
}

fn print_pipeline(report: &PipelineReport) {
    println!(
        "{:<30} {:<13} {:<24} {:>9} {:>9} | {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "backend",
        "kernel",
        "shape",
        "total ms",
        "bare ms",
        "generate",
        "copy in",
        "kernel",
        "verify",
        "hash",
        "copy out",
        "overhead"
    );
    for shard in &report.shards {
        let p = &shard.phases;
        println!(
            "{:<30} {:<13} {:<24} {:>9.3} {:>9.3} | {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.1}%",
            shard.backend,
            shard.kernel,
            shard.shape,
            p.total * 1e3,
            shard.bare_kernel_seconds * 1e3,
            p.generate * 1e3,
            p.copy_in * 1e3,
            p.kernel * 1e3,
            p.verify * 1e3,
            p.hash * 1e3,
            p.copy_out * 1e3,
            shard.overhead_over_kernel * 100.0
        );
    }
    for shard in &report.shards {
        if let Some(rate) = shard.sequences_per_second {
            println!("embedding on {}: {rate:.1} sequences/s", shard.backend);
        }
    }
    println!(
        "phases in ms; on a GPU they are device times from CUDA events and overlap (copy out runs beside hashing)"
    );
}
