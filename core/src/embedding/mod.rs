//! Sentence embeddings from an integer-only BERT encoder (all-MiniLM-L6-v2 first): the model's
//! weights file and identity ([`model`]), its integer arithmetic with every rounding defined
//! ([`fixed`]), the forward pass that defines each output bit ([`forward`]), and how a job's tokens,
//! shards, outputs and traces are laid out ([`layout`]). No floating point:
//! the same bits on every CPU, GPU and the on-chain program. docs/verification.md specifies it.
pub mod fixed;
pub mod forward;
pub mod layout;
pub mod model;
#[cfg(test)]
mod tests;
