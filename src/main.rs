//! The `rxpool` binary: parse the command line, start tracing, run the chosen role.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = rxpool::cli::Cli::parse();
    rxpool::runtime::init_tracing();
    let config = cli.config.clone();
    match rxpool::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", rxpool::cli::error_line(&err, &config));
            std::process::ExitCode::FAILURE
        }
    }
}
