//! Where each leaf of a weights file sits (the table in [`super::model`]), so that one weight row,
//! embedding row or LayerNorm can be proven against the model's identity by its index alone.
use super::model::{LinearKind, Shape};

/// The LayerNorms of a weights file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormLeaf {
    /// The LayerNorm over the token and position embeddings.
    Embedding,
    /// Layer `l`'s LayerNorm after the attention.
    Attention(u32),
    /// Layer `l`'s LayerNorm after the FFN.
    Output(u32),
}

impl Shape {
    /// Leaves of the weights file: the header, the word and position rows, the embedding
    /// LayerNorm, and each layer's rows and LayerNorms.
    pub fn model_leaves(&self) -> u64 {
        self.first_layer_leaf() + u64::from(self.layers) * self.layer_model_leaves()
    }

    /// Leaf of token id `id`'s word embedding row.
    pub fn word_leaf(&self, id: u32) -> u64 {
        1 + u64::from(id)
    }

    /// Leaf of position `t`'s embedding row.
    pub fn position_leaf(&self, t: u64) -> u64 {
        1 + u64::from(self.vocab) + t
    }

    /// Leaf of a LayerNorm's gains and biases.
    pub fn norm_leaf(&self, norm: NormLeaf) -> u64 {
        let (h, f) = (u64::from(self.hidden), u64::from(self.ffn));
        match norm {
            NormLeaf::Embedding => self.first_layer_leaf() - 1,
            NormLeaf::Attention(layer) => self.layer_base(layer) + 4 * h,
            NormLeaf::Output(layer) => self.layer_base(layer) + 4 * h + 1 + f + h,
        }
    }

    /// Leaf of row `j` (output `j`) of layer `layer`'s linear layer `kind`.
    pub fn linear_leaf(&self, layer: u32, kind: LinearKind, j: u64) -> u64 {
        let (h, f) = (u64::from(self.hidden), u64::from(self.ffn));
        let first = match kind {
            LinearKind::Query => 0,
            LinearKind::Key => h,
            LinearKind::Value => 2 * h,
            LinearKind::AttentionOutput => 3 * h,
            LinearKind::Intermediate => 4 * h + 1,
            LinearKind::Output => 4 * h + 1 + f,
        };
        self.layer_base(layer) + first + j
    }

    /// Inputs of one row of `kind`: the hidden width, or the FFN's for its second layer.
    pub fn linear_inputs(&self, kind: LinearKind) -> usize {
        match kind {
            LinearKind::Output => self.ffn as usize,
            _ => self.hidden as usize,
        }
    }

    /// Outputs of `kind`: the FFN's width for its first layer, else the hidden width.
    pub fn linear_outputs(&self, kind: LinearKind) -> usize {
        match kind {
            LinearKind::Intermediate => self.ffn as usize,
            _ => self.hidden as usize,
        }
    }

    fn first_layer_leaf(&self) -> u64 {
        2 + u64::from(self.vocab) + u64::from(self.max_tokens)
    }

    fn layer_model_leaves(&self) -> u64 {
        let (h, f) = (u64::from(self.hidden), u64::from(self.ffn));
        4 * h + 1 + f + h + 1
    }

    fn layer_base(&self, layer: u32) -> u64 {
        self.first_layer_leaf() + u64::from(layer) * self.layer_model_leaves()
    }
}
