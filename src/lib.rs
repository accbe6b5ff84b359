//! ecs-gitops: a declarative GitOps reconciler for AWS ECS.
//!
//! ```text
//!  Source ──Revision──► api (parse, validate) ──► diff ──► plan ──► reconcile ──► ECS API
//! ```
pub mod api;
pub mod ecs;
pub mod cli;
pub mod sim;
pub mod source;
