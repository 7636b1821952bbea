//! Fault injection for demonstrations and tests: a worker built with the `fault-injection` feature and
//! started with `--inject-fault wrong-output` commits to a corrupted output, so that the network's
//! verification catches and slashes it. Without the feature the worker cannot be told to cheat.
use gpushare_core::kernels::Kernel;

use gpushare_engine::shard::ShardOutput;

/// Which fault to inject, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Honest: the computed output as it is.
    #[default]
    None,
    /// Flip a bit in every leaf after the self-check, and commit to that.
    #[cfg(feature = "fault-injection")]
    WrongOutput,
}

impl Fault {
    /// Applies the fault to a computed output (nothing for [`Fault::None`]).
    #[cfg_attr(not(feature = "fault-injection"), expect(unused_variables))]
    pub fn apply(self, kernel: &Kernel, output: &mut ShardOutput) {
        match self {
            Fault::None => {}
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
