use clap::Parser;
use ecs_operator::cli::{Cli, Command};
use std::io::Write;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => match ecs_operator::crd::to_yaml(&ecs_operator::crd::all()) {
            Ok(yaml) => {
                let mut out = std::io::stdout().lock();
                if out.write_all(yaml.as_bytes()).is_err() {
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render CRDs: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            ecs_operator::run::init_logging(args.log_format);
            match ecs_operator::run::run(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "ecs-operator stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
