use std::io::IsTerminal;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use ecs_gitops::api::Accounts;
use ecs_gitops::api::crd::crd_files;
use ecs_gitops::cli::{Cli, Command, LogFormat, Output, RolloutCommand, SECRET_FLAGS, colour};
use ecs_gitops::reconcile::{Follow, Options};
use ecs_gitops::sim::{SimConfig, Simulator};
use ecs_gitops::source::files;
use ecs_gitops::web::ListenError;
use ecs_gitops::{commands, operator};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(error) => {
            // The error's own words, which carry their causes: no `Debug` text, no backtrace.
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    init_logging(cli.log_format);
    if let Some(run) = matches.subcommand_matches("run") {
        for (id, advice) in SECRET_FLAGS {
            if run.value_source(id) == Some(ValueSource::CommandLine) {
                tracing::warn!(
                    "a secret given as a flag is visible to every user of this machine (ps): {advice}"
                );
            }
        }
    }
    match cli.command {
        Command::Sim {
            listen,
            speed,
            no_throttle,
        } => {
            let config = SimConfig {
                listen,
                speed,
                throttle: !no_throttle,
            };
            let simulator = Simulator::start(config)
                .await
                .map_err(|source| ListenError {
                    addr: listen,
                    flag: "--listen",
                    source,
                })?;
            println!("ECS simulator at {}", simulator.endpoint());
            println!(
                "  aws ecs list-clusters --endpoint-url {}",
                simulator.endpoint()
            );
            tokio::select! {
                _ = simulator.wait() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate {
            paths,
            output,
            accounts,
        } => {
            let accounts = commands::read_accounts(accounts.as_deref())?;
            Ok(validate(&paths, output, &accounts, cli.max_file_size)?)
        }
        Command::Diff {
            paths,
            ecs,
            prune,
            output,
        } => Ok(commands::diff(&paths, &ecs, prune.mode(), output, cli.max_file_size).await?),
        Command::Apply {
            paths,
            ecs,
            timeout,
            no_wait,
            prune,
            concurrency,
            poll,
        } => {
            let options = Options {
                prune: prune.mode(),
                follow: if no_wait {
                    Follow::Not
                } else {
                    Follow::ToTheEnd
                },
                timeout,
                concurrency,
                poll,
                ..Options::default()
            };
            Ok(commands::apply(&paths, &ecs, options, cli.max_file_size).await?)
        }
        Command::Run(args) => {
            ecs_gitops::serve::serve(*args, cli.max_file_size).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Controller(args) => {
            ecs_gitops::controller::crd::serve(*args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rollout(RolloutCommand::Stop { object, paths, ecs }) => {
            match operator::rollout_stop(&object, &paths, &ecs, cli.max_file_size).await {
                Ok(done) => {
                    println!("{done}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Crds => {
            let documents: Vec<String> = crd_files().into_iter().map(|(_, yaml)| yaml).collect();
            print!("{}", documents.join("---\n"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where the AWS SDK writes credentials (the access key id in its endpoint and identity
/// debug lines, the signed request at trace, an assumed role's new access key id): held at
/// INFO whatever RUST_LOG asks.
const CREDENTIAL_LOGGERS: &[&str] = &[
    "aws_smithy_runtime::client::orchestrator=info",
    "aws_sigv4=info",
    "aws_config::sts=info",
];

fn init_logging(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,aws_config=error"));
    for directive in CREDENTIAL_LOGGERS {
        filter = filter.add_directive(directive.parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(std::io::stderr().is_terminal()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn validate(
    paths: &[std::path::PathBuf],
    output: Output,
    accounts: &Accounts,
    max_file_size: u64,
) -> anyhow::Result<ExitCode> {
    let mut parsed = files::load(paths, max_file_size);
    // The default region is the controller's: only regions objects name are checked here.
    parsed.check_accounts(accounts, None);
    let no_objects = parsed.manifests.is_empty() && parsed.errors() == 0;
    let valid = parsed.errors() == 0 && !no_objects;
    match output {
        Output::Json => {
            let objects: Vec<serde_json::Value> = parsed
                .manifests
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "kind": m.object.kind(),
                        "name": m.object.name(),
                        "file": m.file,
                        "line": m.pos.line,
                    })
                })
                .collect();
            let report = serde_json::json!({
                "valid": valid,
                "errors": parsed.errors(),
                "warnings": parsed.warnings(),
                "objects": objects,
                "diagnostics": parsed.diagnostics,
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Output::Text => {
            for diagnostic in &parsed.diagnostics {
                println!("{diagnostic}");
            }
            let warnings = count(parsed.warnings(), "warning");
            if no_objects {
                println!("error: no ecs-gitops.dev objects found");
            } else if valid {
                let objects = count(parsed.manifests.len(), "object");
                println!("valid: {objects}, {warnings}");
            } else {
                println!("invalid: {}, {warnings}", count(parsed.errors(), "error"));
            }
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}
