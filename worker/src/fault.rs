//! Fault injection for demonstrations and tests: a worker built with the `fault-injection` feature and
//! started with `--inject-fault wrong-output` commits to a corrupted output, or with `skip-layer`
//! runs embedding jobs without the model's last layer (the cheap shortcut a dishonest provider
//! would take), so that the network's verification catches and slashes it. Without the feature the
//! worker cannot be told to cheat.
use gpushare_core::kernels::Kernel;

#[cfg(feature = "fault-injection")]
use gpushare_core::embedding::model::Model;
use gpushare_engine::shard::{Input, ShardOutput};

/// Which fault to inject, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Honest: the computed output as it is.
    #[default]
    None,
    /// Flip a bit in every leaf after the self-check, and commit to that.
    #[cfg(feature = "fault-injection")]
    WrongOutput,
    /// Compute embedding jobs with the model's last layer left out.
    #[cfg(feature = "fault-injection")]
    SkipLayer,
}

impl Fault {
    /// The input the worker computes on: the job's own, or for [`Fault::SkipLayer`] an embedding
    /// job's with a model one layer short.
    pub fn prepare(self, input: Input) -> Input {
        match (self, input) {
            #[cfg(feature = "fault-injection")]
            (Fault::SkipLayer, Input::Embedding { data, model, job }) => {
                let mut shortened = Model::clone(&model);
                shortened.layers.pop();
                shortened.shape.layers = shortened.layers.len() as u32;
                Input::Embedding {
                    data,
                    model: std::sync::Arc::new(shortened),
                    job,
                }
            }
            (_, input) => input,
        }
    }

    /// Applies the fault to a computed output (nothing for [`Fault::None`]).
    #[cfg_attr(not(feature = "fault-injection"), expect(unused_variables))]
    pub fn apply(self, kernel: &Kernel, output: &mut ShardOutput) {
        match self {
            Fault::None => {}
            #[cfg(feature = "fault-injection")]
            Fault::SkipLayer => {}
            #[cfg(feature = "fault-injection")]
            Fault::WrongOutput => {
                let leaf = kernel.leaf_bytes();
                for start in (0..output.bytes.len()).step_by(leaf.max(1)) {
                    output.bytes[start] ^= 1;
                }
                *output = ShardOutput::hashed(kernel, std::mem::take(&mut output.bytes));
            }
        }
    }
}
