//! The `gpushare-worker` binary: parses the command line, runs the command, reports errors once.
use clap::Parser;
use gpushare_worker::cli::LogFormat;

fn main() {
    let cli = gpushare_worker::cli::Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    if let Err(error) = gpushare_worker::cli::run(cli) {
        tracing::error!("{error}");
        eprintln!("gpushare-worker: {error}");
        std::process::exit(1);
    }
}
