//! Sentence embeddings from an integer-only BERT encoder (all-MiniLM-L6-v2 first): the model's
//! weights file and identity ([`model`]), its integer arithmetic with every rounding defined
//! ([`fixed`]), the forward pass that defines each output bit ([`forward`]), how a job's tokens,
//! shards and outputs are laid out ([`layout`]) and how a sequence's activations are committed
//! ([`trace`]), and how the program checks a sampled piece of it ([`check`]). No floating point:
//! the same bits on every CPU, GPU and the on-chain program. docs/verification.md specifies it.
pub mod check;
pub mod fixed;
pub mod forward;
pub mod layout;
pub mod model;
pub mod model_leaves;
#[cfg(test)]
mod tests;
pub mod trace;
