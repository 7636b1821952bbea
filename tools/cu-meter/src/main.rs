//! `gpushare-cu-meter`: the compute units of the program's verification paths, measured by running
//! them as eBPF in solana-sbpf (see docs/verification.md). Prints a table, or JSON with `--json`.
use std::path::PathBuf;

use clap::Parser;

use gpushare_cu_meter::{Measurement, measure_all};

/// Command-line options.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Options {
    /// Print the measurements as JSON.
    #[arg(long)]
    json: bool,
    /// Where to build the probe and keep the intermediate IR and object [default: $CARGO_TARGET_DIR/cu-meter].
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn main() {
    let options = Options::parse();
    match measure_all(options.work_dir.as_deref()) {
        Ok(measurements) if options.json => println!("{}", Measurement::json(&measurements)),
        Ok(measurements) => print!("{}", Measurement::table(&measurements)),
        Err(error) => {
            eprintln!("gpushare-cu-meter: {error}");
            std::process::exit(1);
        }
    }
}
