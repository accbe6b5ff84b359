//! What the controller knows and shows: per-object status (the Git-mode counterpart of a
//! custom resource's `.status`), the source's revisions, and the metrics.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::api::status::{KindStatus, RolloutStatus};
use crate::api::{Kind, ObjectKey};
use crate::diff::changes::Change;
use crate::ecs::Insight;
use crate::source::git::Commit;

/// One object's status in Git mode: the same status a custom resource of its kind carries
/// (conditions, revisions, what ECS runs), and what the controller is doing to it right now.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    pub kind: Kind,
    pub name: String,
    /// The plan's verdict: inSync, create, update, blocked, quarantined, failed.
    pub verdict: String,
    /// What the controller is doing to the object right now ("rollout IN_PROGRESS: 1/2 …").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// The fields that differ from ECS while it is not ready (secret-looking values masked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(flatten)]
    pub status: KindStatus,
}

impl ObjectStatus {
    /// An object seen for the first time, before any status.
    pub fn new(key: &ObjectKey) -> ObjectStatus {
        let status = KindStatus::empty(key.kind);
        ObjectStatus {
            kind: key.kind,
            name: key.name.clone(),
            verdict: String::new(),
            progress: None,
            changes: Vec::new(),
            status,
        }
    }

    pub fn rollout(&self) -> Option<&RolloutStatus> {
        match &self.status {
            KindStatus::Service(s) => s.rollout.as_ref(),
            _ => None,
        }
    }

    pub fn task_definition(&self) -> Option<&str> {
        match &self.status {
            KindStatus::Service(s) => s.task_definition.as_deref(),
            KindStatus::TaskDefinition(s) => s.task_definition.as_deref(),
            KindStatus::Cluster(_) | KindStatus::CapacityProvider(_) => None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The source, without credentials.
    pub source: String,
    /// Counts the valid revisions taken, as a custom resource's generation counts its specs:
    /// each object's `observedGeneration` says which one its status is about.
    pub observed_generation: i64,
    /// The owner identity on what it manages in ECS.
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// Why the last attempt did not apply (invalid manifests, an unreachable source, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The last rejected revision's problems, `file:line:col: …`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<String>,
    /// Unix time of the last sweep that finished without failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<f64>,
    /// The commit last fetched (Git sources), in force or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
    /// Unix time the last sweep finished (Git and directory sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sweep: Option<f64>,
    /// Unix time the next sweep is due at the latest (a webhook or a file change comes sooner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_sweep: Option<f64>,
    /// Objects changed in ECS behind the controller's back and put back, over the last day.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift_repaired: Vec<DriftRepair>,
    pub ready: bool,
    pub objects: BTreeMap<String, ObjectStatus>,
}

/// One object whose drift was repaired.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftRepair {
    pub object: String,
    /// Unix time.
    pub at: f64,
}

/// How long repaired drift is remembered.
const DRIFT_KEPT: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The account's name; empty for the controller's own credentials.
    pub account: String,
    pub operation: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabel {
    pub revision: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<ResultLabel, Counter>,
    pub reconcile_seconds: Histogram,
    pub ecs_calls: Family<CallLabels, Counter>,
    pub drift: Counter,
    pub rollouts: Family<ResultLabel, Counter>,
    pub source_revision: Family<RevisionLabel, Gauge>,
    pub last_success: Gauge<f64, AtomicU64>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ecs_gitops");
        let metrics = Metrics {
            reconciles: Family::default(),
            reconcile_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            ecs_calls: Family::default(),
            drift: Counter::default(),
            rollouts: Family::default(),
            source_revision: Family::default(),
            last_success: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "reconciles",
            "Sweeps, by result (ok, failed, invalid, error)",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of a sweep",
            metrics.reconcile_seconds.clone(),
        );
        registry.register(
            "ecs_calls",
            "ECS API calls by account, operation and outcome (ok or the error code; ThrottlingException is budget pressure)",
            metrics.ecs_calls.clone(),
        );
        registry.register(
            "drift_detected",
            "Objects found changed in ECS without a source change",
            metrics.drift.clone(),
        );
        registry.register(
            "rollouts",
            "Finished rollouts by result",
            metrics.rollouts.clone(),
        );
        registry.register(
            "source_revision_info",
            "The source revision in force",
            metrics.source_revision.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "Unix time of the last successful sweep",
            metrics.last_success.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("metrics encode");
        out
    }
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Shared between the loop and the web server.
pub struct State {
    pub status: RwLock<Status>,
    pub metrics: Metrics,
    /// When the loop last went round (or started), for `/healthz`.
    last_sweep: Mutex<Instant>,
    /// How long without a finished sweep means the loop is stuck.
    stale_after: Duration,
    /// What the ECS client spends and sees, for the status page.
    insight: Option<Insight>,
}

impl State {
    /// `stale_after`: how long the loop may go without finishing a sweep and still be
    /// healthy (three intervals and a call timeout).
    pub fn new(source: String, owner: String, stale_after: Duration) -> State {
        State {
            status: RwLock::new(Status {
                source,
                owner,
                ..Status::default()
            }),
            metrics: Metrics::new(),
            last_sweep: Mutex::new(Instant::now()),
            stale_after,
            insight: None,
        }
    }

    /// The state of a controller whose ECS client is `insight`'s.
    pub fn with_insight(self, insight: Insight) -> State {
        State {
            insight: Some(insight),
            ..self
        }
    }

    pub fn insight(&self) -> Option<&Insight> {
        self.insight.as_ref()
    }

    /// Notes drift put back on `objects` now, and forgets what is older than a day.
    pub fn drift_repaired(&self, objects: impl IntoIterator<Item = String>) {
        let now = unix_now();
        self.update(|s| {
            s.drift_repaired.extend(
                objects
                    .into_iter()
                    .map(|object| DriftRepair { object, at: now }),
            );
            s.drift_repaired
                .retain(|r| now - r.at <= DRIFT_KEPT.as_secs_f64());
        });
    }

    /// The loop finished a sweep (whatever it found).
    pub fn sweep_finished(&self) {
        *self.last_sweep.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// `Err(why)` when no sweep has finished for too long: the loop is stuck.
    pub fn liveness(&self) -> Result<(), String> {
        let since = self
            .last_sweep
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if since <= self.stale_after {
            return Ok(());
        }
        Err(format!(
            "no sweep has finished for {}s (more than {}s: three intervals and the call timeout); an ECS or Git call may be hanging: see the log",
            since.as_secs(),
            self.stale_after.as_secs()
        ))
    }

    pub fn read(&self) -> Status {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn update(&self, change: impl FnOnce(&mut Status)) {
        change(&mut self.status.write().unwrap_or_else(|p| p.into_inner()));
    }
}
