//! `bench`: throughput of each kernel on each backend — TOPS for GEMM (and against the naive triple
//! loop on the CPU, and cuBLAS int8 on a GPU), SHA-256 hashes/s, Monte Carlo samples/s — and
//! Freivalds' time as a fraction of GEMM's. Human-readable, or `--json`.
use std::time::{Duration, Instant};

use gpushare_core::kernels::{SeededGemm, monte_carlo_key, sha256_chain_key, sha256_chain_start};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::backend::{self, Backend};
use crate::cpu::gemm_i8_naive;
use crate::error::WorkerError;
use crate::freivalds;
use crate::gpu::GpuBackend;

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
    /// Our GPU kernel's time over cuBLAS int8's, when cuBLAS is usable.
    pub gpu_kernel_over_cublas: Option<f64>,
}

fn timed<T>(f: impl FnOnce() -> Result<T, WorkerError>) -> Result<(T, Duration), WorkerError> {
    let started = Instant::now();
    let value = f()?;
    Ok((value, started.elapsed()))
}

fn operands(size: usize) -> (Vec<i8>, Vec<i8>) {
    let seeded = SeededGemm::new(&[0xbe; 32], size as u32, size as u32);
    let mut a = vec![0i8; size * size];
    let mut b = vec![0i8; size * size];
    SeededGemm::fill(seeded.seed_a, 0, &mut a);
    SeededGemm::fill(seeded.seed_b, 0, &mut b);
    (a, b)
}

/// Runs the benchmark and prints the report.
pub fn run(args: &BenchArgs) -> Result<(), WorkerError> {
    let backends = backend::available();
    let steps = backends.len() * 3 + usize::from(args.naive) + 1;
    let progress = ProgressBar::new(steps as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = measure(args, &backends, &progress)?;
    progress.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn measure(
    args: &BenchArgs,
    backends: &[std::sync::Arc<dyn Backend>],
    progress: &ProgressBar,
) -> Result<Report, WorkerError> {
    let size = args.gemm_size;
    let (a, b) = operands(size);
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
            return Err(WorkerError::SelfCheck(format!(
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
    progress.set_message("cuBLAS int8 comparison");
    report.gpu_kernel_over_cublas = compare_with_cublas(&a, &b, size)?;
    progress.inc(1);
    Ok(report)
}

/// Our GPU kernel's time over cuBLAS's on the same operands (both checked equal), if both run here.
fn compare_with_cublas(a: &[i8], b: &[i8], size: usize) -> Result<Option<f64>, WorkerError> {
    let Ok(gpu) = GpuBackend::new(0) else {
        return Ok(None);
    };
    // Warm both paths once, then time them.
    let _ = gpu.gemm_kernel(a, b, size, size, size)?;
    let Some(first) = gpu.gemm_with_cublas(a, b, size, size, size) else {
        return Ok(None);
    };
    first?;
    let (ours, ours_time) = timed(|| Ok(gpu.gemm_kernel(a, b, size, size, size)?))?;
    // The cuBLAS call itself runs inside the timer (it used to run before it, timing nothing).
    let (theirs, theirs_time) = timed(|| Ok(gpu.gemm_with_cublas(a, b, size, size, size)))?;
    let Some(theirs) = theirs else {
        return Ok(None);
    };
    let theirs = theirs?;
    if ours != theirs {
        return Err(WorkerError::SelfCheck(
            "cuBLAS and our GEMM kernel disagree".into(),
        ));
    }
    Ok(Some(ours_time.as_secs_f64() / theirs_time.as_secs_f64()))
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
    match report.gpu_kernel_over_cublas {
        Some(ratio) => println!("gpu kernel time / cuBLAS int8 time: {ratio:.2}"),
        None => println!("cuBLAS comparison: no usable GPU here"),
    }
}
