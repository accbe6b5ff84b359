//! The ECS simulator: a local ECS control plane that serves the real wire protocol
//! (`awsJson1_1`, `X-Amz-Target: AmazonEC2ContainerServiceV20141113.*`), so the stock
//! `aws-sdk-ecs` client and boto3 talk to it through an endpoint URL.
//!
//! It is an independent model of ECS: it shares no code with `diff`, `reconcile` or
//! `controller`, so the controller's view of ECS is checked against it, not against itself.
//!
//! ```text
//! HTTP ─► server (faults, throttling, stats) ─► ops::call ─► state::World ◄─ rollout::tick (time)
//! ```

mod clock;
mod control;
mod error;
mod ops;
mod rollout;
mod server;
mod shift;
mod state;
mod sts;
mod throttle;

pub use control::Fault;
pub use server::{SimConfig, Simulator};

#[cfg(test)]
mod tests;
