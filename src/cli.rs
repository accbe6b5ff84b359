//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "ecs-gitops",
    version,
    about = "A GitOps controller for AWS ECS: manifests in Git, ECS kept in sync"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr (the level comes from RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check manifests: every problem with its file, line and field. Exit 0 valid, 1 invalid.
    Validate {
        /// Files or directories (read recursively: .yaml, .yml, .json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Print the CustomResourceDefinitions as YAML, for `kubectl apply -f -`.
    Crds,
    /// Run the ECS simulator: a local ECS control plane for the AWS SDKs and CLI.
    Sim {
        #[arg(long, default_value = "127.0.0.1:4566")]
        listen: SocketAddr,
        /// How much faster than wall time deployments move (and throttling buckets refill).
        #[arg(long, default_value_t = 1.0, value_parser = positive)]
        speed: f64,
        /// Turn off ECS's request throttling.
        #[arg(long)]
        no_throttle: bool,
    },
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
