//! The program's error names by code, read from its published IDL, so refusals are reported by name.
use std::collections::HashMap;
use std::sync::OnceLock;

const IDL: &str = include_str!("../../idl/gpushare.json");

#[derive(serde::Deserialize)]
struct Idl {
    errors: Vec<IdlError>,
}

#[derive(serde::Deserialize)]
struct IdlError {
    code: u32,
    name: String,
}

fn names() -> &'static HashMap<u32, String> {
    static NAMES: OnceLock<HashMap<u32, String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        serde_json::from_str::<Idl>(IDL)
            .map(|idl| idl.errors.into_iter().map(|e| (e.code, e.name)).collect())
            .unwrap_or_default()
    })
}

/// The name of gpushare error `code` (e.g. `SlotTaken`), or `None` for codes it does not define.
pub fn name(code: u32) -> Option<&'static str> {
    names().get(&code).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use gpushare::errors::GpuShareError;

    #[test]
    fn every_program_error_has_its_name() {
        for error in [
            GpuShareError::SlotTaken,
            GpuShareError::AlreadyHoldsReplica,
            GpuShareError::InvalidMerkleProof,
        ] {
            assert_eq!(super::name(u32::from(error)), Some(error.name().as_str()));
        }
        assert_eq!(super::name(1), None);
    }
}
