//! The budget rule played against the measurement: every spot-checked job `create_job` accepts has
//! leaves an honest provider can prove in one transaction. A charge below what the leaf costs as
//! eBPF (or within the margin of it) would let a client post a job whose honest providers can never
//! prove their work, and are slashed for it.
use gpushare_core::spot_check::CHARGE_MARGIN_PERCENT;
use gpushare_cu_meter::measure_all;

/// The most compute units a transaction may request.
const MAX_TRANSACTION_UNITS: u64 =
    solana_program_runtime::execution_budget::MAX_COMPUTE_UNIT_LIMIT as u64;
/// What the measurement leaves out of a proof transaction, stated, not measured: Anchor's account
/// handling and the settlement instructions the worker bundles with its last proof.
const UNMEASURED_ALLOWANCE: u64 = 300_000;

#[test]
fn every_leaf_create_job_accepts_fits_one_proof_transaction_by_measure() {
    let all = measure_all(None).unwrap_or_else(|error| panic!("{error}"));
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
