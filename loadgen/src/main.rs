use std::process::ExitCode;

use clap::Parser as _;
use loadgen::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    Cli::parse().run().await
}
