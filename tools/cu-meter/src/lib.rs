//! Compute units measured, not guessed. The program's verification paths (gpushare-core's leaf
//! recomputation for each kernel, and the RFC 6962 inclusion check) are lowered to eBPF with LLVM
//! ([`lower`]), linked as the SBF loader would ([`link`]), and run in solana-sbpf's interpreter with
//! agave's syscall costs ([`vm`]); every result is checked against the native function. The
//! measurements bound what the program accepts (see `tests/budget.rs` and docs/verification.md).
pub mod error;
pub mod link;
pub mod lower;
pub mod vm;

use std::path::Path;

use gpushare_core::embedding::check::prover::{Prover, SequenceTrace, shard_output};
use gpushare_core::embedding::check::{CheckContext, MAX_CHECKED_TOKENS, Operation, Sample};
use gpushare_core::embedding::forward::run_sequence;
use gpushare_core::embedding::layout::TokenBatch;
use gpushare_core::embedding::model::{LinearKind, Model, Shape, seeded_model};
use gpushare_core::kernels::{Kernel, MAX_SHARD_OUTPUT_BYTES, seeded_leaf};
use gpushare_core::merkle::{Hash, node_hash};
use gpushare_core::rng::SplitMix64;
use gpushare_core::spot_check::{leaf_cost_units, leaf_fits_budget};
use gpushare_cu_probe::case::{INPUT_REGION_BYTES, OUTCOME_OFFSET};
use gpushare_cu_probe::{Case, EmbeddingCase};

pub use error::MeterError;

/// The seed every measured job uses (any seed costs the same).
const SEED: [u8; 32] = [7; 32];

/// One measured run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Measurement {
    /// What ran: `gemm_i8 leaf`, `sha256_chain leaf`, `monte_carlo leaf`, `inclusion check`, or an
    /// embedding check's computation.
    pub path: &'static str,
    /// Its size, in words (`k = 1024`).
    pub parameter: String,
    /// The parameter's value.
    pub value: u64,
    /// All units, as agave would charge them.
    pub units: u64,
    /// Of those, units charged by syscalls (`sol_sha256`, `sol_memcpy_`…).
    pub syscall_units: u64,
    /// Heap bytes the run allocated (the runtime gives a program 32 KiB unless it asks for more).
    pub heap_bytes: u64,
    /// What the program charges for it (`leaf_cost_units`), for a leaf.
    pub charged: Option<u64>,
    /// The witness's bytes, for an embedding check: what a provider stages in a proof buffer.
    pub witness_bytes: Option<u64>,
    /// Whether this is the largest size `create_job` accepts (the deepest tree, for inclusion).
    pub largest: bool,
}

impl Measurement {
    /// Units charged by instructions.
    pub fn instructions(&self) -> u64 {
        self.units - self.syscall_units
    }

    /// The measurements as a table.
    pub fn table(all: &[Measurement]) -> String {
        let mut out = format!(
            "{:<18} {:<34} {:>10} {:>13} {:>14} {:>10} {:>8} {:>8}\n",
            "path",
            "parameter",
            "units",
            "instructions",
            "syscall units",
            "charged",
            "heap",
            "witness"
        );
        let or_dash = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
        for m in all {
            let largest = if m.largest { " (largest accepted)" } else { "" };
            out.push_str(&format!(
                "{:<18} {:<34} {:>10} {:>13} {:>14} {:>10} {:>8} {:>8}\n",
                m.path,
                format!("{}{largest}", m.parameter),
                m.units,
                m.instructions(),
                m.syscall_units,
                or_dash(m.charged),
                m.heap_bytes,
                or_dash(m.witness_bytes),
            ));
        }
        out
    }

    /// The measurements as JSON.
    pub fn json(all: &[Measurement]) -> String {
        serde_json::to_string_pretty(all).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Which eBPF probe a meter runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The program's verification paths: leaves and inclusion checks ([`Case`]).
    Paths,
    /// The embedding checks' computations ([`EmbeddingCase`]), built apart so that they never
    /// change how the paths are compiled.
    EmbeddingChecks,
}

impl Probe {
    fn features(self) -> &'static str {
        match self {
            Probe::Paths => "ebpf",
            Probe::EmbeddingChecks => "ebpf,embedding-checks",
        }
    }

    fn inlining(self) -> lower::Inlining {
        match self {
            Probe::Paths => lower::Inlining::Chosen,
            Probe::EmbeddingChecks => lower::Inlining::Everything,
        }
    }

    fn directory(self) -> &'static str {
        match self {
            Probe::Paths => "cu-meter",
            Probe::EmbeddingChecks => "cu-meter-embedding",
        }
    }
}

/// The eBPF program, built once.
pub struct Meter {
    program: vm::Program,
}

impl Meter {
    /// Builds `probe` (cached under `$CARGO_TARGET_DIR`), lowers it into `work_dir` (default: a
    /// directory of this run's own), links and loads it.
    pub fn build(work_dir: Option<&Path>, probe: Probe) -> Result<Self, MeterError> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        // The probe's build is cached (cargo locks its directory); the IR and the object of this run
        // go to `work_dir`, or to a directory of this run's own.
        let probe_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace.join("target"), Into::into)
            .join(probe.directory());
        let bitcode = lower::probe_bitcode(&workspace, &probe_dir, probe.features())?;
        let scratch =
            tempfile::tempdir().map_err(|e| MeterError::Io("a temporary directory".into(), e))?;
        let work_dir = work_dir.unwrap_or(scratch.path());
        std::fs::create_dir_all(work_dir)
            .map_err(|e| MeterError::Io(work_dir.display().to_string(), e))?;
        let object = lower::to_object(&bitcode, work_dir, probe.inlining())?;
        let bytes =
            std::fs::read(&object).map_err(|e| MeterError::Io(object.display().to_string(), e))?;
        Ok(Self {
            program: vm::Program::load(link::link(&bytes)?)?,
        })
    }

    /// Runs `case` as eBPF and natively; the measurement, if both agree.
    pub fn measure(
        &self,
        path: &'static str,
        parameter: String,
        value: u64,
        case: &Case,
    ) -> Result<Measurement, MeterError> {
        let charged = match case {
            Case::Leaf { kernel, .. } => Some(leaf_cost_units(kernel)),
            Case::Inclusion { .. } => None,
        };
        // Only a successful verification is a measurement: both sides computed the leaf, or the path held.
        let native = case.run().ok();
        let verified = match case {
            Case::Leaf { .. } => native.is_some(),
            Case::Inclusion { .. } => native.as_deref() == Some(&[1]),
        };
        let mut measured = self.run(path, parameter, value, case.encode(), native, verified)?;
        measured.charged = charged;
        Ok(measured)
    }

    /// Runs an embedding check's computation as eBPF and natively (the meter of
    /// [`Probe::EmbeddingChecks`]); the measurement, if both agree.
    pub fn measure_embedding(
        &self,
        path: &'static str,
        parameter: String,
        value: u64,
        case: &EmbeddingCase,
    ) -> Result<Measurement, MeterError> {
        let native = case.run().ok();
        let verified = native.as_deref().is_some_and(EmbeddingCase::matched);
        let measured = self.run(path, parameter, value, case.encode(), native, verified)?;
        Ok(Measurement {
            witness_bytes: Some(case.witness.len() as u64),
            ..measured
        })
    }

    /// Runs the encoded case in the VM; the measurement if it computed `native` and that verified.
    fn run(
        &self,
        path: &'static str,
        parameter: String,
        value: u64,
        mut input: Vec<u8>,
        native: Option<Vec<u8>>,
        verified: bool,
    ) -> Result<Measurement, MeterError> {
        let name = format!("{path} ({parameter})");
        input.resize(INPUT_REGION_BYTES, 0);
        let run = self.program.run(input).map_err(|error| MeterError::Run {
            case: name.clone(),
            error,
        })?;
        let outcome = &run.input[OUTCOME_OFFSET..];
        let word =
            |at: usize| u64::from_le_bytes(outcome[at..at + 8].try_into().unwrap_or_default());
        let (status, len) = (word(0), word(8) as usize);
        let ebpf = (status == 0)
            .then(|| outcome.get(16..16 + len).map(<[u8]>::to_vec))
            .flatten();
        if !verified || ebpf != native {
            return Err(MeterError::Mismatch { case: name });
        }
        Ok(Measurement {
            path,
            parameter,
            value,
            units: run.units,
            syscall_units: run.syscall_units,
            heap_bytes: run.heap_bytes,
            charged: None,
            witness_bytes: None,
            largest: false,
        })
    }
}

/// The largest `value` in `1..=max` for which `fits(value)` holds (`fits` holds up to a point).
pub fn largest_accepted(max: u32, fits: impl Fn(u32) -> bool) -> u32 {
    let (mut low, mut high) = (1u32, max);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if fits(middle) {
            low = middle
        } else {
            high = middle - 1
        }
    }
    low
}

/// The largest kernels `create_job` accepts, by the program's own check (`leaf_fits_budget`).
pub fn largest_kernels() -> [Kernel; 3] {
    let gemm = |k| Kernel::GemmI8 { m: 8, n: 8, k };
    let chain = |leaf_every| Kernel::Sha256Chain {
        steps: 2 * leaf_every,
        leaf_every,
    };
    let monte_carlo = |samples_per_block| Kernel::MonteCarlo {
        blocks: 1,
        samples_per_block,
    };
    [
        gemm(largest_accepted(
            gpushare_core::kernels::MAX_GEMM_DIM,
            |k| leaf_fits_budget(&gemm(k)),
        )),
        chain(largest_accepted(u32::MAX / 2, |e| {
            leaf_fits_budget(&chain(e))
        })),
        monte_carlo(largest_accepted(u32::MAX, |s| {
            leaf_fits_budget(&monte_carlo(s))
        })),
    ]
}

/// Depth of the deepest Merkle tree a shard can have: the most leaves, at the smallest leaf (4 bytes).
pub fn deepest_tree() -> u32 {
    let smallest_leaf = Kernel::MonteCarlo {
        blocks: 1,
        samples_per_block: 1,
    }
    .leaf_bytes() as u64;
    (MAX_SHARD_OUTPUT_BYTES / smallest_leaf)
        .next_power_of_two()
        .ilog2()
}

/// The leaf case that measures `kernel`: the second leaf (a sha256_chain leaf after the first
/// starts from the previous state, as most proofs do).
pub fn leaf_case(kernel: Kernel) -> Result<Case, MeterError> {
    let previous = match kernel {
        Kernel::Sha256Chain { .. } => {
            let first = seeded_leaf(kernel, &SEED, 1, 0, 0, None)
                .map_err(|e| MeterError::Case(e.to_string()))?;
            Some(
                first
                    .try_into()
                    .map_err(|_| MeterError::Case("a 32-byte chain state".into()))?,
            )
        }
        _ => None,
    };
    Ok(Case::Leaf {
        kernel,
        seed: SEED,
        shards: 1,
        shard: 0,
        leaf: u64::from(previous.is_some()),
        previous,
    })
}

/// The first leaf of a sha256_chain shard, which also derives the start state from the seed.
pub fn first_leaf_case(kernel: Kernel) -> Case {
    Case::Leaf {
        kernel,
        seed: SEED,
        shards: 1,
        shard: 0,
        leaf: 0,
        previous: None,
    }
}

/// An inclusion check of leaf 0 of a tree of 2^`depth` leaves (every level a hash; the root folded
/// from the path, so the check passes).
pub fn inclusion_case(depth: u32) -> Case {
    let leaf_hash: Hash = [1; 32];
    let path: Vec<Hash> = (0..depth).map(|level| [level as u8 + 2; 32]).collect();
    let root = path
        .iter()
        .fold(leaf_hash, |hash, sibling| node_hash(&hash, sibling));
    Case::Inclusion {
        index: 0,
        size: 1 << depth,
        leaf_hash,
        path,
        root,
    }
}

/// Sizes measured below the largest: the smallest (where a leaf's fixed cost weighs most) and 64.
const SMALL_SIZES: [u32; 2] = [1, 64];

/// Every measurement docs/verification.md reports: each kernel's leaf at sizes 1 and 64 and at the
/// largest `create_job` accepts (for sha256_chain also its first leaf), and the inclusion check at
/// depth 1 and at the deepest tree.
pub fn measure_all(work_dir: Option<&Path>) -> Result<Vec<Measurement>, MeterError> {
    let meter = Meter::build(work_dir, Probe::Paths)?;
    let mut all = Vec::new();
    let [gemm, chain, monte_carlo] = largest_kernels();
    let sized = |kernel: Kernel| match kernel {
        Kernel::GemmI8 { k, .. } => ("gemm_i8 leaf", "k", k),
        Kernel::Sha256Chain { leaf_every, .. } => ("sha256_chain leaf", "leaf_every", leaf_every),
        Kernel::MonteCarlo {
            samples_per_block, ..
        } => ("monte_carlo leaf", "samples_per_block", samples_per_block),
        // Not among `largest_kernels`: its check recomputes a layer's slice, not a leaf.
        Kernel::Embedding { sequences, .. } => ("embedding", "sequences", sequences),
    };
    for largest in [gemm, chain, monte_carlo] {
        let (path, name, max) = sized(largest);
        for size in SMALL_SIZES.into_iter().chain([max]) {
            let kernel = with_size(largest, size);
            let mut measured = meter.measure(
                path,
                format!("{name} = {size}"),
                size.into(),
                &leaf_case(kernel)?,
            )?;
            measured.largest = size == max;
            all.push(measured);
        }
    }
    // A sha256_chain shard's first leaf also derives its start state.
    let (_, _, max) = sized(chain);
    let mut first = meter.measure(
        "sha256_chain leaf",
        format!("leaf_every = {max}, first leaf"),
        max.into(),
        &first_leaf_case(chain),
    )?;
    first.largest = true;
    all.push(first);
    let deepest = deepest_tree();
    for depth in [1, deepest] {
        let mut measured = meter.measure(
            "inclusion check",
            format!("depth = {depth}"),
            depth.into(),
            &inclusion_case(depth),
        )?;
        measured.largest = depth == deepest;
        all.push(measured);
    }
    all.extend(embedding_checks(&Meter::build(
        work_dir,
        Probe::EmbeddingChecks,
    )?)?);
    Ok(all)
}

/// Sequence lengths the checks are measured at: an attention or pooling check reads every token's
/// piece, and [`MAX_CHECKED_TOKENS`] is the longest a spot-checked job may hold.
const CHECKED_TOKENS: [u32; 3] = [16, 32, MAX_CHECKED_TOKENS];

/// The job address every measured embedding check is bound to (any address costs the same).
const EMBEDDING_JOB: [u8; 32] = [0x6a; 32];

/// A shard of three sequences ([`CHECKED_TOKENS`] long) through a seeded model of
/// all-MiniLM-L6-v2's shape, as its provider keeps it to prove samples.
struct MeteredShard {
    model: Model,
    batch: TokenBatch,
    traces: Vec<SequenceTrace>,
    output: Vec<u8>,
}

impl MeteredShard {
    fn new() -> Result<Self, MeterError> {
        let model = seeded_model(Shape::MINILM_L6, 0xe6b);
        let mut draw = SplitMix64::new(0xe6b);
        let sequences: Vec<Vec<u32>> = CHECKED_TOKENS
            .iter()
            .map(|tokens| {
                (0..*tokens)
                    .map(|_| (draw.next_u64() % u64::from(model.shape.vocab)) as u32)
                    .collect()
            })
            .collect();
        let batch = TokenBatch::new(&sequences);
        let all = 0..batch.len() as u32;
        let (output, traces) = shard_output(&model, &batch, all, &EMBEDDING_JOB, |ids| {
            run_sequence(&model, ids)
        })
        .map_err(|e| MeterError::Case(e.to_string()))?;
        Ok(Self {
            model,
            batch,
            traces,
            output,
        })
    }

    /// The case of the first challenge (of a fixed sequence of them) whose sample 0 `wanted`
    /// accepts.
    fn case(&self, wanted: impl Fn(&Sample) -> bool) -> Result<EmbeddingCase<'static>, MeterError> {
        let prover = Prover::new(&self.model, &self.batch, &self.output);
        let [model, batch, root] = prover.roots();
        let (sequences, tokens) = (self.batch.len() as u32, self.batch.tokens() as u32);
        for attempt in 0u32..100_000 {
            let challenge = gpushare_core::sha256(&[b"cu-meter", &attempt.to_le_bytes()]);
            let context = CheckContext {
                job: &EMBEDDING_JOB,
                model: &model,
                batch: &batch,
                batch_sequences: sequences,
                batch_tokens: tokens,
                dims: self.model.shape.hidden,
                shard_sequences: 0..sequences,
                shard_root: &root,
                challenge: &challenge,
            };
            let drawn = prover.sample(&context, 0);
            if !wanted(&drawn) {
                continue;
            }
            let witness = prover
                .witness(&context, 0, &self.traces[drawn.sequence as usize])
                .map_err(|e| MeterError::Case(format!("{e:?}")))?;
            return Ok(EmbeddingCase {
                job: EMBEDDING_JOB,
                model,
                batch,
                batch_sequences: sequences,
                batch_tokens: tokens,
                dims: self.model.shape.hidden,
                first_sequence: 0,
                end_sequence: sequences,
                shard_root: root,
                challenge,
                sample: 0,
                witness: witness.into(),
            });
        }
        Err(MeterError::Case(
            "no challenge draws the wanted cell".into(),
        ))
    }
}

/// Issue 28's sampled embedding checks, whole, as `prove_embedding` runs them at all-MiniLM-L6-v2's
/// shape (a seeded model): every opening hashed and verified, the cell recomputed. Attention and
/// pooling at each of [`CHECKED_TOKENS`]; every other cell at the longest (its trace's tree is the
/// deepest).
pub fn embedding_checks(meter: &Meter) -> Result<Vec<Measurement>, MeterError> {
    let shard = MeteredShard::new()?;
    let layers = shard.model.shape.layers;
    let mut all = Vec::new();
    let mut measure = |name: String, tokens: u32, wanted: &dyn Fn(&Sample) -> bool| {
        let case = shard
            .case(|drawn| CHECKED_TOKENS[drawn.sequence as usize] == tokens && wanted(drawn))?;
        let mut measured = meter.measure_embedding(
            "embedding check",
            format!("{name}, tokens = {tokens}"),
            tokens.into(),
            &case,
        )?;
        measured.largest = tokens == MAX_CHECKED_TOKENS;
        all.push(measured);
        Ok::<(), MeterError>(())
    };
    for tokens in CHECKED_TOKENS {
        measure("attention".into(), tokens, &|d| {
            d.operation == Operation::Attention && d.layer > 0
        })?;
        measure("pooling".into(), tokens, &|d| {
            d.operation == Operation::Pool
        })?;
    }
    let longest = MAX_CHECKED_TOKENS;
    // Layer 0's favourite key re-derives its row from the token's word and position rows.
    measure("attention at layer 0".into(), longest, &|d| {
        d.operation == Operation::Attention && d.layer == 0
    })?;
    for kind in LinearKind::ALL {
        let name = format!("{kind:?} output").to_lowercase();
        measure(name, longest, &|d| d.operation == Operation::Linear(kind))?;
    }
    measure("token embedding".into(), longest, &|d| {
        d.operation == Operation::Embed
    })?;
    measure("attention LayerNorm".into(), longest, &|d| {
        d.operation == Operation::AttentionNorm
    })?;
    measure("output LayerNorm".into(), longest, &|d| {
        d.operation == Operation::OutputNorm && d.layer + 1 < layers
    })?;
    measure("last output LayerNorm".into(), longest, &|d| {
        d.operation == Operation::OutputNorm && d.layer + 1 == layers
    })?;
    Ok(all)
}

/// `kernel` with its measured size (k, leaf_every or samples per block) set to `size`.
fn with_size(kernel: Kernel, size: u32) -> Kernel {
    match kernel {
        Kernel::GemmI8 { m, n, .. } => Kernel::GemmI8 { m, n, k: size },
        Kernel::Sha256Chain { .. } => Kernel::Sha256Chain {
            steps: 2 * size,
            leaf_every: size,
        },
        Kernel::MonteCarlo { blocks, .. } => Kernel::MonteCarlo {
            blocks,
            samples_per_block: size,
        },
        Kernel::Embedding { .. } => kernel,
    }
}
