//! Compute units: what each gpushare instruction consumes at its worst case, measured on the SBPF build
//! by the program tests (docs/compute-units.md), the limit a transaction requests from those figures
//! and the compute budget instructions that carry it, and reading the runtime's `consumed N of M`
//! log lines back into per-instruction figures.
use anchor_lang::Discriminator;
use anchor_lang::solana_program::instruction::Instruction;
use gpushare_core::spot_check::LEAF_BUDGET_UNITS;
use solana_compute_budget_interface::ComputeBudgetInstruction;

/// The most compute units one transaction may request.
pub const MAX_TRANSACTION_UNITS: u32 = 1_400_000;

/// Headroom requested above an instruction's measured worst case, in percent: the measurements come
/// from the test worlds, and a runtime upgrade may reprice syscalls.
pub const MARGIN_PERCENT: u32 = 20;

/// Units allowed for an instruction of another program (token transfers, account creation).
pub const OTHER_PROGRAM_UNITS: u32 = 30_000;

/// The worst case of a proof (`prove`, `prove_benchmark`): the leaves it recomputes are charged at
/// most [`LEAF_BUDGET_UNITS`] (the worker's batches, and `create_job`'s bound on one leaf), each
/// charge at least the runtime's real cost (the program's compute-unit tests), plus 100 k for the
/// audit paths and Anchor's account handling (48 k measured at the deepest path a proof may carry).
pub const PROOF_UNITS: u32 = LEAF_BUDGET_UNITS as u32 + 100_000;

/// The worst case of `prove_embedding`: the heaviest cell (one head's attention over 64 tokens, the
/// longest sequence a spot-checked job may hold, with the key piece its query favours recomputed
/// and that token's input row re-derived; the last output LayerNorm comes next) at
/// all-MiniLM-L6-v2's shape, the draw's weights computed and every opening hashed and verified:
/// 1,083,270 measured on the SBPF build, plus 15 % and 15,000 (docs/compute-units.md). A
/// transaction asks for the 1,400,000 it may, less than the figure and its 20 % margin.
pub const EMBEDDING_PROOF_UNITS: u32 = 1_261_000;

/// One gpushare instruction's measured worst case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstructionUnits {
    /// The instruction's name as the program logs it (`Instruction: Prove`).
    pub name: &'static str,
    /// Anchor's discriminator, the first bytes of the instruction data.
    pub discriminator: &'static [u8],
    /// The compute units it may consume: the most the program tests measured on the SBPF build, plus
    /// 15 %, plus 15,000 for ten more bump attempts (1,500 units each) than any run needed to find an
    /// address, rounded up to a thousand (proofs: [`PROOF_UNITS`]).
    pub units: u32,
}

macro_rules! worst_cases {
    ($($name:ident => $units:expr,)*) => {
        /// Every gpushare instruction's worst case (docs/compute-units.md says how each was driven there).
        pub const WORST_CASES: &[InstructionUnits] = &[$(InstructionUnits {
            name: stringify!($name),
            discriminator: <gpushare::instruction::$name as Discriminator>::DISCRIMINATOR,
            units: $units,
        },)*];
    };
}

worst_cases! {
    InitializeNetwork => 67_000,
    UpdateNetwork => 32_000,
    ApplyNetworkUpdate => 29_000,
    SetTreasury => 27_000,
    CollectFees => 34_000,
    RegisterProvider => 99_000,
    AddStake => 46_000,
    RequestUnstake => 39_000,
    WithdrawStake => 45_000,
    Delegate => 75_000,
    ActivateStake => 35_000,
    Undelegate => 42_000,
    WithdrawDelegation => 56_000,
    ClaimRewards => 45_000,
    ClaimProviderRewards => 46_000,
    SetCommission => 36_000,
    UpdateHardware => 31_000,
    SetEndpoint => 32_000,
    CloseProvider => 62_000,
    CreateJob => 109_000,
    CancelJob => 44_000,
    Claim => 109_000,
    GiveBackClaim => 88_000,
    PublishClaimKey => 31_000,
    DeliverKey => 32_000,
    FixChallenge => 45_000,
    Commit => 53_000,
    Reveal => 49_000,
    Prove => PROOF_UNITS,
    SettleShard => 43_000,
    SettleAssignment => 97_000,
    RequestBenchmark => 65_000,
    DrawBenchmark => 34_000,
    CommitBenchmark => 38_000,
    ProveBenchmark => PROOF_UNITS,
    OpenProofBuffer => 41_000,
    WriteProofBuffer => 27_000,
    CloseProofBuffer => 23_000,
    ProveEmbedding => EMBEDDING_PROOF_UNITS,
    SettleBenchmark => 57_000,
    ExpireClaim => 90_000,
    CloseShard => 41_000,
    CloseJob => 56_000,
}

/// The table as JSON, for clients in other languages (`idl/compute-units.json`, which the TypeScript
/// side reads; a test keeps the committed file equal to this): the margin, the caps, and each
/// instruction's discriminator and units under its IDL name.
pub fn table_json() -> serde_json::Value {
    let instructions: serde_json::Map<String, serde_json::Value> = WORST_CASES
        .iter()
        .map(|entry| {
            (
                idl_name(entry.name),
                serde_json::json!({ "discriminator": entry.discriminator, "units": entry.units }),
            )
        })
        .collect();
    serde_json::json!({
        "marginPercent": MARGIN_PERCENT,
        "maxTransactionUnits": MAX_TRANSACTION_UNITS,
        "otherProgramUnits": OTHER_PROGRAM_UNITS,
        "instructions": instructions,
    })
}

/// `ProveBenchmark` as the IDL names it: `prove_benchmark`.
fn idl_name(logged: &str) -> String {
    let mut name = String::new();
    for (i, c) in logged.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// The worst case of the gpushare instruction `name` (as logged), if there is one.
pub fn worst_case(name: &str) -> Option<&'static InstructionUnits> {
    WORST_CASES.iter().find(|entry| entry.name == name)
}

/// The units one instruction of a transaction is budgeted: its worst case for a gpushare
/// instruction (all of [`MAX_TRANSACTION_UNITS`] for unknown data), [`OTHER_PROGRAM_UNITS`] otherwise.
fn instruction_units(instruction: &Instruction) -> u32 {
    if instruction.program_id != gpushare::ID {
        return OTHER_PROGRAM_UNITS;
    }
    WORST_CASES
        .iter()
        .find(|entry| instruction.data.starts_with(entry.discriminator))
        .map_or(MAX_TRANSACTION_UNITS, |entry| entry.units)
}

/// The compute-unit limit a transaction carrying `instructions` requests: the sum of their worst
/// cases plus [`MARGIN_PERCENT`], at most [`MAX_TRANSACTION_UNITS`].
pub fn transaction_limit(instructions: &[Instruction]) -> u32 {
    let worst: u64 = instructions
        .iter()
        .map(|i| u64::from(instruction_units(i)))
        .sum();
    let with_margin = worst * u64::from(100 + MARGIN_PERCENT) / 100;
    u32::try_from(with_margin).map_or(MAX_TRANSACTION_UNITS, |units| {
        units.min(MAX_TRANSACTION_UNITS)
    })
}

/// `instructions` after the compute budget instructions a transaction carries first: the unit limit
/// `limit`, and the unit price `price` (micro-lamports per unit) when it is not 0.
pub fn with_budget(instructions: &[Instruction], limit: u32, price: u64) -> Vec<Instruction> {
    let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(limit)];
    if price > 0 {
        all.push(ComputeBudgetInstruction::set_compute_unit_price(price));
    }
    all.extend_from_slice(instructions);
    all
}

/// `instructions` requesting their [`transaction_limit`], without a price: for setup transactions
/// and test worlds, which send as the client does.
pub fn with_limit(instructions: &[Instruction]) -> Vec<Instruction> {
    with_budget(instructions, transaction_limit(instructions), 0)
}

/// A top-level gpushare instruction of an executed transaction and the units the runtime says it
/// consumed (its CPIs included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumed {
    pub name: String,
    pub units: u64,
}

/// The gpushare instructions a transaction's log shows at the top level, with the units each
/// consumed, read from the runtime's `Program <id> invoke [1]` … `Program <id> consumed N of M
/// compute units` lines and the program's `Program log: Instruction: <name>`.
pub fn consumed(logs: &[String]) -> Vec<Consumed> {
    let program = gpushare::ID.to_string();
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut name: Option<String> = None;
    for line in logs {
        if let Some(rest) = line.strip_prefix("Program ") {
            if let Some((_, invoked)) = rest.split_once(" invoke [") {
                depth = invoked.trim_end_matches(']').parse().unwrap_or(depth + 1);
                if depth == 1 {
                    name = None;
                }
                continue;
            }
            if depth == 1
                && let Some(instruction) = rest.strip_prefix("log: Instruction: ")
                && name.is_none()
            {
                name = Some(instruction.to_owned());
                continue;
            }
            if let Some(after) = rest.strip_prefix(program.as_str())
                && let Some(units) = after.strip_prefix(" consumed ")
                && depth == 1
            {
                let units = units.split_whitespace().next().and_then(|n| n.parse().ok());
                if let (Some(name), Some(units)) = (name.take(), units) {
                    found.push(Consumed { name, units });
                }
                continue;
            }
            if rest.ends_with(" success") || rest.contains(" failed: ") {
                depth = depth.saturating_sub(1);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::solana_program::pubkey::Pubkey;

    #[test]
    fn every_instruction_of_the_idl_has_a_figure() {
        let idl: serde_json::Value =
            serde_json::from_str(include_str!("../../idl/gpushare.json")).expect("the IDL");
        let mut named: Vec<&str> = idl["instructions"]
            .as_array()
            .expect("instructions")
            .iter()
            .filter_map(|i| i["name"].as_str())
            .collect();
        let table = table_json();
        let mut figured: Vec<&str> = table["instructions"]
            .as_object()
            .expect("instructions")
            .keys()
            .map(String::as_str)
            .collect();
        named.sort_unstable();
        figured.sort_unstable();
        assert_eq!(named, figured);
    }

    /// `GPUSHARE_WRITE_TABLES=1 cargo test -p gpushare-client` rewrites the committed table.
    #[test]
    fn the_committed_table_for_other_languages_is_this_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../idl/compute-units.json");
        let expected = format!("{:#}\n", table_json());
        if std::env::var_os("GPUSHARE_WRITE_TABLES").is_some() {
            std::fs::write(path, &expected).expect("write idl/compute-units.json");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == expected,
            "idl/compute-units.json differs from gpushare_client::compute_budget: run \
             GPUSHARE_WRITE_TABLES=1 cargo test -p gpushare-client compute_budget"
        );
    }

    #[test]
    fn a_transaction_requests_its_worst_cases_with_the_margin_and_at_most_the_cap() {
        let prove = worst_case("Prove").expect("Prove");
        let claim = worst_case("Claim").expect("Claim");
        let of = |entry: &InstructionUnits| {
            Instruction::new_with_bytes(gpushare::ID, entry.discriminator, Vec::new())
        };
        let transfer = Instruction::new_with_bytes(Pubkey::new_unique(), &[3], Vec::new());
        assert_eq!(
            transaction_limit(&[of(claim), transfer]),
            (claim.units + OTHER_PROGRAM_UNITS) * (100 + MARGIN_PERCENT) / 100
        );
        assert_eq!(
            transaction_limit(&[of(prove), of(prove)]),
            MAX_TRANSACTION_UNITS
        );
        let unknown = Instruction::new_with_bytes(gpushare::ID, &[0; 8], Vec::new());
        assert_eq!(transaction_limit(&[unknown]), MAX_TRANSACTION_UNITS);
    }

    #[test]
    fn the_units_of_each_top_level_instruction_are_read_from_the_log_without_its_cpis() {
        let id = gpushare::ID;
        let token = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
        let logs: Vec<String> = [
            "Program ComputeBudget111111111111111111111111111111 invoke [1]".to_owned(),
            "Program ComputeBudget111111111111111111111111111111 success".to_owned(),
            format!("Program {id} invoke [1]"),
            "Program log: Instruction: Claim".to_owned(),
            format!("Program {token} invoke [2]"),
            "Program log: Instruction: Transfer".to_owned(),
            format!("Program {token} consumed 4645 of 1380000 compute units"),
            format!("Program {token} success"),
            format!("Program {id} consumed 50729 of 1400000 compute units"),
            format!("Program {id} success"),
            format!("Program {token} invoke [1]"),
            "Program log: Instruction: Transfer".to_owned(),
            format!("Program {token} consumed 4645 of 1349271 compute units"),
            format!("Program {token} success"),
            format!("Program {id} invoke [1]"),
            "Program log: Instruction: SettleShard".to_owned(),
            format!("Program {id} consumed 10031 of 1344626 compute units"),
            format!("Program {id} success"),
        ]
        .into();
        assert_eq!(
            consumed(&logs),
            vec![
                Consumed {
                    name: "Claim".into(),
                    units: 50_729
                },
                Consumed {
                    name: "SettleShard".into(),
                    units: 10_031
                },
            ]
        );
    }
}
