//! ecs-gitops: a declarative GitOps reconciler for AWS ECS.
//!
//! ```text
//!  Source ──Revision──► api (parse, validate) ──► diff ──► plan ──► reconcile ──► ECS API
//! ```
pub mod api;
pub mod cli;
pub mod commands;
pub mod controller;
pub mod diff;
pub mod ecs;
pub mod operator;
pub mod reconcile;
pub mod serve;
pub mod sim;
pub mod source;
pub mod web;
