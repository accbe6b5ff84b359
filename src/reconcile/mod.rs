//! Executes plans against ECS through the `Ecs` trait and follows rollouts to their end.
//! Keeps what never changes (revisions by ARN) so that a steady state costs one
//! DescribeServices per ten services, one DescribeClusters per hundred clusters and one
//! DescribeTaskDefinition per standalone family.
//!
//! ```text
//! observe (DescribeServices ×⌈n/10⌉, cached revisions) ─► diff::plan ─► execute ─► track rollouts
//! ```

mod batch;
mod execute;
mod observe;
mod pre_deploy;
mod rollout;
pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use batch::Batcher;
pub use execute::{Outcome, Report};

use crate::api::{AccountRegion, ObjectKey};
use crate::diff::plan::{Desired, Observed, Plan, Prune};
use crate::ecs::{Ecs, EcsError, ObservedTaskDefinition};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("observing {what}: {source}")]
    Observe {
        what: String,
        #[source]
        source: EcsError,
    },
}

/// How far `execute` follows the rollouts it starts or finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// To COMPLETED, FAILED or the timeout (`apply`, `run`).
    ToTheEnd,
    /// One look: finished ones are judged, running ones reported as progressing (CRD mode,
    /// which requeues instead of waiting).
    Once,
    /// Not at all (`apply --no-wait`).
    Not,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Delete owned services that left the source.
    pub prune: Prune,
    /// How far rollouts are followed.
    pub follow: Follow,
    /// How long a rollout may take when its object sets no `rollout.timeout`.
    pub timeout: Duration,
    /// Services changed at once.
    pub concurrency: usize,
    /// How often rollouts are polled.
    pub poll: Duration,
    /// The source revision, written as a tag on what is changed.
    pub source_revision: String,
    /// Stop following rollouts when this turns true (shutdown); ECS carries them on.
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            prune: Prune::Off,
            follow: Follow::ToTheEnd,
            timeout: Duration::from_secs(600),
            concurrency: 8,
            poll: Duration::from_secs(2),
            source_revision: "unknown".into(),
            cancel: None,
        }
    }
}

/// One line of progress about an object, for people (the CLI prints them, the controller
/// logs them).
pub type Progress<'a> = &'a (dyn Fn(&ObjectKey, Step<'_>) + Sync);

/// A progress line: a step on the way, or the object's last line of this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    On(&'a str),
    End(&'a str),
}

impl<'a> Step<'a> {
    pub fn line(self) -> &'a str {
        match self {
            Step::On(line) | Step::End(line) => line,
        }
    }

    pub fn ended(self) -> bool {
        matches!(self, Step::End(_))
    }
}

/// Observes and changes ECS for desired states; shared by concurrent reconciles (`&self`).
pub struct Reconciler<E: Ecs> {
    pub ecs: Arc<E>,
    /// Revisions by ARN: immutable, described once.
    task_definitions: Mutex<HashMap<String, ObservedTaskDefinition>>,
    /// Coalesces DescribeServices across concurrent reconciles (CRD mode).
    batcher: Option<Batcher>,
}

impl<E: Ecs + 'static> Reconciler<E> {
    pub fn new(ecs: E) -> Self {
        Reconciler {
            ecs: Arc::new(ecs),
            task_definitions: Mutex::new(HashMap::new()),
            batcher: None,
        }
    }

    /// A reconciler for many small concurrent reconciles: the DescribeServices calls that
    /// arrive within `window` of each other for one cluster are made as one.
    pub fn batching(ecs: E, window: Duration) -> Self {
        Reconciler {
            batcher: Some(Batcher::new(window)),
            ..Reconciler::new(ecs)
        }
    }

    /// Observes what `desired` needs and plans: the one pipeline of `diff`, `apply`, `run`
    /// and the CRD controller.
    pub async fn plan(
        &self,
        desired: &Desired,
        prune: Prune,
    ) -> Result<(Observed, Plan), ReconcileError> {
        let observed = self.observe(desired, prune != Prune::Off).await?;
        let plan = crate::diff::plan::plan(desired, &observed, prune);
        Ok((observed, plan))
    }

    /// Up to ten services of a cluster, batched with other reconciles' when batching.
    async fn describe_services(
        &self,
        region: &AccountRegion,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<crate::ecs::ObservedService>, EcsError> {
        match &self.batcher {
            Some(batcher) => batcher.describe(&self.ecs, region, cluster, names).await,
            None => self.ecs.describe_services(region, cluster, names).await,
        }
    }
}
