//! The budget rule played against the measurement: every spot-checked job `create_job` accepts has
//! leaves an honest provider can prove in one transaction. A charge below what the leaf costs as
//! eBPF (or within the margin of it) would let a client post a job whose honest providers can never
//! prove their work, and are slashed for it.
use gpushare_core::spot_check::CHARGE_MARGIN_PERCENT;
use gpushare_cu_meter::{Measurement, measure_all};

/// The most compute units a transaction may request.
const MAX_TRANSACTION_UNITS: u64 =
    solana_program_runtime::execution_budget::MAX_COMPUTE_UNIT_LIMIT as u64;
/// What the measurement leaves out of a proof transaction, stated, not measured: Anchor's account
/// handling and the settlement instructions the worker bundles with its last proof.
const UNMEASURED_ALLOWANCE: u64 = 300_000;

#[test]
fn every_leaf_and_embedding_check_create_job_accepts_fits_one_proof_transaction_by_measure() {
    let all = measure_all(None).unwrap_or_else(|error| panic!("{error}"));
    embedding_checks_fit(&all);
    let deepest = all
        .iter()
        .find(|m| m.path == "inclusion check" && m.largest)
        .expect("the deepest inclusion check is measured");
    let leaves: Vec<_> = all.iter().filter(|m| m.charged.is_some()).collect();
    assert_eq!(
        leaves.iter().filter(|m| m.largest).count(),
        4,
        "one largest leaf per kernel, and sha256_chain's first"
    );
    for leaf in leaves {
        let charged = leaf.charged.unwrap_or_default();
        assert!(
            charged * 100 >= leaf.units * CHARGE_MARGIN_PERCENT,
            "{} ({}): charged {charged}, measured {} — less than the {CHARGE_MARGIN_PERCENT} % margin",
            leaf.path,
            leaf.parameter,
            leaf.units
        );
        if leaf.largest {
            assert!(
                leaf.units + deepest.units + UNMEASURED_ALLOWANCE <= MAX_TRANSACTION_UNITS,
                "{} ({}): {} units, with the deepest inclusion check ({}) and the allowance, exceed one transaction",
                leaf.path,
                leaf.parameter,
                leaf.units,
                deepest.units
            );
        }
    }
}

/// Heap the program's own account handling takes before a check runs, stated, not measured: Anchor
/// deserializes the job, the shard, the assignment and the buffer's header (under 2 KiB together).
const UNMEASURED_HEAP_ALLOWANCE: u64 = 4 * 1024;
/// The heap a program has unless its transaction asks for more (the runtime's `HEAP_LENGTH`).
const DEFAULT_HEAP_BYTES: u64 = 32 * 1024;

/// The margin on an embedding check's measure: no charge stands between it and the runtime (the
/// SBPF build's own runs set `prove_embedding`'s figure, docs/compute-units.md), and they measured
/// about 11 % above this meter, Anchor's handling included.
const EMBEDDING_MARGIN_PERCENT: u64 = 120;
/// What a proof transaction carries besides the check, stated: the settlement the worker bundles
/// with a shard's last proof (`settle_shard` and `settle_assignment`, 140,000 by their figures).
const EMBEDDING_ALLOWANCE: u64 = 150_000;

/// Every embedding check (`prove_embedding`'s computation, whole) fits one transaction with the
/// margin and the program's default heap.
fn embedding_checks_fit(all: &[Measurement]) {
    let checks: Vec<_> = all.iter().filter(|m| m.path == "embedding check").collect();
    assert!(
        checks.iter().any(|m| m.largest),
        "the longest sequence is measured"
    );
    for check in checks {
        assert!(
            check.units * EMBEDDING_MARGIN_PERCENT / 100 + EMBEDDING_ALLOWANCE
                <= MAX_TRANSACTION_UNITS,
            "{} ({}): {} units, with the {EMBEDDING_MARGIN_PERCENT} % margin and the allowance, exceed one transaction",
            check.path,
            check.parameter,
            check.units
        );
        assert!(
            check.heap_bytes + UNMEASURED_HEAP_ALLOWANCE <= DEFAULT_HEAP_BYTES,
            "{} ({}): {} heap bytes leave too little of the default heap",
            check.path,
            check.parameter,
            check.heap_bytes
        );
    }
}
